//! Group commit (and grouped reads) for the per-message calls of the delivery runtime:
//! concurrent [`DeliveryState::seen`], [`DeliveryState::blocker`] and
//! [`DeliveryState::mark_done`] calls are queued and answered by one
//! [`DeliveryState::seen_many`], [`DeliveryState::blockers`] or
//! [`DeliveryState::mark_done_many`] (for [`super::PgDeliveryState`]: one statement each, and
//! one commit for all the `mark_done`s of a batch). [`DeliveryState::finish`] calls (audit
//! entries and inbox mark of a finished message) are likewise answered by one
//! [`DeliveryState::finish_many`]: one transaction for the whole batch. All other methods
//! delegate.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use knooppunt_registry::store::group_commit::{GroupCommit, GroupCommitConfig, GroupCommitError};
use uuid::Uuid;

use super::{DeliveryState, HeldMessage, ParkedMessage, WaitingInfo};
use crate::OpsError;
use crate::audit::AuditEntry;

/// Settings of a [`BatchingDeliveryState`].
#[derive(Debug, Clone, Copy)]
pub struct StateBatchConfig {
    /// At most this many calls go into one batch.
    pub max_batch: usize,
    /// Batches of one kind in flight at once.
    pub workers: usize,
}

impl Default for StateBatchConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            workers: 2,
        }
    }
}

impl From<StateBatchConfig> for GroupCommitConfig {
    /// Per lane (kind of call): counted in calls; the queue is unbounded.
    fn from(c: StateBatchConfig) -> Self {
        Self {
            max_batch: c.max_batch,
            in_flight: c.workers,
            queue: None,
        }
    }
}

/// A queue of calls of one kind, answered in batches by a [`GroupCommit`] task. A failed batch
/// is logged once and reported to each of its calls as [`OpsError::Batch`] with its reason.
struct Lane<Req, Resp> {
    batches: GroupCommit<Req, Resp, String>,
}

impl<Req: Send + 'static, Resp: Send + 'static> Lane<Req, Resp> {
    fn spawn<F, Fut>(config: StateBatchConfig, handle: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Resp>, OpsError>> + Send + 'static,
    {
        let batches = GroupCommit::spawn(config.into(), move |reqs: Vec<Req>| {
            let requests = reqs.len();
            let answers = handle(reqs);
            async move {
                match answers.await {
                    Ok(answers) if answers.len() == requests => Ok(answers),
                    result => {
                        let reason = match result {
                            Err(e) => e.to_string(),
                            Ok(_) => "a batch returned the wrong number of answers".to_owned(),
                        };
                        tracing::error!(error = %reason, requests, "delivery state batch failed");
                        Err(reason)
                    }
                }
            }
        });
        Self { batches }
    }

    async fn call(&self, req: Req) -> Result<Resp, OpsError> {
        self.batches.call(req).await.map_err(|e| match e {
            GroupCommitError::Failed(reason) => OpsError::Batch(reason.to_string()),
            // Checked above, before the answers reach the group commit task.
            GroupCommitError::WrongCount { .. } => {
                OpsError::Batch("a batch returned the wrong number of answers".to_owned())
            }
            GroupCommitError::Stopped => {
                OpsError::Batch("the delivery state batch task has stopped".to_owned())
            }
        })
    }
}

/// Wraps a [`DeliveryState`] (normally [`super::PgDeliveryState`]) so that the runtime's
/// per-message inbox lookups, blocker lookups and inbox writes from many tasks are done
/// together. No timer: under light load a batch is one call. Each caller gets its own answer;
/// `mark_done` still gives `true` to exactly one caller per (consumer, message id). When a
/// batch fails, every call in it gets [`OpsError::Batch`] (transient).
pub struct BatchingDeliveryState<S: ?Sized> {
    inner: Arc<S>,
    seen: Lane<(String, Uuid), bool>,
    blocker: Lane<(String, String), Option<Uuid>>,
    done: Lane<(String, Uuid, String), bool>,
    finish: Lane<FinishReq, bool>,
}

/// One message's inbox mark and audit entries for [`DeliveryState::finish`].
type FinishReq = ((String, Uuid, String), Vec<AuditEntry>);

impl<S: ?Sized> std::fmt::Debug for BatchingDeliveryState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingDeliveryState")
            .finish_non_exhaustive()
    }
}

impl<S: DeliveryState + ?Sized + 'static> BatchingDeliveryState<S> {
    /// Starts the batching tasks on the current tokio runtime; they stop when this is dropped.
    pub fn spawn(inner: Arc<S>, config: StateBatchConfig) -> Self {
        let seen = {
            let inner = inner.clone();
            Lane::spawn(config, move |reqs| {
                let inner = inner.clone();
                async move { inner.seen_many(reqs).await }
            })
        };
        let blocker = {
            let inner = inner.clone();
            Lane::spawn(config, move |reqs| {
                let inner = inner.clone();
                async move { inner.blockers(reqs).await }
            })
        };
        let done = {
            let inner = inner.clone();
            Lane::spawn(config, move |reqs| {
                let inner = inner.clone();
                async move { inner.mark_done_many(reqs).await }
            })
        };
        let finish = {
            let inner = inner.clone();
            Lane::spawn(config, move |reqs: Vec<FinishReq>| {
                let inner = inner.clone();
                async move {
                    let mut done = Vec::with_capacity(reqs.len());
                    let mut entries = Vec::new();
                    for (d, e) in reqs {
                        done.push(d);
                        entries.extend(e);
                    }
                    inner.finish_many(done, entries).await
                }
            })
        };
        Self {
            inner,
            seen,
            blocker,
            done,
            finish,
        }
    }
}

#[async_trait]
impl<S: DeliveryState + ?Sized + 'static> DeliveryState for BatchingDeliveryState<S> {
    async fn seen(&self, consumer: &str, message_id: Uuid) -> Result<bool, OpsError> {
        self.seen.call((consumer.to_owned(), message_id)).await
    }

    async fn mark_done(
        &self,
        consumer: &str,
        message_id: Uuid,
        outcome: &str,
    ) -> Result<bool, OpsError> {
        self.done
            .call((consumer.to_owned(), message_id, outcome.to_owned()))
            .await
    }

    async fn blocker(&self, consumer: &str, subject: &str) -> Result<Option<Uuid>, OpsError> {
        self.blocker
            .call((consumer.to_owned(), subject.to_owned()))
            .await
    }

    async fn seen_many(&self, keys: Vec<(String, Uuid)>) -> Result<Vec<bool>, OpsError> {
        self.inner.seen_many(keys).await
    }

    async fn blockers(&self, keys: Vec<(String, String)>) -> Result<Vec<Option<Uuid>>, OpsError> {
        self.inner.blockers(keys).await
    }

    async fn mark_done_many(
        &self,
        done: Vec<(String, Uuid, String)>,
    ) -> Result<Vec<bool>, OpsError> {
        self.inner.mark_done_many(done).await
    }

    fn writes_audit(&self) -> bool {
        self.inner.writes_audit()
    }

    async fn finish_many(
        &self,
        done: Vec<(String, Uuid, String)>,
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<bool>, OpsError> {
        self.inner.finish_many(done, entries).await
    }

    async fn finish(
        &self,
        consumer: &str,
        message_id: Uuid,
        outcome: &str,
        entries: Vec<AuditEntry>,
    ) -> Result<bool, OpsError> {
        // An entry the trail refuses fails this call only, not the batch it would join.
        for e in &entries {
            e.validate()?;
        }
        if !self.inner.writes_audit() {
            // Refused by the inner state, without queueing.
            return self
                .inner
                .finish(consumer, message_id, outcome, entries)
                .await;
        }
        self.finish
            .call((
                (consumer.to_owned(), message_id, outcome.to_owned()),
                entries,
            ))
            .await
    }

    async fn block(&self, consumer: &str, subject: &str, message_id: Uuid) -> Result<(), OpsError> {
        self.inner.block(consumer, subject, message_id).await
    }

    async fn hold(
        &self,
        consumer: &str,
        subject: &str,
        message: HeldMessage,
    ) -> Result<bool, OpsError> {
        self.inner.hold(consumer, subject, message).await
    }

    async fn unblock_and_take_held(
        &self,
        consumer: &str,
        subject: &str,
    ) -> Result<Vec<HeldMessage>, OpsError> {
        self.inner.unblock_and_take_held(consumer, subject).await
    }

    async fn promote_next_held(
        &self,
        consumer: &str,
        subject: &str,
        finished: Uuid,
    ) -> Result<Option<HeldMessage>, OpsError> {
        self.inner
            .promote_next_held(consumer, subject, finished)
            .await
    }

    async fn waiting(&self, consumer: &str) -> Result<Vec<WaitingInfo>, OpsError> {
        self.inner.waiting(consumer).await
    }

    async fn park(&self, parked: ParkedMessage) -> Result<(), OpsError> {
        self.inner.park(parked).await
    }

    async fn parked(&self, consumer: &str) -> Result<Vec<ParkedMessage>, OpsError> {
        self.inner.parked(consumer).await
    }

    async fn take_parked(
        &self,
        consumer: &str,
        message_id: Uuid,
    ) -> Result<Option<ParkedMessage>, OpsError> {
        self.inner.take_parked(consumer, message_id).await
    }
}

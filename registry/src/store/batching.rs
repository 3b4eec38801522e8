//! Group commit for any [`Store`]: concurrent [`Store::execute`] calls are queued and handled
//! together by [`Store::execute_batch`] (for [`PgStore`](super::PgStore): one transaction, one
//! WAL flush, for up to [`BatchingConfig::max_batch`] commands).
//!
//! Each caller still gets its own outcome and the semantics of `execute` (idempotent replay,
//! rejections, gapless sequences); only the number of transactions changes. Commands whose
//! reference data differ are never put in one batch. All other methods delegate.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::group_commit::{GroupCommit, GroupCommitBuilder, GroupCommitConfig, GroupCommitError};
use super::{CommandOutcome, EventEnvelope, OutboxLease, Store, StoreError};
use crate::domain::institution::{InstitutionCommand, InstitutionRecord, LevelRejection, Levels};
use crate::domain::{Command, Dossier};
use crate::envelope::{CommandMeta, DossierKey};
use crate::ids::{Brin, LeerbedrijfId, PersonId};
use crate::reference::ReferenceData;

/// How [`BatchingStore`] groups commands.
#[derive(Debug, Clone, Copy)]
pub struct BatchingConfig {
    /// Most commands in one batch.
    pub max_batch: usize,
    /// Batches in flight at once (each takes whatever is queued when it starts).
    pub workers: usize,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            workers: 2,
        }
    }
}

impl From<BatchingConfig> for GroupCommitConfig {
    /// Counted in commands; the queue is unbounded (callers never wait to queue).
    fn from(c: BatchingConfig) -> Self {
        Self {
            max_batch: c.max_batch,
            in_flight: c.workers,
            queue: None,
        }
    }
}

/// One queued `execute` call.
struct Job {
    meta: CommandMeta,
    command: Command,
    reference: Arc<ReferenceData>,
}

/// A [`Store`] that handles concurrent `execute` calls in batches (group commit) on background
/// tasks. Needs a Tokio runtime when built; the tasks end when the last handle is dropped.
pub struct BatchingStore<S: ?Sized> {
    inner: Arc<S>,
    batches: GroupCommit<Job, Result<CommandOutcome, StoreError>, StoreError>,
}

impl<S: ?Sized> fmt::Debug for BatchingStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchingStore").finish_non_exhaustive()
    }
}

impl<S: Store + ?Sized> BatchingStore<S> {
    /// Wraps `inner` and starts its group commit task ([`GroupCommit`], `config.workers`
    /// batches in flight).
    pub fn new(inner: Arc<S>, config: BatchingConfig) -> Self {
        let store = Arc::clone(&inner);
        let batches = GroupCommitBuilder::new(config.into())
            // Commands whose reference data differ are never put in one `execute_batch`: it
            // decides a whole batch on one snapshot. Consecutive runs with the same reference
            // data go in one call.
            .same_call(|a: &Job, b: &Job| {
                Arc::ptr_eq(&a.reference, &b.reference) || *a.reference == *b.reference
            })
            .spawn(move |jobs: Vec<Job>| {
                let store = Arc::clone(&store);
                async move {
                    // Never empty; every job of a call has the first one's reference data.
                    let reference = Arc::clone(&jobs[0].reference);
                    let commands = jobs.into_iter().map(|j| (j.meta, j.command)).collect();
                    store.execute_batch(commands, &reference).await
                }
            });
        Self { inner, batches }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for BatchingStore<S> {
    async fn execute(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError> {
        let job = Job {
            meta,
            command,
            reference: Arc::new(reference.clone()),
        };
        match self.batches.call(job).await {
            Ok(outcome) => outcome,
            Err(GroupCommitError::Failed(e)) => Err(e.duplicate()),
            Err(GroupCommitError::WrongCount { .. }) => Err(StoreError::Corrupt(
                "a batch returned the wrong number of outcomes".into(),
            )),
            Err(GroupCommitError::Stopped) => {
                Err(StoreError::Unavailable("batching task stopped".into()))
            }
        }
    }

    async fn execute_batch(
        &self,
        commands: Vec<(CommandMeta, Command)>,
        reference: &ReferenceData,
    ) -> Result<Vec<Result<CommandOutcome, StoreError>>, StoreError> {
        self.inner.execute_batch(commands, reference).await
    }

    async fn dossier(&self, key: DossierKey) -> Result<Option<Dossier>, StoreError> {
        self.inner.dossier(key).await
    }

    async fn history(&self, key: DossierKey) -> Result<Vec<EventEnvelope>, StoreError> {
        self.inner.history(key).await
    }

    async fn find_dossier(&self, person: &PersonId) -> Result<Option<DossierKey>, StoreError> {
        self.inner.find_dossier(person).await
    }

    async fn dossiers_with_running_bpv(
        &self,
        leerbedrijf: &LeerbedrijfId,
    ) -> Result<Vec<DossierKey>, StoreError> {
        self.inner.dossiers_with_running_bpv(leerbedrijf).await
    }

    async fn save_reference(&self, reference: &ReferenceData) -> Result<(), StoreError> {
        self.inner.save_reference(reference).await
    }

    async fn load_reference(&self) -> Result<Option<ReferenceData>, StoreError> {
        self.inner.load_reference().await
    }

    async fn lease_outbox(&self, max_partitions: u32) -> Result<Box<dyn OutboxLease>, StoreError> {
        self.inner.lease_outbox(max_partitions).await
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        self.inner.outbox_backlog().await
    }

    async fn levels(&self) -> Result<Arc<Levels>, StoreError> {
        self.inner.levels().await
    }

    async fn execute_institution(
        &self,
        brin: &Brin,
        time: DateTime<Utc>,
        command: InstitutionCommand,
        reference: &ReferenceData,
    ) -> Result<Result<InstitutionRecord, LevelRejection>, StoreError> {
        self.inner
            .execute_institution(brin, time, command, reference)
            .await
    }

    async fn institution_history(
        &self,
        brin: Option<&Brin>,
    ) -> Result<Vec<InstitutionRecord>, StoreError> {
        self.inner.institution_history(brin).await
    }
}

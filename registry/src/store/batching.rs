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
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{CommandOutcome, EventEnvelope, OutboxLease, Store, StoreError};
use crate::domain::{Command, Dossier};
use crate::envelope::{CommandMeta, DossierKey};
use crate::ids::PersonId;
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

/// One queued `execute` call.
struct Job {
    meta: CommandMeta,
    command: Command,
    reference: Arc<ReferenceData>,
    reply: oneshot::Sender<Result<CommandOutcome, StoreError>>,
}

type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Job>>>;

/// A [`Store`] that handles concurrent `execute` calls in batches (group commit) on background
/// tasks. Needs a Tokio runtime when built; the tasks end when the last handle is dropped.
pub struct BatchingStore<S: ?Sized> {
    inner: Arc<S>,
    queue: mpsc::UnboundedSender<Job>,
}

impl<S: ?Sized> fmt::Debug for BatchingStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchingStore").finish_non_exhaustive()
    }
}

impl<S: Store + ?Sized> BatchingStore<S> {
    /// Wraps `inner` and starts `config.workers` batching tasks.
    pub fn new(inner: Arc<S>, config: BatchingConfig) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let rx: Queue = Arc::new(Mutex::new(rx));
        for _ in 0..config.workers.max(1) {
            tokio::spawn(worker(
                Arc::clone(&inner),
                Arc::clone(&rx),
                config.max_batch.max(1),
            ));
        }
        Self { inner, queue }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }
}

async fn worker<S: Store + ?Sized>(store: Arc<S>, queue: Queue, max_batch: usize) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            jobs.push(first);
            while jobs.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        // Consecutive runs with the same reference data go in one batch.
        let mut jobs = jobs.into_iter().peekable();
        while let Some(first) = jobs.next() {
            let reference = Arc::clone(&first.reference);
            let mut run = vec![first];
            while let Some(next) = jobs.peek() {
                if Arc::ptr_eq(&next.reference, &reference) || *next.reference == *reference {
                    run.extend(jobs.next());
                } else {
                    break;
                }
            }
            run_batch(&*store, run, &reference).await;
        }
    }
}

async fn run_batch<S: Store + ?Sized>(store: &S, run: Vec<Job>, reference: &ReferenceData) {
    let mut replies = Vec::with_capacity(run.len());
    let mut commands = Vec::with_capacity(run.len());
    for job in run {
        replies.push(job.reply);
        commands.push((job.meta, job.command));
    }
    match store.execute_batch(commands, reference).await {
        Ok(outcomes) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that went away no longer needs its answer.
                let _ = reply.send(outcome);
            }
        }
        Ok(_) => {
            for reply in replies {
                let _ = reply.send(Err(StoreError::Corrupt(
                    "a batch returned the wrong number of outcomes".into(),
                )));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.duplicate()));
            }
        }
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
        let (reply, answer) = oneshot::channel();
        let job = Job {
            meta,
            command,
            reference: Arc::new(reference.clone()),
            reply,
        };
        if self.queue.send(job).is_err() {
            return Err(StoreError::Unavailable("batching task stopped".into()));
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("batching task stopped".into()))?
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
}

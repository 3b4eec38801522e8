//! Group commit for the audit trail: many concurrent appends become one `append_many`.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::{AuditEntry, AuditRecord, AuditTrail, ChainHead};
use crate::OpsError;

/// Settings of a [`BatchingAudit`].
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// At most this many entries go into one transaction.
    pub max_entries: usize,
    /// This many writer tasks run transactions side by side.
    pub writers: usize,
    /// Pending appends queue up to this many requests before callers wait (back-pressure).
    pub queue: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_entries: 512,
            writers: 2,
            queue: 4096,
        }
    }
}

struct Job {
    entries: Vec<AuditEntry>,
    reply: oneshot::Sender<Result<Vec<AuditRecord>, OpsError>>,
}

/// Wraps a trail (normally [`super::PgAudit`]) so that appends from many tasks are written
/// together: a writer takes every request waiting in the queue (up to
/// [`BatchConfig::max_entries`] entries) and writes them with one `append_many`, one
/// transaction and one commit. No timer: under light load a batch is one request, under heavy
/// load batches grow by themselves.
///
/// Each caller still gets its own records back, and its own validation error. Order within a
/// chain is kept for appends that a caller awaits one after another (the normal case: one
/// task handles one message). When a batch fails in the database, every request in it gets
/// [`OpsError::Batch`] and nothing of it is stored.
#[derive(Clone)]
pub struct BatchingAudit {
    inner: Arc<dyn AuditTrail>,
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for BatchingAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingAudit").finish_non_exhaustive()
    }
}

impl BatchingAudit {
    /// Starts the writer tasks on the current tokio runtime. They stop when the last clone of
    /// the returned value is dropped (after writing what is queued).
    pub fn spawn(inner: Arc<dyn AuditTrail>, config: BatchConfig) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(config.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..config.writers.max(1) {
            let rx = rx.clone();
            let inner = inner.clone();
            let max = config.max_entries.max(1);
            tokio::spawn(async move {
                loop {
                    let jobs = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { break };
                        let mut n = first.entries.len();
                        let mut jobs = vec![first];
                        while n < max {
                            match rx.try_recv() {
                                Ok(job) => {
                                    n += job.entries.len();
                                    jobs.push(job);
                                }
                                Err(_) => break,
                            }
                        }
                        jobs
                    };
                    write(&*inner, jobs).await;
                }
            });
        }
        Self { inner, queue: tx }
    }

    async fn submit(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError> {
        for e in &entries {
            e.validate()?;
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { entries, reply })
            .await
            .map_err(|_| OpsError::Batch("the batch writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| OpsError::Batch("the batch writer has stopped".to_owned()))?
    }
}

async fn write(inner: &dyn AuditTrail, jobs: Vec<Job>) {
    let sizes: Vec<usize> = jobs.iter().map(|j| j.entries.len()).collect();
    let (entries, replies): (Vec<Vec<AuditEntry>>, Vec<_>) =
        jobs.into_iter().map(|j| (j.entries, j.reply)).unzip();
    match inner
        .append_many(entries.into_iter().flatten().collect())
        .await
    {
        Ok(records) => {
            let mut records = records.into_iter();
            for (reply, n) in replies.into_iter().zip(sizes) {
                // A caller that went away does not need its answer.
                let _ = reply.send(Ok(records.by_ref().take(n).collect()));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, requests = replies.len(), "audit batch failed");
            let reason = err.to_string();
            for reply in replies {
                let _ = reply.send(Err(OpsError::Batch(reason.clone())));
            }
        }
    }
}

#[async_trait]
impl AuditTrail for BatchingAudit {
    async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, OpsError> {
        self.submit(vec![entry])
            .await?
            .pop()
            .ok_or_else(|| OpsError::Batch("no record returned".to_owned()))
    }

    async fn append_many(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.submit(entries).await
    }

    async fn chain(&self, chain: &str) -> Result<Vec<AuditRecord>, OpsError> {
        self.inner.chain(chain).await
    }

    async fn head(&self, chain: &str) -> Result<Option<ChainHead>, OpsError> {
        self.inner.head(chain).await
    }

    async fn for_message(&self, id: Uuid) -> Result<Vec<AuditRecord>, OpsError> {
        self.inner.for_message(id).await
    }
}

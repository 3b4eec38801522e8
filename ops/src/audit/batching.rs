//! Group commit for the audit trail: many concurrent appends become one `append_many`.

use std::sync::Arc;

use async_trait::async_trait;
use knooppunt_registry::store::group_commit::{
    GroupCommit, GroupCommitBuilder, GroupCommitConfig, GroupCommitError,
};
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

impl From<BatchConfig> for GroupCommitConfig {
    /// Bounded ([`BatchConfig::queue`]), unlike the queues of the store's and the delivery
    /// state's batchers: so this batcher was built, with back-pressure as its stated setting (a
    /// burst of appends makes callers wait for room instead of growing the queue), and so it
    /// stays. `max_batch` counts entries, not requests (see [`BatchingAudit::spawn`]).
    fn from(c: BatchConfig) -> Self {
        Self {
            max_batch: c.max_entries,
            in_flight: c.writers,
            queue: Some(c.queue),
        }
    }
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
    batches: GroupCommit<Vec<AuditEntry>, Vec<AuditRecord>, OpsError>,
}

impl std::fmt::Debug for BatchingAudit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingAudit").finish_non_exhaustive()
    }
}

impl BatchingAudit {
    /// Starts the writer tasks on the current tokio runtime. They stop when the last clone of
    /// the returned value is dropped (after writing what is queued).
    ///
    /// A batch is counted in entries, not requests (one `append_many` request may carry a
    /// whole journey): it stops growing once it holds [`BatchConfig::max_entries`], and a
    /// request is never split over two batches.
    pub fn spawn(inner: Arc<dyn AuditTrail>, config: BatchConfig) -> Self {
        let trail = inner.clone();
        let batches = GroupCommitBuilder::new(config.into())
            .weight(|entries: &Vec<AuditEntry>| entries.len())
            .spawn(move |requests: Vec<Vec<AuditEntry>>| {
                let trail = trail.clone();
                async move { write(&*trail, requests).await }
            });
        Self { inner, batches }
    }

    async fn submit(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError> {
        for e in &entries {
            e.validate()?;
        }
        self.batches.call(entries).await.map_err(|e| match e {
            GroupCommitError::Failed(err) => OpsError::Batch(err.to_string()),
            GroupCommitError::WrongCount { .. } => {
                OpsError::Batch("a batch returned the wrong number of answers".to_owned())
            }
            GroupCommitError::Stopped => OpsError::Batch("the batch writer has stopped".to_owned()),
        })
    }
}

/// One batch: every request's entries in one `append_many`, the records handed back per
/// request.
async fn write(
    inner: &dyn AuditTrail,
    requests: Vec<Vec<AuditEntry>>,
) -> Result<Vec<Vec<AuditRecord>>, OpsError> {
    let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
    match inner
        .append_many(requests.into_iter().flatten().collect())
        .await
    {
        Ok(records) => {
            let mut records = records.into_iter();
            Ok(sizes
                .into_iter()
                .map(|n| records.by_ref().take(n).collect())
                .collect())
        }
        Err(err) => {
            tracing::error!(error = %err, requests = sizes.len(), "audit batch failed");
            Err(err)
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

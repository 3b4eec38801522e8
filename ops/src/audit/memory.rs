//! The in-memory audit trail (sandbox and tests).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use super::{AuditEntry, AuditRecord, AuditTrail, ChainHead, GENESIS_HASH};
use crate::OpsError;

#[derive(Debug, Default)]
struct Inner {
    chains: HashMap<String, Vec<AuditRecord>>,
    heads: HashMap<String, ChainHead>,
    /// message id → (chain, index in that chain)
    by_message: HashMap<Uuid, Vec<(String, usize)>>,
}

impl Inner {
    fn push(&mut self, entry: AuditEntry) -> AuditRecord {
        let chain = self.chains.entry(entry.chain.clone()).or_default();
        let prev = chain
            .last()
            .map_or_else(|| GENESIS_HASH.to_owned(), |r| r.hash.clone());
        let seq = chain.len() as u64 + 1;
        let record = AuditRecord::link(seq, entry, prev);
        let index = chain.len();
        chain.push(record.clone());
        self.heads.insert(
            record.entry.chain.clone(),
            ChainHead {
                seq: record.seq,
                hash: record.hash.clone(),
            },
        );
        if let Some(id) = record.entry.message_id {
            self.by_message
                .entry(id)
                .or_default()
                .push((record.entry.chain.clone(), index));
        }
        record
    }
}

/// An append-only audit trail in memory: one mutex, so appends are serialised; records live as
/// long as the process. For the sandbox and tests.
#[derive(Debug, Default)]
pub struct MemoryAudit {
    inner: Mutex<Inner>,
}

impl MemoryAudit {
    /// An empty trail.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked while holding it; the data
        // (append-only vectors) is still consistent, so keep going.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Calls `f` with every record under the trail's lock (the delivery reports aggregate them).
    pub(crate) fn with_records<R>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = &AuditRecord>) -> R,
    ) -> R {
        let inner = self.lock();
        let mut records = inner.chains.values().flatten();
        f(&mut records)
    }

    /// Test and drill helper: removes the last `n` records of `chain` (the head stays), to
    /// show that [`super::verify_chain_with_head`] finds it. Not part of [`AuditTrail`].
    #[doc(hidden)]
    pub fn truncate(&self, chain: &str, n: usize) {
        if let Some(c) = self.lock().chains.get_mut(chain) {
            c.truncate(c.len().saturating_sub(n));
        }
    }

    /// Test and drill helper: replaces the stored record at `index` of `chain` (if any), to show
    /// that [`super::verify_chain`] finds tampering. Not part of [`AuditTrail`].
    #[doc(hidden)]
    pub fn tamper(&self, chain: &str, index: usize, f: impl FnOnce(&mut AuditRecord)) {
        if let Some(r) = self
            .lock()
            .chains
            .get_mut(chain)
            .and_then(|c| c.get_mut(index))
        {
            f(r);
        }
    }
}

#[async_trait]
impl AuditTrail for MemoryAudit {
    async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, OpsError> {
        entry.validate()?;
        Ok(self.lock().push(entry.normalised()))
    }

    async fn append_many(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError> {
        for e in &entries {
            e.validate()?;
        }
        let mut inner = self.lock();
        Ok(entries
            .into_iter()
            .map(|e| inner.push(e.normalised()))
            .collect())
    }

    async fn chain(&self, chain: &str) -> Result<Vec<AuditRecord>, OpsError> {
        Ok(self.lock().chains.get(chain).cloned().unwrap_or_default())
    }

    async fn head(&self, chain: &str) -> Result<Option<ChainHead>, OpsError> {
        Ok(self.lock().heads.get(chain).cloned())
    }

    async fn for_message(&self, id: Uuid) -> Result<Vec<AuditRecord>, OpsError> {
        let inner = self.lock();
        let mut out: Vec<AuditRecord> = inner
            .by_message
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|(chain, i)| inner.chains.get(chain).and_then(|c| c.get(*i)).cloned())
            .collect();
        out.sort_by(|a, b| (&a.entry.chain, a.seq).cmp(&(&b.entry.chain, b.seq)));
        Ok(out)
    }
}

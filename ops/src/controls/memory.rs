//! Runtime controls in memory (the sandbox, tests): one lock over the overrides, held while the
//! audit record is appended, so a change and its record go together.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::{ControlChange, ControlStore, PartnerOverrides};
use crate::OpsError;
use crate::audit::{AuditEntry, AuditTrail};

/// Runtime controls in memory, audited to `audit`.
pub struct MemoryControlStore {
    overrides: Mutex<BTreeMap<String, PartnerOverrides>>,
    audit: Arc<dyn AuditTrail>,
}

impl std::fmt::Debug for MemoryControlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryControlStore").finish_non_exhaustive()
    }
}

impl MemoryControlStore {
    /// No overrides; changes are audited to `audit`.
    pub fn new(audit: Arc<dyn AuditTrail>) -> Self {
        Self {
            overrides: Mutex::new(BTreeMap::new()),
            audit,
        }
    }
}

#[async_trait]
impl ControlStore for MemoryControlStore {
    async fn all(&self) -> Result<BTreeMap<String, PartnerOverrides>, OpsError> {
        Ok(self.overrides.lock().await.clone())
    }

    async fn update(
        &self,
        partner: &str,
        change: &ControlChange,
        actor: &str,
        now: DateTime<Utc>,
        entry: AuditEntry,
    ) -> Result<Option<PartnerOverrides>, OpsError> {
        let mut all = self.overrides.lock().await;
        let mut o = all.get(partner).cloned().unwrap_or_default();
        if !change.apply(&mut o, actor, now)? {
            return Ok(None);
        }
        // Audited first: when the record is refused or fails, nothing changes.
        self.audit.append(entry).await?;
        if o.is_empty() {
            all.remove(partner);
        } else {
            all.insert(partner.to_owned(), o.clone());
        }
        Ok(Some(o))
    }
}

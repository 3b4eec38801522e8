//! Runtime controls in PostgreSQL: table `ops_runtime_controls` (one row of JSON overrides per
//! partner), written together with the change's audit record in one transaction. Every node on
//! the database reads the table (the node polls it), so a change made on one reaches the others.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::{ControlChange, ControlStore, PartnerOverrides};
use crate::OpsError;
use crate::audit::AuditEntry;

/// Runtime controls in PostgreSQL (run [`crate::migrate`] first). Writes the audit trail's
/// tables in the same database, as [`crate::PgAudit`] on this pool does.
#[derive(Debug, Clone)]
pub struct PgControlStore {
    pool: Pool,
}

impl PgControlStore {
    /// The store on this pool.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

fn decode(v: serde_json::Value) -> Result<PartnerOverrides, OpsError> {
    serde_json::from_value(v).map_err(|e| OpsError::Corrupt {
        what: "runtime controls",
        reason: e.to_string(),
    })
}

#[async_trait]
impl ControlStore for PgControlStore {
    async fn all(&self) -> Result<BTreeMap<String, PartnerOverrides>, OpsError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT partner, overrides FROM ops_runtime_controls ORDER BY partner",
                &[],
            )
            .await?;
        let mut out = BTreeMap::new();
        for row in rows {
            out.insert(row.try_get(0)?, decode(row.try_get(1)?)?);
        }
        Ok(out)
    }

    async fn update(
        &self,
        partner: &str,
        change: &ControlChange,
        actor: &str,
        now: DateTime<Utc>,
        entry: AuditEntry,
    ) -> Result<Option<PartnerOverrides>, OpsError> {
        entry.validate()?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The row exists and is locked: concurrent changes to one partner (from any node)
        // apply one after the other.
        tx.execute(
            "INSERT INTO ops_runtime_controls (partner, overrides) VALUES ($1, '{}'::jsonb) \
             ON CONFLICT (partner) DO NOTHING",
            &[&partner],
        )
        .await?;
        let row = tx
            .query_one(
                "SELECT overrides FROM ops_runtime_controls WHERE partner = $1 FOR UPDATE",
                &[&partner],
            )
            .await?;
        let mut o = decode(row.try_get(0)?)?;
        if !change.apply(&mut o, actor, now)? {
            tx.rollback().await?;
            return Ok(None);
        }
        let json = serde_json::to_value(&o).map_err(|e| OpsError::Corrupt {
            what: "runtime controls",
            reason: e.to_string(),
        })?;
        if o.is_empty() {
            tx.execute(
                "DELETE FROM ops_runtime_controls WHERE partner = $1",
                &[&partner],
            )
            .await?;
        } else {
            tx.execute(
                "UPDATE ops_runtime_controls SET overrides = $2, updated_at = now() \
                 WHERE partner = $1",
                &[&partner, &json],
            )
            .await?;
        }
        crate::audit::append_in(&tx, vec![entry.normalised()]).await?;
        tx.commit().await?;
        Ok(Some(o))
    }
}

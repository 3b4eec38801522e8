//! The outbox relay's side: leases on partitions (session advisory locks on a dedicated
//! connection), claims and marks, and the backlog count.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, Object};

use super::super::{OUTBOX_PARTITIONS, OutboxLease, OutboxRow, StoreError};
use super::{PgStore, db_err, from_json};

impl PgStore {
    /// [`Store::lease_outbox`](super::super::Store::lease_outbox) on PostgreSQL.
    pub(super) async fn take_outbox_lease(
        &self,
        max_partitions: u32,
    ) -> Result<Box<dyn OutboxLease>, StoreError> {
        // A dedicated connection, taken out of the pool: its session advisory locks are the
        // lease, and closing it (drop, or the process dying) releases them.
        let client = Object::take(self.client().await?);
        let row = client
            .query_one(
                "SELECT hashtext('knooppunt-outbox:' || s), hashtext('knooppunt-outbox-lease:' || s)
                   FROM coalesce(current_schema(), '') AS s",
                &[],
            )
            .await
            .map_err(db_err)?;
        let ns: i32 = row.try_get(0).map_err(db_err)?;
        let member_ns: i32 = row.try_get(1).map_err(db_err)?;
        // Every live lease of every node holds one lock in `member_ns` (keyed by its session),
        // also when it gets no partition; counting them gives each its fair share.
        client
            .execute(
                "SELECT pg_advisory_lock($1, pg_backend_pid())",
                &[&member_ns],
            )
            .await
            .map_err(db_err)?;
        let leases: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_locks
                  WHERE locktype = 'advisory' AND granted AND objsubid = 2
                    AND classid::int4 = $1
                    AND database = (SELECT oid FROM pg_database
                                            WHERE datname = current_database())",
                &[&member_ns],
            )
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        let fair = super::super::fair_share(u32::try_from(leases.max(1)).unwrap_or(u32::MAX));
        let max_partitions = max_partitions.min(fair);
        let mut partitions = Vec::new();
        for p in 0..OUTBOX_PARTITIONS {
            if partitions.len() as u32 >= max_partitions {
                break;
            }
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&ns, &(p as i32)])
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?;
            if got {
                partitions.push(p);
            }
        }
        Ok(Box::new(PgLease {
            client,
            partitions,
            claimed: Mutex::new(BTreeSet::new()),
        }))
    }

    /// [`Store::outbox_backlog`](super::super::Store::outbox_backlog) on PostgreSQL.
    pub(super) async fn count_outbox_backlog(&self) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT count(*) FROM outbox WHERE sent_at IS NULL", &[])
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// A lease on outbox partitions of a [`PgStore`]: session advisory locks on its own connection.
struct PgLease {
    client: ClientWrapper,
    partitions: Vec<u32>,
    /// Positions handed out by this lease and not yet marked sent.
    claimed: Mutex<BTreeSet<i64>>,
}

impl fmt::Debug for PgLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLease")
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

/// The batch's positions are picked first (a top-N over the unsent rows), and only those rows
/// are joined with their events: with a large backlog, joining first made every claim look up
/// the event of every unsent row.
const CLAIM: &str = "
WITH c AS MATERIALIZED (
    SELECT o.position, o.partition, o.dossier_key, o.sequence
    FROM outbox o
    WHERE o.sent_at IS NULL AND o.partition = ANY($1) AND NOT (o.position = ANY($2))
    ORDER BY o.position
    LIMIT $3)
SELECT c.position, c.partition, e.envelope
FROM c
JOIN events e ON e.dossier_key = c.dossier_key AND e.sequence = c.sequence
ORDER BY c.position";

#[async_trait]
impl OutboxLease for PgLease {
    fn partitions(&self) -> &[u32] {
        &self.partitions
    }

    async fn claim(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        if self.partitions.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let partitions: Vec<i32> = self.partitions.iter().map(|p| *p as i32).collect();
        let exclude: Vec<i64> = self
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied()
            .collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let stmt = self.client.prepare_cached(CLAIM).await.map_err(db_err)?;
        let rows = self
            .client
            .query(&stmt, &[&partitions, &exclude, &limit])
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let position: i64 = row.try_get(0).map_err(db_err)?;
            let partition: i32 = row.try_get(1).map_err(db_err)?;
            out.push(OutboxRow {
                position,
                partition: u32::try_from(partition)
                    .map_err(|_| StoreError::Corrupt("negative outbox partition".into()))?,
                event: from_json("stored event", &row, 2)?,
            });
        }
        self.claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(out.iter().map(|r| r.position));
        Ok(out)
    }

    async fn mark_sent(&self, positions: &[i64]) -> Result<(), StoreError> {
        if positions.is_empty() {
            return Ok(());
        }
        let stmt = self
            .client
            .prepare_cached(
                "UPDATE outbox SET sent_at = now() WHERE position = ANY($1) AND sent_at IS NULL",
            )
            .await
            .map_err(db_err)?;
        self.client
            .execute(&stmt, &[&positions])
            .await
            .map_err(db_err)?;
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        for p in positions {
            claimed.remove(p);
        }
        Ok(())
    }

    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        // Unlock explicitly so the partitions are free when this returns; dropping the
        // connection afterwards would release them too, a moment later.
        self.client
            .execute("SELECT pg_advisory_unlock_all()", &[])
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

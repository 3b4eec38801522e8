//! The delivery reports' aggregates on PostgreSQL: one aggregating statement each over
//! `ops_audit`, through the index of migration 5 (`ops_audit_report_idx`: the `delivered`,
//! `parked`, `replayed` and `discarded` records by hop and time). Percentiles are
//! `percentile_disc` (nearest rank), as in memory.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use knooppunt_registry::report::Period;

use super::{DeliveryReports, ParkedWeek, Timeliness};
use crate::OpsError;

/// [`DeliveryReports`] on the `ops_audit` table reachable through a pool.
#[derive(Clone)]
pub struct PgDeliveryReports {
    pool: Pool,
}

impl std::fmt::Debug for PgDeliveryReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDeliveryReports").finish_non_exhaustive()
    }
}

impl PgDeliveryReports {
    /// Reports on the ops tables reachable through `pool` (run [`crate::migrate`] first).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

fn count(row: &tokio_postgres::Row, idx: usize) -> Result<u64, OpsError> {
    let v: i64 = row.try_get(idx)?;
    u64::try_from(v).map_err(|_| OpsError::Corrupt {
        what: "report aggregate",
        reason: "negative count".to_owned(),
    })
}

fn millis(row: &tokio_postgres::Row, idx: usize) -> Result<Option<u64>, OpsError> {
    let v: Option<i64> = row.try_get(idx)?;
    Ok(v.map(|v| u64::try_from(v).unwrap_or(0)))
}

/// The first 48 bits of a UUIDv7 are its moment in Unix milliseconds; version 7 is the 13th
/// hex digit (position 15 of the text form).
const DELIVERY_TIMES: &str = "\
    WITH firsts AS ( \
        SELECT partner, message_id, min(at) AS at FROM ops_audit \
        WHERE hop = 'delivered' AND at >= $1 AND at < $2 AND partner = ANY($3) \
          AND message_id IS NOT NULL AND substr(message_id::text, 15, 1) = '7' \
        GROUP BY partner, message_id), \
    times AS ( \
        SELECT partner, greatest(0, floor(extract(epoch FROM at) * 1000)::bigint \
            - ('x' || substr(replace(message_id::text, '-', ''), 1, 12))::bit(48)::bigint) AS ms \
        FROM firsts) \
    SELECT partner, count(*), \
        percentile_disc(0.5) WITHIN GROUP (ORDER BY ms), \
        percentile_disc(0.95) WITHIN GROUP (ORDER BY ms) \
    FROM times GROUP BY partner ORDER BY partner";

const PARKED_WEEKS: &str = "\
    SELECT date_trunc('week', at AT TIME ZONE 'UTC')::date AS week, partner, \
        count(DISTINCT message_id) FILTER (WHERE hop = 'parked'), \
        count(DISTINCT message_id) FILTER (WHERE hop = 'replayed'), \
        count(DISTINCT message_id) FILTER (WHERE hop = 'discarded') \
    FROM ops_audit \
    WHERE hop IN ('parked', 'replayed', 'discarded') AND at >= $1 AND at < $2 \
      AND partner IS NOT NULL AND message_id IS NOT NULL \
    GROUP BY 1, 2 ORDER BY 1, 2";

#[async_trait]
impl DeliveryReports for PgDeliveryReports {
    async fn delivery_times(
        &self,
        period: &Period,
        partners: &[&str],
    ) -> Result<Vec<Timeliness>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(DELIVERY_TIMES).await?;
        let partners: Vec<&str> = partners.to_vec();
        let rows = client
            .query(&stmt, &[&period.start(), &period.end(), &partners])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Timeliness {
                    partner: row.try_get(0)?,
                    messages: count(row, 1)?,
                    p50_ms: millis(row, 2)?,
                    p95_ms: millis(row, 3)?,
                })
            })
            .collect()
    }

    async fn parked_weeks(&self, period: &Period) -> Result<Vec<ParkedWeek>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(PARKED_WEEKS).await?;
        let rows = client
            .query(&stmt, &[&period.start(), &period.end()])
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ParkedWeek {
                    week: row.try_get(0)?,
                    partner: row.try_get(1)?,
                    parked: count(row, 2)?,
                    replayed: count(row, 3)?,
                    discarded: count(row, 4)?,
                })
            })
            .collect()
    }
}

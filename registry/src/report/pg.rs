//! The registry's report aggregates on PostgreSQL: one aggregating statement per report over
//! the dossier states (`jsonb_each` over each dossier's aanmeldingen or DUO feedback), so only
//! the counts leave the database. `GROUPING SETS` gives the per-status (per-outcome) counts and
//! the row totals in one pass; `count(DISTINCT key)` counts students, not aanmeldingen.
//!
//! It reads every dossier row (no index narrows "aanmeldingen submitted in a period" inside
//! the JSON), which is a sequential scan at the database: fine for a report an operator asks
//! for, and nothing of it is held in the node's memory.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use tokio_postgres::error::SqlState;

use super::build::parse_status;
use super::{AanmeldingCount, BronCount, BronOutcome, DossierReports, Period, SignalCount};
use crate::store::StoreError;

/// [`DossierReports`] on the registry's tables, through any pool whose connections see them
/// (the node uses its ops pool: same database, same schema).
#[derive(Clone)]
pub struct PgDossierReports {
    pool: Pool,
}

impl std::fmt::Debug for PgDossierReports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDossierReports").finish_non_exhaustive()
    }
}

impl PgDossierReports {
    /// Reports on the registry tables reachable through `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn query(
        &self,
        sql: &str,
        period: &Period,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let stmt = client.prepare_cached(sql).await.map_err(db_err)?;
        client
            .query(&stmt, &[&period.start(), &period.end()])
            .await
            .map_err(db_err)
    }
}

/// The SQLSTATE and primary message only (a DETAIL line may quote row values).
fn db_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code();
            let text = format!("{} ({})", db.message(), code.code());
            if code.code().starts_with("08")
                || code.code().starts_with("53")
                || code.code().starts_with("57P")
            {
                StoreError::Unavailable(text)
            } else if *code == SqlState::UNDEFINED_TABLE {
                StoreError::Config(format!("database schema is not migrated: {text}"))
            } else {
                StoreError::Corrupt(format!("database refused a report query: {text}"))
            }
        }
        None => StoreError::Unavailable(e.to_string()),
    }
}

fn count(row: &tokio_postgres::Row, idx: usize) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(idx).map_err(db_err)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt("negative count".to_owned()))
}

const AANMELDINGEN: &str = "\
    SELECT instelling, cohort, status, GROUPING(status) AS is_total, count(DISTINCT key) \
    FROM (SELECT d.key, a->>'instelling' AS instelling, a->>'cohort' AS cohort, \
                 a->>'status' AS status \
          FROM dossiers d CROSS JOIN LATERAL jsonb_each(d.state->'aanmeldingen') AS e(id, a) \
          WHERE (a->>'ingediend_op')::timestamptz >= $1 \
            AND (a->>'ingediend_op')::timestamptz < $2) AS x \
    GROUP BY GROUPING SETS ((instelling, cohort, status), (instelling, cohort))";

const BRON: &str = "\
    SELECT instelling, uitkomst, GROUPING(uitkomst) AS is_total, count(DISTINCT key), count(*) \
    FROM (SELECT d.key, t->>'instelling' AS instelling, t->'uitkomst'->>'uitkomst' AS uitkomst \
          FROM dossiers d \
          CROSS JOIN LATERAL jsonb_each(d.state->'duo_terugkoppeling') AS e(id, t) \
          WHERE (t->>'ontvangen_op')::timestamptz >= $1 \
            AND (t->>'ontvangen_op')::timestamptz < $2) AS x \
    GROUP BY GROUPING SETS ((instelling, uitkomst), (instelling))";

/// Each signal of each feedback; `e.id` is the delivered mutation's id (unique).
const SIGNALS: &str = "\
    SELECT instelling, code, count(DISTINCT key), count(DISTINCT id) \
    FROM (SELECT d.key, e.id, t->>'instelling' AS instelling, s->>'code' AS code \
          FROM dossiers d \
          CROSS JOIN LATERAL jsonb_each(d.state->'duo_terugkoppeling') AS e(id, t) \
          CROSS JOIN LATERAL jsonb_array_elements( \
              COALESCE(t->'uitkomst'->'signalen', '[]'::jsonb)) AS s \
          WHERE (t->>'ontvangen_op')::timestamptz >= $1 \
            AND (t->>'ontvangen_op')::timestamptz < $2) AS x \
    GROUP BY instelling, code";

#[async_trait]
impl DossierReports for PgDossierReports {
    async fn count_aanmeldingen(
        &self,
        period: &Period,
    ) -> Result<Vec<AanmeldingCount>, StoreError> {
        let mut out = Vec::new();
        for row in self.query(AANMELDINGEN, period).await? {
            let is_total: i32 = row.try_get(3).map_err(db_err)?;
            let status = if is_total == 1 {
                None
            } else {
                let s: Option<String> = row.try_get(2).map_err(db_err)?;
                Some(s.as_deref().and_then(parse_status).ok_or_else(|| {
                    StoreError::Corrupt("an aanmelding has an unknown status".to_owned())
                })?)
            };
            out.push(AanmeldingCount {
                instelling: row
                    .try_get::<_, Option<String>>(0)
                    .map_err(db_err)?
                    .unwrap_or_default(),
                cohort: row
                    .try_get::<_, Option<String>>(1)
                    .map_err(db_err)?
                    .unwrap_or_default(),
                status,
                students: count(&row, 4)?,
            });
        }
        Ok(out)
    }

    async fn count_bron(&self, period: &Period) -> Result<Vec<BronCount>, StoreError> {
        let mut out = Vec::new();
        for row in self.query(BRON, period).await? {
            let is_total: i32 = row.try_get(2).map_err(db_err)?;
            let outcome = if is_total == 1 {
                None
            } else {
                let s: Option<String> = row.try_get(1).map_err(db_err)?;
                Some(s.as_deref().and_then(BronOutcome::parse).ok_or_else(|| {
                    StoreError::Corrupt("DUO feedback has an unknown outcome".to_owned())
                })?)
            };
            out.push(BronCount {
                instelling: row
                    .try_get::<_, Option<String>>(0)
                    .map_err(db_err)?
                    .unwrap_or_default(),
                outcome,
                students: count(&row, 3)?,
                mutations: count(&row, 4)?,
            });
        }
        Ok(out)
    }

    async fn count_bron_signals(&self, period: &Period) -> Result<Vec<SignalCount>, StoreError> {
        let mut out = Vec::new();
        for row in self.query(SIGNALS, period).await? {
            out.push(SignalCount {
                instelling: row
                    .try_get::<_, Option<String>>(0)
                    .map_err(db_err)?
                    .unwrap_or_default(),
                code: row
                    .try_get::<_, Option<String>>(1)
                    .map_err(db_err)?
                    .unwrap_or_default(),
                students: count(&row, 2)?,
                mutations: count(&row, 3)?,
            });
        }
        Ok(out)
    }
}

//! Institutions' histories (`institution_history`): participation level changes and RO import
//! records, and the levels they record, kept for at most [`LEVELS_TTL`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::super::{LEVELS_TTL, MAX_CONFLICT_RETRIES, StoreError, conflict_backoff};
use super::{PgStore, db_err, from_json};
use crate::domain::institution::{
    self, InstitutionCommand, InstitutionEvent, InstitutionRecord, LevelRejection, Levels,
};
use crate::ids::Brin;
use crate::reference::ReferenceData;

/// The recorded levels as last read, and when.
#[derive(Debug, Default)]
pub(super) struct LevelsCache(Mutex<Option<(Instant, Arc<Levels>)>>);

impl LevelsCache {
    fn fresh(&self) -> Option<Arc<Levels>> {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < LEVELS_TTL)
            .map(|(_, levels)| Arc::clone(levels))
    }

    fn put(&self, levels: Arc<Levels>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), levels));
    }

    fn forget(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

fn record(row: &Row) -> Result<InstitutionRecord, StoreError> {
    let brin: String = row.get(0);
    let brin: Brin = brin
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("institution_history.brin: {e}")))?;
    let sequence: i64 = row.get(1);
    let time: DateTime<Utc> = row.get(2);
    let event: InstitutionEvent = from_json("an institution event", row, 3)?;
    Ok(InstitutionRecord {
        brin,
        sequence: u64::try_from(sequence)
            .map_err(|_| StoreError::Corrupt("institution_history.sequence < 0".to_owned()))?,
        time,
        event,
    })
}

impl PgStore {
    /// [`Store::levels`](super::super::Store::levels) on PostgreSQL: cached for [`LEVELS_TTL`].
    pub(super) async fn cached_levels(&self) -> Result<Arc<Levels>, StoreError> {
        if let Some(levels) = self.levels.fresh() {
            return Ok(levels);
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT brin, sequence, recorded_at, event FROM institution_history
                 WHERE event->>'type' = 'participation_changed' ORDER BY brin, sequence",
                &[],
            )
            .await
            .map_err(db_err)?;
        let records = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        let levels = Arc::new(Levels::from_records(&records));
        self.levels.put(Arc::clone(&levels));
        Ok(levels)
    }

    /// [`Store::institution_history`](super::super::Store::institution_history) on PostgreSQL.
    pub(super) async fn read_institution_history(
        &self,
        brin: Option<&Brin>,
    ) -> Result<Vec<InstitutionRecord>, StoreError> {
        let client = self.client().await?;
        let rows = match brin {
            Some(brin) => client
                .query(
                    "SELECT brin, sequence, recorded_at, event FROM institution_history
                     WHERE brin = $1 ORDER BY sequence",
                    &[&brin.instelling().to_string()],
                )
                .await
                .map_err(db_err)?,
            None => client
                .query(
                    "SELECT brin, sequence, recorded_at, event FROM institution_history
                     ORDER BY brin, sequence",
                    &[],
                )
                .await
                .map_err(db_err)?,
        };
        rows.iter().map(record).collect()
    }

    /// [`Store::execute_institution`](super::super::Store::execute_institution) on PostgreSQL:
    /// read the history, decide, insert the next sequence; a concurrent insert of the same
    /// sequence (another node) makes it decide again on the fresh history.
    pub(super) async fn execute_institution_command(
        &self,
        brin: &Brin,
        time: DateTime<Utc>,
        command: InstitutionCommand,
        reference: &ReferenceData,
    ) -> Result<Result<InstitutionRecord, LevelRejection>, StoreError> {
        let brin = brin.instelling();
        for attempt in 0..MAX_CONFLICT_RETRIES {
            let history = self.read_institution_history(Some(&brin)).await?;
            let event = match institution::decide(&brin, &history, &command, reference) {
                Ok(event) => event,
                Err(rejection) => return Ok(Err(rejection)),
            };
            let record = InstitutionRecord {
                brin: brin.clone(),
                sequence: history.len() as u64 + 1,
                time,
                event,
            };
            let client = self.client().await?;
            let sequence = i64::try_from(record.sequence)
                .map_err(|_| StoreError::Corrupt("institution sequence out of range".into()))?;
            let inserted = client
                .execute(
                    "INSERT INTO institution_history (brin, sequence, recorded_at, event)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        &record.brin.to_string(),
                        &sequence,
                        &record.time,
                        &Json(&record.event),
                    ],
                )
                .await;
            match inserted {
                Ok(_) => {
                    self.levels.forget();
                    return Ok(Ok(record));
                }
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                }
                Err(e) => return Err(db_err(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "institution {brin}: its history kept changing while recording"
        )))
    }
}

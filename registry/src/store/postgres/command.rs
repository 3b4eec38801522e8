//! `execute`: one command, in one or two round trips (see the `postgres` module documentation).

use std::sync::LazyLock;

use deadpool_postgres::ClientWrapper;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::super::{
    CommandOutcome, Decision, EventEnvelope, MAX_CONFLICT_RETRIES, StoreError, decide,
    opened_person, outbox_partition,
};
use super::cache::Known;
use super::{PgStore, db_err, from_json, from_json_opt};
use crate::domain::{Command, Dossier, Rejection};
use crate::envelope::{CommandMeta, DossierKey};
use crate::reference::ReferenceData;

const LOAD: &str = "
SELECT c.dossier_key, c.first_sequence, c.event_count, c.rejection, d.state, d.version, p.key
FROM (SELECT 1) AS one
LEFT JOIN commands c ON c.id = $1
LEFT JOIN dossiers d ON d.key = $2
LEFT JOIN dossiers p ON p.person_fingerprint = $3::text";

const REPLAY_EVENTS: &str = "
SELECT envelope FROM events
WHERE dossier_key = $1 AND sequence >= $2 AND sequence < $2 + $3::int8
ORDER BY sequence";

const STORE_REJECTION: &str = "
INSERT INTO commands (id, dossier_key, rejection)
SELECT $1, $2, $3
WHERE coalesce((SELECT version FROM dossiers WHERE key = $2 FOR SHARE), 0) = $4
ON CONFLICT (id) DO NOTHING";

/// Parameters $1..$11 are shared; $12 is the person fingerprint (insert) or the expected
/// version (update).
const WRITE_TAIL: &str = "
, c AS (
    INSERT INTO commands (id, dossier_key, first_sequence, event_count)
    SELECT $1, d.key, $5, $6 FROM d
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), e AS (
    INSERT INTO events (dossier_key, sequence, id, type, envelope)
    SELECT $2, u.seq, u.id, u.type, u.env
    FROM c, unnest($7::int8[], $8::uuid[], $9::text[], $10::jsonb[]) AS u(seq, id, type, env)
), o AS (
    INSERT INTO outbox (partition, dossier_key, sequence)
    SELECT $11, $2, u.seq FROM c, unnest($7::int8[]) AS u(seq)
    ORDER BY u.seq
)
SELECT CASE
    WHEN NOT EXISTS (SELECT 1 FROM d) THEN 0
    WHEN NOT EXISTS (SELECT 1 FROM c) THEN knooppunt_abort_conflict()
    ELSE 1
END";

static WRITE_NEW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH d AS (
    INSERT INTO dossiers (key, person_fingerprint, version, state)
    VALUES ($2, $12::text, $3, $4)
    ON CONFLICT DO NOTHING
    RETURNING key
){WRITE_TAIL}"
    )
});

static WRITE_UPDATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH d AS (
    UPDATE dossiers SET version = $3, state = $4, updated_at = now()
    WHERE key = $2 AND version = $12::int8
    RETURNING key
){WRITE_TAIL}"
    )
});

/// The SQLSTATE raised by `knooppunt_abort_conflict()`.
pub(super) const ABORT_CONFLICT: &str = "KN409";

/// What the read at the start of a command found.
struct Loaded {
    stored: Option<CommandOutcome>,
    state: Dossier,
    version: i64,
    person_owner: Option<DossierKey>,
}

impl PgStore {
    async fn load(
        &self,
        client: &ClientWrapper,
        meta: &CommandMeta,
        person: Option<&str>,
    ) -> Result<Loaded, StoreError> {
        let stmt = client.prepare_cached(LOAD).await.map_err(db_err)?;
        let row = client
            .query_one(&stmt, &[&meta.id, &meta.dossier.0, &person])
            .await
            .map_err(db_err)?;
        let cmd_dossier: Option<Uuid> = row.try_get(0).map_err(db_err)?;
        let stored = match cmd_dossier {
            None => None,
            Some(dossier) => {
                let dossier = DossierKey(dossier);
                let rejection: Option<Rejection> = from_json_opt("stored rejection", &row, 3)?;
                let result = match rejection {
                    Some(r) => Err(r),
                    None => {
                        let first: Option<i64> = row.try_get(1).map_err(db_err)?;
                        let count: i32 = row.try_get(2).map_err(db_err)?;
                        let rows = client
                            .query(
                                REPLAY_EVENTS,
                                &[&dossier.0, &first.unwrap_or(0), &i64::from(count)],
                            )
                            .await
                            .map_err(db_err)?;
                        let mut events = Vec::with_capacity(rows.len());
                        for r in rows {
                            events.push(from_json("stored event", &r, 0)?);
                        }
                        Ok(events)
                    }
                };
                Some(CommandOutcome {
                    command_id: meta.id,
                    dossier,
                    result,
                    replayed: true,
                })
            }
        };
        let state = from_json_opt("dossier state", &row, 4)?.unwrap_or_default();
        let version: Option<i64> = row.try_get(5).map_err(db_err)?;
        let owner: Option<Uuid> = row.try_get(6).map_err(db_err)?;
        Ok(Loaded {
            stored,
            state,
            version: version.unwrap_or(0),
            person_owner: owner.map(DossierKey),
        })
    }

    /// Stores a rejection if the dossier is still at `version`; false when it was not stored
    /// (the dossier moved on, or the command id was taken meanwhile).
    async fn store_rejection(
        &self,
        client: &ClientWrapper,
        meta: &CommandMeta,
        rejection: &Rejection,
        version: i64,
    ) -> Result<bool, StoreError> {
        let stmt = client
            .prepare_cached(STORE_REJECTION)
            .await
            .map_err(db_err)?;
        let json = Json(rejection);
        let n = client
            .execute(&stmt, &[&meta.id, &meta.dossier.0, &json, &version])
            .await
            .map_err(db_err)?;
        Ok(n == 1)
    }

    /// Writes an accepted command in one statement; false when it lost a race.
    #[allow(clippy::too_many_arguments)]
    async fn store_accepted(
        &self,
        client: &ClientWrapper,
        meta: &CommandMeta,
        person: Option<&str>,
        version: i64,
        events: &[EventEnvelope],
        state: &Dossier,
    ) -> Result<bool, StoreError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            // Nothing happened: only the answer is stored (same path as a rejection).
            return Ok(false);
        };
        let new_version = i64::try_from(last.meta.sequence)
            .map_err(|_| StoreError::Corrupt("sequence out of range".into()))?;
        let first_sequence = i64::try_from(first.meta.sequence)
            .map_err(|_| StoreError::Corrupt("sequence out of range".into()))?;
        let count = i32::try_from(events.len())
            .map_err(|_| StoreError::Corrupt("too many events".into()))?;
        let state_json = Json(state);
        let mut seqs = Vec::with_capacity(events.len());
        let mut ids = Vec::with_capacity(events.len());
        let mut types = Vec::with_capacity(events.len());
        let mut envs = Vec::with_capacity(events.len());
        for e in events {
            seqs.push(
                i64::try_from(e.meta.sequence)
                    .map_err(|_| StoreError::Corrupt("sequence out of range".into()))?,
            );
            ids.push(e.meta.id);
            types.push(e.meta.kind.as_str());
            envs.push(Json(e));
        }
        let partition = outbox_partition(meta.dossier) as i32;
        let (sql, last_param): (&str, &(dyn ToSql + Sync)) = if version == 0 {
            (&WRITE_NEW, &person)
        } else {
            (&WRITE_UPDATE, &version)
        };
        let stmt = client.prepare_cached(sql).await.map_err(db_err)?;
        let params: [&(dyn ToSql + Sync); 12] = [
            &meta.id,
            &meta.dossier.0,
            &new_version,
            &state_json,
            &first_sequence,
            &count,
            &seqs,
            &ids,
            &types,
            &envs,
            &partition,
            last_param,
        ];
        match client.query_one(&stmt, &params).await {
            Ok(row) => {
                let n: i32 = row.try_get(0).map_err(db_err)?;
                Ok(n == 1)
            }
            Err(e) if e.code().is_some_and(|c| c.code() == ABORT_CONFLICT) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    /// [`Store::execute`](super::super::Store::execute) on PostgreSQL.
    pub(super) async fn execute_command(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError> {
        let levels = self.cached_levels().await?;
        let client = self.client().await?;
        let person = opened_person(&command, &self.person_key);
        let person = person.as_deref();
        // First attempt without a read when the state is known (cached from this instance's
        // last write, or an `OpenDossier`, which normally targets a new key): every write is
        // guarded by the version check, the command-id key and the person index, so a wrong
        // guess only costs a re-load.
        let mut guess = self.cache.get(meta.dossier).or_else(|| {
            person.map(|_| Known {
                state: Dossier::default(),
                version: 0,
            })
        });
        for attempt in 0..MAX_CONFLICT_RETRIES {
            let (known, taken) = match guess.take() {
                Some(known) => (known, false),
                None => {
                    let loaded = self.load(&client, &meta, person).await?;
                    if let Some(stored) = loaded.stored {
                        return Ok(stored);
                    }
                    let taken = loaded.person_owner.is_some_and(|o| o != meta.dossier);
                    (
                        Known {
                            state: loaded.state,
                            version: loaded.version,
                        },
                        taken,
                    )
                }
            };
            let decision = if taken {
                Decision::Rejected(Rejection::DossierAlreadyOpen)
            } else {
                decide(&known.state, &meta, &command, reference, &levels)?
            };
            let (stored, result) = match decision {
                Decision::Rejected(rejection) => (
                    self.store_rejection(&client, &meta, &rejection, known.version)
                        .await?,
                    Err(rejection),
                ),
                Decision::Accepted { events, .. } if events.is_empty() => {
                    // A command that changes nothing: record the (empty) answer like a
                    // rejection is recorded, guarded by the same version check.
                    let stmt = client
                        .prepare_cached(
                            "INSERT INTO commands (id, dossier_key, first_sequence, event_count)
                             SELECT $1, $2, 0, 0
                             WHERE coalesce((SELECT version FROM dossiers WHERE key = $2 FOR SHARE), 0) = $3
                             ON CONFLICT (id) DO NOTHING",
                        )
                        .await
                        .map_err(db_err)?;
                    let n = client
                        .execute(&stmt, &[&meta.id, &meta.dossier.0, &known.version])
                        .await
                        .map_err(db_err)?;
                    (n == 1, Ok(Vec::new()))
                }
                Decision::Accepted { events, state } => {
                    let stored = self
                        .store_accepted(&client, &meta, person, known.version, &events, &state)
                        .await?;
                    if stored {
                        let version = known.version + events.len() as i64;
                        self.cache.put(meta.dossier, Known { state, version });
                    }
                    (stored, Ok(events))
                }
            };
            if stored {
                return Ok(CommandOutcome {
                    command_id: meta.id,
                    dossier: meta.dossier,
                    result,
                    replayed: false,
                });
            }
            self.cache.forget(meta.dossier);
            tracing::debug!(
                command = %meta.id,
                dossier = %meta.dossier,
                attempt,
                "command lost a race on its dossier or was seen before, loading again"
            );
            tokio::time::sleep(super::super::conflict_backoff(attempt)).await;
        }
        Err(StoreError::Conflict(meta.dossier))
    }
}

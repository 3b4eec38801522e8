//! `execute_batch`: many commands in one transaction, or one by one when that cannot be.

use std::collections::HashMap;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::super::{
    CommandOutcome, Decision, Store, StoreError, decide, opened_person, outbox_partition,
};
use super::cache::Known;
use super::command::ABORT_CONFLICT;
use super::{PgStore, db_err, from_json, to_raw_json};
use crate::domain::{Command, Dossier, Rejection};
use crate::envelope::{CommandMeta, DossierKey};
use crate::reference::ReferenceData;

/// Loads, for a batch, the dossiers it names and the dossiers owning the persons it opens.
const BATCH_LOAD_DOSSIERS: &str = "
SELECT key, version, state, person_fingerprint FROM dossiers
WHERE key = ANY($1) OR person_fingerprint = ANY($2)";

/// The batch's command ids already handled. One primary-key probe per id (a LATERAL with LIMIT
/// is never turned into a hash join): `id = ANY($1)` was planned once, on the empty table of a
/// fresh schema, as a sequential scan, and the cached plan kept scanning as the table grew.
const BATCH_HANDLED: &str = "
SELECT c.id FROM unnest($1::uuid[]) AS u(id)
CROSS JOIN LATERAL (SELECT id FROM commands WHERE id = u.id LIMIT 1) AS c";

const BATCH_INSERT_DOSSIERS: &str = "
INSERT INTO dossiers (key, person_fingerprint, version, state)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::jsonb[])";

const BATCH_UPDATE_DOSSIERS: &str = "
UPDATE dossiers d SET version = u.nv, state = u.st, updated_at = now()
FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::jsonb[]) AS u(k, ov, nv, st)
WHERE d.key = u.k AND d.version = u.ov";

/// Counts the dossiers (only answered, not changed, by the batch) still at the version the
/// batch decided on; locks them against change until the commit.
const BATCH_CHECK_VERSIONS: &str = "
SELECT count(*) FROM unnest($1::uuid[], $2::int8[]) AS u(k, v)
WHERE coalesce((SELECT version FROM dossiers WHERE key = u.k FOR SHARE), 0) = u.v";

const BATCH_INSERT_COMMANDS: &str = "
INSERT INTO commands (id, dossier_key, first_sequence, event_count, rejection)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::int4[], $5::jsonb[])";

const BATCH_INSERT_EVENTS: &str = "
INSERT INTO events (dossier_key, sequence, id, type, envelope)
SELECT * FROM unnest($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::jsonb[])";

const BATCH_INSERT_OUTBOX: &str = "
INSERT INTO outbox (partition, dossier_key, sequence)
SELECT u.p, u.k, u.s FROM unnest($1::int4[], $2::uuid[], $3::int8[]) WITH ORDINALITY AS u(p, k, s, n)
ORDER BY u.n";

/// A dossier as a batch sees it: as loaded, and after the batch's commands so far.
struct BatchDossier {
    loaded_version: i64,
    known: Known,
    person: Option<String>,
}

/// Why a batch could not be written in one transaction.
enum BatchFailure {
    /// A race, a duplicate or a deadlock: handle the commands one by one instead.
    FallBack,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for BatchFailure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Driver errors inside the batch transaction: SQL-level refusals (unique violation,
/// deadlock, serialisation) fall back to one-by-one handling; connection trouble is an error.
fn batch_err(e: tokio_postgres::Error) -> BatchFailure {
    match e.code() {
        Some(code)
            if *code == SqlState::UNIQUE_VIOLATION
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || code.code() == ABORT_CONFLICT =>
        {
            BatchFailure::FallBack
        }
        _ => BatchFailure::Store(db_err(e)),
    }
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt("sequence out of range".into()))
}
impl PgStore {
    /// Handles a batch in one transaction; `None` when it must be handled one by one.
    async fn try_batch(
        &self,
        commands: &[(CommandMeta, Command)],
        reference: &ReferenceData,
    ) -> Result<Option<Vec<Result<CommandOutcome, StoreError>>>, StoreError> {
        let levels = self.cached_levels().await?;
        let mut client = self.client().await?;
        let ids: Vec<Uuid> = commands.iter().map(|(m, _)| m.id).collect();
        let keys: Vec<Uuid> = commands.iter().map(|(m, _)| m.dossier.0).collect();
        let persons: Vec<Option<String>> = commands
            .iter()
            .map(|(_, c)| opened_person(c, &self.person_key))
            .collect();
        let fingerprints: Vec<&str> = persons.iter().flatten().map(String::as_str).collect();
        let tx = client.transaction().await.map_err(db_err)?;
        let handled = tx.prepare_cached(BATCH_HANDLED).await.map_err(db_err)?;
        let load = tx
            .prepare_cached(BATCH_LOAD_DOSSIERS)
            .await
            .map_err(db_err)?;
        let handled_params: [&(dyn ToSql + Sync); 1] = [&ids];
        let load_params: [&(dyn ToSql + Sync); 2] = [&keys, &fingerprints];
        let (handled, loaded) = futures::try_join!(
            tx.query(&handled, &handled_params),
            tx.query(&load, &load_params)
        )
        .map_err(db_err)?;
        if !handled.is_empty() {
            // Replays are answered by `execute` (rare: redeliveries).
            return Ok(None);
        }
        let mut dossiers: HashMap<DossierKey, BatchDossier> = HashMap::new();
        let mut owners: HashMap<String, DossierKey> = HashMap::new();
        for row in loaded {
            let key = DossierKey(row.try_get(0).map_err(db_err)?);
            let version: i64 = row.try_get(1).map_err(db_err)?;
            let state: Dossier = from_json("dossier state", &row, 2)?;
            let person: Option<String> = row.try_get(3).map_err(db_err)?;
            if let Some(fp) = &person {
                owners.insert(fp.clone(), key);
            }
            dossiers.insert(
                key,
                BatchDossier {
                    loaded_version: version,
                    known: Known { state, version },
                    person: None,
                },
            );
        }

        // Decide in order, each command on the state its predecessors left.
        let mut outcomes = Vec::with_capacity(commands.len());
        let mut order: Vec<DossierKey> = Vec::new();
        let (mut c_ids, mut c_keys, mut c_first, mut c_count, mut c_rej) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut e_keys, mut e_seqs, mut e_ids, mut e_types, mut e_envs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut o_parts = Vec::new();
        for ((meta, command), person) in commands.iter().zip(&persons) {
            let key = meta.dossier;
            if !order.contains(&key) {
                order.push(key);
            }
            let entry = dossiers.entry(key).or_insert_with(|| BatchDossier {
                loaded_version: 0,
                known: Known {
                    state: Dossier::default(),
                    version: 0,
                },
                person: None,
            });
            let taken = person
                .as_ref()
                .and_then(|fp| owners.get(fp))
                .is_some_and(|owner| *owner != key);
            let decision = if taken {
                Decision::Rejected(Rejection::DossierAlreadyOpen)
            } else {
                match decide(&entry.known.state, meta, command, reference, &levels) {
                    Ok(d) => d,
                    Err(e) => {
                        outcomes.push(Err(e));
                        continue;
                    }
                }
            };
            let result = match decision {
                Decision::Rejected(rejection) => {
                    c_ids.push(meta.id);
                    c_keys.push(key.0);
                    c_first.push(None);
                    c_count.push(0i32);
                    c_rej.push(Some(Json(rejection.clone())));
                    Err(rejection)
                }
                Decision::Accepted { events, state } => {
                    c_ids.push(meta.id);
                    c_keys.push(key.0);
                    c_count.push(
                        i32::try_from(events.len())
                            .map_err(|_| StoreError::Corrupt("too many events".into()))?,
                    );
                    c_rej.push(None);
                    match events.first() {
                        // A command that changes nothing: its answer is stored like
                        // `execute` stores it.
                        None => c_first.push(Some(0)),
                        Some(first) => {
                            c_first.push(Some(to_i64(first.meta.sequence)?));
                            let partition = outbox_partition(key) as i32;
                            for e in &events {
                                e_keys.push(key.0);
                                e_seqs.push(to_i64(e.meta.sequence)?);
                                e_ids.push(e.meta.id);
                                e_types.push(e.meta.kind.clone());
                                // Serialised now: the events move into the outcome.
                                e_envs.push(Json(to_raw_json("event", e)?));
                                o_parts.push(partition);
                            }
                            if entry.known.version == 0
                                && let Some(fp) = person
                            {
                                owners.insert(fp.clone(), key);
                                entry.person = Some(fp.clone());
                            }
                            entry.known = Known {
                                state,
                                version: entry.known.version + events.len() as i64,
                            };
                        }
                    }
                    Ok(events)
                }
            };
            outcomes.push(Ok(CommandOutcome {
                command_id: meta.id,
                dossier: key,
                result,
                replayed: false,
            }));
        }

        // Write everything; any race makes the whole batch fall back.
        let mut new = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut upd = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut check = (Vec::new(), Vec::new());
        let mut touched: Vec<DossierKey> = order.clone();
        touched.sort_unstable();
        for key in &touched {
            let d = &dossiers[key];
            if d.known.version == d.loaded_version {
                check.0.push(key.0);
                check.1.push(d.loaded_version);
            } else if d.loaded_version == 0 {
                new.0.push(key.0);
                new.1.push(d.person.clone());
                new.2.push(d.known.version);
                new.3.push(Json(&d.known.state));
            } else {
                upd.0.push(key.0);
                upd.1.push(d.loaded_version);
                upd.2.push(d.known.version);
                upd.3.push(Json(&d.known.state));
            }
        }
        let written: Result<(), BatchFailure> = async {
            if !upd.0.is_empty() {
                let stmt = tx
                    .prepare_cached(BATCH_UPDATE_DOSSIERS)
                    .await
                    .map_err(db_err)?;
                let n = tx
                    .execute(&stmt, &[&upd.0, &upd.1, &upd.2, &upd.3])
                    .await
                    .map_err(batch_err)?;
                if n as usize != upd.0.len() {
                    return Err(BatchFailure::FallBack);
                }
            }
            if !check.0.is_empty() {
                let stmt = tx
                    .prepare_cached(BATCH_CHECK_VERSIONS)
                    .await
                    .map_err(db_err)?;
                let n: i64 = tx
                    .query_one(&stmt, &[&check.0, &check.1])
                    .await
                    .map_err(batch_err)?
                    .try_get(0)
                    .map_err(db_err)?;
                if n as usize != check.0.len() {
                    return Err(BatchFailure::FallBack);
                }
            }
            if !new.0.is_empty() {
                let stmt = tx
                    .prepare_cached(BATCH_INSERT_DOSSIERS)
                    .await
                    .map_err(db_err)?;
                tx.execute(&stmt, &[&new.0, &new.1, &new.2, &new.3])
                    .await
                    .map_err(batch_err)?;
            }
            if !c_ids.is_empty() {
                let stmt = tx
                    .prepare_cached(BATCH_INSERT_COMMANDS)
                    .await
                    .map_err(db_err)?;
                tx.execute(&stmt, &[&c_ids, &c_keys, &c_first, &c_count, &c_rej])
                    .await
                    .map_err(batch_err)?;
            }
            if !e_ids.is_empty() {
                let stmt = tx
                    .prepare_cached(BATCH_INSERT_EVENTS)
                    .await
                    .map_err(db_err)?;
                let outbox = tx
                    .prepare_cached(BATCH_INSERT_OUTBOX)
                    .await
                    .map_err(db_err)?;
                tx.execute(&stmt, &[&e_keys, &e_seqs, &e_ids, &e_types, &e_envs])
                    .await
                    .map_err(batch_err)?;
                tx.execute(&outbox, &[&o_parts, &e_keys, &e_seqs])
                    .await
                    .map_err(batch_err)?;
            }
            tx.commit().await.map_err(batch_err)?;
            Ok(())
        }
        .await;
        match written {
            Ok(()) => {}
            Err(BatchFailure::FallBack) => return Ok(None),
            Err(BatchFailure::Store(e)) => return Err(e),
        }
        for key in &touched {
            if let Some(d) = dossiers.remove(key)
                && d.known.version != d.loaded_version
            {
                self.cache.put(*key, d.known);
            }
        }
        Ok(Some(outcomes))
    }

    /// [`Store::execute_batch`] on PostgreSQL (see the [`Store`] impl of [`PgStore`]).
    pub(super) async fn execute_commands(
        &self,
        commands: Vec<(CommandMeta, Command)>,
        reference: &ReferenceData,
    ) -> Result<Vec<Result<CommandOutcome, StoreError>>, StoreError> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = std::collections::HashSet::with_capacity(commands.len());
        let unique = commands.iter().all(|(m, _)| ids.insert(m.id));
        if unique && commands.len() > 1 {
            if let Some(outcomes) = self.try_batch(&commands, reference).await? {
                return Ok(outcomes);
            }
            tracing::debug!(
                commands = commands.len(),
                "batch raced or replays a command, handling it one by one"
            );
        }
        let mut out = Vec::with_capacity(commands.len());
        for (meta, command) in commands {
            out.push(self.execute(meta, command, reference).await);
        }
        Ok(out)
    }
}

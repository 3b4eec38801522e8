//! The PostgreSQL store.
//!
//! *Command path: one or two round trips.* One read (stored answer for the command id, dossier
//! state and version, the owner of the person's fingerprint) and one write: a single statement
//! whose CTEs update or insert the dossier with a version check, insert the command row, the
//! events and the outbox rows. A single statement in autocommit is one transaction, so there is
//! one commit (one WAL flush) per command and nothing to roll back by hand. The read is skipped
//! when the state is known (this instance wrote it last, or an `OpenDossier` on a new key): the
//! write's guards make a stale guess harmless — it fails and the command is re-loaded.
//!
//! *Races.* Optimistic concurrency: the dossier update only matches the version the decision was
//! made on (a new dossier is an insert that does nothing on conflict, also on the person
//! fingerprint's unique index). When the dossier part matched nothing, nothing else is written
//! and the command is re-loaded and re-decided. When the dossier part matched but the command id
//! was taken meanwhile, the statement aborts itself (`knooppunt_abort_conflict`, SQLSTATE
//! KN409), undoing everything, and the re-load finds the stored answer.
//!
//! Isolation is the default READ COMMITTED: the version check makes it safe, and SERIALIZABLE
//! would only add aborts.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, Object, Pool};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use super::migrator::is_transient_sqlstate;
use super::{
    CommandOutcome, Decision, EventEnvelope, MAX_CONFLICT_RETRIES, OUTBOX_PARTITIONS, OutboxLease,
    OutboxRow, Store, StoreError, decide, opened_person, outbox_partition,
};
use super::{migrations, pool};
use crate::domain::{Command, Dossier, Rejection};
use crate::envelope::{CommandMeta, DossierKey};
use crate::ids::PersonId;
use crate::reference::ReferenceData;

/// Where and how to connect.
#[derive(Clone)]
pub struct PgStoreConfig {
    /// A `postgres://` URL (may hold a password: never logged, not in `Debug`).
    pub url: String,
    /// Schema to work in (sets `search_path` on every connection); `None` uses the server's
    /// default. Letters, digits and `_` only.
    pub schema: Option<String>,
    /// Maximum number of pooled connections (outbox leases use their own, on top).
    pub pool_size: usize,
}

impl fmt::Debug for PgStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStoreConfig")
            .field("url", &"***")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// The default `DATABASE_URL`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl PgStoreConfig {
    /// `DATABASE_URL` from the environment (or [`DEFAULT_DATABASE_URL`]), default schema,
    /// 32 connections.
    pub fn from_env() -> Self {
        Self {
            url: std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned()),
            schema: None,
            pool_size: 32,
        }
    }
}

/// Durability settings of the server, as `SHOW` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// `fsync`.
    pub fsync: String,
    /// `synchronous_commit`.
    pub synchronous_commit: String,
}

impl Durability {
    /// Whether a commit is on disk when it returns.
    pub fn is_durable(&self) -> bool {
        self.fsync == "on" && self.synchronous_commit != "off"
    }
}

/// The PostgreSQL [`Store`].
pub struct PgStore {
    pool: Pool,
    schema: Option<String>,
    cache: StateCache,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool.status().max_size)
            .finish_non_exhaustive()
    }
}

/// Maps a driver error to a store error. Only the SQLSTATE and the primary message are kept:
/// a DETAIL line may quote row values, which can be personal data.
fn db_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code();
            let text = format!("{} ({})", db.message(), code.code());
            if is_transient_sqlstate(code) {
                StoreError::Unavailable(text)
            } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::UNDEFINED_FUNCTION {
                StoreError::Config(format!("database schema is not migrated: {text}"))
            } else {
                StoreError::Corrupt(format!("database refused a statement: {text}"))
            }
        }
        None => StoreError::Unavailable(e.to_string()),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Reads a `jsonb` column straight into `T` (postgres-types' `Json` parses the JSON text, no
/// `serde_json::Value` tree in between).
fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    row: &Row,
    idx: usize,
) -> Result<T, StoreError> {
    row.try_get::<_, Json<T>>(idx)
        .map(|Json(v)| v)
        .map_err(|e| StoreError::Corrupt(format!("{what} does not deserialise: {e}")))
}

/// JSON text for a `jsonb` parameter whose value does not outlive the statement's arguments
/// (`Json(&value)` where it does).
fn to_raw_json<T: serde::Serialize>(
    what: &str,
    value: &T,
) -> Result<Box<serde_json::value::RawValue>, StoreError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| StoreError::Corrupt(format!("{what} does not serialise: {e}")))
}

/// [`from_json`] for a column that may be NULL.
fn from_json_opt<T: serde::de::DeserializeOwned>(
    what: &str,
    row: &Row,
    idx: usize,
) -> Result<Option<T>, StoreError> {
    row.try_get::<_, Option<Json<T>>>(idx)
        .map(|v| v.map(|Json(v)| v))
        .map_err(|e| StoreError::Corrupt(format!("{what} does not deserialise: {e}")))
}

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
const ABORT_CONFLICT: &str = "KN409";

/// A dossier state and the version it was stored with.
#[derive(Clone)]
struct Known {
    state: Dossier,
    version: i64,
}

/// The states this instance last wrote, so the next command on a dossier can skip the read.
/// Never trusted: every write checks the version. Bounded: cleared when full.
#[derive(Default)]
struct StateCache {
    map: Mutex<HashMap<DossierKey, Known>>,
}

/// Entries before the cache is cleared.
const STATE_CACHE_CAPACITY: usize = 65_536;

impl StateCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DossierKey, Known>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, key: DossierKey) -> Option<Known> {
        self.lock().get(&key).cloned()
    }

    /// Remembers a written state; never goes back to an older version (two commands on one
    /// dossier may finish in either order).
    fn put(&self, key: DossierKey, known: Known) {
        let mut map = self.lock();
        if map.get(&key).is_some_and(|k| k.version >= known.version) {
            return;
        }
        if map.len() >= STATE_CACHE_CAPACITY && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, known);
    }

    fn forget(&self, key: DossierKey) {
        self.lock().remove(&key);
    }
}

/// What the read at the start of a command found.
struct Loaded {
    stored: Option<CommandOutcome>,
    state: Dossier,
    version: i64,
    person_owner: Option<DossierKey>,
}

impl PgStore {
    /// Builds the connection pool ([`pg_pool`](super::pg_pool)'s settings, application name
    /// `knooppunt-registry`). Connections are made on first use; nothing is migrated (see
    /// [`PgStore::open`]).
    pub fn connect(config: &PgStoreConfig) -> Result<Self, StoreError> {
        let mut pg = pool::pg_config(&config.url, config.schema.as_deref())?;
        pg.application_name("knooppunt-registry");
        let pool = pool::pool_from_config(pg, config.pool_size)?;
        Ok(Self {
            pool,
            schema: config.schema.clone(),
            cache: StateCache::default(),
        })
    }

    /// Connects and applies pending migrations: what a registry does at start.
    pub async fn open(config: &PgStoreConfig) -> Result<Self, StoreError> {
        let store = Self::connect(config)?;
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Applies the migrations not yet applied ([`migrations::MIGRATOR`]: one transaction under a
    /// per-schema advisory lock); returns the versions it applied (empty when up to date). Fails
    /// with [`StoreError::Config`] when an applied migration's SQL has changed or the database
    /// has a version this binary does not know, [`StoreError::Unavailable`] when the database
    /// could not be reached.
    pub async fn migrate(&self) -> Result<Vec<i32>, StoreError> {
        let mut client = self.client().await?;
        Ok(migrations::MIGRATOR.run(&mut client).await?)
    }

    /// The server's `fsync` and `synchronous_commit` settings.
    pub async fn durability(&self) -> Result<Durability, StoreError> {
        let client = self.client().await?;
        let fsync = client.query_one("SHOW fsync", &[]).await.map_err(db_err)?;
        let sync = client
            .query_one("SHOW synchronous_commit", &[])
            .await
            .map_err(db_err)?;
        Ok(Durability {
            fsync: fsync.try_get(0).map_err(db_err)?,
            synchronous_commit: sync.try_get(0).map_err(db_err)?,
        })
    }

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
}

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
        let mut client = self.client().await?;
        let ids: Vec<Uuid> = commands.iter().map(|(m, _)| m.id).collect();
        let keys: Vec<Uuid> = commands.iter().map(|(m, _)| m.dossier.0).collect();
        let persons: Vec<Option<String>> = commands.iter().map(|(_, c)| opened_person(c)).collect();
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
                match decide(&entry.known.state, meta, command, reference) {
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
}

#[async_trait]
impl Store for PgStore {
    /// One transaction for the whole batch (see [`Store::execute_batch`]): one read of the
    /// dossiers and one of the command ids, decisions in memory, multi-row writes with the
    /// version check. A replayed command id, a lost race or a duplicate falls back to
    /// [`execute`](Store::execute) per command.
    async fn execute_batch(
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

    async fn execute(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError> {
        let client = self.client().await?;
        let person = opened_person(&command);
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
                decide(&known.state, &meta, &command, reference)?
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
            tokio::time::sleep(super::conflict_backoff(attempt)).await;
        }
        Err(StoreError::Conflict(meta.dossier))
    }

    async fn dossier(&self, key: DossierKey) -> Result<Option<Dossier>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT state FROM dossiers WHERE key = $1")
            .await
            .map_err(db_err)?;
        match client.query_opt(&stmt, &[&key.0]).await.map_err(db_err)? {
            Some(row) => Ok(Some(from_json("dossier state", &row, 0)?)),
            None => Ok(None),
        }
    }

    async fn history(&self, key: DossierKey) -> Result<Vec<EventEnvelope>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT envelope FROM events WHERE dossier_key = $1 ORDER BY sequence")
            .await
            .map_err(db_err)?;
        let rows = client.query(&stmt, &[&key.0]).await.map_err(db_err)?;
        rows.into_iter()
            .map(|r| from_json("stored event", &r, 0))
            .collect()
    }

    async fn find_dossier(&self, person: &PersonId) -> Result<Option<DossierKey>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT key FROM dossiers WHERE person_fingerprint = $1")
            .await
            .map_err(db_err)?;
        let row = client
            .query_opt(&stmt, &[&person.fingerprint()])
            .await
            .map_err(db_err)?;
        row.map(|r| r.try_get(0).map(DossierKey).map_err(db_err))
            .transpose()
    }

    async fn save_reference(&self, reference: &ReferenceData) -> Result<(), StoreError> {
        let client = self.client().await?;
        let json = Json(reference);
        client
            .execute(
                "INSERT INTO reference_data (id, snapshot) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot, saved_at = now()",
                &[&json],
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn load_reference(&self) -> Result<Option<ReferenceData>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT snapshot FROM reference_data WHERE id = 1", &[])
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => Ok(Some(from_json("reference data", &r, 0)?)),
            None => Ok(None),
        }
    }

    async fn lease_outbox(&self, max_partitions: u32) -> Result<Box<dyn OutboxLease>, StoreError> {
        // A dedicated connection, taken out of the pool: its session advisory locks are the
        // lease, and closing it (drop, or the process dying) releases them.
        let client = Object::take(self.client().await?);
        let ns: i32 = client
            .query_one(
                "SELECT hashtext('knooppunt-outbox:' || coalesce(current_schema(), ''))",
                &[],
            )
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
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

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
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

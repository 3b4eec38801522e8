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
//!
//! The files: `connect.rs` (configuration, pool, migrations, durability), `cache.rs` (the
//! states this instance wrote last), `command.rs` (`execute`: one command), `batch.rs`
//! (`execute_batch`: one transaction for many), `reads.rs` (dossier, history, person index),
//! `reference.rs` (reference data snapshots), `outbox.rs` (relay leases: claim and mark sent),
//! `levels.rs` (institutions' histories and the participation levels they record).
//! This file holds the store itself, the driver-error and JSON helpers they share, and the
//! [`Store`] impl, which hands each method to its file.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;

use super::migrator::is_transient_sqlstate;
use super::{CommandOutcome, EventEnvelope, OutboxLease, Store, StoreError};
use crate::domain::institution::{InstitutionCommand, InstitutionRecord, LevelRejection, Levels};
use crate::domain::{Command, Dossier};
use crate::envelope::{CommandMeta, DossierKey};
use crate::ids::{Brin, LeerbedrijfId, PersonId};
use crate::pseudonym::PersonKey;
use crate::reference::ReferenceData;

mod batch;
mod cache;
mod command;
mod connect;
mod levels;
mod outbox;
mod reads;
mod reference;

use cache::StateCache;
pub use connect::{DEFAULT_DATABASE_URL, Durability, PgStoreConfig};

/// The PostgreSQL [`Store`].
pub struct PgStore {
    pool: Pool,
    schema: Option<String>,
    cache: StateCache,
    person_key: PersonKey,
    /// The recorded participation levels, read at most every `LEVELS_TTL`.
    levels: levels::LevelsCache,
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
        self.execute_commands(commands, reference).await
    }

    async fn execute(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError> {
        self.execute_command(meta, command, reference).await
    }

    async fn dossier(&self, key: DossierKey) -> Result<Option<Dossier>, StoreError> {
        self.read_dossier(key).await
    }

    async fn history(&self, key: DossierKey) -> Result<Vec<EventEnvelope>, StoreError> {
        self.read_history(key).await
    }

    async fn find_dossier(&self, person: &PersonId) -> Result<Option<DossierKey>, StoreError> {
        self.read_person_dossier(person).await
    }

    async fn dossiers_with_running_bpv(
        &self,
        leerbedrijf: &LeerbedrijfId,
    ) -> Result<Vec<DossierKey>, StoreError> {
        self.read_dossiers_with_running_bpv(leerbedrijf).await
    }

    async fn save_reference(&self, reference: &ReferenceData) -> Result<(), StoreError> {
        self.write_reference(reference).await
    }

    async fn load_reference(&self) -> Result<Option<ReferenceData>, StoreError> {
        self.read_reference().await
    }

    async fn lease_outbox(&self, max_partitions: u32) -> Result<Box<dyn OutboxLease>, StoreError> {
        self.take_outbox_lease(max_partitions).await
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        self.count_outbox_backlog().await
    }

    async fn levels(&self) -> Result<Arc<Levels>, StoreError> {
        self.cached_levels().await
    }

    async fn execute_institution(
        &self,
        brin: &Brin,
        time: DateTime<Utc>,
        command: InstitutionCommand,
        reference: &ReferenceData,
    ) -> Result<Result<InstitutionRecord, LevelRejection>, StoreError> {
        self.execute_institution_command(brin, time, command, reference)
            .await
    }

    async fn institution_history(
        &self,
        brin: Option<&Brin>,
    ) -> Result<Vec<InstitutionRecord>, StoreError> {
        self.read_institution_history(brin).await
    }
}

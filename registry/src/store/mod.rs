//! Persistence of dossiers, their history, reference data and the outbox.
//!
//! Two implementations of one [`Store`] trait: [`PgStore`] (PostgreSQL, production) and
//! [`MemoryStore`] (sandbox and fast tests). One behaviour suite (`registry/tests/registry/store_suite.rs`)
//! runs against both.
//!
//! *Architecture invariant:* handling a command is one transaction — load the dossier, decide,
//! persist the new state, append the events to the history and write one outbox row per event.
//! The same command id twice gives the same answer and no second effect.
//!
//! *Architecture invariant:* a dossier's events are published in sequence order. Every outbox row
//! carries a partition ([`outbox_partition`], a pure function of the dossier key); a relay only
//! reads rows of partitions it holds through an [`OutboxLease`], and a partition is held by at
//! most one lease at a time (see [`OutboxLease`] for the scheme).
//!
//! Personal data: the dossier state and event payloads hold it (JSON), nothing else does. The
//! person index stores the keyed [`PersonKey::fingerprint`](crate::pseudonym::PersonKey::fingerprint),
//! never the number itself.
//!
//! PostgreSQL plumbing shared by every crate that owns tables: [`Migrator`], the one migration
//! runner (numbered SQL files with checksums; the registry's are [`migrations`]), and
//! [`pg_pool`], the one connection-pool builder.
//!
//! Group commit, for every batcher of the workspace: [`group_commit::GroupCommit`] (one queue,
//! batches of up to N requests, at most K in flight, an answer per caller); [`BatchingStore`] is
//! the store's user of it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::institution::{InstitutionCommand, InstitutionRecord, LevelRejection, Levels};
use crate::domain::{Command, DecideContext, Dossier, Event, Rejection};
use crate::envelope::{CommandMeta, DossierKey, EventMeta, REGISTRY_SOURCE};
use crate::ids::{Brin, LeerbedrijfId, PersonId};
use crate::pseudonym::PersonKey;
use crate::reference::ReferenceData;

pub mod batching;
pub mod bench;
pub mod group_commit;
mod memory;
pub mod migrations;
mod migrator;
mod pool;
mod postgres;

pub use batching::{BatchingConfig, BatchingStore};
pub use memory::MemoryStore;
pub use migrator::{MigrateError, Migration, Migrator};
pub use pool::{
    POOL_CREATE_TIMEOUT, POOL_WAIT_TIMEOUT, PgConfig, PgPoolError, pg_config, pg_connect, pg_pool,
    pool_from_config, valid_schema_name,
};
pub use postgres::{DEFAULT_DATABASE_URL, Durability, PgStore, PgStoreConfig};

/// An event with its envelope, as stored in the history and published from the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Envelope metadata.
    #[serde(flatten)]
    pub meta: EventMeta,
    /// The event itself (may hold personal data: never log it).
    pub data: Event,
}

/// The answer to a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// The command's id.
    pub command_id: Uuid,
    /// The dossier.
    pub dossier: DossierKey,
    /// The events it yielded, or why it was refused.
    pub result: Result<Vec<EventEnvelope>, Rejection>,
    /// True when this command id had been handled before and this is the stored answer.
    pub replayed: bool,
}

/// One unsent event in the outbox, claimed by a relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Global, increasing position (the commit order of one dossier's events is position order).
    pub position: i64,
    /// The outbox partition of the event's dossier ([`outbox_partition`]).
    pub partition: u32,
    /// The event.
    pub event: EventEnvelope,
}

/// A store failure. Rejections are not errors: they are part of [`CommandOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or the connection broke: try again.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Two commands raced on one dossier and this one lost: try again on fresh state.
    #[error("concurrent change on dossier {0}")]
    Conflict(DossierKey),
    /// Stored data could not be read back (a bug or a migration problem).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The store was configured wrongly (bad URL, bad schema name, migration mismatch).
    #[error("store configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// A copy of this error (for handing one failure to several waiting callers).
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Unavailable(s) => Self::Unavailable(s.clone()),
            Self::Conflict(k) => Self::Conflict(*k),
            Self::Corrupt(s) => Self::Corrupt(s.clone()),
            Self::Config(s) => Self::Config(s.clone()),
        }
    }

    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Conflict(_))
    }
}

impl From<PgPoolError> for StoreError {
    fn from(e: PgPoolError) -> Self {
        Self::Config(e.to_string())
    }
}

impl From<MigrateError> for StoreError {
    /// Transient database failures are [`StoreError::Unavailable`]; everything else (a changed
    /// or unknown migration, SQL the server refuses) is [`StoreError::Config`].
    fn from(e: MigrateError) -> Self {
        if e.is_transient() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Config(e.to_string())
        }
    }
}

/// Number of outbox partitions. Fixed: changing it re-maps dossiers to partitions, which is only
/// safe with the outbox drained (no relay running, no unsent rows).
pub const OUTBOX_PARTITIONS: u32 = 32;

/// The most partitions one of `leases` live outbox leases takes: an even split, rounded up.
pub fn fair_share(leases: u32) -> u32 {
    OUTBOX_PARTITIONS.div_ceil(leases.max(1))
}

/// How many times [`Store::execute`] re-loads and re-decides after losing a race on a dossier
/// before it gives up with [`StoreError::Conflict`]. Between attempts it waits
/// [`conflict_backoff`], so contenders on one dossier spread out instead of colliding again.
pub const MAX_CONFLICT_RETRIES: usize = 16;

/// The wait before re-trying after the `attempt`-th lost race (0-based): exponential from 1 ms,
/// capped at 32 ms, with full jitter (a uniform fraction of it) so racing writers de-synchronise.
pub fn conflict_backoff(attempt: usize) -> std::time::Duration {
    let cap_us = 1_000u64 << attempt.min(5);
    // Jitter from a fresh random UUID: no extra dependency, and quality is not critical here.
    let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(cap_us)) as u64;
    std::time::Duration::from_micros(cap_us / 2 + jitter / 2)
}

/// The outbox partition of a dossier: a stable hash of its key, `0..OUTBOX_PARTITIONS`.
pub fn outbox_partition(key: DossierKey) -> u32 {
    // Dossier keys are random UUIDs, so the low bits are uniformly distributed.
    (key.0.as_u128() % u128::from(OUTBOX_PARTITIONS)) as u32
}

/// The registry's persistence. Implemented for PostgreSQL and in memory; one behaviour suite runs
/// against both. Object safe: use it as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Handles one command in one transaction (see the module invariant).
    ///
    /// - A command id seen before returns the stored outcome (success *or* rejection) with
    ///   `replayed = true` and changes nothing, also when both copies arrive at the same time.
    /// - The decision is made on the dossier's current state; if another command changed the
    ///   dossier in between, it is re-loaded and re-decided (up to [`MAX_CONFLICT_RETRIES`]
    ///   times, then [`StoreError::Conflict`]).
    /// - `OpenDossier` for a person who already has a dossier is rejected with
    ///   [`Rejection::DossierAlreadyOpen`].
    async fn execute(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError>;

    /// Handles several commands, with the same semantics as calling [`execute`](Self::execute)
    /// for each in order: one outcome per command, in input order. Implementations may do it in
    /// one transaction (group commit); the default calls `execute` one by one.
    ///
    /// The outer error means nothing was handled (e.g. the store is unreachable); an inner error
    /// is that command's own failure.
    async fn execute_batch(
        &self,
        commands: Vec<(CommandMeta, Command)>,
        reference: &ReferenceData,
    ) -> Result<Vec<Result<CommandOutcome, StoreError>>, StoreError> {
        let mut out = Vec::with_capacity(commands.len());
        for (meta, command) in commands {
            out.push(self.execute(meta, command, reference).await);
        }
        Ok(out)
    }

    /// The current state of a dossier, if it exists.
    async fn dossier(&self, key: DossierKey) -> Result<Option<Dossier>, StoreError>;

    /// The full ordered history of a dossier (sequence 1, 2, 3, …).
    async fn history(&self, key: DossierKey) -> Result<Vec<EventEnvelope>, StoreError>;

    /// The dossier of a person, if one is open.
    async fn find_dossier(&self, person: &PersonId) -> Result<Option<DossierKey>, StoreError>;

    /// The dossiers holding a praktijkovereenkomst at `leerbedrijf` that is not ended and whose
    /// recognition was not withdrawn yet (`WithdrawErkenning` marks exactly those), in key
    /// order. SBB's withdrawal of a recognition names the leerbedrijf, not the students: its
    /// receiver executes the command on each of these dossiers. A scan (no index): withdrawals
    /// are rare. The default refuses, for stores that do not implement it (test doubles).
    async fn dossiers_with_running_bpv(
        &self,
        leerbedrijf: &LeerbedrijfId,
    ) -> Result<Vec<DossierKey>, StoreError> {
        let _ = leerbedrijf;
        Err(StoreError::Config(
            "this store cannot look up dossiers by leerbedrijf".to_owned(),
        ))
    }

    /// Saves a reference data snapshot, replacing the previous one.
    async fn save_reference(&self, reference: &ReferenceData) -> Result<(), StoreError>;

    /// The last saved reference data snapshot, if any.
    async fn load_reference(&self) -> Result<Option<ReferenceData>, StoreError>;

    /// Takes a lease on up to `max_partitions` outbox partitions that no other lease holds (see
    /// [`OutboxLease`]), and never more than its fair share ([`fair_share`]) of the leases
    /// alive — also of other nodes', and counting those that hold nothing — so that relays that
    /// give their leases back now and then (`RelayConfig::rebalance_every`) end up spread evenly.
    /// The lease may hold fewer (even none) when other relays hold the rest; a relay then tries
    /// again later.
    async fn lease_outbox(&self, max_partitions: u32) -> Result<Box<dyn OutboxLease>, StoreError>;

    /// Number of outbox rows not yet marked sent (for metrics and tests).
    async fn outbox_backlog(&self) -> Result<u64, StoreError>;

    /// The participation levels recorded since the reference data
    /// ([`crate::domain::institution`]): what [`execute`](Self::execute) decides with and what
    /// the API checks. PostgreSQL reads them at most every [`LEVELS_TTL`] (and at once after a
    /// change through this store), so another node sharing the database sees a change within
    /// that time. The default (test doubles): none recorded.
    async fn levels(&self) -> Result<Arc<Levels>, StoreError> {
        Ok(Arc::new(Levels::default()))
    }

    /// Decides an institution command on the institution's history and appends the event
    /// (one transaction; the history's sequence is gapless per institution). The outer error
    /// is the store's failure, the inner one the domain's refusal, which stores nothing. The
    /// default refuses, for stores that keep no institution history (test doubles).
    async fn execute_institution(
        &self,
        brin: &Brin,
        time: DateTime<Utc>,
        command: InstitutionCommand,
        reference: &ReferenceData,
    ) -> Result<Result<InstitutionRecord, LevelRejection>, StoreError> {
        let _ = (brin, time, command, reference);
        Err(StoreError::Config(
            "this store keeps no institution history".to_owned(),
        ))
    }

    /// The history of one institution (`Some(brin)`, instelling level) or of all (`None`), in
    /// BRIN and sequence order. The default (test doubles): empty.
    async fn institution_history(
        &self,
        brin: Option<&Brin>,
    ) -> Result<Vec<InstitutionRecord>, StoreError> {
        let _ = brin;
        Ok(Vec::new())
    }
}

/// How long the PostgreSQL store keeps the recorded participation levels before reading them
/// again ([`Store::levels`]): the longest a level change made on another node takes to apply
/// here.
pub const LEVELS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// A relay's exclusive hold on some outbox partitions.
///
/// *Scheme.* Every outbox row carries `partition = outbox_partition(dossier)`, so all events of a
/// dossier are in one partition. A partition is held by at most one lease at a time (PostgreSQL:
/// a session advisory lock on a dedicated connection; in memory: a lock table). A lease claims
/// only rows of its partitions, in global position order, and a dossier's rows are committed in
/// sequence order, so two relays can never publish one dossier's events out of order.
///
/// *Claims.* [`claim`](Self::claim) returns unsent rows this lease has not handed out yet;
/// [`mark_sent`](Self::mark_sent) marks them sent. Rows claimed but not marked stay unsent: once
/// the lease is released — explicitly, by dropping it, or (PostgreSQL) because its connection
/// died — the partitions are free and the next lease claims those rows again (at-least-once;
/// consumers deduplicate by event id).
///
/// *Failure.* An error from [`claim`](Self::claim) or [`mark_sent`](Self::mark_sent) may mean
/// the lease is lost (its connection broke and the server let go of the locks): release it and
/// take a new one. A relay that keeps publishing rows it claimed before such a loss can
/// duplicate an event another relay also publishes; duplicates carry the same event id and
/// sequence, so consumers drop them.
#[async_trait]
pub trait OutboxLease: Send + Sync + fmt::Debug {
    /// The partitions this lease holds, ascending.
    fn partitions(&self) -> &[u32];

    /// Up to `limit` unsent rows of this lease's partitions that it has not claimed before, in
    /// position order.
    async fn claim(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;

    /// Marks rows as sent (published and confirmed). Unknown or already sent positions are
    /// ignored.
    async fn mark_sent(&self, positions: &[i64]) -> Result<(), StoreError>;

    /// Gives the partitions back. Dropping the lease does the same.
    async fn release(self: Box<Self>) -> Result<(), StoreError>;
}

/// What deciding a command on a given state came to.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Events with their envelopes and the state after applying them.
    Accepted {
        events: Vec<EventEnvelope>,
        state: Dossier,
    },
    /// The domain refused.
    Rejected(Rejection),
}

/// Decides `command` on `state` and builds the events' envelopes (shared by both stores).
pub(crate) fn decide(
    state: &Dossier,
    meta: &CommandMeta,
    command: &Command,
    reference: &ReferenceData,
    levels: &Levels,
) -> Result<Decision, StoreError> {
    let ctx = DecideContext {
        reference,
        levels,
        meta,
    };
    let events = match state.decide(command, &ctx) {
        Ok(events) => events,
        Err(rejection) => return Ok(Decision::Rejected(rejection)),
    };
    let mut next = state.clone();
    let mut envelopes = Vec::with_capacity(events.len());
    for event in events {
        next.apply(&event);
        let expected = state.sequence + envelopes.len() as u64 + 1;
        if next.sequence != expected {
            return Err(StoreError::Corrupt(format!(
                "dossier {} sequence {} after applying an event, expected {expected}",
                meta.dossier, next.sequence
            )));
        }
        envelopes.push(EventEnvelope {
            meta: EventMeta {
                id: Uuid::now_v7(),
                kind: event.type_name().to_owned(),
                time: meta.time,
                source: REGISTRY_SOURCE.to_owned(),
                subject: meta.dossier,
                institution: event.institution(),
                correlation_id: meta.correlation_id,
                causation_id: meta.id,
                sequence: expected,
            },
            data: event,
        });
    }
    Ok(Decision::Accepted {
        events: envelopes,
        state: next,
    })
}

/// The fingerprint of the person a command opens a dossier for, if it is an `OpenDossier`.
pub(crate) fn opened_person(command: &Command, key: &PersonKey) -> Option<String> {
    #[allow(unreachable_patterns)]
    match command {
        Command::OpenDossier { person } => Some(key.fingerprint(&person.id)),
        _ => None,
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::conflict_backoff;
    use std::time::Duration;

    #[test]
    fn conflict_backoff_grows_is_capped_and_jittered() {
        for attempt in 0..20 {
            let cap = Duration::from_micros(1_000 << attempt.min(5));
            for _ in 0..50 {
                let d = conflict_backoff(attempt);
                assert!(
                    d >= cap / 2 && d < cap,
                    "attempt {attempt}: {d:?} not in [{:?}, {cap:?})",
                    cap / 2
                );
            }
        }
        let distinct: std::collections::BTreeSet<_> =
            (0..50).map(|_| conflict_backoff(5)).collect();
        assert!(distinct.len() > 1, "jitter must vary the wait");
    }
}

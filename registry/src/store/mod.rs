//! Persistence of dossiers, their history, reference data and the outbox.
//!
//! SKELETON — to be completed by the registry-stores work (see issue 2).
//!
//! *Architecture invariant:* handling a command is one transaction — load the dossier, decide,
//! persist the new state, append the events to the history and write one outbox row per event.
//! The same command id twice gives the same answer and no second effect.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Command, Dossier, Event, Rejection};
use crate::envelope::{CommandMeta, DossierKey, EventMeta};
use crate::ids::PersonId;
use crate::reference::ReferenceData;

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
    /// Global, increasing position.
    pub position: i64,
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
}

impl StoreError {
    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Conflict(_))
    }
}

/// The registry's persistence. Implemented for PostgreSQL and in memory; one behaviour suite runs
/// against both.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Handles one command in one transaction (see the module invariant).
    async fn execute(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError>;

    /// The current state of a dossier, if it exists.
    async fn dossier(&self, key: DossierKey) -> Result<Option<Dossier>, StoreError>;

    /// The full ordered history of a dossier.
    async fn history(&self, key: DossierKey) -> Result<Vec<EventEnvelope>, StoreError>;

    /// The dossier of a person, if one is open.
    async fn find_dossier(&self, person: &PersonId) -> Result<Option<DossierKey>, StoreError>;
}

//! The envelope every message carries (`design.md` §5), with CloudEvents attribute names.
//!
//! *Architecture invariant:* an envelope holds ids only. The subject is the dossier key, an opaque
//! UUID, never a BSN; personal data lives only in `data`, which is never logged or audited.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{Brin, OnderwijsbestuurCode};
use crate::partner::Partner;

/// The key of a student's dossier: an opaque UUID assigned when the dossier is opened. It is the
/// `subject` of every event about the student and carries no personal data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DossierKey(pub Uuid);

impl DossierKey {
    /// A new random key.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for DossierKey {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for DossierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for DossierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DossierKey({})", self.0)
    }
}

impl FromStr for DossierKey {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Who issued a command. Used for the access policy and recorded (as ids) in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The student themself (after DigiD); `dossier` is their own dossier.
    Student {
        /// The student's own dossier.
        dossier: DossierKey,
    },
    /// A parent or guardian acting for a student under 18.
    Parent {
        /// The child's dossier.
        dossier: DossierKey,
    },
    /// An institution (mbo or VO), identified by BRIN (from its OIN).
    Institution {
        /// The institution's BRIN (instelling level).
        brin: Brin,
    },
    /// The bevoegd gezag (onderwijsbestuur) of institutions, by its RIO code.
    BevoegdGezag {
        /// RIO onderwijsbestuurcode, e.g. `100B490`.
        bestuur: OnderwijsbestuurCode,
    },
    /// A chain partner's answer coming back through an adapter (DUO, SBB, signing, …); what
    /// each may do: [`crate::policy::partner_rights`].
    Partner {
        /// The partner, e.g. [`Partner::Duo`] (`"duo"` on the wire).
        partner: Partner,
    },
    /// An operator, by login name (not personal data of a student).
    Operator {
        /// Operator's login.
        name: String,
    },
    /// Knooppunt itself (scheduled or derived commands).
    System,
}

/// Envelope metadata of a command: who, why, and its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandMeta {
    /// The command's id, also its idempotency key: the same id twice has one effect.
    pub id: Uuid,
    /// The dossier the command is about.
    pub dossier: DossierKey,
    /// Who issued it.
    pub actor: Actor,
    /// One per user action; copied to every event this command yields.
    pub correlation_id: Uuid,
    /// The message that caused this command (e.g. the partner answer), or the command id itself.
    pub causation_id: Uuid,
    /// When the command was issued: the registry's rules use this time, not the wall clock.
    pub time: DateTime<Utc>,
}

impl CommandMeta {
    /// Metadata for a new user action by `actor` on `dossier` at `time`.
    pub fn new(dossier: DossierKey, actor: Actor, time: DateTime<Utc>) -> Self {
        let id = Uuid::now_v7();
        Self {
            id,
            dossier,
            actor,
            correlation_id: id,
            causation_id: id,
            time,
        }
    }

    /// Metadata for a command caused by `cause` (keeps its correlation id).
    pub fn caused_by(cause: &EventMeta, actor: Actor, time: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            dossier: cause.subject,
            actor,
            correlation_id: cause.correlation_id,
            causation_id: cause.id,
            time,
        }
    }
}

/// Envelope metadata of an event, with CloudEvents attribute names (`id`, `type`, `time`,
/// `source`, `subject`) and Knooppunt extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMeta {
    /// Unique event id.
    pub id: Uuid,
    /// Versioned type, e.g. `nl.knooppunt.aanmelding.ingediend.v1`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the event happened (the command's time).
    pub time: DateTime<Utc>,
    /// Producer, e.g. `/knooppunt/registry`.
    pub source: String,
    /// The dossier key.
    pub subject: DossierKey,
    /// The institution the event concerns, when there is one (routing, access).
    pub institution: Option<Brin>,
    /// Copied from the command.
    pub correlation_id: Uuid,
    /// The command that yielded this event.
    pub causation_id: Uuid,
    /// Per-dossier sequence: 1, 2, 3, … without gaps.
    pub sequence: u64,
}

/// The `source` of events the registry emits.
pub const REGISTRY_SOURCE: &str = "/knooppunt/registry";

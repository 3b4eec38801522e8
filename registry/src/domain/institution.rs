//! An institution's own history: its participation level (`va` → `aanmelden` → `krd` and back)
//! as a recorded operator action, and the record that its RO import was done.
//!
//! The same shape as the dossier's rules, on a much smaller aggregate: an
//! [`InstitutionCommand`] is decided against the institution's folded history
//! ([`InstitutionState`]) and the reference data, purely, and yields one [`InstitutionEvent`] or
//! a typed [`LevelRejection`]. The stores append the event to the institution's history (one
//! transaction, sequence per BRIN without gaps).
//!
//! *The effective level* of an institution is the `to` of its latest
//! [`InstitutionEvent::ParticipationChanged`], else its `participatie` in the reference data.
//! [`Levels`] is that overlay; every decision ([`DecideContext::levels`](super::DecideContext))
//! and the API's level check use it, so a change applies to the next command.
//!
//! Preconditions of a change ([`decide`]): the institution is in the reference data, the level is
//! another than the current one, the move is one step (`va` ↔ `aanmelden` ↔ `krd`), the reason
//! and the operator's name are short text without control characters or a long run of digits
//! (a BSN), and moving up to `krd` needs the institution's RO import
//! ([`InstitutionEvent::RoImported`]). Moving down is always allowed: the data already held stays
//! (see `docs/operations.md`).
//!
//! No personal data: BRIN, levels, an operator's name, a reason checked for person numbers, and
//! counts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::Brin;
use crate::reference::{Institution, Participation, ReferenceData};

/// The longest reason or operator name accepted, in characters.
pub const MAX_TEXT: usize = 500;

/// What an operator (or the RO import) asks of an institution's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InstitutionCommand {
    /// Move the institution to another participation level (one step).
    ChangeParticipation {
        /// The level to move to.
        to: Participation,
        /// Why (shown in the history and the audit trail; never personal data).
        reason: String,
        /// The operator's name (from the operator API's authentication).
        operator: String,
    },
    /// The RO import of the institution's students ran to its end (`knooppunt import ro`).
    RecordRoImport {
        /// Persons in the file.
        persons: u64,
        /// Commands of this run with a new effect.
        commands_new: u64,
        /// Commands the registry refused (all runs: a refusal is stored).
        rejected: u64,
    },
}

/// What happened to an institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InstitutionEvent {
    /// The participation level changed.
    ParticipationChanged {
        /// The effective level before.
        from: Participation,
        /// The level now.
        to: Participation,
        /// Why.
        reason: String,
        /// Who.
        operator: String,
    },
    /// An RO import of the institution ran to its end.
    RoImported {
        /// Persons in the file.
        persons: u64,
        /// Commands of this run with a new effect.
        commands_new: u64,
        /// Commands refused.
        rejected: u64,
    },
}

impl InstitutionEvent {
    /// The event's type name (`participation_changed`, `ro_imported`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ParticipationChanged { .. } => "participation_changed",
            Self::RoImported { .. } => "ro_imported",
        }
    }
}

/// One entry of an institution's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionRecord {
    /// The institution (instelling BRIN).
    pub brin: Brin,
    /// Position in the institution's history: 1, 2, 3, … without gaps.
    pub sequence: u64,
    /// When it was recorded.
    pub time: DateTime<Utc>,
    /// What happened.
    pub event: InstitutionEvent,
}

/// Why an institution command is refused. Names levels and fields, never a value of free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum LevelRejection {
    /// The institution is not in the reference data.
    #[error("institution {brin} is not in the reference data")]
    UnknownInstitution {
        /// The BRIN asked.
        brin: Brin,
    },
    /// The institution is at this level already.
    #[error("the institution is at level `{level}` already")]
    AlreadyAtLevel {
        /// The current level.
        level: Participation,
    },
    /// More than one step at a time (`va` ↔ `krd`).
    #[error("from `{from}` to `{to}` skips a level: move one step at a time (va, aanmelden, krd)")]
    NotOneStep {
        /// The current level.
        from: Participation,
        /// The level asked.
        to: Participation,
    },
    /// Moving up to `krd` before the institution's RO import was done.
    #[error("moving up to `krd` needs the institution's RO import first (`knooppunt import ro`)")]
    RoImportMissing,
    /// A field is unacceptable.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
}

impl LevelRejection {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownInstitution { .. } => "unknown_institution",
            Self::AlreadyAtLevel { .. } => "already_at_level",
            Self::NotOneStep { .. } => "level_step_too_large",
            Self::RoImportMissing => "ro_import_missing",
            Self::InvalidValue { .. } => "invalid_value",
        }
    }
}

/// An institution's history folded: what its rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstitutionState {
    /// The effective level.
    pub level: Participation,
    /// Whether an RO import ran to its end.
    pub ro_imported: bool,
    /// Number of recorded level changes.
    pub changes: u64,
    /// Sequence of the last record (0: none).
    pub sequence: u64,
}

impl InstitutionState {
    /// The state of `institution` after its `history` (in sequence order).
    pub fn fold(institution: &Institution, history: &[InstitutionRecord]) -> Self {
        let mut state = Self {
            level: institution.participatie,
            ro_imported: false,
            changes: 0,
            sequence: 0,
        };
        for record in history {
            state.apply(record);
        }
        state
    }

    /// Applies one recorded event.
    pub fn apply(&mut self, record: &InstitutionRecord) {
        self.sequence = record.sequence;
        match &record.event {
            InstitutionEvent::ParticipationChanged { to, .. } => {
                self.level = *to;
                self.changes += 1;
            }
            InstitutionEvent::RoImported { .. } => self.ro_imported = true,
        }
    }
}

/// Decides an institution command on the institution's history. Pure.
pub fn decide(
    brin: &Brin,
    history: &[InstitutionRecord],
    command: &InstitutionCommand,
    reference: &ReferenceData,
) -> Result<InstitutionEvent, LevelRejection> {
    let institution =
        reference
            .institution(brin)
            .ok_or_else(|| LevelRejection::UnknownInstitution {
                brin: brin.instelling(),
            })?;
    let state = InstitutionState::fold(institution, history);
    match command {
        InstitutionCommand::ChangeParticipation {
            to,
            reason,
            operator,
        } => {
            text("reason", reason)?;
            text("operator", operator)?;
            let from = state.level;
            if *to == from {
                return Err(LevelRejection::AlreadyAtLevel { level: from });
            }
            if step(from).abs_diff(step(*to)) != 1 {
                return Err(LevelRejection::NotOneStep { from, to: *to });
            }
            if *to == Participation::Krd && !state.ro_imported {
                return Err(LevelRejection::RoImportMissing);
            }
            Ok(InstitutionEvent::ParticipationChanged {
                from,
                to: *to,
                reason: reason.trim().to_owned(),
                operator: operator.trim().to_owned(),
            })
        }
        InstitutionCommand::RecordRoImport {
            persons,
            commands_new,
            rejected,
        } => Ok(InstitutionEvent::RoImported {
            persons: *persons,
            commands_new: *commands_new,
            rejected: *rejected,
        }),
    }
}

fn step(level: Participation) -> u8 {
    match level {
        Participation::Va => 0,
        Participation::Aanmelden => 1,
        Participation::Krd => 2,
    }
}

/// Free text of an operator: non-empty, bounded, no control characters, and no run of eight or
/// more digits (a BSN or onderwijsnummer has nine: personal data stays out of the history).
fn text(field: &str, value: &str) -> Result<(), LevelRejection> {
    let invalid = |reason: &str| LevelRejection::InvalidValue {
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(invalid("it is longer than 500 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid("it contains control characters"));
    }
    let longest_digits = value
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if longest_digits >= 8 {
        return Err(invalid(
            "it holds a number of eight or more digits (a person number?)",
        ));
    }
    Ok(())
}

/// The recorded levels that override the reference data: instelling BRIN → effective level.
/// Empty when no change was ever recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Levels(BTreeMap<Brin, Participation>);

impl Levels {
    /// No recorded change: every institution at its reference level.
    pub fn none() -> &'static Self {
        static NONE: Levels = Levels(BTreeMap::new());
        &NONE
    }

    /// The latest recorded level per institution, from records in sequence order per BRIN.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a InstitutionRecord>) -> Self {
        let mut levels = BTreeMap::new();
        for record in records {
            if let InstitutionEvent::ParticipationChanged { to, .. } = record.event {
                levels.insert(record.brin.instelling(), to);
            }
        }
        Self(levels)
    }

    /// The effective level of `institution`.
    pub fn of(&self, institution: &Institution) -> Participation {
        self.0
            .get(&institution.brin.instelling())
            .copied()
            .unwrap_or(institution.participatie)
    }

    /// The effective level of the institution with this BRIN, if it is in the reference data.
    pub fn level(&self, reference: &ReferenceData, brin: &Brin) -> Option<Participation> {
        reference.institution(brin).map(|i| self.of(i))
    }

    /// Whether any change was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

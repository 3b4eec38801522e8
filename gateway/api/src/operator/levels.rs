//! Participation levels on the operator API: the institutions with their effective level, one
//! institution's history, and the recorded, reversible level change
//! (`knooppunt_registry::domain::institution`).
//!
//! - `GET /ops/v1/institutions` — every institution of the reference data: BRIN, name, effective
//!   level, reference level, number of recorded changes, whether its RO import was done;
//! - `GET /ops/v1/institutions/{brin}` — the same for one, with its history (from, to, when,
//!   operator, reason; RO imports with their counts);
//! - `POST /ops/v1/institutions/{brin}/level` `{"to": "aanmelden", "reason": "…"}` — role
//!   `operator` or higher; a refused precondition is a 409 naming it (`already_at_level`,
//!   `level_step_too_large`, `ro_import_missing`), a bad reason a 422 naming the field.
//!
//! The change is recorded by the registry (the operator's name and reason in the institution's
//! history) and written to the audit trail on the chain `institution:<BRIN>` (hop `stored`,
//! actor the operator, status `participation:<level>`, the reason). A reason holding a BSN is
//! refused before anything changes, by the audit trail's own rule.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use knooppunt_ops::audit::{AuditEntry, Hop};
use knooppunt_registry::domain::institution::{
    InstitutionCommand, InstitutionEvent, InstitutionRecord, InstitutionState, LevelRejection,
};
use knooppunt_registry::ids::Brin;
use knooppunt_registry::reference::{Institution, Participation, ReferenceData};
use knooppunt_registry::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

use super::handlers::action_failed;
use super::{Operator, OperatorState, Role};
use crate::problem::{ErrorCode, Problem, parse_json};

/// What the level endpoints need: the registry and its reference data. Added to the
/// [`OperatorState`] with [`OperatorState::with_levels`].
#[derive(Clone)]
pub struct LevelsAccess {
    /// The registry (institution histories and the levels they record).
    pub store: Arc<dyn Store>,
    /// The reference data (institutions and their reference level).
    pub reference: Arc<ReferenceData>,
}

impl std::fmt::Debug for LevelsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LevelsAccess")
            .field("institutions", &self.reference.institutions.len())
            .finish_non_exhaustive()
    }
}

impl OperatorState {
    /// Serves the participation level endpoints from this registry and reference data (without
    /// it, they answer 404).
    pub fn with_levels(mut self, store: Arc<dyn Store>, reference: Arc<ReferenceData>) -> Self {
        self.levels = Some(LevelsAccess { store, reference });
        self
    }
}

/// One institution in `GET /ops/v1/institutions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionView {
    /// BRIN (instelling).
    pub brin: String,
    /// Name as registered in RIO (not personal data).
    pub naam: String,
    /// The effective level: the latest recorded change, else the reference data's.
    pub level: Participation,
    /// The level in the reference data.
    pub reference_level: Participation,
    /// Number of recorded level changes.
    pub changes: u64,
    /// Whether an RO import of the institution ran to its end.
    pub ro_imported: bool,
}

/// One entry of an institution's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// Position in the history (1, 2, …).
    pub sequence: u64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What happened, with its fields (`participation_changed`: from, to, operator, reason;
    /// `ro_imported`: persons, commands_new, rejected).
    #[serde(flatten)]
    pub event: InstitutionEvent,
}

/// `GET /ops/v1/institutions/{brin}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionDetail {
    /// The institution.
    #[serde(flatten)]
    pub institution: InstitutionView,
    /// Its history, oldest first.
    pub history: Vec<HistoryView>,
}

/// `POST /ops/v1/institutions/{brin}/level`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelRequest {
    /// The level to move to: `va`, `aanmelden` or `krd`.
    pub to: Participation,
    /// Why (to the history and the audit trail; no personal data).
    pub reason: String,
}

fn access(state: &OperatorState) -> Result<&LevelsAccess, Problem> {
    state
        .levels
        .as_ref()
        .ok_or_else(|| Problem::not_found("participation levels on this node"))
}

fn store_failed(e: &StoreError) -> Problem {
    tracing::warn!(error = %e, "operator API: the registry failed");
    Problem::unavailable()
}

fn institution<'a>(access: &'a LevelsAccess, brin: &str) -> Result<&'a Institution, Problem> {
    let brin: Brin = brin
        .parse()
        .map_err(|e: knooppunt_registry::ids::IdError| {
            Problem::new(ErrorCode::InvalidRequest)
                .detail(format!("brin: {e}"))
                .field("brin", e.to_string())
        })?;
    access
        .reference
        .institution(&brin)
        .ok_or_else(|| Problem::not_found("institution"))
}

fn view(institution: &Institution, history: &[InstitutionRecord]) -> InstitutionView {
    let state = InstitutionState::fold(institution, history);
    InstitutionView {
        brin: institution.brin.to_string(),
        naam: institution.naam.clone(),
        level: state.level,
        reference_level: institution.participatie,
        changes: state.changes,
        ro_imported: state.ro_imported,
    }
}

fn detail(institution: &Institution, history: Vec<InstitutionRecord>) -> InstitutionDetail {
    InstitutionDetail {
        institution: view(institution, &history),
        history: history
            .into_iter()
            .map(|r| HistoryView {
                sequence: r.sequence,
                at: r.time,
                event: r.event,
            })
            .collect(),
    }
}

/// `GET /ops/v1/institutions`.
pub async fn list(
    _op: Operator,
    State(state): State<OperatorState>,
) -> Result<Json<Vec<InstitutionView>>, Problem> {
    let access = access(&state)?;
    let all = access
        .store
        .institution_history(None)
        .await
        .map_err(|e| store_failed(&e))?;
    let views = access
        .reference
        .institutions
        .values()
        .map(|i| {
            let own: Vec<InstitutionRecord> = all
                .iter()
                .filter(|r| r.brin.instelling() == i.brin.instelling())
                .cloned()
                .collect();
            view(i, &own)
        })
        .collect();
    Ok(Json(views))
}

/// `GET /ops/v1/institutions/{brin}`.
pub async fn show(
    _op: Operator,
    State(state): State<OperatorState>,
    Path(brin): Path<String>,
) -> Result<Json<InstitutionDetail>, Problem> {
    let access = access(&state)?;
    let institution = institution(access, &brin)?;
    let history = access
        .store
        .institution_history(Some(&institution.brin))
        .await
        .map_err(|e| store_failed(&e))?;
    Ok(Json(detail(institution, history)))
}

fn refused(rejection: LevelRejection) -> Problem {
    let detail = rejection.to_string();
    match rejection {
        LevelRejection::AlreadyAtLevel { .. } => {
            Problem::new(ErrorCode::AlreadyAtLevel).detail(detail)
        }
        LevelRejection::NotOneStep { .. } => {
            Problem::new(ErrorCode::LevelStepTooLarge).detail(detail)
        }
        LevelRejection::RoImportMissing => Problem::new(ErrorCode::RoImportMissing).detail(detail),
        LevelRejection::UnknownInstitution { .. } => Problem::not_found("institution"),
        LevelRejection::InvalidValue { field, reason } => Problem::invalid_field(field, reason),
    }
}

/// `POST /ops/v1/institutions/{brin}/level`: records the change; 200 with the institution and
/// its history.
pub async fn change(
    op: Operator,
    State(state): State<OperatorState>,
    Path(brin): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<InstitutionDetail>, Problem> {
    op.require(Role::Operator)?;
    let access = access(&state)?;
    let institution = institution(access, &brin)?;
    let req: LevelRequest = parse_json(&headers, &body)?;
    if req.reason.trim().is_empty() {
        return Err(Problem::invalid_field("reason", "a reason is required"));
    }
    let brin = institution.brin.instelling();
    // The audit trail's rules (actor, and a reason without a BSN), checked before anything
    // changes.
    let audit = AuditEntry::new(format!("institution:{brin}"), Hop::Stored)
        .actor(op.name.clone())
        .status(format!("participation:{}", req.to))
        .reason(req.reason.trim().to_owned());
    audit.validate().map_err(action_failed)?;
    let command = InstitutionCommand::ChangeParticipation {
        to: req.to,
        reason: req.reason,
        operator: op.name.clone(),
    };
    let record = access
        .store
        .execute_institution(&brin, Utc::now(), command, &access.reference)
        .await
        .map_err(|e| store_failed(&e))?
        .map_err(refused)?;
    if let Err(e) = state.audit.append(audit.at(record.time)).await {
        // The change is recorded (and in effect); only its audit record is missing. Say so.
        tracing::warn!(brin = %brin, sequence = record.sequence, error = %e, "level change recorded, its audit record failed");
        return Err(Problem::unavailable().detail(
            "the level change is recorded, but its audit record could not be written; \
             the institution's history shows it",
        ));
    }
    tracing::info!(brin = %brin, to = %req.to, operator = %op.name, "participation level changed");
    let history = access
        .store
        .institution_history(Some(&brin))
        .await
        .map_err(|e| store_failed(&e))?;
    Ok(Json(detail(institution, history)))
}

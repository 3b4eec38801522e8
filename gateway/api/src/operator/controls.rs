//! Runtime controls through the operator API: per partner (consumer) the maintenance windows,
//! shadow mode (partner-wide and per institution) and rate limit in force, and where each comes
//! from; and the changes. Reading needs any role; a change needs `operator` (or `admin`) and a
//! reason, and is stored and audited (operator, role, reason) through
//! [`knooppunt_ops::RuntimeControls`] before it is applied on this node
//! ([`ControlTargets::apply`]); other nodes on the same database pick it up when they poll.
//!
//! - `GET /ops/v1/controls`, `GET /ops/v1/controls/{partner}`;
//! - `POST /ops/v1/controls/{partner}/maintenance` (`start`?, `end`, `reason`) → 201;
//!   `DELETE /ops/v1/controls/{partner}/maintenance/{window_id}` (`reason`);
//! - `PUT|DELETE /ops/v1/controls/{partner}/shadow` (`on`, `reason` / `reason`);
//! - `PUT|DELETE /ops/v1/controls/{partner}/shadow/institutions/{brin}`;
//! - `PUT|DELETE /ops/v1/controls/{partner}/rate-limit` (`per_second`, `burst`?, `reason`).
//!
//! A view holds partner names, BRINs, window ids, times, rates and operator names only.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use knooppunt_ops::controls::{ConfiguredControls, EffectiveControls, PartnerOverrides, Rate};
use knooppunt_ops::{ControlActor, ControlChange, OpsError, RuntimeControls};
use knooppunt_registry::ids::Brin;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Operator, OperatorState, Role};
use crate::problem::{ErrorCode, Problem, parse_json};

/// What the operator API needs of the node's delivery runtimes to show and change controls
/// (the node implements it over its gates; tests may fake it).
#[async_trait]
pub trait ControlTargets: Send + Sync + 'static {
    /// The partners (consumers) whose controls can change, each with its configured controls.
    fn configured(&self) -> BTreeMap<String, ConfiguredControls>;
    /// A change to `partner` was stored (`overrides` is the result): put the stored controls in
    /// force on this node now.
    async fn apply(&self, partner: &str, overrides: &PartnerOverrides);
}

/// The runtime controls of an [`OperatorState`] (see [`OperatorState::with_controls`]).
#[derive(Clone)]
pub struct ControlsState {
    /// Stores and audits the changes.
    pub service: RuntimeControls,
    /// The node's gates.
    pub targets: Arc<dyn ControlTargets>,
}

impl std::fmt::Debug for ControlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlsState").finish_non_exhaustive()
    }
}

/// One partner's controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerControlsView {
    /// The partner (consumer) name.
    pub partner: String,
    /// Whether a maintenance window is active now.
    pub in_maintenance: bool,
    /// The controls in force and where each comes from.
    #[serde(flatten)]
    pub controls: EffectiveControls,
}

/// `GET /ops/v1/controls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlsView {
    /// One entry per partner (consumer).
    pub partners: Vec<PartnerControlsView>,
}

/// The answer to a change: the partner's controls afterwards (and a new window's id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangedView {
    /// The new maintenance window's id (after an add).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub window_id: Option<Uuid>,
    /// The partner's controls now.
    #[serde(flatten)]
    pub partner: PartnerControlsView,
}

fn view(partner: &str, controls: EffectiveControls) -> PartnerControlsView {
    let now = Utc::now();
    PartnerControlsView {
        partner: partner.to_owned(),
        in_maintenance: controls
            .maintenance
            .iter()
            .any(|w| w.start <= now && now < w.end),
        controls: EffectiveControls {
            // Only what has not ended.
            maintenance: controls
                .maintenance
                .into_iter()
                .filter(|w| w.end > now)
                .collect(),
            ..controls
        },
    }
}

fn store_failed(e: OpsError) -> Problem {
    tracing::warn!(error = %e, "operator API: the runtime controls store failed");
    Problem::unavailable()
}

fn change_failed(e: OpsError) -> Problem {
    match e {
        OpsError::Invalid { field, reason } => {
            let field = if field == "actor" { "operator" } else { field };
            Problem::invalid_field(field, reason)
        }
        e => store_failed(e),
    }
}

fn controls(state: &OperatorState) -> Result<&ControlsState, Problem> {
    state.controls.as_ref().ok_or_else(|| {
        Problem::new(ErrorCode::NotFound).detail("runtime controls are not enabled on this node")
    })
}

fn configured_of(c: &ControlsState, partner: &str) -> Result<ConfiguredControls, Problem> {
    c.targets.configured().remove(partner).ok_or_else(|| {
        Problem::not_found("partner").field("partner", "no such partner (consumer) on this node")
    })
}

/// `GET /ops/v1/controls`.
pub async fn list(
    _op: Operator,
    State(state): State<OperatorState>,
) -> Result<Json<ControlsView>, Problem> {
    let c = controls(&state)?;
    let overrides = c.service.all().await.map_err(store_failed)?;
    let partners = c
        .targets
        .configured()
        .into_iter()
        .map(|(partner, configured)| {
            let o = overrides.get(&partner).cloned().unwrap_or_default();
            view(&partner, configured.with(&o))
        })
        .collect();
    Ok(Json(ControlsView { partners }))
}

/// `GET /ops/v1/controls/{partner}`.
pub async fn one(
    _op: Operator,
    State(state): State<OperatorState>,
    Path(partner): Path<String>,
) -> Result<Json<PartnerControlsView>, Problem> {
    let c = controls(&state)?;
    let configured = configured_of(c, &partner)?;
    let overrides = c.service.all().await.map_err(store_failed)?;
    let o = overrides.get(&partner).cloned().unwrap_or_default();
    Ok(Json(view(&partner, configured.with(&o))))
}

/// Every change's body has the reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why (to the audit trail; no personal data).
    pub reason: String,
}

/// `POST /ops/v1/controls/{partner}/maintenance`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    /// First moment (RFC 3339); now when absent.
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// First moment after the window (RFC 3339).
    pub end: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

/// `PUT /ops/v1/controls/{partner}/shadow` (and per institution)'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// Shadow mode on (translate and store, send nothing) or off (send).
    pub on: bool,
    /// Why.
    pub reason: String,
}

/// `PUT /ops/v1/controls/{partner}/rate-limit`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// Sustained attempts per second (above 0, at most 10000).
    pub per_second: f64,
    /// Attempts at once after a quiet period (1–10000, default 1).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Why.
    pub reason: String,
}

/// Checks the role and the partner, stores and audits `change`, applies it on this node.
async fn change(
    op: &Operator,
    state: &OperatorState,
    partner: &str,
    change: ControlChange,
    reason: String,
) -> Result<PartnerControlsView, Problem> {
    let c = controls(state)?;
    let configured = configured_of(c, partner)?;
    let who = ControlActor {
        name: op.name.clone(),
        role: op.role.as_str().to_owned(),
        reason,
    };
    let overrides = c
        .service
        .change(partner, &change, &who)
        .await
        .map_err(change_failed)?
        .ok_or_else(|| Problem::not_found("operator maintenance window"))?;
    c.targets.apply(partner, &overrides).await;
    Ok(view(partner, configured.with(&overrides)))
}

fn path_brin(text: &str) -> Result<Brin, Problem> {
    text.parse::<Brin>()
        .map_err(|e| Problem::invalid_field("brin", e.to_string()))
}

/// `POST /ops/v1/controls/{partner}/maintenance`: 201 with the window's id.
pub async fn add_window(
    op: Operator,
    State(state): State<OperatorState>,
    Path(partner): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    op.require(Role::Operator)?;
    let req: WindowRequest = parse_json(&headers, &body)?;
    let id = Uuid::now_v7();
    let start = req.start.unwrap_or_else(Utc::now);
    let changed = change(
        &op,
        &state,
        &partner,
        ControlChange::AddWindow {
            id,
            start,
            end: req.end,
        },
        req.reason,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ChangedView {
            window_id: Some(id),
            partner: changed,
        }),
    )
        .into_response())
}

/// `DELETE /ops/v1/controls/{partner}/maintenance/{window_id}`.
pub async fn remove_window(
    op: Operator,
    State(state): State<OperatorState>,
    Path((partner, window_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PartnerControlsView>, Problem> {
    op.require(Role::Operator)?;
    let id: Uuid = window_id.parse().map_err(|_| {
        Problem::new(ErrorCode::InvalidRequest)
            .detail("window_id: not a UUID")
            .field("window_id", "not a UUID")
    })?;
    let req: ReasonRequest = parse_json(&headers, &body)?;
    let changed = change(
        &op,
        &state,
        &partner,
        ControlChange::RemoveWindow { id },
        req.reason,
    )
    .await?;
    Ok(Json(changed))
}

/// `PUT /ops/v1/controls/{partner}/shadow`.
pub async fn set_shadow(
    op: Operator,
    State(state): State<OperatorState>,
    Path(partner): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PartnerControlsView>, Problem> {
    op.require(Role::Operator)?;
    let req: ShadowRequest = parse_json(&headers, &body)?;
    let c = ControlChange::SetShadow { on: req.on };
    Ok(Json(change(&op, &state, &partner, c, req.reason).await?))
}

/// `DELETE /ops/v1/controls/{partner}/shadow`: back to the configured shadow mode.
pub async fn clear_shadow(
    op: Operator,
    State(state): State<OperatorState>,
    Path(partner): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PartnerControlsView>, Problem> {
    op.require(Role::Operator)?;
    let req: ReasonRequest = parse_json(&headers, &body)?;
    let c = ControlChange::ClearShadow;
    Ok(Json(change(&op, &state, &partner, c, req.reason).await?))
}

/// `PUT /ops/v1/controls/{partner}/shadow/institutions/{brin}`.
pub async fn set_institution_shadow(
    op: Operator,
    State(state): State<OperatorState>,
    Path((partner, brin)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PartnerControlsView>, Problem> {
    op.require(Role::Operator)?;
    let brin = path_brin(&brin)?;
    let req: ShadowRequest = parse_json(&headers, &body)?;
    let c = ControlChange::SetInstitutionShadow { brin, on: req.on };
    Ok(Json(change(&op, &state, &partner, c, req.reason).await?))
}

/// `DELETE /ops/v1/controls/{partner}/shadow/institutions/{brin}`.
pub async fn clear_institution_shadow(
    op: Operator,
    State(state): State<OperatorState>,
    Path((partner, brin)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PartnerControlsView>, Problem> {
    op.require(Role::Operator)?;
    let brin = path_brin(&brin)?;
    let req: ReasonRequest = parse_json(&headers, &body)?;
    let c = ControlChange::ClearInstitutionShadow { brin };
    Ok(Json(change(&op, &state, &partner, c, req.reason).await?))
}

/// `PUT /ops/v1/controls/{partner}/rate-limit`.
pub async fn set_rate_limit(
    op: Operator,
    State(state): State<OperatorState>,
    Path(partner): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PartnerControlsView>, Problem> {
    op.require(Role::Operator)?;
    let req: RateRequest = parse_json(&headers, &body)?;
    let rate = Rate {
        per_second: req.per_second,
        burst: req.burst.unwrap_or(1),
    };
    let c = ControlChange::SetRateLimit { rate };
    Ok(Json(change(&op, &state, &partner, c, req.reason).await?))
}

/// `DELETE /ops/v1/controls/{partner}/rate-limit`: back to the configured rate limit.
pub async fn clear_rate_limit(
    op: Operator,
    State(state): State<OperatorState>,
    Path(partner): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PartnerControlsView>, Problem> {
    op.require(Role::Operator)?;
    let req: ReasonRequest = parse_json(&headers, &body)?;
    let c = ControlChange::ClearRateLimit;
    Ok(Json(change(&op, &state, &partner, c, req.reason).await?))
}

//! The operator endpoints. Each authenticates the operator first ([`Operator`]); replay and
//! discard need the role `operator`.
//!
//! Each endpoint is a thin JSON wrapper around a `*_view` (or action) function that takes the
//! state and returns a view or a [`Problem`]; the web console (`console/`) renders the same
//! functions as HTML, so the two never differ in what they show or do.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use knooppunt_ops::audit::{AuditEntry, verify_chain_with_head};
use knooppunt_ops::{FailedMessages, OperatorAction, OpsError, ParkedMessage};
use serde::Deserialize;
use uuid::Uuid;

use super::replay::{self, ReplayPlan, Selection};
use super::views::{
    ChainView, ConsumerStatus, DiscardView, ParkedGroups, ParkedView, RecordView, StatusView,
    TraceView,
};
use super::{Operator, OperatorState, Role};
use crate::problem::{ErrorCode, Problem, parse_json};

fn store_failed(e: OpsError) -> Problem {
    tracing::warn!(error = %e, "operator API: the delivery state or audit trail failed");
    Problem::unavailable()
}

/// An action's own input error (the actor or reason rules of the audit trail) as a 422 naming
/// the field; anything else is a store failure.
pub(super) fn action_failed(e: OpsError) -> Problem {
    match e {
        OpsError::Invalid { field, reason } => {
            let field = if field == "actor" { "operator" } else { field };
            Problem::invalid_field(field, reason)
        }
        e => store_failed(e),
    }
}

fn known_consumer(state: &OperatorState, consumer: &str) -> Result<(), Problem> {
    if state.redelivery.consumers().iter().any(|c| c == consumer) {
        Ok(())
    } else {
        Err(Problem::not_found("consumer"))
    }
}

fn path_uuid(field: &str, text: &str) -> Result<Uuid, Problem> {
    text.parse().map_err(|_| {
        Problem::new(ErrorCode::InvalidRequest)
            .detail(format!("{field}: not a UUID"))
            .field(field, "not a UUID")
    })
}

/// `GET /ops/v1/status`.
pub async fn status(
    _op: Operator,
    State(state): State<OperatorState>,
) -> Result<Json<StatusView>, Problem> {
    status_view(&state).await.map(Json)
}

/// Every consumer's state.
pub(super) async fn status_view(state: &OperatorState) -> Result<StatusView, Problem> {
    let mut consumers = Vec::new();
    for c in state.redelivery.consumers() {
        let parked = state.state.parked(&c).await.map_err(store_failed)?;
        let waiting = state.state.waiting(&c).await.map_err(store_failed)?;
        consumers.push(ConsumerStatus::new(
            &c,
            parked.len(),
            &waiting,
            state.metrics.partner_view(&c),
        ));
    }
    Ok(StatusView {
        ready: state.metrics.is_ready(),
        consumers,
    })
}

async fn all_parked(state: &OperatorState) -> Result<Vec<ParkedMessage>, Problem> {
    let mut all = Vec::new();
    for c in state.redelivery.consumers() {
        all.extend(state.state.parked(&c).await.map_err(store_failed)?);
    }
    Ok(all)
}

/// `GET /ops/v1/parked`.
pub async fn parked_groups(
    _op: Operator,
    State(state): State<OperatorState>,
) -> Result<Json<ParkedGroups>, Problem> {
    parked_groups_view(&state).await.map(Json)
}

/// Parked messages grouped by consumer and reason.
pub(super) async fn parked_groups_view(state: &OperatorState) -> Result<ParkedGroups, Problem> {
    Ok(ParkedGroups::of(&all_parked(state).await?))
}

/// `GET /ops/v1/parked/{consumer}`.
pub async fn parked_of(
    _op: Operator,
    State(state): State<OperatorState>,
    Path(consumer): Path<String>,
) -> Result<Json<Vec<ParkedView>>, Problem> {
    parked_of_view(&state, &consumer).await.map(Json)
}

/// One consumer's parked messages (404 for an unknown consumer).
pub(super) async fn parked_of_view(
    state: &OperatorState,
    consumer: &str,
) -> Result<Vec<ParkedView>, Problem> {
    known_consumer(state, consumer)?;
    let parked = state.state.parked(consumer).await.map_err(store_failed)?;
    Ok(parked.iter().map(ParkedView::of).collect())
}

/// `GET /ops/v1/parked/{consumer}/{message_id}`.
pub async fn parked_one(
    _op: Operator,
    State(state): State<OperatorState>,
    Path((consumer, message_id)): Path<(String, String)>,
) -> Result<Json<ParkedView>, Problem> {
    parked_one_view(&state, &consumer, &message_id)
        .await
        .map(Json)
}

/// One parked message (`message_id` as given in the path: 400 when not a UUID).
pub(super) async fn parked_one_view(
    state: &OperatorState,
    consumer: &str,
    message_id: &str,
) -> Result<ParkedView, Problem> {
    let id = path_uuid("message_id", message_id)?;
    known_consumer(state, consumer)?;
    let parked = state.state.parked(consumer).await.map_err(store_failed)?;
    parked
        .iter()
        .find(|p| p.message_id == id)
        .map(ParkedView::of)
        .ok_or_else(|| Problem::not_found("parked message"))
}

/// `GET /ops/v1/trace/{message_id}`.
pub async fn trace(
    _op: Operator,
    State(state): State<OperatorState>,
    Path(message_id): Path<String>,
) -> Result<Json<TraceView>, Problem> {
    trace_view(&state, &message_id).await.map(Json)
}

/// A message's audit records per chain, each chain verified in full.
pub(super) async fn trace_view(
    state: &OperatorState,
    message_id: &str,
) -> Result<TraceView, Problem> {
    let id = path_uuid("message_id", message_id)?;
    let records = state.audit.for_message(id).await.map_err(store_failed)?;
    if records.is_empty() {
        return Err(Problem::not_found("message in the audit trail"));
    }
    let mut names: Vec<String> = records.iter().map(|r| r.entry.chain.clone()).collect();
    names.dedup();
    let mut chains = Vec::new();
    for name in names {
        // The whole chain is verified (a dossier chain also holds other messages' records);
        // only this message's records are shown.
        let whole = state.audit.chain(&name).await.map_err(store_failed)?;
        let head = state.audit.head(&name).await.map_err(store_failed)?;
        let verdict = verify_chain_with_head(&whole, head.as_ref());
        chains.push(ChainView {
            verified: verdict.is_ok(),
            broken: verdict.err().map(|b| b.to_string()),
            records: records
                .iter()
                .filter(|r| r.entry.chain == name)
                .map(RecordView::of)
                .collect(),
            chain: name,
        });
    }
    Ok(TraceView {
        message_id: id,
        verified: chains.iter().all(|c| c.verified),
        chains,
    })
}

/// `POST /ops/v1/replay`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The consumer (partner adapter). Optional with `message_id` when the message is parked
    /// at one consumer only.
    #[serde(default)]
    pub consumer: Option<String>,
    /// One message.
    #[serde(default)]
    pub message_id: Option<Uuid>,
    /// The parked messages of this reason (needs `consumer`, not with `message_id`).
    #[serde(default)]
    pub park_reason: Option<String>,
    /// How many go first, alone (1–100, default 1).
    #[serde(default)]
    pub canary: Option<usize>,
    /// At most this many per second after the canary (0.1–100, default 5).
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// How long to wait for an outcome, in seconds (1–600, default 60).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
    /// Why (to the audit trail; no personal data).
    pub reason: String,
}

/// `POST /ops/v1/discard`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscardRequest {
    /// The consumer; optional when the message is parked at one consumer only.
    #[serde(default)]
    pub consumer: Option<String>,
    /// The message.
    pub message_id: Uuid,
    /// Why (to the audit trail; no personal data).
    pub reason: String,
}

/// The consumer a message is parked at: the given one, or the only one holding it.
async fn consumer_of(
    state: &OperatorState,
    consumer: Option<String>,
    id: Uuid,
) -> Result<String, Problem> {
    if let Some(c) = consumer {
        known_consumer(state, &c)
            .map_err(|_| Problem::invalid_field("consumer", "no such consumer"))?;
        return Ok(c);
    }
    let mut at = Vec::new();
    for c in state.redelivery.consumers() {
        let parked = state.state.parked(&c).await.map_err(store_failed)?;
        if parked.iter().any(|p| p.message_id == id) {
            at.push(c);
        }
    }
    match at.len() {
        0 => Err(Problem::not_found("parked message")),
        1 => Ok(at.remove(0)),
        _ => Err(Problem::invalid_field(
            "consumer",
            format!("the message is parked at {}: name one", at.join(", ")),
        )),
    }
}

fn reason_given(reason: &str) -> Result<(), Problem> {
    if reason.trim().is_empty() {
        return Err(Problem::invalid_field("reason", "a reason is required"));
    }
    // The audit trail's rules (length, no BSN), checked before anything changes.
    AuditEntry::for_message(Uuid::nil(), knooppunt_ops::Hop::Replayed)
        .reason(reason.to_owned())
        .validate()
        .map_err(action_failed)
}

/// `POST /ops/v1/replay`: starts a staged replay job; 202 with the job.
pub async fn replay(
    op: Operator,
    State(state): State<OperatorState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    op.require(Role::Operator)?;
    let req: ReplayRequest = parse_json(&headers, &body)?;
    let job = start_replay(&state, &op, req).await?;
    let location = format!("/ops/v1/replays/{}", job.job_id);
    let mut res = (StatusCode::ACCEPTED, Json(job)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Checks a replay request and starts its job (role `operator` needed); the job's first view.
pub(super) async fn start_replay(
    state: &OperatorState,
    op: &Operator,
    req: ReplayRequest,
) -> Result<super::ReplayJob, Problem> {
    op.require(Role::Operator)?;
    reason_given(&req.reason)?;
    let canary = req.canary.unwrap_or(1);
    if !(1..=100).contains(&canary) {
        return Err(Problem::invalid_field(
            "canary",
            "must be between 1 and 100",
        ));
    }
    let rate = req.rate_per_second.unwrap_or(state.limits.rate_per_second);
    if !(0.1..=100.0).contains(&rate) {
        return Err(Problem::invalid_field(
            "rate_per_second",
            "must be between 0.1 and 100",
        ));
    }
    let wait = match req.wait_seconds {
        None => state.limits.outcome_wait,
        Some(s) if (1..=600).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return Err(Problem::invalid_field(
                "wait_seconds",
                "must be between 1 and 600",
            ));
        }
    };
    let (consumer, messages) = match (req.message_id, &req.park_reason) {
        (Some(_), Some(_)) => {
            return Err(Problem::invalid_field(
                "park_reason",
                "give message_id or park_reason, not both",
            ));
        }
        (Some(id), None) => {
            let consumer = consumer_of(state, req.consumer.clone(), id).await?;
            let parked = state.state.parked(&consumer).await.map_err(store_failed)?;
            if !parked.iter().any(|p| p.message_id == id) {
                return Err(Problem::not_found("parked message"));
            }
            (consumer, vec![id])
        }
        (None, reason) => {
            let Some(consumer) = req.consumer.clone() else {
                return Err(Problem::invalid_field(
                    "consumer",
                    "required without message_id",
                ));
            };
            known_consumer(state, &consumer)
                .map_err(|_| Problem::invalid_field("consumer", "no such consumer"))?;
            let parked = state.state.parked(&consumer).await.map_err(store_failed)?;
            let ids: Vec<Uuid> = parked
                .iter()
                .filter(|p| reason.as_deref().is_none_or(|r| p.reason == r))
                .map(|p| p.message_id)
                .collect();
            if ids.is_empty() {
                return Err(Problem::not_found("parked message in this selection"));
            }
            (consumer, ids)
        }
    };
    let plan = ReplayPlan {
        consumer,
        canary: canary.min(messages.len()),
        messages,
        rate_per_second: rate,
        outcome_wait: wait,
        action: OperatorAction::new(op.name.clone(), req.reason),
        selection: Selection {
            message_id: req.message_id,
            park_reason: req.park_reason,
        },
    };
    Ok(replay::start(state, plan))
}

/// `GET /ops/v1/replays/{job_id}`.
pub async fn replay_job(
    _op: Operator,
    State(state): State<OperatorState>,
    Path(job_id): Path<String>,
) -> Result<Json<super::ReplayJob>, Problem> {
    replay_job_view(&state, &job_id).map(Json)
}

/// A replay job's progress (`job_id` as given in the path).
pub(super) fn replay_job_view(
    state: &OperatorState,
    job_id: &str,
) -> Result<super::ReplayJob, Problem> {
    let id = path_uuid("job_id", job_id)?;
    state
        .replays
        .get(id)
        .ok_or_else(|| Problem::not_found("replay job"))
}

/// `POST /ops/v1/discard`.
pub async fn discard(
    op: Operator,
    State(state): State<OperatorState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<DiscardView>, Problem> {
    op.require(Role::Operator)?;
    let req: DiscardRequest = parse_json(&headers, &body)?;
    discard_message(&state, &op, req).await.map(Json)
}

/// Discards one parked message and releases what waited behind it (role `operator` needed).
pub(super) async fn discard_message(
    state: &OperatorState,
    op: &Operator,
    req: DiscardRequest,
) -> Result<DiscardView, Problem> {
    op.require(Role::Operator)?;
    reason_given(&req.reason)?;
    let consumer = consumer_of(state, req.consumer, req.message_id).await?;
    let failed = FailedMessages::new(state.state.clone(), state.audit.clone());
    let who = OperatorAction::new(op.name.clone(), req.reason);
    let discarded = failed
        .discard(&consumer, req.message_id, &who)
        .await
        .map_err(action_failed)?
        .ok_or_else(|| Problem::not_found("parked message"))?;
    let released = discarded.released.iter().map(|m| m.message_id).collect();
    if let Err(e) = state.redelivery.release(discarded).await {
        // The released message is the subject's blocker with a durable copy; it goes out with
        // the next release or a replay of the subject's messages.
        tracing::warn!(consumer = %consumer, message_id = %req.message_id, error = %e, "discard: releasing the held message failed");
        return Err(Problem::unavailable());
    }
    Ok(DiscardView {
        consumer,
        message_id: req.message_id,
        released,
    })
}

/// `GET /metrics` on the operator listener: the same text as the API port's.
pub async fn metrics(State(state): State<OperatorState>) -> impl IntoResponse {
    let ops = state.metrics.encode();
    let ops = ops.trim_end().strip_suffix("# EOF").unwrap_or(&ops);
    let api = state.api_metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        format!("{ops}{api}"),
    )
}

/// `GET /readyz` on the operator listener.
pub async fn readyz(
    State(state): State<OperatorState>,
) -> Result<Json<crate::handlers::health::Health>, Problem> {
    state
        .readiness
        .ready()
        .await
        .map_err(|reason| Problem::new(ErrorCode::NotReady).detail(reason))?;
    Ok(Json(crate::handlers::health::Health {
        status: "ready".into(),
    }))
}

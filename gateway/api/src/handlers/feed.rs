//! `GET /api/v1/feed`: the caller's changes after a wijzigingsvolgnummer, with long-poll.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{page_limit, query_problem, unavailable_api};
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{ErrorCode, Problem};
use crate::store::FeedItem;

/// Query of `GET /feed`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// Return items with a wijzigingsvolgnummer above this (default 0: from the start).
    #[serde(default)]
    #[param(minimum = 0)]
    pub vanaf: Option<i64>,
    /// At most this many items, 1–500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// Long-poll: wait up to this many seconds (≤ 30) for an item when there is none.
    #[serde(default)]
    #[param(minimum = 0, maximum = 30)]
    pub wacht: Option<u64>,
}

/// One feed item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedItemView {
    /// Per-institution change number, 1, 2, 3, … without gaps.
    pub wijzigingsvolgnummer: i64,
    /// The event type, e.g. `nl.knooppunt.aanmelding.status_gewijzigd.v1`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    pub tijd: DateTime<Utc>,
    /// The aanmelding: always on aanmelding items; on onderwijsovereenkomst items when the
    /// event names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aanmelding_id: Option<Uuid>,
    /// The onderwijsovereenkomst (its items, a signing transaction for it, a BPV's enrolment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ook_id: Option<Uuid>,
    /// The praktijkovereenkomst (its items, SBB's answers, a signing transaction for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpv_id: Option<Uuid>,
    /// The status after the event: the aanmelding's, the agreement's, SBB's check state
    /// (`erkend`, `niet_erkend`, `ingetrokken`) or the signing transaction's (`signed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// For a `getekend` item: who signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ondertekenaar: Option<String>,
    /// For a partner's outcome: the partner (`intergrip`, `sbb`, `signing`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// A reason code: a VA partner's refusal, SBB's reason for `niet_erkend`, the reden
    /// uitschrijving of an ended onderwijsovereenkomst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reden: Option<String>,
    /// For a keuzedeel's items (registered, result recorded): its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keuzedeel: Option<String>,
}

impl From<&FeedItem> for FeedItemView {
    fn from(i: &FeedItem) -> Self {
        Self {
            wijzigingsvolgnummer: i.wijzigingsvolgnummer,
            kind: i.item.kind.clone(),
            tijd: i.item.tijd,
            aanmelding_id: i.item.aanmelding_id,
            ook_id: i.item.ook_id,
            bpv_id: i.item.bpv_id,
            status: i.item.status.clone(),
            ondertekenaar: i.item.ondertekenaar.clone(),
            partner: i.item.partner.clone(),
            reden: i.item.reden.clone(),
            keuzedeel: i.item.keuzedeel.clone(),
        }
    }
}

/// A page of the feed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FeedPage {
    /// Items in order.
    pub items: Vec<FeedItemView>,
    /// Pass as `vanaf` next time (the last number seen, or `vanaf` when there was nothing).
    pub volgende: i64,
}

/// `GET /api/v1/feed`: the caller's changes after a wijzigingsvolgnummer.
#[utoipa::path(
    get, path = "/api/v1/feed", tag = "feed",
    params(FeedQuery),
    responses(
        (status = 200, description = "Items after `vanaf`", body = FeedPage),
        (status = 400, description = "invalid_query", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "rate_limited: the client has its maximum of long-polls (`wacht`) running", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn feed(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<FeedPage>, Problem> {
    let Query(q) = query.map_err(|e| query_problem(&e))?;
    let limit = page_limit(&state, q.limit)?;
    let vanaf = q.vanaf.unwrap_or(0);
    if vanaf < 0 {
        return Err(Problem::new(ErrorCode::InvalidQuery)
            .detail("vanaf must be 0 or more")
            .field("vanaf", "negative"));
    }
    let wait = match q.wacht {
        None => Duration::ZERO,
        Some(s) if Duration::from_secs(s) <= state.limits.max_wait => Duration::from_secs(s),
        Some(_) => {
            return Err(Problem::new(ErrorCode::InvalidQuery)
                .detail(format!(
                    "wacht must be at most {} seconds",
                    state.limits.max_wait.as_secs()
                ))
                .field("wacht", "too long"));
        }
    };
    // A waiting poll holds a slot of the caller's until it returns.
    let _slot = if wait.is_zero() {
        None
    } else {
        Some(
            state
                .long_polls
                .try_acquire(caller.brin.as_str())
                .ok_or_else(|| {
                    Problem::new(ErrorCode::RateLimited)
                        .detail(format!(
                            "at most {} feed long-polls (wacht) at once per client; wait for one \
                             to return, or poll without wacht",
                            state.long_polls.max_per_client()
                        ))
                        .header(
                            axum::http::header::RETRY_AFTER,
                            axum::http::HeaderValue::from_static("1"),
                        )
                })?,
        )
    };
    let deadline = Instant::now() + wait;
    loop {
        let items = state
            .api_store
            .feed(caller.brin.as_str(), vanaf, limit)
            .await
            .map_err(|e| unavailable_api(&e))?;
        if !items.is_empty() || Instant::now() >= deadline {
            let volgende = items.last().map_or(vanaf, |i| i.wijzigingsvolgnummer);
            return Ok(Json(FeedPage {
                items: items.iter().map(FeedItemView::from).collect(),
                volgende,
            }));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(state.limits.feed_poll_interval)).await;
    }
}

//! The ops endpoints: liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::problem::{ErrorCode, Problem};

/// Liveness.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `GET /healthz`: the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// `GET /readyz`: the process can serve (its dependencies answer).
#[utoipa::path(
    get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "not_ready", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<ApiState>) -> Response {
    match state.readiness.ready().await {
        Ok(()) => Json(Health {
            status: "ready".into(),
        })
        .into_response(),
        Err(reason) => Problem::new(ErrorCode::NotReady)
            .detail(reason)
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus/OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<ApiState>) -> Response {
    let ops = state.metrics.encode();
    let ops = ops
        .trim_end()
        .strip_suffix("# EOF")
        .unwrap_or(&ops)
        .to_owned();
    let api = state.api_metrics.encode();
    let mut res = format!("{ops}{api}").into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    res
}

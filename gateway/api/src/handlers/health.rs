//! The ops endpoints: liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
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
pub async fn readyz(State(state): State<ApiState>) -> Result<Json<Health>, Problem> {
    state
        .readiness
        .ready()
        .await
        .map_err(|reason| Problem::new(ErrorCode::NotReady).detail(reason))?;
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

/// `GET /metrics`: Prometheus/OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
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

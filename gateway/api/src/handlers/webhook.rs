//! `PUT`, `GET` and `DELETE /api/v1/webhook`: the caller's webhook registration.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::unavailable_api;
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{Problem, parse_json};
use crate::webhook::{WebhookError, validate_webhook};

/// `PUT /webhook` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://sis.example.nl/knooppunt/hook", "secret": "a-long-random-secret-of-yours"}))]
pub struct WebhookBody {
    /// Where to POST: `https://…` (or `http://` to a loopback address, for development).
    #[schema(format = "uri", max_length = 2048)]
    pub url: String,
    /// Shared secret for `Knooppunt-Signature`, 16–256 characters.
    #[schema(min_length = 16, max_length = 256)]
    pub secret: String,
}

/// A webhook registration as shown (without the secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    /// Where Knooppunt POSTs.
    pub url: String,
    /// The last wijzigingsvolgnummer delivered.
    pub cursor: i64,
}

/// `PUT /api/v1/webhook`: registers or replaces the caller's webhook.
#[utoipa::path(
    put, path = "/api/v1/webhook", tag = "webhook",
    request_body = WebhookBody,
    responses(
        (status = 200, description = "Registered", body = WebhookView),
        (status = 422, description = "invalid_field (url, secret)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn put_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookView>, Problem> {
    let req: WebhookBody = parse_json(&headers, &body)?;
    let url =
        validate_webhook(&req.url, &req.secret, &state.webhook_targets).map_err(|e| match e {
            WebhookError::Invalid { field, reason } => Problem::invalid_field(field, reason),
        })?;
    // What the host resolves to, now; the dispatcher checks again at every connection.
    state
        .webhook_targets
        .check_resolved(&url)
        .await
        .map_err(|reason| Problem::invalid_field("url", reason))?;
    let hook = state
        .api_store
        .put_webhook(caller.brin.as_str(), &req.url, &req.secret)
        .await
        .map_err(|e| unavailable_api(&e))?;
    Ok(Json(WebhookView {
        url: hook.url,
        cursor: hook.cursor,
    }))
}

/// `GET /api/v1/webhook`.
#[utoipa::path(
    get, path = "/api/v1/webhook", tag = "webhook",
    responses(
        (status = 200, description = "The registration", body = WebhookView),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_webhook(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<WebhookView>, Problem> {
    let hook = state
        .api_store
        .webhook(caller.brin.as_str())
        .await
        .map_err(|e| unavailable_api(&e))?
        .ok_or_else(|| Problem::not_found("webhook"))?;
    Ok(Json(WebhookView {
        url: hook.url,
        cursor: hook.cursor,
    }))
}

/// `DELETE /api/v1/webhook`.
#[utoipa::path(
    delete, path = "/api/v1/webhook", tag = "webhook",
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "not_found", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_webhook(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<StatusCode, Problem> {
    let deleted = state
        .api_store
        .delete_webhook(caller.brin.as_str())
        .await
        .map_err(|e| unavailable_api(&e))?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("webhook"))
    }
}

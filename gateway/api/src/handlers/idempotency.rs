//! The `Idempotency-Key` of a POST and the one flow every idempotent request takes.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::unavailable_api;
use crate::ApiState;
use crate::auth::Caller;
use crate::problem::{ErrorCode, PROBLEM_JSON, Problem};
use crate::store::{IdempotencyBegin, StoredResponse};

/// The header carrying the idempotency key of a POST.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<String, Problem> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Err(Problem::new(ErrorCode::IdempotencyKeyMissing)
            .detail("every POST needs an Idempotency-Key header (e.g. a UUID)")
            .field("Idempotency-Key", "missing"));
    };
    let key = v.to_str().map_err(|_| {
        Problem::new(ErrorCode::IdempotencyKeyInvalid)
            .detail("only visible ASCII is allowed")
            .field("Idempotency-Key", "only visible ASCII is allowed")
    })?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(Problem::new(ErrorCode::IdempotencyKeyInvalid)
            .detail("the Idempotency-Key must be 1 to 255 characters")
            .field("Idempotency-Key", "must be 1 to 255 characters"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::new(ErrorCode::IdempotencyKeyInvalid)
            .detail("only visible ASCII is allowed")
            .field("Idempotency-Key", "only visible ASCII is allowed"));
    }
    Ok(key.to_owned())
}

pub(super) fn request_hash(method: &Method, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

fn stored_to_response(stored: &StoredResponse, replayed: bool) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = if status.is_client_error() || status.is_server_error() {
        match serde_json::from_value::<Problem>(stored.body.clone()) {
            // Rendered again, so `instance` names this request.
            Ok(problem) => problem.into_response(),
            // Recorded by a version with a code this one does not have: sent as it was stored.
            Err(_) => {
                let mut res = (status, Json(stored.body.clone())).into_response();
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
                res
            }
        }
    } else {
        (status, Json(stored.body.clone())).into_response()
    };
    if let Some(loc) = stored
        .location
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    if replayed {
        res.headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    res
}

/// Runs `work` once per `(oin, Idempotency-Key)`: a replay with the same request gets the stored
/// answer, another request under the same key is refused, a concurrent one gets 409.
///
/// `Ok` is the answer to send, fresh or replayed — also a refusal `work` returned, which is
/// recorded like a success. `Err` is a problem that is not recorded: the key was reused or is
/// busy, the store is down, or `work` failed with a 5xx (so a retry with the same key runs
/// again).
pub(super) async fn idempotent<F, Fut>(
    state: &ApiState,
    caller: &Caller,
    key: &str,
    hash: &str,
    work: F,
) -> Result<Response, Problem>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<StoredResponse, Problem>>,
{
    let oin = caller.oin.as_str();
    let begun = state
        .api_store
        .begin_idempotent(oin, key, hash, state.limits.idempotency_stale_after)
        .await
        .map_err(|e| unavailable_api(&e))?;
    match begun {
        IdempotencyBegin::Replay(stored) => return Ok(stored_to_response(&stored, true)),
        IdempotencyBegin::Mismatch => {
            return Err(Problem::new(ErrorCode::IdempotencyKeyReused)
                .detail("this Idempotency-Key was used for a different request")
                .field("Idempotency-Key", "used for a different request"));
        }
        IdempotencyBegin::InProgress => {
            return Err(Problem::new(ErrorCode::RequestInProgress)
                .detail("a request with this Idempotency-Key is being handled; retry shortly")
                .header(header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        IdempotencyBegin::Started => {}
    }
    let stored = match work().await {
        Ok(stored) => stored,
        Err(problem) if problem.status_code().is_server_error() => {
            if let Err(e) = state.api_store.abandon_idempotent(oin, key).await {
                tracing::warn!(error = %e, "could not abandon an idempotency record");
            }
            return Err(problem);
        }
        Err(problem) => StoredResponse {
            status: problem.status,
            location: None,
            body: serde_json::to_value(&problem).unwrap_or_default(),
        },
    };
    if let Err(e) = state.api_store.complete_idempotent(oin, key, &stored).await {
        // The effect is durable (the registry executed it); a retry re-derives the same
        // command ids and gets the same answer.
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    Ok(stored_to_response(&stored, false))
}

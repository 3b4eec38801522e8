//! The `Idempotency-Key` of a POST ([`IdempotencyKey`], an extractor) and the one flow every
//! idempotent request takes (`idempotent`).

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};
use uuid::Uuid;

use super::{derived_id, unavailable_api};
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

/// The `Idempotency-Key` of a POST: 1 to [`MAX_IDEMPOTENCY_KEY`] visible ASCII characters.
///
/// As an extractor it refuses a request without one (400 `idempotency_key_missing`) or with a
/// malformed one (400 `idempotency_key_invalid`), naming the header as the field; as
/// [`utoipa::IntoParams`] it is the header parameter in the OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key of `headers`, or the problem a request without a valid one gets.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, Problem> {
        const ASCII: &str = "only visible ASCII is allowed";
        let invalid = |detail: &str, reason: &str| {
            Problem::new(ErrorCode::IdempotencyKeyInvalid)
                .detail(detail)
                .field("Idempotency-Key", reason)
        };
        let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
            return Err(Problem::new(ErrorCode::IdempotencyKeyMissing)
                .detail("every POST needs an Idempotency-Key header (e.g. a UUID)")
                .field("Idempotency-Key", "missing"));
        };
        let key = v.to_str().map_err(|_| invalid(ASCII, ASCII))?;
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(invalid(
                "the Idempotency-Key must be 1 to 255 characters",
                "must be 1 to 255 characters",
            ));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(ASCII, ASCII));
        }
        Ok(Self(key.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One idempotent request: the caller's OIN, its `Idempotency-Key` and the SHA-256 of the
/// request (method, canonical path, body). The record of the key is bound to the hash, and
/// every registry id the request uses derives from all three ([`derived_id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    oin: String,
    key: String,
    hash: String,
}

impl IdempotentRequest {
    /// The `POST` of `caller` to the canonical `path` (the route with its values, not the URI
    /// as sent) with `body` under `key`.
    pub fn post(caller: &Caller, key: &IdempotencyKey, path: &str, body: &[u8]) -> Self {
        Self {
            oin: caller.oin.as_str().to_owned(),
            key: key.as_str().to_owned(),
            hash: request_hash(&Method::POST, path, body),
        }
    }

    /// The hex SHA-256 of method, path and body.
    pub fn request_hash(&self) -> &str {
        &self.hash
    }

    /// The id of one `step` of this request ([`derived_id`]): the same on every retry of the
    /// same request, so a command has one effect; another body under the same key gets other
    /// ids.
    pub fn derived_id(&self, step: &str) -> Uuid {
        derived_id(&self.oin, &self.key, &self.hash, step)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        Self::from_headers(&parts.headers)
    }
}

impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_IDEMPOTENCY_KEY))
            .pattern(Some("^[!-~]+$"));
        vec![
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .description(Some(
                    "1–255 visible ASCII characters; the same key with the same body gets the same answer",
                ))
                .schema(Some(schema))
                .build(),
        ]
    }
}

/// SHA-256 of method, path and body: what "the same request" means under one key.
fn request_hash(method: &Method, path: &str, body: &[u8]) -> String {
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

/// Runs `work` once per `(oin, Idempotency-Key)` ([`IdempotentRequest`]): a replay with the
/// same request gets the stored answer, another request under the same key is refused (422
/// `idempotency_key_reused`), a concurrent one gets 409.
///
/// `precheck` runs after the key is looked up and before `work`: a replay is answered from the
/// record even when the precheck would now refuse (say, the aanmeldperiode closed since), and a
/// precheck's refusal is not recorded, so the caller may correct the request — unless an
/// earlier attempt of the same request may have run (it failed with a 5xx or died), in which
/// case the key stays bound to that request.
///
/// `Ok` is the answer to send, fresh or replayed — also a refusal `work` returned, which is
/// recorded like a success. `Err` is a problem that is not recorded as the answer: the key was
/// reused or is busy, the store is down, the precheck refused, or `work` failed with a 5xx. After
/// a 5xx the record is kept, bound to the request's hash, and released: the same request may be
/// retried at once (it derives the same command ids, so what the first attempt executed is not
/// executed twice), another body under the key is answered 422.
pub(super) async fn idempotent<P, F, Fut>(
    state: &ApiState,
    request: &IdempotentRequest,
    precheck: P,
    work: F,
) -> Result<Response, Problem>
where
    P: FnOnce() -> Result<(), Problem>,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<StoredResponse, Problem>>,
{
    let (oin, key) = (request.oin.as_str(), request.key.as_str());
    let begun = state
        .api_store
        .begin_idempotent(
            oin,
            key,
            request.request_hash(),
            state.instance,
            state.limits.idempotency_stale_after,
        )
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
    if let Err(problem) = precheck() {
        if let Err(e) = state.api_store.abandon_idempotent(oin, key).await {
            tracing::warn!(error = %e, "could not abandon an idempotency record");
        }
        return Err(problem);
    }
    let stored = match work().await {
        Ok(stored) => stored,
        Err(problem) if problem.status_code().is_server_error() => {
            if let Err(e) = state.api_store.release_idempotent(oin, key).await {
                // The record stays busy until it is stale; still bound to this request.
                tracing::warn!(error = %e, "could not release an idempotency record");
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

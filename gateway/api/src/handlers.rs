//! The endpoints under `/api/v1`: token, aanmeldingen, status changes, the feed and the webhook
//! registration. Each handler is annotated for the OpenAPI document ([`super::openapi`]).

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use knooppunt_ops::audit::AuditEntry;
use knooppunt_registry::domain::{AanmeldStatus, Aanmelding, AanmeldingId, ExterneReferentie};
use knooppunt_registry::domain::{Command, Person, Rejection};
use knooppunt_registry::envelope::{CommandMeta, DossierKey};
use knooppunt_registry::ids::{Brin, Bsn, IdError, IdErrorReason, Onderwijsnummer, PersonId};
use knooppunt_registry::policy::{self, Access, Part, Subject};
use knooppunt_registry::store::{CommandOutcome, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::ApiState;
use super::auth::{Caller, check_certificate};
use super::feed::serde_name;
use super::problem::{KeepBody, Problem, parse_json};
use super::store::{FeedItem, IdempotencyBegin, StoredResponse};
use super::tls::PeerIdentity;
use super::webhook::validate_webhook;

/// The header carrying the idempotency key of a POST.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The header set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Namespace of the command ids derived from `(oin, idempotency key, step)`.
const COMMAND_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_5a01_8a70_6900_0000_0001);

/// A deterministic id for one step of one idempotent request.
pub fn derived_id(oin: &str, key: &str, step: &str) -> Uuid {
    Uuid::new_v5(
        &COMMAND_NAMESPACE,
        format!("{oin}\n{key}\n{step}").as_bytes(),
    )
}

fn unavailable_store(e: &StoreError) -> Problem {
    tracing::warn!(error = %e, "registry store failed");
    Problem::unavailable()
}

fn unavailable_api(e: &super::store::ApiStoreError) -> Problem {
    tracing::warn!(error = %e, "api store failed");
    Problem::unavailable()
}

// -------------------------------------------------------------------------------------------
// Token
// -------------------------------------------------------------------------------------------

/// The token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(example = "client_credentials", pattern = "^client_credentials$")]
    pub grant_type: String,
    /// The OIN (or use HTTP Basic).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The secret (or use HTTP Basic).
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// An OAuth2 error (RFC 6749 §5.2), with the problem fields alongside.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`.
    pub error: String,
    /// Human-readable.
    pub error_description: String,
    /// Same as `error`.
    pub code: String,
    /// HTTP status.
    pub status: u16,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = OAuthError {
        error: error.to_owned(),
        error_description: description.to_owned(),
        code: error.to_owned(),
        status: status.as_u16(),
    };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"knooppunt\""),
        );
    }
    res.extensions_mut().insert(KeepBody);
    res
}

fn form_pairs(text: &str) -> Vec<(String, String)> {
    let Ok(mut url) = reqwest::Url::parse("http://form.invalid/") else {
        return Vec::new();
    };
    url.set_query(Some(text));
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn form_decode(text: &str) -> String {
    form_pairs(&format!("v={text}"))
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// `POST /api/v1/oauth2/token`: client credentials → access token.
#[utoipa::path(
    post, path = "/api/v1/oauth2/token", tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        (status = 400, description = "invalid_request / unsupported_grant_type", body = OAuthError),
        (status = 401, description = "invalid_client (OAuth2 error), or client_certificate_required (problem)", content(
            (OAuthError = "application/json"),
            (Problem = "application/problem+json"),
        )),
        (status = 403, description = "certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    State(state): State<ApiState>,
    peer: Option<axum::Extension<PeerIdentity>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/x-www-form-urlencoded"));
    if !form {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "expected Content-Type: application/x-www-form-urlencoded",
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not UTF-8",
        );
    };
    let pairs = form_pairs(text);
    let get = |name: &str| -> Result<Option<String>, ()> {
        let mut found = pairs.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.clone());
        if found.next().is_some() {
            Err(())
        } else {
            Ok(first)
        }
    };
    let (Ok(grant), Ok(form_id), Ok(form_secret)) =
        (get("grant_type"), get("client_id"), get("client_secret"))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a parameter is repeated",
        );
    };
    match grant.as_deref() {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
    }
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let decoded = v
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Basic ")
                        .or_else(|| v.strip_prefix("basic "))
                })
                .and_then(|b| STANDARD.decode(b.trim()).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(a, b)| (form_decode(a), form_decode(b)))
                });
            match decoded {
                Some(pair) => Some(pair),
                None => {
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "malformed HTTP Basic credentials",
                    );
                }
            }
        }
    };
    let (client_id, secret) = match (basic, form_id, form_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use one client authentication method, not both",
            );
        }
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        (None, _, _) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is missing",
            );
        }
    };
    let Some(client) = state.clients.authenticate(&client_id, &secret) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    };
    if let Err(p) = check_certificate(
        state.require_client_cert,
        peer.as_ref().map(|e| &e.0),
        client_id.trim(),
    ) {
        return p.into_response();
    }
    let (token, _) = state.tokens.issue(&client.oin, &client.brin);
    let mut res = Json(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.ttl().as_secs(),
    })
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

// -------------------------------------------------------------------------------------------
// Idempotency
// -------------------------------------------------------------------------------------------

fn idempotency_key(headers: &HeaderMap) -> Result<String, Problem> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
        return Err(Problem::bad_request(
            "idempotency_key_missing",
            "every POST needs an Idempotency-Key header (e.g. a UUID)",
        )
        .field("Idempotency-Key", "missing"));
    };
    let key = v.to_str().map_err(|_| {
        Problem::bad_request("idempotency_key_invalid", "only visible ASCII is allowed")
            .field("Idempotency-Key", "only visible ASCII is allowed")
    })?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(Problem::bad_request(
            "idempotency_key_invalid",
            "the Idempotency-Key must be 1 to 255 characters",
        )
        .field("Idempotency-Key", "must be 1 to 255 characters"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::bad_request(
            "idempotency_key_invalid",
            "only visible ASCII is allowed",
        )
        .field("Idempotency-Key", "only visible ASCII is allowed"));
    }
    Ok(key.to_owned())
}

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
    let stored_problem = (status.is_client_error() || status.is_server_error())
        .then(|| serde_json::from_value::<Problem>(stored.body.clone()).ok())
        .flatten();
    let mut res = match stored_problem {
        // Rendered again, so `instance` names this request.
        Some(problem) => problem.into_response(),
        None => (status, Json(stored.body.clone())).into_response(),
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
async fn idempotent<F, Fut>(
    state: &ApiState,
    caller: &Caller,
    key: &str,
    hash: &str,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<StoredResponse, Problem>>,
{
    let oin = caller.oin.as_str();
    let begun = state
        .api_store
        .begin_idempotent(oin, key, hash, state.limits.idempotency_stale_after)
        .await;
    match begun {
        Err(e) => return unavailable_api(&e).into_response(),
        Ok(IdempotencyBegin::Replay(stored)) => return stored_to_response(&stored, true),
        Ok(IdempotencyBegin::Mismatch) => {
            return Problem::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
            )
            .field("Idempotency-Key", "used for a different request")
            .into_response();
        }
        Ok(IdempotencyBegin::InProgress) => {
            return Problem::new(
                StatusCode::CONFLICT,
                "request_in_progress",
                "Request in progress",
            )
            .detail("a request with this Idempotency-Key is being handled; retry shortly")
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response();
        }
        Ok(IdempotencyBegin::Started) => {}
    }
    let stored = match work().await {
        Ok(stored) => stored,
        Err(problem) if problem.status_code().is_server_error() => {
            if let Err(e) = state.api_store.abandon_idempotent(oin, key).await {
                tracing::warn!(error = %e, "could not abandon an idempotency record");
            }
            return problem.into_response();
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
    stored_to_response(&stored, false)
}

// -------------------------------------------------------------------------------------------
// Aanmeldingen
// -------------------------------------------------------------------------------------------

/// The student of an aanmelding: exactly one of `bsn` and `onderwijsnummer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// `minProperties: 1` is set in `openapi.rs` (utoipa-gen 5.5 emits `min_properties` as max).
#[schema(max_properties = 1)]
pub struct StudentBody {
    /// Burgerservicenummer (9 digits, 11-proef).
    #[serde(default)]
    #[schema(
        nullable = false,
        min_length = 9,
        max_length = 9,
        pattern = "^[0-9]{9}$",
        example = "999990019"
    )]
    pub bsn: Option<String>,
    /// Onderwijsnummer (for a student without a BSN): 9 digits starting with 10, its own
    /// check digit.
    #[serde(default)]
    #[schema(
        nullable = false,
        min_length = 9,
        max_length = 9,
        pattern = "^10[0-9]{7}$"
    )]
    pub onderwijsnummer: Option<String>,
}

impl std::fmt::Display for StudentBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StudentBody(***)")
    }
}

/// A CAMBO reference.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExterneReferentieBody {
    /// CAMBO ketenId, `BRIN:nnnnnnnn`.
    pub keten_id: String,
    /// CAMBO's change counter.
    pub wijzigingsvolgnummer: u64,
}

/// `POST /aanmeldingen` body. The example is a sandbox student and ROC Zuidwaard's (25LX)
/// Software Developer opleiding.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "aanmelding_id": "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3",
    "student": {"bsn": "999990019"},
    "opleiding": "6f1e0a52-8c1b-4c4e-9a57-000000000001",
    "cohort": "2027-2028"
}))]
pub struct SubmitAanmeldingBody {
    /// The aanmelding's id, chosen by the SIS.
    pub aanmelding_id: Uuid,
    /// The student.
    pub student: StudentBody,
    /// RIO id of the aangeboden opleiding.
    pub opleiding: Uuid,
    /// Cohort code, e.g. `2027-2028`.
    pub cohort: String,
    /// BRIN of the sending (va)vo school: 4 characters (`19XY`) or 6 (`19XY00`).
    #[serde(default)]
    #[schema(pattern = "^[0-9]{2}[A-Za-z]{2}([0-9]{2})?$", example = "19XY")]
    pub toeleverende_school: Option<String>,
    /// CAMBO reference.
    #[serde(default)]
    pub externe_referentie: Option<ExterneReferentieBody>,
}

/// An aanmelding as the API shows it (no personal data).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AanmeldingView {
    /// Id.
    pub aanmelding_id: Uuid,
    /// Institution BRIN.
    pub instelling: String,
    /// RIO id of the aangeboden opleiding.
    pub opleiding: Uuid,
    /// Crebo.
    pub crebo: String,
    /// Cohort code.
    pub cohort: String,
    /// Status (registry name: `ontvangen`, `aangemeld`, `ook_aangeboden`,
    /// `leidt_niet_tot_inschrijving`, `ingetrokken`, `ingeschreven`).
    pub status: String,
    /// VA code of the status (`OT`, `AM`, `AO`, `LI`, `IT`, `IS`).
    pub va_code: String,
    /// When submitted.
    pub ingediend_op: DateTime<Utc>,
    /// Whether the aanmelding gives toelatingsrecht.
    pub toelatingsrecht: bool,
    /// Sending school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toeleverende_school: Option<String>,
    /// CAMBO reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externe_referentie: Option<ExterneReferentieBody>,
}

/// The VA code of a status (the one table lives with the VA mapping).
pub fn va_code(status: AanmeldStatus) -> &'static str {
    knooppunt_mappings::va::status_code(status)
}

/// Parses a status by registry name or VA code (case-insensitive codes).
pub fn parse_status(s: &str) -> Option<AanmeldStatus> {
    AanmeldStatus::ALL
        .into_iter()
        .find(|st| serde_name(st) == s || va_code(*st).eq_ignore_ascii_case(s.trim()))
}

impl From<&Aanmelding> for AanmeldingView {
    fn from(a: &Aanmelding) -> Self {
        Self {
            aanmelding_id: a.id.0,
            instelling: a.instelling.as_str().to_owned(),
            opleiding: a.opleiding,
            crebo: a.crebo.as_str().to_owned(),
            cohort: a.cohort.clone(),
            status: serde_name(&a.status),
            va_code: va_code(a.status).to_owned(),
            ingediend_op: a.ingediend_op,
            toelatingsrecht: a.toelatingsrecht,
            toeleverende_school: a
                .toeleverende_school
                .as_ref()
                .map(|b| b.as_str().to_owned()),
            externe_referentie: a
                .externe_referentie
                .as_ref()
                .map(|e| ExterneReferentieBody {
                    keten_id: e.keten_id.as_str().to_owned(),
                    wijzigingsvolgnummer: e.wijzigingsvolgnummer,
                }),
        }
    }
}

fn id_reason(e: &IdError) -> String {
    match &e.reason {
        IdErrorReason::Checksum { .. } if e.kind == "BSN" => "elfproef".to_owned(),
        r => r.to_string(),
    }
}

fn person(student: &StudentBody) -> Result<PersonId, Problem> {
    match (&student.bsn, &student.onderwijsnummer) {
        (Some(bsn), None) => bsn
            .parse::<Bsn>()
            .map(PersonId::Bsn)
            .map_err(|e| Problem::invalid_field("student.bsn", id_reason(&e))),
        (None, Some(onr)) => onr
            .parse::<Onderwijsnummer>()
            .map(PersonId::Onderwijsnummer)
            .map_err(|e| Problem::invalid_field("student.onderwijsnummer", id_reason(&e))),
        (Some(_), Some(_)) => Err(Problem::invalid_field(
            "student",
            "give either bsn or onderwijsnummer, not both",
        )),
        (None, None) => Err(Problem::invalid_field(
            "student",
            "give bsn or onderwijsnummer",
        )),
    }
}

/// How a registry rejection is answered: 404 for what the caller may not know about, 409 for
/// conflicts with the current state, 403 for the policy, 422 for the rest. Never 500.
pub fn rejection_problem(r: &Rejection) -> Problem {
    let status = match r {
        Rejection::UnknownAanmelding { .. } | Rejection::DossierNotFound => {
            return Problem::not_found("aanmelding");
        }
        Rejection::InvalidTransition { .. }
        | Rejection::AanmeldingExists { .. }
        | Rejection::DuplicateAanmelding { .. }
        | Rejection::DossierAlreadyOpen
        | Rejection::Unchanged => StatusCode::CONFLICT,
        Rejection::NotPermitted { .. } => StatusCode::FORBIDDEN,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Problem::new(status, r.code(), "Refused by the registry").detail(r.to_string())
}

fn api_time() -> DateTime<Utc> {
    Utc::now()
}

fn outcome_ok(
    outcome: CommandOutcome,
) -> Result<Vec<knooppunt_registry::store::EventEnvelope>, Problem> {
    outcome.result.map_err(|r| rejection_problem(&r))
}

/// `POST /api/v1/aanmeldingen`: submits an aanmelding (opening the student's dossier if needed).
#[utoipa::path(
    post, path = "/api/v1/aanmeldingen", tag = "aanmeldingen",
    request_body = SubmitAanmeldingBody,
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1–255 visible ASCII characters; the same key with the same body gets the same answer")),
    responses(
        (status = 201, description = "Submitted", body = AanmeldingView, headers(("Location" = String, description = "URL of the aanmelding"))),
        (status = 400, description = "malformed_json, idempotency_key_missing", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing_token, invalid_token, client_certificate_required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "certificate_oin_mismatch", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "aanmelding_exists, duplicate_aanmelding, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "body_too_large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported_media_type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, unknown_opleiding, opleiding_other_institution, unknown_cohort, unknown_school, institution_not_participating, aanmeldperiode_gesloten, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit_aanmelding(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match submit_inner(&state, &caller, &headers, &body).await {
        Ok(res) => res,
        Err(p) => p.into_response(),
    }
}

async fn submit_inner(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Problem> {
    let key = idempotency_key(headers)?;
    let req: SubmitAanmeldingBody = parse_json(headers, body)?;
    let person = person(&req.student)?;
    let school = match &req.toeleverende_school {
        None => None,
        Some(s) => Some(
            s.parse::<Brin>()
                .map_err(|e| Problem::invalid_field("toeleverende_school", id_reason(&e)))?,
        ),
    };
    let externe = match &req.externe_referentie {
        None => None,
        Some(e) => Some(ExterneReferentie {
            keten_id: e
                .keten_id
                .parse()
                .map_err(|v: knooppunt_registry::domain::ValueError| {
                    Problem::invalid_field("externe_referentie.keten_id", v.to_string())
                })?,
            wijzigingsvolgnummer: e.wijzigingsvolgnummer,
        }),
    };
    // Reference checks before anything is written, so a refused aanmelding leaves no dossier.
    let reference = &state.reference;
    if reference.institution(&caller.brin).is_none() {
        return Err(Problem::unprocessable(
            "institution_not_participating",
            "your institution does not take part in Knooppunt (not in the reference data)",
        ));
    }
    let opl = reference.opleiding(&req.opleiding).ok_or_else(|| {
        Problem::unprocessable(
            "unknown_opleiding",
            "no aangeboden opleiding with this RIO id",
        )
        .field("opleiding", "unknown aangeboden opleiding")
    })?;
    if opl.instelling.instelling() != caller.brin {
        return Err(Problem::unprocessable(
            "opleiding_other_institution",
            "this aangeboden opleiding belongs to another institution",
        )
        .field("opleiding", "belongs to another institution"));
    }
    let cohort = opl.cohort(&req.cohort).ok_or_else(|| {
        Problem::unprocessable("unknown_cohort", "the opleiding has no such cohort")
            .field("cohort", "unknown cohort for this opleiding")
    })?;
    let now = api_time();
    let today = knooppunt_registry::domain::time::local_date(now);
    if !cohort.open_on(today) {
        return Err(Problem::unprocessable(
            "aanmeldperiode_gesloten",
            format!(
                "the aanmeldperiode ({} – {}) does not include {today}",
                cohort.begin_aanmeldperiode, cohort.einde_aanmeldperiode
            ),
        )
        .field("cohort", "aanmeldperiode closed"));
    }
    if let Some(s) = &school
        && reference.vo_school(s).is_none()
    {
        return Err(
            Problem::unprocessable("unknown_school", "unknown sending school")
                .field("toeleverende_school", "unknown school"),
        );
    }
    let hash = request_hash(&Method::POST, "/api/v1/aanmeldingen", body);
    let aanmelding_id = req.aanmelding_id;
    let command = Command::SubmitAanmelding {
        aanmelding: AanmeldingId(aanmelding_id),
        instelling: caller.brin.clone(),
        opleiding: req.opleiding,
        cohort: req.cohort.clone(),
        toeleverende_school: school,
        externe_referentie: externe,
    };
    let res = idempotent(state, caller, &key, &hash, || async {
        // An id indexed before belongs to whoever submitted it.
        if let Some(existing) = state
            .api_store
            .find_aanmelding(aanmelding_id)
            .await
            .map_err(|e| unavailable_api(&e))?
        {
            let dossier_of_person = state
                .store
                .find_dossier(&person)
                .await
                .map_err(|e| unavailable_store(&e))?;
            if existing.brin != caller.brin.as_str()
                || dossier_of_person.map(|k| k.0) != Some(existing.dossier)
            {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "aanmelding_exists",
                    "Refused by the registry",
                )
                .detail("an aanmelding with this id exists already")
                .field("aanmelding_id", "exists already"));
            }
        }
        let dossier = open_dossier(state, caller, &key, &person, now).await?;
        let mut meta = CommandMeta::new(dossier, caller.actor(), now);
        meta.id = derived_id(caller.oin.as_str(), &key, "submit");
        meta.correlation_id = meta.id;
        meta.causation_id = meta.id;
        let outcome = state
            .store
            .execute(meta, command, reference)
            .await
            .map_err(|e| unavailable_store(&e))?;
        let events = outcome_ok(outcome)?;
        let view = events
            .iter()
            .find_map(|e| match &e.data {
                knooppunt_registry::domain::Event::AanmeldingIngediend { aanmelding } => {
                    Some(AanmeldingView::from(aanmelding))
                }
                _ => None,
            })
            .ok_or_else(|| {
                tracing::error!("submit accepted without an AanmeldingIngediend event");
                Problem::internal()
            })?;
        state
            .api_store
            .index_aanmelding(aanmelding_id, caller.brin.as_str(), dossier.0)
            .await
            .map_err(|e| unavailable_api(&e))?;
        state.api_metrics.aanmelding_submitted();
        Ok(StoredResponse {
            status: 201,
            location: Some(format!("/api/v1/aanmeldingen/{aanmelding_id}")),
            body: serde_json::to_value(&view).unwrap_or_default(),
        })
    })
    .await;
    Ok(res)
}

/// Finds the student's dossier or opens it as the institution (the registry lets a known
/// institution open a dossier). The ids are derived from the idempotency key, so a retry after
/// a crash opens nothing twice.
async fn open_dossier(
    state: &ApiState,
    caller: &Caller,
    key: &str,
    person: &PersonId,
    now: DateTime<Utc>,
) -> Result<DossierKey, Problem> {
    if let Some(k) = state
        .store
        .find_dossier(person)
        .await
        .map_err(|e| unavailable_store(&e))?
    {
        return Ok(k);
    }
    let oin = caller.oin.as_str();
    let dossier = DossierKey(derived_id(oin, key, "dossier"));
    let mut meta = CommandMeta::new(dossier, caller.actor(), now);
    meta.id = derived_id(oin, key, "open");
    meta.correlation_id = meta.id;
    meta.causation_id = meta.id;
    let outcome = state
        .store
        .execute(
            meta,
            Command::OpenDossier {
                person: Person { id: person.clone() },
            },
            &state.reference,
        )
        .await
        .map_err(|e| unavailable_store(&e))?;
    match outcome.result {
        Ok(_) => Ok(outcome.dossier),
        // Opened by someone else in between.
        Err(Rejection::DossierAlreadyOpen) => state
            .store
            .find_dossier(person)
            .await
            .map_err(|e| unavailable_store(&e))?
            .ok_or_else(Problem::unavailable),
        Err(r) => Err(rejection_problem(&r)),
    }
}

/// `POST /aanmeldingen/{id}/status` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "AM"}))]
pub struct StatusBody {
    /// The new status: a registry name (`aangemeld`, …) or a VA code (`AM`, …).
    #[schema(value_type = StatusValue)]
    pub status: String,
}

/// The values `status` takes: a registry name or its VA code (codes are also accepted in lower
/// case). Only for the OpenAPI document; the handler parses with `parse_status`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum StatusValue {
    /// `ontvangen` (initial).
    #[serde(rename = "ontvangen")]
    Ontvangen,
    /// `aangemeld`.
    #[serde(rename = "aangemeld")]
    Aangemeld,
    /// `ook_aangeboden`.
    #[serde(rename = "ook_aangeboden")]
    OokAangeboden,
    /// `leidt_niet_tot_inschrijving`.
    #[serde(rename = "leidt_niet_tot_inschrijving")]
    LeidtNietTotInschrijving,
    /// `ingetrokken`.
    #[serde(rename = "ingetrokken")]
    Ingetrokken,
    /// `ingeschreven`.
    #[serde(rename = "ingeschreven")]
    Ingeschreven,
    /// VA code of `ontvangen`.
    #[serde(rename = "OT")]
    Ot,
    /// VA code of `aangemeld`.
    #[serde(rename = "AM")]
    Am,
    /// VA code of `ook_aangeboden`.
    #[serde(rename = "AO")]
    Ao,
    /// VA code of `leidt_niet_tot_inschrijving`.
    #[serde(rename = "LI")]
    Li,
    /// VA code of `ingetrokken`.
    #[serde(rename = "IT")]
    It,
    /// VA code of `ingeschreven`.
    #[serde(rename = "IS")]
    Is,
}

fn parse_aanmelding_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found("aanmelding"))
}

/// The index entry of an aanmelding of the caller; 404 for anything else.
async fn own_entry(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
) -> Result<super::store::IndexedAanmelding, Problem> {
    match state
        .api_store
        .find_aanmelding(id)
        .await
        .map_err(|e| unavailable_api(&e))?
    {
        Some(e) if e.brin == caller.brin.as_str() => Ok(e),
        _ => Err(Problem::not_found("aanmelding")),
    }
}

/// `POST /api/v1/aanmeldingen/{id}/status`: changes the VA status.
#[utoipa::path(
    post, path = "/api/v1/aanmeldingen/{id}/status", tag = "aanmeldingen",
    request_body = StatusBody,
    params(
        ("id" = Uuid, Path, description = "The aanmelding id"),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1–255 visible ASCII characters; the same key with the same body gets the same answer"),
    ),
    responses(
        (status = 200, description = "The aanmelding with its new status", body = AanmeldingView),
        (status = 404, description = "not_found (also another institution's aanmelding)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "invalid_transition, request_in_progress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid_field, no_signed_ook_at_institution, idempotency_key_reused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn change_status(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let id = parse_aanmelding_id(&id)?;
        let key = idempotency_key(&headers)?;
        let req: StatusBody = parse_json(&headers, &body)?;
        let status = parse_status(&req.status).ok_or_else(|| {
            Problem::invalid_field(
                "status",
                "expected ontvangen, aangemeld, ook_aangeboden, leidt_niet_tot_inschrijving, ingetrokken, ingeschreven (or OT, AM, AO, LI, IT, IS)",
            )
        })?;
        let entry = own_entry(&state, &caller, id).await?;
        let hash = request_hash(
            &Method::POST,
            &format!("/api/v1/aanmeldingen/{id}/status"),
            &body,
        );
        let res = idempotent(&state, &caller, &key, &hash, || async {
            let now = api_time();
            let dossier = DossierKey(entry.dossier);
            let mut meta = CommandMeta::new(dossier, caller.actor(), now);
            meta.id = derived_id(caller.oin.as_str(), &key, "status");
            meta.correlation_id = meta.id;
            meta.causation_id = meta.id;
            let outcome = state
                .store
                .execute(
                    meta,
                    Command::ChangeAanmeldingStatus {
                        aanmelding: AanmeldingId(id),
                        status,
                    },
                    &state.reference,
                )
                .await
                .map_err(|e| unavailable_store(&e))?;
            outcome_ok(outcome)?;
            let d = state
                .store
                .dossier(dossier)
                .await
                .map_err(|e| unavailable_store(&e))?
                .ok_or_else(Problem::unavailable)?;
            let a = d
                .aanmeldingen
                .get(&AanmeldingId(id))
                .ok_or_else(|| Problem::not_found("aanmelding"))?;
            Ok(StoredResponse {
                status: 200,
                location: None,
                body: serde_json::to_value(AanmeldingView::from(a)).unwrap_or_default(),
            })
        })
        .await;
        Ok::<_, Problem>(res)
    };
    match run.await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

/// Reads one aanmelding with the policy check and an audit record per part read; `None` when
/// the policy denies it (answered as 404).
async fn read_aanmelding(
    state: &ApiState,
    caller: &Caller,
    entry: &super::store::IndexedAanmelding,
) -> Result<Option<AanmeldingView>, Problem> {
    let key = DossierKey(entry.dossier);
    let Some(d) = state
        .store
        .dossier(key)
        .await
        .map_err(|e| unavailable_store(&e))?
    else {
        return Ok(None);
    };
    let subject = Subject {
        key,
        dossier: &d,
        reference: &state.reference,
        on: knooppunt_registry::domain::time::local_date(Utc::now()),
    };
    let actor = caller.actor();
    let mut allowed = true;
    let mut entries = Vec::new();
    for part in [Part::Aanmeldingen, Part::VaStatus] {
        let (ground, denied) = match policy::decide(&actor, &subject, part, Access::Read) {
            policy::Decision::Allow { ground } => (serde_name(&ground), false),
            policy::Decision::Deny { reason } => (serde_name(&reason), true),
        };
        allowed &= !denied;
        entries.push(
            AuditEntry::for_read(key, caller.audit_actor(), serde_name(&part), ground, denied)
                .endpoint("/api/v1/aanmeldingen"),
        );
    }
    state.audit.append_many(entries).await.map_err(|e| {
        tracing::warn!(error = %e, "audit trail unavailable; read refused");
        Problem::unavailable()
    })?;
    if !allowed {
        return Ok(None);
    }
    Ok(d.aanmeldingen
        .get(&AanmeldingId(entry.aanmelding))
        .filter(|a| a.instelling.instelling() == caller.brin)
        .map(AanmeldingView::from))
}

/// `GET /api/v1/aanmeldingen/{id}`.
#[utoipa::path(
    get, path = "/api/v1/aanmeldingen/{id}", tag = "aanmeldingen",
    params(("id" = Uuid, Path, description = "The aanmelding id")),
    responses(
        (status = 200, description = "The aanmelding", body = AanmeldingView),
        (status = 404, description = "not_found (also another institution's aanmelding)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_aanmelding(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let run = async {
        let id = parse_aanmelding_id(&id)?;
        let entry = own_entry(&state, &caller, id).await?;
        read_aanmelding(&state, &caller, &entry)
            .await?
            .ok_or_else(|| Problem::not_found("aanmelding"))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(p) => p.into_response(),
    }
}

/// Query of `GET /aanmeldingen`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Continue after this cursor (`volgende` of the previous page).
    #[serde(default)]
    pub na: Option<i64>,
    /// Page size, 1–500 (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A page of aanmeldingen.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AanmeldingPage {
    /// The aanmeldingen, oldest first.
    pub items: Vec<AanmeldingView>,
    /// Cursor for the next page (`?na=`), absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volgende: Option<i64>,
}

fn query_problem(e: &axum::extract::rejection::QueryRejection) -> Problem {
    let text = e.body_text();
    let reason = text
        .split_once(": ")
        .map(|(_, r)| r.to_owned())
        .unwrap_or(text);
    Problem::bad_request("invalid_query", format!("invalid query string: {reason}"))
}

fn page_limit(state: &ApiState, limit: Option<usize>) -> Result<usize, Problem> {
    match limit {
        None => Ok(state.limits.default_page),
        Some(n) if n >= 1 && n <= state.limits.max_page => Ok(n),
        Some(_) => Err(Problem::bad_request(
            "invalid_query",
            format!("limit must be 1 to {}", state.limits.max_page),
        )
        .field("limit", "out of range")),
    }
}

/// `GET /api/v1/aanmeldingen`: the caller's aanmeldingen, cursor-paged.
#[utoipa::path(
    get, path = "/api/v1/aanmeldingen", tag = "aanmeldingen",
    params(ListQuery),
    responses((status = 200, description = "A page", body = AanmeldingPage)),
    security(("bearer" = []))
)]
pub async fn list_aanmeldingen(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let run = async {
        let Query(q) = query.map_err(|e| query_problem(&e))?;
        let limit = page_limit(&state, q.limit)?;
        let entries = state
            .api_store
            .list_aanmeldingen(caller.brin.as_str(), q.na.unwrap_or(0), limit)
            .await
            .map_err(|e| unavailable_api(&e))?;
        let mut items = Vec::with_capacity(entries.len());
        for e in &entries {
            if let Some(v) = read_aanmelding(&state, &caller, e).await? {
                items.push(v);
            }
        }
        let volgende = (entries.len() == limit)
            .then(|| entries.last().map(|e| e.seq))
            .flatten();
        Ok::<_, Problem>(AanmeldingPage { items, volgende })
    };
    match run.await {
        Ok(p) => Json(p).into_response(),
        Err(p) => p.into_response(),
    }
}

// -------------------------------------------------------------------------------------------
// Feed
// -------------------------------------------------------------------------------------------

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
    /// The aanmelding.
    pub aanmelding_id: Uuid,
    /// The status after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// For `status_afgewezen`: the partner that refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// For `status_afgewezen`: the partner's reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reden: Option<String>,
}

impl From<&FeedItem> for FeedItemView {
    fn from(i: &FeedItem) -> Self {
        Self {
            wijzigingsvolgnummer: i.wijzigingsvolgnummer,
            kind: i.item.kind.clone(),
            tijd: i.item.tijd,
            aanmelding_id: i.item.aanmelding_id,
            status: i.item.status.clone(),
            partner: i.item.partner.clone(),
            reden: i.item.reden.clone(),
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
    ),
    security(("bearer" = []))
)]
pub async fn feed(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let run = async {
        let Query(q) = query.map_err(|e| query_problem(&e))?;
        let limit = page_limit(&state, q.limit)?;
        let vanaf = q.vanaf.unwrap_or(0);
        if vanaf < 0 {
            return Err(
                Problem::bad_request("invalid_query", "vanaf must be 0 or more")
                    .field("vanaf", "negative"),
            );
        }
        let wait = match q.wacht {
            None => Duration::ZERO,
            Some(s) if Duration::from_secs(s) <= state.limits.max_wait => Duration::from_secs(s),
            Some(_) => {
                return Err(Problem::bad_request(
                    "invalid_query",
                    format!(
                        "wacht must be at most {} seconds",
                        state.limits.max_wait.as_secs()
                    ),
                )
                .field("wacht", "too long"));
            }
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
                return Ok(FeedPage {
                    items: items.iter().map(FeedItemView::from).collect(),
                    volgende,
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(state.limits.feed_poll_interval)).await;
        }
    };
    match run.await {
        Ok(p) => Json(p).into_response(),
        Err(p) => p.into_response(),
    }
}

// -------------------------------------------------------------------------------------------
// Webhook
// -------------------------------------------------------------------------------------------

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
) -> Response {
    let run = async {
        let req: WebhookBody = parse_json(&headers, &body)?;
        validate_webhook(&req.url, &req.secret).map_err(|e| match e {
            super::webhook::WebhookError::Invalid { field, reason } => {
                Problem::invalid_field(field, reason)
            }
        })?;
        let hook = state
            .api_store
            .put_webhook(caller.brin.as_str(), &req.url, &req.secret)
            .await
            .map_err(|e| unavailable_api(&e))?;
        Ok::<_, Problem>(WebhookView {
            url: hook.url,
            cursor: hook.cursor,
        })
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(p) => p.into_response(),
    }
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
pub async fn get_webhook(State(state): State<ApiState>, caller: Caller) -> Response {
    match state.api_store.webhook(caller.brin.as_str()).await {
        Ok(Some(h)) => Json(WebhookView {
            url: h.url,
            cursor: h.cursor,
        })
        .into_response(),
        Ok(None) => Problem::not_found("webhook").into_response(),
        Err(e) => unavailable_api(&e).into_response(),
    }
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
pub async fn delete_webhook(State(state): State<ApiState>, caller: Caller) -> Response {
    match state.api_store.delete_webhook(caller.brin.as_str()).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Problem::not_found("webhook").into_response(),
        Err(e) => unavailable_api(&e).into_response(),
    }
}

// -------------------------------------------------------------------------------------------
// Health, readiness, metrics
// -------------------------------------------------------------------------------------------

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
        Err(reason) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "Not ready")
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

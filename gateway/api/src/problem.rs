//! RFC 9457 problem details: every error the API answers is `application/problem+json` with a
//! stable `code` (and `field` when one field is to blame).
//!
//! Handlers return [`Problem`]; its response carries the problem as an extension so the outer
//! middleware ([`render_problems`]) can fill in `instance` (the request id). Any other error
//! response (an unknown route, 405, a timeout, a body over the limit caught by a layer) is turned
//! into a problem there too, so a caller never sees a bare status.
//!
//! Details never echo a caller's value: they name the field and the reason only (a BSN must not
//! come back in an error, a log line or a metric label).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of a problem response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The request id header (generated when absent, echoed on the response).
pub const REQUEST_ID: &str = "x-request-id";

/// Every stable `code` the API answers, closed: a handler cannot invent one. Each code has one
/// HTTP status and one title, in [`ErrorCode::spec`]'s match; `docs/api.md` lists them all (a
/// test checks the list against this enum).
///
/// Most are answered as a [`Problem`]; `invalid_request`, `invalid_client` and
/// `unsupported_grant_type` are also the OAuth2 errors of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a malformed request no other code covers; on the token endpoint, a missing or
    /// repeated parameter, two client authentication methods, or not a form body.
    InvalidRequest,
    /// 400: the token endpoint's `grant_type` is not `client_credentials`.
    UnsupportedGrantType,
    /// 400: the body is not JSON (syntax error, truncated).
    MalformedJson,
    /// 400: a POST without `Idempotency-Key`.
    IdempotencyKeyMissing,
    /// 400: the `Idempotency-Key` is empty, longer than 255 or not visible ASCII.
    IdempotencyKeyInvalid,
    /// 400: a bad query parameter.
    InvalidQuery,
    /// 401: the token endpoint's client is unknown or its secret wrong.
    InvalidClient,
    /// 401: no `Authorization` header.
    MissingToken,
    /// 401: the token is malformed, forged, expired, or of a removed client.
    InvalidToken,
    /// 401: no client certificate.
    ClientCertificateRequired,
    /// 403: the client certificate is of another OIN.
    CertificateOinMismatch,
    /// 403: the registry's access policy refused the change, or a read of a part the caller's
    /// relation with the student does not cover.
    NotPermitted,
    /// 403: an institution with an aanmelding reads a part the student's consent does not
    /// cover (none given, another scope, or withdrawn).
    NoConsent,
    /// 403: the operator's role may not do this (operator API: replay and discard need the
    /// role `operator`).
    RoleNotPermitted,
    /// 404: no such route, aanmelding (also another institution's) or webhook.
    NotFound,
    /// 405: the path exists, the method not.
    MethodNotAllowed,
    /// 408: the request took longer than the limit.
    RequestTimeout,
    /// 409: the status step is not allowed from the current status.
    InvalidTransition,
    /// 409: the aanmelding id is taken.
    AanmeldingExists,
    /// 409: an open aanmelding of the student for this opleiding and cohort exists.
    DuplicateAanmelding,
    /// 409: the same `Idempotency-Key` is being handled.
    RequestInProgress,
    /// 413: the body is over the limit.
    BodyTooLarge,
    /// 415: the `Content-Type` is not the one the endpoint takes.
    UnsupportedMediaType,
    /// 422: a wrong type, an unknown or missing field, an invalid identifier; `field` names it.
    InvalidField,
    /// 422: no aangeboden opleiding with this RIO id.
    UnknownOpleiding,
    /// 422: the aangeboden opleiding is another institution's.
    OpleidingOtherInstitution,
    /// 422: the opleiding has no cohort with this code.
    UnknownCohort,
    /// 422: the sending school is not in the reference data.
    UnknownSchool,
    /// 422: the cohort's aanmeldperiode is closed.
    AanmeldperiodeGesloten,
    /// 422: the institution does not take part (not in the reference data).
    InstitutionNotParticipating,
    /// 422: the `Idempotency-Key` was used for a different request.
    IdempotencyKeyReused,
    /// 422: `ingeschreven` needs a signed onderwijsovereenkomst at the institution.
    NoSignedOokAtInstitution,
    /// 403: the institution's participation level does not include this part of the API
    /// (onderwijsovereenkomsten need `aanmelden`, praktijkovereenkomsten `krd`).
    ParticipationLevelTooLow,
    /// 409: the template id is taken.
    SjabloonExists,
    /// 422: no template (or template version) with this id at the institution.
    UnknownSjabloon,
    /// 409: the onderwijsovereenkomst id is taken (or the agreement is in a state that does
    /// not allow this).
    OokExists,
    /// 409: the student has an active onderwijsovereenkomst for this crebo.
    ActiveOokExists,
    /// 409: the onderwijsovereenkomst is not signed and running.
    OokNotRunning,
    /// 409: this party signed already.
    AlreadySigned,
    /// 422: the student may be under 18 on the signing date: a parent must sign too.
    ParentSignatureRequired,
    /// 422: a signing on paper must include every required signer.
    SignatureMissing,
    /// 422: the institution may not record this signer this way.
    SignerNotAllowed,
    /// 409: SBB has not (or no longer) recognised the leerbedrijf for this praktijkovereenkomst.
    LeerbedrijfNotErkend,
    /// 409: the praktijkovereenkomst id is taken.
    BpvExists,
    /// 422: the praktijkovereenkomst's dates lie outside its enrolment.
    BpvOutsideEnrolment,
    /// 422: the praktijkovereenkomst's onderdeel does not belong to the enrolment.
    BpvOnderdeelMismatch,
    /// 409: the keuzedeel is registered within this onderwijsovereenkomst already.
    KeuzedeelExists,
    /// 422: this exam does not apply to the enrolment (Engels outside niveau 4).
    ExamenNotApplicable,
    /// 409: operator API: the institution is at this participation level already.
    AlreadyAtLevel,
    /// 409: operator API: a level change must be one step (`va` ↔ `aanmelden` ↔ `krd`).
    LevelStepTooLarge,
    /// 409: operator API: moving up to `krd` needs the institution's RO import first.
    RoImportMissing,
    /// 429: too many token requests from this client or address, or too many feed long-polls
    /// of this client at once; `Retry-After` says when to try again.
    RateLimited,
    /// 500: a bug; nothing internal is shown.
    InternalError,
    /// 503: a backing service is unavailable; retry.
    Unavailable,
    /// 503: `/readyz` while a dependency is down.
    NotReady,
}

impl ErrorCode {
    /// Every code, in the order of the enum.
    pub const ALL: [ErrorCode; 55] = [
        Self::InvalidRequest,
        Self::UnsupportedGrantType,
        Self::MalformedJson,
        Self::IdempotencyKeyMissing,
        Self::IdempotencyKeyInvalid,
        Self::InvalidQuery,
        Self::InvalidClient,
        Self::MissingToken,
        Self::InvalidToken,
        Self::ClientCertificateRequired,
        Self::CertificateOinMismatch,
        Self::NotPermitted,
        Self::NoConsent,
        Self::RoleNotPermitted,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::InvalidTransition,
        Self::AanmeldingExists,
        Self::DuplicateAanmelding,
        Self::RequestInProgress,
        Self::BodyTooLarge,
        Self::UnsupportedMediaType,
        Self::InvalidField,
        Self::UnknownOpleiding,
        Self::OpleidingOtherInstitution,
        Self::UnknownCohort,
        Self::UnknownSchool,
        Self::AanmeldperiodeGesloten,
        Self::InstitutionNotParticipating,
        Self::IdempotencyKeyReused,
        Self::NoSignedOokAtInstitution,
        Self::ParticipationLevelTooLow,
        Self::SjabloonExists,
        Self::UnknownSjabloon,
        Self::OokExists,
        Self::ActiveOokExists,
        Self::OokNotRunning,
        Self::AlreadySigned,
        Self::ParentSignatureRequired,
        Self::SignatureMissing,
        Self::SignerNotAllowed,
        Self::LeerbedrijfNotErkend,
        Self::BpvExists,
        Self::BpvOutsideEnrolment,
        Self::BpvOnderdeelMismatch,
        Self::KeuzedeelExists,
        Self::ExamenNotApplicable,
        Self::AlreadyAtLevel,
        Self::LevelStepTooLarge,
        Self::RoImportMissing,
        Self::RateLimited,
        Self::InternalError,
        Self::Unavailable,
        Self::NotReady,
    ];

    /// The one table: HTTP status, wire code (its serde name) and title of each code.
    const fn spec(self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::InvalidRequest => (S::BAD_REQUEST, "invalid_request", "Bad request"),
            Self::UnsupportedGrantType => (
                S::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            ),
            Self::MalformedJson => (S::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            Self::IdempotencyKeyMissing => (
                S::BAD_REQUEST,
                "idempotency_key_missing",
                "Idempotency-Key missing",
            ),
            Self::IdempotencyKeyInvalid => (
                S::BAD_REQUEST,
                "idempotency_key_invalid",
                "Invalid Idempotency-Key",
            ),
            Self::InvalidQuery => (S::BAD_REQUEST, "invalid_query", "Invalid query"),
            Self::InvalidClient => (S::UNAUTHORIZED, "invalid_client", "Invalid client"),
            Self::MissingToken => (S::UNAUTHORIZED, "missing_token", "Unauthorized"),
            Self::InvalidToken => (S::UNAUTHORIZED, "invalid_token", "Unauthorized"),
            Self::ClientCertificateRequired => (
                S::UNAUTHORIZED,
                "client_certificate_required",
                "Client certificate required",
            ),
            Self::CertificateOinMismatch => (
                S::FORBIDDEN,
                "certificate_oin_mismatch",
                "Certificate does not match the client",
            ),
            Self::NotPermitted => (S::FORBIDDEN, "not_permitted", "Not permitted"),
            Self::NoConsent => (S::FORBIDDEN, "no_consent", "No consent"),
            Self::RoleNotPermitted => (S::FORBIDDEN, "role_not_permitted", "Role not permitted"),
            Self::NotFound => (S::NOT_FOUND, "not_found", "Not found"),
            Self::MethodNotAllowed => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::RequestTimeout => (S::REQUEST_TIMEOUT, "request_timeout", "Request timeout"),
            Self::InvalidTransition => (
                S::CONFLICT,
                "invalid_transition",
                "Status change not allowed",
            ),
            Self::AanmeldingExists => (S::CONFLICT, "aanmelding_exists", "Aanmelding exists"),
            Self::DuplicateAanmelding => {
                (S::CONFLICT, "duplicate_aanmelding", "Duplicate aanmelding")
            }
            Self::RequestInProgress => (S::CONFLICT, "request_in_progress", "Request in progress"),
            Self::BodyTooLarge => (S::PAYLOAD_TOO_LARGE, "body_too_large", "Body too large"),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::InvalidField => (S::UNPROCESSABLE_ENTITY, "invalid_field", "Invalid field"),
            Self::UnknownOpleiding => (
                S::UNPROCESSABLE_ENTITY,
                "unknown_opleiding",
                "Unknown opleiding",
            ),
            Self::OpleidingOtherInstitution => (
                S::UNPROCESSABLE_ENTITY,
                "opleiding_other_institution",
                "Opleiding of another institution",
            ),
            Self::UnknownCohort => (S::UNPROCESSABLE_ENTITY, "unknown_cohort", "Unknown cohort"),
            Self::UnknownSchool => (S::UNPROCESSABLE_ENTITY, "unknown_school", "Unknown school"),
            Self::AanmeldperiodeGesloten => (
                S::UNPROCESSABLE_ENTITY,
                "aanmeldperiode_gesloten",
                "Aanmeldperiode closed",
            ),
            Self::InstitutionNotParticipating => (
                S::UNPROCESSABLE_ENTITY,
                "institution_not_participating",
                "Institution not participating",
            ),
            Self::IdempotencyKeyReused => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency-Key reused",
            ),
            Self::NoSignedOokAtInstitution => (
                S::UNPROCESSABLE_ENTITY,
                "no_signed_ook_at_institution",
                "No signed onderwijsovereenkomst",
            ),
            Self::ParticipationLevelTooLow => (
                S::FORBIDDEN,
                "participation_level_too_low",
                "Participation level too low",
            ),
            Self::SjabloonExists => (S::CONFLICT, "sjabloon_exists", "Template exists"),
            Self::UnknownSjabloon => (
                S::UNPROCESSABLE_ENTITY,
                "unknown_sjabloon",
                "Unknown template",
            ),
            Self::OokExists => (S::CONFLICT, "ook_exists", "Onderwijsovereenkomst exists"),
            Self::ActiveOokExists => (
                S::CONFLICT,
                "active_ook_exists",
                "Active onderwijsovereenkomst exists",
            ),
            Self::OokNotRunning => (
                S::CONFLICT,
                "ook_not_running",
                "Onderwijsovereenkomst not running",
            ),
            Self::AlreadySigned => (S::CONFLICT, "already_signed", "Signed already"),
            Self::ParentSignatureRequired => (
                S::UNPROCESSABLE_ENTITY,
                "parent_signature_required",
                "Parent signature required",
            ),
            Self::SignatureMissing => (
                S::UNPROCESSABLE_ENTITY,
                "signature_missing",
                "Signature missing",
            ),
            Self::SignerNotAllowed => (
                S::UNPROCESSABLE_ENTITY,
                "signer_not_allowed",
                "Signer not allowed",
            ),
            Self::LeerbedrijfNotErkend => (
                S::CONFLICT,
                "leerbedrijf_not_erkend",
                "Leerbedrijf not recognised",
            ),
            Self::BpvExists => (S::CONFLICT, "bpv_exists", "Praktijkovereenkomst exists"),
            Self::BpvOutsideEnrolment => (
                S::UNPROCESSABLE_ENTITY,
                "bpv_outside_enrolment",
                "Praktijkovereenkomst outside the enrolment",
            ),
            Self::BpvOnderdeelMismatch => (
                S::UNPROCESSABLE_ENTITY,
                "bpv_onderdeel_mismatch",
                "Onderdeel not in the enrolment",
            ),
            Self::KeuzedeelExists => (S::CONFLICT, "keuzedeel_exists", "Keuzedeel exists"),
            Self::ExamenNotApplicable => (
                S::UNPROCESSABLE_ENTITY,
                "examen_not_applicable",
                "Exam not applicable",
            ),
            Self::AlreadyAtLevel => (S::CONFLICT, "already_at_level", "At this level already"),
            Self::LevelStepTooLarge => {
                (S::CONFLICT, "level_step_too_large", "Level step too large")
            }
            Self::RoImportMissing => (S::CONFLICT, "ro_import_missing", "RO import missing"),
            Self::RateLimited => (S::TOO_MANY_REQUESTS, "rate_limited", "Too many requests"),
            Self::InternalError => (
                S::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error",
            ),
            Self::Unavailable => (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            Self::NotReady => (S::SERVICE_UNAVAILABLE, "not_ready", "Not ready"),
        }
    }

    /// The HTTP status it is answered with.
    pub const fn status(self) -> StatusCode {
        self.spec().0
    }

    /// The snake_case wire code.
    pub const fn as_str(self) -> &'static str {
        self.spec().1
    }

    /// A short summary of the problem type.
    pub const fn title(self) -> &'static str {
        self.spec().2
    }

    /// The problem type URI: `https://knooppunt.nl/problems/<code>`.
    pub fn type_uri(self) -> String {
        format!("https://knooppunt.nl/problems/{}", self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field error inside a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The JSON path of the field, e.g. `student.bsn`.
    pub field: String,
    /// Why it is wrong (never the value itself).
    pub reason: String,
}

/// An RFC 9457 problem with Knooppunt's extensions `code`, `field` and `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `https://knooppunt.nl/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence (no personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id of this occurrence (also in the `x-request-id` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// A stable snake_case code a program can switch on (see `docs/api.md`).
    #[schema(value_type = String)]
    pub code: ErrorCode,
    /// The field to blame, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Several field errors, when there are several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Headers to add to the response (e.g. `WWW-Authenticate`); not part of the body.
    #[serde(skip)]
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of `code`, with its status and title.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            kind: code.type_uri(),
            title: code.title().to_owned(),
            status: code.status().as_u16(),
            detail: None,
            instance: None,
            code,
            field: None,
            errors: None,
            headers: Vec::new(),
        }
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Names the field to blame (and lists it in `errors`).
    pub fn field(mut self, field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        self.errors = Some(vec![FieldError {
            field: field.clone(),
            reason: reason.into(),
        }]);
        self.field = Some(field);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 422 `invalid_field` naming `field`.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        let reason = reason.into();
        Self::new(ErrorCode::InvalidField)
            .detail(format!("{field}: {reason}"))
            .field(field, reason)
    }

    /// 404 `not_found` (also for another institution's resources: never a hint they exist).
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound).detail(format!("no such {what}"))
    }

    /// 503 `unavailable`: a dependency failed; try again later. The cause is logged, not shown.
    pub fn unavailable() -> Self {
        Self::new(ErrorCode::Unavailable)
            .detail("a backing service is unavailable; try again later")
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// 500 `internal_error`, without internals.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError)
            .detail("an unexpected error occurred; it has been logged")
    }

    /// The problem a bare error status (from a layer or an extractor, not a handler) is turned
    /// into. A status no code is made for keeps its status and canonical title under
    /// `invalid_request` (4xx) or `internal_error` (5xx): the one case where a problem's status
    /// is not its code's.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => {
                Self::new(ErrorCode::NotFound).detail("no resource at this path")
            }
            StatusCode::METHOD_NOT_ALLOWED => Self::new(ErrorCode::MethodNotAllowed)
                .detail("this path does not accept this method"),
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(ErrorCode::BodyTooLarge).detail("the request body exceeds the limit")
            }
            StatusCode::REQUEST_TIMEOUT => Self::new(ErrorCode::RequestTimeout)
                .detail("the request took too long; retry with the same Idempotency-Key"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(ErrorCode::UnsupportedMediaType)
                .detail("expected Content-Type: application/json"),
            s if s.is_server_error() => Self::new(ErrorCode::InternalError).keep_status(s),
            s => Self::new(ErrorCode::InvalidRequest).keep_status(s),
        }
    }

    /// Keeps a status a layer chose, with its canonical title.
    fn keep_status(mut self, status: StatusCode) -> Self {
        self.status = status.as_u16();
        self.title = status
            .canonical_reason()
            .unwrap_or(self.code.title())
            .to_owned();
        self
    }

    fn render(&self) -> Response {
        let body = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = (self.status_code(), body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in &self.headers {
            res.headers_mut().append(name.clone(), value.clone());
        }
        res
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)
    }
}

impl std::error::Error for Problem {}

/// Marks an error response whose body is deliberately not a problem (the OAuth2 token
/// endpoint answers errors in the RFC 6749 §5.2 form); [`render_problems`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct KeepBody;

/// Marks a response as a rendered [`Problem`] (for [`render_problems`]).
#[derive(Debug, Clone)]
struct Rendered(Problem);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = self.render();
        res.extensions_mut().insert(Rendered(self));
        res
    }
}

/// Middleware: every error response becomes a problem carrying the request id as `instance`.
pub async fn render_problems(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    if res.extensions().get::<KeepBody>().is_some() {
        return res;
    }
    let mut problem = match res.extensions().get::<Rendered>() {
        Some(Rendered(p)) => p.clone(),
        None => {
            let is_problem = res
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
            if is_problem {
                return res;
            }
            Problem::for_status(status)
        }
    };
    problem.instance = request_id.clone();
    let (parts, _) = res.into_parts();
    let mut out = problem.render();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !out.headers().contains_key(name)
        {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// The panic handler of the catch-panic layer: a 500 problem, nothing of the panic shown.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("api handler panicked");
    Problem::internal().render()
}

/// Parses a JSON body into `T`, naming the failing field by its path.
///
/// - wrong or missing `Content-Type` → 415 `unsupported_media_type`;
/// - not JSON at all (syntax, truncated) → 400 `malformed_json`;
/// - a wrong type, an unknown or a missing field → 422 `invalid_field` with `field` = the path.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<T, Problem> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !json {
        return Err(Problem::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => return Err(json_error(e)),
    };
    if let Err(e) = de.end() {
        return Err(Problem::new(ErrorCode::MalformedJson)
            .detail(format!("the body is not valid JSON: {}", category_text(&e))));
    }
    Ok(value)
}

fn category_text(e: &serde_json::Error) -> String {
    format!("line {} column {}", e.line(), e.column())
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    use serde_json::error::Category;
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => Problem::new(ErrorCode::MalformedJson)
            .detail(format!(
                "the body is not valid JSON ({})",
                category_text(&inner)
            )),
        Category::Data => {
            let reason = data_reason(&inner);
            let field = if path == "." || path.is_empty() {
                missing_field(&inner).unwrap_or_else(|| String::from("(body)"))
            } else if let Some(missing) = missing_field(&inner) {
                format!("{path}.{missing}")
            } else {
                path
            };
            Problem::invalid_field(field, reason)
        }
    }
}

/// The serde message without the value (serde_json quotes the offending value in `invalid
/// type: string "…"`; that could be a BSN, so only the shape is kept).
fn data_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
    if msg.starts_with("unknown field") {
        return String::from("unknown field");
    }
    if msg.starts_with("missing field") {
        return String::from("missing field");
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        // "string \"123\", expected u64" → "invalid type: string, expected u64"
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, "?"));
        let got = got.split_whitespace().next().unwrap_or("value");
        return format!("invalid type: {got}, expected {expected}");
    }
    if msg.starts_with("invalid value") || msg.starts_with("invalid length") {
        let expected = msg.split_once(", expected ").map(|(_, e)| e).unwrap_or("?");
        return format!("invalid value, expected {expected}");
    }
    if msg.starts_with("unknown variant") {
        let expected = msg.split_once(", expected ").map(|(_, e)| e).unwrap_or("?");
        return format!("unknown value, expected {expected}");
    }
    // Another type's own message may quote a character of the value (uuid: "UUID parsing
    // failed: invalid character: found `q` at 0"); the text before it is the reason.
    if let Some((reason, _)) = msg.split_once(" found `") {
        return reason.trim_end_matches([':', ',', ' ']).to_owned();
    }
    // Our own `Deserialize` impls (identifiers) never include the value.
    msg
}

fn backticked(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('`')?;
    rest.split('`').next().map(str::to_owned)
}

fn missing_field(e: &serde_json::Error) -> Option<String> {
    backticked(&e.to_string(), "missing field ")
}

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
    pub code: String,
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
    /// A problem with `status`, stable `code` and `title`.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            kind: format!("https://knooppunt.nl/problems/{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            code: code.to_owned(),
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

    /// 400 `invalid_request`.
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request").detail(detail)
    }

    /// 422 `invalid_field` naming `field`.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        let reason = reason.into();
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "Invalid field",
        )
        .detail(format!("{field}: {reason}"))
        .field(field, reason)
    }

    /// 422 with a business `code`.
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "Unprocessable request",
        )
        .detail(detail)
    }

    /// 404 `not_found` (also for another institution's resources: never a hint they exist).
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found").detail(format!("no such {what}"))
    }

    /// 503 `unavailable`: a dependency failed; try again later. The cause is logged, not shown.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .detail("a backing service is unavailable; try again later")
        .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// 500 `internal_error`, without internals.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
        .detail("an unexpected error occurred; it has been logged")
    }

    /// The problem a bare error status is turned into.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => {
                Self::new(status, "not_found", "Not found").detail("no resource at this path")
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                Self::new(status, "method_not_allowed", "Method not allowed")
                    .detail("this path does not accept this method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(status, "body_too_large", "Body too large")
                .detail("the request body exceeds the limit"),
            StatusCode::REQUEST_TIMEOUT => Self::new(status, "request_timeout", "Request timeout")
                .detail("the request took too long; retry with the same Idempotency-Key"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::new(status, "unsupported_media_type", "Unsupported media type")
                    .detail("expected Content-Type: application/json")
            }
            s if s.is_server_error() => Self::new(
                s,
                "internal_error",
                s.canonical_reason().unwrap_or("Server error"),
            ),
            s => Self::new(
                s,
                "invalid_request",
                s.canonical_reason().unwrap_or("Bad request"),
            ),
        }
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
        return Err(Problem::bad_request(
            "malformed_json",
            format!("the body is not valid JSON: {}", category_text(&e)),
        ));
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
        Category::Syntax | Category::Eof | Category::Io => Problem::bad_request(
            "malformed_json",
            format!("the body is not valid JSON ({})", category_text(&inner)),
        ),
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

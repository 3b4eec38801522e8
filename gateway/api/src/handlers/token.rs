//! `POST /api/v1/oauth2/token`: OAuth2 client credentials (RFC 6749 §4.4) over mTLS.

use axum::Json;
use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::auth::{ClientIdentity, check_certificate};
use crate::problem::{ErrorCode, KeepBody, Problem};
use crate::tls::PeerIdentity;

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

/// Why the token endpoint refused: an OAuth2 error (RFC 6749 §5.2, answered as
/// `application/json` and left so by the problem rendering), or a problem (429
/// `rate_limited`).
#[derive(Debug)]
pub enum TokenRefusal {
    /// An OAuth2 error: its code (`invalid_request`, `invalid_client` or
    /// `unsupported_grant_type`, with the code's status) and a description that never repeats
    /// what the client sent.
    OAuth(ErrorCode, &'static str),
    /// A problem (`rate_limited`).
    Problem(Problem),
}

/// The one answer to every failed client authentication — unknown client, wrong secret,
/// missing or malformed credentials, no client certificate, a certificate of another OIN — so
/// that the answer never tells which part was right (a correct secret without a certificate
/// answered differently before: an oracle for secrets).
const CLIENT_AUTH_FAILED: TokenRefusal =
    TokenRefusal::OAuth(ErrorCode::InvalidClient, "client authentication failed");

fn rate_limited(wait: std::time::Duration) -> TokenRefusal {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    TokenRefusal::Problem(
        Problem::new(ErrorCode::RateLimited)
            .detail("too many token requests; retry after Retry-After seconds")
            .header(header::RETRY_AFTER, HeaderValue::from(secs.max(1))),
    )
}

impl From<Problem> for TokenRefusal {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl IntoResponse for TokenRefusal {
    fn into_response(self) -> Response {
        let (code, description) = match self {
            Self::Problem(p) => return p.into_response(),
            Self::OAuth(code, description) => (code, description),
        };
        let status = code.status();
        let body = OAuthError {
            error: code.as_str().to_owned(),
            error_description: description.to_owned(),
            code: code.as_str().to_owned(),
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
        (status = 401, description = "invalid_client: any failed client authentication (unknown client, wrong secret, missing or malformed credentials, no client certificate, a certificate of another OIN), always the same body", body = OAuthError),
        (status = 429, description = "rate_limited: too many token requests from this client or address; see Retry-After", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "seconds to wait"))),
    )
)]
pub async fn token(
    State(state): State<ApiState>,
    peer: Option<axum::Extension<PeerIdentity>>,
    source: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, TokenRefusal> {
    use TokenRefusal::OAuth;
    let now = tokio::time::Instant::now();
    state
        .token_limiter
        .source(source.map(|s| s.0.0.ip()), now)
        .map_err(rate_limited)?;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(OAuth(
            ErrorCode::InvalidRequest,
            "expected Content-Type: application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| OAuth(ErrorCode::InvalidRequest, "the body is not UTF-8"))?;
    let pairs = form_pairs(text);
    let get = |name: &str| -> Result<Option<String>, TokenRefusal> {
        let mut found = pairs.iter().filter(|(k, _)| k == name);
        let first = found.next().map(|(_, v)| v.clone());
        match found.next() {
            Some(_) => Err(OAuth(ErrorCode::InvalidRequest, "a parameter is repeated")),
            None => Ok(first),
        }
    };
    let (grant, form_id, form_secret) =
        (get("grant_type")?, get("client_id")?, get("client_secret")?);
    match grant.as_deref() {
        None => return Err(OAuth(ErrorCode::InvalidRequest, "grant_type is missing")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuth(
                ErrorCode::UnsupportedGrantType,
                "only client_credentials is supported",
            ));
        }
    }
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(basic_credentials(v).ok_or(CLIENT_AUTH_FAILED)?),
    };
    let (client_id, secret) = match (basic, form_id, form_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuth(
                ErrorCode::InvalidRequest,
                "use one client authentication method, not both",
            ));
        }
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        (None, _, _) => return Err(CLIENT_AUTH_FAILED),
    };
    if state.clients.knows(client_id.trim()) {
        state
            .token_limiter
            .client(client_id.trim(), now)
            .map_err(rate_limited)?;
    }
    let client = state
        .clients
        .authenticate_any(&client_id, &secret)
        .ok_or(CLIENT_AUTH_FAILED)?;
    check_certificate(
        state.require_client_cert,
        peer.as_ref().map(|e| &e.0),
        client_id.trim(),
    )
    .map_err(|_| CLIENT_AUTH_FAILED)?;
    let (token, _) = match client {
        ClientIdentity::Institution(c) => state.tokens.issue(&c.oin, &c.brin),
        ClientIdentity::BevoegdGezag(b) => state.tokens.issue_bestuur(&b.oin, &b.bestuur),
    };
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(TokenResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: state.tokens.ttl().as_secs(),
        }),
    ))
}

/// The `(client_id, secret)` of an HTTP Basic `Authorization` header (RFC 6749 §2.3.1: each
/// form-urlencoded); `None` when it is not one.
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let encoded = value.to_str().ok().and_then(|v| {
        v.strip_prefix("Basic ")
            .or_else(|| v.strip_prefix("basic "))
    })?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    decoded
        .split_once(':')
        .map(|(id, secret)| (form_decode(id), form_decode(secret)))
}

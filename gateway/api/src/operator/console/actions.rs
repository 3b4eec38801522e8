//! The console's forms: login and logout, replay and discard. Every POST is checked in this
//! order: same origin, a live session and its CSRF token, the role, then the input (the same
//! checks as the JSON API's, by calling the same functions).

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::session::{same_origin, session_id};
use super::{Layout, OrPage, PageError, Session, render};
use crate::operator::handlers::{self, DiscardRequest, ReplayRequest};
use crate::operator::views::DiscardView;
use crate::operator::{OperatorState, Role};
use crate::problem::{ErrorCode, Problem};

/// Parses an `application/x-www-form-urlencoded` body (a page's form; its fields as text with
/// defaults, checked where they are used).
pub(super) fn parse_form<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Problem> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(Problem::new(ErrorCode::UnsupportedMediaType)
            .detail("expected Content-Type: application/x-www-form-urlencoded"));
    }
    // Every field is text with a default, so only a malformed body fails here; the values
    // are checked (and named) where they are used.
    serde_urlencoded::from_bytes(body).map_err(|e| {
        Problem::new(ErrorCode::InvalidRequest).detail(format!("the form is malformed: {e}"))
    })
}

#[derive(Template)]
#[template(path = "login.html", config = "src/operator/console/askama.toml")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
}

/// `GET /console/login`.
pub async fn login_form() -> Response {
    render(&LoginPage {
        layout: Layout::anonymous("Log in"),
        error: None,
    })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/login`: the operator token for a session cookie, then to the status page.
pub async fn login(
    State(state): State<OperatorState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    same_origin(&headers, &uri)?;
    let form: LoginForm = parse_form(&headers, &body)?;
    let Some(operator) = state.operators.authenticate(form.token.trim()) else {
        tracing::warn!("console: a login with an unknown operator token");
        let mut res = render(&LoginPage {
            layout: Layout::anonymous("Log in"),
            error: Some("That token is not an operator token. Check it and try again.".into()),
        });
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        // The login page itself is the answer, not an error page.
        res.extensions_mut().insert(crate::problem::KeepBody);
        return Ok(res);
    };
    tracing::info!(operator = %operator.name, role = %operator.role, "console: operator logged in");
    let id = state.console.login(operator);
    let mut res = Redirect::to("/console/status").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, state.console.set_cookie(&id));
    Ok(res)
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /console/logout`: ends the session, removes the cookie.
pub async fn logout(
    who: Session,
    State(state): State<OperatorState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    same_origin(&headers, &uri).or_page(&who)?;
    let form: CsrfForm = parse_form(&headers, &body).or_page(&who)?;
    who.check_csrf(&form.csrf).or_page(&who)?;
    if let Some(id) = session_id(&headers) {
        state.console.logout(&id);
    }
    let mut res = Redirect::to("/console/login").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, state.console.clear_cookie());
    Ok(res)
}

/// Checks a console POST before its input: same origin, the session's CSRF token, then the
/// role the action needs. Every state-changing form handler calls it first.
pub(super) fn may_act(
    who: &Session,
    uri: &Uri,
    headers: &HeaderMap,
    csrf: &str,
    role: Role,
) -> Result<(), PageError> {
    same_origin(headers, uri).or_page(who)?;
    who.check_csrf(csrf).or_page(who)?;
    who.operator.require(role).or_page(who)
}

fn optional(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|t| !t.is_empty())
}

fn number<T: std::str::FromStr>(field: &str, text: &str, what: &str) -> Result<Option<T>, Problem> {
    optional(text)
        .map(|t| {
            t.parse()
                .map_err(|_| Problem::invalid_field(field, format!("must be {what}")))
        })
        .transpose()
}

/// The replay form: every field as text, so that a wrong one is named, not a generic 400.
#[derive(Debug, Deserialize)]
struct ReplayForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    consumer: String,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    park_reason: String,
    #[serde(default)]
    canary: String,
    #[serde(default)]
    rate_per_second: String,
    #[serde(default)]
    wait_seconds: String,
    #[serde(default)]
    reason: String,
}

impl ReplayForm {
    fn request(&self) -> Result<ReplayRequest, Problem> {
        Ok(ReplayRequest {
            consumer: optional(&self.consumer).map(str::to_owned),
            message_id: optional(&self.message_id)
                .map(|t| {
                    t.parse::<Uuid>()
                        .map_err(|_| Problem::invalid_field("message_id", "not a UUID"))
                })
                .transpose()?,
            park_reason: optional(&self.park_reason).map(str::to_owned),
            canary: number("canary", &self.canary, "a whole number")?,
            rate_per_second: number("rate_per_second", &self.rate_per_second, "a number")?,
            wait_seconds: number("wait_seconds", &self.wait_seconds, "a whole number")?,
            reason: self.reason.clone(),
        })
    }
}

/// `POST /console/replay`: starts a staged replay, then to the job's page.
pub async fn replay(
    who: Session,
    State(state): State<OperatorState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: ReplayForm = parse_form(&headers, &body).or_page(&who)?;
    may_act(&who, &uri, &headers, &form.csrf, Role::Operator)?;
    let req = form.request().or_page(&who)?;
    let job = handlers::start_replay(&state, &who.operator, req)
        .await
        .or_page(&who)?;
    Ok(Redirect::to(&format!("/console/replays/{}", job.job_id)).into_response())
}

#[derive(Debug, Deserialize)]
struct DiscardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    consumer: String,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    reason: String,
}

#[derive(Template)]
#[template(path = "discarded.html", config = "src/operator/console/askama.toml")]
struct DiscardedPage {
    layout: Layout,
    view: DiscardView,
}

/// `POST /console/discard`: discards one parked message; a page saying what was released.
pub async fn discard(
    who: Session,
    State(state): State<OperatorState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: DiscardForm = parse_form(&headers, &body).or_page(&who)?;
    may_act(&who, &uri, &headers, &form.csrf, Role::Operator)?;
    let message_id = optional(&form.message_id)
        .ok_or_else(|| Problem::invalid_field("message_id", "required"))
        .and_then(|t| {
            t.parse::<Uuid>()
                .map_err(|_| Problem::invalid_field("message_id", "not a UUID"))
        })
        .or_page(&who)?;
    let req = DiscardRequest {
        consumer: optional(&form.consumer).map(str::to_owned),
        message_id,
        reason: form.reason.clone(),
    };
    let view = handlers::discard_message(&state, &who.operator, req)
        .await
        .or_page(&who)?;
    let mut res = render(&DiscardedPage {
        layout: Layout::new("Message discarded", "/console/failures", &who),
        view,
    });
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

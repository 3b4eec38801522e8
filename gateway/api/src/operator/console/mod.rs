//! The operator web console: server-rendered HTML on the operator listener under `/console`,
//! with the same functions as `knooppunt ops` and the JSON API — and the same code: every page
//! renders the view a JSON endpoint returns (`handlers::*_view`), every form calls the action a
//! JSON endpoint calls (`handlers::start_replay`, `handlers::discard_message`).
//!
//! - `GET /console/login`, `POST /console/login` (the operator token → a session cookie,
//!   [`session`]), `POST /console/logout`;
//! - `GET /console/status` — per consumer, refreshed live (a small script; without it, a
//!   refresh link);
//! - `GET /console/failures` (grouped by consumer and reason), `GET /console/failures/{consumer}`
//!   (`?reason=` narrows), `GET /console/failures/{consumer}/{message_id}`;
//! - `GET /console/trace/{message_id}` — the audit records, each chain verified;
//! - `POST /console/replay` (staged) → `GET /console/replays/{job_id}`; `POST /console/discard`.
//!
//! Plain semantic HTML and one stylesheet; forms work without JavaScript. A reader sees every
//! page but no action form; replay and discard need the role `operator`, a CSRF token and a
//! reason. Errors are pages with the problem's title and detail (the JSON API's problem, same
//! status). Like the JSON API, no page shows a message body, a BSN or a name.
//!
//! **Adding a page** (e.g. an operator function of its own): a template in `templates/` that
//! extends `base.html`, a handler in a file of this folder that renders the function's view
//! with a [`Layout`], one `.route(…)` in [`router`] and one [`NavEntry`] in [`NAV`].

mod actions;
mod pages;
pub mod session;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

pub use session::{Console, ConsoleSettings, Session};

use super::{OperatorState, Role};
use crate::problem::{KeepBody, Problem};

/// One entry of the console's navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavEntry {
    /// The page's path.
    pub href: &'static str,
    /// The link text.
    pub label: &'static str,
    /// The lowest role that sees the entry.
    pub role: Role,
}

/// The navigation, in order. A new page adds its entry here.
pub const NAV: &[NavEntry] = &[
    NavEntry {
        href: "/console/status",
        label: "Status",
        role: Role::Reader,
    },
    NavEntry {
        href: "/console/failures",
        label: "Failures",
        role: Role::Reader,
    },
];

/// What `base.html` needs of every page: its title, where it sits in the navigation, the
/// logged-in operator (with the CSRF token for the logout form), and whether it refreshes live.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title (also its `h1`).
    pub title: String,
    /// The [`NavEntry::href`] marked as current.
    pub current: &'static str,
    /// The operator, when logged in.
    pub who: Option<Session>,
    /// Seconds between live refreshes of the element marked `data-live`; `None`: no script.
    pub live: Option<u32>,
}

impl Layout {
    /// A page for a logged-in operator.
    pub fn new(title: impl Into<String>, current: &'static str, who: &Session) -> Self {
        Self {
            title: title.into(),
            current,
            who: Some(who.clone()),
            live: None,
        }
    }

    /// A page without a session (login, errors before login).
    pub fn anonymous(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            current: "",
            who: None,
            live: None,
        }
    }

    /// Refreshes the page's `data-live` element every `seconds`.
    pub fn live(mut self, seconds: u32) -> Self {
        self.live = Some(seconds);
        self
    }

    /// The navigation entries this operator sees.
    pub fn nav(&self) -> Vec<NavEntry> {
        let role = self.who.as_ref().map(|w| w.operator.role);
        NAV.iter()
            .filter(|n| role.is_some_and(|r| r >= n.role))
            .copied()
            .collect()
    }

    /// Whether this operator may replay and discard (shows the action forms).
    pub fn may_act(&self) -> bool {
        self.who
            .as_ref()
            .is_some_and(|w| w.operator.role >= Role::Operator)
    }

    /// The CSRF token for forms ("" without a session).
    pub fn csrf(&self) -> &str {
        self.who.as_ref().map_or("", |w| w.csrf.as_str())
    }
}

/// A time as the console shows it (UTC, to the second).
pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time that may be absent ("—").
pub fn maybe_when(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map_or_else(|| "—".to_owned(), when)
}

/// Renders a page; a template that fails to render is a 500 page.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console: a template failed to render");
            PageError::Problem(Box::new((Problem::internal(), None))).into_response()
        }
    }
}

/// Why a console request did not get its page.
#[derive(Debug)]
pub enum PageError {
    /// No (live) session: to the login page.
    Login,
    /// A problem, shown as an error page (with the session's navigation when there is one).
    Problem(Box<(Problem, Option<Session>)>),
}

impl PageError {
    /// `problem` as an error page for `who`.
    pub fn new(problem: Problem, who: &Session) -> Self {
        Self::Problem(Box::new((problem, Some(who.clone()))))
    }
}

impl From<Problem> for PageError {
    fn from(p: Problem) -> Self {
        Self::Problem(Box::new((p, None)))
    }
}

/// Makes a `Result<_, Problem>` a `Result<_, PageError>` for a logged-in operator.
pub trait OrPage<T> {
    /// The problem as an error page with `who`'s navigation.
    fn or_page(self, who: &Session) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, Problem> {
    fn or_page(self, who: &Session) -> Result<T, PageError> {
        self.map_err(|p| PageError::new(p, who))
    }
}

/// A problem waiting to be rendered as a page by [`console_layer`] (which knows the request id).
#[derive(Debug, Clone)]
struct PageProblem(Problem, Option<Session>);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login => Redirect::to("/console/login").into_response(),
            PageError::Problem(b) => {
                let (problem, who) = *b;
                let mut res = problem.status_code().into_response();
                for (name, value) in &problem.headers {
                    res.headers_mut().append(name.clone(), value.clone());
                }
                res.extensions_mut().insert(PageProblem(problem, who));
                res
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html", config = "src/operator/console/askama.toml")]
struct ErrorPage<'a> {
    layout: Layout,
    problem: &'a Problem,
    request_id: Option<&'a str>,
}

/// The console's headers on every answer, and every error as a page: a handler's problem
/// ([`PageError`]) or a bare status from the router (405, 413, …).
async fn console_layer(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut res = next.run(req).await;
    let status = res.status();
    // A page a handler chose to answer with an error status (the login page after a wrong
    // token) is marked `KeepBody` and stays as it is.
    let kept = res.extensions().get::<KeepBody>().is_some();
    if (status.is_client_error() || status.is_server_error()) && !kept {
        let (problem, who) = match res.extensions_mut().remove::<PageProblem>() {
            Some(PageProblem(p, who)) => (p, who),
            None => (Problem::for_status(status), None),
        };
        let mut layout = Layout::anonymous(problem.title.clone());
        layout.who = who;
        let mut page = render(&ErrorPage {
            layout,
            problem: &problem,
            request_id: request_id.as_deref(),
        });
        *page.status_mut() = problem.status_code();
        for (name, value) in res.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                page.headers_mut().insert(name.clone(), value.clone());
            }
        }
        page.extensions_mut().insert(KeepBody);
        res = page;
    }
    let h = res.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

const CSS: &str = include_str!("assets/console.css");
const LIVE_JS: &str = include_str!("assets/live.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn not_found() -> PageError {
    PageError::from(Problem::for_status(StatusCode::NOT_FOUND))
}

/// The console's routes (merged into the operator app by [`super::router`]).
pub fn router() -> Router<OperatorState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/status") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/status") }),
        )
        .route(
            "/console/login",
            get(actions::login_form).post(actions::login),
        )
        .route("/console/logout", post(actions::logout))
        .route("/console/status", get(pages::status))
        .route("/console/failures", get(pages::failures))
        .route("/console/failures/{consumer}", get(pages::consumer))
        .route(
            "/console/failures/{consumer}/{message_id}",
            get(pages::message),
        )
        .route("/console/trace/{message_id}", get(pages::trace))
        .route("/console/replay", post(actions::replay))
        .route("/console/replays/{job_id}", get(pages::replay_job))
        .route("/console/discard", post(actions::discard))
        .route(
            "/console/assets/console.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/console/assets/live.js",
            get(|| async { asset("text/javascript; charset=utf-8", LIVE_JS) }),
        )
        .route("/console/{*rest}", get(not_found).post(not_found))
        .layer(middleware::from_fn(console_layer))
}

//! The operator API: a listener of its own (not the institutions' port) for the people who run
//! Knooppunt. Bearer tokens name an operator and a role ([`auth`]); every answer is JSON or an
//! RFC 9457 problem, and holds ids, codes, counts, hashes and times only ([`views`]).
//!
//! - `GET /ops/v1/status` — per consumer: parked, blocked students and held messages, breaker,
//!   in flight, queue depth (sampled), delivered/refused/parked since start, last success and
//!   last failure;
//! - `GET /ops/v1/parked` (grouped by consumer and reason), `GET /ops/v1/parked/{consumer}`,
//!   `GET /ops/v1/parked/{consumer}/{message_id}` (never the body);
//! - `GET /ops/v1/trace/{message_id}` — the message's audit records, each chain verified;
//! - `POST /ops/v1/replay` — staged ([`replay`]), `GET /ops/v1/replays/{job_id}`;
//! - `POST /ops/v1/discard` — one message, releasing what waited behind it;
//! - `GET /ops/v1/institutions`, `GET /ops/v1/institutions/{brin}`,
//!   `POST /ops/v1/institutions/{brin}/level` — participation levels ([`levels`]);
//! - `GET /ops/v1/reports`, `GET /ops/v1/reports/{name}` — sector reports without personal
//!   data, JSON or CSV ([`reports`]);
//! - `GET /ops/v1/controls` and the changes under it — runtime controls: maintenance windows,
//!   shadow mode, rate limits ([`controls`]);
//! - `GET /metrics`, `/readyz`, `/healthz` — as on the API port;
//! - `/console/…` — the web console ([`console`]): the same views and actions as HTML pages.
//!
//! Replay and discard need the role `operator` (or `admin`) and a reason; the operator's name
//! and the reason go to the audit trail ([`knooppunt_ops::FailedMessages`]).

pub mod auth;
pub mod console;
pub mod controls;
mod handlers;
pub mod levels;
pub mod replay;
pub mod reports;
pub mod tls;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use knooppunt_ops::audit::AuditTrail;
use knooppunt_ops::metrics::Metrics;
use knooppunt_ops::{DeliveryState, Discarded, ParkedMessage};
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

pub use auth::{Operator, OperatorCredential, OperatorRegistry, Role};
pub use controls::{ControlTargets, ControlsState};
pub use replay::{ReplayJob, ReplayJobs};
pub use reports::Reports;

use crate::{ApiMetrics, Readiness, problem};

/// What the operator API needs of the delivery runtimes (the node implements it over its
/// `DeliveryRuntime`s; tests may fake it).
#[async_trait]
pub trait Redelivery: Send + Sync + 'static {
    /// The consumers (adapters, and the feed) of this node, by name.
    fn consumers(&self) -> Vec<String>;
    /// Puts a replayed message back on its consumer's work queue (`DeliveryRuntime::replay`).
    async fn republish(&self, parked: &ParkedMessage) -> Result<(), String>;
    /// Delivers what waited behind a discarded message (`DeliveryRuntime::after_discard`).
    async fn release(&self, discarded: Discarded) -> Result<(), String>;
}

/// Limits of the operator API.
#[derive(Debug, Clone)]
pub struct OperatorLimits {
    /// How often a replay job looks for its messages' outcomes (default 100 ms).
    pub outcome_poll: Duration,
    /// Default wait for a replayed message's outcome (default 60 s; a request may say 1–600).
    pub outcome_wait: Duration,
    /// Default rate cap after the canary, messages per second (default 5).
    pub rate_per_second: f64,
    /// A request taking longer is answered 408 (default 30 s).
    pub request_timeout: Duration,
}

impl Default for OperatorLimits {
    fn default() -> Self {
        Self {
            outcome_poll: Duration::from_millis(100),
            outcome_wait: Duration::from_secs(60),
            rate_per_second: 5.0,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Everything the operator handlers need. Cheap to clone.
#[derive(Clone)]
pub struct OperatorState {
    /// Delivery state (parked, held).
    pub state: Arc<dyn DeliveryState>,
    /// The audit trail.
    pub audit: Arc<dyn AuditTrail>,
    /// The process metrics.
    pub metrics: Arc<Metrics>,
    /// The API's request metrics (also served at this listener's `/metrics`).
    pub api_metrics: Arc<ApiMetrics>,
    /// Readiness.
    pub readiness: Arc<dyn Readiness>,
    /// The operators.
    pub operators: Arc<OperatorRegistry>,
    /// The delivery runtimes.
    pub redelivery: Arc<dyn Redelivery>,
    /// Replay jobs.
    pub replays: Arc<ReplayJobs>,
    /// Cancelled when the node shuts down (replay jobs stop; the rest stays parked).
    pub shutdown: CancellationToken,
    /// Limits.
    pub limits: OperatorLimits,
    /// The participation level endpoints' registry and reference data
    /// ([`OperatorState::with_levels`]); `None`: they answer 404.
    pub levels: Option<levels::LevelsAccess>,
    /// The sector reports (`None`: `/ops/v1/reports` answers 503); see [`Self::with_reports`].
    pub reports: Option<Reports>,
    /// The web console's sessions.
    pub console: Arc<console::Console>,
    /// Runtime controls (maintenance windows, shadow mode, rate limits); `None`: not offered.
    pub controls: Option<ControlsState>,
}

impl std::fmt::Debug for OperatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorState")
            .field("operators", &self.operators.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl OperatorState {
    /// A state with default limits and no replay jobs yet.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        state: Arc<dyn DeliveryState>,
        audit: Arc<dyn AuditTrail>,
        metrics: Arc<Metrics>,
        api_metrics: Arc<ApiMetrics>,
        readiness: Arc<dyn Readiness>,
        operators: Arc<OperatorRegistry>,
        redelivery: Arc<dyn Redelivery>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            state,
            audit,
            metrics,
            api_metrics,
            readiness,
            operators,
            redelivery,
            replays: Arc::new(ReplayJobs::default()),
            shutdown,
            limits: OperatorLimits::default(),
            levels: None,
            reports: None,
            console: Arc::new(console::Console::default()),
            controls: None,
        }
    }

    /// Serves the sector reports from `reports`.
    pub fn with_reports(mut self, reports: Reports) -> Self {
        self.reports = Some(reports);
        self
    }

    /// The web console with these settings (default: 8-hour sessions, cookies without
    /// `Secure`; the node sets `Secure` when the operator listener has TLS).
    pub fn with_console(mut self, settings: console::ConsoleSettings) -> Self {
        self.console = Arc::new(console::Console::new(settings));
        self
    }

    /// Offers the runtime controls: changes go through `service` (stored and audited) and are
    /// put in force through `targets`.
    pub fn with_controls(
        mut self,
        service: knooppunt_ops::RuntimeControls,
        targets: Arc<dyn ControlTargets>,
    ) -> Self {
        self.controls = Some(ControlsState { service, targets });
        self
    }
}

async fn not_found() -> problem::Problem {
    problem::Problem::for_status(axum::http::StatusCode::NOT_FOUND)
}

/// The operator app: every route plus problem rendering, request ids, a 16 KiB body limit, the
/// request timeout and panic catching.
pub fn router(state: OperatorState) -> Router {
    let timeout = state.limits.request_timeout;
    Router::new()
        .route("/ops/v1/status", get(handlers::status))
        .route("/ops/v1/parked", get(handlers::parked_groups))
        .route("/ops/v1/parked/{consumer}", get(handlers::parked_of))
        .route(
            "/ops/v1/parked/{consumer}/{message_id}",
            get(handlers::parked_one),
        )
        .route("/ops/v1/trace/{message_id}", get(handlers::trace))
        .route("/ops/v1/replay", post(handlers::replay))
        .route("/ops/v1/replays/{job_id}", get(handlers::replay_job))
        .route("/ops/v1/discard", post(handlers::discard))
        .route("/ops/v1/institutions", get(levels::list))
        .route("/ops/v1/institutions/{brin}", get(levels::show))
        .route("/ops/v1/institutions/{brin}/level", post(levels::change))
        .route("/ops/v1/reports", get(reports::list))
        .route("/ops/v1/reports/{name}", get(reports::one))
        .route("/ops/v1/controls", get(controls::list))
        .route("/ops/v1/controls/{partner}", get(controls::one))
        .route(
            "/ops/v1/controls/{partner}/maintenance",
            post(controls::add_window),
        )
        .route(
            "/ops/v1/controls/{partner}/maintenance/{window_id}",
            delete(controls::remove_window),
        )
        .route(
            "/ops/v1/controls/{partner}/shadow",
            put(controls::set_shadow).delete(controls::clear_shadow),
        )
        .route(
            "/ops/v1/controls/{partner}/shadow/institutions/{brin}",
            put(controls::set_institution_shadow).delete(controls::clear_institution_shadow),
        )
        .route(
            "/ops/v1/controls/{partner}/rate-limit",
            put(controls::set_rate_limit).delete(controls::clear_rate_limit),
        )
        .route("/metrics", get(handlers::metrics))
        .route("/readyz", get(handlers::readyz))
        .route("/healthz", get(crate::handlers::healthz))
        .merge(console::router())
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(middleware::from_fn(problem::render_problems))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

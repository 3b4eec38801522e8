//! The open REST API for institutions: OAuth2 client credentials (with mTLS), aanmeldingen,
//! OOK templates, onderwijs- and praktijkovereenkomsten, the per-institution feed and webhooks. See `docs/api.md` for the SIS developer's view.
//!
//! - [`router`] builds the complete axum app (routes, problem rendering, request ids, body
//!   limit, timeout, panic catching, metrics) from an [`ApiState`].
//! - [`auth`]: clients, tokens and the [`auth::Caller`] extractor; [`tls`] (mTLS) puts the
//!   [`tls::PeerIdentity`] into requests.
//! - [`handlers`]: the endpoints; [`problem`]: RFC 9457 errors.
//! - [`store`]/[`pg`]: what the API keeps (idempotency, aanmelding index, feed, webhooks).
//! - [`operator`]: the operator API on a listener of its own (status, parked messages, traces,
//!   staged replay, discard).
//! - [`feed::FeedAdapter`] projects events onto the feed; [`webhook::WebhookDispatcher`] pushes it.
//!
//! The institution acts as `Actor::Institution { brin }` — also to open a student's dossier on
//! a first aanmelding, which the registry allows for a known institution.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use knooppunt_ops::audit::AuditTrail;
use knooppunt_ops::metrics::Metrics;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

pub mod auth;
pub mod docs_page;
pub mod feed;
pub mod handlers;
pub mod housekeeping;
pub mod limiter;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod pg;
pub mod pki;
pub mod problem;
pub mod proxy;
pub mod server;
pub mod store;
pub mod tls;
pub mod webhook;
pub mod webhook_targets;

pub use auth::{Caller, ClientRegistry, Reader, SandboxCredential, TokenIssuer};
pub use feed::FeedAdapter;
pub use metrics::ApiMetrics;
pub use pg::{PgApiStore, migrate};
pub use problem::Problem;
pub use store::{ApiStore, MemoryApiStore};
pub use webhook::{WebhookConfig, WebhookDispatcher};

/// Whether the process can serve requests (supplied by the wiring: database, broker, …).
#[async_trait]
pub trait Readiness: Send + Sync + std::fmt::Debug + 'static {
    /// `Err(reason)` when not ready; the reason is shown in the 503 problem (no secrets).
    async fn ready(&self) -> Result<(), String>;
}

/// Always ready (tests, sandbox).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReady;

#[async_trait]
impl Readiness for AlwaysReady {
    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Largest accepted request body (default 64 KiB).
    pub body_limit: usize,
    /// Time a request may take before 408 (default 45 s; above the longest long-poll).
    pub request_timeout: Duration,
    /// Longest feed long-poll `wacht` (default 30 s).
    pub max_wait: Duration,
    /// How often a long-poll looks at the feed (default 250 ms).
    pub feed_poll_interval: Duration,
    /// After how long an unfinished idempotent request may be taken over even when its holder
    /// still looks live (default 60 s). A record whose holder instance died is free at once.
    pub idempotency_stale_after: Duration,
    /// How long an idempotency record is kept at least (default 24 h); the purge
    /// ([`housekeeping::purge_idempotency`]) deletes older ones.
    pub idempotency_retention: Duration,
    /// Default page size.
    pub default_page: usize,
    /// Largest page size.
    pub max_page: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(45),
            max_wait: Duration::from_secs(30),
            feed_poll_interval: Duration::from_millis(250),
            idempotency_stale_after: Duration::from_secs(60),
            idempotency_retention: Duration::from_secs(24 * 3600),
            default_page: 50,
            max_page: 500,
        }
    }
}

/// Everything the handlers need. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// The registry.
    pub store: Arc<dyn Store>,
    /// Reference data (institutions, opleidingen, cohorts).
    pub reference: Arc<ReferenceData>,
    /// The audit trail (every read is recorded).
    pub audit: Arc<dyn AuditTrail>,
    /// The process metrics (encoded at `/metrics`).
    pub metrics: Arc<Metrics>,
    /// The API's own request metrics.
    pub api_metrics: Arc<ApiMetrics>,
    /// OAuth2 clients.
    pub clients: Arc<ClientRegistry>,
    /// Token issuer.
    pub tokens: Arc<TokenIssuer>,
    /// The API's own store.
    pub api_store: Arc<dyn ApiStore>,
    /// Whether a client certificate with the client's OIN is required (true in production).
    pub require_client_cert: bool,
    /// Readiness check.
    pub readiness: Arc<dyn Readiness>,
    /// Limits.
    pub limits: ApiLimits,
    /// Where webhooks may point (default: public hosts and loopback, the sandbox's).
    pub webhook_targets: webhook::WebhookTargets,
    /// The token endpoint's rate limits.
    pub token_limiter: Arc<limiter::TokenLimiter>,
    /// This node's API instance: the holder of the idempotency records it is handling (random,
    /// made by [`ApiState::new`]).
    pub instance: store::InstanceId,
    /// Feed long-polls running per client (`api.max_long_polls_per_client`).
    pub long_polls: Arc<limiter::LongPolls>,
    /// The TLS-terminating proxies whose forwarded client certificate counts as the request's
    /// (`api.tls.mode = "proxy"`, [`proxy`]); `None`: only the API's own TLS gives one.
    pub trusted_proxy: Option<Arc<proxy::TrustedProxy>>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("clients", &self.clients.len())
            .field("require_client_cert", &self.require_client_cert)
            .field("instance", &self.instance)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// A state with client certificates required, [`AlwaysReady`] and default limits; change
    /// the pub fields for anything else.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        reference: Arc<ReferenceData>,
        audit: Arc<dyn AuditTrail>,
        metrics: Arc<Metrics>,
        clients: Arc<ClientRegistry>,
        tokens: Arc<TokenIssuer>,
        api_store: Arc<dyn ApiStore>,
    ) -> Self {
        Self {
            store,
            reference,
            audit,
            metrics,
            api_metrics: Arc::new(ApiMetrics::new()),
            clients,
            tokens,
            api_store,
            require_client_cert: true,
            readiness: Arc::new(AlwaysReady),
            limits: ApiLimits::default(),
            webhook_targets: webhook::WebhookTargets::default(),
            token_limiter: Arc::new(limiter::TokenLimiter::default()),
            instance: store::InstanceId::random(),
            trusted_proxy: None,
            long_polls: Arc::new(limiter::LongPolls::default()),
        }
    }
}

async fn not_found() -> Problem {
    Problem::for_status(axum::http::StatusCode::NOT_FOUND)
}

async fn openapi_json() -> Response {
    axum::Json(openapi::openapi()).into_response()
}

async fn count_requests(
    axum::extract::State(m): axum::extract::State<Arc<ApiMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    // Bounded: a closed set of methods and the matched route template (never the raw path).
    let route = match req.extensions().get::<MatchedPath>() {
        Some(p) => format!("{} {}", metrics::method_label(req.method()), p.as_str()),
        None => "unmatched".to_owned(),
    };
    let started = Instant::now();
    let res = next.run(req).await;
    m.request(&route, res.status().as_u16(), started.elapsed());
    res
}

/// The complete API app: every route plus problem rendering, request ids, body limit, timeout,
/// panic catching and request metrics.
pub fn router(state: ApiState) -> Router {
    let limits = state.limits.clone();
    let api_metrics = state.api_metrics.clone();
    let trusted_proxy = state.trusted_proxy.clone();
    let api = Router::new()
        .route("/api/v1/oauth2/token", post(handlers::token))
        .route(
            "/api/v1/aanmeldingen",
            post(handlers::submit_aanmelding).get(handlers::list_aanmeldingen),
        )
        .route("/api/v1/aanmeldingen/{id}", get(handlers::get_aanmelding))
        .route(
            "/api/v1/aanmeldingen/{id}/status",
            post(handlers::change_status),
        )
        .route(
            "/api/v1/ook-sjablonen",
            post(handlers::create_sjabloon).get(handlers::list_sjablonen),
        )
        .route("/api/v1/ook-sjablonen/{id}", get(handlers::get_sjabloon))
        .route(
            "/api/v1/ook-sjablonen/{id}/versies",
            post(handlers::add_sjabloon_versie),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten",
            post(handlers::create_ook),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}",
            get(handlers::get_ook),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}/aanbieding",
            post(handlers::offer_ook),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}/ondertekening",
            post(handlers::sign_ook),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}/beeindiging",
            post(handlers::terminate_ook),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}/keuzedelen",
            post(handlers::register_keuzedeel),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}/keuzedelen/{code}/resultaat",
            post(handlers::record_keuzedeel_resultaat),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}/examenresultaten",
            post(handlers::record_examenresultaat),
        )
        .route(
            "/api/v1/onderwijsovereenkomsten/{id}/diploma",
            post(handlers::award_diploma),
        )
        .route("/api/v1/praktijkovereenkomsten", post(handlers::create_bpv))
        .route(
            "/api/v1/praktijkovereenkomsten/{id}",
            get(handlers::get_bpv),
        )
        .route(
            "/api/v1/praktijkovereenkomsten/{id}/ondertekening",
            post(handlers::sign_bpv),
        )
        .route(
            "/api/v1/praktijkovereenkomsten/{id}/beeindiging",
            post(handlers::end_bpv),
        )
        .route("/api/v1/studenten/zoeken", post(handlers::lookup_student))
        .route(
            "/api/v1/studenten/{student}/personalia",
            get(handlers::get_personalia),
        )
        .route(
            "/api/v1/studenten/{student}/vooropleidingen",
            get(handlers::get_vooropleidingen),
        )
        .route(
            "/api/v1/studenten/{student}/overstapdossier",
            get(handlers::get_overstapdossier),
        )
        .route(
            "/api/v1/studenten/{student}/keuzedelen",
            get(handlers::get_student_keuzedelen),
        )
        .route(
            "/api/v1/studenten/{student}/keuzedelen/{ook}/{code}/resultaat",
            post(handlers::record_hosted_keuzedeel_resultaat),
        )
        .route("/api/v1/feed", get(handlers::feed))
        .route(
            "/api/v1/webhook",
            get(handlers::get_webhook)
                .put(handlers::put_webhook)
                .delete(handlers::delete_webhook),
        )
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page::docs))
        .fallback(not_found)
        .with_state(state);
    let api = match trusted_proxy {
        Some(proxy) => api.layer(middleware::from_fn_with_state(
            proxy,
            proxy::forwarded_certificate,
        )),
        None => api,
    };
    api.layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(middleware::from_fn(problem::render_problems))
        .layer(middleware::from_fn_with_state(api_metrics, count_requests))
        .layer(middleware::from_fn(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Runs the request's work in a span carrying its `x-request-id`, so that every log line of it
/// (plain or JSON, `KNOOPPUNT_LOG_FORMAT=json`) names the request. No path or body: ids only.
async fn request_span(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let id = req
        .headers()
        .get(problem::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %req.method());
    next.run(req).instrument(span).await
}

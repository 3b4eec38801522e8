//! What every partner simulator shares: the [`Simulator`] trait the node and the tests see, the
//! faults a simulator injects ([`SimFaults`], from configuration per partner), the fault engine
//! ([`FaultInjector`]), problem-details answers ([`problem`]) and the loopback HTTP server
//! ([`SimServer`]).
//!
//! A partner's own simulator lives in its folder (`adapters/src/<partner>/simulator.rs`): it
//! accepts exactly what the partner's real interface accepts, validates it with the partner's
//! mapping, and records it. The kit here does the rest, so every simulator fails the same way
//! when told to.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use knooppunt_registry::partner::Partner;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Faults a simulator injects, in this order per request: `latency_ms`, then the first of
/// `require_bearer`, `timeout_next`, `too_many_next`, `fail_next`, `fail_rate` that applies,
/// then (for a valid message) `reject_statuses`. Serde, so it can come from a TOML or JSON
/// configuration (`[partners.<name>.faults]`); every field defaults to "no fault".
#[derive(Deserialize, Serialize, Default, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimFaults {
    /// Extra delay before every answer, in milliseconds.
    pub latency_ms: u64,
    /// The next n requests are answered `503 Service Unavailable`.
    pub fail_next: u32,
    /// Fraction (0..1) of requests answered 503, drawn from a fixed-seed sequence so a run is
    /// repeatable. Values outside 0..1 are clamped.
    pub fail_rate: f64,
    /// The next n requests hang (until the simulator shuts down), longer than any client
    /// timeout.
    pub timeout_next: u32,
    /// The partner's codes it refuses with a `422` (VA: status codes such as `"LI"`, answered
    /// with the error code `status_geweigerd`).
    pub reject_statuses: Vec<String>,
    /// The next n requests are answered `429 Too Many Requests` with `Retry-After: 1`.
    pub too_many_next: u32,
    /// When set, requests without `Authorization: Bearer <this token>` are answered `401`.
    pub require_bearer: Option<String>,
    /// For a simulator that pushes to Knooppunt (the signing provider's postbacks): the next n
    /// pushes are silently not sent, as if lost on the way.
    pub drop_pushes_next: u32,
}

/// One message a simulator accepted, in the partner-neutral shape the node and the tests read.
/// `subject` is the partner's own student number (e.g. the pgn of a VA status): the partner
/// legitimately receives it, and `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SimMessage {
    /// The partner's student number in the message.
    pub subject: String,
    /// The partner's code of what the message says, e.g. a VA status code (`"AA"`).
    pub code: String,
    /// The partner's ordering number for the student, when its format has one (VA: the
    /// wijzigingsvolgnummer).
    pub sequence: Option<u64>,
    /// The institution the message is from or about (BRIN), when the format names one.
    pub institution: Option<String>,
    /// The `X-Message-Id` the message came with, when sent.
    pub message_id: Option<String>,
}

impl fmt::Debug for SimMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimMessage")
            .field("subject", &"<redacted>")
            .field("code", &self.code)
            .field("sequence", &self.sequence)
            .field("institution", &self.institution)
            .field("message_id", &self.message_id)
            .finish()
    }
}

/// What every simulator is built from: its HTTP server and its fault injector. The
/// [`Simulator`] trait's provided methods work through it.
#[derive(Debug, Clone, Copy)]
pub struct SimKit<'a> {
    /// The loopback server.
    pub server: &'a SimServer,
    /// The faults it injects.
    pub faults: &'a FaultInjector,
}

/// A running simulator of one partner, as the node, the demo, the benches and the tests see it.
/// A simulator implements what is its own (the partner, what it accepted) and [`Simulator::kit`];
/// the URL, the fault settings and shutdown come with the kit.
#[async_trait]
pub trait Simulator: Send + Sync + fmt::Debug {
    /// The partner simulated.
    fn partner(&self) -> Partner;
    /// Its server and fault injector.
    fn kit(&self) -> SimKit<'_>;
    /// The base URL, e.g. `http://127.0.0.1:40123`: what the partner's adapter takes as its
    /// endpoint.
    fn url(&self) -> String {
        self.kit().server.url()
    }
    /// The messages accepted (duplicates not included), in the order accepted.
    fn messages(&self) -> Vec<SimMessage>;
    /// How many messages were accepted, without copying them: for polling.
    fn received_count(&self) -> usize;
    /// How many messages were answered as accepted but ignored as duplicates.
    fn duplicates(&self) -> usize;
    /// How many requests reached the partner's interface (faulted ones included).
    fn requests(&self) -> usize {
        self.kit().faults.requests()
    }
    /// Replaces the faults.
    fn set_faults(&self, faults: SimFaults) {
        self.kit().faults.set(faults);
    }
    /// Stops the server: hanging requests end, open connections close; waits until stopped.
    async fn shutdown(&self) {
        self.kit().server.shutdown().await;
    }
}

struct FaultState {
    faults: SimFaults,
    requests: usize,
    rng: u64,
}

impl FaultState {
    /// The next number of a fixed-seed xorshift sequence, in 0..1.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a fault check decided.
enum Fault {
    Hang,
    TooMany,
    Fail,
    Unauthorized,
}

/// The fault engine of a simulator: counts requests and applies [`SimFaults`] in their order.
pub struct FaultInjector {
    state: Mutex<FaultState>,
}

impl fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjector")
            .field("faults", &self.lock().faults)
            .finish_non_exhaustive()
    }
}

impl FaultInjector {
    /// An injector with these faults.
    pub fn new(faults: SimFaults) -> Self {
        Self {
            state: Mutex::new(FaultState {
                faults,
                requests: 0,
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the faults.
    pub fn set(&self, faults: SimFaults) {
        self.lock().faults = faults;
    }

    /// Whether the next push must be dropped (`drop_pushes_next`), counting it down.
    pub fn drop_push(&self) -> bool {
        let mut s = self.lock();
        if s.faults.drop_pushes_next > 0 {
            s.faults.drop_pushes_next -= 1;
            true
        } else {
            false
        }
    }

    /// How many requests were checked.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Checks one request: waits the latency, then answers it with a fault (`Err`), or lets it
    /// through (`Ok`) with the codes to refuse. A hanging request waits for `stop`.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        stop: &CancellationToken,
    ) -> Result<Vec<String>, Response> {
        let (latency, fault, reject) = {
            let mut s = self.lock();
            s.requests += 1;
            let latency = Duration::from_millis(s.faults.latency_ms);
            let authorized = match &s.faults.require_bearer {
                None => true,
                Some(token) => headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .is_some_and(|t| t == token),
            };
            let fault = if !authorized {
                Some(Fault::Unauthorized)
            } else if s.faults.timeout_next > 0 {
                s.faults.timeout_next -= 1;
                Some(Fault::Hang)
            } else if s.faults.too_many_next > 0 {
                s.faults.too_many_next -= 1;
                Some(Fault::TooMany)
            } else if s.faults.fail_next > 0 {
                s.faults.fail_next -= 1;
                Some(Fault::Fail)
            } else {
                let rate = s.faults.fail_rate.clamp(0.0, 1.0);
                (rate > 0.0 && s.next_unit() < rate).then_some(Fault::Fail)
            };
            (latency, fault, s.faults.reject_statuses.clone())
        };
        if !latency.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(latency) => {}
                () = stop.cancelled() => {}
            }
        }
        match fault {
            None => Ok(reject),
            Some(Fault::Hang) => {
                stop.cancelled().await;
                Err(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "the simulator stopped",
                    None,
                ))
            }
            Some(Fault::TooMany) => {
                let mut r = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "slow down",
                    None,
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                Err(r)
            }
            Some(Fault::Fail) => Err(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "temporarily unavailable",
                None,
            )),
            Some(Fault::Unauthorized) => Err(problem(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required",
                None,
            )),
        }
    }
}

/// A problem-details (RFC 9457) answer with an error code and, when known, the field.
pub fn problem(status: StatusCode, code: &str, detail: &str, field: Option<&str>) -> Response {
    let mut body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    if let (Some(field), Some(obj)) = (field, body.as_object_mut()) {
        obj.insert("field".to_owned(), json!(field));
    }
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Whether the request says its body is `media` (parameters such as `charset` ignored).
pub fn has_content_type(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim() == media))
}

/// A simulator's HTTP server on loopback. Dropping it stops it too.
pub struct SimServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for SimServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimServer {
    /// Serves `router` on `addr` (`127.0.0.1:0` picks a free port) until `cancel` fires or
    /// [`SimServer::shutdown`] is called. `name` names the simulator in a log line if serving
    /// fails.
    pub async fn spawn(
        name: &'static str,
        addr: SocketAddr,
        router: Router,
        cancel: CancellationToken,
    ) -> Result<Self, io::Error> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(simulator = name, error = %e, "simulator stopped");
            }
        });
        Ok(Self {
            addr,
            cancel,
            task: Mutex::new(Some(task)),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until it stopped.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

//! Simulators of the VA partners: the mbo koppelpunt, Intergrip, Digidoor, Voroc and the
//! koppelpunt gemeenten, each an HTTP server that accepts exactly what a
//! [`VaAdapter`](crate::va::VaAdapter) sends — a JSON page `{"items":[…]}` POSTed to the
//! partner's path ([`VaPartner::path`]) — validates it with [`va::parse_page`], and records it.
//!
//! Like the real receivers it deduplicates: per pgn it keeps the highest wijzigingsvolgnummer; a
//! lower or equal one is answered 200 but only counted ([`VaSimulator::duplicates`]). Faults
//! ([`SimFaults`]) come from configuration and can be changed while it runs.
//!
//! `GET /_sim/received` returns a summary for demos: per accepted item its wijzigingsvolgnummer,
//! status code, BRIN, crebo, municipality (gemeenten only) and a keyed hash of the pgn — never
//! the number itself.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use knooppunt_mappings::va::{self, VaStatus};
use knooppunt_registry::reference::GemeenteCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::va::VaPartner;

/// Faults a simulator injects, in this order per request: `latency_ms`, then the first of
/// `require_bearer`, `timeout_next`, `too_many_next`, `fail_next`, `fail_rate` that applies,
/// then (for a valid page) `reject_statuses`. Serde, so it can come from a TOML or JSON configuration; every field
/// defaults to "no fault".
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
    /// VA status codes (e.g. `"LI"`) answered `422` with the error code `status_geweigerd`.
    pub reject_statuses: Vec<String>,
    /// The next n requests are answered `429 Too Many Requests` with `Retry-After: 1`.
    pub too_many_next: u32,
    /// When set, requests without `Authorization: Bearer <this token>` are answered `401`.
    pub require_bearer: Option<String>,
}

/// One item the simulator accepted (not a duplicate), in the order accepted. The status holds
/// the pgn (the partner legitimately receives it); its `Debug` is redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The status as parsed.
    pub status: VaStatus,
    /// The municipality from the path (koppelpunt gemeenten only).
    pub gemeente: Option<GemeenteCode>,
    /// The `X-Message-Id` header, when sent.
    pub message_id: Option<String>,
}

#[derive(Debug)]
struct SimState {
    faults: SimFaults,
    received: Vec<Received>,
    highest: HashMap<String, u64>,
    duplicates: usize,
    requests: usize,
    rng: u64,
}

impl SimState {
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

struct Shared {
    partner: VaPartner,
    state: Mutex<SimState>,
    cancel: CancellationToken,
    pgn_key: [u8; 32],
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pgn_hash(&self, pgn: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.pgn_key).expect("HMAC takes any key");
        mac.update(pgn.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// A running VA partner simulator. Shut it down with [`VaSimulator::shutdown`] (dropping it
/// also stops it).
pub struct VaSimulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for VaSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaSimulator")
            .field("partner", &self.shared.partner)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl VaSimulator {
    /// Starts a simulator of `partner` on `addr` (`127.0.0.1:0` picks a free port) with `faults`.
    pub async fn spawn(
        partner: VaPartner,
        addr: SocketAddr,
        faults: SimFaults,
    ) -> Result<VaSimulator, io::Error> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut pgn_key = [0u8; 32];
        pgn_key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        pgn_key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let shared = Arc::new(Shared {
            partner,
            state: Mutex::new(SimState {
                faults,
                received: Vec::new(),
                highest: HashMap::new(),
                duplicates: 0,
                requests: 0,
                rng: 0x9E37_79B9_7F4A_7C15,
            }),
            cancel: CancellationToken::new(),
            pgn_key,
        });
        let path = partner.path(None);
        let router = match partner {
            VaPartner::Gemeenten => Router::new().route(&path, post(accept_gemeente)),
            _ => Router::new().route(&path, post(accept)),
        }
        .route("/_sim/received", get(summary))
        .with_state(shared.clone());
        let cancel = shared.cancel.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "va simulator stopped");
            }
        });
        Ok(VaSimulator {
            shared,
            addr,
            task: Mutex::new(Some(task)),
        })
    }

    /// The partner simulated.
    pub fn partner(&self) -> VaPartner {
        self.shared.partner
    }

    /// The base URL, e.g. `http://127.0.0.1:40123` (what a `VaAdapter` takes as endpoint).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The statuses accepted (duplicates not included), in the order accepted.
    pub fn received(&self) -> Vec<VaStatus> {
        self.shared
            .lock()
            .received
            .iter()
            .map(|r| r.status.clone())
            .collect()
    }

    /// The items accepted with what came with them (municipality, message id), in order.
    pub fn received_items(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// How many items were accepted (what [`VaSimulator::received`] would return), without
    /// copying them: for polling until a partner has everything.
    pub fn received_count(&self) -> usize {
        self.shared.lock().received.len()
    }

    /// How many items were answered 200 but ignored because their pgn already had an equal or
    /// higher wijzigingsvolgnummer.
    pub fn duplicates(&self) -> usize {
        self.shared.lock().duplicates
    }

    /// How many requests reached the status path (faulted ones included).
    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: SimFaults) {
        self.shared.lock().faults = faults;
    }

    /// Stops the server: hanging requests end, open connections close; waits until it stopped.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
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

impl Drop for VaSimulator {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

/// A problem-details (RFC 9457) answer with an error code and, when known, the field.
fn problem(status: StatusCode, code: &str, detail: &str, field: Option<&str>) -> Response {
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

/// The field a mapping error is about; for serde's "missing field `x`" at `items[i]`, the
/// full path `items[i].x`.
fn error_field(e: &knooppunt_mappings::MappingError) -> String {
    use knooppunt_mappings::MappingError as E;
    match e {
        E::Invalid { field, reason } => {
            let missing = reason
                .strip_prefix("missing field `")
                .and_then(|r| r.split('`').next());
            match missing {
                Some(name) => format!("{field}.{name}"),
                None => field.clone(),
            }
        }
        E::Malformed { .. } | E::TooLarge { .. } | E::InvalidUtf8 { .. } => "body".to_owned(),
        other => other.field().unwrap_or("body").to_owned(),
    }
}

async fn accept_gemeente(
    State(shared): State<Arc<Shared>>,
    Path(gemeente): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match gemeente.parse::<GemeenteCode>() {
        Ok(code) => handle(&shared, Some(code), &headers, &body).await,
        Err(_) => problem(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "not a CBS gemeentecode (4 digits)",
            Some("gemeente"),
        ),
    }
}

async fn accept(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&shared, None, &headers, &body).await
}

/// What a fault check decided.
enum Fault {
    Hang,
    TooMany,
    Fail,
    Unauthorized,
}

async fn handle(
    shared: &Shared,
    gemeente: Option<GemeenteCode>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let (latency, fault, reject) = {
        let mut s = shared.lock();
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
            () = shared.cancel.cancelled() => {}
        }
    }
    match fault {
        Some(Fault::Hang) => {
            shared.cancel.cancelled().await;
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the simulator stopped",
                None,
            );
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
            return r;
        }
        Some(Fault::Fail) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "temporarily unavailable",
                None,
            );
        }
        Some(Fault::Unauthorized) => {
            return problem(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required",
                None,
            );
        }
        None => {}
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim() == "application/json")
        });
    if !json {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected application/json",
            None,
        );
    }
    let items = match va::parse_page(body) {
        Ok(items) => items,
        Err(e) => {
            let field = error_field(&e);
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                &format!("invalid page at {field}"),
                Some(&field),
            );
        }
    };
    if items.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "a page holds at least one item",
            Some("items"),
        );
    }
    if let Some(i) = items
        .iter()
        .position(|s| reject.iter().any(|c| c == va::status_code(s.status)))
    {
        let field = format!("items[{i}].status");
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "status_geweigerd",
            "this status is not accepted",
            Some(&field),
        );
    }
    let message_id = headers
        .get("x-message-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = shared.lock();
    let (mut accepted, mut duplicates) = (0u32, 0u32);
    for status in items {
        let pgn = status.pgn.digits().to_owned();
        let highest = s.highest.get(&pgn).copied();
        if highest.is_some_and(|h| status.wijzigingsvolgnummer <= h) {
            s.duplicates += 1;
            duplicates += 1;
            continue;
        }
        s.highest.insert(pgn, status.wijzigingsvolgnummer);
        s.received.push(Received {
            status,
            gemeente: gemeente.clone(),
            message_id: message_id.clone(),
        });
        accepted += 1;
    }
    (
        StatusCode::OK,
        axum::Json(json!({ "verwerkt": accepted, "dubbel": duplicates })),
    )
        .into_response()
}

async fn summary(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.lock();
    let items: Vec<serde_json::Value> = s
        .received
        .iter()
        .map(|r| {
            json!({
                "wijzigingsvolgnummer": r.status.wijzigingsvolgnummer,
                "status": va::status_code(r.status.status),
                "brin": r.status.brin.to_string(),
                "crebo": r.status.crebo.to_string(),
                "gemeente": r.gemeente.as_ref().map(GemeenteCode::as_str),
                "pgnHash": shared.pgn_hash(r.status.pgn.digits()),
            })
        })
        .collect();
    axum::Json(json!({
        "partner": shared.partner.name(),
        "items": items,
        "duplicates": s.duplicates,
        "requests": s.requests,
    }))
    .into_response()
}

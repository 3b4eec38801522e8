//! Simulators of the VA partners: the mbo koppelpunt, Intergrip, Digidoor, Voroc and the
//! koppelpunt gemeenten, each an HTTP server that accepts exactly what a
//! [`VaAdapter`](crate::va::VaAdapter) sends — a JSON page `{"items":[…]}` POSTed to the
//! partner's path ([`VaPartner::path`]) — validates it with [`va::parse_page`], and records it.
//!
//! Like the real receivers it deduplicates: per pgn it keeps the highest wijzigingsvolgnummer; a
//! lower or equal one is answered 200 but only counted ([`Simulator::duplicates`]). Faults
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

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use knooppunt_mappings::va::{self, VaStatus};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::GemeenteCode;
use serde_json::json;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::sim::{
    FaultInjector, SimFaults, SimKit, SimMessage, SimServer, Simulator, has_content_type, problem,
};
use crate::va::VaPartner;

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

#[derive(Debug, Default)]
struct SimState {
    received: Vec<Received>,
    highest: HashMap<String, u64>,
    duplicates: usize,
}

struct Shared {
    partner: VaPartner,
    state: Mutex<SimState>,
    faults: FaultInjector,
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

/// A running VA partner simulator. Shut it down with [`Simulator::shutdown`] (dropping it
/// also stops it).
pub struct VaSimulator {
    shared: Arc<Shared>,
    server: SimServer,
}

impl fmt::Debug for VaSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaSimulator")
            .field("partner", &self.shared.partner)
            .field("addr", &self.server.addr())
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
        let mut pgn_key = [0u8; 32];
        pgn_key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        pgn_key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            partner,
            state: Mutex::new(SimState::default()),
            faults: FaultInjector::new(faults),
            cancel: cancel.clone(),
            pgn_key,
        });
        let path = partner.path(None);
        let router = match partner {
            VaPartner::Gemeenten => Router::new().route(&path, post(accept_gemeente)),
            _ => Router::new().route(&path, post(accept)),
        }
        .route("/_sim/received", get(summary))
        .with_state(shared.clone());
        let server = SimServer::spawn("va", addr, router, cancel).await?;
        Ok(VaSimulator { shared, server })
    }

    /// The VA recipient simulated. (What every simulator offers — URL, counts, faults,
    /// shutdown — is the [`Simulator`] trait.)
    pub fn recipient(&self) -> VaPartner {
        self.shared.partner
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
}

#[async_trait]
impl Simulator for VaSimulator {
    fn partner(&self) -> Partner {
        self.shared.partner.partner()
    }

    fn kit(&self) -> SimKit<'_> {
        SimKit {
            server: &self.server,
            faults: &self.shared.faults,
        }
    }

    fn messages(&self) -> Vec<SimMessage> {
        self.shared
            .lock()
            .received
            .iter()
            .map(|r| SimMessage {
                subject: r.status.pgn.digits().to_owned(),
                code: va::status_code(r.status.status).to_owned(),
                sequence: Some(r.status.wijzigingsvolgnummer),
                institution: Some(r.status.brin.to_string()),
                message_id: r.message_id.clone(),
            })
            .collect()
    }

    fn received_count(&self) -> usize {
        self.shared.lock().received.len()
    }

    /// Items answered 200 but ignored because their pgn already had an equal or higher
    /// wijzigingsvolgnummer.
    fn duplicates(&self) -> usize {
        self.shared.lock().duplicates
    }
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

async fn handle(
    shared: &Shared,
    gemeente: Option<GemeenteCode>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let reject = match shared.faults.check(headers, &shared.cancel).await {
        Ok(reject) => reject,
        Err(fault) => return fault,
    };
    if !has_content_type(headers, "application/json") {
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
        "requests": shared.faults.requests(),
    }))
    .into_response()
}

//! The signing provider simulator: a Signhost-style REST JSON server that takes exactly what a
//! [`SigningAdapter`](crate::signing::SigningAdapter) sends and plays the signers.
//!
//! Provider interface (faults from [`SimFaults`] apply to these):
//! - `POST /api/transaction` — creates a transaction from the mapping's create body (checked:
//!   `Reference`, `PostbackUrl`, `DaysToExpire`, `Signers[].Id`, each named in a `400` problem
//!   when wrong); answers `201` with the transaction (`Status` 10, waiting for signer; document
//!   upload and start are not simulated). The same `X-Message-Id` again answers the same
//!   transaction (counted as a duplicate);
//! - `GET /api/transaction/{id}` — the transaction's status (what the poller asks);
//! - `DELETE /api/transaction/{id}` — cancels it (status 60) and posts back.
//!
//! The signers' side, for a test or a person in the sandbox (no faults):
//! - `POST /_sim/transactions/{id}/sign` and `…/reject` with `{"signer": "<role>"}`;
//! - `POST /_sim/transactions/{id}/expire`;
//! - `GET /_sim/transactions` — every transaction: id, reference, status, who signed;
//! - `GET /_sim/received` — the summary every simulator serves.
//!
//! Every change is posted back to the transaction's `PostbackUrl` as the provider would: the
//! transaction JSON, signed with `X-Knooppunt-Signature: sha256=<HMAC-SHA256(secret, body)>`.
//! `drop_pushes_next` loses the next postbacks (the poller must catch up); a postback that fails
//! is not sent again (the poller catches that too).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use knooppunt_mappings::signing;
use knooppunt_registry::partner::Partner;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::receiver::{SIGNATURE_HEADER, signature};
use crate::partners::Secret;
use crate::sim::{
    FaultInjector, SimFaults, SimKit, SimMessage, SimServer, Simulator, has_content_type, problem,
};

/// Where transactions are created (relative to the provider's base URL); `/{id}` for one.
pub const TRANSACTION_PATH: &str = "/api/transaction";

/// The media type of the provider's messages.
pub const JSON: &str = "application/json";

#[derive(Debug, Clone)]
struct SimSigner {
    rol: String,
    signed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct SimTransaction {
    id: String,
    reference: String,
    postback_url: String,
    status: u16,
    signers: Vec<SimSigner>,
    message_id: Option<String>,
}

impl SimTransaction {
    fn body(&self) -> String {
        let signers: Vec<Value> = self
            .signers
            .iter()
            .map(|s| match s.signed {
                Some(t) => json!({
                    "Id": s.rol,
                    "SignedDateTime": t.to_rfc3339_opts(SecondsFormat::Secs, true),
                }),
                None => json!({ "Id": s.rol }),
            })
            .collect();
        json!({
            "Id": self.id,
            "Status": self.status,
            "Reference": self.reference,
            "Signers": signers,
        })
        .to_string()
    }

    fn is_final(&self) -> bool {
        self.status >= 30
    }
}

#[derive(Default)]
struct SimState {
    transactions: Vec<SimTransaction>,
    by_message: HashMap<String, usize>,
    duplicates: usize,
    postbacks: Vec<u16>,
    dropped: usize,
}

struct Shared {
    state: Mutex<SimState>,
    faults: FaultInjector,
    cancel: CancellationToken,
    secret: Secret,
    client: reqwest::Client,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Posts the transaction back as the provider would; returns the receiver's status, or
    /// `None` when it was dropped (a fault) or could not be delivered.
    async fn post_back(&self, t: &SimTransaction) -> Option<u16> {
        if self.faults.drop_push() {
            self.lock().dropped += 1;
            return None;
        }
        let body = t.body();
        let sent = self
            .client
            .post(&t.postback_url)
            .header(header::CONTENT_TYPE, JSON)
            .header(
                SIGNATURE_HEADER,
                signature(self.secret.expose(), body.as_bytes()),
            )
            .body(body)
            .send()
            .await;
        let status = match sent {
            Ok(r) => r.status().as_u16(),
            Err(e) => {
                tracing::info!(error = %e, "signing simulator: postback not delivered");
                0
            }
        };
        self.lock().postbacks.push(status);
        (status != 0).then_some(status)
    }
}

/// A running signing provider simulator. Shut it down with [`Simulator::shutdown`] (dropping it
/// also stops it).
pub struct SigningSimulator {
    shared: Arc<Shared>,
    server: SimServer,
}

impl fmt::Debug for SigningSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningSimulator")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl SigningSimulator {
    /// Starts a simulator on `addr` (`127.0.0.1:0` picks a free port) with `faults`, signing its
    /// postbacks with `secret` (the one Knooppunt's receiver checks).
    pub async fn spawn_with_secret(
        addr: SocketAddr,
        faults: SimFaults,
        secret: Secret,
    ) -> Result<SigningSimulator, io::Error> {
        let cancel = CancellationToken::new();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(io::Error::other)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState::default()),
            faults: FaultInjector::new(faults),
            cancel: cancel.clone(),
            secret,
            client,
        });
        let router = Router::new()
            .route(TRANSACTION_PATH, post(create))
            .route(
                &format!("{TRANSACTION_PATH}/{{id}}"),
                get(status).delete(cancel_transaction),
            )
            .route("/_sim/transactions", get(list))
            .route("/_sim/transactions/{id}/sign", post(sign))
            .route("/_sim/transactions/{id}/reject", post(reject))
            .route("/_sim/transactions/{id}/expire", post(expire))
            .route("/_sim/received", get(summary))
            .with_state(shared.clone());
        let server = SimServer::spawn("signing", addr, router, cancel).await?;
        Ok(SigningSimulator { shared, server })
    }

    /// The transaction id of the agreement with this `Reference` (`ook:<uuid>`, `bpv:<uuid>`),
    /// the latest when there are several.
    pub fn transaction_for(&self, reference: &str) -> Option<String> {
        self.shared
            .lock()
            .transactions
            .iter()
            .rev()
            .find(|t| t.reference == reference)
            .map(|t| t.id.clone())
    }

    /// The status code of a transaction.
    pub fn status_of(&self, id: &str) -> Option<u16> {
        self.shared
            .lock()
            .transactions
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.status)
    }

    /// The roles of a transaction's signers, in order.
    pub fn signers_of(&self, id: &str) -> Vec<String> {
        self.shared
            .lock()
            .transactions
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.signers.iter().map(|s| s.rol.clone()).collect())
            .unwrap_or_default()
    }

    /// The receivers' answers to the postbacks sent (0: not delivered).
    pub fn postbacks(&self) -> Vec<u16> {
        self.shared.lock().postbacks.clone()
    }

    /// How many postbacks were dropped by the `drop_pushes_next` fault.
    pub fn dropped_postbacks(&self) -> usize {
        self.shared.lock().dropped
    }
}

#[async_trait]
impl Simulator for SigningSimulator {
    fn partner(&self) -> Partner {
        Partner::Signing
    }

    fn kit(&self) -> SimKit<'_> {
        SimKit {
            server: &self.server,
            faults: &self.shared.faults,
        }
    }

    /// One per transaction created: its `Reference` as the subject, its status code as the code.
    fn messages(&self) -> Vec<SimMessage> {
        self.shared
            .lock()
            .transactions
            .iter()
            .map(|t| SimMessage {
                subject: t.reference.clone(),
                code: t.status.to_string(),
                sequence: None,
                institution: None,
                message_id: t.message_id.clone(),
            })
            .collect()
    }

    fn received_count(&self) -> usize {
        self.shared.lock().transactions.len()
    }

    fn duplicates(&self) -> usize {
        self.shared.lock().duplicates
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireCreate {
    reference: Option<String>,
    postback_url: Option<String>,
    days_to_expire: Option<u16>,
    #[serde(default)]
    signers: Vec<WireSigner>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireSigner {
    id: Option<String>,
}

fn bad(field: &str, detail: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "invalid_field",
        detail,
        Some(field),
    )
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r
}

fn not_found() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "unknown_transaction",
        "no such transaction",
        Some("id"),
    )
}

async fn create(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(fault) = shared.faults.check(&headers, &shared.cancel).await {
        return fault;
    }
    if !has_content_type(&headers, JSON) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected application/json",
            None,
        );
    }
    let Ok(wire) = serde_json::from_slice::<WireCreate>(&body) else {
        return bad("body", "not a transaction");
    };
    let Some(reference) = wire.reference else {
        return bad("Reference", "required");
    };
    if signing::subject_of("Reference", &reference).is_err() {
        return bad("Reference", "expected ook:<uuid> or bpv:<uuid>");
    }
    let Some(postback_url) = wire
        .postback_url
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    else {
        return bad("PostbackUrl", "an URL is required");
    };
    if !wire.days_to_expire.is_some_and(|d| (1..=90).contains(&d)) {
        return bad("DaysToExpire", "1 to 90 days");
    }
    if wire.signers.is_empty() {
        return bad("Signers", "at least one signer");
    }
    let mut signers = Vec::new();
    for (i, s) in wire.signers.into_iter().enumerate() {
        match s.id.filter(|id| !id.is_empty()) {
            Some(rol) if !signers.iter().any(|x: &SimSigner| x.rol == rol) => {
                signers.push(SimSigner { rol, signed: None })
            }
            _ => {
                return bad(
                    &format!("Signers[{i}].Id"),
                    "a unique signer id is required",
                );
            }
        }
    }
    let message_id = headers
        .get("x-message-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = shared.lock();
    if let Some(id) = &message_id
        && let Some(&i) = s.by_message.get(id)
    {
        s.duplicates += 1;
        let body = s.transactions[i].body();
        return json_response(StatusCode::OK, body);
    }
    let t = SimTransaction {
        id: uuid::Uuid::new_v4().to_string(),
        reference,
        postback_url,
        status: 10,
        signers,
        message_id: message_id.clone(),
    };
    let body = t.body();
    s.transactions.push(t);
    let i = s.transactions.len() - 1;
    if let Some(id) = message_id {
        s.by_message.insert(id, i);
    }
    json_response(StatusCode::CREATED, body)
}

async fn status(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(fault) = shared.faults.check(&headers, &shared.cancel).await {
        return fault;
    }
    let s = shared.lock();
    match s.transactions.iter().find(|t| t.id == id) {
        Some(t) => json_response(StatusCode::OK, t.body()),
        None => not_found(),
    }
}

/// What a signer-side action does to a transaction.
enum Action {
    Sign(String),
    Reject(String),
    Expire,
    Cancel,
}

/// Applies `action` to transaction `id` and posts the result back.
async fn act(shared: &Shared, id: &str, action: Action) -> Response {
    let t = {
        let mut s = shared.lock();
        let Some(t) = s.transactions.iter_mut().find(|t| t.id == id) else {
            return not_found();
        };
        if t.is_final() {
            return problem(
                StatusCode::CONFLICT,
                "transaction_closed",
                "the transaction has a final status",
                Some("id"),
            );
        }
        match &action {
            Action::Sign(rol) | Action::Reject(rol) => {
                let Some(signer) = t.signers.iter_mut().find(|x| &x.rol == rol) else {
                    return problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unknown_signer",
                        "the transaction has no such signer",
                        Some("signer"),
                    );
                };
                if signer.signed.is_some() {
                    return problem(
                        StatusCode::CONFLICT,
                        "already_signed",
                        "this signer signed already",
                        Some("signer"),
                    );
                }
                if matches!(action, Action::Sign(_)) {
                    signer.signed = Some(Utc::now());
                    t.status = if t.signers.iter().all(|x| x.signed.is_some()) {
                        30
                    } else {
                        20
                    };
                } else {
                    t.status = 40;
                }
            }
            Action::Expire => t.status = 50,
            Action::Cancel => t.status = 60,
        }
        t.clone()
    };
    let postback = shared.post_back(&t).await;
    (
        StatusCode::OK,
        axum::Json(json!({ "Status": t.status, "postback": postback })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignerBody {
    signer: String,
}

fn signer_of(body: &[u8]) -> Result<String, Response> {
    serde_json::from_slice::<SignerBody>(body)
        .map(|b| b.signer)
        .map_err(|_| bad("signer", "expected {\"signer\": \"<role>\"}"))
}

async fn sign(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    match signer_of(&body) {
        Ok(rol) => act(&shared, &id, Action::Sign(rol)).await,
        Err(r) => r,
    }
}

async fn reject(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match signer_of(&body) {
        Ok(rol) => act(&shared, &id, Action::Reject(rol)).await,
        Err(r) => r,
    }
}

async fn expire(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    act(&shared, &id, Action::Expire).await
}

async fn cancel_transaction(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(fault) = shared.faults.check(&headers, &shared.cancel).await {
        return fault;
    }
    act(&shared, &id, Action::Cancel).await
}

async fn list(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.lock();
    let items: Vec<Value> = s
        .transactions
        .iter()
        .map(|t| serde_json::from_str::<Value>(&t.body()).unwrap_or(Value::Null))
        .collect();
    axum::Json(json!({ "transactions": items })).into_response()
}

async fn summary(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.lock();
    let items: Vec<Value> = s
        .transactions
        .iter()
        .map(|t| {
            json!({
                "reference": t.reference,
                "status": t.status,
                "signers": t.signers.len(),
                "signed": t.signers.iter().filter(|x| x.signed.is_some()).count(),
            })
        })
        .collect();
    axum::Json(json!({
        "partner": Partner::Signing.as_str(),
        "items": items,
        "postbacks": s.postbacks.len(),
        "droppedPostbacks": s.dropped,
        "duplicates": s.duplicates,
        "requests": shared.faults.requests(),
    }))
    .into_response()
}

//! Knooppunt's endpoint for the signing provider's postbacks, and the poller that asks the
//! provider about transactions it has not heard of for a while.
//!
//! **Postbacks.** The provider POSTs the transaction (JSON, the mapping's status format) to
//! `<receiver>/signing/v1/postback/<dossier key>` — the URL the adapter gave it. The body is
//! authenticated with `X-Knooppunt-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, the secret
//! shared through configuration (`partners.signing.receiver_secret`; see
//! `docs/partners/signing.md` for this assumption). The receiver answers:
//! - `401` for a missing or wrong signature (checked before anything is read);
//! - `415` for another media type; `400` naming the field for a body or dossier key it cannot
//!   read; `422` naming the field when the registry knows no such agreement in that dossier or
//!   the transaction belongs to another agreement;
//! - `503` when the store or the audit trail is unavailable (the provider posts again);
//! - `200` only after the registry committed every command of the postback.
//!
//! **One effect per fact.** Each signature and each status becomes a command whose id is derived
//! from the transaction, the signer's role or the status code: a postback sent twice, or a poll
//! reporting what a postback reported, is replayed by the registry, not applied again.
//!
//! **Polling.** The [`Poller`] runs beside the listener: every tick it asks the provider
//! (`GET /api/transaction/<id>`) for each pending transaction without news for `poll_after`, and
//! applies the answer like a postback. A provider that is down is asked again next tick.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use hmac::{Hmac, Mac};
use knooppunt_mappings::signing::{self, TransactionStatus};
use knooppunt_ops::{AuditEntry, AuditTrail, Hop};
use knooppunt_registry::domain::time::local_date;
use knooppunt_registry::domain::{
    BpvOndertekenaar, Command, Ondertekenwijze, OokOndertekenaar, Rejection, SigningSubject,
};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{Store, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Pending;
use super::simulator::{JSON, TRANSACTION_PATH};
use crate::partners::{BuildError, Settings};
use crate::partners::{Receiver, Secret};
use crate::receive::{PushListener, unavailable};
use crate::sim::{has_content_type, problem};

/// Where the provider posts back (relative to the receiver's URL), followed by `/<dossier key>`.
pub const POSTBACK_PATH: &str = "/signing/v1/postback";

/// Where the provider sends a signer back after signing (relative to the receiver's URL).
pub const RETURN_PATH: &str = "/signing/v1/klaar";

/// The header carrying `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-knooppunt-signature";

/// Namespace of the command ids derived from a transaction's facts.
const FACT_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_756e_7400_0000_0000_5167);

/// The signature header's value for `body` under `secret`: `sha256=<hex>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn verify(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(given) = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok())
    else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// What applying a transaction's state did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Commands the registry recorded now.
    pub recorded: usize,
    /// Commands it had recorded before (the same fact reported again).
    pub replayed: usize,
    /// Commands that changed nothing: already so (unchanged, already signed, the agreement or
    /// transaction already past that point), by the registry's rejection code.
    pub unchanged: Vec<&'static str>,
}

/// Why a transaction's state could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The registry refused a command for a reason that a resend does not change.
    #[error("refused by the registry: {code}")]
    Refused {
        /// The registry's rejection code.
        code: &'static str,
        /// The field of the postback it is about.
        field: String,
    },
    /// The store or the audit trail is unavailable: try again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Applies the provider's postbacks and poll answers to the registry, as the signing partner.
#[derive(Clone)]
pub struct PostbackHandler {
    store: Arc<dyn Store>,
    reference: Arc<ReferenceData>,
    audit: Arc<dyn AuditTrail>,
    secret: Secret,
    pending: Pending,
}

impl fmt::Debug for PostbackHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostbackHandler").finish_non_exhaustive()
    }
}

impl PostbackHandler {
    /// A handler recording in `store`, checking postbacks against `secret`, and noting news in
    /// `pending` (shared with the adapter and the poller).
    pub fn new(
        store: Arc<dyn Store>,
        reference: Arc<ReferenceData>,
        audit: Arc<dyn AuditTrail>,
        secret: Secret,
        pending: Pending,
    ) -> Self {
        Self {
            store,
            reference,
            audit,
            secret,
            pending,
        }
    }

    /// The transactions waiting for an outcome.
    pub fn pending(&self) -> &Pending {
        &self.pending
    }

    /// The router: the postback route and the signer's return page.
    pub fn router(self) -> Router {
        Router::new()
            .route(&format!("{POSTBACK_PATH}/{{dossier}}"), post(receive))
            .route(RETURN_PATH, get(klaar))
            .with_state(Arc::new(self))
    }

    /// Takes one postback for `dossier`: the HTTP answer the provider gets.
    pub async fn handle(&self, dossier: &str, headers: &HeaderMap, body: &[u8]) -> Response {
        if !verify(self.secret.expose(), headers, body) {
            return problem(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "the postback's signature is missing or wrong",
                Some(SIGNATURE_HEADER),
            );
        }
        if !has_content_type(headers, JSON) {
            return problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected application/json",
                None,
            );
        }
        let Ok(dossier) = dossier.parse::<Uuid>().map(DossierKey) else {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "the postback URL holds no dossier key",
                Some("dossier"),
            );
        };
        let status = match signing::parse_status(body) {
            Ok(s) => s,
            Err(e) => {
                let field = e.field().unwrap_or("body").to_owned();
                return problem(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    &format!("invalid postback at {field}"),
                    Some(&field),
                );
            }
        };
        // The postback's own id: its body, hashed (the provider gives none).
        let message = Uuid::new_v5(&FACT_NAMESPACE, &Sha256::digest(body));
        match self.apply(dossier, &status, message, POSTBACK_PATH).await {
            Ok(applied) => (
                StatusCode::OK,
                axum::Json(json!({
                    "vastgelegd": applied.recorded,
                    "herhaald": applied.replayed,
                    "ongewijzigd": applied.unchanged,
                })),
            )
                .into_response(),
            Err(ApplyError::Refused { code, field }) => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "the registry refused the postback",
                Some(&field),
            ),
            Err(ApplyError::Unavailable(_)) => unavailable(),
        }
    }

    /// The commands a transaction's state means, each with its id (one per fact): a signature
    /// per signer that signed, then the status.
    fn commands(
        dossier: DossierKey,
        t: &TransactionStatus,
    ) -> Result<Vec<(Uuid, Command, String)>, ApplyError> {
        let wijze = Ondertekenwijze::Digitaal {
            transactie: t.transactie.clone(),
        };
        let subject = signing::reference(&t.subject);
        let mut out = Vec::new();
        for (i, (rol, at)) in t.getekend.iter().enumerate() {
            let field = format!("Signers[{i}].Id");
            let unknown = || ApplyError::Refused {
                code: "unknown_signer",
                field: field.clone(),
            };
            let datum = local_date(*at);
            let command = match t.subject {
                SigningSubject::Ook(ook) => {
                    let who = match rol.as_str() {
                        "student" => OokOndertekenaar::Student,
                        "ouder" => OokOndertekenaar::Ouder,
                        "instelling" => OokOndertekenaar::Instelling,
                        _ => return Err(unknown()),
                    };
                    Command::SignOnderwijsovereenkomst {
                        ook,
                        ondertekenaars: [who].into(),
                        wijze: wijze.clone(),
                        datum,
                    }
                }
                SigningSubject::Bpv(bpv) => {
                    let who = match rol.as_str() {
                        "student" => BpvOndertekenaar::Student,
                        "school" => BpvOndertekenaar::School,
                        "leerbedrijf" => BpvOndertekenaar::Leerbedrijf,
                        _ => return Err(unknown()),
                    };
                    Command::SignPraktijkovereenkomst {
                        bpv,
                        ondertekenaars: [who].into(),
                        wijze: wijze.clone(),
                        datum,
                    }
                }
            };
            let id = format!("{dossier}:{}:{subject}:sign:{rol}", t.transactie);
            out.push((Uuid::new_v5(&FACT_NAMESPACE, id.as_bytes()), command, field));
        }
        let id = format!(
            "{dossier}:{}:{subject}:status:{}",
            t.transactie,
            t.status.code()
        );
        out.push((
            Uuid::new_v5(&FACT_NAMESPACE, id.as_bytes()),
            signing::to_command(t),
            "Status".to_owned(),
        ));
        Ok(out)
    }

    /// Applies what the provider reports about a transaction (a postback, or a poll's answer) to
    /// the dossier, and audits it on the chain of `message` (hop `received`, endpoint `source`:
    /// the postback path or the provider's transaction path).
    pub async fn apply(
        &self,
        dossier: DossierKey,
        t: &TransactionStatus,
        message: Uuid,
        source: &str,
    ) -> Result<Applied, ApplyError> {
        let commands = Self::commands(dossier, t)?;
        let mut applied = Applied {
            recorded: 0,
            replayed: 0,
            unchanged: Vec::new(),
        };
        let mut refused = None;
        for (id, command, field) in commands {
            let mut meta = CommandMeta::new(
                dossier,
                Actor::Partner {
                    partner: Partner::Signing,
                },
                Utc::now(),
            );
            meta.id = id;
            meta.correlation_id = message;
            meta.causation_id = message;
            let outcome = self
                .store
                .execute(meta, command, &self.reference)
                .await
                .map_err(|e: StoreError| {
                    tracing::warn!(error = %e, "signing postback: store unavailable");
                    ApplyError::Unavailable(e.to_string())
                })?;
            match outcome.result {
                Ok(_) if outcome.replayed => applied.replayed += 1,
                Ok(_) => applied.recorded += 1,
                // Already so: signed before (on paper too), the same status, or past that point.
                Err(
                    r @ (Rejection::Unchanged
                    | Rejection::AlreadySigned { .. }
                    | Rejection::InvalidTransition { .. }),
                ) => applied.unchanged.push(r.code()),
                Err(r) => {
                    let field = match r {
                        Rejection::UnknownOok { .. } | Rejection::UnknownBpv { .. } => {
                            "Reference".to_owned()
                        }
                        Rejection::DossierNotFound => "dossier".to_owned(),
                        _ => field,
                    };
                    refused = Some((r.code(), field));
                    break;
                }
            }
        }
        let mut entry =
            AuditEntry::for_message(message, Hop::Received).partner(Partner::Signing.as_str());
        entry.endpoint = Some(source.to_owned());
        entry.subject = Some(dossier);
        entry.status = Some(match &refused {
            Some(_) => "refused".to_owned(),
            None => format!("status_{}", t.status.code()),
        });
        entry.reason = refused.as_ref().map(|(code, _)| (*code).to_owned());
        self.audit.append(entry).await.map_err(|e| {
            tracing::warn!(error = %e, "signing postback: audit trail unavailable");
            ApplyError::Unavailable(e.to_string())
        })?;
        if let Some((code, field)) = refused {
            return Err(ApplyError::Refused { code, field });
        }
        self.pending
            .note(&t.transactie, dossier, t.subject, t.status.is_final());
        Ok(applied)
    }
}

async fn receive(
    State(handler): State<Arc<PostbackHandler>>,
    Path(dossier): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handler.handle(&dossier, &headers, &body).await
}

/// Where a signer lands after signing: a page without data.
async fn klaar() -> Response {
    (
        StatusCode::OK,
        "Bedankt. U kunt dit venster sluiten. / Thank you, you can close this window.\n",
    )
        .into_response()
}

/// Asks the provider about transactions without news for `poll_after`, and applies the answers.
#[derive(Clone)]
pub struct Poller {
    base: String,
    client: reqwest::Client,
    handler: PostbackHandler,
    poll_after: Duration,
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("base", &self.base)
            .field("poll_after", &self.poll_after)
            .finish_non_exhaustive()
    }
}

/// What one poll round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollRound {
    /// Transactions asked about.
    pub asked: usize,
    /// Answers applied (something recorded, or already known).
    pub applied: usize,
    /// Transactions the provider could not be asked about now (down, timeout, 5xx): next round.
    pub failed: usize,
}

impl Poller {
    /// A poller asking the provider at `endpoint` with `client`, applying answers with `handler`.
    pub fn new(
        endpoint: String,
        client: reqwest::Client,
        handler: PostbackHandler,
        poll_after: Duration,
    ) -> Self {
        Self {
            base: endpoint.trim_end_matches('/').to_owned(),
            client,
            handler,
            poll_after,
        }
    }

    /// How long between rounds: a quarter of `poll_after`, at least 20 ms.
    pub fn tick(&self) -> Duration {
        (self.poll_after / 4).max(Duration::from_millis(20))
    }

    /// One round: asks about every transaction without news for `poll_after`.
    pub async fn poll_once(&self) -> PollRound {
        let mut round = PollRound::default();
        for (transactie, pending) in self.handler.pending.due(self.poll_after) {
            round.asked += 1;
            let url = format!("{}{TRANSACTION_PATH}/{transactie}", self.base);
            let answer = match self.client.get(&url).send().await {
                Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                Ok(r) => {
                    tracing::info!(
                        status = r.status().as_u16(),
                        "signing poll: provider answered"
                    );
                    None
                }
                Err(e) => {
                    tracing::info!(error = %e, "signing poll: provider unreachable");
                    None
                }
            };
            let Some(body) = answer else {
                round.failed += 1;
                continue;
            };
            let t = match signing::parse_status(&body) {
                Ok(t) if t.transactie == transactie && t.subject == pending.subject => t,
                Ok(_) | Err(_) => {
                    tracing::warn!(
                        "signing poll: an answer about another transaction, or unreadable"
                    );
                    round.failed += 1;
                    continue;
                }
            };
            let message = Uuid::new_v5(&FACT_NAMESPACE, &Sha256::digest(&body));
            match self
                .handler
                .apply(pending.dossier, &t, message, "poll")
                .await
            {
                Ok(_) => round.applied += 1,
                Err(ApplyError::Refused { code, .. }) => {
                    // A resend would be refused the same way: stop asking.
                    tracing::warn!(code, "signing poll: the registry refused the answer");
                    self.handler
                        .pending
                        .note(&transactie, pending.dossier, pending.subject, true);
                    round.failed += 1;
                }
                Err(ApplyError::Unavailable(_)) => round.failed += 1,
            }
        }
        round
    }

    /// Polls every [`Poller::tick`] until `stop` fires.
    pub async fn run(self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.tick()) => {}
            }
            let _ = self.poll_once().await;
        }
    }
}

/// The postback listener (the receivers' kit, [`PushListener`]) and the poller beside it.
/// Dropping it stops the listener.
pub struct PostbackReceiver {
    listener: PushListener,
    stop: CancellationToken,
    poller: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for PostbackReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostbackReceiver")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl PostbackReceiver {
    /// Serves `handler` where `settings` say ([`PushListener::spawn`]) and runs `poller` beside
    /// it.
    pub async fn spawn(
        handler: PostbackHandler,
        poller: Option<Poller>,
        settings: &Settings,
    ) -> Result<Self, BuildError> {
        let listener = PushListener::spawn(
            Partner::Signing,
            "signing-postbacks",
            handler.router(),
            settings,
            POSTBACK_PATH,
        )
        .await?;
        let stop = CancellationToken::new();
        let task = poller.map(|p| tokio::spawn(p.run(stop.clone())));
        Ok(Self {
            listener,
            stop,
            poller: Mutex::new(task),
        })
    }

    /// The receiver's base URL (the adapter adds [`POSTBACK_PATH`] and [`RETURN_PATH`]).
    pub fn base_url(&self) -> String {
        self.listener.base_url()
    }
}

impl Drop for PostbackReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[async_trait]
impl Receiver for PostbackReceiver {
    fn partner(&self) -> Partner {
        Partner::Signing
    }

    fn url(&self) -> String {
        self.listener.delivery_address()
    }

    async fn shutdown(&self) {
        self.stop.cancel();
        let task = self
            .poller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.listener.shutdown().await;
    }
}

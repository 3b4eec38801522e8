//! The signing provider (`docs/partners/signing.md`, `domain.md` §6): OOK and BPVO signatures.
//!
//! When an onderwijsovereenkomst is offered (`nl.knooppunt.onderwijsovereenkomst.aangeboden.v1`)
//! or SBB recognised the leerbedrijf of a praktijkovereenkomst
//! (`nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.v1` with `erkend`), the
//! [`SigningAdapter`] creates a signing transaction at the provider — `POST` [`TRANSACTION_PATH`]
//! in the mapping's format (`knooppunt_mappings::signing`) — with one signer per party that must
//! sign: the student, a parent when the registry says so (`ouder_tekent`, the student may be a
//! minor), and the institution; for a BPVO the student, the school and the leerbedrijf. It
//! answers with `RecordSigningStatus` (the transaction id and its status), executed as
//! `Actor::Partner { partner: Signing }`. It sends no contact data: the signers are created in
//! the provider's direct flow (no e-mail), see [`signers`].
//!
//! What happens next reaches the registry two ways, with one effect per fact:
//! - the provider's **postbacks** arrive at the [`PostbackReceiver`] (`receiver.rs`),
//!   authenticated with an HMAC over the body;
//! - the [`Poller`] asks the provider for every transaction it has had no news about for
//!   `poll_after`, so a lost postback is caught.
//!
//! Both hand the transaction to [`PostbackHandler::apply`], which records each signature
//! (`SignOnderwijsovereenkomst` / `SignPraktijkovereenkomst`, digital with the transaction id)
//! and the transaction's status (`RecordSigningStatus`: signed, rejected, expired, cancelled,
//! failed). A rejected, expired or cancelled transaction leaves the agreement offered: the
//! institution can still record the signatures on paper. The [`SigningSimulator`] plays the
//! provider on loopback.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use knooppunt_mappings::signing::{self, CreateTransaction, Signer};
use knooppunt_registry::domain::{Event, SbbCheck, SigningSubject};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::EventEnvelope;
use tokio::time::Instant;

use crate::partners::{self, BuildError, Built, PartnerContext, PartnerPlugin, Secret, Settings};
use crate::{Adapter, Mode, Outcome, PermanentClass};

pub mod classify;
mod receiver;
pub mod simulator;

pub use receiver::{
    Applied, POSTBACK_PATH, Poller, PostbackHandler, PostbackReceiver, RETURN_PATH,
    SIGNATURE_HEADER, signature,
};
pub use simulator::{JSON, SigningSimulator, TRANSACTION_PATH};

/// The topic patterns the adapter consumes: an OOK offered, a BPVO checked by SBB.
pub const TOPICS: [&str; 2] = [
    "nl.knooppunt.onderwijsovereenkomst.aangeboden.#",
    "nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.#",
];

/// Days until a transaction expires when the configuration says nothing.
pub const DAYS_TO_EXPIRE: u16 = 30;

/// How long after the last news about a transaction it is polled, when the configuration says
/// nothing (`partners.signing.poll_after_ms`).
pub const DEFAULT_POLL_AFTER: Duration = Duration::from_secs(15 * 60);

/// One transaction waiting for its outcome: which dossier, what is signed, and when Knooppunt
/// last heard of it.
#[derive(Debug, Clone, Copy)]
pub struct PendingTransaction {
    /// The dossier of the agreement.
    pub dossier: DossierKey,
    /// What is signed.
    pub subject: SigningSubject,
    /// The last news (creation, postback, poll).
    pub last_news: Instant,
}

/// The transactions without a final status, shared by the adapter (which adds the ones it
/// created), the receiver (which notes each postback) and the [`Poller`]. In memory: see
/// `docs/partners/signing.md` for what that means after a restart.
#[derive(Debug, Clone, Default)]
pub struct Pending(Arc<Mutex<HashMap<String, PendingTransaction>>>);

impl Pending {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, PendingTransaction>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes news about `transactie`: a final status forgets it, any other keeps it waiting
    /// from now.
    pub fn note(&self, transactie: &str, dossier: DossierKey, subject: SigningSubject, last: bool) {
        let mut p = self.lock();
        if last {
            p.remove(transactie);
        } else {
            p.insert(
                transactie.to_owned(),
                PendingTransaction {
                    dossier,
                    subject,
                    last_news: Instant::now(),
                },
            );
        }
    }

    /// The transactions without news for at least `after`.
    pub fn due(&self, after: Duration) -> Vec<(String, PendingTransaction)> {
        let now = Instant::now();
        self.lock()
            .iter()
            .filter(|(_, t)| now.duration_since(t.last_news) >= after)
            .map(|(id, t)| (id.clone(), *t))
            .collect()
    }

    /// How many transactions wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The signers of a transaction for what an event says must be signed, in signing order, with
/// their roles named as the registry names the parties. No e-mail: the provider's direct flow,
/// so Knooppunt needs and sends no contact data; a parent identifies with iDIN.
pub fn signers(event: &Event, return_url: &str) -> Option<(SigningSubject, Vec<Signer>)> {
    let signer = |rol: &str| Signer {
        rol: rol.to_owned(),
        email: None,
        return_url: return_url.to_owned(),
        idin: rol == "ouder",
    };
    match event {
        Event::OnderwijsovereenkomstAangeboden {
            ook, ouder_tekent, ..
        } => {
            let mut roles = vec!["student"];
            if *ouder_tekent {
                roles.push("ouder");
            }
            roles.push("instelling");
            Some((
                SigningSubject::Ook(*ook),
                roles.into_iter().map(signer).collect(),
            ))
        }
        Event::SbbCheckVastgelegd {
            bpv,
            uitkomst: SbbCheck::Erkend { .. },
            ..
        } => Some((
            SigningSubject::Bpv(*bpv),
            ["student", "school", "leerbedrijf"]
                .into_iter()
                .map(signer)
                .collect(),
        )),
        _ => None,
    }
}

/// The signing adapter. See the module documentation.
pub struct SigningAdapter {
    base: String,
    client: reqwest::Client,
    postback_base: String,
    return_url: String,
    days_to_expire: u16,
    pending: Pending,
}

impl fmt::Debug for SigningAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningAdapter")
            .field("base", &self.base)
            .field("postback_base", &self.postback_base)
            .finish_non_exhaustive()
    }
}

impl SigningAdapter {
    /// An adapter creating transactions at `endpoint` (the provider's base URL) with `client`
    /// (build it with a timeout), telling the provider to post back to `receiver_url` (the
    /// [`PostbackReceiver`]'s URL) and noting what it created in `pending`.
    pub fn new(
        endpoint: String,
        client: reqwest::Client,
        receiver_url: &str,
        pending: Pending,
    ) -> Self {
        let receiver_url = receiver_url.trim_end_matches('/');
        Self {
            base: endpoint.trim_end_matches('/').to_owned(),
            client,
            postback_base: format!("{receiver_url}{POSTBACK_PATH}"),
            return_url: format!("{receiver_url}{RETURN_PATH}"),
            days_to_expire: DAYS_TO_EXPIRE,
            pending,
        }
    }

    /// The postback URL of one dossier: the dossier key travels in the path, so a postback
    /// needs no lookup (it is a pseudonymous key, no personal data).
    fn postback_url(&self, dossier: DossierKey) -> String {
        format!("{}/{}", self.postback_base, dossier)
    }

    async fn send(
        &self,
        url: &str,
        body: String,
        subject: &SigningSubject,
        event: &EventEnvelope,
    ) -> Outcome {
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, JSON)
            .header("x-message-id", event.meta.id.to_string())
            .header("x-correlation-id", event.meta.correlation_id.to_string())
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return classify::classify_error(url, &e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return classify::classify_error(url, &e),
        };
        let (outcome, transaction) = classify::classify_response(
            subject,
            url,
            status,
            retry_after.as_deref(),
            &body,
            Utc::now(),
        );
        if let Some(t) = transaction {
            self.pending.note(
                &t.transactie,
                event.meta.subject,
                t.subject,
                t.status.is_final(),
            );
        }
        outcome
    }
}

#[async_trait]
impl Adapter for SigningAdapter {
    fn name(&self) -> &str {
        Partner::Signing.as_str()
    }

    fn answers_as(&self) -> Option<Partner> {
        Some(Partner::Signing)
    }

    fn topics(&self) -> Vec<String> {
        TOPICS.iter().map(|t| (*t).to_owned()).collect()
    }

    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome {
        let Some((subject, signers)) = signers(&event.data, &self.return_url) else {
            return Outcome::Skip;
        };
        let create = CreateTransaction {
            subject,
            postback_url: self.postback_url(event.meta.subject),
            signers,
            days_to_expire: self.days_to_expire,
        };
        let url = format!("{}{TRANSACTION_PATH}", self.base);
        let body = match signing::write_create(&create) {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Permanent {
                    class: PermanentClass::Untranslatable,
                    reason: crate::duo::classify::mapping_reason(&e),
                    answer: None,
                    status: None,
                    endpoint: url,
                };
            }
        };
        match mode {
            // Translated (so a mapping error shows), nothing sent.
            Mode::Shadow => Outcome::Delivered {
                answer: None,
                status: "shadow".to_owned(),
                endpoint: url,
            },
            Mode::Live => self.send(&url, body, &subject, event).await,
        }
    }
}

/// The signing provider's entry in the partner list ([`partners::all`]): its simulator on
/// loopback when no endpoint is configured (sharing a random postback secret with it), its HTTP
/// client, the [`PostbackReceiver`] with its [`Poller`], and one [`SigningAdapter`].
#[derive(Debug, Clone, Copy)]
pub struct SigningPlugin;

#[async_trait]
impl PartnerPlugin for SigningPlugin {
    fn partner(&self) -> Partner {
        Partner::Signing
    }

    async fn build(&self, ctx: &PartnerContext, settings: &Settings) -> Result<Built, BuildError> {
        let secret = match (&settings.receiver_secret, &settings.endpoint) {
            (Some(s), _) if s.expose().len() >= 16 => s.clone(),
            (Some(_), _) => {
                return Err(BuildError::Setting {
                    partner: Partner::Signing,
                    field: "receiver_secret",
                    reason: "at least 16 characters",
                });
            }
            (None, Some(_)) => {
                return Err(BuildError::Setting {
                    partner: Partner::Signing,
                    field: "receiver_secret",
                    reason: "required with a configured endpoint: the provider signs its postbacks with it",
                });
            }
            (None, None) => Secret::new(format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )),
        };
        let sim_secret = secret.clone();
        let (endpoint, simulator) =
            partners::endpoint_or_simulator(Partner::Signing, settings, |addr, faults| {
                SigningSimulator::spawn_with_secret(addr, faults, sim_secret)
            })
            .await?;
        let client = partners::http_client(Partner::Signing, settings)?;
        let pending = Pending::default();
        let handler = PostbackHandler::new(
            ctx.store.clone(),
            ctx.reference.clone(),
            ctx.audit.clone(),
            secret,
            pending.clone(),
        );
        let poller = Poller::new(
            endpoint.clone(),
            client.clone(),
            handler.clone(),
            settings.poll_after.unwrap_or(DEFAULT_POLL_AFTER),
        );
        let receiver = PostbackReceiver::spawn(handler, Some(poller), settings).await?;
        let adapter = SigningAdapter::new(endpoint, client, &receiver.base_url(), pending);
        Ok(Built {
            adapters: vec![Arc::new(adapter)],
            simulator,
            receiver: Some(Box::new(receiver)),
        })
    }
}

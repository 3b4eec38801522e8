//! The VA adapters: one per recipient of aanmeldstatussen — the mbo koppelpunt, the regional
//! overstapsystemen Intergrip, Digidoor and Voroc, and the koppelpunt gemeenten
//! (`docs/partners/va.md`).
//!
//! Each [`VaAdapter`] consumes `nl.knooppunt.aanmelding.#`, keeps only the status events whose
//! [`va::targets`] include its partner (so a status reaches the sending school's regional system
//! only, and the municipality only when the registry named one), reads the context the event does
//! not carry through a [`VaReader`] (policy-checked and audited), translates with
//! [`va::from_event`], and POSTs a page with one item to the partner's path. It classifies the
//! answer ([`classify`]) and never retries by itself.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use knooppunt_mappings::va::{self, VaStatus, VaTarget};
use knooppunt_ops::payload_hash;
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::{GemeenteCode, ReferenceData, RegionaalSysteem};
use knooppunt_registry::store::EventEnvelope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::partners::{self, BuildError, Built, PartnerContext, PartnerPlugin, Settings};
use crate::{Adapter, Mode, Outcome, PermanentClass, TransientClass};

pub mod classify;
mod reader;
pub mod simulator;

pub use reader::{ReadError, StoreVaReader, VaReader};
pub use simulator::{Received, VaSimulator};

/// The topic pattern every VA adapter consumes.
pub const TOPIC: &str = "nl.knooppunt.aanmelding.#";

/// Default number of translations kept in the shadow log.
pub const DEFAULT_SHADOW_CAPACITY: usize = 1000;

/// A recipient of VA aanmeldstatussen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaPartner {
    /// The mbo koppelpunt of the VVA (always a target).
    Koppelpunt,
    /// A regional overstapsysteem (the sending school's).
    Regionaal(RegionaalSysteem),
    /// The koppelpunt gemeenten (when the registry named a municipality).
    Gemeenten,
}

impl VaPartner {
    /// Every VA partner, in the order of [`VaPartner::name`]'s list.
    pub const ALL: [VaPartner; 5] = [
        Self::Koppelpunt,
        Self::Regionaal(RegionaalSysteem::Intergrip),
        Self::Regionaal(RegionaalSysteem::Digidoor),
        Self::Regionaal(RegionaalSysteem::Voroc),
        Self::Gemeenten,
    ];

    /// The registry's identity of this recipient (policy, the actor of its answers).
    pub fn partner(self) -> Partner {
        match self {
            Self::Koppelpunt => Partner::Koppelpunt,
            Self::Regionaal(systeem) => systeem.partner(),
            Self::Gemeenten => Partner::Gemeenten,
        }
    }

    /// The adapter name (queues, metrics, audit, policy): `koppelpunt`, `intergrip`,
    /// `digidoor`, `voroc`, `gemeenten` — the partner's wire name.
    pub fn name(self) -> &'static str {
        self.partner().as_str()
    }

    /// The VA recipient that is this partner, if it is one.
    pub fn from_partner(partner: Partner) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.partner() == partner)
    }

    /// Whether this partner is among `targets`.
    pub fn is_target(self, targets: &[VaTarget]) -> bool {
        self.target_in(targets).is_some()
    }

    /// This partner's target among `targets`, with the municipality for the gemeenten.
    fn target_in(self, targets: &[VaTarget]) -> Option<Option<GemeenteCode>> {
        targets.iter().find_map(|t| match (self, t) {
            (Self::Koppelpunt, VaTarget::MboKoppelpunt) => Some(None),
            (Self::Regionaal(a), VaTarget::Regionaal(b)) if a == *b => Some(None),
            (Self::Gemeenten, VaTarget::Gemeente(g)) => Some(Some(g.clone())),
            _ => None,
        })
    }

    /// The path statuses are POSTed to (relative to the partner's base URL). For the koppelpunt
    /// gemeenten the municipality code is part of the path; for the others `gemeente` is
    /// ignored. A gemeente path without a code uses the template `{gemeente}`.
    pub fn path(self, gemeente: Option<&GemeenteCode>) -> String {
        match self {
            Self::Koppelpunt => "/mbo-koppelpunt/v1/aanmeldstatussen".to_owned(),
            Self::Regionaal(RegionaalSysteem::Intergrip) => {
                "/intergrip/vva/v1/aanmeldstatussen".to_owned()
            }
            Self::Regionaal(RegionaalSysteem::Digidoor) => {
                "/digidoor/vva/v1/aanmeldstatussen".to_owned()
            }
            Self::Regionaal(RegionaalSysteem::Voroc) => "/voroc/vva/v1/aanmeldstatussen".to_owned(),
            Self::Gemeenten => format!(
                "/koppelpunt-gemeenten/v1/gemeenten/{}/aanmeldstatussen",
                gemeente.map_or("{gemeente}", GemeenteCode::as_str)
            ),
        }
    }
}

impl fmt::Display for VaPartner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One translation kept in shadow mode (sent nowhere). Holds the status itself, whose `Debug`
/// is redacted; [`ShadowEntry::payload_hash`] is the SHA-256 of the page that would have been
/// sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowEntry {
    /// The event id.
    pub message_id: Uuid,
    /// The student's dossier key.
    pub subject: DossierKey,
    /// Where it would have gone.
    pub endpoint: String,
    /// Hex SHA-256 of the JSON page.
    pub payload_hash: String,
    /// The translated status.
    pub status: VaStatus,
}

/// The adapter for one VA partner. See the module documentation.
pub struct VaAdapter {
    partner: VaPartner,
    base: String,
    client: reqwest::Client,
    reader: Arc<dyn VaReader>,
    reference: Arc<ReferenceData>,
    timeout: Option<Duration>,
    shadow_capacity: usize,
    shadow: Mutex<VecDeque<ShadowEntry>>,
}

impl fmt::Debug for VaAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaAdapter")
            .field("partner", &self.partner)
            .field("base", &self.base)
            .field("reader", &self.reader)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl VaAdapter {
    /// An adapter for `partner` at `endpoint` (the partner's base URL, e.g.
    /// `https://koppelpunt.example`), sending with `client`, reading context through `reader`,
    /// routing with `reference`. Requests time out as the client does (build it with a
    /// timeout), unless [`VaAdapter::with_timeout`] sets one.
    pub fn new(
        partner: VaPartner,
        endpoint: String,
        client: reqwest::Client,
        reader: Arc<dyn VaReader>,
        reference: Arc<ReferenceData>,
    ) -> Self {
        Self {
            partner,
            base: endpoint.trim_end_matches('/').to_owned(),
            client,
            reader,
            reference,
            timeout: None,
            shadow_capacity: DEFAULT_SHADOW_CAPACITY,
            shadow: Mutex::new(VecDeque::new()),
        }
    }

    /// The time limit of one request (connect, send and answer), overriding the client's.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many shadow translations are kept (the oldest go first).
    pub fn with_shadow_capacity(mut self, capacity: usize) -> Self {
        self.shadow_capacity = capacity;
        self
    }

    /// The partner.
    pub fn partner(&self) -> VaPartner {
        self.partner
    }

    /// The translations kept in shadow mode, oldest first.
    pub fn shadow_log(&self) -> Vec<ShadowEntry> {
        self.lock_shadow().iter().cloned().collect()
    }

    fn lock_shadow(&self) -> std::sync::MutexGuard<'_, VecDeque<ShadowEntry>> {
        self.shadow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn keep_shadow(&self, entry: ShadowEntry) {
        if self.shadow_capacity == 0 {
            return;
        }
        let mut log = self.lock_shadow();
        while log.len() >= self.shadow_capacity {
            log.pop_front();
        }
        log.push_back(entry);
    }

    async fn send(&self, url: &str, label: &str, body: String, event: &EventEnvelope) -> Outcome {
        let mut request = self.client.post(url);
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        let sent = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("x-message-id", event.meta.id.to_string())
            .header("x-correlation-id", event.meta.correlation_id.to_string())
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return classify::classify_error(label, &e),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // The body matters only for a rejection's error code; a broken body there still
        // classifies by status.
        let body = if matches!(status, 400 | 409 | 422) {
            response.bytes().await.unwrap_or_default()
        } else {
            bytes::Bytes::new()
        };
        let Some(aanmelding) = reader::aanmelding_of(&event.data) else {
            // Unreachable: only status events get here.
            return untranslatable(label, "not_a_status_event");
        };
        let attempt = classify::Attempt {
            partner: self.partner.partner(),
            aanmelding,
            endpoint: label,
        };
        classify::classify_response(&attempt, status, retry_after.as_deref(), &body, Utc::now())
    }
}

fn untranslatable(endpoint: &str, reason: &str) -> Outcome {
    Outcome::Permanent {
        class: PermanentClass::Untranslatable,
        reason: reason.to_owned(),
        answer: None,
        status: None,
        endpoint: endpoint.to_owned(),
    }
}

/// The outcome for a failed context read: denied or missing data is permanent, an unavailable
/// store or audit trail transient.
fn read_failed(endpoint: &str, e: &ReadError) -> Outcome {
    if e.is_transient() {
        return Outcome::Transient {
            class: TransientClass::Unavailable,
            retry_after: None,
            status: None,
            endpoint: endpoint.to_owned(),
            error: e.code().to_owned(),
        };
    }
    let class = match e {
        ReadError::Denied { .. } => PermanentClass::Refused,
        _ => PermanentClass::Untranslatable,
    };
    Outcome::Permanent {
        class,
        reason: e.code().to_owned(),
        answer: None,
        status: None,
        endpoint: endpoint.to_owned(),
    }
}

/// A short reason for a mapping error: the field it names, never a value.
fn mapping_reason(e: &knooppunt_mappings::MappingError) -> String {
    match e.field() {
        Some(field) => format!("mapping_error:{field}"),
        None => "mapping_error".to_owned(),
    }
}

#[async_trait]
impl Adapter for VaAdapter {
    fn name(&self) -> &str {
        self.partner.name()
    }

    fn answers_as(&self) -> Option<Partner> {
        Some(self.partner.partner())
    }

    fn topics(&self) -> Vec<String> {
        vec![TOPIC.to_owned()]
    }

    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome {
        // Events VA does not report have no targets (AanmeldingStatusAfgewezen included).
        let targets = va::targets(&event.data, &self.reference);
        let Some(gemeente) = self.partner.target_in(&targets) else {
            return Outcome::Skip;
        };
        let url = format!("{}{}", self.base, self.partner.path(gemeente.as_ref()));
        // Outcomes are audited: they name the endpoint by its template, because the
        // municipality in the gemeenten path is the student's woongemeente (personal data).
        let label = format!("{}{}", self.base, self.partner.path(None));
        let ctx = match self.reader.va_context(self.partner.partner(), event).await {
            Ok(ctx) => ctx,
            Err(e) => {
                tracing::warn!(partner = self.partner.name(), message_id = %event.meta.id, error = e.code(), "va context read failed");
                return read_failed(&label, &e);
            }
        };
        let status = match va::from_event(&event.data, &event.meta, &ctx) {
            Ok(Some(s)) => s,
            Ok(None) => return Outcome::Skip,
            Err(e) => return untranslatable(&label, &mapping_reason(&e)),
        };
        let body = match va::write_page(std::slice::from_ref(&status)) {
            Ok(b) => b,
            Err(e) => return untranslatable(&label, &mapping_reason(&e)),
        };
        match mode {
            Mode::Shadow => {
                self.keep_shadow(ShadowEntry {
                    message_id: event.meta.id,
                    subject: event.meta.subject,
                    endpoint: url.clone(),
                    payload_hash: payload_hash(body.as_bytes()),
                    status,
                });
                Outcome::Delivered {
                    answer: None,
                    status: "shadow".to_owned(),
                    endpoint: label,
                }
            }
            Mode::Live => self.send(&url, &label, body, event).await,
        }
    }
}

/// The entry of one VA recipient in the partner list ([`partners::all`]): its simulator on
/// loopback when no endpoint is configured, its HTTP client, and one [`VaAdapter`] reading
/// context through a [`StoreVaReader`].
#[derive(Debug, Clone, Copy)]
pub struct VaPlugin(pub VaPartner);

#[async_trait]
impl PartnerPlugin for VaPlugin {
    fn partner(&self) -> Partner {
        self.0.partner()
    }

    async fn build(&self, ctx: &PartnerContext, settings: &Settings) -> Result<Built, BuildError> {
        let recipient = self.0;
        let (endpoint, simulator) =
            partners::endpoint_or_simulator(self.partner(), settings, |addr, faults| {
                VaSimulator::spawn(recipient, addr, faults)
            })
            .await?;
        let client = partners::http_client(self.partner(), settings)?;
        let reader = Arc::new(StoreVaReader::new(
            ctx.store.clone(),
            ctx.reference.clone(),
            ctx.audit.clone(),
        ));
        let adapter = VaAdapter::new(recipient, endpoint, client, reader, ctx.reference.clone());
        Ok(Built {
            adapters: vec![Arc::new(adapter)],
            simulator,
            receiver: None,
        })
    }
}

//! The DUO simulator: the persons service (below) and BRON (`bron.rs`: the deliveries of a
//! `krd` institution's registry, answered per mutation from configurable rules).
//!
//! The persons service is an HTTP server that answers exactly what a
//! [`DuoAdapter`](crate::duo::DuoAdapter) sends — an `Opvraging` (XML, `urn:knooppunt:duo:persoon:v1`)
//! POSTed to [`OPVRAGING_PATH`] — with the person's `PersoonEnVooropleidingen`, or `404
//! persoon_onbekend` for a person it does not know. A lookup that asks for a subscription
//! records it; [`DuoSimulator::send_melding`] then pushes a `Mutatiemelding` to the subscriber's
//! delivery address, as DUO would (`docs/partners/duo.md` §5).
//!
//! It knows the sandbox's students ([`sample::persons`](crate::duo::sample::persons)) unless
//! started with another list. Faults ([`SimFaults`]) come from configuration and can be changed
//! while it runs; `reject_statuses` has no meaning for this service.
//!
//! `GET /_sim/received` returns a summary for demos: per lookup whether the person was found and
//! whether a subscription was asked, with a keyed hash of the person number — never the number.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use hmac::{Hmac, Mac};
use knooppunt_mappings::duo::persoon::{
    self, MutatieSoort, Mutatiemelding, PersoonEnVooropleidingen,
};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use serde_json::json;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::duo::classify::PERSOON_ONBEKEND;
use crate::sim::{
    FaultInjector, SimFaults, SimKit, SimMessage, SimServer, Simulator, has_content_type, problem,
};

/// Where the persons service takes lookups (relative to DUO's base URL).
pub const OPVRAGING_PATH: &str = "/duo/persoon/v1/opvragingen";

/// The media type of every message of the persons service.
pub const XML: &str = "application/xml";

/// Code of a lookup the simulator answered with the person.
pub const FOUND: &str = "gevonden";
/// Code of a lookup the simulator answered `persoon_onbekend`.
pub const UNKNOWN: &str = "onbekend";

/// One lookup the simulator answered (faulted and malformed requests are not included).
#[derive(Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The person asked for.
    pub id: PersonId,
    /// Whether the simulator knew the person.
    pub found: bool,
    /// Whether the lookup asked for a subscription.
    pub subscribed: bool,
    /// The `X-Message-Id` it came with, when sent.
    pub message_id: Option<String>,
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lookup")
            .field("id", &self.id)
            .field("found", &self.found)
            .field("subscribed", &self.subscribed)
            .field("message_id", &self.message_id)
            .finish()
    }
}

/// Why a mutation notification could not be pushed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nobody subscribed to this person.
    #[error("no subscription for this person")]
    NotSubscribed,
    /// The subscriber could not be reached.
    #[error("pushing to the subscriber: {0}")]
    Push(#[from] reqwest::Error),
}

mod bron;

pub use bron::{
    BPV_LEERBEDRIJF_ONBEKEND, BRON_PATH, BronMatch, BronRule, ReceivedMutatie, RuleJson,
    UNKNOWN_LEERBEDRIJF, default_rules,
};

#[derive(Default)]
struct SimState {
    persons: HashMap<String, PersoonEnVooropleidingen>,
    subscriptions: HashMap<String, String>,
    lookups: Vec<Lookup>,
    message_ids: HashSet<String>,
    duplicates: usize,
    /// Every lookup answered and BRON mutation received, in arrival order.
    log: Vec<SimMessage>,
    bron: Vec<ReceivedMutatie>,
    bron_answers: HashMap<uuid::Uuid, knooppunt_registry::domain::DuoUitkomst>,
    bron_rules: Vec<BronRule>,
}

struct Shared {
    state: Mutex<SimState>,
    faults: FaultInjector,
    cancel: CancellationToken,
    key: [u8; 32],
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hash(&self, number: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(number.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// A running DUO persons simulator. Shut it down with [`Simulator::shutdown`] (dropping it also
/// stops it).
pub struct DuoSimulator {
    shared: Arc<Shared>,
    server: SimServer,
    client: reqwest::Client,
}

impl fmt::Debug for DuoSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DuoSimulator")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl DuoSimulator {
    /// Starts a simulator on `addr` (`127.0.0.1:0` picks a free port) with `faults`, knowing the
    /// sandbox's students as of today.
    pub async fn spawn(addr: SocketAddr, faults: SimFaults) -> Result<DuoSimulator, io::Error> {
        let today = Utc::now().date_naive();
        Self::spawn_with(addr, faults, super::sample::persons(today)).await
    }

    /// Starts a simulator that knows `persons`.
    pub async fn spawn_with(
        addr: SocketAddr,
        faults: SimFaults,
        persons: Vec<PersoonEnVooropleidingen>,
    ) -> Result<DuoSimulator, io::Error> {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let cancel = CancellationToken::new();
        let state = SimState {
            persons: persons
                .into_iter()
                .map(|p| (p.persoon.id.digits().to_owned(), p))
                .collect(),
            bron_rules: default_rules(),
            ..SimState::default()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: FaultInjector::new(faults),
            cancel: cancel.clone(),
            key,
        });
        let router = Router::new()
            .route(OPVRAGING_PATH, post(opvraging))
            .route(BRON_PATH, post(bron::mutatie))
            .route("/_sim/bron/regels", post(bron::set_rules))
            .route("/_sim/received", get(summary))
            .with_state(shared.clone());
        let server = SimServer::spawn("duo", addr, router, cancel).await?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(io::Error::other)?;
        Ok(DuoSimulator {
            shared,
            server,
            client,
        })
    }

    /// Adds (or replaces) a person DUO knows.
    pub fn insert_person(&self, person: PersoonEnVooropleidingen) {
        self.shared
            .lock()
            .persons
            .insert(person.persoon.id.digits().to_owned(), person);
    }

    /// The person as DUO now knows them.
    pub fn person(&self, id: &PersonId) -> Option<PersoonEnVooropleidingen> {
        self.shared.lock().persons.get(id.digits()).cloned()
    }

    /// The lookups answered, in order.
    pub fn lookups(&self) -> Vec<Lookup> {
        self.shared.lock().lookups.clone()
    }

    /// The delivery address a subscriber gave for this person, if subscribed.
    pub fn subscription(&self, id: &PersonId) -> Option<String> {
        self.shared.lock().subscriptions.get(id.digits()).cloned()
    }

    /// The BRON mutations received (duplicates not repeated), in order.
    pub fn mutations(&self) -> Vec<ReceivedMutatie> {
        self.shared.lock().bron.clone()
    }

    /// Replaces the BRON answering rules (the first matching rule decides; none: accepted).
    pub fn set_bron_rules(&self, rules: Vec<BronRule>) {
        self.shared.lock().bron_rules = rules;
    }

    /// How many persons are subscribed.
    pub fn subscription_count(&self) -> usize {
        self.shared.lock().subscriptions.len()
    }

    /// Applies `melding` to what DUO knows (a later lookup answers the new data) and pushes it
    /// to the person's subscriber as DUO would: `POST <delivery address>` with the XML. Returns
    /// the subscriber's HTTP status.
    pub async fn send_melding(&self, melding: &Mutatiemelding) -> Result<u16, SendError> {
        let url = {
            let mut s = self.shared.lock();
            let url = s
                .subscriptions
                .get(melding.id.digits())
                .cloned()
                .ok_or(SendError::NotSubscribed)?;
            if let Some(known) = s.persons.get_mut(melding.id.digits()) {
                apply(known, melding);
            }
            url
        };
        let response = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, XML)
            .header("x-message-id", melding.melding_id.to_string())
            .body(persoon::write_mutatiemelding(melding))
            .send()
            .await?;
        Ok(response.status().as_u16())
    }
}

/// What DUO knows after a melding.
fn apply(known: &mut PersoonEnVooropleidingen, m: &Mutatiemelding) {
    match (m.soort, &m.persoon, &m.vooropleiding) {
        (MutatieSoort::PersoonsgegevensGewijzigd, Some(p), _) => known.persoon = p.clone(),
        (_, _, Some(v)) => {
            known
                .vooropleidingen
                .retain(|o| !(o.instelling == v.instelling && o.opleiding == v.opleiding));
            known.vooropleidingen.push(v.clone());
        }
        _ => {}
    }
}

#[async_trait]
impl Simulator for DuoSimulator {
    fn partner(&self) -> Partner {
        Partner::Duo
    }

    fn kit(&self) -> SimKit<'_> {
        SimKit {
            server: &self.server,
            faults: &self.shared.faults,
        }
    }

    /// In arrival order: one per lookup answered (the person number, the code [`FOUND`] or
    /// [`UNKNOWN`]) and one per BRON mutation received (the person number, the code
    /// `<soort>:<record>` such as `T:Inschrijving`, the BRIN and the `BerichtId`).
    fn messages(&self) -> Vec<SimMessage> {
        self.shared.lock().log.clone()
    }

    fn received_count(&self) -> usize {
        self.shared.lock().log.len()
    }

    /// Lookups that came again with an `X-Message-Id` seen before, and BRON mutations with a
    /// `BerichtId` seen before (answered all the same).
    fn duplicates(&self) -> usize {
        self.shared.lock().duplicates
    }
}

/// The field a mapping error is about, never a value.
fn error_field(e: &knooppunt_mappings::MappingError) -> String {
    e.field().unwrap_or("body").to_owned()
}

async fn opvraging(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(fault) = shared.faults.check(&headers, &shared.cancel).await {
        return fault;
    }
    if !has_content_type(&headers, XML) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected application/xml",
            None,
        );
    }
    let asked = match persoon::parse_opvraging(&body) {
        Ok(o) => o,
        Err(e) => {
            let field = error_field(&e);
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                &format!("invalid opvraging at {field}"),
                Some(&field),
            );
        }
    };
    let message_id = headers
        .get("x-message-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = shared.lock();
    if let Some(id) = &message_id
        && !s.message_ids.insert(id.clone())
    {
        s.duplicates += 1;
    }
    let digits = asked.id.digits().to_owned();
    let found = s.persons.get(&digits).cloned();
    // DUO keeps no subscription on a person it does not know.
    if found.is_some()
        && let Some(url) = &asked.aflever_adres
    {
        s.subscriptions.insert(digits, url.clone());
    }
    s.log.push(SimMessage {
        subject: asked.id.digits().to_owned(),
        code: if found.is_some() { FOUND } else { UNKNOWN }.to_owned(),
        sequence: None,
        institution: None,
        message_id: message_id.clone(),
    });
    s.lookups.push(Lookup {
        id: asked.id.clone(),
        found: found.is_some(),
        subscribed: found.is_some() && asked.aflever_adres.is_some(),
        message_id,
    });
    drop(s);
    match found {
        Some(p) => {
            let mut r = (
                StatusCode::OK,
                persoon::write_persoon_en_vooropleidingen(&p),
            )
                .into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(XML));
            r
        }
        None => problem(
            StatusCode::NOT_FOUND,
            PERSOON_ONBEKEND,
            "DUO knows no person with this number",
            None,
        ),
    }
}

async fn summary(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.lock();
    let items: Vec<serde_json::Value> = s
        .lookups
        .iter()
        .map(|l| {
            json!({
                "uitkomst": if l.found { FOUND } else { UNKNOWN },
                "abonnement": l.subscribed,
                "persoonHash": shared.hash(l.id.digits()),
            })
        })
        .collect();
    let bron: Vec<serde_json::Value> = s
        .bron
        .iter()
        .map(|m| bron::summary_item(&shared, m))
        .collect();
    axum::Json(json!({
        "partner": Partner::Duo.as_str(),
        "items": items,
        "bron": bron,
        "subscriptions": s.subscriptions.len(),
        "duplicates": s.duplicates,
        "requests": shared.faults.requests(),
    }))
    .into_response()
}

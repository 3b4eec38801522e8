//! The SBB simulator: an HTTP server that answers exactly what an
//! [`SbbAdapter`](crate::sbb::SbbAdapter) sends — a `natrekkenErkenningVerzoek` (XML,
//! `urn:nl:knooppunt:sbb:whitelabel:v1`, `docs/partners/sbb-whitelabel.xsd`) POSTed to
//! [`NATREKKEN_PATH`] — with a `natrekkenErkenningAntwoord` from its list of recognised
//! leerbedrijven ([`Erkenning`]): `erkend` when a recognition of the leerbedrijf for the crebo
//! or keuzedeel is valid on the start date, otherwise `nietErkend` with the signaalcode —
//! `SBB001` leerbedrijf unknown, `SBB002` no recognition for this onderdeel, `SBB003` not valid
//! on the start date, `SBB004` withdrawn.
//!
//! [`SbbSimulator::withdraw`] withdraws a recognition, as SBB's *actualiseren erkenning* does:
//! later questions are answered `SBB004`, and when Knooppunt asked about the leerbedrijf before
//! (SBB notifies only about leerbedrijven with a BPV of the asker, `docs/partners/sbb.md`), a
//! `mutatieErkenning` is pushed to the subscriber's address ([`SbbSimulator::set_subscriber`]).
//!
//! It knows the sandbox's recognitions ([`sample::erkenningen`](crate::sbb::sample::erkenningen))
//! unless started with another list. Faults ([`SimFaults`]) come from configuration and can be
//! changed while it runs; a signaalcode in `reject_statuses` (e.g. `"SBB002"`) makes it answer
//! every valid question `nietErkend` with that code.
//!
//! `GET /_sim/received` returns a summary for demos: per question the leerbedrijf (a company id,
//! not personal data), the onderdeel and the outcome, and the withdrawals pushed.

use std::collections::HashSet;
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
use chrono::{NaiveDate, Utc};
use knooppunt_mappings::sbb::{self, Antwoord, Bericht, Mutatie, Signaal, Uitkomst, Verzoek};
use knooppunt_registry::domain::{BpvId, BpvOnderdeel};
use knooppunt_registry::ids::LeerbedrijfId;
use knooppunt_registry::partner::Partner;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::sbb::{KNOOPPUNT_OIN, SBB_OIN};
use crate::sim::{
    FaultInjector, SimFaults, SimKit, SimMessage, SimServer, Simulator, has_content_type, problem,
};

/// Where SBB takes *natrekken erkenning* questions (relative to SBB's base URL).
pub const NATREKKEN_PATH: &str = "/sbb/whitelabel/v1/natrekken-erkenning";

/// The media type of every SBB message.
pub const XML: &str = "application/xml";

/// The code of a question the simulator answered `erkend` (otherwise the signaalcode).
pub const ERKEND: &str = "erkend";

/// One recognition of a leerbedrijf for a crebo or keuzedeel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erkenning {
    /// The leerbedrijf.
    pub leerbedrijf: LeerbedrijfId,
    /// The crebo or keuzedeel.
    pub onderdeel: BpvOnderdeel,
    /// Valid from.
    pub vanaf: NaiveDate,
    /// Valid until (inclusive), when it ends.
    pub tot: Option<NaiveDate>,
}

impl Erkenning {
    fn valid_on(&self, day: NaiveDate) -> bool {
        self.vanaf <= day && self.tot.is_none_or(|t| day <= t)
    }
}

/// One question the simulator answered (faulted and malformed requests are not included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The BPV asked about (the question's `referentie`).
    pub referentie: BpvId,
    /// The leerbedrijf.
    pub leerbedrijf: LeerbedrijfId,
    /// The crebo or keuzedeel.
    pub onderdeel: BpvOnderdeel,
    /// The start date asked about.
    pub startdatum: NaiveDate,
    /// `None` for erkend, else the signal.
    pub signaal: Option<Signaal>,
    /// The `X-Message-Id` it came with, when sent.
    pub message_id: Option<String>,
}

/// Why a withdrawal could not be pushed. The withdrawal itself is applied in every case.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No subscriber address was set.
    #[error("no subscriber address is set")]
    NoSubscriber,
    /// Nobody asked about this leerbedrijf: SBB tells no one.
    #[error("nobody asked about this leerbedrijf")]
    NotAsked,
    /// The mutation could not be written.
    #[error("writing the mutation: {0}")]
    Mapping(#[from] knooppunt_mappings::MappingError),
    /// The subscriber could not be reached.
    #[error("pushing to the subscriber: {0}")]
    Push(#[from] reqwest::Error),
}

/// A withdrawal pushed to the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The `berichtId` of the `mutatieErkenning`.
    pub bericht_id: Uuid,
    /// The subscriber's HTTP status.
    pub status: u16,
}

/// A withdrawal: the leerbedrijf, for one onderdeel or all, from a date.
#[derive(Debug, Clone)]
struct Withdrawal {
    leerbedrijf: LeerbedrijfId,
    onderdeel: Option<BpvOnderdeel>,
}

#[derive(Default)]
struct SimState {
    erkenningen: Vec<Erkenning>,
    withdrawn: Vec<Withdrawal>,
    asked: HashSet<LeerbedrijfId>,
    checks: Vec<Check>,
    pushed: Vec<(LeerbedrijfId, u16)>,
    message_ids: HashSet<String>,
    duplicates: usize,
    subscriber: Option<String>,
}

impl SimState {
    fn verdict(&self, v: &Verzoek) -> Uitkomst {
        let niet = |signaal: Signaal| Uitkomst::NietErkend {
            signaal,
            omschrijving: None,
        };
        if self.withdrawn.iter().any(|w| {
            w.leerbedrijf == v.leerbedrijf && w.onderdeel.as_ref().is_none_or(|o| o == &v.onderdeel)
        }) {
            return niet(Signaal::Ingetrokken);
        }
        let at: Vec<&Erkenning> = self
            .erkenningen
            .iter()
            .filter(|e| e.leerbedrijf == v.leerbedrijf)
            .collect();
        if at.is_empty() {
            return niet(Signaal::LeerbedrijfOnbekend);
        }
        let voor: Vec<&&Erkenning> = at.iter().filter(|e| e.onderdeel == v.onderdeel).collect();
        if voor.is_empty() {
            return niet(Signaal::GeenErkenningVoorOnderdeel);
        }
        match voor.iter().find(|e| e.valid_on(v.startdatum)) {
            Some(e) => Uitkomst::Erkend {
                vanaf: Some(e.vanaf),
                tot: e.tot,
            },
            None => niet(Signaal::NietGeldigOpStartdatum),
        }
    }
}

struct Shared {
    state: Mutex<SimState>,
    faults: FaultInjector,
    cancel: CancellationToken,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running SBB simulator. Shut it down with [`Simulator::shutdown`] (dropping it also stops
/// it).
pub struct SbbSimulator {
    shared: Arc<Shared>,
    server: SimServer,
    client: reqwest::Client,
}

impl fmt::Debug for SbbSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SbbSimulator")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl SbbSimulator {
    /// Starts a simulator on `addr` (`127.0.0.1:0` picks a free port) with `faults`, knowing
    /// the sandbox's recognitions.
    pub async fn spawn(addr: SocketAddr, faults: SimFaults) -> Result<SbbSimulator, io::Error> {
        Self::spawn_with(addr, faults, super::sample::erkenningen()).await
    }

    /// Starts a simulator that knows `erkenningen`.
    pub async fn spawn_with(
        addr: SocketAddr,
        faults: SimFaults,
        erkenningen: Vec<Erkenning>,
    ) -> Result<SbbSimulator, io::Error> {
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState {
                erkenningen,
                ..SimState::default()
            }),
            faults: FaultInjector::new(faults),
            cancel: cancel.clone(),
        });
        let router = Router::new()
            .route(NATREKKEN_PATH, post(natrekken))
            .route("/_sim/received", get(summary))
            .with_state(shared.clone());
        let server = SimServer::spawn("sbb", addr, router, cancel).await?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(io::Error::other)?;
        Ok(SbbSimulator {
            shared,
            server,
            client,
        })
    }

    /// Where withdrawals are pushed: Knooppunt's address as registered with SBB's subscription
    /// service (the receiver's URL).
    pub fn set_subscriber(&self, url: String) {
        self.shared.lock().subscriber = Some(url);
    }

    /// Adds a recognition.
    pub fn insert_erkenning(&self, erkenning: Erkenning) {
        self.shared.lock().erkenningen.push(erkenning);
    }

    /// The questions answered, in order.
    pub fn checks(&self) -> Vec<Check> {
        self.shared.lock().checks.clone()
    }

    /// Withdraws the recognition of `leerbedrijf` (for `onderdeel` only, when given) from
    /// `datum`: later questions are answered `SBB004`. When Knooppunt asked about the
    /// leerbedrijf before, pushes the `mutatieErkenning` to the subscriber as SBB would and
    /// returns its id and the subscriber's HTTP status.
    pub async fn withdraw(
        &self,
        leerbedrijf: &LeerbedrijfId,
        onderdeel: Option<BpvOnderdeel>,
        datum: NaiveDate,
        signaal: Option<Signaal>,
    ) -> Result<Pushed, SendError> {
        let mutatie = Mutatie {
            bericht: Bericht {
                bericht_id: Uuid::new_v4(),
                verzender: SBB_OIN.parse().expect("a valid OIN"),
                ontvanger: KNOOPPUNT_OIN.parse().expect("a valid OIN"),
                tijdstip: Utc::now(),
            },
            leerbedrijf: leerbedrijf.clone(),
            onderdeel: onderdeel.clone(),
            datum_ingang: datum,
            signaal,
        };
        let body = sbb::write_mutatie(&mutatie)?;
        let url = {
            let mut s = self.shared.lock();
            s.withdrawn.push(Withdrawal {
                leerbedrijf: leerbedrijf.clone(),
                onderdeel,
            });
            if !s.asked.contains(leerbedrijf) {
                return Err(SendError::NotAsked);
            }
            s.subscriber.clone().ok_or(SendError::NoSubscriber)?
        };
        let response = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, XML)
            .header("x-message-id", mutatie.bericht.bericht_id.to_string())
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        self.shared
            .lock()
            .pushed
            .push((leerbedrijf.clone(), status));
        Ok(Pushed {
            bericht_id: mutatie.bericht.bericht_id,
            status,
        })
    }
}

#[async_trait]
impl Simulator for SbbSimulator {
    fn partner(&self) -> Partner {
        Partner::Sbb
    }

    fn kit(&self) -> SimKit<'_> {
        SimKit {
            server: &self.server,
            faults: &self.shared.faults,
        }
    }

    /// One per question answered: the subject is the BPV asked about (SBB receives no student
    /// number), the code [`ERKEND`] or the signaalcode.
    fn messages(&self) -> Vec<SimMessage> {
        self.shared
            .lock()
            .checks
            .iter()
            .map(|c| SimMessage {
                subject: c.referentie.0.to_string(),
                code: c.signaal.map_or(ERKEND, |s| s.code()).to_owned(),
                sequence: None,
                institution: None,
                message_id: c.message_id.clone(),
            })
            .collect()
    }

    fn received_count(&self) -> usize {
        self.shared.lock().checks.len()
    }

    /// Questions that came again with an `X-Message-Id` seen before (answered all the same).
    fn duplicates(&self) -> usize {
        self.shared.lock().duplicates
    }
}

async fn natrekken(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let reject = match shared.faults.check(&headers, &shared.cancel).await {
        Ok(reject) => reject,
        Err(fault) => return fault,
    };
    if !has_content_type(&headers, XML) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected application/xml",
            None,
        );
    }
    let verzoek = match sbb::parse_verzoek(&body) {
        Ok(v) => v,
        Err(e) => {
            let field = e.field().unwrap_or("body").to_owned();
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                &format!("invalid natrekkenErkenningVerzoek at {field}"),
                Some(&field),
            );
        }
    };
    let message_id = headers
        .get("x-message-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let forced = reject
        .iter()
        .find_map(|code| Signaal::from_code("reject_statuses", code).ok());
    let mut s = shared.lock();
    if let Some(id) = &message_id
        && !s.message_ids.insert(id.clone())
    {
        s.duplicates += 1;
    }
    let uitkomst = match forced {
        Some(signaal) => Uitkomst::NietErkend {
            signaal,
            omschrijving: None,
        },
        None => s.verdict(&verzoek),
    };
    let signaal = match &uitkomst {
        Uitkomst::Erkend { .. } => None,
        Uitkomst::NietErkend { signaal, .. } => Some(*signaal),
    };
    // SBB keeps a subscription on a leerbedrijf it knows and was asked about.
    if signaal != Some(Signaal::LeerbedrijfOnbekend) {
        s.asked.insert(verzoek.leerbedrijf.clone());
    }
    s.checks.push(Check {
        referentie: verzoek.referentie,
        leerbedrijf: verzoek.leerbedrijf.clone(),
        onderdeel: verzoek.onderdeel.clone(),
        startdatum: verzoek.startdatum,
        signaal,
        message_id,
    });
    drop(s);
    let antwoord = Antwoord {
        bericht: Bericht {
            bericht_id: Uuid::new_v4(),
            verzender: verzoek.bericht.ontvanger.clone(),
            ontvanger: verzoek.bericht.verzender.clone(),
            tijdstip: Utc::now(),
        },
        in_antwoord_op: verzoek.bericht.bericht_id,
        referentie: verzoek.referentie,
        leerbedrijf: verzoek.leerbedrijf,
        onderdeel: verzoek.onderdeel,
        startdatum: verzoek.startdatum,
        uitkomst,
    };
    match sbb::write_antwoord(&antwoord) {
        Ok(xml) => {
            let mut r = (StatusCode::OK, xml).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(XML));
            r
        }
        Err(e) => {
            let field = e.field().unwrap_or("body").to_owned();
            problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                &format!("cannot answer for {field}"),
                Some(&field),
            )
        }
    }
}

fn onderdeel_code(o: &BpvOnderdeel) -> String {
    match o {
        BpvOnderdeel::Crebo(c) => c.as_str().to_owned(),
        BpvOnderdeel::Keuzedeel(k) => k.as_str().to_owned(),
    }
}

async fn summary(State(shared): State<Arc<Shared>>) -> Response {
    let s = shared.lock();
    let items: Vec<serde_json::Value> = s
        .checks
        .iter()
        .map(|c| {
            json!({
                "leerbedrijfId": c.leerbedrijf.as_str(),
                "onderdeel": onderdeel_code(&c.onderdeel),
                "startdatum": c.startdatum.to_string(),
                "uitkomst": c.signaal.map_or(ERKEND, |s| s.code()),
            })
        })
        .collect();
    let pushed: Vec<serde_json::Value> = s
        .pushed
        .iter()
        .map(|(l, status)| json!({ "leerbedrijfId": l.as_str(), "status": status }))
        .collect();
    axum::Json(json!({
        "partner": Partner::Sbb.as_str(),
        "items": items,
        "intrekkingen": pushed,
        "duplicates": s.duplicates,
        "requests": shared.faults.requests(),
    }))
    .into_response()
}

//! The VA adapters against their simulators: routing per partner, the context read (policy and
//! audit), the classification of every kind of answer, shadow mode, and the refusal answer
//! going back into the registry.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::support::client;
use async_trait::async_trait;
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_adapters::va::VaSimulator;
use knooppunt_adapters::va::{ReadError, StoreVaReader, VaAdapter, VaPartner, VaReader};
use knooppunt_adapters::{Adapter, Mode, Outcome, PermanentClass, TransientClass};
use knooppunt_mappings::va::{self as va_map, VaContext};
use knooppunt_ops::{AuditEntry, AuditTrail, Hop, MemoryAudit, payload_hash};
use knooppunt_registry::domain::{AanmeldStatus, Command, Event};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::policy::DenyReason;
use knooppunt_registry::reference::{Leertraject, ReferenceData, RegionaalSysteem};
use knooppunt_registry::store::{EventEnvelope, MemoryStore, Store, StoreError};
use knooppunt_sample::{self as demo, AANMELDING};

const LOCAL: &str = "127.0.0.1:0";

fn local() -> SocketAddr {
    LOCAL.parse().expect("address")
}

/// A registry with the demo student up to "aangemeld", and every event it produced.
struct World {
    store: Arc<MemoryStore>,
    reference: Arc<ReferenceData>,
    audit: Arc<MemoryAudit>,
    key: DossierKey,
    events: Vec<EventEnvelope>,
}

impl World {
    async fn new() -> Self {
        Self::until("confirms: aangemeld").await
    }

    async fn until(title: &str) -> Self {
        let store = Arc::new(MemoryStore::new());
        let reference = Arc::new(demo::reference_data());
        let key = DossierKey::new();
        let mut w = Self {
            store,
            reference,
            audit: Arc::new(MemoryAudit::new()),
            key,
            events: Vec::new(),
        };
        for step in demo::journey(key) {
            let done = step.title.contains(title);
            w.exec(step.meta, step.command).await;
            if done {
                return w;
            }
        }
        panic!("no demo step {title:?}");
    }

    async fn exec(&mut self, meta: CommandMeta, command: Command) -> Vec<EventEnvelope> {
        let outcome = self
            .store
            .execute(meta, command, &self.reference)
            .await
            .expect("store");
        let events = outcome.result.expect("accepted");
        self.events.extend(events.iter().cloned());
        events
    }

    fn reader(&self) -> Arc<StoreVaReader> {
        Arc::new(StoreVaReader::new(
            self.store.clone(),
            self.reference.clone(),
            self.audit.clone(),
        ))
    }

    fn adapter(&self, partner: VaPartner, url: String) -> VaAdapter {
        VaAdapter::new(
            partner,
            url,
            client(),
            self.reader(),
            self.reference.clone(),
        )
    }

    /// The last event of this type.
    fn event(&self, kind: &str) -> EventEnvelope {
        self.events
            .iter()
            .rev()
            .find(|e| e.meta.kind == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind}"))
    }

    fn ingediend(&self) -> EventEnvelope {
        self.event("nl.knooppunt.aanmelding.ingediend.v1")
    }

    fn gewijzigd(&self) -> EventEnvelope {
        self.event("nl.knooppunt.aanmelding.status_gewijzigd.v1")
    }
}

fn kind(o: &Outcome) -> String {
    match o {
        Outcome::Delivered { .. } => "delivered".to_owned(),
        Outcome::Permanent { class, .. } => format!("permanent:{class}"),
        Outcome::Transient { class, .. } => format!("transient:{class}"),
        Outcome::Skip => "skip".to_owned(),
    }
}

#[tokio::test]
async fn a_status_reaches_the_koppelpunt_the_sending_schools_system_and_the_municipality() {
    let w = World::new().await;
    let mut sims = Vec::new();
    for p in VaPartner::ALL {
        let sim = VaSimulator::spawn(p, local(), SimFaults::default())
            .await
            .expect("sim");
        let adapter = w.adapter(p, sim.url());
        assert_eq!(adapter.name(), p.name());
        assert_eq!(
            adapter.topics(),
            vec!["nl.knooppunt.aanmelding.#".to_owned()]
        );
        sims.push((p, sim, adapter));
    }
    let (ingediend, gewijzigd) = (w.ingediend(), w.gewijzigd());
    for (p, sim, adapter) in &sims {
        let first = adapter.deliver(&ingediend, Mode::Live).await;
        let second = adapter.deliver(&gewijzigd, Mode::Live).await;
        // The demo school 19XY uses Intergrip; the student (15, Rotterdam, no
        // startkwalificatie) is reported to the municipality on the status change, which is the
        // event that carries `gemeente`.
        let want = match p.name() {
            "koppelpunt" | "intergrip" => ("delivered", "delivered"),
            "digidoor" | "voroc" => ("skip", "skip"),
            "gemeenten" => ("skip", "delivered"),
            other => panic!("{other}"),
        };
        assert_eq!((kind(&first).as_str(), kind(&second).as_str()), want, "{p}");
        // The audited endpoint never names the student's municipality.
        if let Some(endpoint) = second.endpoint() {
            assert!(!endpoint.contains("0599"), "{p}: {endpoint}");
        }
        let got: Vec<_> = sim
            .received()
            .iter()
            .map(|s| (s.wijzigingsvolgnummer, s.status))
            .collect();
        let mut expect = Vec::new();
        if want.0 == "delivered" {
            expect.push((ingediend.meta.sequence, AanmeldStatus::Ontvangen));
        }
        if want.1 == "delivered" {
            expect.push((gewijzigd.meta.sequence, AanmeldStatus::Aangemeld));
        }
        assert_eq!(got, expect, "{p}");
    }
    // What the koppelpunt got: the pgn from the dossier and the RIO details from reference data.
    let (_, koppelpunt, adapter) = &sims[0];
    let r = &koppelpunt.received_items()[1];
    assert_eq!(r.status.pgn, demo::demo_person());
    assert_eq!(r.status.brin.to_string(), "25LX");
    assert_eq!(r.status.crebo.to_string(), "25998");
    assert_eq!(
        r.status
            .onderwijsaanbieder_code
            .as_ref()
            .map(ToString::to_string),
        Some("100A501".to_owned())
    );
    assert_eq!(r.status.leertraject, Some(Leertraject::Bol));
    assert_eq!(r.status.aanmeldjaar.as_deref(), Some("2027-2028"));
    assert!(r.status.startdatum.is_some());
    assert_eq!(r.message_id, Some(gewijzigd.meta.id.to_string()));
    assert_eq!(r.gemeente, None);
    // The outcome names the endpoint without any id.
    match adapter.deliver(&gewijzigd, Mode::Live).await {
        Outcome::Delivered {
            answer,
            status,
            endpoint,
        } => {
            assert_eq!(answer, None);
            assert_eq!(status, "200");
            assert_eq!(
                endpoint,
                format!("{}/mbo-koppelpunt/v1/aanmeldstatussen", koppelpunt.url())
            );
            assert!(!endpoint.contains("111222333"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(koppelpunt.duplicates(), 1, "the resend is a duplicate");
    // The municipality got it on its own path.
    let (_, gemeenten, _) = &sims[4];
    let got = gemeenten.received_items();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].gemeente.as_ref().map(|g| g.as_str()), Some("0599"));
    for (_, sim, _) in &sims {
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn the_municipality_is_not_told_about_a_student_with_a_startkwalificatie() {
    let mut w = World::until("DUO delivers the personal data").await;
    let mut personalia = match &w.events.last().expect("event").data {
        Event::PersonaliaVastgelegd { personalia } => personalia.clone(),
        other => panic!("{}", other.type_name()),
    };
    personalia.startkwalificatie = true;
    let duo = Actor::Partner {
        partner: Partner::Duo,
    };
    let meta = |actor: Actor, w: &World, h: u32| {
        CommandMeta::new(
            w.key,
            actor,
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2027, 2, 12, h, 0, 0).unwrap(),
        )
    };
    w.exec(meta(duo, &w, 8), Command::RecordPersonalia { personalia })
        .await;
    // The rest of the journey up to "aangemeld", skipping the personalia step.
    for step in demo::journey(w.key).into_iter().skip(2).take(5) {
        w.exec(step.meta, step.command).await;
    }
    let gewijzigd = w.gewijzigd();
    assert!(matches!(
        &gewijzigd.data,
        Event::AanmeldingStatusGewijzigd {
            gemeente: None,
            naar: AanmeldStatus::Aangemeld,
            ..
        }
    ));
    let sim = VaSimulator::spawn(VaPartner::Gemeenten, local(), SimFaults::default())
        .await
        .expect("sim");
    let adapter = w.adapter(VaPartner::Gemeenten, sim.url());
    assert_eq!(adapter.deliver(&gewijzigd, Mode::Live).await, Outcome::Skip);
    assert_eq!(sim.requests(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn reads_are_audited_and_a_partner_not_concerned_is_denied() {
    let w = World::new().await;
    let reader = w.reader();
    let event = w.gewijzigd();
    let ctx = reader
        .va_context(Partner::Intergrip, &event)
        .await
        .expect("intergrip reads");
    assert_eq!(ctx.pgn, Some(demo::demo_person()));
    assert_eq!(format!("{ctx:?}"), "VaContext(***)");
    for (partner, reason) in [
        (Partner::Digidoor, DenyReason::PartnerNotConcerned), // not the school's system
        (Partner::Sbb, DenyReason::PartnerNotConcerned),      // not a VA partner
        (Partner::Rio, DenyReason::PartnerNotConcerned),      // no dossier part at all
    ] {
        match reader.va_context(partner, &event).await {
            Err(ReadError::Denied { reason: r }) => assert_eq!(r, reason, "{partner}"),
            other => panic!("{partner}: {other:?}"),
        }
    }
    let chain = w
        .audit
        .chain(&AuditEntry::dossier_chain(w.key))
        .await
        .expect("chain");
    let seen: Vec<_> = chain
        .iter()
        .map(|r| {
            (
                r.entry.hop,
                r.entry.partner.clone().unwrap_or_default(),
                r.entry.status.clone().unwrap_or_default(),
                r.entry.reason.clone().unwrap_or_default(),
            )
        })
        .collect();
    let row =
        |hop, p: &str, reason: &str| (hop, p.to_owned(), "va_status".to_owned(), reason.to_owned());
    assert_eq!(
        seen,
        vec![
            row(Hop::Read, "intergrip", "partner_task"),
            row(Hop::ReadDenied, "digidoor", "partner_not_concerned"),
            row(Hop::ReadDenied, "sbb", "partner_not_concerned"),
            row(Hop::ReadDenied, "rio", "partner_not_concerned"),
        ]
    );
    assert!(
        chain
            .iter()
            .all(|r| r.entry.message_id == Some(event.meta.id))
    );
    assert!(knooppunt_ops::verify_chain(&chain).is_ok());
}

/// A scripted read result.
type Script = fn() -> Result<VaContext, ReadError>;

/// A reader with a scripted answer.
#[derive(Debug)]
struct Scripted(Script);

#[async_trait]
impl VaReader for Scripted {
    async fn va_context(&self, _: Partner, _: &EventEnvelope) -> Result<VaContext, ReadError> {
        (self.0)()
    }
}

#[tokio::test]
async fn a_failed_read_or_translation_is_classified() {
    let w = World::new().await;
    let event = w.gewijzigd();
    let cases: [(Script, &str, &str); 4] = [
        (
            || {
                Err(ReadError::Denied {
                    reason: DenyReason::PartnerNotConcerned,
                })
            },
            "permanent:refused",
            "read_denied",
        ),
        (
            || Err(ReadError::Store(StoreError::Unavailable("down".to_owned()))),
            "transient:unavailable",
            "store_unavailable",
        ),
        (
            || Err(ReadError::DossierNotFound),
            "permanent:untranslatable",
            "dossier_not_found",
        ),
        // No pgn: the mapping refuses, naming the field.
        (
            || Ok(VaContext::default()),
            "permanent:untranslatable",
            "mapping_error:pgn",
        ),
    ];
    for (script, want, reason) in cases {
        let adapter = VaAdapter::new(
            VaPartner::Koppelpunt,
            "http://127.0.0.1:9".to_owned(),
            client(),
            Arc::new(Scripted(script)),
            w.reference.clone(),
        );
        let o = adapter.deliver(&event, Mode::Live).await;
        assert_eq!(kind(&o), want);
        let got = match o {
            Outcome::Permanent { reason, .. } => reason,
            Outcome::Transient { error, .. } => error,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, reason);
    }
}

#[tokio::test]
async fn every_kind_of_answer_is_classified_against_the_simulator() {
    let mut w = World::new().await;
    let event = w.gewijzigd();
    let sim = VaSimulator::spawn(
        VaPartner::Regionaal(RegionaalSysteem::Intergrip),
        local(),
        SimFaults::default(),
    )
    .await
    .expect("sim");
    let adapter = w
        .adapter(VaPartner::Regionaal(RegionaalSysteem::Intergrip), sim.url())
        .with_timeout(Duration::from_millis(300));

    // 5xx: transient, and the next attempt goes through.
    sim.set_faults(SimFaults {
        fail_next: 1,
        ..SimFaults::default()
    });
    let o = adapter.deliver(&event, Mode::Live).await;
    assert_eq!(kind(&o), "transient:server_error");
    assert_eq!(o.status(), Some("503"));
    assert_eq!(
        kind(&adapter.deliver(&event, Mode::Live).await),
        "delivered"
    );
    assert_eq!(sim.received().len(), 1);

    // 429 with Retry-After: 1.
    sim.set_faults(SimFaults {
        too_many_next: 1,
        ..SimFaults::default()
    });
    match adapter.deliver(&event, Mode::Live).await {
        Outcome::Transient {
            class: TransientClass::RateLimited,
            retry_after,
            status,
            ..
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
            assert_eq!(status.as_deref(), Some("429"));
        }
        other => panic!("{other:?}"),
    }

    // A partner that hangs: the short client timeout ends the attempt.
    sim.set_faults(SimFaults {
        timeout_next: 1,
        ..SimFaults::default()
    });
    let o = adapter.deliver(&event, Mode::Live).await;
    assert_eq!(kind(&o), "transient:timeout", "{o:?}");

    // Credentials refused: 401.
    sim.set_faults(SimFaults {
        require_bearer: Some("geheim".to_owned()),
        ..SimFaults::default()
    });
    match adapter.deliver(&event, Mode::Live).await {
        Outcome::Permanent {
            class: PermanentClass::Refused,
            reason,
            answer,
            status,
            ..
        } => {
            assert_eq!(reason, "http_401");
            assert_eq!(answer, None);
            assert_eq!(status.as_deref(), Some("401"));
        }
        other => panic!("{other:?}"),
    }

    // 422: the partner refuses the status; the answer goes back to the institution.
    sim.set_faults(SimFaults {
        reject_statuses: vec!["AM".to_owned()],
        ..SimFaults::default()
    });
    let answer = match adapter.deliver(&event, Mode::Live).await {
        Outcome::Permanent {
            class: PermanentClass::Rejected,
            reason,
            answer: Some(answer),
            status,
            ..
        } => {
            assert_eq!(reason, "status_geweigerd");
            assert_eq!(status.as_deref(), Some("422"));
            answer
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        answer,
        Command::RecordVaAfwijzing {
            aanmelding: AANMELDING,
            partner: Partner::Intergrip,
            reden: "status_geweigerd".to_owned(),
        }
    );
    // The runtime executes it as the partner, caused by the event: the registry accepts it and
    // tells the institution.
    let meta = CommandMeta::caused_by(
        &event.meta,
        Actor::Partner {
            partner: Partner::Intergrip,
        },
        chrono::Utc::now(),
    );
    let told = w.exec(meta, answer).await;
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].meta.kind,
        "nl.knooppunt.aanmelding.status_afgewezen.v1"
    );
    assert_eq!(
        told[0].meta.institution.as_ref().map(|b| b.to_string()),
        Some("25LX".to_owned())
    );
    assert_eq!(told[0].meta.correlation_id, event.meta.correlation_id);
    // ... and that event is not a status VA reports.
    assert_eq!(adapter.deliver(&told[0], Mode::Live).await, Outcome::Skip);

    // The partner is gone: a connection error.
    let url = sim.url();
    sim.shutdown().await;
    drop(sim);
    let gone = w.adapter(VaPartner::Koppelpunt, url);
    let o = gone.deliver(&event, Mode::Live).await;
    assert_eq!(kind(&o), "transient:connection", "{o:?}");
}

#[tokio::test]
async fn shadow_mode_translates_and_keeps_but_sends_nothing() {
    let w = World::new().await;
    let event = w.gewijzigd();
    let sim = VaSimulator::spawn(VaPartner::Koppelpunt, local(), SimFaults::default())
        .await
        .expect("sim");
    let adapter = w
        .adapter(VaPartner::Koppelpunt, sim.url())
        .with_shadow_capacity(2);
    for e in [w.ingediend(), event.clone(), event.clone()] {
        match adapter.deliver(&e, Mode::Shadow).await {
            Outcome::Delivered { status, answer, .. } => {
                assert_eq!(status, "shadow");
                assert_eq!(answer, None);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sim.requests(), 0, "nothing was sent");
    let log = adapter.shadow_log();
    assert_eq!(log.len(), 2, "bounded: the oldest went");
    let last = &log[1];
    assert_eq!(last.message_id, event.meta.id);
    assert_eq!(last.subject, w.key);
    assert_eq!(last.status.status, AanmeldStatus::Aangemeld);
    let page = va_map::write_page(std::slice::from_ref(&last.status)).expect("page");
    assert_eq!(last.payload_hash, payload_hash(page.as_bytes()));
    assert!(!format!("{log:?}").contains("111222333"), "redacted Debug");
    // The same page sent live is accepted by the simulator.
    assert_eq!(
        kind(&adapter.deliver(&event, Mode::Live).await),
        "delivered"
    );
    sim.shutdown().await;
}

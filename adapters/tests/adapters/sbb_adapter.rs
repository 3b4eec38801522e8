//! The SBB adapter against its simulator, on the sample journey's BPV in the memory store:
//! recognised (signing then allowed), not recognised (a business outcome; signing refused with
//! the registry's rejection), faults retried by the runtime, shadow mode, and a withdrawal
//! pushed by the simulator to the receiver marking the running BPV.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{client, local, on_loopback};
use chrono::NaiveDate;
use knooppunt_adapters::partners::Receiver;
use knooppunt_adapters::sbb::{
    MutatieHandler, MutatieReceiver, SbbAdapter, SbbSimulator, SendError,
};
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_adapters::{Adapter, Mode, Outcome, PermanentClass, TransientClass};
use knooppunt_mappings::sbb::Signaal;
use knooppunt_ops::{AuditTrail, MemoryAudit};
use knooppunt_registry::domain::{BpvDetails, BpvOnderdeel, Command, Event, Rejection, SbbCheck};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::LeerbedrijfId;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{EventEnvelope, MemoryStore, Store};
use knooppunt_sample as demo;

fn sbb() -> Actor {
    Actor::Partner {
        partner: Partner::Sbb,
    }
}

/// The sample journey up to the registration of its BPV, at `leerbedrijf` instead of the
/// journey's when given; the later steps (SBB's answer excluded) wait in `rest`.
struct World {
    store: Arc<MemoryStore>,
    reference: Arc<ReferenceData>,
    audit: Arc<MemoryAudit>,
    key: DossierKey,
    registered: EventEnvelope,
    rest: Vec<demo::DemoStep>,
}

impl World {
    async fn new(leerbedrijf: Option<&str>) -> Self {
        let store = Arc::new(MemoryStore::new());
        let reference = Arc::new(demo::reference_data());
        let key = DossierKey::new();
        let mut steps = demo::journey(key).into_iter();
        let registered = loop {
            let mut step = steps.next().expect("the journey registers a BPV");
            if let (
                Command::RegisterPraktijkovereenkomst {
                    details: BpvDetails { leerbedrijf: l, .. },
                    ..
                },
                Some(other),
            ) = (&mut step.command, leerbedrijf)
            {
                *l = other.parse().expect("leerbedrijf");
            }
            let registers = matches!(step.command, Command::RegisterPraktijkovereenkomst { .. });
            let outcome = store
                .execute(step.meta, step.command, &reference)
                .await
                .expect("store");
            let events = outcome.result.expect(&step.title);
            if registers {
                break events.into_iter().next().expect("one event");
            }
        };
        // SBB's own step is what the adapter answers.
        let rest = steps
            .filter(|s| !matches!(s.command, Command::RecordSbbCheck { .. }))
            .collect();
        Self {
            store,
            reference,
            audit: Arc::new(MemoryAudit::new()),
            key,
            registered,
            rest,
        }
    }

    /// Executes an adapter's answer as SBB, caused by the event (as the delivery runtime does).
    async fn answer(&self, command: Command) -> Result<Vec<EventEnvelope>, Rejection> {
        let meta = CommandMeta::caused_by(&self.registered.meta, sbb(), self.registered.meta.time);
        self.store
            .execute(meta, command, &self.reference)
            .await
            .expect("store")
            .result
    }

    /// The journey's next step: the student signs the BPV.
    async fn student_signs(&self) -> Result<Vec<EventEnvelope>, Rejection> {
        let step = self
            .rest
            .iter()
            .find(|s| matches!(s.command, Command::SignPraktijkovereenkomst { .. }))
            .expect("a signing step");
        self.store
            .execute(step.meta.clone(), step.command.clone(), &self.reference)
            .await
            .expect("store")
            .result
    }

    async fn sbb_check(&self) -> SbbCheck {
        let d = self.store.dossier(self.key).await.unwrap().unwrap();
        d.praktijkovereenkomsten[&demo::BPV].sbb.clone()
    }

    async fn receiver(&self) -> MutatieReceiver {
        let handler = MutatieHandler::new(
            self.store.clone(),
            self.reference.clone(),
            self.audit.clone(),
        );
        handler.serve(&on_loopback()).await.expect("receiver")
    }
}

async fn sim(faults: SimFaults) -> SbbSimulator {
    SbbSimulator::spawn(local(), faults).await.expect("sim")
}

fn kind(o: &Outcome) -> String {
    match o {
        Outcome::Delivered { .. } => "delivered".to_owned(),
        Outcome::Permanent { class, reason, .. } => format!("permanent:{class}:{reason}"),
        Outcome::Transient { class, .. } => format!("transient:{class}"),
        Outcome::Skip => "skip".to_owned(),
    }
}

#[tokio::test]
async fn a_recognised_leerbedrijf_is_recorded_and_the_bpv_can_be_signed() {
    let w = World::new(None).await;
    let sim = sim(SimFaults::default()).await;
    let adapter = SbbAdapter::new(sim.url(), client());
    assert_eq!(adapter.answers_as(), Some(Partner::Sbb));
    assert_eq!(adapter.name(), "sbb");
    let o = adapter.deliver(&w.registered, Mode::Live).await;
    let Outcome::Delivered {
        answer: Some(answer),
        status,
        endpoint,
    } = o
    else {
        panic!("{}", kind(&o))
    };
    assert_eq!(status, "200");
    assert!(endpoint.ends_with("/sbb/whitelabel/v1/natrekken-erkenning"));
    assert!(matches!(
        answer,
        Command::RecordSbbCheck {
            bpv: demo::BPV,
            erkend: true,
            reden: None,
            ..
        }
    ));
    // SBB was asked about the journey's leerbedrijf, crebo and start date, with the event id
    // as the message id.
    let checks = sim.checks();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].leerbedrijf.as_str(), "100018965");
    assert_eq!(
        checks[0].startdatum,
        NaiveDate::from_ymd_opt(2028, 9, 1).unwrap()
    );
    assert_eq!(
        checks[0].message_id.as_deref(),
        Some(w.registered.meta.id.to_string().as_str())
    );

    let events = w.answer(answer).await.expect("recorded");
    assert_eq!(
        events[0].meta.kind,
        "nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.v1"
    );
    assert_eq!(
        events[0].meta.institution.as_ref().map(|b| b.to_string()),
        Some("25LX".to_owned()),
        "the institution's event"
    );
    assert!(matches!(w.sbb_check().await, SbbCheck::Erkend { .. }));
    w.student_signs().await.expect("signing is allowed");
}

#[tokio::test]
async fn a_leerbedrijf_sbb_does_not_recognise_is_a_business_outcome_and_blocks_signing() {
    let w = World::new(Some("100000001")).await;
    let sim = sim(SimFaults::default()).await;
    let adapter = SbbAdapter::new(sim.url(), client());
    let o = adapter.deliver(&w.registered, Mode::Live).await;
    assert_eq!(kind(&o), "permanent:rejected:SBB001");
    let Outcome::Permanent {
        class: PermanentClass::Rejected,
        answer: Some(answer),
        ..
    } = o
    else {
        panic!("not a rejection with an answer")
    };
    assert_eq!(sim.received_count(), 1, "asked once");
    w.answer(answer).await.expect("recorded");
    assert_eq!(
        w.sbb_check().await,
        SbbCheck::NietErkend {
            reason: "SBB001".to_owned()
        }
    );
    assert_eq!(
        w.student_signs().await.unwrap_err(),
        Rejection::LeerbedrijfNotErkend { bpv: demo::BPV }
    );
}

#[tokio::test]
async fn a_signal_from_configuration_is_answered_not_recognised() {
    let w = World::new(None).await;
    let sim = sim(SimFaults {
        reject_statuses: vec!["SBB003".to_owned()],
        ..SimFaults::default()
    })
    .await;
    let adapter = SbbAdapter::new(sim.url(), client());
    let o = adapter.deliver(&w.registered, Mode::Live).await;
    assert_eq!(kind(&o), "permanent:rejected:SBB003");
}

#[tokio::test]
async fn faults_are_transient_and_a_later_attempt_succeeds() {
    let w = World::new(None).await;
    let sim = sim(SimFaults {
        fail_next: 1,
        too_many_next: 1,
        timeout_next: 1,
        ..SimFaults::default()
    })
    .await;
    let adapter = SbbAdapter::new(sim.url(), client()).with_timeout(Duration::from_millis(300));
    let timeout = adapter.deliver(&w.registered, Mode::Live).await;
    assert!(
        matches!(
            timeout,
            Outcome::Transient {
                class: TransientClass::Timeout,
                ..
            }
        ),
        "{}",
        kind(&timeout)
    );
    let Outcome::Transient {
        class: TransientClass::RateLimited,
        retry_after,
        ..
    } = adapter.deliver(&w.registered, Mode::Live).await
    else {
        panic!("not rate limited")
    };
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
    let failed = adapter.deliver(&w.registered, Mode::Live).await;
    assert_eq!(kind(&failed), "transient:server_error");
    assert_eq!(sim.received_count(), 0, "no answer given yet");
    let ok = adapter.deliver(&w.registered, Mode::Live).await;
    assert_eq!(kind(&ok), "delivered");
    assert_eq!(sim.requests(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_and_an_unreachable_sbb_are_classified() {
    let w = World::new(None).await;
    let sim = sim(SimFaults {
        require_bearer: Some("secret".to_owned()),
        ..SimFaults::default()
    })
    .await;
    let adapter = SbbAdapter::new(sim.url(), client());
    assert_eq!(
        kind(&adapter.deliver(&w.registered, Mode::Live).await),
        "permanent:refused:http_401"
    );
    let url = sim.url();
    sim.shutdown().await;
    let gone = SbbAdapter::new(url, client());
    assert_eq!(
        kind(&gone.deliver(&w.registered, Mode::Live).await),
        "transient:connection"
    );
}

#[tokio::test]
async fn shadow_mode_sends_nothing_and_other_events_are_skipped() {
    let w = World::new(None).await;
    let sim = sim(SimFaults::default()).await;
    let adapter = SbbAdapter::new(sim.url(), client());
    let o = adapter.deliver(&w.registered, Mode::Shadow).await;
    assert!(matches!(
        o,
        Outcome::Delivered { answer: None, ref status, .. } if status == "shadow"
    ));
    assert_eq!(sim.requests(), 0);
    let opened = w.store.history(w.key).await.unwrap().remove(0);
    assert!(matches!(opened.data, Event::DossierOpened { .. }));
    assert_eq!(adapter.deliver(&opened, Mode::Live).await, Outcome::Skip);
    assert_eq!(sim.requests(), 0);
}

#[tokio::test]
async fn a_withdrawal_pushed_by_sbb_marks_the_running_bpv_once() {
    let w = World::new(None).await;
    let sim = sim(SimFaults::default()).await;
    let receiver = w.receiver().await;
    sim.set_subscriber(receiver.url());
    let adapter = SbbAdapter::new(sim.url(), client());
    let Outcome::Delivered {
        answer: Some(answer),
        ..
    } = adapter.deliver(&w.registered, Mode::Live).await
    else {
        panic!("not delivered")
    };
    w.answer(answer).await.expect("erkend");
    let leerbedrijf: LeerbedrijfId = "100018965".parse().unwrap();
    let datum = NaiveDate::from_ymd_opt(2028, 8, 25).unwrap();

    let pushed = sim
        .withdraw(&leerbedrijf, None, datum, Some(Signaal::Ingetrokken))
        .await
        .expect("pushed");
    assert_eq!(pushed.status, 200);
    assert_eq!(w.sbb_check().await, SbbCheck::Ingetrokken { datum });
    let history = w.store.history(w.key).await.unwrap();
    let last = history.last().unwrap();
    assert!(matches!(last.data, Event::ErkenningIngetrokken { .. }));
    assert_eq!(
        last.meta.institution.as_ref().map(|b| b.to_string()),
        Some("25LX".to_owned()),
        "the institution is told"
    );
    let audited = w.audit.for_message(pushed.bericht_id).await.unwrap();
    assert_eq!(audited.len(), 1, "one dossier reached");
    assert_eq!(audited[0].entry.subject, Some(w.key));
    assert_eq!(audited[0].entry.status.as_deref(), Some("recorded"));

    // A second withdrawal finds no running BPV left to mark; the dossier does not change.
    let again = sim
        .withdraw(&leerbedrijf, None, datum, None)
        .await
        .expect("pushed");
    assert_eq!(again.status, 200);
    let audited = w.audit.for_message(again.bericht_id).await.unwrap();
    assert_eq!(audited[0].entry.status.as_deref(), Some("no_running_bpv"));
    assert_eq!(w.store.history(w.key).await.unwrap().len(), history.len());
    // SBB now answers a new question about the leerbedrijf with SBB004.
    let o = adapter.deliver(&w.registered, Mode::Live).await;
    assert_eq!(kind(&o), "permanent:rejected:SBB004");
    // The student cannot sign a BPV at a leerbedrijf that is no longer recognised.
    assert_eq!(
        w.student_signs().await.unwrap_err(),
        Rejection::LeerbedrijfNotErkend { bpv: demo::BPV }
    );
}

#[tokio::test]
async fn a_withdrawal_for_another_onderdeel_leaves_the_bpv_recognised() {
    let w = World::new(None).await;
    let sim = sim(SimFaults::default()).await;
    let receiver = w.receiver().await;
    sim.set_subscriber(receiver.url());
    let adapter = SbbAdapter::new(sim.url(), client());
    let Outcome::Delivered {
        answer: Some(answer),
        ..
    } = adapter.deliver(&w.registered, Mode::Live).await
    else {
        panic!("not delivered")
    };
    w.answer(answer).await.expect("erkend");
    let keuzedeel = BpvOnderdeel::Keuzedeel("K0067".parse().unwrap());
    let pushed = sim
        .withdraw(
            &"100018965".parse().unwrap(),
            Some(keuzedeel),
            NaiveDate::from_ymd_opt(2028, 8, 25).unwrap(),
            None,
        )
        .await
        .expect("pushed");
    assert_eq!(pushed.status, 200);
    assert!(matches!(w.sbb_check().await, SbbCheck::Erkend { .. }));
    let audited = w.audit.for_message(pushed.bericht_id).await.unwrap();
    assert_eq!(audited[0].entry.status.as_deref(), Some("no_running_bpv"));
    w.student_signs().await.expect("still signable");
}

#[tokio::test]
async fn sbb_tells_no_one_about_a_leerbedrijf_nobody_asked_about() {
    let sim = sim(SimFaults::default()).await;
    sim.set_subscriber("http://127.0.0.1:9/unused".to_owned());
    let r = sim
        .withdraw(
            &"100018965".parse().unwrap(),
            None,
            NaiveDate::from_ymd_opt(2028, 8, 25).unwrap(),
            None,
        )
        .await;
    assert!(matches!(r, Err(SendError::NotAsked)), "{r:?}");
}

#[tokio::test]
async fn the_receiver_refuses_what_it_cannot_take() {
    let w = World::new(None).await;
    let receiver = w.receiver().await;
    let http = client();
    let post = |content_type: &'static str, body: String| {
        let http = http.clone();
        let url = receiver.url();
        async move {
            http.post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let mutatie = format!(
        r#"<mutatieErkenning xmlns="urn:nl:knooppunt:sbb:whitelabel:v1"><berichtId>{}</berichtId>
        <verzender>00000099000000000002</verzender><ontvanger>00000099000000000001</ontvanger>
        <tijdstip>2028-08-25T09:00:00Z</tijdstip><leerbedrijfId>100018965</leerbedrijfId>
        <soortMutatie>INGETROKKEN</soortMutatie><datumIngang>2028-08-25</datumIngang></mutatieErkenning>"#,
        uuid::Uuid::new_v4()
    );
    assert_eq!(post("application/json", mutatie.clone()).await, 415);
    assert_eq!(post("application/xml", "<nope/>".to_owned()).await, 400);
    assert_eq!(
        post(
            "application/xml",
            mutatie.replace("INGETROKKEN", "VERLEEND")
        )
        .await,
        400
    );
    let antwoord = format!(
        r#"<natrekkenErkenningAntwoord xmlns="urn:nl:knooppunt:sbb:whitelabel:v1"><berichtId>{0}</berichtId>
        <verzender>00000099000000000002</verzender><ontvanger>00000099000000000001</ontvanger>
        <tijdstip>2028-08-25T09:00:00Z</tijdstip><inAntwoordOp>{0}</inAntwoordOp><referentie>{0}</referentie>
        <leerbedrijfId>100018965</leerbedrijfId><onderdeel><crebo>25998</crebo></onderdeel>
        <startdatum>2028-09-01</startdatum><erkend/></natrekkenErkenningAntwoord>"#,
        uuid::Uuid::new_v4()
    );
    assert_eq!(post("application/xml", antwoord).await, 422);
    // Nothing reached the dossier.
    assert!(matches!(w.sbb_check().await, SbbCheck::Pending));
    // The valid one is taken and marks the (still unchecked) running BPV.
    assert_eq!(post("application/xml", mutatie.clone()).await, 200);
    assert!(matches!(w.sbb_check().await, SbbCheck::Ingetrokken { .. }));
    let events = w.store.history(w.key).await.unwrap().len();
    assert_eq!(post("application/xml", mutatie).await, 200, "pushed again");
    assert_eq!(
        w.store.history(w.key).await.unwrap().len(),
        events,
        "one effect"
    );
}

//! The DUO persons adapter against its simulator: the answer mapping (and executing it in the
//! registry), the subscription, an unknown person, every kind of fault, shadow mode, and a
//! mutation notification pushed by the simulator to the receiver updating the dossier.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{client, local, on_loopback};
use chrono::{NaiveDate, TimeZone, Utc};
use knooppunt_adapters::duo::{
    DuoAdapter, DuoSimulator, MeldingHandler, MeldingReceiver, SendError,
};
use knooppunt_adapters::partners::Receiver;
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_adapters::{Adapter, Mode, Outcome, PermanentClass, TransientClass};
use knooppunt_mappings::duo::codes::{Geboortedatum, Geslacht};
use knooppunt_mappings::duo::persoon::{
    DuoPersoon, DuoVooropleiding, MutatieSoort, Mutatiemelding, PersoonEnVooropleidingen,
};
use knooppunt_ops::{AuditTrail, Hop, MemoryAudit};
use knooppunt_registry::domain::{Command, Person};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{EventEnvelope, MemoryStore, Store};
use knooppunt_sample as demo;
use uuid::Uuid;

/// A person DUO knows (a valid test BSN).
const KNOWN: &str = "111222333";
/// A person DUO does not know.
const UNKNOWN: &str = "123456782";

fn bsn(s: &str) -> PersonId {
    PersonId::Bsn(s.parse().expect("a valid BSN"))
}

fn vooropleiding(opleiding: &str, diploma: bool) -> DuoVooropleiding {
    DuoVooropleiding {
        instelling: Some("19XY".parse().expect("brin")),
        instelling_naam: None,
        opleiding: opleiding.to_owned(),
        omschrijving: "vmbo kaderberoepsgerichte leerweg".to_owned(),
        vanaf: NaiveDate::from_ymd_opt(2022, 8, 1),
        tot_en_met: None,
        datum_uitslag: None,
        diploma_behaald: diploma,
        eindresultaat: None,
        vakken: Vec::new(),
    }
}

fn known_person() -> PersoonEnVooropleidingen {
    PersoonEnVooropleidingen {
        persoon: DuoPersoon {
            id: bsn(KNOWN),
            geboortedatum: Geboortedatum::new(2010, 5, 0).expect("date"),
            geslacht: Geslacht::Vrouw,
            voornamen: Some("Ayşe Nur".to_owned()),
            roepnaam: None,
            voorvoegsels: Some("van 't".to_owned()),
            geslachtsnaam: "Hof".to_owned(),
            postcode: None,
            woongemeente: Some("0599".to_owned()),
            land: None,
            startkwalificatie: Some(false),
        },
        vooropleidingen: vec![vooropleiding("VMBO-KB", false)],
    }
}

/// A registry with a dossier opened for `person`, the event that opened it, and the audit
/// trail.
struct World {
    store: Arc<MemoryStore>,
    reference: Arc<ReferenceData>,
    audit: Arc<MemoryAudit>,
    key: DossierKey,
    opened: EventEnvelope,
}

impl World {
    async fn new(person: &str) -> Self {
        let store = Arc::new(MemoryStore::new());
        let reference = Arc::new(demo::reference_data());
        let key = DossierKey::new();
        let outcome = store
            .execute(
                CommandMeta::new(key, Actor::System, Utc::now()),
                Command::OpenDossier {
                    person: Person { id: bsn(person) },
                },
                &reference,
            )
            .await
            .expect("store");
        let opened = outcome.result.expect("opened").remove(0);
        Self {
            store,
            reference,
            audit: Arc::new(MemoryAudit::new()),
            key,
            opened,
        }
    }

    /// Executes an adapter's answer as DUO, caused by the event (as the delivery runtime does).
    async fn answer(&self, command: Command) -> usize {
        let meta = CommandMeta::caused_by(
            &self.opened.meta,
            Actor::Partner {
                partner: Partner::Duo,
            },
            Utc::now(),
        );
        let outcome = self
            .store
            .execute(meta, command, &self.reference)
            .await
            .expect("store");
        outcome.result.expect("accepted").len()
    }

    async fn receiver(&self) -> MeldingReceiver {
        let handler = MeldingHandler::new(
            self.store.clone(),
            self.reference.clone(),
            self.audit.clone(),
        );
        handler.serve(&on_loopback()).await.expect("receiver")
    }
}

async fn sim(faults: SimFaults) -> DuoSimulator {
    DuoSimulator::spawn_with(local(), faults, vec![known_person()])
        .await
        .expect("sim")
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
async fn a_known_person_is_answered_with_personalia_and_vooropleidingen_and_subscribed() {
    let w = World::new(KNOWN).await;
    let sim = sim(SimFaults::default()).await;
    let adapter = DuoAdapter::new(sim.url(), client())
        .with_delivery_address("http://127.0.0.1:9/duo/persoon/v1/mutatiemeldingen".to_owned());
    assert_eq!(adapter.name(), "duo");
    assert_eq!(adapter.answers_as(), Some(Partner::Duo));
    assert_eq!(adapter.topics(), vec!["nl.knooppunt.dossier.geopend.#"]);

    let outcome = adapter.deliver(&w.opened, Mode::Live).await;
    let Outcome::Delivered {
        answer: Some(command),
        status,
        endpoint,
    } = outcome
    else {
        panic!("{}", kind(&outcome))
    };
    assert_eq!(status, "200");
    assert!(!endpoint.contains(KNOWN), "the endpoint is audited: no BSN");
    assert!(matches!(
        &command,
        Command::RecordPersoonEnVooropleidingen { vooropleidingen, .. } if vooropleidingen.len() == 1
    ));
    // The answer records both parts in the registry, as DUO.
    assert_eq!(w.answer(command.clone()).await, 2);
    let d = w.store.dossier(w.key).await.unwrap().unwrap();
    let p = d.personalia.expect("personalia");
    assert_eq!(p.voornamen, "Ayşe Nur");
    assert_eq!(p.voorvoegsels.as_deref(), Some("van 't"));
    assert_eq!(p.achternaam, "Hof");
    assert_eq!(
        p.woongemeente.map(|g| g.as_str().to_owned()),
        Some("0599".to_owned())
    );
    assert!(!p.startkwalificatie);
    assert_eq!(p.geboortedatum.duo_format(), "2010-05-00");
    assert_eq!(d.vooropleidingen.len(), 1);
    assert_eq!(d.vooropleidingen[0].opleiding, "VMBO-KB");

    // The lookup subscribed the person; the message id went along.
    assert_eq!(
        sim.subscription(&bsn(KNOWN)).as_deref(),
        Some("http://127.0.0.1:9/duo/persoon/v1/mutatiemeldingen")
    );
    let lookups = sim.lookups();
    assert_eq!(lookups.len(), 1);
    assert!(lookups[0].found && lookups[0].subscribed);
    assert_eq!(
        lookups[0].message_id.as_deref(),
        Some(w.opened.meta.id.to_string().as_str())
    );
    let messages = sim.messages();
    assert_eq!(messages[0].code, "gevonden");
    assert_eq!(messages[0].subject, KNOWN);
}

#[tokio::test]
async fn an_unknown_person_is_a_business_outcome_asked_once() {
    let w = World::new(UNKNOWN).await;
    let sim = sim(SimFaults::default()).await;
    let adapter = DuoAdapter::new(sim.url(), client())
        .with_delivery_address("http://127.0.0.1:9/x".to_owned());
    let outcome = adapter.deliver(&w.opened, Mode::Live).await;
    let Outcome::Permanent {
        class,
        reason,
        answer,
        status,
        ..
    } = &outcome
    else {
        panic!("{}", kind(&outcome))
    };
    assert_eq!(*class, PermanentClass::Rejected);
    assert_eq!(reason, "persoon_onbekend");
    assert!(answer.is_none(), "nothing to record in the dossier");
    assert_eq!(status.as_deref(), Some("404"));
    assert_eq!(sim.requests(), 1);
    assert_eq!(
        sim.subscription_count(),
        0,
        "no subscription on an unknown person"
    );
    assert_eq!(sim.messages()[0].code, "onbekend");
}

#[tokio::test]
async fn faults_are_transient_and_a_later_attempt_succeeds() {
    let w = World::new(KNOWN).await;
    let sim = sim(SimFaults {
        fail_next: 1,
        too_many_next: 1,
        timeout_next: 1,
        ..SimFaults::default()
    })
    .await;
    let adapter = DuoAdapter::new(sim.url(), client()).with_timeout(Duration::from_millis(300));
    // In the order the fault injector applies them: hang, 429, 503.
    let timeout = adapter.deliver(&w.opened, Mode::Live).await;
    assert_eq!(kind(&timeout), "transient:timeout");
    let too_many = adapter.deliver(&w.opened, Mode::Live).await;
    assert!(
        matches!(
            too_many,
            Outcome::Transient {
                class: TransientClass::RateLimited,
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(1)
        ),
        "{}",
        kind(&too_many)
    );
    let failed = adapter.deliver(&w.opened, Mode::Live).await;
    assert_eq!(kind(&failed), "transient:server_error");
    let ok = adapter.deliver(&w.opened, Mode::Live).await;
    assert_eq!(kind(&ok), "delivered");
    assert_eq!(sim.requests(), 4);
    assert_eq!(sim.received_count(), 1, "faulted requests are no lookups");
}

#[tokio::test]
async fn refused_credentials_and_an_unreachable_duo_are_classified() {
    let w = World::new(KNOWN).await;
    let sim = sim(SimFaults {
        require_bearer: Some("secret".to_owned()),
        ..SimFaults::default()
    })
    .await;
    let adapter = DuoAdapter::new(sim.url(), client());
    assert_eq!(
        kind(&adapter.deliver(&w.opened, Mode::Live).await),
        "permanent:refused:http_401"
    );
    let url = sim.url();
    sim.shutdown().await;
    let gone = DuoAdapter::new(url, client());
    assert_eq!(
        kind(&gone.deliver(&w.opened, Mode::Live).await),
        "transient:connection"
    );
}

#[tokio::test]
async fn shadow_mode_sends_nothing_and_other_events_are_skipped() {
    let w = World::new(KNOWN).await;
    let sim = sim(SimFaults::default()).await;
    let adapter = DuoAdapter::new(sim.url(), client());
    let shadow = adapter.deliver(&w.opened, Mode::Shadow).await;
    assert!(
        matches!(&shadow, Outcome::Delivered { answer: None, status, .. } if status == "shadow"),
        "{}",
        kind(&shadow)
    );
    assert_eq!(sim.requests(), 0);

    // The personalia event that follows is not for the persons adapter.
    let outcome = adapter.deliver(&w.opened, Mode::Live).await;
    let Outcome::Delivered {
        answer: Some(command),
        ..
    } = outcome
    else {
        panic!("{}", kind(&outcome))
    };
    let meta = CommandMeta::new(
        w.key,
        Actor::Partner {
            partner: Partner::Duo,
        },
        Utc::now(),
    );
    let events = w
        .store
        .execute(meta, command, &w.reference)
        .await
        .unwrap()
        .result
        .unwrap();
    for e in &events {
        assert_eq!(adapter.deliver(e, Mode::Live).await, Outcome::Skip);
    }
    assert_eq!(sim.requests(), 1);
}

fn melding(
    soort: MutatieSoort,
    persoon: Option<DuoPersoon>,
    v: Option<DuoVooropleiding>,
) -> Mutatiemelding {
    Mutatiemelding {
        melding_id: Uuid::new_v4(),
        datum_tijd: Utc.with_ymd_and_hms(2027, 7, 1, 9, 0, 0).unwrap(),
        soort,
        id: bsn(KNOWN),
        persoon,
        vooropleiding: v,
    }
}

#[tokio::test]
async fn a_mutation_notification_from_duo_updates_the_dossier_once() {
    let w = World::new(KNOWN).await;
    let receiver = w.receiver().await;
    let sim = sim(SimFaults::default()).await;
    let adapter =
        DuoAdapter::new(sim.url(), client()).with_delivery_address(receiver.delivery_address());
    assert_eq!(receiver.partner(), Partner::Duo);
    assert_eq!(receiver.url(), receiver.delivery_address());

    // Before the lookup nobody subscribed: DUO pushes nothing.
    let diploma = melding(
        MutatieSoort::DiplomaBehaald,
        None,
        Some(vooropleiding("VMBO-KB", true)),
    );
    assert!(matches!(
        sim.send_melding(&diploma).await,
        Err(SendError::NotSubscribed)
    ));

    let Outcome::Delivered {
        answer: Some(command),
        ..
    } = adapter.deliver(&w.opened, Mode::Live).await
    else {
        panic!("not delivered")
    };
    w.answer(command).await;

    // The diploma: the vooropleiding is replaced (same school and opleiding).
    assert_eq!(sim.send_melding(&diploma).await.unwrap(), 200);
    let d = w.store.dossier(w.key).await.unwrap().unwrap();
    assert_eq!(d.vooropleidingen.len(), 1);
    assert!(d.vooropleidingen[0].diploma_behaald);
    // Pushed again (DUO did not see our answer): one effect.
    let events = w.store.history(w.key).await.unwrap().len();
    assert_eq!(sim.send_melding(&diploma).await.unwrap(), 200);
    assert_eq!(w.store.history(w.key).await.unwrap().len(), events);

    // Personalia changed: moved to Utrecht and a startkwalificatie.
    let mut persoon = known_person().persoon;
    persoon.woongemeente = Some("0344".to_owned());
    persoon.startkwalificatie = Some(true);
    let moved = melding(MutatieSoort::PersoonsgegevensGewijzigd, Some(persoon), None);
    assert_eq!(sim.send_melding(&moved).await.unwrap(), 200);
    let p = w
        .store
        .dossier(w.key)
        .await
        .unwrap()
        .unwrap()
        .personalia
        .unwrap();
    assert_eq!(
        p.woongemeente.map(|g| g.as_str().to_owned()),
        Some("0344".to_owned())
    );
    assert!(p.startkwalificatie);
    // DUO itself knows the new data: a later lookup answers it.
    let known = sim.person(&bsn(KNOWN)).unwrap();
    assert_eq!(known.persoon.woongemeente.as_deref(), Some("0344"));
    assert!(known.vooropleidingen[0].diploma_behaald);

    // Every melding taken is audited on its own chain, with the dossier and no BSN.
    for m in [&diploma, &moved] {
        let trail = w.audit.for_message(m.melding_id).await.unwrap();
        assert!(!trail.is_empty());
        for r in &trail {
            assert_eq!(r.entry.hop, Hop::Received);
            assert_eq!(r.entry.subject, Some(w.key));
            assert_eq!(r.entry.partner.as_deref(), Some("duo"));
        }
    }
    let all = w.audit.for_message(diploma.melding_id).await.unwrap();
    let statuses: Vec<_> = all.iter().filter_map(|r| r.entry.status.clone()).collect();
    assert_eq!(statuses, vec!["recorded", "replayed"]);
    let dump = format!("{:?}", w.audit.for_message(moved.melding_id).await.unwrap());
    assert!(!dump.contains(KNOWN), "no BSN in the audit trail");
    receiver.shutdown().await;
}

#[tokio::test]
async fn the_receiver_refuses_what_it_cannot_take() {
    let w = World::new(KNOWN).await;
    let receiver = w.receiver().await;
    let http = client();
    let post = |body: String, content_type: &'static str| {
        let http = http.clone();
        let url = receiver.delivery_address();
        async move {
            let r = http
                .post(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let json: serde_json::Value = r.json().await.unwrap_or_default();
            (status, json)
        }
    };
    let valid = knooppunt_mappings::duo::persoon::write_mutatiemelding(&melding(
        MutatieSoort::VooropleidingGewijzigd,
        None,
        Some(vooropleiding("HAVO", false)),
    ));
    let (status, _) = post(valid.clone(), "application/json").await;
    assert_eq!(status, 415);
    let (status, body) = post(
        valid.replace("<Soort>VooropleidingGewijzigd", "<Soort>Verhuisd"),
        "application/xml",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "Mutatiemelding/Soort");
    // A melding about someone Knooppunt holds no dossier for.
    let (status, body) = post(valid.replace(KNOWN, UNKNOWN), "application/xml").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "persoon_onbekend");
    // A person without voornamen cannot be recorded: the field is named.
    let mut persoon = known_person().persoon;
    persoon.voornamen = None;
    let nameless = knooppunt_mappings::duo::persoon::write_mutatiemelding(&melding(
        MutatieSoort::PersoonsgegevensGewijzigd,
        Some(persoon),
        None,
    ));
    let (status, body) = post(nameless, "application/xml").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "Mutatiemelding/Persoon/Voornamen");
    // And the valid one is taken.
    let (status, _) = post(valid, "application/xml").await;
    assert_eq!(status, 200);
    let d = w.store.dossier(w.key).await.unwrap().unwrap();
    assert_eq!(d.vooropleidingen.len(), 1);
}

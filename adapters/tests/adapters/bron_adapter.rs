//! The BRON adapter against the DUO simulator, on the sample journey at ROC Zuidwaard (level
//! `krd`) in the memory store: every mapped event kind reaches the simulator as its mutation(s)
//! and DUO's answer becomes `RecordDuoFeedback`; a rejection is recorded with its code and not
//! retried; a 5xx or a missing answer is transient and the mutation stays unanswered until it
//! is answered; an institution at `aanmelden` or `va` sends nothing; shadow mode sends nothing;
//! and what the adapter actually sent is valid against `docs/partners/bron-mbo-v1.xsd`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command as Process;
use std::sync::Arc;
use std::time::Duration;

use crate::support::local;
use knooppunt_adapters::duo::DuoSimulator;
use knooppunt_adapters::duo::bron::{BronAdapter, BronReader};
use knooppunt_adapters::duo::simulator::{BronMatch, BronRule};
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_adapters::{Adapter, Mode, Outcome, PermanentClass, TransientClass};
use knooppunt_ops::{AuditEntry, AuditTrail, Hop, MemoryAudit};
use knooppunt_registry::domain::{Command, DuoUitkomst, Event};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::{Participation, ReferenceData};
use knooppunt_registry::store::{EventEnvelope, MemoryStore, Store};
use knooppunt_sample as demo;

/// The whole sample journey, with the events BRON is about.
struct World {
    store: Arc<MemoryStore>,
    reference: Arc<ReferenceData>,
    audit: Arc<MemoryAudit>,
    key: DossierKey,
    events: Vec<EventEnvelope>,
}

fn is_bron(e: &Event) -> bool {
    matches!(
        e,
        Event::OnderwijsovereenkomstOndertekend { .. }
            | Event::OnderwijsovereenkomstBeeindigd { .. }
            | Event::PraktijkovereenkomstOndertekend { .. }
            | Event::PraktijkovereenkomstBeeindigd { .. }
            | Event::DiplomaUitgereikt { .. }
    )
}

impl World {
    async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let reference = Arc::new(demo::reference_data());
        let key = DossierKey::new();
        let mut events = Vec::new();
        for step in demo::journey(key) {
            let outcome = store
                .execute(step.meta, step.command, &reference)
                .await
                .expect("store");
            events.extend(
                outcome
                    .result
                    .expect(&step.title)
                    .into_iter()
                    .filter(|e| is_bron(&e.data)),
            );
        }
        Self {
            store,
            reference,
            audit: Arc::new(MemoryAudit::new()),
            key,
            events,
        }
    }

    fn adapter(&self, sim: &DuoSimulator, reference: Arc<ReferenceData>) -> BronAdapter {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        BronAdapter::new(
            &sim.url(),
            client,
            BronReader::new(
                self.store.clone(),
                self.reference.clone(),
                self.audit.clone(),
            ),
            reference,
            None,
        )
    }

    fn event(&self, kind: &str) -> &EventEnvelope {
        self.events
            .iter()
            .find(|e| e.meta.kind == kind)
            .unwrap_or_else(|| panic!("the journey has {kind}"))
    }

    /// Executes an adapter's answer as DUO, caused by the event (as the delivery runtime does).
    async fn record(&self, cause: &EventEnvelope, command: Command) {
        let duo = Actor::Partner {
            partner: Partner::Duo,
        };
        let meta = CommandMeta::caused_by(&cause.meta, duo, cause.meta.time);
        self.store
            .execute(meta, command, &self.reference)
            .await
            .expect("store")
            .result
            .expect("DUO's answer is recorded");
    }
}

async fn sim() -> DuoSimulator {
    DuoSimulator::spawn_with(local(), SimFaults::default(), Vec::new())
        .await
        .unwrap()
}

const OOK: &str = "nl.knooppunt.onderwijsovereenkomst.ondertekend.v1";
const BPV: &str = "nl.knooppunt.praktijkovereenkomst.ondertekend.v1";
const BPV_END: &str = "nl.knooppunt.praktijkovereenkomst.beeindigd.v1";
const DIPLOMA: &str = "nl.knooppunt.diploma.uitgereikt.v1";

#[tokio::test]
async fn each_event_reaches_duo_as_its_mutations_and_the_answer_is_recorded() {
    let w = World::new().await;
    let sim = sim().await;
    let adapter = w.adapter(&sim, w.reference.clone());
    assert_eq!(adapter.answers_as(), Some(Partner::Duo));
    for kind in [OOK, BPV, BPV_END, DIPLOMA] {
        let event = w.event(kind);
        let outcome = adapter.deliver(event, Mode::Live).await;
        let Outcome::Delivered {
            answer: Some(answer),
            status,
            ..
        } = outcome
        else {
            panic!("{kind}: {outcome:?}")
        };
        assert_eq!(status, "200");
        assert!(matches!(
            &answer,
            Command::RecordDuoFeedback { mutatie, uitkomst: DuoUitkomst::Geaccepteerd, .. }
                if *mutatie == event.meta.id
        ));
        w.record(event, answer).await;
    }
    let codes: Vec<String> = sim.messages().into_iter().map(|m| m.code).collect();
    assert_eq!(
        codes,
        [
            "T:Inschrijving",
            "T:BPV",
            "A:BPV",
            "T:Diploma",
            "T:Uitschrijving"
        ]
    );
    assert!(
        sim.messages()
            .iter()
            .all(|m| m.institution.as_deref() == Some("25LX"))
    );
    assert_eq!(adapter.tracker().unanswered(), 0);
    // The feedback is in the dossier, per delivered event.
    let d = w.store.dossier(w.key).await.unwrap().unwrap();
    for kind in [OOK, BPV, BPV_END, DIPLOMA] {
        let fb = &d.duo_terugkoppeling[&w.event(kind).meta.id];
        assert_eq!(fb.uitkomst, DuoUitkomst::Geaccepteerd, "{kind}");
    }
    // Every read of the dossier was audited, as DUO, part by part, with the event's id.
    let reads = w.audit.for_message(w.event(DIPLOMA).meta.id).await.unwrap();
    let parts: Vec<&str> = reads
        .iter()
        .filter(|r| r.entry.hop == Hop::Read)
        .filter_map(|r| r.entry.status.as_deref())
        .collect();
    assert_eq!(
        parts,
        [
            "personalia",
            "onderwijsovereenkomsten",
            "diplomas",
            "examenresultaten",
            "keuzedelen"
        ]
    );
    assert!(
        reads
            .iter()
            .all(|r| r.entry.partner.as_deref() == Some("duo"))
    );
}

#[tokio::test]
async fn a_rejected_mutation_becomes_feedback_with_its_code_and_is_not_retried() {
    let w = World::new().await;
    let sim = sim().await;
    sim.set_bron_rules(vec![BronRule::reject(
        BronMatch {
            record: Some("BPV".to_owned()),
            ..BronMatch::default()
        },
        "BPV0101",
        "Leerbedrijf onbekend bij DUO",
    )]);
    let adapter = w.adapter(&sim, w.reference.clone());
    let event = w.event(BPV);
    let outcome = adapter.deliver(event, Mode::Live).await;
    let Outcome::Permanent {
        class: PermanentClass::Rejected,
        reason,
        answer: Some(answer),
        ..
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(reason, "BPV0101");
    w.record(event, answer).await;
    let d = w.store.dossier(w.key).await.unwrap().unwrap();
    let DuoUitkomst::Afgekeurd { signalen } = &d.duo_terugkoppeling[&event.meta.id].uitkomst else {
        panic!("not rejected")
    };
    assert_eq!(signalen[0].code, "BPV0101");
    assert_eq!(sim.requests(), 1, "a business answer is not retried");
    assert_eq!(adapter.tracker().unanswered(), 0);
}

#[tokio::test]
async fn a_5xx_or_a_missing_answer_is_retried_and_the_mutation_waits_for_its_answer() {
    let w = World::new().await;
    let sim = sim().await;
    let adapter = w.adapter(&sim, w.reference.clone());
    let event = w.event(OOK);
    sim.set_faults(SimFaults {
        fail_next: 1,
        ..SimFaults::default()
    });
    let o = adapter.deliver(event, Mode::Live).await;
    assert!(
        matches!(
            o,
            Outcome::Transient {
                class: TransientClass::ServerError,
                ..
            }
        ),
        "{o:?}"
    );
    assert_eq!(adapter.tracker().unanswered(), 1);
    sim.set_faults(SimFaults {
        timeout_next: 1,
        ..SimFaults::default()
    });
    let o = adapter.deliver(event, Mode::Live).await;
    assert!(
        matches!(
            o,
            Outcome::Transient {
                class: TransientClass::Timeout,
                ..
            }
        ),
        "{o:?}"
    );
    assert_eq!(adapter.tracker().unanswered(), 1, "still no answer");
    sim.set_faults(SimFaults::default());
    let o = adapter.deliver(event, Mode::Live).await;
    assert!(matches!(o, Outcome::Delivered { .. }), "{o:?}");
    assert_eq!(adapter.tracker().unanswered(), 0);
    assert_eq!(sim.mutations().len(), 1, "recorded once");
}

#[tokio::test]
async fn a_diploma_is_two_mutations_and_a_resend_is_recognised_by_its_message_ids() {
    let w = World::new().await;
    let sim = sim().await;
    sim.set_bron_rules(vec![BronRule::signal(
        BronMatch {
            record: Some("Diploma".to_owned()),
            ..BronMatch::default()
        },
        "DIP0007",
        "Keuzedeelverplichting niet aangetoond",
    )]);
    let adapter = w.adapter(&sim, w.reference.clone());
    let event = w.event(DIPLOMA);
    // Delivered twice (as after a crash before the acknowledgement): the same message ids.
    let o = adapter.deliver(event, Mode::Live).await;
    assert!(matches!(o, Outcome::Delivered { .. }), "{o:?}");
    let o2 = adapter.deliver(event, Mode::Live).await;
    let Outcome::Delivered {
        answer: Some(Command::RecordDuoFeedback { uitkomst, .. }),
        ..
    } = o2
    else {
        panic!("{o2:?}")
    };
    let DuoUitkomst::GeaccepteerdMetSignalen { signalen } = uitkomst else {
        panic!("signals expected")
    };
    assert_eq!(signalen[0].code, "DIP0007");
    assert!(
        signalen[0].parameters.iter().any(|p| p.naam == "BerichtId"),
        "the signal names its message"
    );
    assert_eq!(sim.mutations().len(), 2, "one diploma, one uitschrijving");
    assert_eq!(sim.duplicates(), 2, "the resend is recognised");
}

#[tokio::test]
async fn an_institution_not_at_krd_sends_nothing() {
    let w = World::new().await;
    let sim = sim().await;
    for level in [Participation::Aanmelden, Participation::Va] {
        let mut reference = (*w.reference).clone();
        for i in reference.institutions.values_mut() {
            i.participatie = level;
        }
        let adapter = w.adapter(&sim, Arc::new(reference));
        for e in &w.events {
            assert_eq!(adapter.deliver(e, Mode::Live).await, Outcome::Skip);
        }
    }
    assert_eq!(sim.requests(), 0);
    let chain = AuditEntry::dossier_chain(w.key);
    assert!(
        w.audit.chain(&chain).await.unwrap().is_empty(),
        "nothing read"
    );
}

#[tokio::test]
async fn shadow_mode_translates_and_sends_nothing() {
    let w = World::new().await;
    let sim = sim().await;
    let adapter = w.adapter(&sim, w.reference.clone());
    for e in &w.events {
        let o = adapter.deliver(e, Mode::Shadow).await;
        assert!(
            matches!(&o, Outcome::Delivered { status, answer: None, .. } if status == "shadow"),
            "{o:?}"
        );
    }
    assert_eq!(sim.requests(), 0);
}

#[tokio::test]
async fn what_the_adapter_sent_is_valid_against_the_xsd() {
    let w = World::new().await;
    let sim = sim().await;
    let adapter = w.adapter(&sim, w.reference.clone());
    for e in &w.events {
        let o = adapter.deliver(e, Mode::Live).await;
        assert!(matches!(o, Outcome::Delivered { .. }), "{o:?}");
    }
    let sent = sim.mutations();
    assert_eq!(sent.len(), 5);
    let xsd = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/partners/bron-mbo-v1.xsd");
    for m in sent {
        let env = &m.envelope;
        let start = env.find("<Mutatiebericht").expect("a Mutatiebericht");
        let end = env.find("</soapenv:Body>").expect("a Body");
        assert_valid_against(&env[start..end], &xsd);
        assert!(
            env.contains("?oin=00000001800866472000</wsa:To>"),
            "DUO's OIN"
        );
        assert!(
            env.contains("anonymous?oin=0000000700025LX00000</wsa:Address>"),
            "the institution's OIN"
        );
    }
}

/// Validates `xml` against `xsd` with `xmllint --schema` (installed by `scripts/services.sh`).
fn assert_valid_against(xml: &str, xsd: &std::path::Path) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join("knooppunt-adapter-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{n}-bron.xml", std::process::id()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = Process::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(xsd)
        .arg(&path)
        .output()
        .expect("xmllint must be installed (scripts/services.sh installs libxml2-utils)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "not valid against {}:\n{}\n{xml}",
        xsd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An OOK ended without a diploma (here: after the OOK was signed) is an uitschrijving.
#[tokio::test]
async fn an_ended_enrolment_is_an_uitschrijving() {
    use chrono::{NaiveDate, TimeZone, Utc};
    let store = Arc::new(MemoryStore::new());
    let reference = Arc::new(demo::reference_data());
    let key = DossierKey::new();
    for step in demo::journey(key) {
        let signs = step.title.starts_with("c. ROC Zuidwaard signs");
        let outcome = store
            .execute(step.meta, step.command, &reference)
            .await
            .expect("store");
        outcome.result.expect(&step.title);
        if signs {
            break;
        }
    }
    let roc = Actor::Institution {
        brin: "25LX".parse().unwrap(),
    };
    let meta = CommandMeta::new(
        key,
        roc,
        Utc.with_ymd_and_hms(2027, 12, 1, 9, 0, 0).unwrap(),
    );
    let ended = store
        .execute(
            meta,
            Command::TerminateOnderwijsovereenkomst {
                ook: demo::OOK,
                datum: NaiveDate::from_ymd_opt(2027, 12, 1).unwrap(),
                reden: Some("03".parse().unwrap()),
            },
            &reference,
        )
        .await
        .expect("store")
        .result
        .expect("the OOK ends");
    let event = ended
        .iter()
        .find(|e| matches!(e.data, Event::OnderwijsovereenkomstBeeindigd { .. }))
        .expect("an OnderwijsovereenkomstBeeindigd");
    let w = World {
        store,
        reference: reference.clone(),
        audit: Arc::new(MemoryAudit::new()),
        key,
        events: Vec::new(),
    };
    let sim = sim().await;
    let adapter = w.adapter(&sim, reference);
    let o = adapter.deliver(event, Mode::Live).await;
    assert!(
        matches!(
            o,
            Outcome::Delivered {
                answer: Some(_),
                ..
            }
        ),
        "{o:?}"
    );
    let codes: Vec<String> = sim.messages().into_iter().map(|m| m.code).collect();
    assert_eq!(codes, ["T:Uitschrijving"]);
}

/// The adapter follows the effective level: an institution at `aanmelden` in the reference data
/// that an operator moved up to `krd` (after its RO import) is delivered for; moved back down,
/// it is not.
#[tokio::test]
async fn a_recorded_level_change_decides_what_is_sent() {
    use knooppunt_registry::domain::institution::InstitutionCommand;
    use knooppunt_registry::store::Store;
    let w = World::new().await;
    let sim = sim().await;
    let mut reference = (*w.reference).clone();
    for i in reference.institutions.values_mut() {
        i.participatie = Participation::Aanmelden;
    }
    let reference = Arc::new(reference);
    let adapter = w.adapter(&sim, reference.clone());
    let first = &w.events[0];
    let change = |to| InstitutionCommand::ChangeParticipation {
        to,
        reason: "test".to_owned(),
        operator: "otto".to_owned(),
    };
    assert_eq!(adapter.deliver(first, Mode::Live).await, Outcome::Skip);
    // Every institution of the journey moves up (the events name more than one).
    for b in reference.institutions.keys() {
        let import = InstitutionCommand::RecordRoImport {
            persons: 1,
            commands_new: 1,
            rejected: 0,
        };
        let now = chrono::Utc::now();
        w.store
            .execute_institution(b, now, import, &reference)
            .await
            .unwrap()
            .unwrap();
        w.store
            .execute_institution(b, now, change(Participation::Krd), &reference)
            .await
            .unwrap()
            .unwrap();
    }
    let o = adapter.deliver(first, Mode::Live).await;
    assert!(matches!(o, Outcome::Delivered { .. }), "{o:?}");
    let sent = sim.mutations().len();
    assert!(sent >= 1);
    for b in reference.institutions.keys() {
        w.store
            .execute_institution(
                b,
                chrono::Utc::now(),
                change(Participation::Aanmelden),
                &reference,
            )
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        adapter.deliver(&w.events[1], Mode::Live).await,
        Outcome::Skip
    );
    assert_eq!(sim.mutations().len(), sent);
}

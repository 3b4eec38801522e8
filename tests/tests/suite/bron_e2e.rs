//! BRON end to end: a whole Knooppunt (`serve::Node`) on the sandbox (in-memory store and bus)
//! and on PostgreSQL + RabbitMQ, driven by registry commands (the institution endpoints do not
//! exist yet): the sample journey of a student at ROC Zuidwaard (level `krd`) — OOK signed →
//! the inschrijving is delivered; BPV signed → the BPV is delivered, its end as an aanpassing;
//! the diploma → the diploma and the uitschrijving. The DUO simulator receives exactly these
//! mutations, in order, once; DUO's answers are recorded in the dossier per delivered event.
//! DUO down while the BPV is delivered: nothing is lost and the aanpassing does not overtake its
//! toevoeging. A rejection is recorded with its code.

use std::time::Duration;

use crate::support::{Backend, Harness, start_node};
use knooppunt_adapters::sim::SimFaults;
use knooppunt_registry::domain::{Command, DuoUitkomst, Event, Rejection, SbbCheck};
use knooppunt_registry::envelope::{Actor, DossierKey};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::EventEnvelope;
use knooppunt_sample as demo;
use serde_json::json;

const OOK: &str = "nl.knooppunt.onderwijsovereenkomst.ondertekend.v1";
const BPV: &str = "nl.knooppunt.praktijkovereenkomst.ondertekend.v1";
const BPV_END: &str = "nl.knooppunt.praktijkovereenkomst.beeindigd.v1";
const DIPLOMA: &str = "nl.knooppunt.diploma.uitgereikt.v1";

/// Every mutation of the journey, in order.
const EXPECTED: [&str; 5] = [
    "T:Inschrijving",
    "T:BPV",
    "A:BPV",
    "T:Diploma",
    "T:Uitschrijving",
];

async fn start(backend: Backend) -> Harness {
    start_node("brone2e", backend, |_| {}).await
}

/// The sample journey on a new dossier. DUO's own answers in it are left to the adapters (the
/// BRON feedback) and SBB's check is awaited from the SBB adapter; `before` sees each step
/// before it runs.
async fn journey(h: &Harness, key: DossierKey, mut before: impl FnMut(&demo::DemoStep)) {
    let node = &h.node;
    for step in demo::journey(key) {
        match step.command {
            Command::RecordDuoFeedback { .. } => continue,
            Command::RecordSbbCheck { .. } => {
                sbb_checked(h, key).await;
                continue;
            }
            _ => {}
        }
        before(&step);
        let partner = matches!(step.meta.actor, Actor::Partner { .. });
        let result = node
            .store
            .execute(step.meta, step.command, &node.reference)
            .await
            .unwrap()
            .result;
        match result {
            Ok(_) => {}
            // A partner's answer the node's adapter already recorded.
            Err(Rejection::Unchanged) if partner => {}
            Err(e) => panic!("{}: {e:?}", step.title),
        }
    }
}

async fn sbb_checked(h: &Harness, key: DossierKey) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = h.node.store.dossier(key).await.unwrap().unwrap();
        let check = d.praktijkovereenkomsten[&demo::BPV].sbb.clone();
        if check != SbbCheck::Pending {
            assert!(matches!(check, SbbCheck::Erkend { .. }), "{check:?}");
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "SBB never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The BRON mutations the DUO simulator received, once `n` arrived (or after 60 s), and a
/// little later, to see that nothing more comes.
async fn mutations(h: &Harness, n: usize) -> Vec<String> {
    let sim = &h.node.simulators[&Partner::Duo];
    let codes = || -> Vec<String> {
        sim.messages()
            .into_iter()
            .filter(|m| m.code.contains(':'))
            .map(|m| m.code)
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while codes().len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    codes()
}

/// The dossier's event of `kind`.
async fn event(h: &Harness, key: DossierKey, kind: &str) -> EventEnvelope {
    h.node
        .store
        .history(key)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.meta.kind == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// DUO's answer on the delivered event, once recorded (or after 30 s).
async fn feedback(h: &Harness, key: DossierKey, kind: &str) -> DuoUitkomst {
    let id = event(h, key, kind).await.meta.id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = h.node.store.dossier(key).await.unwrap().unwrap();
        if let Some(fb) = d.duo_terugkoppeling.get(&id) {
            return fb.uitkomst.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no feedback on {kind}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every mutation answered: the node's BRON metrics say so, with these counts per outcome.
fn assert_bron_metrics(h: &Harness, outcomes: &[(&str, u64)]) {
    let text = h.node.metrics.encode();
    for (outcome, n) in outcomes {
        let line = format!(
            "knooppunt_bron_mutations_total{{partner=\"duo_bron\",outcome=\"{outcome}\"}} {n}"
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    assert!(
        text.contains("knooppunt_bron_unanswered{partner=\"duo_bron\"} 0"),
        "{text}"
    );
    assert!(!text.contains("knooppunt_bron_unanswered_oldest_timestamp_seconds{"));
}

/// The whole journey delivered in order, with DUO down (503) while the BPV goes out: retried,
/// nothing lost, nothing twice, and the BPV's aanpassing after its toevoeging.
async fn delivered_in_order_through_an_outage(backend: Backend) {
    let h = start(backend).await;
    let key = DossierKey::new();
    let sim = &h.node.simulators[&Partner::Duo];
    journey(&h, key, |step| {
        if step.title.starts_with("e. The school signs") {
            sim.set_faults(SimFaults {
                fail_next: 6,
                ..SimFaults::default()
            });
        }
    })
    .await;
    assert_eq!(mutations(&h, EXPECTED.len()).await, EXPECTED);
    assert_eq!(sim.duplicates(), 0);
    for kind in [OOK, BPV, BPV_END, DIPLOMA] {
        assert_eq!(
            feedback(&h, key, kind).await,
            DuoUitkomst::Geaccepteerd,
            "{kind}"
        );
    }
    assert!(
        sim.requests() >= sim.received_count() + 6,
        "{} requests",
        sim.requests()
    );
    assert_bron_metrics(&h, &[("sent", 5), ("accepted", 5)]);
    h.stop().await;
}

/// DUO rejects the BPV (its leerbedrijf unknown): recorded in the dossier with DUO's code; the
/// rest of the journey is delivered all the same.
async fn a_rejection_is_recorded_with_its_code(backend: Backend) {
    let h = start(backend).await;
    let sim_url = h.node.simulators[&Partner::Duo].url();
    let r = h
        .http
        .post(format!("{sim_url}/_sim/bron/regels"))
        .json(&json!([{
            "record": "BPV",
            "soort": "T",
            "leerbedrijf": "100018965",
            "uitkomst": "afgekeurd",
            "code": "BPV0101",
            "omschrijving": "Leerbedrijf onbekend bij DUO"
        }]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let key = DossierKey::new();
    journey(&h, key, |_| {}).await;
    assert_eq!(mutations(&h, EXPECTED.len()).await, EXPECTED);
    let DuoUitkomst::Afgekeurd { signalen } = feedback(&h, key, BPV).await else {
        panic!("the BPV is not recorded as rejected")
    };
    assert_eq!(signalen[0].code, "BPV0101");
    assert_eq!(feedback(&h, key, BPV_END).await, DuoUitkomst::Geaccepteerd);
    // The institution's feed tells it, with DUO's code and the BPV it is about.
    let bpv = event(&h, key, BPV).await;
    let brin = bpv
        .meta
        .institution
        .clone()
        .expect("institution")
        .instelling();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let rejected = loop {
        let items = h.node.api_store.feed(brin.as_str(), 0, 500).await.unwrap();
        if let Some(i) = items.into_iter().find(|i| {
            i.item.partner.as_deref() == Some("duo")
                && i.item.status.as_deref() == Some("afgekeurd")
        }) {
            break i.item;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no afkeuring in the feed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rejected.reden.as_deref(), Some("BPV0101"));
    let Event::PraktijkovereenkomstOndertekend { bpv: bpv_id, .. } = &bpv.data else {
        panic!("not a BPV event")
    };
    assert_eq!(rejected.bpv_id, Some(bpv_id.0));
    assert_eq!(
        h.node.simulators[&Partner::Duo].duplicates(),
        0,
        "a rejection is not retried"
    );
    assert_bron_metrics(&h, &[("sent", 5), ("accepted", 4), ("rejected", 1)]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_bron_delivered_in_order_through_an_outage() {
    delivered_in_order_through_an_outage(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bron_delivered_in_order_through_an_outage() {
    delivered_in_order_through_an_outage(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_bron_rejection_recorded_with_its_code() {
    a_rejection_is_recorded_with_its_code(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_bron_rejection_recorded_with_its_code() {
    a_rejection_is_recorded_with_its_code(Backend::Real).await;
}

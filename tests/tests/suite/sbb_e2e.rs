//! The SBB partner end to end: a whole Knooppunt (`serve::Node`) on the sandbox (in-memory store
//! and bus) and on PostgreSQL + RabbitMQ, driven with registry commands (the same over the
//! institution API is in `krd_e2e`): the sample journey up to the registration of its BPV →
//! the SBB adapter asks the SBB simulator → erkend (the BPV can be signed) or niet erkend (the
//! signature is refused with the registry's rejection, and the institution's event says why) →
//! SBB pushes a withdrawal to the node's receiver, which marks the running BPV.

use std::time::Duration;

use crate::support::{Backend, Harness, start_node};
use chrono::{NaiveDate, Utc};
use knooppunt_adapters::sim::SimFaults;
use knooppunt_gateway::serve::Node;
use knooppunt_mappings::sbb::{self, Bericht, Mutatie, Signaal};
use knooppunt_registry::domain::{BpvDetails, Command, Event, Rejection, SbbCheck};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::EventEnvelope;
use knooppunt_sample as demo;
use uuid::Uuid;

async fn start(backend: Backend) -> Harness {
    start_node("sbbe2e", backend, |_| {}).await
}

/// The sample journey on a new dossier up to the registration of its BPV (at `leerbedrijf`
/// instead of the journey's when given). Returns the dossier and the journey's step in which
/// the student signs the BPV.
async fn register_bpv(node: &Node, leerbedrijf: Option<&str>) -> (DossierKey, demo::DemoStep) {
    let key = DossierKey::new();
    let mut steps = demo::journey(key).into_iter();
    loop {
        let mut step = steps.next().expect("the journey registers a BPV");
        if let (
            Command::RegisterPraktijkovereenkomst {
                details: BpvDetails { leerbedrijf: l, .. },
                ..
            },
            Some(other),
        ) = (&mut step.command, leerbedrijf)
        {
            *l = other.parse().unwrap();
        }
        let registers = matches!(step.command, Command::RegisterPraktijkovereenkomst { .. });
        let outcome = node
            .store
            .execute(step.meta, step.command, &node.reference)
            .await
            .unwrap();
        outcome.result.expect(&step.title);
        if registers {
            break;
        }
    }
    let sign = steps
        .find(|s| matches!(s.command, Command::SignPraktijkovereenkomst { .. }))
        .expect("a signing step");
    (key, sign)
}

/// The BPV's SBB check once it is no longer pending (or after 30 s).
async fn checked(node: &Node, key: DossierKey) -> SbbCheck {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = node.store.dossier(key).await.unwrap().unwrap();
        let check = d.praktijkovereenkomsten[&demo::BPV].sbb.clone();
        if check != SbbCheck::Pending || tokio::time::Instant::now() > deadline {
            return check;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign(node: &Node, step: &demo::DemoStep) -> Result<Vec<EventEnvelope>, Rejection> {
    node.store
        .execute(step.meta.clone(), step.command.clone(), &node.reference)
        .await
        .unwrap()
        .result
}

/// SBB pushes a withdrawal of `leerbedrijf` to the node's receiver: the HTTP status.
async fn push_withdrawal(node: &Node, leerbedrijf: &str) -> u16 {
    let mutatie = Mutatie {
        bericht: Bericht {
            bericht_id: Uuid::new_v4(),
            verzender: knooppunt_adapters::sbb::SBB_OIN.parse().unwrap(),
            ontvanger: knooppunt_adapters::sbb::KNOOPPUNT_OIN.parse().unwrap(),
            tijdstip: Utc::now(),
        },
        leerbedrijf: leerbedrijf.parse().unwrap(),
        onderdeel: None,
        datum_ingang: NaiveDate::from_ymd_opt(2028, 8, 25).unwrap(),
        signaal: Some(Signaal::Ingetrokken),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    http.post(node.receivers[&Partner::Sbb].url())
        .header("content-type", "application/xml")
        .body(sbb::write_mutatie(&mutatie).unwrap())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The dossier's events of `kind`, with the institution they are for.
async fn events_of(node: &Node, key: DossierKey, kind: &str) -> Vec<EventEnvelope> {
    node.store
        .history(key)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.meta.kind == kind)
        .collect()
}

/// Erkend: the BPV can be signed; SBB later withdraws the recognition and the running BPV is
/// marked, in an event for the institution.
async fn recognised_then_withdrawn(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let (key, student_signs) = register_bpv(node, None).await;
    assert!(matches!(checked(node, key).await, SbbCheck::Erkend { .. }));
    let codes: Vec<String> = node.simulators[&Partner::Sbb]
        .messages()
        .into_iter()
        .map(|m| m.code)
        .collect();
    assert_eq!(codes, ["erkend"], "SBB was asked once");
    sign(node, &student_signs)
        .await
        .expect("signing is allowed");

    assert_eq!(push_withdrawal(node, "100018965").await, 200);
    assert!(matches!(
        checked(node, key).await,
        SbbCheck::Ingetrokken { .. }
    ));
    let marked = events_of(
        node,
        key,
        "nl.knooppunt.praktijkovereenkomst.erkenning_ingetrokken.v1",
    )
    .await;
    assert_eq!(marked.len(), 1);
    assert_eq!(
        marked[0].meta.institution.as_ref().map(|b| b.to_string()),
        Some("25LX".to_owned())
    );
    // Pushed again (another message): no running BPV is left to mark.
    assert_eq!(push_withdrawal(node, "100018965").await, 200);
    assert_eq!(
        events_of(
            node,
            key,
            "nl.knooppunt.praktijkovereenkomst.erkenning_ingetrokken.v1"
        )
        .await
        .len(),
        1
    );
    h.stop().await;
}

/// Niet erkend: recorded once with SBB's signaalcode in the institution's event, and the BPV
/// cannot be signed.
async fn not_recognised_cannot_be_signed(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    let (key, student_signs) = register_bpv(node, Some("100000001")).await;
    assert_eq!(
        checked(node, key).await,
        SbbCheck::NietErkend {
            reason: "SBB001".to_owned()
        }
    );
    let told = events_of(
        node,
        key,
        "nl.knooppunt.praktijkovereenkomst.sbb_gecontroleerd.v1",
    )
    .await;
    assert_eq!(told.len(), 1, "recorded once");
    assert_eq!(
        told[0].meta.institution.as_ref().map(|b| b.to_string()),
        Some("25LX".to_owned())
    );
    assert!(matches!(
        &told[0].data,
        Event::SbbCheckVastgelegd { uitkomst: SbbCheck::NietErkend { reason }, .. } if reason == "SBB001"
    ));
    assert_eq!(
        sign(node, &student_signs).await.unwrap_err(),
        Rejection::LeerbedrijfNotErkend { bpv: demo::BPV }
    );
    assert_eq!(
        node.simulators[&Partner::Sbb].received_count(),
        1,
        "not retried"
    );
    h.stop().await;
}

/// SBB is down for a while: the question is retried through the tiers and answered later.
async fn sbb_down_for_a_while(backend: Backend) {
    let h = start(backend).await;
    let node = &h.node;
    node.simulators[&Partner::Sbb].set_faults(SimFaults {
        fail_next: 6,
        ..SimFaults::default()
    });
    let (key, _) = register_bpv(node, None).await;
    assert!(matches!(checked(node, key).await, SbbCheck::Erkend { .. }));
    let sim = &node.simulators[&Partner::Sbb];
    assert_eq!(sim.received_count(), 1);
    assert!(sim.requests() >= 7, "{} requests", sim.requests());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_sbb_recognised_then_withdrawn() {
    recognised_then_withdrawn(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sbb_recognised_then_withdrawn() {
    recognised_then_withdrawn(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_sbb_not_recognised_cannot_be_signed() {
    not_recognised_cannot_be_signed(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sbb_not_recognised_cannot_be_signed() {
    not_recognised_cannot_be_signed(Backend::Real).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_sbb_down_for_a_while_loses_nothing() {
    sbb_down_for_a_while(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sbb_down_for_a_while_loses_nothing() {
    sbb_down_for_a_while(Backend::Real).await;
}

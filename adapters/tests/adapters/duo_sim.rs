//! The DUO persons simulator on its own: what it accepts, how it refuses, its sample persons,
//! duplicates, faults, and its summary without personal data.

use crate::support::{client, local};
use chrono::Utc;
use knooppunt_adapters::duo::{DuoSimulator, OPVRAGING_PATH, sample};
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_mappings::duo::persoon::{self, Opvraging};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;

fn bsn(s: &str) -> PersonId {
    PersonId::Bsn(s.parse().expect("a valid BSN"))
}

async fn ask(sim: &DuoSimulator, body: String, message_id: Option<&str>) -> (u16, String) {
    let mut r = client()
        .post(format!("{}{OPVRAGING_PATH}", sim.url()))
        .header("content-type", "application/xml");
    if let Some(id) = message_id {
        r = r.header("x-message-id", id);
    }
    let r = r.body(body).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn lookup(id: PersonId) -> String {
    persoon::write_opvraging(&Opvraging {
        id,
        aflever_adres: None,
    })
}

#[tokio::test]
async fn it_knows_the_sandbox_students_and_answers_in_the_persoon_format() {
    let sim = DuoSimulator::spawn(local(), SimFaults::default())
        .await
        .expect("sim");
    assert_eq!(sim.partner(), Partner::Duo);
    let today = Utc::now().date_naive();
    for expected in sample::persons(today) {
        let (status, body) = ask(&sim, lookup(expected.persoon.id.clone()), None).await;
        assert_eq!(status, 200, "{body}");
        let answer = persoon::parse_persoon_en_vooropleidingen(body.as_bytes()).expect("valid");
        assert_eq!(answer, expected);
    }
    assert_eq!(sim.received_count(), 4);
    assert_eq!(sim.subscription_count(), 0, "no subscription was asked");
}

#[tokio::test]
async fn an_unknown_person_is_a_not_found_problem() {
    let sim = DuoSimulator::spawn_with(local(), SimFaults::default(), Vec::new())
        .await
        .expect("sim");
    let (status, body) = ask(&sim, lookup(bsn("123456782")), None).await;
    assert_eq!(status, 404);
    let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(problem["code"], "persoon_onbekend");
    assert!(!body.contains("123456782"), "the problem names no number");
    assert_eq!(sim.messages()[0].code, "onbekend");
}

#[tokio::test]
async fn malformed_requests_are_refused_with_the_field() {
    let sim = DuoSimulator::spawn_with(local(), SimFaults::default(), Vec::new())
        .await
        .expect("sim");
    let (status, body) = ask(
        &sim,
        r#"<Opvraging xmlns="urn:knooppunt:duo:persoon:v1"><Burgerservicenummer>123456789</Burgerservicenummer></Opvraging>"#.to_owned(),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(problem["field"], "Opvraging/Burgerservicenummer");
    let (status, _) = ask(&sim, "<Opvraging/>".to_owned(), None).await;
    assert_eq!(status, 400);
    let wrong_address = lookup(bsn("111222333")).replace(
        "</Burgerservicenummer>",
        "</Burgerservicenummer><Abonneren><AfleverAdres>ftp://x</AfleverAdres></Abonneren>",
    );
    let (status, body) = ask(&sim, wrong_address, None).await;
    assert_eq!(status, 400, "{body}");
    let r = client()
        .post(format!("{}{OPVRAGING_PATH}", sim.url()))
        .header("content-type", "application/json")
        .body(lookup(bsn("111222333")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(sim.received_count(), 0, "none of these was a lookup");
    assert_eq!(sim.requests(), 4);
}

#[tokio::test]
async fn a_repeated_message_id_is_a_duplicate_and_faults_apply() {
    let sim = DuoSimulator::spawn(local(), SimFaults::default())
        .await
        .expect("sim");
    let noor = bsn("999990019");
    assert_eq!(ask(&sim, lookup(noor.clone()), Some("m-1")).await.0, 200);
    assert_eq!(ask(&sim, lookup(noor.clone()), Some("m-1")).await.0, 200);
    assert_eq!(sim.duplicates(), 1);
    sim.set_faults(SimFaults {
        fail_next: 1,
        ..SimFaults::default()
    });
    assert_eq!(ask(&sim, lookup(noor.clone()), None).await.0, 503);
    assert_eq!(ask(&sim, lookup(noor), None).await.0, 200);
    assert_eq!(sim.received_count(), 3);
}

#[tokio::test]
async fn the_summary_holds_no_person_numbers() {
    let sim = DuoSimulator::spawn(local(), SimFaults::default())
        .await
        .expect("sim");
    let with_subscription = persoon::write_opvraging(&Opvraging {
        id: bsn("999990019"),
        aflever_adres: Some("http://127.0.0.1:9/meldingen".to_owned()),
    });
    assert_eq!(ask(&sim, with_subscription, None).await.0, 200);
    assert_eq!(ask(&sim, lookup(bsn("123456782")), None).await.0, 404);
    let body = client()
        .get(format!("{}/_sim/received", sim.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !body.contains("999990019") && !body.contains("123456782"),
        "{body}"
    );
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["partner"], "duo");
    assert_eq!(summary["subscriptions"], 1);
    assert_eq!(summary["items"][0]["uitkomst"], "gevonden");
    assert_eq!(summary["items"][0]["abonnement"], true);
    assert_eq!(summary["items"][1]["uitkomst"], "onbekend");
}

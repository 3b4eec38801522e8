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

/// BRON messages of the sample journey at ROC Zuidwaard (krd), as the adapter writes them.
mod bron_service {
    use super::*;
    use knooppunt_adapters::duo::simulator::{
        BPV_LEERBEDRIJF_ONBEKEND, BRON_PATH, UNKNOWN_LEERBEDRIJF,
    };
    use knooppunt_mappings::duo::bron::{self, BronBericht, BronInhoud, soap};
    use knooppunt_mappings::rio::soap::{Addressing, DUO_OIN};
    use knooppunt_registry::domain::DuoUitkomst;
    use knooppunt_registry::envelope::DossierKey;
    use knooppunt_registry::store::{MemoryStore, Store};
    use knooppunt_sample as demo;

    async fn messages() -> Vec<BronBericht> {
        let store = MemoryStore::new();
        let reference = demo::reference_data();
        let key = DossierKey::new();
        let mut events = Vec::new();
        for step in demo::journey(key) {
            let outcome = store
                .execute(step.meta, step.command, &reference)
                .await
                .expect("store");
            events.extend(outcome.result.expect(&step.title));
        }
        let dossier = store.dossier(key).await.unwrap().unwrap();
        events
            .iter()
            .flat_map(|e| bron::event::from_event(&e.meta, &e.data, &dossier).unwrap())
            .collect()
    }

    fn envelope(m: &BronBericht, to: &str) -> String {
        soap::write_envelope(
            m,
            &Addressing {
                from: m.brin.oin(),
                endpoint: "http://sim/duo/bron/v1/mutaties".to_owned(),
                to: to.parse().unwrap(),
                message_id: m.bericht_id,
            },
        )
        .unwrap()
    }

    async fn post(sim: &DuoSimulator, body: String, media: &str) -> (u16, String) {
        let r = client()
            .post(format!("{}{BRON_PATH}", sim.url()))
            .header("content-type", media)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    async fn sim() -> DuoSimulator {
        DuoSimulator::spawn_with(local(), SimFaults::default(), Vec::new())
            .await
            .expect("sim")
    }

    #[tokio::test]
    async fn it_answers_each_mutation_and_records_it_once_in_order() {
        let sim = sim().await;
        let all = messages().await;
        assert_eq!(all.len(), 5);
        for m in &all {
            let (status, body) = post(&sim, envelope(m, DUO_OIN), "text/xml; charset=utf-8").await;
            assert_eq!(status, 200, "{body}");
            let answer = soap::read_answer(body.as_bytes()).expect("a Verwerkingsresultaat");
            assert_eq!(answer.bericht_id, m.bericht_id);
            assert_eq!(answer.uitkomst, DuoUitkomst::Geaccepteerd);
        }
        // Sent again: answered the same, counted as a duplicate, not recorded twice.
        let (status, _) = post(&sim, envelope(&all[0], DUO_OIN), "text/xml").await;
        assert_eq!(status, 200);
        assert_eq!(sim.duplicates(), 1);
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
        // The summary names no person.
        let summary = client()
            .get(format!("{}/_sim/received", sim.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(summary.contains("T:Inschrijving"), "{summary}");
        assert!(!summary.contains(all[0].persoon.id.digits()), "{summary}");
    }

    #[tokio::test]
    async fn a_bpv_at_a_leerbedrijf_duo_does_not_know_is_rejected_with_its_code() {
        let sim = sim().await;
        let mut bpv = messages()
            .await
            .into_iter()
            .find(|m| matches!(m.inhoud, BronInhoud::Bpv(_)))
            .unwrap();
        if let BronInhoud::Bpv(b) = &mut bpv.inhoud {
            b.leerbedrijf_id = UNKNOWN_LEERBEDRIJF.parse().unwrap();
        }
        let (status, body) = post(&sim, envelope(&bpv, DUO_OIN), "text/xml").await;
        assert_eq!(status, 200, "a business answer");
        let answer = soap::read_answer(body.as_bytes()).unwrap();
        let DuoUitkomst::Afgekeurd { signalen } = answer.uitkomst else {
            panic!("not rejected")
        };
        assert_eq!(signalen[0].code, BPV_LEERBEDRIJF_ONBEKEND);
    }

    #[tokio::test]
    async fn it_refuses_what_duo_would_refuse_naming_the_field() {
        let sim = sim().await;
        let m = messages().await.remove(0);
        let good = envelope(&m, DUO_OIN);
        let (status, _) = post(&sim, good.clone(), "application/json").await;
        assert_eq!(status, 415);
        let cases = [
            (
                envelope(&m, "00000001003214345000"),
                "Envelope/Header/wsa:To",
            ),
            (
                good.replace("<BRIN>25LX</BRIN>", "<BRIN>30GT</BRIN>"),
                "Envelope/Header/wsa:From",
            ),
            (
                good.replace("<SoortMutatie>", "<Onbekend/><SoortMutatie>"),
                "Mutatiebericht/Onbekend",
            ),
            (
                good.replace("wsa:Action", "wsa:Actie"),
                "Envelope/Header/wsa:Action",
            ),
        ];
        for (body, field) in cases {
            let (status, problem) = post(&sim, body, "text/xml").await;
            assert_eq!(status, 400, "{field}: {problem}");
            let p: serde_json::Value = serde_json::from_str(&problem).unwrap();
            assert_eq!(p["field"], field, "{problem}");
        }
        assert!(sim.mutations().is_empty(), "nothing recorded");
    }

    #[tokio::test]
    async fn its_rules_can_be_set_over_http() {
        let sim = sim().await;
        let rules = |body: &str| {
            client()
                .post(format!("{}/_sim/bron/regels", sim.url()))
                .header("content-type", "application/json")
                .body(body.to_owned())
                .send()
        };
        let r = rules(r#"[{"record":"Inschrijving","uitkomst":"afgekeurd","code":"ISG0001","omschrijving":"Opleiding onbekend"}]"#)
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let r = rules(r#"[{"uitkomst":"afgekeurd"}]"#).await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "a rejection needs its code");
        let m = messages().await.remove(0);
        let (_, body) = post(&sim, envelope(&m, DUO_OIN), "text/xml").await;
        let DuoUitkomst::Afgekeurd { signalen } =
            soap::read_answer(body.as_bytes()).unwrap().uitkomst
        else {
            panic!("{body}")
        };
        assert_eq!(signalen[0].code, "ISG0001");
    }

    #[tokio::test]
    async fn faults_apply_to_bron_too() {
        let sim = sim().await;
        let m = messages().await.remove(0);
        sim.set_faults(SimFaults {
            fail_next: 1,
            ..SimFaults::default()
        });
        let (status, _) = post(&sim, envelope(&m, DUO_OIN), "text/xml").await;
        assert_eq!(status, 503);
        assert!(sim.mutations().is_empty());
        let (status, _) = post(&sim, envelope(&m, DUO_OIN), "text/xml").await;
        assert_eq!(status, 200);
        assert_eq!(sim.mutations().len(), 1);
    }
}

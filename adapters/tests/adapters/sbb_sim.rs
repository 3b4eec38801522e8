//! The SBB simulator on its own: it answers from its list of recognitions in the mapping's
//! format, refuses malformed questions with the field, counts duplicates and injects faults.

use std::time::Duration;

use crate::support::local;
use chrono::{NaiveDate, TimeZone, Utc};
use knooppunt_adapters::sbb::{Erkenning, NATREKKEN_PATH, SbbSimulator};
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_mappings::sbb::{self, Bericht, Inkomend, Signaal, Uitkomst, Verzoek};
use knooppunt_registry::domain::{BpvId, BpvOnderdeel};
use uuid::Uuid;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn crebo(c: &str) -> BpvOnderdeel {
    BpvOnderdeel::Crebo(c.parse().unwrap())
}

fn verzoek(leerbedrijf: &str, onderdeel: BpvOnderdeel, start: NaiveDate) -> Verzoek {
    Verzoek {
        bericht: Bericht {
            bericht_id: Uuid::new_v4(),
            verzender: knooppunt_adapters::sbb::KNOOPPUNT_OIN.parse().unwrap(),
            ontvanger: knooppunt_adapters::sbb::SBB_OIN.parse().unwrap(),
            tijdstip: Utc.with_ymd_and_hms(2028, 8, 20, 9, 0, 0).unwrap(),
        },
        referentie: BpvId(Uuid::new_v4()),
        leerbedrijf: leerbedrijf.parse().unwrap(),
        onderdeel,
        startdatum: start,
    }
}

async fn ask(sim: &SbbSimulator, body: String, message_id: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut request = client
        .post(format!("{}{NATREKKEN_PATH}", sim.url()))
        .header("content-type", "application/xml")
        .body(body);
    if let Some(id) = message_id {
        request = request.header("x-message-id", id);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The verdict for `v`: `None` for erkend, else the signal.
async fn verdict(sim: &SbbSimulator, v: &Verzoek) -> Option<Signaal> {
    let (status, body) = ask(sim, sbb::write_verzoek(v).unwrap(), None).await;
    assert_eq!(status, 200, "{body}");
    let Inkomend::Antwoord(a) = sbb::parse(body.as_bytes()).expect("valid answer") else {
        panic!("not an answer")
    };
    assert_eq!(a.in_antwoord_op, v.bericht.bericht_id);
    assert_eq!(a.referentie, v.referentie);
    match a.uitkomst {
        Uitkomst::Erkend { .. } => None,
        Uitkomst::NietErkend { signaal, .. } => Some(signaal),
    }
}

#[tokio::test]
async fn it_answers_from_its_list_of_recognitions() {
    let list = vec![Erkenning {
        leerbedrijf: "100000002".parse().unwrap(),
        onderdeel: crebo("25655"),
        vanaf: day(2027, 1, 1),
        tot: Some(day(2028, 12, 31)),
    }];
    let sim = SbbSimulator::spawn_with(local(), SimFaults::default(), list)
        .await
        .unwrap();
    let cases = [
        ("100000002", crebo("25655"), day(2028, 9, 1), None),
        ("100000002", crebo("25655"), day(2028, 12, 31), None),
        (
            "100000002",
            crebo("25655"),
            day(2029, 1, 1),
            Some(Signaal::NietGeldigOpStartdatum),
        ),
        (
            "100000002",
            crebo("25998"),
            day(2028, 9, 1),
            Some(Signaal::GeenErkenningVoorOnderdeel),
        ),
        (
            "100000003",
            crebo("25655"),
            day(2028, 9, 1),
            Some(Signaal::LeerbedrijfOnbekend),
        ),
    ];
    for (leerbedrijf, onderdeel, start, want) in cases {
        let v = verzoek(leerbedrijf, onderdeel.clone(), start);
        assert_eq!(
            verdict(&sim, &v).await,
            want,
            "{leerbedrijf} {onderdeel:?} {start}"
        );
    }
    assert_eq!(sim.received_count(), 5);
    let codes: Vec<String> = sim.messages().into_iter().map(|m| m.code).collect();
    assert_eq!(codes, ["erkend", "erkend", "SBB003", "SBB002", "SBB001"]);
}

#[tokio::test]
async fn the_sandbox_list_recognises_the_journeys_leerbedrijf() {
    let sim = SbbSimulator::spawn(local(), SimFaults::default())
        .await
        .unwrap();
    let v = verzoek("100018965", crebo("25998"), day(2028, 9, 1));
    assert_eq!(verdict(&sim, &v).await, None);
    let k = verzoek(
        "100018965",
        BpvOnderdeel::Keuzedeel("K0067".parse().unwrap()),
        day(2028, 9, 1),
    );
    assert_eq!(verdict(&sim, &k).await, None);
}

#[tokio::test]
async fn malformed_questions_are_refused_with_the_field() {
    let sim = SbbSimulator::spawn(local(), SimFaults::default())
        .await
        .unwrap();
    let good = sbb::write_verzoek(&verzoek("100018965", crebo("25998"), day(2028, 9, 1))).unwrap();
    let (status, body) = ask(&sim, good.replace("100018965", "012345678"), None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("leerbedrijfId"), "{body}");
    let (status, _) = ask(&sim, "<natrekkenErkenningVerzoek/>".to_owned(), None).await;
    assert_eq!(status, 400);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = client
        .post(format!("{}{NATREKKEN_PATH}", sim.url()))
        .header("content-type", "application/json")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(sim.received_count(), 0, "nothing malformed is recorded");
}

#[tokio::test]
async fn a_repeated_message_id_is_a_duplicate_and_faults_apply() {
    let sim = SbbSimulator::spawn(
        local(),
        SimFaults {
            fail_next: 1,
            ..SimFaults::default()
        },
    )
    .await
    .unwrap();
    let body = sbb::write_verzoek(&verzoek("100018965", crebo("25998"), day(2028, 9, 1))).unwrap();
    let (status, _) = ask(&sim, body.clone(), Some("m-1")).await;
    assert_eq!(status, 503);
    assert_eq!(ask(&sim, body.clone(), Some("m-1")).await.0, 200);
    assert_eq!(ask(&sim, body, Some("m-1")).await.0, 200);
    assert_eq!(sim.duplicates(), 1);
    assert_eq!(sim.requests(), 3);
    sim.set_faults(SimFaults {
        too_many_next: 1,
        ..SimFaults::default()
    });
    let body = sbb::write_verzoek(&verzoek("100018965", crebo("25998"), day(2028, 9, 1))).unwrap();
    assert_eq!(ask(&sim, body, None).await.0, 429);
}

#[tokio::test]
async fn the_summary_names_leerbedrijven_and_outcomes() {
    let sim = SbbSimulator::spawn(local(), SimFaults::default())
        .await
        .unwrap();
    let v = verzoek("100000003", crebo("25998"), day(2028, 9, 1));
    verdict(&sim, &v).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let summary: serde_json::Value = client
        .get(format!("{}/_sim/received", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["partner"], "sbb");
    assert_eq!(summary["items"][0]["leerbedrijfId"], "100000003");
    assert_eq!(summary["items"][0]["uitkomst"], "SBB001");
}

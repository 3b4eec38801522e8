//! The VA partner simulators on their own: what they accept, how they refuse malformed input
//! (400 naming the field), dedup and order, faults, and the demo summary without BSNs.

use std::net::SocketAddr;

use crate::support::client;
use chrono::{TimeZone, Utc};
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_adapters::va::VaPartner;
use knooppunt_adapters::va::VaSimulator;
use knooppunt_mappings::va::{self, VaStatus};
use knooppunt_registry::domain::AanmeldStatus;
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::RegionaalSysteem;
use serde_json::{Value, json};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

fn status(pgn: &str, volgnummer: u64, s: AanmeldStatus) -> VaStatus {
    VaStatus {
        keten_id: None,
        ca_keten_id: None,
        wijzigingsvolgnummer: volgnummer,
        pgn: PersonId::parse_either(pgn).expect("pgn"),
        status: s,
        laatste_wijziging: Utc.with_ymd_and_hms(2027, 2, 12, 9, 0, 0).unwrap(),
        brin: "25LX".parse().expect("brin"),
        onderwijsaanbieder_code: None,
        crebo: "25998".parse().expect("crebo"),
        aanmeldjaar: Some("2027-2028".to_owned()),
        startdatum: None,
        leertraject: None,
    }
}

async fn post(sim: &VaSimulator, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = client()
        .post(format!("{}{path}", sim.url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let code = r.status().as_u16();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (code, body)
}

async fn post_page(sim: &VaSimulator, items: &[VaStatus]) -> u16 {
    let page = va::write_page(items).expect("page");
    let path = sim.recipient().path(None);
    post(sim, &path, page).await.0
}

#[test]
fn partners_have_names_and_paths() {
    let names: Vec<_> = VaPartner::ALL.iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        ["koppelpunt", "intergrip", "digidoor", "voroc", "gemeenten"]
    );
    for p in VaPartner::ALL {
        assert_eq!(VaPartner::from_partner(p.partner()), Some(p));
        assert_eq!(p.partner().as_str(), p.name());
        assert!(p.path(None).ends_with("/aanmeldstatussen"));
    }
    assert_eq!(VaPartner::from_partner(Partner::Sbb), None);
    assert_eq!(
        VaPartner::Gemeenten.path(Some(&"0599".parse().expect("code"))),
        "/koppelpunt-gemeenten/v1/gemeenten/0599/aanmeldstatussen"
    );
}

#[tokio::test]
async fn malformed_input_is_refused_with_400_naming_the_field() {
    let sim = VaSimulator::spawn(VaPartner::Koppelpunt, local(), SimFaults::default())
        .await
        .expect("sim");
    let path = VaPartner::Koppelpunt.path(None);
    let good = serde_json::from_str::<Value>(
        &va::write_page(&[status("111222333", 1, AanmeldStatus::Aangemeld)]).expect("page"),
    )
    .expect("json");
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut page = good.clone();
        if let Some(item) = page["items"][0].as_object_mut() {
            f(item);
        }
        page.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            with(&|i| {
                i.remove("pgn");
            }),
            "items[0].pgn",
        ),
        (
            with(&|i| {
                i.insert("pgn".to_owned(), json!("111222334"));
            }),
            "items[0].pgn",
        ),
        (
            with(&|i| {
                i.insert("brin".to_owned(), json!("2"));
            }),
            "items[0].brin",
        ),
        (
            with(&|i| {
                i.insert("status".to_owned(), json!("XX"));
            }),
            "items[0].status",
        ),
        (
            with(&|i| {
                i.insert("opleidingCreboCode".to_owned(), json!("abc"));
            }),
            "items[0].opleidingCreboCode",
        ),
        (
            with(&|i| {
                i.remove("wijzigingsvolgnummer");
            }),
            "items[0].wijzigingsvolgnummer",
        ),
        ("{\"items\": [".to_owned(), "body"),
        ("{\"items\": []}".to_owned(), "items"),
    ];
    for (body, field) in cases {
        let (code, problem) = post(&sim, &path, body).await;
        assert_eq!(code, 400, "{field}");
        assert_eq!(problem["field"], json!(field), "{problem}");
        assert_eq!(problem["status"], json!(400));
        assert_eq!(problem["code"], json!("invalid_field"));
        assert!(
            !problem.to_string().contains("111222334"),
            "the value is not echoed"
        );
    }
    // Trailing commas, as in the published example, are accepted.
    let page = va::write_page(&[status("111222333", 1, AanmeldStatus::Aangemeld)])
        .expect("page")
        .replacen("\n    }", ",\n    }", 1)
        .replacen("}\n  ]", "},\n  ]", 1);
    assert!(
        page.contains(",\n    }") && page.contains("},\n  ]"),
        "{page}"
    );
    assert_eq!(post(&sim, &path, page).await.0, 200);
    // Not JSON by content type: 415.
    let r = client()
        .post(format!("{}{path}", sim.url()))
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 415);
    // Another partner's path is not served.
    let other = VaPartner::Regionaal(RegionaalSysteem::Voroc).path(None);
    assert_eq!(post(&sim, &other, good.to_string()).await.0, 404);
    assert_eq!(sim.received().len(), 1);
    sim.shutdown().await;

    // The gemeenten koppelpunt checks the municipality code in its path.
    let sim = VaSimulator::spawn(VaPartner::Gemeenten, local(), SimFaults::default())
        .await
        .expect("sim");
    let bad = VaPartner::Gemeenten
        .path(None)
        .replace("{gemeente}", "Rotterdam");
    let (code, problem) = post(&sim, &bad, good.to_string()).await;
    assert_eq!((code, problem["field"].clone()), (400, json!("gemeente")));
    let ok = VaPartner::Gemeenten.path(Some(&"0599".parse().expect("code")));
    assert_eq!(post(&sim, &ok, good.to_string()).await.0, 200);
    let items = sim.received_items();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].gemeente.as_ref().map(|g| g.as_str()), Some("0599"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_highest_wijzigingsvolgnummer_wins_and_order_is_kept() {
    let sim = VaSimulator::spawn(VaPartner::Koppelpunt, local(), SimFaults::default())
        .await
        .expect("sim");
    use AanmeldStatus::*;
    let sent = [
        status("111222333", 4, Ontvangen),
        status("111222333", 7, Aangemeld),
        status("111222333", 7, Aangemeld), // a resend: duplicate
        status("123456782", 3, Ontvangen), // another student: independent
        status("111222333", 5, Ontvangen), // late and lower: duplicate
        status("111222333", 9, OokAangeboden),
    ];
    for s in &sent {
        assert_eq!(post_page(&sim, std::slice::from_ref(s)).await, 200);
    }
    let got: Vec<_> = sim
        .received()
        .iter()
        .map(|s| (s.pgn.digits().to_owned(), s.wijzigingsvolgnummer, s.status))
        .collect();
    assert_eq!(
        got,
        vec![
            ("111222333".to_owned(), 4, Ontvangen),
            ("111222333".to_owned(), 7, Aangemeld),
            ("123456782".to_owned(), 3, Ontvangen),
            ("111222333".to_owned(), 9, OokAangeboden),
        ]
    );
    assert_eq!(sim.duplicates(), 2);
    assert_eq!(sim.requests(), sent.len());
    // A page with several items is handled item by item.
    assert_eq!(
        post_page(
            &sim,
            &[
                status("123456782", 4, Aangemeld),
                status("123456782", 4, Aangemeld)
            ]
        )
        .await,
        200
    );
    assert_eq!(sim.received().len(), 5);
    assert_eq!(sim.duplicates(), 3);

    // The demo summary: codes and a keyed hash of the pgn, never the number.
    let summary: Value = client()
        .get(format!("{}/_sim/received", sim.url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let text = summary.to_string();
    assert!(
        !text.contains("111222333") && !text.contains("123456782"),
        "{text}"
    );
    assert_eq!(summary["partner"], json!("koppelpunt"));
    assert_eq!(summary["duplicates"], json!(3));
    let items = summary["items"].as_array().expect("items");
    assert_eq!(items.len(), 5);
    assert_eq!(items[1]["wijzigingsvolgnummer"], json!(7));
    assert_eq!(items[1]["status"], json!("AM"));
    assert_eq!(items[1]["brin"], json!("25LX"));
    assert_eq!(items[1]["crebo"], json!("25998"));
    assert_eq!(items[1]["gemeente"], Value::Null);
    assert_eq!(items[0]["pgnHash"], items[1]["pgnHash"], "same student");
    assert_ne!(items[0]["pgnHash"], items[2]["pgnHash"], "another student");
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_come_from_configuration_and_apply_in_order() {
    // Every field defaults; unknown fields are refused.
    let faults: SimFaults = serde_json::from_value(
        json!({ "fail_next": 1, "too_many_next": 1, "reject_statuses": ["LI"] }),
    )
    .expect("faults");
    assert_eq!(faults.latency_ms, 0);
    assert_eq!(faults.timeout_next, 0);
    assert!(serde_json::from_value::<SimFaults>(json!({ "fail_nxt": 1 })).is_err());

    let sim = VaSimulator::spawn(
        VaPartner::Regionaal(RegionaalSysteem::Digidoor),
        local(),
        faults,
    )
    .await
    .expect("sim");
    let am = status("111222333", 1, AanmeldStatus::Aangemeld);
    let li = status("111222333", 2, AanmeldStatus::LeidtNietTotInschrijving);
    // 429 first (with Retry-After: 1), then 503, then served.
    let path = sim.recipient().path(None);
    let r = client()
        .post(format!("{}{path}", sim.url()))
        .header("content-type", "application/json")
        .body(va::write_page(std::slice::from_ref(&am)).expect("page"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(post_page(&sim, std::slice::from_ref(&am)).await, 503);
    assert_eq!(post_page(&sim, std::slice::from_ref(&am)).await, 200);
    // LI is refused with 422 and an error code.
    let (code, problem) = post(&sim, &path, va::write_page(&[li]).expect("page")).await;
    assert_eq!(code, 422);
    assert_eq!(problem["code"], json!("status_geweigerd"));
    assert_eq!(problem["field"], json!("items[0].status"));
    assert_eq!(sim.received().len(), 1);

    // fail_rate 1 fails everything, 0 nothing.
    sim.set_faults(SimFaults {
        fail_rate: 1.0,
        ..SimFaults::default()
    });
    for _ in 0..3 {
        assert_eq!(post_page(&sim, std::slice::from_ref(&am)).await, 503);
    }
    sim.set_faults(SimFaults::default());
    assert_eq!(post_page(&sim, std::slice::from_ref(&am)).await, 200);
    assert_eq!(sim.duplicates(), 1);
    sim.shutdown().await;
}

//! The sector reports of a whole node, on the sandbox and on PostgreSQL + RabbitMQ: five
//! aanmeldingen over the institution API reach the VA partners, and the operator API's
//! `va-timeliness` then shows each message once with a time from the status change (the
//! event id's UUIDv7 moment) to its delivery — never longer than the test has been running —
//! and `aanmeldingen` counts the five students; no answer holds a BSN.

use std::time::Duration;

use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::operator::Role;
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_sample::MEDIAVORMGEVER;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Backend, Harness, start_node};

async fn report(h: &Harness, path: &str) -> (u16, String) {
    let token = h
        .node
        .operator_credentials
        .iter()
        .find(|c| c.role == Role::Reader)
        .map(|c| c.token.clone())
        .expect("a reader token");
    let res = h
        .http
        .get(format!("{}{path}", h.node.operator_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("operator API");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn timeliness_of_real_deliveries(backend: Backend) {
    let h = start_node("reports", backend, |_| {}).await;
    let node = &h.node;
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    let cohort = node
        .reference
        .opleiding(&MEDIAVORMGEVER)
        .unwrap()
        .open_cohort(today)
        .unwrap()
        .code
        .clone();
    let started = chrono::Utc::now();
    let mut bsns = Vec::new();
    for n in 0..5 {
        let PersonId::Bsn(bsn) = synthetic_person(4_200 + n) else {
            unreachable!("synthetic persons have a BSN")
        };
        let bsn = bsn.as_str().to_owned();
        let id = Uuid::new_v4();
        let r = kustland
            .post(
                "/api/v1/aanmeldingen",
                &format!("submit-{id}"),
                &json!({
                    "aanmelding_id": id, "student": { "bsn": bsn }, "opleiding": MEDIAVORMGEVER,
                    "cohort": cohort, "toeleverende_school": "19XY",
                }),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        bsns.push(bsn);
    }

    // The koppelpunt gets every status: five `ontvangen`, each delivered once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let koppelpunt: Value = loop {
        let (status, text) = report(&h, "/ops/v1/reports/va-timeliness").await;
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let row = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["partner"] == json!(Partner::Koppelpunt.as_str()))
            .cloned()
            .unwrap();
        if row["messages"] == json!(5) {
            break row;
        }
        assert!(tokio::time::Instant::now() < deadline, "not delivered: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let p50 = koppelpunt["p50_ms"]
        .as_u64()
        .expect("a p50 over 5 messages");
    let p95 = koppelpunt["p95_ms"]
        .as_u64()
        .expect("a p95 over 5 messages");
    assert!(p50 <= p95, "{koppelpunt}");
    // No time to delivery can exceed the time since the first status change was made.
    let elapsed = u64::try_from((chrono::Utc::now() - started).num_milliseconds()).unwrap();
    assert!(p95 <= elapsed + 1, "{koppelpunt} after {elapsed} ms");
    assert_eq!(koppelpunt["suppressed"], json!(false));

    let (status, aanmeldingen) = report(&h, "/ops/v1/reports/aanmeldingen?format=csv").await;
    assert_eq!(status, 200, "{aanmeldingen}");
    assert!(
        aanmeldingen.contains(&format!("\n28AB,{cohort},5,0,0,0,0,0,5\n")),
        "{aanmeldingen}"
    );
    for bsn in &bsns {
        assert!(!aanmeldingen.contains(bsn.as_str()), "a BSN in a report");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_timeliness_of_real_deliveries() {
    timeliness_of_real_deliveries(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_timeliness_of_real_deliveries() {
    timeliness_of_real_deliveries(Backend::Real).await;
}

//! The signing provider simulator on its own: what it accepts and how it refuses, the
//! signer-side endpoints, its signed postbacks, and its faults.

use std::sync::{Arc, Mutex};

use crate::support::local;
use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use knooppunt_adapters::partners::Secret;
use knooppunt_adapters::signing::{SIGNATURE_HEADER, SigningSimulator, signature};
use knooppunt_adapters::sim::{SimFaults, SimServer, Simulator};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "the-simulator-test-secret";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// A stand-in receiver recording each postback's signature header and body.
async fn receiver() -> (SimServer, Seen) {
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let router = Router::new().route(
        "/pb",
        post(move |headers: HeaderMap, body: Bytes| {
            let keep = keep.clone();
            async move {
                let sig = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                keep.lock()
                    .unwrap()
                    .push((sig, String::from_utf8_lossy(&body).into_owned()));
                "ok"
            }
        }),
    );
    let server = SimServer::spawn("test-receiver", local(), router, CancellationToken::new())
        .await
        .unwrap();
    (server, seen)
}

fn create_body(postback: &str) -> Value {
    json!({
        "Reference": "ook:00000000-0000-4000-8000-000000000a01",
        "PostbackUrl": postback,
        "DaysToExpire": 30,
        "SendEmailNotifications": false,
        "Signers": [
            {"Id": "student", "ReturnUrl": "https://k.example/klaar", "SendSignRequest": false,
             "Verifications": [{"Type": "Scribble"}]},
            {"Id": "instelling", "ReturnUrl": "https://k.example/klaar", "SendSignRequest": false,
             "Verifications": [{"Type": "Scribble"}]}
        ]
    })
}

async fn post_json(url: &str, body: &Value, message_id: Option<&str>) -> (u16, Value) {
    let mut r = http().post(url).json(body);
    if let Some(id) = message_id {
        r = r.header("x-message-id", id);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn sim(faults: SimFaults) -> SigningSimulator {
    SigningSimulator::spawn_with_secret(local(), faults, Secret::new(SECRET))
        .await
        .unwrap()
}

#[tokio::test]
async fn creates_transactions_once_per_message_and_refuses_bad_ones_naming_the_field() {
    let sim = sim(SimFaults::default()).await;
    let url = format!("{}/api/transaction", sim.url());
    let good = create_body("https://k.example/pb");
    let (status, t) = post_json(&url, &good, Some("m-1")).await;
    assert_eq!((status, t["Status"].as_u64()), (201, Some(10)));
    let (status, again) = post_json(&url, &good, Some("m-1")).await;
    assert_eq!((status, &again["Id"]), (200, &t["Id"]));
    assert_eq!((sim.received_count(), sim.duplicates()), (1, 1));

    let cases = [
        ("Reference", json!("doc:1")),
        ("PostbackUrl", json!("ftp://x")),
        ("DaysToExpire", json!(91)),
        ("Signers", json!([])),
    ];
    for (field, value) in cases {
        let mut bad = good.clone();
        bad[field] = value;
        let (status, problem) = post_json(&url, &bad, None).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)));
    }
    let mut twice = good.clone();
    twice["Signers"][1]["Id"] = json!("student");
    let (status, problem) = post_json(&url, &twice, None).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("Signers[1].Id"))
    );
    let r = http()
        .post(&url)
        .header("content-type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    assert_eq!(sim.received_count(), 1);
    let r = reqwest::get(format!("{url}/no-such")).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn signers_sign_or_reject_and_each_change_is_posted_back_signed() {
    let (rx, seen) = receiver().await;
    let sim = sim(SimFaults::default()).await;
    let (_, t) = post_json(
        &format!("{}/api/transaction", sim.url()),
        &create_body(&format!("{}/pb", rx.url())),
        None,
    )
    .await;
    let id = t["Id"].as_str().unwrap().to_owned();
    let act = |what: &str| format!("{}/_sim/transactions/{id}/{what}", sim.url());

    let (status, body) = post_json(&act("sign"), &json!({"signer": "student"}), None).await;
    assert_eq!((status, body["Status"].as_u64()), (200, Some(20)));
    let (status, _) = post_json(&act("sign"), &json!({"signer": "student"}), None).await;
    assert_eq!(status, 409);
    let (status, problem) = post_json(&act("sign"), &json!({"signer": "rector"}), None).await;
    assert_eq!((status, problem["field"].as_str()), (422, Some("signer")));
    let (status, problem) = post_json(&act("sign"), &json!({}), None).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("signer")));
    let (status, body) = post_json(&act("reject"), &json!({"signer": "instelling"}), None).await;
    assert_eq!((status, body["Status"].as_u64()), (200, Some(40)));
    let (status, _) = post_json(&act("expire"), &json!({}), None).await;
    assert_eq!(status, 409, "a rejected transaction is closed");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (sig, body) in &seen {
        assert_eq!(
            sig.as_deref(),
            Some(signature(SECRET.as_bytes(), body.as_bytes()).as_str())
        );
        let parsed = knooppunt_mappings::signing::parse_status(body.as_bytes()).unwrap();
        assert_eq!(parsed.transactie, id);
    }
    assert_eq!(sim.postbacks(), [200, 200]);
    let list: Value = reqwest::get(format!("{}/_sim/transactions", sim.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["transactions"][0]["Status"], 40);
    let summary: Value = reqwest::get(format!("{}/_sim/received", sim.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["items"][0]["signed"], 1);
}

#[tokio::test]
async fn faults_apply_to_the_provider_interface_and_postbacks_can_be_lost() {
    let (rx, seen) = receiver().await;
    let sim = sim(SimFaults {
        fail_next: 1,
        too_many_next: 1,
        drop_pushes_next: 1,
        ..SimFaults::default()
    })
    .await;
    let url = format!("{}/api/transaction", sim.url());
    let body = create_body(&format!("{}/pb", rx.url()));
    assert_eq!(post_json(&url, &body, None).await.0, 429);
    assert_eq!(post_json(&url, &body, None).await.0, 503);
    let (status, t) = post_json(&url, &body, None).await;
    assert_eq!(status, 201);
    let id = t["Id"].as_str().unwrap();
    let sign = format!("{}/_sim/transactions/{id}/sign", sim.url());
    let (_, answer) = post_json(&sign, &json!({"signer": "student"}), None).await;
    assert_eq!(answer["postback"], Value::Null, "dropped");
    let (_, answer) = post_json(&sign, &json!({"signer": "instelling"}), None).await;
    assert_eq!(answer["postback"], 200);
    assert_eq!(sim.dropped_postbacks(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(sim.status_of(id), Some(30));
    assert_eq!(sim.requests(), 3);
}

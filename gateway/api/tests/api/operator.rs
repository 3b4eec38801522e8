//! The operator API over in-memory stores and a fake delivery runtime ([`FakeRuntimes`]): who
//! may do what (401, 403), problems for bad input, the views (never a body, a BSN or a name),
//! staged replay (canary first, stop at the first failure) and discard releasing the held
//! message.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use knooppunt_api::ApiMetrics;
use knooppunt_api::operator::{OperatorRegistry, OperatorState, Redelivery, Role, router};
use knooppunt_ops::{
    AuditEntry, AuditTrail, DeliveryState, Discarded, HeldMessage, Hop, MemoryAudit,
    MemoryDeliveryState, Metrics, ParkedMessage,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{Answer, send};

const READER: &str = "reader-token";
const OPERATOR: &str = "operator-token";
const ADMIN: &str = "admin-token";
/// Personal data inside parked bodies: never in an answer.
const BODY_BSN: &str = "999990019";
const BODY_NAME: &str = "Noor Jansen";

/// A delivery runtime stand-in: republishing "delivers" the message (appends `delivered` to its
/// audit chain) unless the message is in `fail`, which gets `retried`.
#[derive(Default)]
struct FakeRuntimes {
    audit: Option<Arc<MemoryAudit>>,
    fail: Mutex<Vec<Uuid>>,
    republished: Mutex<Vec<Uuid>>,
    released: Mutex<Vec<Uuid>>,
}

#[async_trait]
impl Redelivery for FakeRuntimes {
    fn consumers(&self) -> Vec<String> {
        vec!["feed".into(), "intergrip".into()]
    }

    async fn republish(&self, parked: &ParkedMessage) -> Result<(), String> {
        self.republished.lock().unwrap().push(parked.message_id);
        let hop = if self.fail.lock().unwrap().contains(&parked.message_id) {
            Hop::Retried
        } else {
            Hop::Delivered
        };
        if let Some(audit) = &self.audit {
            audit
                .append(
                    AuditEntry::for_message(parked.message_id, hop)
                        .partner(parked.consumer.clone()),
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn release(&self, discarded: Discarded) -> Result<(), String> {
        self.released
            .lock()
            .unwrap()
            .extend(discarded.released.iter().map(|m| m.message_id));
        Ok(())
    }
}

struct Ops {
    app: Router,
    state: Arc<MemoryDeliveryState>,
    audit: Arc<MemoryAudit>,
    runtimes: Arc<FakeRuntimes>,
    /// Every answer body, to scan for personal data at the end.
    seen: Mutex<String>,
}

fn ops() -> Ops {
    let state = Arc::new(MemoryDeliveryState::new());
    let audit = Arc::new(MemoryAudit::new());
    let runtimes = Arc::new(FakeRuntimes {
        audit: Some(audit.clone()),
        ..FakeRuntimes::default()
    });
    let mut operators = OperatorRegistry::new();
    for (name, role, token) in [
        ("rita", Role::Reader, READER),
        ("otto", Role::Operator, OPERATOR),
        ("ada", Role::Admin, ADMIN),
    ] {
        operators.insert_hashed(
            name,
            role,
            knooppunt_api::operator::auth::token_sha256(token),
        );
    }
    let mut s = OperatorState::new(
        state.clone(),
        audit.clone(),
        Arc::new(Metrics::new()),
        Arc::new(ApiMetrics::new()),
        Arc::new(knooppunt_api::AlwaysReady),
        Arc::new(operators),
        runtimes.clone(),
        CancellationToken::new(),
    );
    s.limits.outcome_poll = Duration::from_millis(5);
    s.limits.outcome_wait = Duration::from_secs(5);
    Ops {
        app: router(s),
        state,
        audit,
        runtimes,
        seen: Mutex::new(String::new()),
    }
}

impl Ops {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let a = send(&self.app, req).await;
        self.seen.lock().unwrap().push_str(&a.text);
        a
    }

    async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, Some(READER), None).await
    }

    /// Parks a message for `intergrip` (body with personal data) about `subject`.
    async fn park(&self, reason: &str, subject: Option<&str>) -> Uuid {
        let id = Uuid::now_v7();
        let now = Utc::now();
        let mut headers = BTreeMap::new();
        headers.insert(
            "amqp-type".to_owned(),
            "nl.knooppunt.aanmelding.status_gewijzigd.v1".to_owned(),
        );
        headers.insert("ce-subject".to_owned(), "secret-header".to_owned());
        self.state
            .park(ParkedMessage {
                consumer: "intergrip".into(),
                message_id: id,
                subject: subject.map(str::to_owned),
                partner: "intergrip".into(),
                reason: reason.into(),
                attempts: 9,
                first_failure: now,
                last_failure: now,
                last_error: "http_503".into(),
                headers,
                body: format!("{{\"bsn\":\"{BODY_BSN}\",\"naam\":\"{BODY_NAME}\"}}").into_bytes(),
            })
            .await
            .unwrap();
        if let Some(s) = subject {
            self.state.block("intergrip", s, id).await.unwrap();
        }
        id
    }

    async fn parked_count(&self) -> usize {
        self.state.parked("intergrip").await.unwrap().len()
    }

    /// Polls a replay job until it is finished.
    async fn finished(&self, job: &Answer) -> Value {
        let id = job.body["job_id"].as_str().expect("a job id").to_owned();
        for _ in 0..500 {
            let a = self.get(&format!("/ops/v1/replays/{id}")).await;
            assert_eq!(a.status, 200, "{}", a.text);
            if a.body["finished"] == json!(true) {
                return a.body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the replay job did not finish");
    }

    fn assert_no_personal_data(&self) {
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty());
        for needle in [BODY_BSN, BODY_NAME, "secret-header"] {
            assert!(!seen.contains(needle), "{needle} in an operator answer");
        }
    }
}

#[tokio::test]
async fn tokens_and_roles_decide_who_may_do_what() {
    let o = ops();
    let id = o.park("retries_exhausted", None).await;
    let a = o.call("GET", "/ops/v1/status", None, None).await;
    a.assert_problem(401, "missing_token");
    assert!(a.headers.contains_key("www-authenticate"));
    o.call("GET", "/ops/v1/status", Some("not-a-token"), None)
        .await
        .assert_problem(401, "invalid_token");
    assert_eq!(o.get("/ops/v1/status").await.status, 200);
    let replay = json!({ "consumer": "intergrip", "message_id": id, "reason": "partner back" });
    o.call("POST", "/ops/v1/replay", Some(READER), Some(replay.clone()))
        .await
        .assert_problem(403, "role_not_permitted");
    let discard = json!({ "message_id": id, "reason": "obsolete" });
    o.call("POST", "/ops/v1/discard", Some(READER), Some(discard))
        .await
        .assert_problem(403, "role_not_permitted");
    assert_eq!(
        o.parked_count().await,
        1,
        "a refused action changes nothing"
    );
    assert!(o.runtimes.republished.lock().unwrap().is_empty());
    // An admin may replay.
    let a = o
        .call("POST", "/ops/v1/replay", Some(ADMIN), Some(replay))
        .await;
    assert_eq!(a.status, 202, "{}", a.text);
    o.finished(&a).await;
    o.assert_no_personal_data();
}

#[tokio::test]
async fn bad_input_is_a_problem_naming_the_field() {
    let o = ops();
    let id = o.park("retries_exhausted", None).await;
    o.get("/ops/v1/parked/nobody")
        .await
        .assert_problem(404, "not_found");
    o.get(&format!("/ops/v1/parked/nobody/{id}"))
        .await
        .assert_problem(404, "not_found");
    let a = o.get("/ops/v1/parked/intergrip/not-a-uuid").await;
    a.assert_problem(400, "invalid_request");
    assert_eq!(a.body["field"], json!("message_id"));
    o.get(&format!("/ops/v1/parked/intergrip/{}", Uuid::now_v7()))
        .await
        .assert_problem(404, "not_found");
    o.get("/ops/v1/trace/nope")
        .await
        .assert_problem(400, "invalid_request");
    o.get(&format!("/ops/v1/trace/{}", Uuid::now_v7()))
        .await
        .assert_problem(404, "not_found");
    o.get(&format!("/ops/v1/replays/{}", Uuid::now_v7()))
        .await
        .assert_problem(404, "not_found");
    let cases = [
        (
            json!({ "consumer": "intergrip", "message_id": id }),
            "reason",
        ),
        (
            json!({ "consumer": "intergrip", "message_id": id, "reason": "  " }),
            "reason",
        ),
        (
            json!({ "consumer": "intergrip", "message_id": id, "reason": "bsn 111222333" }),
            "reason",
        ),
        (json!({ "consumer": "nobody", "reason": "x" }), "consumer"),
        (json!({ "reason": "x" }), "consumer"),
        (
            json!({ "consumer": "intergrip", "message_id": "nope", "reason": "x" }),
            "message_id",
        ),
        (
            json!({ "consumer": "intergrip", "canary": 0, "reason": "x" }),
            "canary",
        ),
        (
            json!({ "consumer": "intergrip", "rate_per_second": 1000, "reason": "x" }),
            "rate_per_second",
        ),
        (
            json!({ "consumer": "intergrip", "message_id": id, "park_reason": "x", "reason": "x" }),
            "park_reason",
        ),
    ];
    for (body, field) in cases {
        let a = o
            .call("POST", "/ops/v1/replay", Some(OPERATOR), Some(body.clone()))
            .await;
        a.assert_problem(422, "invalid_field");
        assert_eq!(a.body["field"], json!(field), "{body}: {}", a.text);
    }
    let a = o
        .call(
            "POST",
            "/ops/v1/discard",
            Some(OPERATOR),
            Some(json!({ "message_id": id })),
        )
        .await;
    a.assert_problem(422, "invalid_field");
    assert_eq!(a.body["field"], json!("reason"));
    o.call(
        "POST",
        "/ops/v1/discard",
        Some(OPERATOR),
        Some(json!({ "message_id": Uuid::now_v7(), "reason": "x" })),
    )
    .await
    .assert_problem(404, "not_found");
    o.call(
        "POST",
        "/ops/v1/replay",
        Some(OPERATOR),
        Some(json!({ "consumer": "intergrip", "park_reason": "other", "reason": "x" })),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(o.parked_count().await, 1, "nothing changed");
    // The audit trail holds no replay or discard.
    assert!(o.audit.for_message(id).await.unwrap().is_empty());
}

#[tokio::test]
async fn views_show_ids_codes_and_counts_never_the_body() {
    let o = ops();
    let a1 = o.park("retries_exhausted", Some("dk-1")).await;
    o.park("retries_exhausted", None).await;
    o.park("undecodable", None).await;
    let status = o.get("/ops/v1/status").await;
    assert_eq!(status.status, 200, "{}", status.text);
    let consumers = status.body["consumers"].as_array().unwrap();
    let ig = consumers
        .iter()
        .find(|c| c["consumer"] == json!("intergrip"))
        .unwrap();
    assert_eq!(ig["parked"], json!(3));
    assert_eq!(ig["blocked_subjects"], json!(1));
    assert_eq!(ig["queue_depth"], Value::Null, "no sample, no number");
    let groups = o.get("/ops/v1/parked").await;
    assert_eq!(groups.body["total"], json!(3));
    let g = groups.body["groups"].as_array().unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(
        (g[0]["reason"].clone(), g[0]["count"].clone()),
        (json!("retries_exhausted"), json!(2))
    );
    let list = o.get("/ops/v1/parked/intergrip").await;
    assert_eq!(list.body.as_array().unwrap().len(), 3);
    let one = o.get(&format!("/ops/v1/parked/intergrip/{a1}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["subject"], json!("dk-1"));
    assert_eq!(one.body["attempts"], json!(9));
    assert_eq!(one.body["last_error"], json!("http_503"));
    assert_eq!(
        one.body["headers"]["type"],
        json!("nl.knooppunt.aanmelding.status_gewijzigd.v1")
    );
    assert!(one.body["body_bytes"].as_u64().unwrap() > 0);
    assert_eq!(one.body["payload_sha256"].as_str().unwrap().len(), 64);
    assert!(one.body.get("body").is_none());
    // Operator API also serves metrics and readiness.
    let m = o.call("GET", "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert!(m.text.contains("# EOF"));
    assert_eq!(o.call("GET", "/readyz", None, None).await.status, 200);
    o.assert_no_personal_data();
}

#[tokio::test]
async fn a_group_is_replayed_canary_first_then_the_rest() {
    let o = ops();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(o.park("retries_exhausted", None).await);
    }
    o.park("undecodable", None).await;
    let a = o
        .call(
            "POST",
            "/ops/v1/replay",
            Some(OPERATOR),
            Some(json!({
                "consumer": "intergrip", "park_reason": "retries_exhausted",
                "canary": 2, "rate_per_second": 100, "reason": "intergrip is back"
            })),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert!(
        a.headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/ops/v1/replays/")
    );
    assert_eq!(a.body["selected"], json!(5));
    let job = o.finished(&a).await;
    assert_eq!(job["replayed"], json!(5), "{job}");
    assert_eq!(job["delivered"], json!(5), "{job}");
    assert_eq!(job["left_parked"], json!(0));
    assert_eq!(job["stopped"], Value::Null);
    assert_eq!(
        *o.runtimes.republished.lock().unwrap(),
        ids,
        "in parked order"
    );
    assert_eq!(o.parked_count().await, 1, "the other group stays parked");
    // Each replay is in the audit trail with the operator and the reason.
    let trail = o.audit.for_message(ids[0]).await.unwrap();
    let replayed = trail.iter().find(|r| r.entry.hop == Hop::Replayed).unwrap();
    assert_eq!(replayed.entry.actor.as_deref(), Some("otto"));
    assert_eq!(replayed.entry.reason.as_deref(), Some("intergrip is back"));
    // And the trace shows it, verified.
    let t = o.get(&format!("/ops/v1/trace/{}", ids[0])).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.body["verified"], json!(true));
    let hops: Vec<&str> = t.body["chains"][0]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hop"].as_str().unwrap())
        .collect();
    assert_eq!(hops, ["replayed", "delivered"]);
    o.assert_no_personal_data();
}

#[tokio::test]
async fn a_failing_canary_leaves_the_rest_parked() {
    let o = ops();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(o.park("retries_exhausted", None).await);
    }
    o.runtimes.fail.lock().unwrap().push(ids[0]);
    let a = o
        .call(
            "POST",
            "/ops/v1/replay",
            Some(OPERATOR),
            Some(json!({ "consumer": "intergrip", "reason": "try again" })),
        )
        .await;
    let job = o.finished(&a).await;
    assert_eq!(
        (
            job["replayed"].clone(),
            job["failed"].clone(),
            job["left_parked"].clone()
        ),
        (json!(1), json!(1), json!(3)),
        "{job}"
    );
    assert!(job["stopped"].as_str().unwrap().contains("canary"), "{job}");
    assert_eq!(o.parked_count().await, 3);
}

#[tokio::test]
async fn the_rest_stops_at_the_first_failure() {
    let o = ops();
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(o.park("retries_exhausted", None).await);
    }
    o.runtimes.fail.lock().unwrap().push(ids[2]);
    let a = o
        .call(
            "POST",
            "/ops/v1/replay",
            Some(OPERATOR),
            Some(json!({ "consumer": "intergrip", "rate_per_second": 100, "reason": "again" })),
        )
        .await;
    let job = o.finished(&a).await;
    assert_eq!(job["delivered"], json!(2), "{job}");
    assert_eq!(job["failed"], json!(1), "{job}");
    assert_eq!(
        job["replayed"],
        json!(3),
        "stopped right after the failure: {job}"
    );
    assert_eq!(job["left_parked"], json!(3), "{job}");
    assert_eq!(o.parked_count().await, 3);
}

#[tokio::test]
async fn discard_releases_the_message_held_behind_it() {
    let o = ops();
    let blocker = o.park("retries_exhausted", Some("dk-9")).await;
    let held = Uuid::now_v7();
    assert!(
        o.state
            .hold(
                "intergrip",
                "dk-9",
                HeldMessage {
                    message_id: held,
                    headers: BTreeMap::new(),
                    body: b"{}".to_vec(),
                    held_at: Utc::now(),
                },
            )
            .await
            .unwrap()
    );
    // Without a consumer: the only one holding it.
    let a = o
        .call(
            "POST",
            "/ops/v1/discard",
            Some(OPERATOR),
            Some(json!({ "message_id": blocker, "reason": "duplicate of a later status" })),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["released"], json!([held]));
    assert_eq!(*o.runtimes.released.lock().unwrap(), vec![held]);
    assert_eq!(o.parked_count().await, 0);
    assert_eq!(
        o.state.blocker("intergrip", "dk-9").await.unwrap(),
        Some(held)
    );
    let trail = o.audit.for_message(blocker).await.unwrap();
    let d = trail
        .iter()
        .find(|r| r.entry.hop == Hop::Discarded)
        .unwrap();
    assert_eq!(d.entry.actor.as_deref(), Some("otto"));
    o.assert_no_personal_data();
}

#[test]
fn the_operator_listener_takes_a_certificate_and_key_and_names_a_missing_file() {
    let dir = std::env::temp_dir().join(format!("kp-optls-{}", Uuid::new_v4().simple()));
    let files = knooppunt_api::pki::Pki::write_sandbox(&dir, &[]).unwrap();
    let config =
        knooppunt_api::operator::tls::server_config(&files.server_pem, &files.server_key).unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    let e = knooppunt_api::operator::tls::server_config(&dir.join("nope.pem"), &files.server_key)
        .unwrap_err()
        .to_string();
    assert!(e.contains("operator.tls.cert"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

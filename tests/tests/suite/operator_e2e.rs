//! The operator API end to end, on the sandbox and on PostgreSQL + RabbitMQ: Intergrip fails
//! until a student's first VA status parks and the next one is held behind it; a reader may
//! look but not replay; a staged replay delivers the parked status and the held one follows in
//! order; a discard releases what waited behind the discarded status. Every operator answer of
//! the run is scanned for the students' BSN and names.

use std::time::Duration;

use knooppunt_adapters::sim::SimFaults;
use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::operator::Role;
use knooppunt_registry::domain::AanmeldStatus;
use knooppunt_registry::partner::Partner;
use knooppunt_sample::MEDIAVORMGEVER;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ops_client::{NOOR, Ops, cohort, received, until_received};
use crate::support::{Backend, start_node};

impl Ops {
    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Role::Reader, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Intergrip's line of `/ops/v1/status`.
    async fn intergrip(&self) -> Value {
        let status = self.get("/ops/v1/status").await;
        status["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["consumer"] == json!("intergrip"))
            .cloned()
            .expect("intergrip in the status")
    }

    /// Waits until Intergrip has `parked` parked messages and `held` held ones.
    async fn until_intergrip(&self, parked: u64, held: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let line = self.intergrip().await;
            if line["parked"] == json!(parked) && line["held"] == json!(held) {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "intergrip never had {parked} parked and {held} held: {line}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn parked_id(&self) -> Uuid {
        let list = self.get("/ops/v1/parked/intergrip").await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        list[0]["message_id"].as_str().unwrap().parse().unwrap()
    }
}

async fn change(client: &ApiClient, id: Uuid, status: &str) {
    let r = client
        .post(
            &format!("/api/v1/aanmeldingen/{id}/status"),
            &format!("status-{id}-{status}"),
            &json!({ "status": status }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Polls a replay job until it is finished.
async fn finished(ops: &Ops, job: &Value) -> Value {
    let id = job["job_id"].as_str().expect("a job id");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let j = ops.get(&format!("/ops/v1/replays/{id}")).await;
        if j["finished"] == json!(true) {
            return j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never finished: {j}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failing() -> SimFaults {
    SimFaults {
        fail_next: u32::MAX,
        ..SimFaults::default()
    }
}

async fn replay_and_discard(backend: Backend) {
    let h = start_node("ope2e", backend, |_| {}).await;
    let node = &h.node;
    let ops = Ops::new(node);
    let kustland = ApiClient::for_sandbox(node, "28AB").unwrap();
    let intergrip = &node.simulators[&Partner::Intergrip];

    // Intergrip is down: the first status parks, the next waits behind it.
    intergrip.set_faults(failing());
    let id = Uuid::new_v4();
    let r = kustland
        .post(
            "/api/v1/aanmeldingen",
            &format!("submit-{id}"),
            &json!({
                "aanmelding_id": id,
                "student": { "bsn": NOOR },
                "opleiding": MEDIAVORMGEVER,
                "cohort": cohort(node),
                "toeleverende_school": "19XY",
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    ops.until_intergrip(1, 0).await;
    change(&kustland, id, "aangemeld").await;
    let line = ops.until_intergrip(1, 1).await;
    assert_eq!(line["blocked_subjects"], json!(1));
    assert!(line["last_failure_at"].is_string(), "{line}");
    let parked = ops.parked_id().await;
    let groups = ops.get("/ops/v1/parked").await;
    assert_eq!(groups["total"], json!(1), "{groups}");
    assert_eq!(groups["groups"][0]["reason"], json!("retries_exhausted"));
    let detail = ops.get(&format!("/ops/v1/parked/intergrip/{parked}")).await;
    assert!(detail["attempts"].as_u64().unwrap() > 1, "{detail}");
    assert!(detail.get("body").is_none());
    let trace = ops.get(&format!("/ops/v1/trace/{parked}")).await;
    assert_eq!(trace["verified"], json!(true), "{trace}");

    // A reader may look, not replay or discard.
    let ask = json!({ "consumer": "intergrip", "reason": "intergrip is back" });
    let (status, body) = ops
        .call(Role::Reader, "POST", "/ops/v1/replay", Some(ask.clone()))
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("role_not_permitted"))
    );
    let (status, _) = ops
        .call(
            Role::Reader,
            "POST",
            "/ops/v1/discard",
            Some(json!({ "message_id": parked, "reason": "x" })),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(received(node), vec![], "nothing reached Intergrip yet");

    // Intergrip is back: a staged replay delivers the parked status, the held one follows.
    intergrip.set_faults(SimFaults::default());
    let (status, job) = ops
        .call(Role::Operator, "POST", "/ops/v1/replay", Some(ask))
        .await;
    assert_eq!(status, 202, "{job}");
    let job = finished(&ops, &job).await;
    assert_eq!(
        (
            job["replayed"].clone(),
            job["delivered"].clone(),
            job["left_parked"].clone()
        ),
        (json!(1), json!(1), json!(0)),
        "{job}"
    );
    use AanmeldStatus::*;
    until_received(node, &[Ontvangen, Aangemeld]).await;
    let line = ops.until_intergrip(0, 0).await;
    assert!(line["last_delivered_at"].is_string(), "{line}");
    let trace = ops.get(&format!("/ops/v1/trace/{parked}")).await;
    assert_eq!(trace["verified"], json!(true), "{trace}");
    let hops: Vec<&str> = trace["chains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["records"].as_array().unwrap())
        .filter_map(|r| r["hop"].as_str())
        .collect();
    let replayed = hops
        .iter()
        .position(|h| *h == "replayed")
        .expect("replayed");
    assert!(hops[..replayed].contains(&"parked"), "{hops:?}");
    assert!(hops[replayed..].contains(&"delivered"), "{hops:?}");

    // Down again: the next status parks and the one after waits; a discard releases it.
    intergrip.set_faults(failing());
    change(&kustland, id, "ook_aangeboden").await;
    ops.until_intergrip(1, 0).await;
    change(&kustland, id, "ingetrokken").await;
    ops.until_intergrip(1, 1).await;
    let obsolete = ops.parked_id().await;
    intergrip.set_faults(SimFaults::default());
    let (status, body) = ops
        .call(
            Role::Operator,
            "POST",
            "/ops/v1/discard",
            Some(json!({ "message_id": obsolete, "reason": "superseded by ingetrokken" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["released"].as_array().map(Vec::len), Some(1), "{body}");
    until_received(node, &[Ontvangen, Aangemeld, Ingetrokken]).await;
    ops.until_intergrip(0, 0).await;
    let trace = ops.get(&format!("/ops/v1/trace/{obsolete}")).await;
    let discarded = trace["chains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["records"].as_array().unwrap())
        .find(|r| r["hop"] == json!("discarded"))
        .cloned()
        .expect("discard in the trace");
    assert_eq!(discarded["actor"], json!("sandbox-operator"));
    assert_eq!(discarded["reason"], json!("superseded by ingetrokken"));

    ops.assert_no_personal_data(11);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_operator_replays_in_stages_and_discards() {
    replay_and_discard(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_operator_replays_in_stages_and_discards() {
    replay_and_discard(Backend::Real).await;
}

//! Runtime controls end to end, on the sandbox and on PostgreSQL + RabbitMQ: an operator puts
//! Intergrip in maintenance through the operator API while the node runs; a student's statuses
//! are held (the simulator gets nothing) — on PostgreSQL also across a restart of the node,
//! whose stored window still holds them; removing the window releases them, in order. A reader
//! changes nothing; bad input is a problem naming the field; the audit trail names the
//! operator, role and reason; no operator answer holds the student's BSN or name. Shadow mode
//! for one institution, set at runtime, sends nothing about its students. Two nodes on one
//! database: a change made on one reaches the other.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::operator::Role;
use knooppunt_gateway::serve::Node;
use knooppunt_ops::Hop;
use knooppunt_registry::domain::AanmeldStatus;
use knooppunt_sample::MEDIAVORMGEVER;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ops_client::{NOOR, Ops, cohort, received, until_received};
use crate::support::{Backend, start_node};

impl Ops {
    /// Intergrip's controls, from `GET /ops/v1/controls`.
    async fn intergrip_controls(&self) -> Value {
        let (status, all) = self
            .call(Role::Reader, "GET", "/ops/v1/controls", None)
            .await;
        assert_eq!(status, 200, "{all}");
        all["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["partner"] == json!("intergrip"))
            .cloned()
            .expect("intergrip in the controls")
    }
}

/// Waits until `more` events went through the registry and the bus after `before` (the feed
/// consumer delivered them), so that only the window can be what holds Intergrip's copies.
async fn until_published(node: &Node, before: u64, more: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if node.metrics.partner_view("feed").delivered >= before + more {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed never got the statuses"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn maintenance_at_runtime(backend: Backend) {
    let h = start_node("ctle2e", backend, |_| {}).await;
    let ops = Ops::new(&h.node);
    let end = Utc::now() + TimeDelta::minutes(30);

    // A reader changes nothing.
    for (method, path, body) in [
        (
            "POST",
            "/ops/v1/controls/intergrip/maintenance",
            json!({ "end": end, "reason": "x" }),
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/shadow",
            json!({ "on": true, "reason": "x" }),
        ),
        (
            "PUT",
            "/ops/v1/controls/intergrip/rate-limit",
            json!({ "per_second": 1.0, "reason": "x" }),
        ),
    ] {
        let (status, body) = ops.call(Role::Reader, method, path, Some(body)).await;
        assert_eq!(
            (status, body["code"].clone()),
            (403, json!("role_not_permitted")),
            "{path}"
        );
    }
    assert_eq!(ops.intergrip_controls().await["maintenance"], json!([]));

    // Bad input: a problem naming the field, nothing changes.
    let start = Utc::now() + TimeDelta::hours(2);
    for (path, body, status, field) in [
        (
            "/ops/v1/controls/intergrip/maintenance",
            json!({ "start": start, "end": start - TimeDelta::hours(1), "reason": "x" }),
            422,
            "end",
        ),
        (
            "/ops/v1/controls/nobody/maintenance",
            json!({ "end": end, "reason": "x" }),
            404,
            "partner",
        ),
        (
            "/ops/v1/controls/intergrip/maintenance",
            json!({ "end": end, "reason": format!("student {NOOR} asked") }),
            422,
            "reason",
        ),
    ] {
        let (s, b) = ops.call(Role::Operator, "POST", path, Some(body)).await;
        assert_eq!(s, status, "{b}");
        assert_eq!(b["errors"][0]["field"], json!(field), "{b}");
    }
    let (s, b) = ops
        .call(
            Role::Operator,
            "PUT",
            "/ops/v1/controls/intergrip/rate-limit",
            Some(json!({ "per_second": 0, "reason": "x" })),
        )
        .await;
    assert_eq!(
        (s, b["errors"][0]["field"].clone()),
        (422, json!("per_second")),
        "{b}"
    );

    // Intergrip goes into maintenance at runtime.
    let (s, added) = ops
        .call(
            Role::Operator,
            "POST",
            "/ops/v1/controls/intergrip/maintenance",
            Some(json!({ "end": end, "reason": "intergrip upgrade tonight" })),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    let window = added["window_id"].as_str().expect("a window id").to_owned();
    let line = ops.intergrip_controls().await;
    assert_eq!(line["in_maintenance"], json!(true), "{line}");
    assert_eq!(
        line["maintenance"][0]["source"],
        json!("operator"),
        "{line}"
    );
    assert_eq!(
        line["maintenance"][0]["added_by"],
        json!("sandbox-operator"),
        "{line}"
    );

    // A student's statuses are held: Intergrip gets nothing.
    let kustland = ApiClient::for_sandbox(&h.node, "28AB").unwrap();
    let feed_before = h.node.metrics.partner_view("feed").delivered;
    let id = Uuid::new_v4();
    let r = kustland
        .post(
            "/api/v1/aanmeldingen",
            &format!("submit-{id}"),
            &json!({
                "aanmelding_id": id,
                "student": { "bsn": NOOR },
                "opleiding": MEDIAVORMGEVER,
                "cohort": cohort(&h.node),
                "toeleverende_school": "19XY",
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let r = kustland
        .post(
            &format!("/api/v1/aanmeldingen/{id}/status"),
            &format!("status-{id}-aangemeld"),
            &json!({ "status": "aangemeld" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    until_published(&h.node, feed_before, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(received(&h.node), vec![], "held by the maintenance window");

    // On PostgreSQL the window is stored: a restarted node still holds the statuses.
    let h = match backend {
        Backend::Sandbox => h,
        Backend::Real => {
            let h = h.restart().await;
            let ops = Ops::new(&h.node);
            let line = ops.intergrip_controls().await;
            assert_eq!(
                line["in_maintenance"],
                json!(true),
                "after the restart: {line}"
            );
            assert_eq!(line["maintenance"][0]["id"], json!(window), "{line}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(received(&h.node), vec![], "still held after the restart");
            h
        }
    };
    let ops = ops.on(&h.node);

    // Removing the window releases them, in order.
    let (s, b) = ops
        .call(
            Role::Operator,
            "DELETE",
            &format!("/ops/v1/controls/intergrip/maintenance/{window}"),
            Some(json!({ "reason": "upgrade done early" })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["in_maintenance"], json!(false), "{b}");
    use AanmeldStatus::*;
    until_received(&h.node, &[Ontvangen, Aangemeld]).await;
    let (s, b) = ops
        .call(
            Role::Operator,
            "DELETE",
            &format!("/ops/v1/controls/intergrip/maintenance/{window}"),
            Some(json!({ "reason": "again" })),
        )
        .await;
    assert_eq!(s, 404, "already removed: {b}");

    // The audit trail names the operator, the role and the reason of each change.
    let chain = h.node.audit.chain("control:intergrip").await.unwrap();
    type Change<'a> = (Hop, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let changes: Vec<Change> = chain
        .iter()
        .map(|r| {
            (
                r.entry.hop,
                r.entry.actor.as_deref(),
                r.entry.status.as_deref(),
                r.entry.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                Hop::ControlChanged,
                Some("sandbox-operator"),
                Some("maintenance.add:operator"),
                Some("intergrip upgrade tonight")
            ),
            (
                Hop::ControlChanged,
                Some("sandbox-operator"),
                Some("maintenance.remove:operator"),
                Some("upgrade done early")
            ),
        ]
    );
    knooppunt_ops::verify_chain(&chain).unwrap();

    ops.assert_no_personal_data(10);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_maintenance_set_at_runtime_holds_then_releases_in_order() {
    maintenance_at_runtime(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_maintenance_set_at_runtime_survives_a_restart_and_releases_in_order() {
    maintenance_at_runtime(Backend::Real).await;
}

/// Two nodes on one database and vhost: a change made through one node's operator API reaches
/// the other node's gate through the stored overrides (it polls every 5 s), and clearing it
/// there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_a_change_on_one_node_reaches_the_other() {
    let h = start_node("ctl2n", Backend::Real, |_| {}).await;
    let other = Node::start(h.config.clone()).await.unwrap();
    let ops = Ops::new(&h.node);
    let gate = other.runtimes["intergrip"].gate();
    assert_eq!(gate.controls().rate_limit, None);
    let until = |want: Option<f64>| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let now = gate.controls().rate_limit.map(|r| r.per_second);
            if now == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the other node has {now:?}, not {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (s, b) = ops
        .call(
            Role::Operator,
            "PUT",
            "/ops/v1/controls/intergrip/rate-limit",
            Some(json!({ "per_second": 3.0, "burst": 2, "reason": "partner asked" })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    until(Some(3.0)).await;
    let (s, b) = ops
        .call(
            Role::Operator,
            "DELETE",
            "/ops/v1/controls/intergrip/rate-limit",
            Some(json!({ "reason": "over" })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    until(None).await;
    other.shutdown().await;
    h.stop().await;
}

/// Shadow mode for one institution, set at runtime: Intergrip's statuses about a student of that
/// institution are translated and counted as delivered but not sent; cleared, the next one is
/// sent.
async fn institution_shadow(backend: Backend) {
    let h = start_node("ctlsh", backend, |_| {}).await;
    let ops = Ops::new(&h.node);
    let (s, b) = ops
        .call(
            Role::Operator,
            "PUT",
            "/ops/v1/controls/intergrip/shadow/institutions/28AB",
            Some(json!({ "on": true, "reason": "pilot 28AB" })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["shadow"], json!(false), "not partner-wide: {b}");
    assert_eq!(
        b["shadow_institutions"],
        json!([{ "brin": "28AB", "source": "operator" }])
    );

    let intergrip = || h.node.metrics.partner_view("intergrip").delivered;
    let before = intergrip();
    let kustland = ApiClient::for_sandbox(&h.node, "28AB").unwrap();
    let id = Uuid::new_v4();
    let r = kustland
        .post(
            "/api/v1/aanmeldingen",
            &format!("submit-{id}"),
            &json!({
                "aanmelding_id": id,
                "student": { "bsn": NOOR },
                "opleiding": MEDIAVORMGEVER,
                "cohort": cohort(&h.node),
                "toeleverende_school": "19XY",
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while intergrip() == before {
        assert!(tokio::time::Instant::now() < deadline, "never handled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received(&h.node), vec![], "shadow: translated, not sent");

    let (s, b) = ops
        .call(
            Role::Operator,
            "DELETE",
            "/ops/v1/controls/intergrip/shadow/institutions/28AB",
            Some(json!({ "reason": "pilot over" })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let r = kustland
        .post(
            &format!("/api/v1/aanmeldingen/{id}/status"),
            &format!("status-{id}-aangemeld"),
            &json!({ "status": "aangemeld" }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    until_received(&h.node, &[AanmeldStatus::Aangemeld]).await;
    let line = ops.intergrip_controls().await;
    assert_eq!(line["shadow_institutions"], json!([]), "{line}");
    ops.assert_no_personal_data(3);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_institution_shadow_set_at_runtime_sends_nothing_for_it() {
    institution_shadow(Backend::Sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_institution_shadow_set_at_runtime_sends_nothing_for_it() {
    institution_shadow(Backend::Real).await;
}

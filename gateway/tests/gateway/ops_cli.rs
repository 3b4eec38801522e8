//! `knooppunt ops …` against a running sandbox node: Intergrip fails until a status parks; the
//! CLI shows it (status, failures, show, trace), refuses a reader's replay, replays it with an
//! operator's token once Intergrip is back, and reports a discard of an unknown message.

use std::process::{Command, Output};
use std::time::Duration;

use knooppunt_adapters::sim::SimFaults;
use knooppunt_bus::delivery::DeliveryConfig;
use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::config::{Config, PartnerSettings};
use knooppunt_gateway::operator::Role;
use knooppunt_gateway::serve::Node;
use knooppunt_registry::partner::Partner;
use knooppunt_sample::MEDIAVORMGEVER;
use serde_json::{Value, json};
use uuid::Uuid;

const NOOR: &str = "999990019";

/// Runs `knooppunt ops <args>` with the URL and token from the environment.
pub(crate) async fn ops(node: &Node, role: Role, args: &[&str]) -> Output {
    let token = node
        .operator_credentials
        .iter()
        .find(|c| c.role == role)
        .map(|c| c.token.clone())
        .expect("a sandbox token per role");
    let url = node.operator_url.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_knooppunt"))
            .arg("ops")
            .args(&args)
            .env("KNOOPPUNT_OPS_URL", url)
            .env("KNOOPPUNT_OPS_TOKEN", token)
            .output()
            .expect("running knooppunt ops")
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!out.contains(NOOR), "a BSN in the CLI's output: {out}");
    out
}

pub(crate) fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

pub(crate) async fn start() -> (Node, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("kp-opscli-{}", Uuid::new_v4().simple()));
    let mut config = Config::default();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.operator.listen = "127.0.0.1:0".parse().unwrap();
    config.sandbox_dir = dir.clone();
    let mut delivery = DeliveryConfig {
        tiers_ms: vec![100, 200],
        ..DeliveryConfig::default()
    };
    delivery.immediate.base_ms = 10;
    delivery.immediate.max_ms = 20;
    delivery.breaker.cool_down_ms = 100;
    config.partners.insert(
        Partner::Intergrip,
        PartnerSettings {
            delivery: Some(delivery),
            ..PartnerSettings::default()
        },
    );
    (Node::start(config).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_failures_and_replays_them() {
    let (node, dir) = start().await;
    assert!(node.banner().contains("Operator tokens"));
    let intergrip = &node.simulators[&Partner::Intergrip];
    intergrip.set_faults(SimFaults {
        fail_next: u32::MAX,
        ..SimFaults::default()
    });
    let kustland = ApiClient::for_sandbox(&node, "28AB").unwrap();
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    let cohort = node
        .reference
        .opleiding(&MEDIAVORMGEVER)
        .unwrap()
        .open_cohort(today)
        .unwrap()
        .code
        .clone();
    let id = Uuid::new_v4();
    let r = kustland
        .post(
            "/api/v1/aanmeldingen",
            &format!("submit-{id}"),
            &json!({
                "aanmelding_id": id, "student": { "bsn": NOOR }, "opleiding": MEDIAVORMGEVER,
                "cohort": cohort, "toeleverende_school": "19XY",
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);

    // `failures --json` until the status is parked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let groups: Value = loop {
        let v: Value =
            serde_json::from_str(&ok(&ops(&node, Role::Reader, &["failures", "--json"]).await))
                .unwrap();
        if v["total"] == json!(1) {
            break v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing parked: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(groups["groups"][0]["consumer"], json!("intergrip"));

    let status = ok(&ops(&node, Role::Reader, &["status"]).await);
    let line = status
        .lines()
        .find(|l| l.starts_with("intergrip "))
        .unwrap_or_else(|| panic!("no intergrip line: {status}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1], "1", "one parked: {status}");
    let failures = ok(&ops(&node, Role::Reader, &["failures"]).await);
    assert!(failures.starts_with("1 parked\n"), "{failures}");
    assert!(failures.contains("retries_exhausted"), "{failures}");
    let list = ok(&ops(&node, Role::Reader, &["failures", "--partner", "intergrip"]).await);
    let message = list
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let show = ok(&ops(&node, Role::Reader, &["show", "intergrip", &message]).await);
    assert!(
        show.contains(&format!("message_id      {message}")),
        "{show}"
    );
    assert!(show.contains("last_error"), "{show}");
    let trace = ok(&ops(&node, Role::Reader, &["trace", &message]).await);
    assert!(
        trace.contains("(verified)") && trace.contains("parked"),
        "{trace}"
    );

    // A reader may not replay: exit 1 and the problem code.
    let refused = ops(
        &node,
        Role::Reader,
        &["replay", "--partner", "intergrip", "--why", "back"],
    )
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403 role_not_permitted"));

    // Intergrip is back: the operator replays, staged.
    intergrip.set_faults(SimFaults::default());
    let out = ok(&ops(
        &node,
        Role::Operator,
        &[
            "replay",
            "--partner",
            "intergrip",
            "--canary",
            "1",
            "--rate",
            "10",
            "--why",
            "intergrip is back",
        ],
    )
    .await);
    assert!(
        out.contains("1 selected, 1 replayed — 1 delivered, 0 rejected, 0 failed"),
        "{out}"
    );
    assert!(out.contains("0 left parked"), "{out}");
    assert_eq!(
        intergrip.received_count(),
        1,
        "the status reached Intergrip"
    );
    let after: Value =
        serde_json::from_str(&ok(&ops(&node, Role::Reader, &["failures", "--json"]).await))
            .unwrap();
    assert_eq!(after["total"], json!(0));

    // Replaying or discarding what is not parked: exit 1 with the problem.
    let none = ops(
        &node,
        Role::Operator,
        &["discard", &Uuid::now_v7().to_string(), "--why", "x"],
    )
    .await;
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("404 not_found"));
    let none = ops(
        &node,
        Role::Operator,
        &["replay", "--message", &message, "--why", "again"],
    )
    .await;
    assert!(String::from_utf8_lossy(&none.stderr).contains("404 not_found"));

    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

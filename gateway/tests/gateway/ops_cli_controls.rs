//! `knooppunt ops maintenance|shadow|rate-limit|controls` against a running sandbox node: an
//! operator puts Intergrip in maintenance (a student's status is held), lists and removes the
//! window (the status goes out), shadows an institution and sets and clears a rate limit; a
//! reader is refused; a bad end time and an unknown window are errors.

use std::time::Duration;

use knooppunt_gateway::client::ApiClient;
use knooppunt_gateway::operator::Role;
use knooppunt_registry::partner::Partner;
use knooppunt_sample::MEDIAVORMGEVER;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ops_cli::{ok, ops, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_changes_runtime_controls() {
    let (node, dir) = start().await;
    let intergrip = &node.simulators[&Partner::Intergrip];

    // A reader may not.
    let refused = ops(
        &node,
        Role::Reader,
        &[
            "maintenance",
            "add",
            "--partner",
            "intergrip",
            "--end",
            "2h",
            "--why",
            "x",
        ],
    )
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403 role_not_permitted"));
    let bad = ops(
        &node,
        Role::Operator,
        &[
            "maintenance",
            "add",
            "--partner",
            "intergrip",
            "--end",
            "soon",
            "--why",
            "x",
        ],
    )
    .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--end"));

    let out = ok(&ops(
        &node,
        Role::Operator,
        &[
            "maintenance",
            "add",
            "--partner",
            "intergrip",
            "--end",
            "2h",
            "--why",
            "upgrade",
        ],
    )
    .await);
    assert!(out.contains("intergrip is in maintenance now"), "{out}");
    let list = ok(&ops(
        &node,
        Role::Reader,
        &["maintenance", "list", "--partner", "intergrip"],
    )
    .await);
    let line = list
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no window: {list}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[0], "intergrip", "{list}");
    let window = cells[1].to_owned();
    assert!(
        line.contains("operator") && line.ends_with("sandbox-operator"),
        "{list}"
    );

    // A status is held while the window lasts.
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
                "aanmelding_id": id, "student": { "bsn": "999990019" }, "opleiding": MEDIAVORMGEVER,
                "cohort": cohort, "toeleverende_school": "19XY",
            }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(intergrip.received_count(), 0, "held by the window");

    let out = ok(&ops(
        &node,
        Role::Operator,
        &[
            "maintenance",
            "remove",
            "--partner",
            "intergrip",
            &window,
            "--why",
            "done early",
        ],
    )
    .await);
    assert!(out.contains("in maintenance now: no"), "{out}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while intergrip.received_count() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the status never went out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = ops(
        &node,
        Role::Operator,
        &[
            "maintenance",
            "remove",
            "--partner",
            "intergrip",
            &window,
            "--why",
            "again",
        ],
    )
    .await;
    assert!(String::from_utf8_lossy(&again.stderr).contains("404 not_found"));

    // Shadow for one institution, a rate limit, and the overview.
    let out = ok(&ops(
        &node,
        Role::Operator,
        &[
            "shadow",
            "on",
            "--partner",
            "intergrip",
            "--institution",
            "28AB",
            "--why",
            "pilot",
        ],
    )
    .await);
    assert!(
        out.contains("shadow off; shadowed institutions: 28AB (operator)"),
        "{out}"
    );
    let out = ok(&ops(
        &node,
        Role::Operator,
        &[
            "rate-limit",
            "set",
            "--partner",
            "intergrip",
            "--per-second",
            "2.5",
            "--why",
            "asked",
        ],
    )
    .await);
    assert!(out.contains("rate limit 2.5/s burst 1 (operator)"), "{out}");
    let overview = ok(&ops(&node, Role::Reader, &["controls", "--partner", "intergrip"]).await);
    let line = overview.lines().nth(1).unwrap();
    assert!(line.starts_with("intergrip  -"), "{overview}");
    assert!(
        line.contains("28AB (operator)") && line.ends_with("2.5/s burst 1 (operator)"),
        "{overview}"
    );
    let out = ok(&ops(
        &node,
        Role::Operator,
        &[
            "rate-limit",
            "clear",
            "--partner",
            "intergrip",
            "--why",
            "over",
        ],
    )
    .await);
    assert!(out.contains("rate limit none"), "{out}");
    let all: Value =
        serde_json::from_str(&ok(&ops(&node, Role::Reader, &["controls", "--json"]).await))
            .unwrap();
    let i = all["partners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partner"] == json!("intergrip"))
        .unwrap();
    assert_eq!(i["rate_limit_source"], json!("configuration"));
    assert_eq!(i["shadow_institutions"][0]["brin"], json!("28AB"));

    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

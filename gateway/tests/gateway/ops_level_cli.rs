//! `knooppunt ops level show|set` against a running sandbox node: the list and one institution's
//! history, a reader refused, a refused precondition named, a reason with a BSN refused without
//! echoing it, and a change moved back.

use std::process::{Command, Output};

use knooppunt_gateway::config::Config;
use knooppunt_gateway::operator::Role;
use knooppunt_gateway::serve::Node;
use serde_json::Value;
use uuid::Uuid;

const BSN: &str = "123456782";

/// Runs `knooppunt ops <args>` with the URL and the token of `role` from the environment.
async fn ops(node: &Node, role: Role, args: &[&str]) -> Output {
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

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn failed(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The line of the table that starts with `brin`.
fn row(table: &str, brin: &str) -> Vec<String> {
    table
        .lines()
        .find(|l| l.starts_with(brin))
        .unwrap_or_else(|| panic!("{brin} not in:\n{table}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_and_changes_participation_levels() {
    let dir = std::env::temp_dir().join(format!("kp-levelcli-{}", Uuid::new_v4().simple()));
    let mut config = Config::default();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.operator.listen = "127.0.0.1:0".parse().unwrap();
    config.sandbox_dir = dir.clone();
    let node = Node::start(config).await.unwrap();

    let list = ok(&ops(&node, Role::Reader, &["level", "show"]).await);
    assert!(list.starts_with("BRIN  LEVEL"), "{list}");
    assert_eq!(row(&list, "28AB")[..5], ["28AB", "va", "va", "0", "no"]);
    assert_eq!(row(&list, "25LX")[1], "krd");

    // A reader may not; a skipped level is named; a BSN in the reason is refused, not echoed.
    let err = failed(
        &ops(
            &node,
            Role::Reader,
            &["level", "set", "28AB", "aanmelden", "--why", "go"],
        )
        .await,
    );
    assert!(err.contains("403 role_not_permitted"), "{err}");
    let err = failed(
        &ops(
            &node,
            Role::Operator,
            &["level", "set", "28AB", "krd", "--why", "go"],
        )
        .await,
    );
    assert!(err.contains("409 level_step_too_large"), "{err}");
    let why = format!("asked by student {BSN}");
    let err = failed(
        &ops(
            &node,
            Role::Operator,
            &["level", "set", "28AB", "aanmelden", "--why", &why],
        )
        .await,
    );
    assert!(err.contains("422 invalid_field"), "{err}");
    assert!(!err.contains(BSN), "{err}");
    // Clap refuses a level that does not exist.
    failed(
        &ops(
            &node,
            Role::Operator,
            &["level", "set", "28AB", "alles", "--why", "go"],
        )
        .await,
    );

    // Up, shown with the history, and back.
    let out = ok(&ops(
        &node,
        Role::Operator,
        &[
            "level",
            "set",
            "28AB",
            "aanmelden",
            "--why",
            "joins central aanmelding",
        ],
    )
    .await);
    assert!(out.starts_with("28AB is now at level aanmelden"), "{out}");
    assert!(out.contains("va -> aanmelden"), "{out}");
    assert!(out.contains("sandbox-operator"), "{out}");
    assert!(out.contains("joins central aanmelding"), "{out}");
    ok(&ops(
        &node,
        Role::Operator,
        &["level", "set", "28AB", "va", "--why", "postponed"],
    )
    .await);
    let shown = ok(&ops(&node, Role::Reader, &["level", "show", "28AB", "--json"]).await);
    let v: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["level"], "va");
    assert_eq!(v["changes"], 2);
    let steps: Vec<String> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{}>{}",
                h["from"].as_str().unwrap(),
                h["to"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(steps, ["va>aanmelden", "aanmelden>va"]);
    let list = ok(&ops(&node, Role::Reader, &["level", "show"]).await);
    assert_eq!(row(&list, "28AB")[..4], ["28AB", "va", "va", "2"]);

    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

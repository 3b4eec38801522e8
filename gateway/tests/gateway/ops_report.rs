//! `knooppunt ops report …` against a running sandbox node holding the report fixture's
//! students: the list, a report as CSV on stdout and into a file (the API's bytes), small cells
//! as `<5`, no BSN or name in the output, and a clear error for an unknown report or a bad day.

use std::process::{Command, Output};

use knooppunt_gateway::config::Config;
use knooppunt_gateway::operator::Role;
use knooppunt_gateway::serve::Node;
use knooppunt_sample::{ReportFixture, seed_report_students};
use uuid::Uuid;

/// Runs `knooppunt ops <args>` as a reader.
async fn ops(node: &Node, args: &[&str]) -> Output {
    let token = node
        .operator_credentials
        .iter()
        .find(|c| c.role == Role::Reader)
        .map(|c| c.token.clone())
        .expect("a sandbox reader token");
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

fn ok(o: &Output, fixture: &ReportFixture) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    for bsn in &fixture.bsns {
        assert!(!out.contains(bsn.as_str()), "a BSN in the CLI's output");
    }
    for name in &fixture.names {
        assert!(!out.contains(name.as_str()), "a name in the CLI's output");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_reports_as_csv() {
    let dir = std::env::temp_dir().join(format!("kp-opsreport-{}", Uuid::new_v4().simple()));
    let mut config = Config::default();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.operator.listen = "127.0.0.1:0".parse().unwrap();
    config.sandbox_dir = dir.clone();
    let node = Node::start(config).await.unwrap();
    let fixture = seed_report_students(&*node.store, &node.reference, 900)
        .await
        .expect("fixture");

    let list = ok(&ops(&node, &["report"]).await, &fixture);
    for name in [
        "aanmeldingen",
        "va-timeliness",
        "bron",
        "bron-signalen",
        "parked",
    ] {
        assert!(
            list.lines().any(|l| l.starts_with(name)),
            "{name} listed: {list}"
        );
    }

    let csv = ok(
        &ops(
            &node,
            &[
                "report",
                "aanmeldingen",
                "--from",
                "2027-01-01",
                "--to",
                "2027-12-31",
            ],
        )
        .await,
        &fixture,
    );
    assert_eq!(
        csv,
        "institution,cohort,ontvangen,aangemeld,ook_aangeboden,leidt_niet_tot_inschrijving,\
         ingetrokken,ingeschreven,total\n\
         25LX,2027-2028,<5,6,0,0,<5,0,12\n\
         30GT,2027-2028,<5,0,0,0,0,0,<5\n"
    );

    let file = dir.join("bron.csv");
    let said = ok(
        &ops(
            &node,
            &[
                "report",
                "bron",
                "--from",
                "2027-01-01",
                "--to",
                "2027-12-31",
                "--out",
                file.to_str().unwrap(),
            ],
        )
        .await,
        &fixture,
    );
    assert!(said.contains("1 rows written"), "{said}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "institution,geaccepteerd,geaccepteerd_met_signalen,afgekeurd,total,mutations\n\
         25LX,6,<5,<5,9,10\n"
    );

    let unknown = ops(&node, &["report", "students"]).await;
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("404"), "{err}");

    let bad_day = ops(&node, &["report", "parked", "--from", "2027-13-01"]).await;
    assert!(!bad_day.status.success());
    assert!(
        String::from_utf8_lossy(&bad_day.stderr).contains("--from"),
        "{}",
        String::from_utf8_lossy(&bad_day.stderr)
    );

    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

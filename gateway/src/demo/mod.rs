//! `knooppunt demo`: starts a sandbox and drives it through a journey over its own HTTPS API
//! (mutual TLS), the way institutions' SISs would, printing each step and checking what each
//! simulated partner received.
//!
//! This module holds what the journeys share ([`DemoReport`], the printed checks, the sandbox
//! configuration) and the VA journey (`knooppunt demo` / `demo va`): a student applies at two
//! institutions, statuses change, a regional system is down for a moment — and the simulated VO
//! school's regional system, the mbo koppelpunt and the municipality receive exactly what they
//! should. [`krd`] is the krd journey (`demo krd`): memo steps b–f for a minor and an adult.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use knooppunt_adapters::sim::SimFaults;
use knooppunt_registry::domain::AanmeldStatus;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_sample::{DIERVERZORGING, MEDIAVORMGEVER, SOFTWARE_DEVELOPER};
use serde_json::json;
use uuid::Uuid;

use crate::client::ApiClient;
use crate::config::Config;
use crate::serve::Node;

pub mod krd;

/// What the demo found.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Checks that held.
    pub passed: usize,
    /// Checks that failed, in words.
    pub failed: Vec<String>,
}

impl DemoReport {
    /// True when every check held.
    pub fn all_passed(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The checks of a run, each printed as it is made (`✓` or `✗` and what was checked).
struct Checks {
    report: DemoReport,
}

impl Checks {
    fn new() -> Self {
        Self {
            report: DemoReport::default(),
        }
    }

    /// Prints and counts one check; returns whether it held.
    fn check(
        &mut self,
        out: &mut (dyn Write + Send),
        ok: bool,
        what: impl Into<String>,
    ) -> anyhow::Result<bool> {
        let what = what.into();
        writeln!(out, "   {} {what}", if ok { "✓" } else { "✗" })?;
        if ok {
            self.report.passed += 1;
        } else {
            self.report.failed.push(what);
        }
        Ok(ok)
    }

    /// Prints the tally; the report when every check held, else an error naming the failures.
    fn finish(self, out: &mut (dyn Write + Send)) -> anyhow::Result<DemoReport> {
        let report = self.report;
        writeln!(
            out,
            "\n{} checks passed, {} failed.",
            report.passed,
            report.failed.len()
        )?;
        if report.failed.is_empty() {
            Ok(report)
        } else {
            bail!(
                "demo: {} check(s) failed: {:?}",
                report.failed.len(),
                report.failed
            )
        }
    }
}

/// A sandbox configuration for a demo: free loopback ports, a sandbox directory of its own and
/// short retry tiers, so that a partner's outage is over in seconds.
fn sandbox_config() -> anyhow::Result<Config> {
    let mut config = Config::default();
    config.api.listen = "127.0.0.1:0".parse()?;
    config.operator.listen = "127.0.0.1:0".parse()?;
    config.sandbox_dir = std::env::temp_dir().join(format!("knooppunt-demo-{}", Uuid::new_v4()));
    for partner in knooppunt_adapters::partners::supported() {
        let mut p = crate::config::PartnerSettings::default();
        let mut d = knooppunt_bus::delivery::DeliveryConfig {
            tiers_ms: vec![500, 1_000, 2_000],
            ..Default::default()
        };
        d.immediate.base_ms = 50;
        p.delivery = Some(d);
        config.partners.insert(partner, p);
    }
    Ok(config)
}

/// Starts a node on `config`, runs `journey` on it, stops it and removes its sandbox directory.
async fn on_node<F>(config: Config, journey: F) -> anyhow::Result<DemoReport>
where
    F: AsyncFnOnce(&Node) -> anyhow::Result<DemoReport>,
{
    let node = Node::start(config.clone()).await?;
    let result = journey(&node).await;
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&config.sandbox_dir);
    result
}

/// One aanmelding of the script. The output names the student by its label only: the BSN (a
/// test number) is sent, never printed.
struct Application {
    student: &'static str,
    bsn: &'static str,
    brin: &'static str,
    opleiding: Uuid,
    school: &'static str,
    id: Uuid,
    statuses: Vec<AanmeldStatus>,
}

/// The cohort of `opleiding` whose aanmeldperiode is open today.
fn open_cohort(reference: &ReferenceData, opleiding: &Uuid) -> anyhow::Result<String> {
    // The registry's "today" (Dutch local date), so the demo agrees with its rules at midnight.
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    reference
        .opleiding(opleiding)
        .context("sample opleiding missing from reference data")?
        .open_cohort(today)
        .map(|c| c.code.clone())
        .context("no sample cohort open for aanmelding today")
}

fn status_name(s: AanmeldStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Runs the VA demo on a fresh sandbox and prints each step to `out`.
pub async fn run(out: &mut (dyn Write + Send)) -> anyhow::Result<DemoReport> {
    on_node(sandbox_config()?, async |node| journey(node, out).await).await
}

async fn journey(node: &Node, out: &mut (dyn Write + Send)) -> anyhow::Result<DemoReport> {
    let mut checks = Checks::new();
    let mut check = |out: &mut (dyn Write + Send), ok: bool, what: String| -> anyhow::Result<()> {
        checks.check(out, ok, what).map(drop)
    };
    writeln!(
        out,
        "Knooppunt demo: vroegtijdige aanmelding over the open API\nsandbox at {} (mutual TLS: {})\n",
        node.api_url, node.mutual_tls
    )?;

    let kustland = ApiClient::for_sandbox(node, "28AB")?;
    let zuidwaard = ApiClient::for_sandbox(node, "25LX")?;
    let groenland = ApiClient::for_sandbox(node, "30GT")?;
    writeln!(
        out,
        "1. Three institutions get an access token (client certificate + client credentials)"
    )?;
    for (c, naam) in [
        (&kustland, "ROC Kustland (level va)"),
        (&zuidwaard, "ROC Zuidwaard"),
        (&groenland, "AOC Groenland"),
    ] {
        let ok = c.token().await.is_ok();
        check(out, ok, format!("{naam}: token issued"))?;
    }

    use AanmeldStatus::*;
    let apps = vec![
        Application {
            student: "student A (16, no startkwalificatie; VO school 19XY → Intergrip)",
            bsn: "999990019",
            brin: "28AB",
            opleiding: MEDIAVORMGEVER,
            school: "19XY",
            id: Uuid::new_v4(),
            statuses: vec![Aangemeld, OokAangeboden],
        },
        Application {
            student: "student A",
            bsn: "999990019",
            brin: "30GT",
            opleiding: DIERVERZORGING,
            school: "19XY",
            id: Uuid::new_v4(),
            statuses: vec![Aangemeld, LeidtNietTotInschrijving],
        },
        Application {
            student: "student B (24; VO school 20AB → Digidoor)",
            bsn: "999990032",
            brin: "25LX",
            opleiding: SOFTWARE_DEVELOPER,
            school: "20AB",
            id: Uuid::new_v4(),
            statuses: vec![Aangemeld],
        },
    ];
    let clients: BTreeMap<&str, &ApiClient> = [
        ("28AB", &kustland),
        ("25LX", &zuidwaard),
        ("30GT", &groenland),
    ]
    .into_iter()
    .collect();

    writeln!(out, "\n2. Students apply (POST /api/v1/aanmeldingen)")?;
    for a in &apps {
        let cohort = open_cohort(&node.reference, &a.opleiding)?;
        let client = clients[a.brin];
        let r = client
            .post(
                "/api/v1/aanmeldingen",
                &format!("demo-submit-{}", a.id),
                &json!({
                    "aanmelding_id": a.id,
                    "student": { "bsn": a.bsn },
                    "opleiding": a.opleiding,
                    "cohort": cohort,
                    "toeleverende_school": a.school,
                }),
            )
            .await?;
        check(
            out,
            r.status == 201,
            format!(
                "{} applies at {} (cohort {cohort}): {}",
                a.student, a.brin, r.status
            ),
        )?;
    }

    writeln!(
        out,
        "\n3. Intergrip is down for a moment: its next 2 requests fail with 503"
    )?;
    if let Some(sim) = node.simulators.get(&Partner::Intergrip) {
        sim.set_faults(SimFaults {
            fail_next: 2,
            ..SimFaults::default()
        });
    }

    writeln!(
        out,
        "\n4. The institutions report status changes (POST /api/v1/aanmeldingen/{{id}}/status)"
    )?;
    let steps = apps.iter().map(|a| a.statuses.len()).max().unwrap_or(0);
    for i in 0..steps {
        for a in &apps {
            let Some(status) = a.statuses.get(i) else {
                continue;
            };
            let r = clients[a.brin]
                .post(
                    &format!("/api/v1/aanmeldingen/{}/status", a.id),
                    &format!("demo-status-{}-{i}", a.id),
                    &json!({ "status": status_name(*status) }),
                )
                .await?;
            check(
                out,
                r.status == 200,
                format!(
                    "{} at {}: {} → {}",
                    a.label(),
                    a.brin,
                    status_name(*status),
                    r.status
                ),
            )?;
        }
    }

    writeln!(
        out,
        "\n5. Isolation: ROC Zuidwaard asks for ROC Kustland's aanmelding"
    )?;
    let r = zuidwaard
        .get(&format!("/api/v1/aanmeldingen/{}", apps[0].id))
        .await?;
    check(
        out,
        r.status == 404,
        format!("answered {} (not found, nothing leaks)", r.status),
    )?;

    // What each recipient must get (domain.md §2.2).
    let mut expected: BTreeMap<Partner, usize> = BTreeMap::new();
    for a in &apps {
        let messages = 1 + a.statuses.len(); // the submission and each change
        *expected.entry(Partner::Koppelpunt).or_default() += messages;
        let system = node
            .reference
            .vo_school(&a.school.parse()?)
            .map(|s| s.systeem.partner())
            .context("sample school")?;
        *expected.entry(system).or_default() += messages;
        let informs = node
            .students
            .iter()
            .any(|s| s.bsn.digits() == a.bsn && s.gemeente_informeren);
        if informs {
            *expected.entry(Partner::Gemeenten).or_default() += a.statuses.len();
        }
    }

    // DUO is asked once per dossier opened: the sample students' (opened by the seed) and any
    // other applicant's (opened by the first aanmelding).
    let mut persons: std::collections::BTreeSet<&str> =
        node.students.iter().map(|s| s.bsn.digits()).collect();
    persons.extend(apps.iter().map(|a| a.bsn));
    expected.insert(Partner::Duo, persons.len());

    writeln!(out, "\n6. Waiting for the partners (retries included)…")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = node
            .simulators
            .iter()
            .all(|(name, sim)| sim.received_count() >= expected.get(name).copied().unwrap_or(0));
        if done || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A little longer, to see that nothing extra arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;

    writeln!(out, "\n7. What each partner received")?;
    for (name, sim) in &node.simulators {
        let got = sim.messages();
        let want = expected.get(name).copied().unwrap_or(0);
        let line: Vec<String> = got
            .iter()
            .map(|m| format!("{}@{}", m.code, m.institution.as_deref().unwrap_or("-")))
            .collect();
        writeln!(
            out,
            "   {name:<11} {:>2} message(s): {}",
            got.len(),
            line.join(" ")
        )?;
        check(
            out,
            got.len() == want && sim.duplicates() == 0,
            format!(
                "{name}: expected {want}, got {} (duplicates: {})",
                got.len(),
                sim.duplicates()
            ),
        )?;
    }

    writeln!(
        out,
        "\n8. ROC Kustland reads its feed (GET /api/v1/feed?vanaf=0)"
    )?;
    let want_items = 1 + apps[0].statuses.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (feed, items) = loop {
        let feed = kustland.get("/api/v1/feed?vanaf=0").await?;
        let items = feed
            .body
            .get("items")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if items.len() >= want_items || tokio::time::Instant::now() > deadline {
            break (feed, items);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for item in &items {
        writeln!(
            out,
            "   #{} {} {}",
            item.get("wijzigingsvolgnummer").unwrap_or(&json!(null)),
            item.get("type").and_then(|v| v.as_str()).unwrap_or("?"),
            item.get("status").and_then(|v| v.as_str()).unwrap_or(""),
        )?;
    }
    check(
        out,
        feed.status == 200 && items.len() == want_items,
        format!("{} feed item(s): its own aanmelding only", items.len()),
    )?;

    checks.finish(out)
}

impl Application {
    /// "student A": the label without the profile in brackets (no name, no BSN).
    fn label(&self) -> &str {
        self.student
            .split_once(" (")
            .map_or(self.student, |(label, _)| label)
    }
}

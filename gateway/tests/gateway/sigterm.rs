//! SIGTERM during load, on PostgreSQL + RabbitMQ: the `knooppunt` binary stops taking work,
//! finishes what is in flight and exits 0; restarted, it delivers the rest. Every accepted change
//! reaches the partners once, in order per student.
//!
//! The partners are simulators in this test's process, so that they outlive the node.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use knooppunt_adapters::duo::simulator::DuoSimulator;
use knooppunt_adapters::partners::Secret;
use knooppunt_adapters::sbb::simulator::SbbSimulator;
use knooppunt_adapters::signing::simulator::SigningSimulator;
use knooppunt_adapters::sim::{SimFaults, Simulator};
use knooppunt_adapters::va::VaPartner;
use knooppunt_adapters::va::simulator::VaSimulator;
use knooppunt_gateway::client::ApiClient;
use knooppunt_registry::ids::Brin;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_testkit::{TestSchema, TestVhost};
use serde_json::json;
use uuid::Uuid;

const SECRET: &str = "sigterm-test-secret-0123456789";
/// SHA-256 of [`SECRET`] (`printf %s "$SECRET" | sha256sum`).
const SECRET_SHA256: &str = "14f40031a1fa7567f6bf40b57258fc4fbb71097314092e31f6e6cbf62edbc716";
const AANMELDINGEN: usize = 300;
const SHUTDOWN_TIMEOUT_S: u64 = 20;

/// The node's process, its log file and how to start it again.
struct Knooppunt {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Knooppunt {
    fn spawn(config: &Path, log: &Path) -> Self {
        let mut k = Self {
            config: config.to_owned(),
            log: log.to_owned(),
            child: None,
        };
        k.start();
        k
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_knooppunt"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("KNOOPPUNT_LOG", "info")
            .env("KNOOPPUNT_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting knooppunt");
        self.child = Some(child);
    }

    fn sigterm(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`.
    async fn exited(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Knooppunt {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `/readyz` answers 200.
async fn ready(base: &str, node: &Knooppunt) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node did not become ready:\n{}",
            node.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts until the node answers 2xx, keeping the Idempotency-Key: what a SIS does when the
/// connection breaks or the node is restarting.
async fn post_until_accepted(client: &ApiClient, path: &str, key: &str, body: &serde_json::Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match client.post(path, key, body).await {
            Ok(r) if (200..300).contains(&r.status) => return,
            // 409: the key is still busy with a request that died with the old node.
            Ok(r) if r.status >= 500 || r.status == 409 || r.status == 401 => {}
            Ok(r) => panic!("{path}: {} {}", r.status, r.body),
            Err(_) => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path}: not accepted in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a failure needs to be understood: unsent outbox rows, the queues, and the students the
/// koppelpunt heard of fewer than twice.
async fn diagnose(schema: &str, vhost: &str, koppelpunt: &VaSimulator) -> String {
    let db = knooppunt_testkit::pg_client().await.unwrap();
    let unsent: i64 = db
        .query_one(
            &format!("SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL"),
            &[],
        )
        .await
        .map(|r| r.get(0))
        .unwrap_or(-1);
    let queues = knooppunt_testkit::rabbitmqctl(&[
        "list_queues",
        "-p",
        vhost,
        "name",
        "messages_ready",
        "messages_unacknowledged",
    ])
    .unwrap_or_default();
    let mut per_student: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for m in koppelpunt.messages() {
        per_student
            .entry(m.subject)
            .or_default()
            .push(m.sequence.unwrap_or(0));
    }
    let short: Vec<_> = per_student.values().filter(|v| v.len() < 2).collect();
    format!(
        "unsent outbox rows: {unsent}\nqueues:\n{queues}\nkoppelpunt students: {}, with fewer than 2 statuses: {short:?}",
        per_student.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_loses_nothing_and_delivers_nothing_twice() {
    let schema = TestSchema::create("sigterm").await.unwrap();
    let vhost = TestVhost::create("sigterm").unwrap();
    let dir = std::env::temp_dir().join(format!("kp-sigterm-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();

    // The partners, outside the node.
    let mut sims: BTreeMap<Partner, VaSimulator> = BTreeMap::new();
    for p in VaPartner::ALL {
        let sim = VaSimulator::spawn(p, "127.0.0.1:0".parse().unwrap(), SimFaults::default())
            .await
            .unwrap();
        sims.insert(p.partner(), sim);
    }

    // DUO, asked about every student whose dossier is opened (it knows none of these); SBB and
    // the signing provider, which this load does not reach.
    let duo = DuoSimulator::spawn("127.0.0.1:0".parse().unwrap(), SimFaults::default())
        .await
        .unwrap();
    let sbb = SbbSimulator::spawn("127.0.0.1:0".parse().unwrap(), SimFaults::default())
        .await
        .unwrap();
    let signing_secret = "sigterm-signing-postback-secret";
    let signing = SigningSimulator::spawn_with_secret(
        "127.0.0.1:0".parse().unwrap(),
        SimFaults::default(),
        Secret::new(signing_secret),
    )
    .await
    .unwrap();

    let reference = dir.join("reference.json");
    std::fs::write(
        &reference,
        serde_json::to_vec(&knooppunt_sample::reference_data()).unwrap(),
    )
    .unwrap();
    let token_key = dir.join("token.key");
    std::fs::write(&token_key, Uuid::new_v4().as_bytes().repeat(4)).unwrap();
    // Written with mode 0600: production refuses a person key others may read.
    let person_key = dir.join("person.key");
    knooppunt_gateway::config::write_person_key(&person_key).unwrap();
    let brin: Brin = "28AB".parse().unwrap();
    let port = free_port();
    let mut toml = format!(
        r#"
mode = "production"
shutdown_timeout_seconds = {SHUTDOWN_TIMEOUT_S}

[api]
listen = "127.0.0.1:{port}"
# Tokens outlive a restart, as in production (shared between instances).
token_key_file = "{token_key}"
[api.tls]
mode = "off"

[operator]
listen = "127.0.0.1:0"

[store]
kind = "postgres"
url = "{db}"
max_connections = 20
schema = "{schema}"
person_key_file = "{person_key}"

[bus]
kind = "amqp"
url = "{amqp}"

[reference]
file = "{reference}"

[[clients]]
oin = "{oin}"
brin = "{brin}"
secret_sha256 = "{SECRET_SHA256}"
"#,
        db = knooppunt_testkit::database_url(),
        schema = schema.name(),
        amqp = vhost.url(),
        reference = reference.display(),
        token_key = token_key.display(),
        person_key = person_key.display(),
        oin = brin.oin().as_str(),
        brin = brin.as_str(),
    );
    // Every partner has an endpoint (production refuses a stand-in simulator); plain HTTP is
    // allowed explicitly for these loopback ones.
    let endpoints = sims.iter().map(|(p, s)| (*p, s.url())).chain([
        (Partner::Duo, duo.url()),
        (Partner::Sbb, sbb.url()),
        (Partner::Signing, signing.url()),
    ]);
    for (partner, url) in endpoints {
        toml.push_str(&format!(
            "\n[partners.{partner}]\nendpoint = \"{url}\"\nallow_plain_http = true\ntimeout_ms = 5000\n"
        ));
        if partner == Partner::Signing {
            toml.push_str(&format!("receiver_secret = \"{signing_secret}\"\n"));
        }
    }
    let config = dir.join("knooppunt.toml");
    std::fs::File::create(&config)
        .unwrap()
        .write_all(toml.as_bytes())
        .unwrap();

    let base = format!("http://127.0.0.1:{port}");
    let mut node = Knooppunt::spawn(&config, &dir.join("knooppunt.log"));
    ready(&base, &node).await;

    // The load: every aanmelding submitted and then reported `aangemeld`; half of the students
    // come from a school on Intergrip. Retries keep their Idempotency-Key.
    let client = Arc::new(ApiClient::new(&base, None, brin.oin().as_str(), SECRET).unwrap());
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    let cohort = knooppunt_sample::reference_data()
        .opleiding(&knooppunt_sample::MEDIAVORMGEVER)
        .and_then(|o| o.open_cohort(today))
        .map(|c| c.code.clone())
        .expect("an open cohort");
    let accepted = Arc::new(AtomicUsize::new(0));
    let load = {
        let client = client.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            futures::stream::iter(0..AANMELDINGEN)
                .for_each_concurrent(16, |i| {
                    let client = client.clone();
                    let accepted = accepted.clone();
                    let cohort = cohort.clone();
                    async move {
                        let id =
                            Uuid::from_u128(0x5157_0000_0000_0000_0000_0000_0000_0000 + i as u128);
                        let mut body = json!({
                            "aanmelding_id": id,
                            "student": { "bsn": synthetic_person(i as u64).digits() },
                            "opleiding": knooppunt_sample::MEDIAVORMGEVER,
                            "cohort": cohort,
                        });
                        if i % 2 == 0 {
                            body["toeleverende_school"] = json!("19XY");
                        }
                        post_until_accepted(
                            &client,
                            "/api/v1/aanmeldingen",
                            &format!("submit-{i}"),
                            &body,
                        )
                        .await;
                        post_until_accepted(
                            &client,
                            &format!("/api/v1/aanmeldingen/{id}/status"),
                            &format!("status-{i}"),
                            &json!({ "status": "aangemeld" }),
                        )
                        .await;
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .await;
        })
    };

    // SIGTERM once a third of the load is through, while requests and deliveries are in flight.
    while accepted.load(Ordering::Relaxed) < AANMELDINGEN / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.sigterm();
    let status = node
        .exited(Duration::from_secs(SHUTDOWN_TIMEOUT_S + 15))
        .await
        .unwrap_or_else(|| panic!("no exit after SIGTERM:\n{}", node.log_text()));
    assert!(status.success(), "exit {status}:\n{}", node.log_text());
    let log = node.log_text();
    // JSON logs: one object per line, with its level and message.
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "shutdown: drained" && l["level"] == "INFO"),
        "{log}"
    );

    // Restarted, the node takes the rest of the load and delivers what the first one left.
    node.start();
    ready(&base, &node).await;
    load.await.unwrap();

    let expected = [
        (Partner::Koppelpunt, 2 * AANMELDINGEN),
        (Partner::Intergrip, AANMELDINGEN), // half the students, two statuses each
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while expected.iter().any(|(p, n)| sims[p].received_count() < *n) {
        if tokio::time::Instant::now() > deadline {
            panic!(
                "not everything arrived: {:?}\n{}\n{}",
                sims.iter()
                    .map(|(p, s)| (p.to_string(), s.received_count(), s.duplicates()))
                    .collect::<Vec<_>>(),
                diagnose(schema.name(), vhost.name(), &sims[&Partner::Koppelpunt]).await,
                node.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (partner, n) in expected {
        let sim = &sims[&partner];
        assert_eq!(sim.received_count(), n, "{partner}: count");
        assert_eq!(sim.duplicates(), 0, "{partner}: delivered twice");
        let mut per_student: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for m in sim.messages() {
            per_student
                .entry(m.subject)
                .or_default()
                .push(m.sequence.expect("a VA status has a wijzigingsvolgnummer"));
        }
        for (student, seq) in per_student {
            assert!(
                seq.windows(2).all(|w| w[0] < w[1]),
                "{partner}: out of order for {student}: {seq:?}"
            );
        }
    }

    node.sigterm();
    let status = node
        .exited(Duration::from_secs(SHUTDOWN_TIMEOUT_S + 15))
        .await
        .expect("exit after the second SIGTERM");
    assert!(status.success(), "exit {status}");
    // DUO was asked once per student, whichever node opened the dossier.
    assert_eq!(duo.received_count(), AANMELDINGEN, "DUO lookups");
    assert_eq!(duo.duplicates(), 0, "DUO asked twice");
    for (_, sim) in sims {
        sim.shutdown().await;
    }
    duo.shutdown().await;
    sbb.shutdown().await;
    signing.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    schema.drop_now().await.unwrap();
    drop(vhost);
}

//! `knooppunt bench api`: a load run against the HTTP API on RabbitMQ + PostgreSQL.
//!
//! It starts a complete Knooppunt ([`Node`]) on the real services — PostgreSQL store (a
//! throwaway schema, dropped afterwards), RabbitMQ (use a vhost of its own), mutual TLS with a
//! generated PKI — with every VA partner simulated on loopback. Then institutions' clients
//! submit N aanmeldingen and report their status changes over HTTPS, C requests at a time. It
//! prints the API's throughput and latency (p50/p99 per request), how long the chain took to
//! deliver everything to the partner simulators, and the checks: every message each partner
//! should get arrived (lost = 0), none arrived twice (duplicates = 0).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_sample::{DIERVERZORGING, MEDIAVORMGEVER, SOFTWARE_DEVELOPER};
use serde_json::json;
use tokio::time::Instant;
use uuid::Uuid;

use crate::client::ApiClient;
use crate::config::{BusSettings, Config, PartnerSettings, StoreSettings};
use crate::serve::Node;
use knooppunt_bus::delivery::DeliveryConfig;

/// What to run.
#[derive(Debug, Clone)]
pub struct ApiBenchConfig {
    /// Aanmeldingen to submit.
    pub aanmeldingen: usize,
    /// Status changes per aanmelding (0–2: aangemeld, ook_aangeboden).
    pub statuses: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// PostgreSQL URL.
    pub database_url: String,
    /// AMQP URL (a vhost of its own).
    pub amqp_url: String,
    /// Prefetch of every delivery runtime.
    pub prefetch: u16,
    /// Give up waiting for deliveries after this long.
    pub timeout: Duration,
}

/// The figures.
#[derive(Debug, Clone)]
pub struct ApiBenchReport {
    /// Requests sent (all answered 2xx, else the bench fails).
    pub requests: usize,
    /// Wall time of the request phase.
    pub request_time: Duration,
    /// Request latency percentiles.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// From the first request until the partners had everything.
    pub chain_time: Duration,
    /// Deliveries the partners should get.
    pub expected: usize,
    /// Deliveries they got (distinct).
    pub delivered: usize,
    /// Missing deliveries.
    pub lost: usize,
    /// Deliveries that arrived more than once.
    pub duplicates: usize,
}

impl fmt::Display for ApiBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rps = self.requests as f64 / self.request_time.as_secs_f64().max(1e-9);
        let dps = self.delivered as f64 / self.chain_time.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "api:        {} requests in {:.1} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms",
            self.requests,
            self.request_time.as_secs_f64(),
            rps,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3
        )?;
        writeln!(
            f,
            "chain:      {} partner deliveries in {:.1} s from the first request = {:.0}/s",
            self.delivered,
            self.chain_time.as_secs_f64(),
            dps
        )?;
        write!(
            f,
            "checks:     expected {}, lost = {}, duplicates = {}",
            self.expected, self.lost, self.duplicates
        )
    }
}

/// Runs the load in a throwaway schema, dropped afterwards.
pub async fn run(config: &ApiBenchConfig) -> anyhow::Result<ApiBenchReport> {
    anyhow::ensure!(config.statuses <= 2, "--statuses must be 0, 1 or 2");
    let schema = format!("knooppunt_apibench_{}", Uuid::new_v4().simple());
    let pg: tokio_postgres::Config = config.database_url.parse().context("DATABASE_URL")?;
    let (admin, connection) = pg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let dir = std::env::temp_dir().join(format!("knooppunt-apibench-{}", Uuid::new_v4()));
    let result = run_in(config, &schema, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .context("dropping the bench schema")?;
    result
}

async fn run_in(
    config: &ApiBenchConfig,
    schema: &str,
    dir: &std::path::Path,
) -> anyhow::Result<ApiBenchReport> {
    let mut c = Config::default();
    c.api.listen = "127.0.0.1:0".parse()?;
    c.operator.listen = "127.0.0.1:0".parse()?;
    c.sandbox_dir = dir.to_owned();
    c.seed_students = Some(false);
    c.store = StoreSettings::Postgres {
        url: config.database_url.clone(),
        // The node's whole budget (two pools, the relay's lanes, the API's instance lock): 84
        // fits PostgreSQL's stock max_connections of 100 less its 3 reserved, with room for the
        // bench's own admin connection.
        max_connections: 84,
        schema: Some(schema.to_owned()),
        person_key_file: person_key_file(dir)?,
    };
    c.bus = BusSettings::Amqp {
        url: config.amqp_url.clone(),
        ca_file: None,
    };
    // On PostgreSQL the node takes reference data from a file (never the sandbox's fallback):
    // the sample data, written next to the sandbox PKI.
    std::fs::create_dir_all(dir).context("bench directory")?;
    let reference = dir.join("reference.json");
    std::fs::write(
        &reference,
        serde_json::to_vec(&knooppunt_sample::reference_data())?,
    )
    .context("writing the sample reference data")?;
    c.reference.file = Some(reference);
    let delivery = DeliveryConfig {
        prefetch: config.prefetch,
        ..DeliveryConfig::default()
    };
    for partner in knooppunt_adapters::partners::supported() {
        c.partners.insert(
            partner,
            PartnerSettings {
                delivery: Some(delivery.clone()),
                ..PartnerSettings::default()
            },
        );
    }
    c.feed = delivery;
    let node = Node::start(c).await?;
    let result = drive(config, &node).await;
    node.shutdown().await;
    result
}

async fn drive(config: &ApiBenchConfig, node: &Node) -> anyhow::Result<ApiBenchReport> {
    let institutions = [
        ("25LX", SOFTWARE_DEVELOPER),
        ("28AB", MEDIAVORMGEVER),
        ("30GT", DIERVERZORGING),
    ];
    let schools = ["19XY", "20AB", "21CD"];
    let today = knooppunt_registry::domain::time::local_date(chrono::Utc::now());
    let mut clients = Vec::new();
    for (brin, opleiding) in institutions {
        let client = Arc::new(ApiClient::for_sandbox(node, brin)?);
        client.token().await?;
        let cohort = node
            .reference
            .opleiding(&opleiding)
            .and_then(|o| o.open_cohort(today))
            .map(|c| c.code.clone())
            .context("no sample cohort open today")?;
        clients.push((client, opleiding, cohort));
    }
    let run = Uuid::new_v4().simple().to_string();
    let statuses = ["aangemeld", "ook_aangeboden"];
    let begin = Instant::now();
    let latencies: Vec<anyhow::Result<Vec<Duration>>> =
        futures::stream::iter(0..config.aanmeldingen)
            .map(|i| {
                let (client, opleiding, cohort) = clients[i % clients.len()].clone();
                let run = run.clone();
                let school = schools[i % schools.len()];
                let n = config.statuses;
                async move {
                    let id = Uuid::new_v4();
                    let bsn = synthetic_person(i as u64);
                    let mut took = Vec::with_capacity(1 + n);
                    let t = Instant::now();
                    let r = client
                        .post(
                            "/api/v1/aanmeldingen",
                            &format!("{run}-{i}"),
                            &json!({
                                "aanmelding_id": id,
                                "student": { "bsn": bsn.digits() },
                                "opleiding": opleiding,
                                "cohort": cohort,
                                "toeleverende_school": school,
                            }),
                        )
                        .await?;
                    took.push(t.elapsed());
                    if r.status != 201 {
                        bail!("submit answered {}: {}", r.status, r.body);
                    }
                    for (k, status) in statuses.iter().take(n).enumerate() {
                        let t = Instant::now();
                        let r = client
                            .post(
                                &format!("/api/v1/aanmeldingen/{id}/status"),
                                &format!("{run}-{i}-{k}"),
                                &json!({ "status": status }),
                            )
                            .await?;
                        took.push(t.elapsed());
                        if r.status != 200 {
                            bail!("status answered {}: {}", r.status, r.body);
                        }
                    }
                    Ok(took)
                }
            })
            .buffer_unordered(config.concurrency.max(1))
            .collect()
            .await;
    let request_time = begin.elapsed();
    let mut all = Vec::new();
    for l in latencies {
        all.extend(l?);
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };

    // Expected deliveries: every message to the koppelpunt, each student's to the regional
    // system of their school; one DUO lookup per dossier (each aanmelding is a new synthetic
    // person, whom DUO does not know: no personalia, so no municipality).
    let per = 1 + config.statuses;
    let mut expected = std::collections::BTreeMap::new();
    expected.insert(Partner::Koppelpunt, config.aanmeldingen * per);
    expected.insert(Partner::Duo, config.aanmeldingen);
    for (k, school) in schools.iter().enumerate() {
        let students = (0..config.aanmeldingen)
            .filter(|i| i % schools.len() == k)
            .count();
        let Some(s) = node.reference.vo_school(&school.parse()?) else {
            bail!("sample school {school} missing");
        };
        let system = s.systeem.partner();
        *expected.entry(system).or_insert(0) += students * per;
    }
    let total: usize = expected.values().sum();
    let deadline = Instant::now() + config.timeout;
    loop {
        let got: usize = node.simulators.values().map(|s| s.received_count()).sum();
        if got >= total || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let chain_time = begin.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut delivered = 0;
    let mut lost = 0;
    let mut duplicates = 0;
    for (name, sim) in &node.simulators {
        let want = expected.get(name).copied().unwrap_or(0);
        let got = sim.received_count();
        duplicates += sim.duplicates() + got.saturating_sub(want);
        delivered += got.min(want);
        lost += want.saturating_sub(got);
    }
    Ok(ApiBenchReport {
        requests: all.len(),
        request_time,
        p50: pct(0.50),
        p99: pct(0.99),
        chain_time,
        expected: total,
        delivered,
        lost,
        duplicates,
    })
}

/// A fresh random person key in `dir` (mode 0600), for a node on a schema of its own.
fn person_key_file(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("person.key");
    crate::config::write_person_key(&path)?;
    Ok(path)
}

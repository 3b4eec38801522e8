//! `knooppunt bench registry`: commands per second on the PostgreSQL store.
//!
//! Each worker owns one dossier at a time and issues a realistic stream on it: `OpenDossier`,
//! then follow-up commands (currently `RecordPersonalia` with changing data) until
//! [`BenchConfig::commands_per_dossier`], then it opens the next dossier. Workers run for
//! [`BenchConfig::duration`] per concurrency level, in a fresh schema that is dropped at the end.
//! Durability stays on; the report carries the server's `fsync` and `synchronous_commit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::{Durability, PgStore, PgStoreConfig, Store, StoreError};
use crate::domain::{Command, Person};
use crate::envelope::{Actor, CommandMeta, DossierKey};
use crate::ids::{Bsn, PersonId};
use crate::reference::ReferenceData;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Database to run against (the URL; the bench works in its own fresh schema).
    pub store: PgStoreConfig,
    /// Concurrency levels (number of dossiers worked on at once), e.g. `[1, 8, 32]`.
    pub levels: Vec<usize>,
    /// How long each level runs.
    pub duration: Duration,
    /// Commands per dossier before a worker opens the next one (including the open).
    pub commands_per_dossier: u32,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            store: PgStoreConfig::from_env(),
            levels: vec![1, 8, 32],
            duration: Duration::from_secs(5),
            commands_per_dossier: 10,
        }
    }
}

/// The result of one concurrency level.
#[derive(Debug, Clone)]
pub struct LevelReport {
    /// Concurrent dossiers (workers).
    pub concurrency: usize,
    /// Commands handled (accepted or refused).
    pub commands: u64,
    /// Of which refused by the domain.
    pub rejected: u64,
    /// Wall time of the level.
    pub elapsed: Duration,
}

impl LevelReport {
    /// Commands per second.
    pub fn per_second(&self) -> f64 {
        self.commands as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// The whole benchmark's result.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The server's durability settings during the run.
    pub durability: Durability,
    /// Connection pool size used.
    pub pool_size: usize,
    /// The follow-up command the workers used (`None`: only `OpenDossier`).
    pub follow_up: Option<&'static str>,
    /// One entry per level, in the order run.
    pub levels: Vec<LevelReport>,
}

/// A valid BSN, distinct for every `n < 8_000_000`: the first eight digits come from the block
/// `10_000_000 + 11·n ..+11` (the first whose check digit is not 10), the ninth passes the
/// 11-proef. Synthetic test data only.
pub fn synthetic_person(n: u64) -> PersonId {
    let mut base = 10_000_000 + (n % 8_000_000) * 11;
    loop {
        let mut sum = 0u64;
        let mut rest = base;
        for weight in 2..=9u64 {
            sum += (rest % 10) * weight;
            rest /= 10;
        }
        let check = sum % 11;
        if check < 10
            && let Ok(bsn) = format!("{base:08}{check}").parse::<Bsn>()
        {
            return PersonId::Bsn(bsn);
        }
        base += 1;
    }
}

/// A cheap valid follow-up command for an open dossier (`RecordPersonalia` with data varying
/// with `i`), if the domain knows it. Built from its serde form, so the bench keeps compiling
/// while the domain grows. Synthetic data only.
pub fn follow_up(i: u64) -> Option<Command> {
    let day = 1 + (i % 28);
    serde_json::from_value(json!({
        "command": "record_personalia",
        "personalia": {
            "voornamen": format!("Bench {i}"),
            "achternaam": "Student",
            "geboortedatum": format!("2008-05-{day:02}"),
            "geslacht": "O",
        }
    }))
    .ok()
}

/// Runs the benchmark: a fresh schema, each level in turn, the schema dropped afterwards.
pub async fn run(config: &BenchConfig) -> Result<BenchReport, StoreError> {
    let schema = format!("knooppunt_bench_{}", Uuid::new_v4().simple());
    let admin = admin_connect(&config.store.url).await?;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .map_err(|e| StoreError::Unavailable(format!("create bench schema: {e}")))?;
    let result = run_in(config, &schema).await;
    let dropped = admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .map_err(|e| StoreError::Unavailable(format!("drop bench schema: {e}")));
    let report = result?;
    dropped?;
    Ok(report)
}

async fn admin_connect(url: &str) -> Result<tokio_postgres::Client, StoreError> {
    super::pg_connect(&super::pg_config(url, None)?)
        .await
        .map_err(|e| StoreError::Unavailable(format!("connect: {e}")))
}

async fn run_in(config: &BenchConfig, schema: &str) -> Result<BenchReport, StoreError> {
    let pool_size = config
        .store
        .pool_size
        .max(config.levels.iter().copied().max().unwrap_or(1));
    let store = Arc::new(
        PgStore::open(&PgStoreConfig {
            url: config.store.url.clone(),
            schema: Some(schema.to_owned()),
            pool_size,
            person_key: config.store.person_key.clone(),
        })
        .await?,
    );
    let durability = store.durability().await?;
    let follow = follow_up(0).map(|_| "record_personalia");
    let persons = Arc::new(AtomicU64::new(0));
    let mut levels = Vec::new();
    for &concurrency in &config.levels {
        let deadline = Instant::now() + config.duration;
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                let store = Arc::clone(&store);
                let persons = Arc::clone(&persons);
                let per_dossier = config.commands_per_dossier.max(1);
                tokio::spawn(worker(store, persons, per_dossier, deadline))
            })
            .collect();
        let (mut commands, mut rejected) = (0, 0);
        for w in workers {
            let (c, r) = w
                .await
                .map_err(|e| StoreError::Unavailable(format!("bench worker: {e}")))??;
            commands += c;
            rejected += r;
        }
        levels.push(LevelReport {
            concurrency,
            commands,
            rejected,
            elapsed: started.elapsed(),
        });
    }
    Ok(BenchReport {
        durability,
        pool_size,
        follow_up: follow,
        levels,
    })
}

/// One worker: dossier after dossier until the deadline; returns (commands, rejected).
async fn worker(
    store: Arc<PgStore>,
    persons: Arc<AtomicU64>,
    per_dossier: u32,
    deadline: Instant,
) -> Result<(u64, u64), StoreError> {
    let reference = ReferenceData::default();
    let (mut commands, mut rejected) = (0u64, 0u64);
    while Instant::now() < deadline {
        let n = persons.fetch_add(1, Ordering::Relaxed);
        let key = DossierKey::new();
        let mut command = Command::OpenDossier {
            person: Person {
                id: synthetic_person(n),
            },
        };
        for step in 0..u64::from(per_dossier) {
            let meta = CommandMeta::new(key, Actor::System, Utc::now());
            let outcome = store.execute(meta, command, &reference).await?;
            commands += 1;
            if outcome.result.is_err() {
                rejected += 1;
                break;
            }
            match follow_up(n.wrapping_mul(1000).wrapping_add(step)) {
                Some(next) if Instant::now() < deadline => command = next,
                _ => break,
            }
        }
    }
    Ok((commands, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_persons_are_valid_and_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..2000 {
            assert!(seen.insert(synthetic_person(n).digits().to_owned()));
        }
    }
}

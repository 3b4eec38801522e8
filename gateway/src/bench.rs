//! `knooppunt bench path`: drives messages through the whole path on the real services and
//! compares it with the bare hop on the same services.
//!
//! Full path, per message: command → registry (PostgreSQL store, one transaction with its outbox
//! row) → outbox relay → RabbitMQ (confirmed) → delivery runtime (inbox, ordering state, audit in
//! PostgreSQL) → loopback partner simulator → its answer as a command → registry. The clock of a
//! round trip runs from submitting the command to the answer's commit. Writes use group commit
//! as a deployment would: `BatchingStore` for the commands, `BatchingDeliveryState` and
//! `BatchingAudit` in the runtime.
//!
//! Bare hop: consume → one PostgreSQL transaction with one audit row and one outbox row per
//! message → publish with confirm → ack; batched up to 100 messages per transaction with one
//! multi-ack. The ratio full / bare says what the product's machinery costs over the minimum.
//!
//! Everything lives in a throwaway PostgreSQL schema and in run-specific queues; the bench drops
//! them at the end. Use a RabbitMQ vhost of its own (`--amqp-url`): the delivery runtime uses the
//! usual queue names of the `duo` adapter.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use chrono::Utc;
use deadpool_postgres::Pool;
use futures::{FutureExt, StreamExt};
use knooppunt_adapters::loopback::{LoopbackAdapter, LoopbackPartner};
use knooppunt_ops::audit::{BatchConfig, BatchingAudit};
use knooppunt_ops::{
    BatchingDeliveryState, Metrics, PgAudit, PgDeliveryState, StateBatchConfig, payload_hash,
};
use knooppunt_registry::domain::{Command, DuoUitkomst, Person};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::Brin;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_registry::store::{
    BatchingConfig, BatchingStore, Durability, PgStore, PgStoreConfig, Store, StoreError,
};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::time::Instant;
use tokio_postgres::NoTls;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use knooppunt_bus::amqp::{AmqpConfig, AmqpTransport};
use knooppunt_bus::delivery::{
    CommandSink, DeliveryConfig, DeliveryRuntime, Deps, StoreSink, Submitted,
};
use knooppunt_bus::relay::{Relay, RelayConfig};
use knooppunt_bus::topology::DEFAULT_EVENTS_EXCHANGE;
use knooppunt_bus::{Topology, Transport};

/// The adapter name the bench delivers to (DUO may answer with `RecordDuoFeedback`).
const PARTNER: &str = "duo";
/// Messages per bare-hop transaction.
const BARE_BATCH: usize = 100;
/// Transactions in flight per group-commit lane. Commits wait for the WAL flush (about 3 ms on
/// the development machine), so two lanes side by side share each flush; with four the batches
/// were half as large and, the machine's two cores being the bound, the path slower.
const WRITERS: usize = 2;
/// Group commit of the registry commands (producers, answers: one batcher each).
const BATCHING: BatchingConfig = BatchingConfig {
    max_batch: 256,
    workers: WRITERS,
};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Round trips (and bare-hop messages).
    pub messages: usize,
    /// Concurrent command producers.
    pub producers: usize,
    /// The delivery runtime's prefetch (messages in flight).
    pub prefetch: u16,
    /// PostgreSQL URL.
    pub database_url: String,
    /// AMQP URL (preferably a vhost of its own).
    pub amqp_url: String,
    /// Give up waiting for round trips after this long.
    pub timeout: Duration,
}

/// Figures of the full path.
#[derive(Debug, Clone)]
pub struct PathFigures {
    /// Round trips completed (answer committed).
    pub completed: usize,
    /// Wall time from the first command to the last answer.
    pub elapsed: Duration,
    /// Median end-to-end latency.
    pub p50: Duration,
    /// 99th percentile end-to-end latency.
    pub p99: Duration,
    /// Commands whose round trip never completed.
    pub lost: usize,
    /// Effects beyond the first (partner acceptances and registry answers).
    pub duplicate_effects: usize,
    /// Answers the registry refused (counted as completed round trips).
    pub refused: usize,
}

/// Figures of the bare hop.
#[derive(Debug, Clone)]
pub struct HopFigures {
    /// Messages moved.
    pub messages: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Transactions (batches).
    pub transactions: usize,
}

/// The bench's result.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// PostgreSQL durability settings during the run.
    pub durability: Durability,
    /// The full path.
    pub path: PathFigures,
    /// The bare hop.
    pub bare: HopFigures,
}

fn per_second(n: usize, d: Duration) -> f64 {
    let secs = d.as_secs_f64();
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.path;
        let b = &self.bare;
        let full = per_second(p.completed, p.elapsed);
        let bare = per_second(b.messages, b.elapsed);
        writeln!(
            f,
            "durability: fsync={} synchronous_commit={}",
            self.durability.fsync, self.durability.synchronous_commit
        )?;
        writeln!(
            f,
            "full path:  {} round trips in {:.2} s = {:.0}/s; end-to-end p50 {:.1} ms, p99 {:.1} ms",
            p.completed,
            p.elapsed.as_secs_f64(),
            full,
            p.p50.as_secs_f64() * 1e3,
            p.p99.as_secs_f64() * 1e3
        )?;
        writeln!(
            f,
            "checks:     lost = {}, duplicate effects = {}, answers refused by the registry = {}",
            p.lost, p.duplicate_effects, p.refused
        )?;
        writeln!(
            f,
            "bare hop:   {} messages in {:.2} s = {:.0}/s ({} transactions of up to {BARE_BATCH})",
            b.messages,
            b.elapsed.as_secs_f64(),
            bare,
            b.transactions
        )?;
        write!(
            f,
            "ratio:      full path / bare hop = {:.3}",
            if bare > 0.0 { full / bare } else { 0.0 }
        )
    }
}

/// Runs both measurements in a throwaway schema, which is dropped afterwards.
pub async fn run(config: &BenchConfig) -> anyhow::Result<BenchReport> {
    let schema = format!("knooppunt_pathbench_{}", Uuid::new_v4().simple());
    let admin = connect(&config.database_url, None).await?;
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .context("creating the bench schema")?;
    let result = run_in(config, &schema).await;
    let dropped = admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .context("dropping the bench schema");
    let report = result?;
    dropped?;
    Ok(report)
}

async fn connect(url: &str, schema: Option<&str>) -> anyhow::Result<tokio_postgres::Client> {
    let mut pg: tokio_postgres::Config = url.parse().context("DATABASE_URL is not valid")?;
    if let Some(s) = schema {
        pg.options(format!("-c search_path={s}"));
    }
    let (client, connection) = pg
        .connect(NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "bench connection ended");
        }
    });
    Ok(client)
}

fn ops_pool(url: &str, schema: &str, size: usize) -> anyhow::Result<Pool> {
    crate::serve::ops_pool(url, Some(schema), size)
}

async fn run_in(config: &BenchConfig, schema: &str) -> anyhow::Result<BenchReport> {
    let store = Arc::new(
        PgStore::open(&PgStoreConfig {
            url: config.database_url.clone(),
            schema: Some(schema.to_owned()),
            pool_size: 48,
            person_key: knooppunt_registry::pseudonym::PersonKey::random(),
        })
        .await
        .context("opening the registry store")?,
    );
    let durability = store.durability().await?;
    let pool = ops_pool(&config.database_url, schema, 32)?;
    knooppunt_ops::migrate(&pool)
        .await
        .context("ops migrations")?;
    let path = full_path(config, store, pool).await?;
    let bare = bare_hop(config, schema).await?;
    Ok(BenchReport {
        durability,
        path,
        bare,
    })
}

/// Answers the registry took, per dossier, with the moment of the first commit.
#[derive(Debug, Default)]
struct Answers {
    first: HashMap<DossierKey, Instant>,
    /// Accepted (not replayed) answers per dossier.
    effects: HashMap<DossierKey, usize>,
    /// Refused answers per dossier.
    refused: HashMap<DossierKey, usize>,
}

/// A [`StoreSink`] that notes when each dossier's answer was committed.
struct TimingSink {
    inner: StoreSink<BatchingStore<PgStore>>,
    answers: Mutex<Answers>,
}

impl fmt::Debug for TimingSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimingSink").finish_non_exhaustive()
    }
}

impl TimingSink {
    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl CommandSink for TimingSink {
    async fn submit(&self, meta: CommandMeta, command: Command) -> Result<Submitted, StoreError> {
        let dossier = meta.dossier;
        let submitted = self.inner.submit(meta, command).await?;
        let now = Instant::now();
        let mut a = self.answers();
        match &submitted {
            Submitted::Accepted { replayed: false } => *a.effects.entry(dossier).or_default() += 1,
            Submitted::Accepted { replayed: true } => {}
            Submitted::Rejected(_) => *a.refused.entry(dossier).or_default() += 1,
        }
        a.first.entry(dossier).or_insert(now);
        Ok(submitted)
    }
}

async fn full_path(
    config: &BenchConfig,
    store: Arc<PgStore>,
    pool: Pool,
) -> anyhow::Result<PathFigures> {
    let transport = AmqpTransport::connect(AmqpConfig::new(config.amqp_url.clone()))
        .await
        .context("connecting to RabbitMQ")?;
    let transport: Arc<dyn Transport> = Arc::new(transport);
    let reference = Arc::new(ReferenceData::default());
    let partner = LoopbackPartner::new();
    let brin: Brin = "25LX".parse().context("bench BRIN")?;
    let adapter = LoopbackAdapter::new(PARTNER, partner.clone())
        .with_topics(vec!["nl.knooppunt.dossier.#".into()])
        .with_answer(
            Partner::Duo,
            Arc::new(move |e| {
                Some(Command::RecordDuoFeedback {
                    mutatie: e.meta.id,
                    instelling: brin.clone(),
                    uitkomst: DuoUitkomst::Geaccepteerd,
                })
            }),
        );
    // Group commit: concurrent commands share transactions. The partner answers get a batcher
    // of their own, so they never queue behind a burst of producer commands (the runtime's
    // slots stay short).
    let batching = Arc::new(BatchingStore::new(store.clone(), BATCHING));
    let answers = Arc::new(BatchingStore::new(store.clone(), BATCHING));
    let sink = Arc::new(TimingSink {
        inner: StoreSink::new(answers, reference.clone()),
        answers: Mutex::default(),
    });
    let audit = BatchingAudit::spawn(
        Arc::new(PgAudit::new(pool.clone())),
        BatchConfig {
            writers: WRITERS,
            ..BatchConfig::default()
        },
    );
    let runtime = Arc::new(DeliveryRuntime::new(
        Arc::new(adapter),
        DeliveryConfig {
            prefetch: config.prefetch,
            ..DeliveryConfig::default()
        },
        Deps {
            transport: transport.clone(),
            state: Arc::new(BatchingDeliveryState::spawn(
                // Audit records and inbox marks of a batch: one transaction.
                Arc::new(PgDeliveryState::new(pool.clone()).with_audit()),
                StateBatchConfig {
                    workers: WRITERS,
                    ..StateBatchConfig::default()
                },
            )),
            audit: Arc::new(audit),
            metrics: Arc::new(Metrics::new()),
            sink: sink.clone(),
        },
    )?);
    transport
        .declare(&Topology::new(
            DEFAULT_EVENTS_EXCHANGE,
            &[runtime.queues()],
        )?)
        .await?;
    let cancel = CancellationToken::new();
    let relay = Relay::new(
        store.clone(),
        transport.clone(),
        RelayConfig {
            idle_wait: Duration::from_millis(2),
            ..RelayConfig::default()
        },
    );
    let relay_task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { relay.run(cancel).await })
    };
    let runtime_task = tokio::spawn(runtime.clone().run(cancel.clone()));

    // Producers: one OpenDossier command per round trip.
    let started: Arc<Mutex<HashMap<DossierKey, Instant>>> = Arc::default();
    let begin = Instant::now();
    let producers = config.producers.max(1);
    let mut tasks = Vec::new();
    for p in 0..producers {
        let store = batching.clone();
        let started = started.clone();
        let reference = reference.clone();
        let n = config.messages;
        tasks.push(tokio::spawn(async move {
            let mut i = p;
            while i < n {
                let key = DossierKey::new();
                let person = Person {
                    id: synthetic_person(i as u64),
                };
                started
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, Instant::now());
                let meta = CommandMeta::new(key, Actor::System, Utc::now());
                let outcome = store
                    .execute(meta, Command::OpenDossier { person }, &reference)
                    .await?;
                if let Err(rejection) = outcome.result {
                    bail!("the registry refused a bench command: {rejection}");
                }
                i += producers;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("producer task")??;
    }
    let deadline = Instant::now() + config.timeout;
    loop {
        // Only this run's dossiers count (a reused vhost may hold an older run's messages).
        let done = {
            let started = started.lock().unwrap_or_else(|e| e.into_inner());
            sink.answers()
                .first
                .keys()
                .filter(|k| started.contains_key(k))
                .count()
        };
        if done >= config.messages || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let _ = relay_task.await;
    runtime_task.await.context("runtime task")??;

    let started = started.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let answers = sink.answers();
    let mut latencies: Vec<Duration> = started
        .iter()
        .filter_map(|(k, s)| {
            answers
                .first
                .get(k)
                .map(|d| d.saturating_duration_since(*s))
        })
        .collect();
    latencies.sort();
    let completed = latencies.len();
    let last = started
        .keys()
        .filter_map(|k| answers.first.get(k))
        .max()
        .copied()
        .unwrap_or(begin);
    // Only this run's dossiers count: a reused vhost may redeliver an older run's messages
    // (acks lost when that run stopped), whose answers this run's schema refuses.
    let count = |m: &HashMap<DossierKey, usize>| -> usize {
        m.iter()
            .filter(|(k, _)| started.contains_key(k))
            .map(|(_, n)| n)
            .sum()
    };
    let (effects, refused) = (count(&answers.effects), count(&answers.refused));
    let pct = |q: f64| -> Duration {
        let idx = ((completed as f64 - 1.0) * q).round().max(0.0) as usize;
        latencies.get(idx).copied().unwrap_or_default()
    };
    Ok(PathFigures {
        completed,
        elapsed: last.saturating_duration_since(begin),
        p50: pct(0.50),
        p99: pct(0.99),
        lost: config.messages.saturating_sub(completed),
        duplicate_effects: effects.saturating_sub(completed.saturating_sub(refused))
            + partner.duplicates(),
        refused,
    })
}

async fn bare_hop(config: &BenchConfig, schema: &str) -> anyhow::Result<HopFigures> {
    let run = Uuid::new_v4().simple().to_string();
    let input = format!("knooppunt.bench.bare.in.{run}");
    let output = format!("knooppunt.bench.bare.out.{run}");
    let conn = Connection::connect(&config.amqp_url, ConnectionProperties::default())
        .await
        .context("connecting to RabbitMQ for the bare hop")?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    for q in [&input, &output] {
        ch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args.clone(),
        )
        .await?;
    }
    let props = BasicProperties::default().with_delivery_mode(2);
    // Fill the input queue (not timed).
    let body = vec![b'x'; 512];
    let mut pending = Vec::new();
    for _ in 0..config.messages {
        pending.push(
            ch.basic_publish(
                "".into(),
                input.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                props.clone(),
            )
            .await?,
        );
        if pending.len() >= 1000 {
            for c in pending.drain(..) {
                c.await?;
            }
        }
    }
    for c in pending.drain(..) {
        c.await?;
    }

    let db = connect(&config.database_url, Some(schema)).await?;
    db.batch_execute(
        "CREATE TABLE bare_audit (seq bigserial PRIMARY KEY, message_id uuid NOT NULL,
             payload_hash text NOT NULL, at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE bare_outbox (position bigserial PRIMARY KEY, message_id uuid NOT NULL,
             body bytea NOT NULL);",
    )
    .await?;
    let consume_ch = conn.create_channel().await?;
    consume_ch
        .basic_qos(
            u16::try_from(BARE_BATCH * 3).unwrap_or(u16::MAX),
            BasicQosOptions { global: false },
        )
        .await?;
    let mut consumer = consume_ch
        .basic_consume(
            input.as_str().into(),
            format!("bench-{run}").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut db = db;
    let begin = Instant::now();
    let (mut moved, mut transactions) = (0usize, 0usize);
    while moved < config.messages {
        let first = tokio::time::timeout(config.timeout, consumer.next())
            .await
            .context("bare hop: no delivery")?
            .context("bare hop: consumer closed")??;
        let mut batch = vec![first];
        while batch.len() < BARE_BATCH {
            match consumer.next().now_or_never() {
                Some(Some(d)) => batch.push(d?),
                _ => break,
            }
        }
        let ids: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
        let hashes: Vec<String> = batch.iter().map(|d| payload_hash(&d.data)).collect();
        let bodies: Vec<&[u8]> = batch.iter().map(|d| d.data.as_slice()).collect();
        let tx = db.transaction().await?;
        tx.execute(
            "INSERT INTO bare_audit (message_id, payload_hash) SELECT * FROM UNNEST($1::uuid[], $2::text[])",
            &[&ids, &hashes],
        )
        .await?;
        tx.execute(
            "INSERT INTO bare_outbox (message_id, body) SELECT * FROM UNNEST($1::uuid[], $2::bytea[])",
            &[&ids, &bodies],
        )
        .await?;
        tx.commit().await?;
        let mut confirms = Vec::with_capacity(batch.len());
        for d in &batch {
            confirms.push(
                ch.basic_publish(
                    "".into(),
                    output.as_str().into(),
                    BasicPublishOptions::default(),
                    &d.data,
                    props.clone(),
                )
                .await?,
            );
        }
        for c in confirms {
            c.await?;
        }
        if let Some(last) = batch.last() {
            last.acker.ack(BasicAckOptions { multiple: true }).await?;
        }
        moved += batch.len();
        transactions += 1;
    }
    let elapsed = begin.elapsed();
    for q in [&input, &output] {
        ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    let _ = conn.close(200, "bench done".into()).await;
    Ok(HopFigures {
        messages: moved,
        elapsed,
        transactions,
    })
}

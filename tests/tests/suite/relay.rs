//! Outbox relay: commands on the registry store → outbox → two relays at once → transport →
//! a consumer that sees every event of every dossier once, in sequence order.
//! Runs on the in-memory store and bus, and on PostgreSQL with RabbitMQ.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use knooppunt_bus::amqp::{AmqpConfig, AmqpTransport};
use knooppunt_bus::memory::MemoryTransport;
use knooppunt_bus::relay::{Relay, RelayConfig, event_message};
use knooppunt_bus::topology::{DEFAULT_EVENTS_EXCHANGE, work_queue};
use knooppunt_bus::{
    AdapterQueues, BusError, Consumer, Message, Publish, Topology, Transport, headers,
};
use knooppunt_registry::domain::{Command, Person};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::store::{EventEnvelope, MemoryStore, PgStore, PgStoreConfig, Store};
use knooppunt_sample as demo;
use knooppunt_tests::{TestSchema, TestVhost, database_url};
use tokio_util::sync::CancellationToken;

const DOSSIERS: u32 = 24;
/// Hang guard for the whole scenario (not a performance assertion).
const BOUND: Duration = Duration::from_secs(90);

/// The `n`-th valid BSN (11-proef) from a fixed starting point.
fn bsn(n: u32) -> anyhow::Result<PersonId> {
    let mut candidate = 10_000_000 + n * 13;
    loop {
        let digits: Vec<u32> = format!("{candidate:08}")
            .chars()
            .filter_map(|c| c.to_digit(10))
            .collect();
        let sum: u32 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
        let check = sum % 11;
        if check <= 9 {
            return Ok(PersonId::Bsn(format!("{candidate:08}{check}").parse()?));
        }
        candidate += 1;
    }
}

/// Runs the demo journey for `count` students; returns the events per dossier.
async fn write_journeys(
    store: Arc<dyn Store>,
    count: u32,
) -> anyhow::Result<BTreeMap<String, Vec<EventEnvelope>>> {
    let reference = demo::reference_data();
    let mut tasks = Vec::new();
    for n in 0..count {
        let store = Arc::clone(&store);
        let reference = reference.clone();
        let person = bsn(n)?;
        tasks.push(tokio::spawn(async move {
            let key = DossierKey::new();
            let mut events = Vec::new();
            for mut step in demo::journey(key) {
                if let Command::OpenDossier { .. } = step.command {
                    step.command = Command::OpenDossier {
                        person: Person { id: person.clone() },
                    };
                }
                let outcome = store.execute(step.meta, step.command, &reference).await?;
                if let Ok(evs) = outcome.result {
                    events.extend(evs);
                }
            }
            Ok::<_, anyhow::Error>((key.to_string(), events))
        }));
    }
    let mut out = BTreeMap::new();
    for t in tasks {
        let (k, evs) = t.await??;
        out.insert(k, evs);
    }
    Ok(out)
}

async fn scenario(store: Arc<dyn Store>, transport: Arc<dyn Transport>) -> anyhow::Result<()> {
    store.save_reference(&demo::reference_data()).await?;
    let topology = Topology::new(
        DEFAULT_EVENTS_EXCHANGE,
        &[AdapterQueues {
            name: "all".into(),
            bindings: vec!["nl.knooppunt.#".into()],
            tiers: vec![Duration::from_secs(5)],
        }],
    )?;
    transport.declare(&topology).await?;
    let mut consumer = transport.consume(&work_queue("all"), 500).await?;

    // Two relays (two gateway instances) at once, sharing the partitions, each with four lanes
    // (four leases of four partitions side by side).
    let cancel = CancellationToken::new();
    let config = RelayConfig {
        max_partitions: 16,
        lanes: 4,
        batch_size: 50,
        idle_wait: Duration::from_millis(20),
        error_backoff: Duration::from_millis(100),
        rebalance_every: Duration::from_millis(300),
        ..RelayConfig::default()
    };
    let relays: Vec<_> = (0..2)
        .map(|_| {
            let relay = Relay::new(Arc::clone(&store), Arc::clone(&transport), config.clone());
            let cancel = cancel.clone();
            tokio::spawn(async move { relay.run(cancel).await })
        })
        .collect();

    // Commands are handled while the relays run.
    let written = tokio::spawn(write_journeys(Arc::clone(&store), DOSSIERS));

    let outcome = tokio::time::timeout(BOUND, async {
        let written = written.await??;
        let total: usize = written.values().map(Vec::len).sum();
        // (subject → [(sequence, id)]) in arrival order; deliveries per id.
        let mut seen: HashMap<String, Vec<(i64, uuid::Uuid)>> = HashMap::new();
        let mut per_id: HashMap<uuid::Uuid, u32> = HashMap::new();
        while per_id.len() < total {
            let d = consumer.next().await.context("consumer closed")?;
            let subject = d
                .message
                .header_str(headers::SUBJECT)
                .context("ce-subject header")?
                .to_owned();
            let seq = d
                .message
                .header_int(headers::SEQUENCE)
                .context("sequence header")?;
            let body: EventEnvelope = serde_json::from_slice(&d.message.body)?;
            assert_eq!(body.meta.id, d.message.id, "body and properties agree");
            *per_id.entry(d.message.id).or_insert(0) += 1;
            seen.entry(subject).or_default().push((seq, d.message.id));
            d.ack().await?;
        }
        while store.outbox_backlog().await? > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok::<_, anyhow::Error>((written, seen, per_id))
    })
    .await;
    cancel.cancel();
    for r in relays {
        r.await?;
    }
    let (written, seen, per_id) = match outcome {
        Ok(r) => r?,
        Err(_) => bail!("relay scenario did not finish within {BOUND:?}"),
    };

    let duplicates: u32 = per_id.values().map(|n| n - 1).sum();
    assert_eq!(
        duplicates, 0,
        "no failure happened, so no event is published twice"
    );
    assert_eq!(written.len(), DOSSIERS as usize);
    for (key, events) in &written {
        assert!(!events.is_empty(), "dossier {key} produced events");
        let got = seen.get(key).map(Vec::as_slice).unwrap_or_default();
        let want: Vec<(i64, uuid::Uuid)> = events
            .iter()
            .map(|e| (e.meta.sequence as i64, e.meta.id))
            .collect();
        assert_eq!(
            got,
            want.as_slice(),
            "dossier {key}: every event once, in sequence order"
        );
        let seqs: Vec<i64> = got.iter().map(|(s, _)| *s).collect();
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(
            seqs, expected,
            "dossier {key}: sequence 1, 2, 3, … without gaps"
        );
    }
    println!(
        "relay: {} dossiers, {} events, delivered once each in order",
        written.len(),
        per_id.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_to_memory_bus() -> anyhow::Result<()> {
    scenario(
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryTransport::new()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_to_rabbitmq() -> anyhow::Result<()> {
    let schema = TestSchema::create("relay").await?;
    let store = PgStore::connect(&PgStoreConfig {
        url: database_url(),
        schema: Some(schema.name().to_owned()),
        pool_size: 8,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    })?;
    store
        .migrate()
        .await
        .context("PostgreSQL must be running (DATABASE_URL)")?;
    let vhost = TestVhost::create("relay")?;
    let transport = AmqpTransport::connect(AmqpConfig::new(vhost.url()))
        .await
        .context("RabbitMQ must be running (AMQP_URL)")?;
    let result = scenario(Arc::new(store), Arc::new(transport.clone())).await;
    transport.shutdown();
    drop(vhost);
    drop(schema);
    result
}

#[test]
fn event_message_carries_the_envelope() -> anyhow::Result<()> {
    let key = DossierKey::new();
    let step = demo::journey(key)
        .into_iter()
        .next()
        .context("journey has steps")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = MemoryStore::new();
    let reference = demo::reference_data();
    let outcome = rt.block_on(store.execute(step.meta, step.command, &reference))?;
    let event = outcome
        .result
        .ok()
        .and_then(|v| v.into_iter().next())
        .context("an event")?;
    let msg = event_message(&event)?;
    assert_eq!(msg.id, event.meta.id);
    assert_eq!(msg.kind, event.meta.kind);
    assert_eq!(msg.time, event.meta.time);
    assert_eq!(msg.correlation_id, Some(event.meta.correlation_id));
    assert_eq!(
        msg.header_str(headers::SUBJECT),
        Some(key.to_string().as_str())
    );
    assert_eq!(
        msg.header_str(headers::SOURCE),
        Some(event.meta.source.as_str())
    );
    assert_eq!(
        msg.header_str(headers::CAUSATION_ID),
        Some(event.meta.causation_id.to_string().as_str())
    );
    assert_eq!(msg.header_int(headers::SEQUENCE), Some(1));
    let back: EventEnvelope = serde_json::from_slice(&msg.body)?;
    assert_eq!(back, event);
    Ok(())
}

/// A bus whose first `failures` batches are published but reported as failed (a lost confirm).
#[derive(Debug)]
struct LostConfirms {
    inner: MemoryTransport,
    failures: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Transport for LostConfirms {
    async fn declare(&self, t: &Topology) -> Result<(), BusError> {
        self.inner.declare(t).await
    }
    async fn publish(&self, e: &str, k: &str, m: &Message) -> Result<(), BusError> {
        self.inner.publish(e, k, m).await
    }
    async fn publish_batch(&self, items: &[Publish]) -> Result<(), BusError> {
        self.inner.publish_batch(items).await?;
        let lost = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lost {
            return Err(BusError::Unavailable("confirm lost (test)".into()));
        }
        Ok(())
    }
    async fn consume(&self, q: &str, prefetch: u16) -> Result<Box<dyn Consumer>, BusError> {
        self.inner.consume(q, prefetch).await
    }
    async fn queue_depth(&self, q: &str) -> Result<u64, BusError> {
        self.inner.queue_depth(q).await
    }
}

/// A row is marked sent only after its confirm: when confirms are lost, the rows are published
/// again (duplicates), still in sequence order per dossier, and the outbox drains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_confirms_republish_in_order() -> anyhow::Result<()> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store.save_reference(&demo::reference_data()).await?;
    let written = write_journeys(Arc::clone(&store), 6).await?;
    let total: usize = written.values().map(Vec::len).sum();
    let transport = Arc::new(LostConfirms {
        inner: MemoryTransport::new(),
        failures: std::sync::atomic::AtomicUsize::new(3),
    });
    let topology = Topology::new(
        DEFAULT_EVENTS_EXCHANGE,
        &[AdapterQueues {
            name: "all".into(),
            bindings: vec!["#".into()],
            tiers: vec![],
        }],
    )?;
    transport.declare(&topology).await?;
    let mut consumer = transport.consume(&work_queue("all"), 0).await?;
    let cancel = CancellationToken::new();
    let relay = Relay::new(
        Arc::clone(&store),
        transport.clone(),
        RelayConfig {
            batch_size: 40,
            idle_wait: Duration::from_millis(10),
            error_backoff: Duration::from_millis(10),
            ..RelayConfig::default()
        },
    );
    let running = {
        let cancel = cancel.clone();
        tokio::spawn(async move { relay.run(cancel).await })
    };
    let collected = tokio::time::timeout(BOUND, async {
        let mut first_seen: HashMap<String, Vec<i64>> = HashMap::new();
        let mut per_id: HashMap<uuid::Uuid, u32> = HashMap::new();
        while per_id.len() < total {
            let d = consumer.next().await.context("consumer closed")?;
            let n = per_id.entry(d.message.id).or_insert(0);
            *n += 1;
            if *n == 1 {
                let subject = d.message.header_str(headers::SUBJECT).context("subject")?;
                let seq = d
                    .message
                    .header_int(headers::SEQUENCE)
                    .context("sequence")?;
                first_seen.entry(subject.to_owned()).or_default().push(seq);
            }
            d.ack().await?;
        }
        while store.outbox_backlog().await? > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok::<_, anyhow::Error>((first_seen, per_id))
    })
    .await;
    cancel.cancel();
    running.await?;
    let (first_seen, per_id) = match collected {
        Ok(r) => r?,
        Err(_) => bail!("did not drain within {BOUND:?}"),
    };
    let duplicates: u32 = per_id.values().map(|n| n - 1).sum();
    assert!(
        duplicates > 0,
        "lost confirms must lead to publishing again"
    );
    for (key, events) in &written {
        let want: Vec<i64> = (1..=events.len() as i64).collect();
        assert_eq!(first_seen.get(key), Some(&want), "dossier {key} in order");
    }
    println!("lost confirms: {total} events, {duplicates} duplicate deliveries, none lost");
    Ok(())
}

/// Two nodes' relays on one PostgreSQL while there is always work: the partitions spread over
/// both, so the second node publishes too — the first one does not keep them all because it is
/// never idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_relays_share_the_partitions() -> anyhow::Result<()> {
    let schema = TestSchema::create("relay_share").await?;
    let pg = PgStore::connect(&PgStoreConfig {
        url: database_url(),
        schema: Some(schema.name().to_owned()),
        pool_size: 16,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    })?;
    pg.migrate()
        .await
        .context("PostgreSQL must be running (DATABASE_URL)")?;
    let store: Arc<dyn Store> = Arc::new(pg);
    store.save_reference(&demo::reference_data()).await?;
    // A backlog first, published one row per batch: the relays are busy until it is gone.
    let mut written = 0;
    for _ in 0..4 {
        written += write_journeys(Arc::clone(&store), 24)
            .await?
            .values()
            .map(Vec::len)
            .sum::<usize>();
    }
    let topology = Topology::new(
        DEFAULT_EVENTS_EXCHANGE,
        &[AdapterQueues {
            name: "all".into(),
            bindings: vec!["#".into()],
            tiers: vec![],
        }],
    )?;
    // Each node publishes to a bus of its own, so what each published can be counted.
    let buses = [MemoryTransport::new(), MemoryTransport::new()];
    for bus in &buses {
        bus.declare(&topology).await?;
    }
    let config = RelayConfig {
        lanes: 2,
        batch_size: 1,
        idle_wait: Duration::from_millis(10),
        error_backoff: Duration::from_millis(100),
        rebalance_every: Duration::from_millis(100),
        ..RelayConfig::default()
    };
    let cancel = CancellationToken::new();
    let mut relays = Vec::new();
    for bus in &buses {
        let relay = Relay::new(Arc::clone(&store), Arc::new(bus.clone()), config.clone());
        let cancel = cancel.clone();
        relays.push(tokio::spawn(async move { relay.run(cancel).await }));
        // The first node runs alone for a moment and takes every partition.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let drained = tokio::time::timeout(BOUND, async {
        while store.outbox_backlog().await? > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::Ok(())
    })
    .await;
    cancel.cancel();
    for r in relays {
        r.await?;
    }
    drained.context("the outbox drains")??;
    let queue = work_queue("all");
    let a = buses[0].queue_depth(&queue).await?;
    let b = buses[1].queue_depth(&queue).await?;
    eprintln!("published of {written}: first node {a}, second node {b}");
    assert!(
        a + b >= written as u64,
        "everything published: {a} + {b} < {written}"
    );
    assert!(
        a > 0 && b > 0,
        "both nodes published while busy: first {a}, second {b}"
    );
    drop(schema);
    Ok(())
}

//! Transport behaviour suite: every case runs on the in-memory bus and on RabbitMQ (a vhost of
//! its own per case), and must behave the same on both.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use knooppunt_bus::amqp::{AmqpConfig, AmqpTransport};
use knooppunt_bus::memory::MemoryTransport;
use knooppunt_bus::topology::{
    DEFAULT_EVENTS_EXCHANGE, PARKING_EXCHANGE, REQUEUE_EXCHANGE, RETRY_EXCHANGE, parking_queue,
    work_queue,
};
use knooppunt_bus::{
    AdapterQueues, BusError, Consumer, Delivery, Message, Publish, Topology, Transport, headers,
};
use knooppunt_tests::TestVhost;

const INGEDIEND: &str = "nl.knooppunt.aanmelding.ingediend.v1";
/// Bound on waiting for one delivery (a hang guard, not a performance assertion).
const WAIT: Duration = Duration::from_secs(20);
/// Retry tier used by the suite: short, so the test is quick.
const TIER: Duration = Duration::from_millis(800);

struct Fixture {
    transport: Arc<dyn Transport>,
    topology: Topology,
    // Dropped after the transport (field order): the vhost outlives the connection.
    _vhost: Option<TestVhost>,
}

fn topology(tiers: Vec<Duration>) -> anyhow::Result<Topology> {
    Ok(Topology::new(
        DEFAULT_EVENTS_EXCHANGE,
        &[
            AdapterQueues {
                name: "va".into(),
                bindings: vec!["nl.knooppunt.aanmelding.#".into()],
                tiers,
            },
            AdapterQueues {
                name: "duo".into(),
                bindings: vec!["nl.knooppunt.ook.*.v1".into()],
                tiers: vec![Duration::from_secs(5)],
            },
        ],
    )?)
}

impl Fixture {
    async fn memory() -> anyhow::Result<Self> {
        let t = MemoryTransport::new();
        let topology = topology(vec![TIER, Duration::from_secs(30)])?;
        t.declare(&topology).await?;
        Ok(Self {
            transport: Arc::new(t),
            topology,
            _vhost: None,
        })
    }

    async fn rabbitmq() -> anyhow::Result<Self> {
        let vhost = TestVhost::create("bus")?;
        let mut cfg = AmqpConfig::new(vhost.url());
        cfg.publish_wait = Duration::from_secs(10);
        let t = AmqpTransport::connect(cfg)
            .await
            .context("RabbitMQ must be running (AMQP_URL)")?;
        let topology = topology(vec![TIER, Duration::from_secs(30)])?;
        t.declare(&topology).await?;
        Ok(Self {
            transport: Arc::new(t),
            topology,
            _vhost: Some(vhost),
        })
    }

    async fn depth(&self, queue: &str) -> anyhow::Result<u64> {
        Ok(self.transport.queue_depth(queue).await?)
    }
}

fn event(kind: &str, seq: i64) -> Message {
    let mut m = Message::new(kind, format!("{{\"seq\":{seq}}}"));
    m.correlation_id = Some(uuid::Uuid::new_v4());
    m.with_header(headers::SOURCE, "/knooppunt/registry")
        .with_header(headers::SUBJECT, uuid::Uuid::new_v4().to_string())
        .with_header(headers::CAUSATION_ID, uuid::Uuid::new_v4().to_string())
        .with_header(headers::SEQUENCE, seq)
        .with_header(headers::INSTITUTION, "25LX")
}

async fn next(c: &mut Box<dyn Consumer>) -> anyhow::Result<Delivery> {
    match tokio::time::timeout(WAIT, c.next()).await {
        Ok(Some(d)) => Ok(d),
        Ok(None) => bail!("consumer closed"),
        Err(_) => bail!("no delivery within {WAIT:?}"),
    }
}

/// Polls until `queue` has `n` ready messages (RabbitMQ updates counts asynchronously).
async fn wait_depth(f: &Fixture, queue: &str, n: u64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let d = f.depth(queue).await?;
        if d == n {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("queue {queue} has {d} ready messages, expected {n}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn round_trip_keeps_every_attribute(f: Fixture) -> anyhow::Result<()> {
    let sent = event(INGEDIEND, 7);
    f.transport
        .publish(f.topology.events_exchange(), INGEDIEND, &sent)
        .await?;
    let mut c = f.transport.consume(&work_queue("va"), 10).await?;
    let d = next(&mut c).await?;
    assert_eq!(d.message, sent, "message changed on the way");
    assert!(!d.redelivered);
    assert_eq!(d.queue, work_queue("va"));
    d.ack().await?;
    // The topic binding of the other adapter did not match.
    assert_eq!(f.depth(&work_queue("duo")).await?, 0);
    // A message no queue is bound for is a typed error when mandatory …
    let lost = event("nl.knooppunt.onbekend.v1", 1);
    match f
        .transport
        .publish(f.topology.events_exchange(), &lost.kind, &lost)
        .await
    {
        Err(BusError::Unroutable { message_id, .. }) => assert_eq!(message_id, lost.id),
        other => bail!("expected Unroutable, got {other:?}"),
    }
    // … and silently dropped when optional.
    f.transport
        .publish_batch(&[Publish::optional(
            f.topology.events_exchange(),
            lost.kind.clone(),
            lost.clone(),
        )])
        .await?;
    // An unknown exchange is a typed error, and publishing keeps working afterwards.
    match f.transport.publish("knooppunt.nope", "x", &sent).await {
        Err(BusError::NotFound { .. }) => {}
        other => bail!("expected NotFound, got {other:?}"),
    }
    let again = event(INGEDIEND, 8);
    f.transport
        .publish(f.topology.events_exchange(), INGEDIEND, &again)
        .await?;
    assert_eq!(next(&mut c).await?.message.id, again.id);
    Ok(())
}

async fn nack_with_requeue_redelivers(f: Fixture) -> anyhow::Result<()> {
    let sent = event(INGEDIEND, 1);
    f.transport.publish(REQUEUE_EXCHANGE, "va", &sent).await?;
    let mut c = f.transport.consume(&work_queue("va"), 1).await?;
    let d = next(&mut c).await?;
    assert!(!d.redelivered);
    d.nack(true).await?;
    let d = next(&mut c).await?;
    assert_eq!(d.message.id, sent.id);
    assert!(
        d.redelivered,
        "a requeued message must be marked redelivered"
    );
    d.ack().await?;
    wait_depth(&f, &work_queue("va"), 0).await
}

async fn dropped_delivery_is_redelivered(f: Fixture) -> anyhow::Result<()> {
    let sent = event(INGEDIEND, 1);
    f.transport
        .publish(f.topology.events_exchange(), INGEDIEND, &sent)
        .await?;
    let mut c = f.transport.consume(&work_queue("va"), 5).await?;
    let d = next(&mut c).await?;
    drop(d); // a consumer that crashed mid-work
    let d = next(&mut c).await?;
    assert_eq!(d.message.id, sent.id);
    assert!(d.redelivered);
    d.ack().await?;
    Ok(())
}

async fn retry_tier_returns_to_work_queue(f: Fixture) -> anyhow::Result<()> {
    let key = f.topology.retry_key("va", 0).context("tier 0 of va")?;
    let retry_q = f.topology.retry_queue("va", 0).context("tier 0 queue")?;
    let sent = event(INGEDIEND, 3).with_header(headers::ATTEMPT, 2);
    // Watch the work queue first, so the message is seen as soon as it comes back.
    let mut c = f.transport.consume(&work_queue("va"), 5).await?;
    f.transport.publish(RETRY_EXCHANGE, &key, &sent).await?;
    // It waits in the retry queue (nothing consumes retry queues) …
    assert_eq!(f.depth(&retry_q).await?, 1);
    // … and after the tier's TTL it is dead-lettered back onto the work queue.
    let d = next(&mut c).await?;
    assert_eq!(d.message.id, sent.id);
    assert_eq!(d.message.header_int(headers::ATTEMPT), Some(2));
    assert_eq!(d.message.body, sent.body);
    d.ack().await?;
    wait_depth(&f, &retry_q, 0).await
}

async fn parking_directly_and_by_reject(f: Fixture) -> anyhow::Result<()> {
    let parked = event(INGEDIEND, 1).with_header(headers::PARK_REASON, "attempts exhausted");
    f.transport.publish(PARKING_EXCHANGE, "va", &parked).await?;
    let rejected = event(INGEDIEND, 2);
    f.transport
        .publish(f.topology.events_exchange(), INGEDIEND, &rejected)
        .await?;
    let mut c = f.transport.consume(&work_queue("va"), 5).await?;
    let d = next(&mut c).await?;
    assert_eq!(d.message.id, rejected.id);
    d.nack(false).await?; // dead-lettered to the parking queue
    wait_depth(&f, &parking_queue("va"), 2).await?;
    let mut p = f.transport.consume(&parking_queue("va"), 5).await?;
    let mut ids = BTreeSet::new();
    for _ in 0..2 {
        let d = next(&mut p).await?;
        ids.insert(d.message.id);
        if d.message.id == parked.id {
            assert_eq!(
                d.message.header_str(headers::PARK_REASON),
                Some("attempts exhausted")
            );
        }
        d.ack().await?;
    }
    assert_eq!(ids, BTreeSet::from([parked.id, rejected.id]));
    assert_eq!(f.depth(&work_queue("va")).await?, 0);
    Ok(())
}

async fn declare_is_idempotent(f: Fixture) -> anyhow::Result<()> {
    f.transport.declare(&f.topology).await?;
    f.transport.declare(&f.topology).await?;
    // A changed tier is a new queue (named after its delay): no argument conflict.
    let changed = topology(vec![Duration::from_millis(1500)])?;
    f.transport.declare(&changed).await?;
    let sent = event(INGEDIEND, 1);
    f.transport
        .publish(f.topology.events_exchange(), INGEDIEND, &sent)
        .await?;
    wait_depth(&f, &work_queue("va"), 1).await
}

async fn prefetch_limits_unacked(f: Fixture) -> anyhow::Result<()> {
    let items: Vec<Publish> = (0..5)
        .map(|i| Publish::new(REQUEUE_EXCHANGE, "va", event(INGEDIEND, i)))
        .collect();
    f.transport.publish_batch(&items).await?;
    let mut c = f.transport.consume(&work_queue("va"), 2).await?;
    let a = next(&mut c).await?;
    let b = next(&mut c).await?;
    // Two out, unacknowledged: the broker holds the other three back.
    wait_depth(&f, &work_queue("va"), 3).await?;
    a.ack().await?;
    let third = next(&mut c).await?;
    wait_depth(&f, &work_queue("va"), 2).await?;
    b.ack().await?;
    third.ack().await?;
    let mut seen = 3;
    while seen < 5 {
        next(&mut c).await?.ack().await?;
        seen += 1;
    }
    wait_depth(&f, &work_queue("va"), 0).await
}

async fn batch_is_all_confirmed(f: Fixture) -> anyhow::Result<()> {
    let n = 2000;
    let items: Vec<Publish> = (0..n)
        .map(|i| Publish::new(f.topology.events_exchange(), INGEDIEND, event(INGEDIEND, i)))
        .collect();
    let started = std::time::Instant::now();
    for chunk in items.chunks(200) {
        f.transport.publish_batch(chunk).await?;
    }
    let took = started.elapsed();
    println!(
        "published {n} messages with confirms in {took:?} ({:.0} msg/s)",
        n as f64 / took.as_secs_f64()
    );
    let depth = f.depth(&work_queue("va")).await?;
    assert_eq!(depth, n as u64, "every confirmed message is in the queue");
    let mut c = f.transport.consume(&work_queue("va"), 200).await?;
    let mut ids = BTreeSet::new();
    for _ in 0..n {
        let d = next(&mut c).await?;
        ids.insert(d.message.id);
        d.ack().await?;
    }
    let want: BTreeSet<_> = items.iter().map(|p| p.message.id).collect();
    assert_eq!(ids, want);
    Ok(())
}

async fn dropped_consumer_hands_messages_over(f: Fixture) -> anyhow::Result<()> {
    let items: Vec<Publish> = (0..3)
        .map(|i| Publish::new(REQUEUE_EXCHANGE, "va", event(INGEDIEND, i)))
        .collect();
    f.transport.publish_batch(&items).await?;
    let mut a = f.transport.consume(&work_queue("va"), 10).await?;
    let first = next(&mut a).await?;
    // A consumer that goes away (with a delivery it did not settle) …
    drop(first);
    drop(a);
    // … leaves every message to the next consumer, prefetched ones included.
    let mut b = f.transport.consume(&work_queue("va"), 10).await?;
    let mut ids = BTreeSet::new();
    while ids.len() < 3 {
        let d = next(&mut b).await?;
        ids.insert(d.message.id);
        d.ack().await?;
    }
    let want: BTreeSet<_> = items.iter().map(|p| p.message.id).collect();
    assert_eq!(ids, want);
    Ok(())
}

async fn unknown_queue_is_not_found(f: Fixture) -> anyhow::Result<()> {
    match f.transport.consume("knooppunt.nope", 1).await {
        Err(BusError::NotFound {
            kind: "queue",
            name,
        }) => assert_eq!(name, "knooppunt.nope"),
        other => bail!("expected NotFound, got {other:?}"),
    }
    match f.transport.queue_depth("knooppunt.nope").await {
        Err(BusError::NotFound { kind: "queue", .. }) => {}
        other => bail!("expected NotFound, got {other:?}"),
    }
    // The transport is still usable afterwards.
    assert_eq!(f.depth(&work_queue("va")).await?, 0);
    Ok(())
}

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() -> anyhow::Result<()> {
                super::$case(super::Fixture::memory().await?).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rabbitmq() -> anyhow::Result<()> {
                super::$case(super::Fixture::rabbitmq().await?).await
            }
        }
    )*};
}

on_both!(
    round_trip_keeps_every_attribute,
    nack_with_requeue_redelivers,
    dropped_delivery_is_redelivered,
    retry_tier_returns_to_work_queue,
    parking_directly_and_by_reject,
    declare_is_idempotent,
    prefetch_limits_unacked,
    batch_is_all_confirmed,
    dropped_consumer_hands_messages_over,
    unknown_queue_is_not_found,
);

/// Without a broker, connecting (and so publishing) gives up after the configured wait with a
/// typed, transient error.
#[tokio::test]
async fn no_broker_is_unavailable_after_the_wait() -> anyhow::Result<()> {
    let mut cfg = AmqpConfig::new("amqp://guest:guest@127.0.0.1:1/%2f");
    cfg.publish_wait = Duration::from_millis(300);
    // lapin would keep retrying the first connect in its own thread after this test's runtime
    // is gone; the supervisor's own retries are what is tested here.
    cfg.lapin_recovery = false;
    match AmqpTransport::connect(cfg).await {
        Err(e @ BusError::Unavailable(_)) => assert!(e.is_transient()),
        other => bail!("expected Unavailable, got {other:?}"),
    }
    Ok(())
}

/// Publishing one message at a time (each waiting for its confirm), for the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_publishes_are_confirmed() -> anyhow::Result<()> {
    let f = Fixture::rabbitmq().await?;
    let n = 300;
    let started = std::time::Instant::now();
    for i in 0..n {
        f.transport
            .publish(
                f.topology.events_exchange(),
                INGEDIEND,
                &event(INGEDIEND, i),
            )
            .await?;
    }
    let took = started.elapsed();
    println!(
        "published {n} single messages with confirms in {took:?} ({:.0} msg/s)",
        n as f64 / took.as_secs_f64()
    );
    wait_depth(&f, &work_queue("va"), n as u64).await
}

/// The in-memory TTL runs on tokio time: with the clock paused, a 3-hour tier takes no time.
#[tokio::test(start_paused = true)]
async fn memory_ttl_follows_tokio_time() -> anyhow::Result<()> {
    let t = MemoryTransport::new();
    let topo = topology(vec![Duration::from_secs(3 * 3600)])?;
    t.declare(&topo).await?;
    let sent = event(INGEDIEND, 1);
    t.publish(
        RETRY_EXCHANGE,
        &topo.retry_key("va", 0).context("tier")?,
        &sent,
    )
    .await?;
    let mut c = t.consume(&work_queue("va"), 1).await?;
    tokio::time::sleep(Duration::from_secs(3 * 3600 - 1)).await;
    assert_eq!(
        t.queue_depth(&work_queue("va")).await?,
        0,
        "not before the ttl"
    );
    let d = c.next().await.context("delivery")?;
    assert_eq!(d.message.id, sent.id);
    Ok(())
}

/// Shutting a transport down ends its consumers (`None`) and refuses new publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_consumers() -> anyhow::Result<()> {
    let memory = MemoryTransport::new();
    let topo = topology(vec![TIER])?;
    memory.declare(&topo).await?;
    let mut c = memory.consume(&work_queue("va"), 1).await?;
    let waiting = tokio::spawn(async move { c.next().await.is_none() });
    memory.close();
    assert!(waiting.await?, "memory consumer ends on close");
    assert!(matches!(
        memory
            .publish(REQUEUE_EXCHANGE, "va", &event(INGEDIEND, 1))
            .await,
        Err(BusError::Closed)
    ));

    let f = Fixture::rabbitmq().await?;
    let vhost = f._vhost.as_ref().context("vhost")?;
    let amqp = AmqpTransport::connect(AmqpConfig::new(vhost.url())).await?;
    let mut c2 = amqp.consume(&work_queue("va"), 1).await?;
    amqp.shutdown();
    assert!(
        tokio::time::timeout(WAIT, c2.next()).await?.is_none(),
        "amqp consumer ends on shutdown"
    );
    assert!(matches!(
        amqp.publish(REQUEUE_EXCHANGE, "va", &event(INGEDIEND, 1))
            .await,
        Err(BusError::Closed)
    ));
    Ok(())
}

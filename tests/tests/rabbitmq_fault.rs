//! Broker restart under load: thousands of messages in flight, `rabbitmqctl stop_app` and
//! `start_app` (restored by a drop guard even if the test fails), and every message must end up
//! with exactly one effect. Duplicate deliveries are allowed (at-least-once) and reported.
//!
//! This stops the whole broker, so it disturbs other RabbitMQ tests running at that moment;
//! it is one test, bounded to about two minutes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use knooppunt_bus::amqp::{AmqpConfig, AmqpTransport};
use knooppunt_bus::topology::{DEFAULT_EVENTS_EXCHANGE, work_queue};
use knooppunt_bus::{AdapterQueues, Message, Publish, Topology, Transport, headers};
use knooppunt_ops::Metrics;
use knooppunt_tests::{BrokerStopped, TestVhost};
use tokio::sync::Mutex;

const N: usize = 5_000;
const BATCH: usize = 100;
const KIND: &str = "nl.knooppunt.aanmelding.ingediend.v1";
/// Upper bound for the whole scenario (a hang guard, not a performance assertion).
const BOUND: Duration = Duration::from_secs(100);

fn config(url: &str, name: &str) -> AmqpConfig {
    let mut c = AmqpConfig::new(url);
    c.connection_name = name.into();
    c.publish_wait = Duration::from_secs(60);
    c.confirm_timeout = Duration::from_secs(5);
    c.reconnect_min = Duration::from_millis(100);
    c.reconnect_max = Duration::from_secs(1);
    c.health_interval = Duration::from_millis(100);
    c.recovery_grace = Duration::from_secs(5);
    c
}

#[derive(Default)]
struct Effects {
    /// Effect count per message id (the consumer's "inbox").
    seen: HashMap<uuid::Uuid, u32>,
    deliveries: usize,
    redelivered: usize,
    acks_lost: usize,
}

/// What goes wrong mid-flight.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `rabbitmqctl stop_app`, 2 s, `start_app`: every connection and queue process goes down.
    BrokerRestart,
    /// `rabbitmqctl close_all_connections -p <vhost>` twice: only this test's connections are
    /// closed by the broker (other tests are not disturbed); lapin's recovery or the supervisor
    /// reconnects.
    ConnectionsClosed,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_nothing() -> anyhow::Result<()> {
    scenario(Fault::BrokerRestart).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_connections_lose_nothing() -> anyhow::Result<()> {
    scenario(Fault::ConnectionsClosed).await
}

/// The two faults must not overlap (a stopped broker fails the other test's rabbitmqctl).
static ONE_FAULT_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn scenario(fault: Fault) -> anyhow::Result<()> {
    let _one = ONE_FAULT_AT_A_TIME.lock().await;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,knooppunt_gateway=info".into()),
        )
        .with_test_writer()
        .try_init();
    let vhost = TestVhost::create("fault")?;
    let publisher_metrics = Arc::new(Metrics::new());
    let consumer_metrics = Arc::new(Metrics::new());
    let publisher = AmqpTransport::connect(config(vhost.url(), "fault-publisher"))
        .await
        .context("RabbitMQ must be running (AMQP_URL)")?
        .with_metrics(publisher_metrics.clone());
    let consumer_side = AmqpTransport::connect(config(vhost.url(), "fault-consumer"))
        .await?
        .with_metrics(consumer_metrics.clone());
    let topology = Topology::new(
        DEFAULT_EVENTS_EXCHANGE,
        &[AdapterQueues {
            name: "fault".into(),
            bindings: vec!["nl.knooppunt.#".into()],
            tiers: vec![Duration::from_secs(5)],
        }],
    )?;
    publisher.declare(&topology).await?;
    consumer_side.declare(&topology).await?;

    let messages: Vec<Message> = (0..N)
        .map(|i| {
            Message::new(KIND, format!("{{\"n\":{i}}}")).with_header(headers::SEQUENCE, i as i64)
        })
        .collect();
    let all_ids: BTreeSet<uuid::Uuid> = messages.iter().map(|m| m.id).collect();

    // Producer: batches with confirms; a batch interrupted by the restart is published again.
    // After a third it waits until the fault has begun, so the rest is published into the fault
    // however fast the machine is (else everything could be done before the broker stops).
    let published = Arc::new(AtomicUsize::new(0));
    let (fault_begun, mut fault_seen) = tokio::sync::watch::channel(false);
    let producer = {
        let published = Arc::clone(&published);
        let t = publisher.clone();
        tokio::spawn(async move {
            for chunk in messages.chunks(BATCH) {
                if published.load(Ordering::SeqCst) >= N / 3 {
                    let _ = fault_seen.wait_for(|begun| *begun).await;
                }
                let items: Vec<Publish> = chunk
                    .iter()
                    .map(|m| Publish::new(DEFAULT_EVENTS_EXCHANGE, KIND, m.clone()))
                    .collect();
                t.publish_batch(&items).await?;
                published.fetch_add(chunk.len(), Ordering::SeqCst);
            }
            Ok::<(), knooppunt_bus::BusError>(())
        })
    };

    // Consumer: records the effect, then acks (an ack lost in the restart means a redelivery).
    let effects = Arc::new(Mutex::new(Effects::default()));
    let consumer = {
        let effects = Arc::clone(&effects);
        let mut c = consumer_side.consume(&work_queue("fault"), 100).await?;
        tokio::spawn(async move {
            while let Some(d) = c.next().await {
                let done = {
                    let mut e = effects.lock().await;
                    e.deliveries += 1;
                    if d.redelivered {
                        e.redelivered += 1;
                    }
                    *e.seen.entry(d.message.id).or_insert(0) += 1;
                    e.seen.len() == N
                };
                if d.ack().await.is_err() {
                    effects.lock().await.acks_lost += 1;
                }
                if done {
                    break;
                }
            }
        })
    };

    let started = Instant::now();
    // Restart the broker while messages are in flight: some published, some consumed.
    while published.load(Ordering::SeqCst) < N / 3 {
        if started.elapsed() > BOUND {
            bail!("publishing did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before_stop = (
        published.load(Ordering::SeqCst),
        effects.lock().await.seen.len(),
    );
    let stopped_at = Instant::now();
    match fault {
        Fault::BrokerRestart => {
            let stopped = tokio::task::spawn_blocking(BrokerStopped::stop).await??;
            let _ = fault_begun.send(true);
            tokio::time::sleep(Duration::from_secs(2)).await;
            tokio::task::spawn_blocking(move || stopped.start()).await??;
        }
        Fault::ConnectionsClosed => {
            for _ in 0..2 {
                let name = vhost.name().to_owned();
                tokio::task::spawn_blocking(move || {
                    knooppunt_tests::rabbitmqctl(&[
                        "close_all_connections",
                        "-p",
                        &name,
                        "knooppunt fault test",
                    ])
                })
                .await??;
                let _ = fault_begun.send(true);
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
        }
    }
    let _ = fault_begun.send(true);
    let outage = stopped_at.elapsed();

    let rest = BOUND.saturating_sub(started.elapsed());
    let outcome = tokio::time::timeout(rest, async {
        producer.await??;
        consumer.await?;
        Ok::<(), anyhow::Error>(())
    })
    .await;
    let progress = format!(
        "published {} of {N}, consumed {} unique",
        published.load(Ordering::SeqCst),
        effects.lock().await.seen.len()
    );
    match outcome {
        Err(_) => bail!("scenario did not finish within {BOUND:?}: {progress}"),
        Ok(Err(e)) => bail!("scenario failed: {e}: {progress}"),
        Ok(Ok(())) => {}
    }

    let e = effects.lock().await;
    let unique: BTreeSet<uuid::Uuid> = e.seen.keys().copied().collect();
    let duplicates: u32 = e.seen.values().map(|c| c.saturating_sub(1)).sum();
    println!(
        "fault test ({fault:?}): {N} messages; fault after {} published / {} consumed, fault lasted {:?}; \
         {} deliveries, {} unique, {} duplicate deliveries, {} redelivered, {} acks lost; \
         publisher epoch {}, consumer epoch {}; reconnects counted {} + {}, publishes sent again {}; total {:?}",
        before_stop.0,
        before_stop.1,
        outage,
        e.deliveries,
        unique.len(),
        duplicates,
        e.redelivered,
        e.acks_lost,
        publisher.epoch(),
        consumer_side.epoch(),
        publisher_metrics.bus_reconnects(),
        consumer_metrics.bus_reconnects(),
        publisher_metrics.bus_republished_total(),
        started.elapsed()
    );
    assert_eq!(
        unique, all_ids,
        "every published message has exactly one effect"
    );
    assert!(
        publisher.epoch() >= 2 && consumer_side.epoch() >= 2,
        "both sides went through a reconnect"
    );
    // Every reconnect after the first connection is counted in the metrics.
    assert_eq!(publisher_metrics.bus_reconnects(), publisher.epoch() - 1);
    assert_eq!(consumer_metrics.bus_reconnects(), consumer_side.epoch() - 1);
    assert!(
        publisher_metrics
            .encode()
            .contains("knooppunt_bus_reconnects_total"),
        "exported"
    );
    publisher.shutdown();
    consumer_side.shutdown();
    drop(vhost);
    Ok(())
}

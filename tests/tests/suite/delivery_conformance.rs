//! Delivery conformance suite: the same cases run on the in-memory bus and on RabbitMQ (a vhost of
//! its own per case), driving the delivery runtime against the loopback partner simulator.
//!
//! Tier delays, cool-downs and windows are milliseconds via configuration. Waiting is done by
//! polling for an observable state with a generous hang guard, never by asserting on speed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use chrono::Utc;
use knooppunt_adapters::loopback::{LoopbackAdapter, LoopbackPartner};
use knooppunt_adapters::{Adapter, Mode, Outcome, TransientClass};
use knooppunt_bus::amqp::{AmqpConfig, AmqpTransport};
use knooppunt_bus::delivery::{
    BreakerConfig, DeliveryConfig, DeliveryError, DeliveryRuntime, Deps, Disposition,
    ImmediateRetry, MaintenanceWindow, RateLimit, RecordingSink,
};
use knooppunt_bus::memory::MemoryTransport;
use knooppunt_bus::topology::{DEFAULT_EVENTS_EXCHANGE, parking_queue, work_queue};
use knooppunt_bus::{Message, Topology, Transport, headers};
use knooppunt_ops::{
    AuditEntry, AuditTrail, DeliveryState, FailedMessages, Hop, MemoryAudit, MemoryDeliveryState,
    Metrics, OperatorAction, payload_hash, verify_chain,
};
use knooppunt_registry::domain::{Command, DuoUitkomst, Event, Person};
use knooppunt_registry::envelope::{DossierKey, EventMeta};
use knooppunt_registry::ids::{Brin, PersonId};
use knooppunt_registry::store::EventEnvelope;
use knooppunt_tests::TestVhost;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PARTNER: &str = "sim";
/// A valid-looking BSN used as test personal data; it must never show up in the audit trail.
const BSN: &str = "111222333";
/// Hang guard for one awaited condition (not a performance bound).
const HANG_GUARD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum Bus {
    Memory,
    Rabbit,
}

/// A delivery runtime for the loopback partner on one bus, with in-memory delivery state,
/// audit trail and answer sink.
struct Bed {
    transport: Arc<dyn Transport>,
    amqp: Option<AmqpTransport>,
    partner: Arc<LoopbackPartner>,
    state: Arc<MemoryDeliveryState>,
    audit: Arc<MemoryAudit>,
    sink: Arc<RecordingSink>,
    metrics: Arc<Metrics>,
    runtime: Arc<DeliveryRuntime>,
    cancel: CancellationToken,
    task: Option<JoinHandle<Result<(), DeliveryError>>>,
    // Last: the vhost outlives the connection.
    _vhost: Option<TestVhost>,
}

/// The partner identity the loopback adapter's answers are executed as.
#[derive(Debug, Clone, Copy)]
enum Identity {
    /// As DUO (its answers are DUO feedback).
    Duo,
    /// None: the adapter answers, but has no partner identity.
    None,
}

/// The loopback adapter without a partner identity (as a projection has), answering all the same.
#[derive(Debug)]
struct Anonymous(LoopbackAdapter);

#[async_trait::async_trait]
impl Adapter for Anonymous {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn answers_as(&self) -> Option<knooppunt_registry::partner::Partner> {
        None
    }

    fn topics(&self) -> Vec<String> {
        self.0.topics()
    }

    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome {
        self.0.deliver(event, mode).await
    }
}

/// The suite's base configuration: no immediate retries, three short tiers, a breaker that
/// stays out of the way.
fn base_config() -> DeliveryConfig {
    DeliveryConfig {
        prefetch: 8,
        immediate: ImmediateRetry {
            retries: 0,
            base_ms: 1,
            max_ms: 5,
            jitter: true,
        },
        tiers_ms: vec![30, 60, 90],
        breaker: BreakerConfig {
            failure_threshold: 1000,
            cool_down_ms: 50,
        },
        ..DeliveryConfig::default()
    }
}

fn brin() -> Brin {
    "25LX".parse().expect("a valid BRIN")
}

impl Bed {
    async fn new(bus: Bus, config: DeliveryConfig) -> anyhow::Result<Self> {
        Self::with(bus, Identity::Duo, move || Ok(config)).await
    }

    /// Like [`Bed::new`], with the configuration made once the bus is ready (for windows
    /// relative to now).
    async fn with(
        bus: Bus,
        identity: Identity,
        config: impl FnOnce() -> anyhow::Result<DeliveryConfig>,
    ) -> anyhow::Result<Self> {
        let (transport, amqp, vhost): (Arc<dyn Transport>, _, _) = match bus {
            Bus::Memory => (Arc::new(MemoryTransport::new()), None, None),
            Bus::Rabbit => {
                let vhost = TestVhost::create("delivery")?;
                let mut cfg = AmqpConfig::new(vhost.url());
                cfg.publish_wait = Duration::from_secs(10);
                let t = AmqpTransport::connect(cfg)
                    .await
                    .context("RabbitMQ must be running (AMQP_URL)")?;
                (Arc::new(t.clone()), Some(t), Some(vhost))
            }
        };
        let partner = LoopbackPartner::new();
        let instelling = brin();
        let adapter = LoopbackAdapter::new(PARTNER, partner.clone()).with_answer(
            knooppunt_registry::partner::Partner::Duo,
            Arc::new(move |e: &EventEnvelope| {
                Some(Command::RecordDuoFeedback {
                    mutatie: e.meta.id,
                    instelling: instelling.clone(),
                    uitkomst: DuoUitkomst::Geaccepteerd,
                })
            }),
        );
        let adapter: Arc<dyn Adapter> = match identity {
            Identity::Duo => Arc::new(adapter),
            Identity::None => Arc::new(Anonymous(adapter)),
        };
        let state = Arc::new(MemoryDeliveryState::new());
        let audit = Arc::new(MemoryAudit::new());
        let sink = RecordingSink::new();
        let metrics = Arc::new(Metrics::new());
        let runtime = Arc::new(DeliveryRuntime::new(
            adapter,
            config()?,
            Deps {
                transport: transport.clone(),
                state: state.clone(),
                audit: audit.clone(),
                metrics: metrics.clone(),
                sink: sink.clone(),
            },
        )?);
        let topology = Topology::new(DEFAULT_EVENTS_EXCHANGE, &[runtime.queues()])?;
        transport.declare(&topology).await?;
        Ok(Self {
            transport,
            amqp,
            partner,
            state,
            audit,
            sink,
            metrics,
            runtime,
            cancel: CancellationToken::new(),
            task: None,
            _vhost: vhost,
        })
    }

    fn start(&mut self) {
        let runtime = self.runtime.clone();
        let cancel = self.cancel.clone();
        self.task = Some(tokio::spawn(runtime.run(cancel)));
    }

    async fn publish(&self, e: &EventEnvelope) -> anyhow::Result<()> {
        self.transport
            .publish(DEFAULT_EVENTS_EXCHANGE, &e.meta.kind, &message(e)?)
            .await?;
        Ok(())
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            task.await.context("runtime task")??;
        }
        if let Some(amqp) = &self.amqp {
            amqp.shutdown();
        }
        Ok(())
    }

    async fn hops(&self, id: Uuid) -> anyhow::Result<Vec<(Hop, Option<String>)>> {
        Ok(self
            .audit
            .chain(&AuditEntry::message_chain(id))
            .await?
            .into_iter()
            .map(|r| (r.entry.hop, r.entry.status.clone()))
            .collect())
    }

    async fn count_hop(&self, id: Uuid, hop: Hop) -> anyhow::Result<usize> {
        Ok(self
            .hops(id)
            .await?
            .iter()
            .filter(|(h, _)| *h == hop)
            .count())
    }

    async fn done(&self, id: Uuid) -> anyhow::Result<bool> {
        Ok(self.state.seen(PARTNER, id).await?)
    }
}

/// Polls `check` until it holds; fails after the hang guard.
async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn event(subject: DossierKey, sequence: u64) -> anyhow::Result<EventEnvelope> {
    let id = Uuid::now_v7();
    Ok(EventEnvelope {
        meta: EventMeta {
            id,
            kind: "nl.knooppunt.dossier.geopend.v1".into(),
            time: Utc::now(),
            source: "/knooppunt/registry".into(),
            subject,
            institution: None,
            correlation_id: id,
            causation_id: id,
            sequence,
        },
        data: Event::DossierOpened {
            person: Person {
                id: PersonId::parse_either(BSN)?,
            },
        },
    })
}

/// The bus message of an event, as the outbox relay publishes it.
fn message(e: &EventEnvelope) -> anyhow::Result<Message> {
    let mut m = Message::new(e.meta.kind.clone(), serde_json::to_vec(e)?)
        .with_header(headers::SOURCE, e.meta.source.as_str())
        .with_header(headers::SUBJECT, e.meta.subject.to_string())
        .with_header(headers::CAUSATION_ID, e.meta.causation_id.to_string())
        .with_header(
            headers::SEQUENCE,
            i64::try_from(e.meta.sequence).unwrap_or(i64::MAX),
        );
    m.id = e.meta.id;
    m.time = e.meta.time;
    m.correlation_id = Some(e.meta.correlation_id);
    Ok(m)
}

// ------------------------------------------------------------------------------------------
// The cases
// ------------------------------------------------------------------------------------------

async fn duplicate_delivery_has_one_effect(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::new(bus, base_config()).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    bed.publish(&e).await?;
    bed.publish(&e).await?;
    let id = e.meta.id;
    eventually("both copies consumed", || async {
        Ok(bed.count_hop(id, Hop::Consumed).await? == 2)
    })
    .await?;
    ensure!(bed.partner.accepted_count(id) == 1, "partner got it once");
    ensure!(bed.sink.commands().len() == 1, "one answer in the registry");
    // The answer is executed as the adapter's partner identity, so the registry's policy for
    // that partner applies.
    ensure!(
        bed.sink.commands()[0].0.actor
            == knooppunt_registry::envelope::Actor::Partner {
                partner: knooppunt_registry::partner::Partner::Duo
            },
        "the answer acts as the adapter's partner"
    );
    ensure!(
        bed.hops(id)
            .await?
            .iter()
            .filter(|(h, _)| *h == Hop::Delivered)
            .count()
            == 1
    );
    bed.stop().await
}

async fn an_answer_without_a_partner_identity_is_refused(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::with(bus, Identity::None, || Ok(base_config())).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    bed.publish(&e).await?;
    let id = e.meta.id;
    eventually("delivered and done", || async { bed.done(id).await }).await?;
    ensure!(bed.partner.accepted_count(id) == 1, "the partner got it");
    ensure!(
        bed.sink.commands().is_empty(),
        "nothing executed in the registry"
    );
    let hops = bed.hops(id).await?;
    ensure!(
        hops.contains(&(Hop::Answered, Some("refused".to_owned()))),
        "{hops:?}"
    );
    bed.stop().await
}

async fn crash_before_ack_is_redelivered_with_one_effect(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::new(bus, base_config()).await?;
    let e = event(DossierKey::new(), 1)?;
    let id = e.meta.id;
    bed.publish(&e).await?;
    {
        // A consumer that does all the work and crashes before it acknowledges.
        let mut consumer = bed.transport.consume(&work_queue(PARTNER), 1).await?;
        let delivery = tokio::time::timeout(HANG_GUARD, consumer.next())
            .await
            .context("first delivery")?
            .context("consumer closed")?;
        let cancel = CancellationToken::new();
        let disposition = bed.runtime.process(&delivery.message, &cancel).await;
        ensure!(disposition == Disposition::Ack, "{disposition:?}");
        drop(delivery); // crash: never acknowledged
    }
    ensure!(bed.partner.accepted_count(id) == 1);
    bed.start();
    eventually("redelivered copy consumed", || async {
        Ok(bed.count_hop(id, Hop::Consumed).await? == 2)
    })
    .await?;
    eventually("work queue empty", || async {
        Ok(bed.transport.queue_depth(&work_queue(PARTNER)).await? == 0)
    })
    .await?;
    ensure!(
        bed.partner.accepted_count(id) == 1,
        "one effect at the partner"
    );
    ensure!(bed.sink.commands().len() == 1, "one answer in the registry");
    bed.stop().await
}

async fn transient_failures_use_the_tiers_in_order(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::new(bus, base_config()).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    let id = e.meta.id;
    bed.partner.fail_message(id, 3, TransientClass::ServerError);
    bed.publish(&e).await?;
    eventually("delivered", || async { bed.done(id).await }).await?;
    ensure!(bed.partner.accepted_count(id) == 1, "delivered once");
    ensure!(bed.partner.attempts_for(id) == 4);
    let retried: Vec<Option<String>> = bed
        .hops(id)
        .await?
        .into_iter()
        .filter(|(h, _)| *h == Hop::Retried)
        .map(|(_, s)| s)
        .collect();
    ensure!(
        retried
            == vec![
                Some("tier-1".to_owned()),
                Some("tier-2".to_owned()),
                Some("tier-3".to_owned())
            ],
        "tiers in order: {retried:?}"
    );
    let records = bed.audit.chain(&AuditEntry::message_chain(id)).await?;
    let attempts: Vec<Option<u32>> = records
        .iter()
        .filter(|r| r.entry.hop == Hop::Attempt)
        .map(|r| r.entry.attempt)
        .collect();
    ensure!(
        attempts == vec![Some(1), Some(2), Some(3), Some(4)],
        "{attempts:?}"
    );
    bed.stop().await
}

async fn immediate_retries_absorb_a_blip(bus: Bus) -> anyhow::Result<()> {
    let mut config = base_config();
    config.immediate.retries = 2;
    let mut bed = Bed::new(bus, config).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    let id = e.meta.id;
    bed.partner.fail_message(id, 2, TransientClass::Timeout);
    bed.publish(&e).await?;
    eventually("delivered", || async { bed.done(id).await }).await?;
    ensure!(bed.partner.attempts_for(id) == 3);
    ensure!(bed.count_hop(id, Hop::Retried).await? == 0, "no tier used");
    bed.stop().await
}

async fn permanent_failure_is_not_retried(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::new(bus, base_config()).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    let id = e.meta.id;
    bed.partner.reject_message(id, "E042");
    bed.publish(&e).await?;
    eventually("outcome recorded", || async { bed.done(id).await }).await?;
    ensure!(bed.partner.attempts_for(id) == 1, "not retried");
    ensure!(bed.partner.received().is_empty());
    let records = bed.audit.chain(&AuditEntry::message_chain(id)).await?;
    let rejected = records
        .iter()
        .find(|r| r.entry.hop == Hop::Rejected)
        .context("a rejected hop")?;
    ensure!(rejected.entry.reason.as_deref() == Some("rejected: E042"));
    ensure!(rejected.entry.status.as_deref() == Some("422"));
    ensure!(bed.count_hop(id, Hop::Retried).await? == 0);
    ensure!(bed.state.parked(PARTNER).await?.is_empty());
    ensure!(bed.metrics.encode().contains("rejected"));
    bed.stop().await
}

async fn exhausted_message_is_parked_with_its_reason(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::new(bus, base_config()).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    let id = e.meta.id;
    bed.partner
        .fail_message(id, 1000, TransientClass::ServerError);
    bed.publish(&e).await?;
    eventually("parked", || async {
        Ok(!bed.state.parked(PARTNER).await?.is_empty())
    })
    .await?;
    let parked = bed.state.parked(PARTNER).await?;
    let p = parked.first().context("one parked message")?;
    ensure!(p.message_id == id);
    ensure!(p.reason == "retries_exhausted");
    ensure!(
        p.attempts == 4,
        "first attempt and one per tier: {}",
        p.attempts
    );
    ensure!(p.last_error == "server_error_503", "{}", p.last_error);
    ensure!(p.first_failure <= p.last_failure);
    ensure!(p.subject.as_deref() == Some(e.meta.subject.to_string().as_str()));
    eventually("a copy on the parking queue", || async {
        Ok(bed.transport.queue_depth(&parking_queue(PARTNER)).await? == 1)
    })
    .await?;
    ensure!(bed.count_hop(id, Hop::Parked).await? == 1);
    ensure!(bed.partner.attempts_for(id) == 4);
    ensure!(!bed.done(id).await?, "not marked done");
    bed.stop().await
}

async fn order_per_student_is_kept_while_one_message_retries(bus: Bus) -> anyhow::Result<()> {
    let mut config = base_config();
    config.tiers_ms = vec![200, 400];
    let mut bed = Bed::new(bus, config).await?;
    bed.start();
    let student = DossierKey::new();
    let other = DossierKey::new();
    let m1 = event(student, 1)?;
    let m2 = event(student, 2)?;
    let m3 = event(student, 3)?;
    let t1 = event(other, 1)?;
    bed.partner
        .fail_message(m1.meta.id, 2, TransientClass::ServerError);
    for e in [&m1, &m2, &m3, &t1] {
        bed.publish(e).await?;
    }
    eventually("all delivered", || async {
        Ok(bed.done(m3.meta.id).await? && bed.done(t1.meta.id).await?)
    })
    .await?;
    let received = bed.partner.received();
    let of_student: Vec<u64> = received
        .iter()
        .filter(|r| r.subject == student)
        .map(|r| r.sequence)
        .collect();
    ensure!(of_student == vec![1, 2, 3], "in sequence: {of_student:?}");
    let pos = |id: Uuid| received.iter().position(|r| r.message_id == id);
    ensure!(
        pos(t1.meta.id) < pos(m1.meta.id),
        "another student is not blocked"
    );
    ensure!(bed.count_hop(m2.meta.id, Hop::Held).await? == 1);
    ensure!(bed.count_hop(m2.meta.id, Hop::Released).await? == 1);
    ensure!(bed.count_hop(t1.meta.id, Hop::Held).await? == 0);
    ensure!(
        bed.runtime.waiting().await?.is_empty(),
        "nothing waits any more"
    );
    bed.stop().await
}

async fn parked_blocker_holds_later_messages_until_discarded(bus: Bus) -> anyhow::Result<()> {
    let mut config = base_config();
    config.tiers_ms = vec![20];
    let mut bed = Bed::new(bus, config).await?;
    bed.start();
    let student = DossierKey::new();
    let m1 = event(student, 1)?;
    let m2 = event(student, 2)?;
    let m3 = event(student, 3)?;
    bed.partner
        .fail_message(m1.meta.id, 1000, TransientClass::Connection);
    for e in [&m1, &m2, &m3] {
        bed.publish(e).await?;
    }
    eventually("two messages wait behind the parked one", || async {
        let w = bed.runtime.waiting().await?;
        Ok(!bed.state.parked(PARTNER).await?.is_empty() && w.first().is_some_and(|w| w.held == 2))
    })
    .await?;
    let waiting = bed.runtime.waiting().await?;
    let w = waiting.first().context("waiting info")?;
    ensure!(w.blocker == m1.meta.id && w.subject == student.to_string());
    ensure!(
        bed.metrics.encode().contains("waiting"),
        "waiting is a metric"
    );
    let blocked = format!("knooppunt_blocked_since_timestamp_seconds{{partner=\"{PARTNER}\"}}");
    let text = bed.metrics.encode();
    let since: i64 = text
        .lines()
        .find_map(|l| l.strip_prefix(blocked.as_str())?.trim().parse().ok())
        .with_context(|| format!("{blocked} in {text}"))?;
    ensure!(
        since == w.blocked_since.timestamp(),
        "the metric is the oldest blocked_since"
    );
    ensure!(bed.partner.received().is_empty());

    let ops = FailedMessages::new(bed.state.clone(), bed.audit.clone());
    let discarded = ops
        .discard(
            PARTNER,
            m1.meta.id,
            &OperatorAction::new("operator-a", "handled by phone with the partner"),
        )
        .await?
        .context("m1 was parked")?;
    // The oldest held message is promoted to blocker; the other stays held behind it.
    ensure!(discarded.released.len() == 1);
    ensure!(discarded.released[0].message_id == m2.meta.id);
    bed.runtime.after_discard(discarded).await?;
    eventually("released messages delivered", || async {
        bed.done(m3.meta.id).await
    })
    .await?;
    let seqs: Vec<u64> = bed.partner.received().iter().map(|r| r.sequence).collect();
    ensure!(seqs == vec![2, 3], "released in order: {seqs:?}");
    ensure!(bed.runtime.waiting().await?.is_empty());
    eventually("the blocked-since sample disappears", || async {
        Ok(!bed.metrics.encode().contains(&blocked))
    })
    .await?;
    bed.stop().await
}

async fn breaker_opens_and_closes(bus: Bus) -> anyhow::Result<()> {
    let mut config = base_config();
    config.immediate.retries = 20;
    config.breaker = BreakerConfig {
        failure_threshold: 2,
        cool_down_ms: 100,
    };
    let mut bed = Bed::new(bus, config).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    let id = e.meta.id;
    bed.partner.go_down();
    bed.publish(&e).await?;
    eventually(
        "breaker opened, and re-opened after a failed probe",
        || async { Ok(bed.runtime.gate().opened_count() >= 2) },
    )
    .await?;
    bed.partner.come_up();
    eventually("delivered", || async { bed.done(id).await }).await?;
    let opened = bed.runtime.gate().opened_count();
    ensure!(
        bed.runtime.gate().breaker_state() == knooppunt_ops::BreakerState::Closed,
        "closed again"
    );
    // Two failures opened it, each later opening was one failed probe, then one probe worked:
    // no attempt was made while it was open.
    let attempts = u64::from(bed.partner.attempts_for(id));
    ensure!(
        attempts == opened + 2,
        "attempts {attempts}, openings {opened}"
    );
    ensure!(bed.count_hop(id, Hop::Retried).await? == 0, "no tier burnt");
    ensure!(bed.partner.accepted_count(id) == 1);
    bed.stop().await
}

async fn rate_limit_is_honoured(bus: Bus) -> anyhow::Result<()> {
    let mut config = base_config();
    let per_second = 40.0;
    config.rate_limit = Some(RateLimit {
        per_second,
        burst: 1,
    });
    let mut bed = Bed::new(bus, config).await?;
    bed.start();
    let events: Vec<EventEnvelope> = (0..12)
        .map(|_| event(DossierKey::new(), 1))
        .collect::<anyhow::Result<_>>()?;
    for e in &events {
        bed.publish(e).await?;
    }
    eventually("all delivered", || async {
        Ok(bed.partner.received().len() == events.len())
    })
    .await?;
    let mut at: Vec<Instant> = bed.partner.received().iter().map(|r| r.at).collect();
    at.sort();
    // In any window between two accepted messages, at most burst + rate × window went
    // (one extra for the recording moment differing from the admission moment).
    for (i, a) in at.iter().enumerate() {
        for (j, b) in at.iter().enumerate().skip(i + 1) {
            let window = b.duration_since(*a).as_secs_f64();
            let count = (j - i + 1) as f64;
            ensure!(
                count <= 1.0 + per_second * window + 1.0,
                "{count} messages within {window:.4} s"
            );
        }
    }
    bed.stop().await
}

async fn maintenance_window_holds_then_drains(bus: Bus) -> anyhow::Result<()> {
    let hold = Duration::from_millis(1000);
    let drain = 50.0;
    let mut window_end = Instant::now();
    let mut bed = Bed::with(bus, Identity::Duo, || {
        let start = Utc::now();
        window_end = Instant::now() + hold;
        Ok(DeliveryConfig {
            maintenance: vec![MaintenanceWindow {
                start,
                end: start + chrono::Duration::from_std(hold)?,
            }],
            drain_per_second: Some(drain),
            ..base_config()
        })
    })
    .await?;
    bed.start();
    let events: Vec<EventEnvelope> = (0..5)
        .map(|_| event(DossierKey::new(), 1))
        .collect::<anyhow::Result<_>>()?;
    for e in &events {
        bed.publish(e).await?;
    }
    eventually("all delivered after the window", || async {
        Ok(bed.partner.received().len() == events.len())
    })
    .await?;
    let mut at: Vec<Instant> = bed.partner.received().iter().map(|r| r.at).collect();
    at.sort();
    for a in &at {
        ensure!(
            *a + Duration::from_millis(5) >= window_end,
            "nothing sent inside the window"
        );
    }
    for (i, a) in at.iter().enumerate() {
        for (j, b) in at.iter().enumerate().skip(i + 1) {
            let window = b.duration_since(*a).as_secs_f64();
            let count = (j - i + 1) as f64;
            ensure!(
                count <= 1.0 + drain * window + 1.0,
                "drained too fast: {count} within {window:.4} s"
            );
        }
    }
    eventually("drain over once the queue is empty", || async {
        Ok(!bed.runtime.gate().draining())
    })
    .await?;
    bed.stop().await
}

async fn shadow_mode_sends_nothing(bus: Bus) -> anyhow::Result<()> {
    let mut config = base_config();
    config.shadow = true;
    let mut bed = Bed::new(bus, config).await?;
    bed.start();
    let events: Vec<EventEnvelope> = (0..3)
        .map(|_| event(DossierKey::new(), 1))
        .collect::<anyhow::Result<_>>()?;
    for e in &events {
        bed.publish(e).await?;
    }
    for e in &events {
        eventually("handled", || async { bed.done(e.meta.id).await }).await?;
    }
    ensure!(bed.partner.received().is_empty(), "nothing sent");
    ensure!(bed.partner.attempts() == 0, "the partner saw no attempt");
    ensure!(bed.partner.shadowed().len() == 3, "translated and stored");
    let hops = bed.hops(events[0].meta.id).await?;
    ensure!(
        hops.contains(&(Hop::Delivered, Some("shadow".to_owned()))),
        "{hops:?}"
    );
    bed.stop().await
}

async fn audit_chain_verifies_and_tampering_is_found(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::new(bus, base_config()).await?;
    bed.start();
    let e = event(DossierKey::new(), 1)?;
    let id = e.meta.id;
    bed.partner.fail_message(id, 1, TransientClass::ServerError);
    bed.publish(&e).await?;
    eventually("delivered", || async { bed.done(id).await }).await?;
    let chain = AuditEntry::message_chain(id);
    let records = bed.audit.chain(&chain).await?;
    verify_chain(&records).map_err(|b| anyhow::anyhow!("chain broken: {b:?}"))?;
    let hops: Vec<Hop> = records.iter().map(|r| r.entry.hop).collect();
    for hop in [
        Hop::Consumed,
        Hop::Attempt,
        Hop::Retried,
        Hop::Delivered,
        Hop::Answered,
    ] {
        ensure!(hops.contains(&hop), "{hop:?} recorded: {hops:?}");
    }
    let body_hash = payload_hash(&message(&e)?.body);
    let attempt = records
        .iter()
        .rfind(|r| r.entry.hop == Hop::Attempt)
        .context("an attempt")?;
    ensure!(attempt.entry.endpoint.as_deref() == Some("loopback://sim"));
    ensure!(attempt.entry.status.as_deref() == Some("200"));
    ensure!(attempt.entry.duration_ms.is_some());
    ensure!(attempt.entry.payload_hash.as_deref() == Some(body_hash.as_str()));
    let dump = format!("{records:?}");
    ensure!(!dump.contains(BSN), "no personal data in the audit trail");

    bed.audit.tamper(&chain, 1, |r| {
        r.entry.status = Some("999".into());
    });
    let tampered = bed.audit.chain(&chain).await?;
    let broken = verify_chain(&tampered)
        .err()
        .context("tampering is found")?;
    ensure!(broken.index == 1, "at the tampered record: {broken:?}");
    bed.stop().await
}

/// What waits in the work queue is sampled into `knooppunt_queue_messages`.
async fn queue_depth_is_sampled(bus: Bus) -> anyhow::Result<()> {
    let mut bed = Bed::new(bus, base_config()).await?;
    let sample = format!("knooppunt_queue_messages{{partner=\"{PARTNER}\"}}");
    let depth = |text: String| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(sample.as_str())?.trim().parse().ok())
    };
    let events = [
        event(DossierKey::new(), 1)?,
        event(DossierKey::new(), 1)?,
        event(DossierKey::new(), 1)?,
    ];
    for e in &events {
        bed.publish(e).await?;
    }
    // Not started yet: all three are ready in the queue.
    eventually("three messages ready", || async {
        bed.runtime.sample_queue_depth().await;
        Ok(depth(bed.metrics.encode()) == Some(3))
    })
    .await?;
    bed.start();
    for e in &events {
        let id = e.meta.id;
        eventually("delivered", || async { bed.done(id).await }).await?;
    }
    eventually("the queue is empty", || async {
        bed.runtime.sample_queue_depth().await;
        Ok(depth(bed.metrics.encode()) == Some(0))
    })
    .await?;
    bed.stop().await
}

macro_rules! on_both_buses {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    super::$case(super::Bus::Memory).await
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    super::$case(super::Bus::Rabbit).await
                }
            )*
        }
    };
}

on_both_buses!(
    duplicate_delivery_has_one_effect,
    an_answer_without_a_partner_identity_is_refused,
    crash_before_ack_is_redelivered_with_one_effect,
    transient_failures_use_the_tiers_in_order,
    immediate_retries_absorb_a_blip,
    permanent_failure_is_not_retried,
    exhausted_message_is_parked_with_its_reason,
    order_per_student_is_kept_while_one_message_retries,
    parked_blocker_holds_later_messages_until_discarded,
    breaker_opens_and_closes,
    rate_limit_is_honoured,
    maintenance_window_holds_then_drains,
    shadow_mode_sends_nothing,
    audit_chain_verifies_and_tampering_is_found,
    queue_depth_is_sampled,
);

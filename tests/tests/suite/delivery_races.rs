//! Races between the delivery runtime and its durable state that the conformance suite cannot
//! provoke by timing alone: the state is wrapped so the race happens every time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::Utc;
use knooppunt_adapters::loopback::{LoopbackAdapter, LoopbackPartner};
use knooppunt_bus::delivery::{DeliveryConfig, DeliveryRuntime, Deps, Disposition, RecordingSink};
use knooppunt_bus::memory::MemoryTransport;
use knooppunt_bus::topology::DEFAULT_EVENTS_EXCHANGE;
use knooppunt_bus::{Message, Topology, Transport, headers};
use knooppunt_ops::{
    DeliveryState, HeldMessage, MemoryAudit, MemoryDeliveryState, Metrics, OpsError, ParkedMessage,
    WaitingInfo,
};
use knooppunt_registry::domain::{Event, Person};
use knooppunt_registry::envelope::{DossierKey, EventMeta};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::store::EventEnvelope;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PARTNER: &str = "loopback";

/// Reports a blocker that has just finished: `blocker` still names an earlier message, but the
/// real state no longer has it, so `hold` refuses (returns `false`). Everything else delegates.
struct StaleBlocker {
    inner: MemoryDeliveryState,
    earlier: Uuid,
}

#[async_trait]
impl DeliveryState for StaleBlocker {
    async fn seen(&self, c: &str, id: Uuid) -> Result<bool, OpsError> {
        self.inner.seen(c, id).await
    }
    async fn mark_done(&self, c: &str, id: Uuid, o: &str) -> Result<bool, OpsError> {
        self.inner.mark_done(c, id, o).await
    }
    async fn blocker(&self, _c: &str, _s: &str) -> Result<Option<Uuid>, OpsError> {
        Ok(Some(self.earlier))
    }
    async fn block(&self, c: &str, s: &str, id: Uuid) -> Result<(), OpsError> {
        self.inner.block(c, s, id).await
    }
    async fn hold(&self, c: &str, s: &str, m: HeldMessage) -> Result<bool, OpsError> {
        self.inner.hold(c, s, m).await
    }
    async fn unblock_and_take_held(&self, c: &str, s: &str) -> Result<Vec<HeldMessage>, OpsError> {
        self.inner.unblock_and_take_held(c, s).await
    }
    async fn promote_next_held(
        &self,
        c: &str,
        s: &str,
        finished: Uuid,
    ) -> Result<Option<HeldMessage>, OpsError> {
        self.inner.promote_next_held(c, s, finished).await
    }
    async fn waiting(&self, c: &str) -> Result<Vec<WaitingInfo>, OpsError> {
        self.inner.waiting(c).await
    }
    async fn park(&self, p: ParkedMessage) -> Result<(), OpsError> {
        self.inner.park(p).await
    }
    async fn parked(&self, c: &str) -> Result<Vec<ParkedMessage>, OpsError> {
        self.inner.parked(c).await
    }
    async fn take_parked(&self, c: &str, id: Uuid) -> Result<Option<ParkedMessage>, OpsError> {
        self.inner.take_parked(c, id).await
    }
}

fn event(subject: DossierKey) -> anyhow::Result<EventEnvelope> {
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
            sequence: 1,
        },
        data: Event::DossierOpened {
            person: Person {
                id: PersonId::parse_either("111222333")?,
            },
        },
    })
}

fn message(e: &EventEnvelope) -> anyhow::Result<Message> {
    let mut m = Message::new(e.meta.kind.clone(), serde_json::to_vec(e)?)
        .with_header(headers::SOURCE, e.meta.source.as_str())
        .with_header(headers::SUBJECT, e.meta.subject.to_string())
        .with_header(headers::CAUSATION_ID, e.meta.causation_id.to_string())
        .with_header(headers::SEQUENCE, 1i64);
    m.id = e.meta.id;
    m.time = e.meta.time;
    m.correlation_id = Some(e.meta.correlation_id);
    Ok(m)
}

/// The earlier message finished between the runtime's blocker check and its `hold`: the later
/// message must be delivered now, not stored behind a blocker that will never release it.
#[tokio::test]
async fn message_is_delivered_when_its_blocker_finished_in_between() -> anyhow::Result<()> {
    let transport: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let partner = LoopbackPartner::new();
    let state = Arc::new(StaleBlocker {
        inner: MemoryDeliveryState::new(),
        earlier: Uuid::now_v7(),
    });
    let runtime = DeliveryRuntime::new(
        Arc::new(LoopbackAdapter::new(PARTNER, partner.clone())),
        DeliveryConfig::default(),
        Deps {
            transport: transport.clone(),
            state: state.clone(),
            audit: Arc::new(MemoryAudit::new()),
            metrics: Arc::new(Metrics::new()),
            sink: RecordingSink::new(),
        },
    )?;
    transport
        .declare(&Topology::new(
            DEFAULT_EVENTS_EXCHANGE,
            &[runtime.queues()],
        )?)
        .await?;

    let e = event(DossierKey::new())?;
    let disposition = runtime
        .process(&message(&e)?, &CancellationToken::new())
        .await;

    assert_eq!(disposition, Disposition::Ack);
    assert_eq!(partner.accepted_count(e.meta.id), 1, "delivered once");
    assert!(state.seen(PARTNER, e.meta.id).await?, "marked done");
    assert!(
        state.inner.waiting(PARTNER).await?.is_empty(),
        "nothing left waiting behind a finished message"
    );
    Ok(())
}

/// The process "crashes" right after the first state call that releases a finished blocker's
/// subject: every later state call fails. Everything before delegates.
struct CrashAfterRelease {
    inner: MemoryDeliveryState,
    crashed: AtomicBool,
}

impl CrashAfterRelease {
    fn check(&self) -> Result<(), OpsError> {
        if self.crashed.load(Ordering::SeqCst) {
            Err(OpsError::Batch("crashed".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl DeliveryState for CrashAfterRelease {
    async fn seen(&self, c: &str, id: Uuid) -> Result<bool, OpsError> {
        self.check()?;
        self.inner.seen(c, id).await
    }
    async fn mark_done(&self, c: &str, id: Uuid, o: &str) -> Result<bool, OpsError> {
        self.check()?;
        self.inner.mark_done(c, id, o).await
    }
    async fn blocker(&self, c: &str, s: &str) -> Result<Option<Uuid>, OpsError> {
        self.check()?;
        self.inner.blocker(c, s).await
    }
    async fn block(&self, c: &str, s: &str, id: Uuid) -> Result<(), OpsError> {
        self.check()?;
        self.inner.block(c, s, id).await
    }
    async fn hold(&self, c: &str, s: &str, m: HeldMessage) -> Result<bool, OpsError> {
        self.check()?;
        self.inner.hold(c, s, m).await
    }
    async fn unblock_and_take_held(&self, c: &str, s: &str) -> Result<Vec<HeldMessage>, OpsError> {
        self.check()?;
        let r = self.inner.unblock_and_take_held(c, s).await;
        self.crashed.store(true, Ordering::SeqCst);
        r
    }
    async fn promote_next_held(
        &self,
        c: &str,
        s: &str,
        finished: Uuid,
    ) -> Result<Option<HeldMessage>, OpsError> {
        self.check()?;
        let r = self.inner.promote_next_held(c, s, finished).await;
        self.crashed.store(true, Ordering::SeqCst);
        r
    }
    async fn waiting(&self, c: &str) -> Result<Vec<WaitingInfo>, OpsError> {
        self.check()?;
        self.inner.waiting(c).await
    }
    async fn park(&self, p: ParkedMessage) -> Result<(), OpsError> {
        self.check()?;
        self.inner.park(p).await
    }
    async fn parked(&self, c: &str) -> Result<Vec<ParkedMessage>, OpsError> {
        self.check()?;
        self.inner.parked(c).await
    }
    async fn take_parked(&self, c: &str, id: Uuid) -> Result<Option<ParkedMessage>, OpsError> {
        self.check()?;
        self.inner.take_parked(c, id).await
    }
}

fn held_copy(m: &Message) -> HeldMessage {
    HeldMessage {
        message_id: m.id,
        headers: Default::default(),
        body: m.body.to_vec(),
        held_at: Utc::now(),
    }
}

/// A blocker finishes while two messages wait behind it, and the process dies right after the
/// state's first release step. No held message may be lost: the next one is the blocker (its
/// copy kept) and the other still waits behind it.
#[tokio::test]
async fn crash_while_releasing_loses_no_held_message() -> anyhow::Result<()> {
    let transport: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let partner = LoopbackPartner::new();
    let state = Arc::new(CrashAfterRelease {
        inner: MemoryDeliveryState::new(),
        crashed: AtomicBool::new(false),
    });
    let runtime = DeliveryRuntime::new(
        Arc::new(LoopbackAdapter::new(PARTNER, partner.clone())),
        DeliveryConfig::default(),
        Deps {
            transport: transport.clone(),
            state: state.clone(),
            audit: Arc::new(MemoryAudit::new()),
            metrics: Arc::new(Metrics::new()),
            sink: RecordingSink::new(),
        },
    )?;
    transport
        .declare(&Topology::new(
            DEFAULT_EVENTS_EXCHANGE,
            &[runtime.queues()],
        )?)
        .await?;

    let subject = DossierKey::new();
    let s = subject.to_string();
    let (first, second, third) = (event(subject)?, event(subject)?, event(subject)?);
    // `first` was retrying and blocks the subject; the other two wait behind it.
    state.inner.block(PARTNER, &s, first.meta.id).await?;
    assert!(
        state
            .inner
            .hold(PARTNER, &s, held_copy(&message(&second)?))
            .await?
    );
    assert!(
        state
            .inner
            .hold(PARTNER, &s, held_copy(&message(&third)?))
            .await?
    );

    // Its retry now succeeds; the crash comes while its subject is released.
    let disposition = runtime
        .process(&message(&first)?, &CancellationToken::new())
        .await;
    assert_eq!(
        disposition,
        Disposition::Requeue,
        "the crash is a failed step"
    );
    assert_eq!(partner.accepted_count(first.meta.id), 1);

    let waiting = state.inner.waiting(PARTNER).await?;
    assert_eq!(
        waiting.len(),
        1,
        "the subject is still blocked: {waiting:?}"
    );
    assert_eq!(
        waiting[0].blocker, second.meta.id,
        "the next message blocks"
    );
    assert_eq!(waiting[0].held, 1, "the last message still waits");
    // after the next one finishes, the last one follows: nothing was lost
    let last = state
        .inner
        .promote_next_held(PARTNER, &s, second.meta.id)
        .await?;
    assert_eq!(last.map(|m| m.message_id), Some(third.meta.id));
    Ok(())
}

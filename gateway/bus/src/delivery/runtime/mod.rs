//! The delivery runtime of one adapter: consumes its work queue, drives the adapter and acts on
//! each [`Outcome`]. See the module docs of [`crate::delivery`] for the rules it keeps.
//!
//! One message goes through three steps, each in its own file: [`admit`](DeliveryRuntime::admit)
//! (inbox, decoding, the per-student order), [`attempt`](DeliveryRuntime::attempt) (the gate and
//! the immediate retries) and [`act`](DeliveryRuntime::act) (what the outcome means: answer,
//! finish, retry tier or park). Each occurrence is reported once through
//! [`super::telemetry`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use knooppunt_adapters::{Adapter, Mode, Outcome};
use knooppunt_ops::{
    AuditEntry, AuditTrail, DeliveryState, Discarded, HeldMessage, Hop, Metrics, ParkedMessage,
    payload_hash,
};
use knooppunt_registry::envelope::{Actor, CommandMeta};
use knooppunt_registry::store::EventEnvelope;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod act;
mod admit;
mod attempt;
mod support;

use admit::Admission;
pub use support::answer_id;
use support::*;

use super::DeliveryError;
use super::config::DeliveryConfig;
use super::gate::{Gate, Health};
use super::sink::{CommandSink, Submitted};
use super::telemetry;
use crate::topology::{
    AdapterQueues, PARKING_EXCHANGE, REQUEUE_EXCHANGE, RETRY_EXCHANGE, retry_key, work_queue,
};
use crate::{Delivery, HeaderValue, Message, Transport, headers};

/// Header: the index of the next retry tier to use (0 on first arrival).
pub const TIER_HEADER: &str = "x-knooppunt-tier";
/// Header: when the first attempt failed (RFC 3339).
pub const FIRST_FAILURE_HEADER: &str = "x-knooppunt-first-failure";

/// Reserved keys under which message properties are kept in durable copies (held, parked).
const KEY_TYPE: &str = "amqp-type";
const KEY_TIME: &str = "amqp-timestamp";
const KEY_CORRELATION: &str = "amqp-correlation-id";
/// Headers that travel as integers on the bus.
const INT_HEADERS: [&str; 3] = [headers::SEQUENCE, headers::ATTEMPT, TIER_HEADER];

/// What the runtime needs besides the adapter.
#[derive(Clone)]
pub struct Deps {
    /// The bus.
    pub transport: Arc<dyn Transport>,
    /// Inbox, ordering holds, parked messages.
    pub state: Arc<dyn DeliveryState>,
    /// The audit trail.
    pub audit: Arc<dyn AuditTrail>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Where partners' answers go (the registry).
    pub sink: Arc<dyn CommandSink>,
}

impl fmt::Debug for Deps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}

/// How a consumed message is settled on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Its effect is durable (delivered, held, moved to a tier or parked): acknowledge.
    Ack,
    /// A step of ours failed (store, audit, bus): put it back, it will be redelivered.
    Requeue,
    /// Shutting down while it waited: leave it unsettled; the broker returns it, in delivery
    /// order with the others, when the consumer's channel closes (redelivered to another
    /// consumer or after a restart).
    Abandon,
}

/// The delivery runtime of one adapter.
pub struct DeliveryRuntime {
    adapter: Arc<dyn Adapter>,
    name: String,
    config: DeliveryConfig,
    tiers: Vec<Duration>,
    deps: Deps,
    gate: Gate,
    chains: SubjectChains,
}

impl fmt::Debug for DeliveryRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryRuntime")
            .field("adapter", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DeliveryRuntime {
    /// A runtime for `adapter` with a validated `config`.
    pub fn new(
        adapter: Arc<dyn Adapter>,
        config: DeliveryConfig,
        deps: Deps,
    ) -> Result<Self, DeliveryError> {
        config.validate()?;
        let name = adapter.name().to_owned();
        Ok(Self {
            gate: Gate::new(&name, &config, deps.metrics.clone()),
            tiers: config.tiers(),
            adapter,
            name,
            config,
            deps,
            chains: SubjectChains::default(),
        })
    }

    /// The adapter's name (its consumer name in the delivery state).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queues this runtime needs, for [`crate::Topology::new`].
    pub fn queues(&self) -> AdapterQueues {
        AdapterQueues {
            name: self.name.clone(),
            bindings: self.adapter.topics(),
            tiers: self.tiers.clone(),
        }
    }

    /// The partner's gate (breaker state, draining) for operators.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Consumes the work queue until `cancel`, handling up to `prefetch` messages at once
    /// (one at a time per subject). In-flight messages finish or are left unsettled on return.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> Result<(), DeliveryError> {
        let queue = work_queue(&self.name);
        let mut consumer = self
            .deps
            .transport
            .consume(&queue, self.config.prefetch)
            .await?;
        let slots = Arc::new(Semaphore::new(usize::from(self.config.prefetch)));
        let mut tasks = JoinSet::new();
        tracing::info!(partner = %self.name, queue = %queue, "delivery runtime started");
        loop {
            let slot = tokio::select! {
                _ = cancel.cancelled() => break,
                s = slots.clone().acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            let delivery = {
                let next = consumer.next();
                tokio::pin!(next);
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break None,
                        d = &mut next => break d,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {
                            if self.gate.draining() {
                                // Nothing in flight but the slot held for the next delivery.
                                let idle = slots.available_permits() + 1
                                    == usize::from(self.config.prefetch);
                                self.check_drained(&queue, idle).await;
                            }
                        }
                    }
                }
            };
            let Some(delivery) = delivery else {
                break;
            };
            let subject = delivery
                .message
                .header_str(headers::SUBJECT)
                .map(str::to_owned);
            let turn = subject.map(|s| self.chains.enter(s));
            let this = self.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                if let Some(turn) = &turn {
                    turn.wait_previous().await;
                }
                let disposition = this.process(&delivery.message, &cancel).await;
                this.settle(delivery, disposition).await;
                if let Some(turn) = turn {
                    this.chains.leave(turn);
                }
                drop(slot);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!(partner = %self.name, "delivery runtime stopped");
        Ok(())
    }

    /// Ends the post-maintenance drain once the backlog is gone: the work queue is empty and
    /// nothing is in flight.
    async fn check_drained(&self, queue: &str, idle: bool) {
        if !idle {
            return;
        }
        if let Ok(0) = self.deps.transport.queue_depth(queue).await {
            tracing::info!(partner = %self.name, "maintenance backlog drained");
            self.gate.stop_draining();
        }
    }

    /// Settles a delivery as `disposition` says.
    pub async fn settle(&self, delivery: Delivery, disposition: Disposition) {
        let id = delivery.message.id;
        let result = match disposition {
            Disposition::Ack => delivery.ack().await,
            Disposition::Requeue => {
                // A short pause so a broken dependency does not spin the message around.
                tokio::time::sleep(Duration::from_millis(self.config.immediate.base_ms)).await;
                delivery.nack(true).await
            }
            Disposition::Abandon => {
                delivery.leave();
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(partner = %self.name, message_id = %id, error = %e, "settling failed; the message will be redelivered");
        }
    }

    /// Handles one message: everything except settling it on the bus.
    pub async fn process(&self, msg: &Message, cancel: &CancellationToken) -> Disposition {
        use tracing::Instrument;
        // Every log line of this message's work names it (ids only).
        let span = tracing::info_span!(
            "delivery",
            partner = %self.name,
            message_id = %msg.id,
            correlation_id = msg.correlation_id.map(|c| c.to_string()).unwrap_or_default(),
        );
        match self.try_process(msg, cancel).instrument(span).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(partner = %self.name, message_id = %msg.id, error = %e, "delivery step failed, message requeued");
                Disposition::Requeue
            }
        }
    }

    async fn try_process(
        &self,
        msg: &Message,
        cancel: &CancellationToken,
    ) -> Result<Disposition, DeliveryError> {
        telemetry::Consumed {
            partner: &self.name,
        }
        .emit(&self.deps.metrics);
        let mut trail = Trail::new(msg.id, &self.name, payload_hash(&msg.body));
        let admitted = match self.admit(msg, &mut trail).await? {
            Admission::Settled => return Ok(Disposition::Ack),
            Admission::Proceed(admitted) => admitted,
        };
        let Some(attempted) = self
            .attempt(&admitted.envelope, msg, &mut trail, cancel)
            .await?
        else {
            return Ok(Disposition::Abandon);
        };
        self.act(msg, admitted, attempted, &mut trail).await?;
        Ok(Disposition::Ack)
    }

    fn immediate_backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let i = &self.config.immediate;
        let mut b = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(i.base_ms))
            .with_max_delay(Duration::from_millis(i.max_ms))
            .with_max_times(i.retries as usize);
        if i.jitter {
            b = b.with_jitter();
        }
        b.build()
    }

    /// The tier to use next: the message's next tier, or a later one whose delay covers the
    /// partner's `Retry-After`. `None` when the tiers are used up.
    fn next_tier(&self, next: usize, retry_after: Option<Duration>) -> Option<usize> {
        if next >= self.tiers.len() {
            return None;
        }
        let Some(ra) = retry_after else {
            return Some(next);
        };
        let covering =
            (next..self.tiers.len()).find(|&t| self.tiers.get(t).is_some_and(|d| *d >= ra));
        Some(covering.unwrap_or(self.tiers.len() - 1))
    }

    async fn answer(
        &self,
        envelope: &EventEnvelope,
        command: knooppunt_registry::domain::Command,
        trail: &mut Trail,
    ) -> Result<(), DeliveryError> {
        let Some(partner) = self.adapter.answers_as() else {
            // An adapter without a partner identity has no rights in the registry: its answer
            // is recorded as refused, never executed under another identity.
            let e = trail.push(Hop::Answered);
            e.status = Some("refused".into());
            e.reason = Some("the adapter has no partner identity".into());
            return Ok(());
        };
        let mut meta =
            CommandMeta::caused_by(&envelope.meta, Actor::Partner { partner }, Utc::now());
        meta.id = answer_id(&self.name, envelope.meta.id);
        let submitted = self.deps.sink.submit(meta, command).await?;
        let e = trail.push(Hop::Answered);
        match submitted {
            Submitted::Accepted { replayed } => {
                e.status = Some(if replayed { "replayed" } else { "accepted" }.into());
            }
            Submitted::Rejected(rejection) => {
                e.status = Some("refused".into());
                e.reason = Some(clean_reason(&rejection.to_string()));
            }
        }
        Ok(())
    }

    /// Writes the message's audit entries and marks it done in the inbox: in one transaction
    /// when the delivery state writes the audit trail too (batched with other messages' by
    /// `BatchingDeliveryState`), otherwise audit first, then the mark. Either way the inbox
    /// mark never exists without the audit records before it.
    async fn finish(
        &self,
        trail: &mut Trail,
        id: Uuid,
        outcome: &str,
    ) -> Result<(), DeliveryError> {
        let st = &self.deps.state;
        if st.writes_audit() {
            let entries = std::mem::take(&mut trail.entries);
            st.finish(&self.name, id, outcome, entries).await?;
        } else {
            trail.flush(&*self.deps.audit).await?;
            st.mark_done(&self.name, id, outcome).await?;
        }
        Ok(())
    }

    /// The message finished for good: if it blocked its subject, the next held message goes.
    async fn finish_blocker(
        &self,
        id: Uuid,
        subject: &str,
        blocker: Option<Uuid>,
    ) -> Result<(), DeliveryError> {
        if blocker == Some(id) {
            // One atomic step: the oldest held message becomes the blocker, the rest stay held
            // (a crash before the publish below loses nothing: its copy stays durable).
            let next = self
                .deps
                .state
                .promote_next_held(&self.name, subject, id)
                .await?;
            self.release(subject, next.into_iter().collect()).await?;
        }
        Ok(())
    }

    /// Releases messages that waited behind a finished (or discarded) message, one at a time:
    /// the first becomes the subject's blocker and goes back onto the work queue, the rest stay
    /// held behind it. So a later message can never overtake a released one. Normally `held`
    /// is the one message [`DeliveryState::promote_next_held`] promoted (already the blocker).
    pub async fn release(
        &self,
        subject: &str,
        held: Vec<HeldMessage>,
    ) -> Result<(), DeliveryError> {
        let mut held = held.into_iter();
        let Some(first) = held.next() else {
            self.update_waiting().await;
            return Ok(());
        };
        let st = &self.deps.state;
        st.block(&self.name, subject, first.message_id).await?;
        // The rest wait behind the first. Should the subject have been unblocked in between
        // (`hold` returns false), those go back onto the work queue right after the first.
        let mut unheld = Vec::new();
        for rest in held {
            if !st.hold(&self.name, subject, rest.clone()).await? {
                unheld.push(rest);
            }
        }
        for m in std::iter::once(&first).chain(unheld.iter()) {
            self.deps
                .transport
                .publish(REQUEUE_EXCHANGE, &self.name, &from_held(m))
                .await?;
        }
        let mut trail = Trail::new(first.message_id, &self.name, payload_hash(&first.body));
        trail.subject = subject.parse().ok();
        trail.push(Hop::Released);
        trail.flush(&*self.deps.audit).await?;
        self.update_waiting().await;
        Ok(())
    }

    /// After an operator discarded a parked message: deliver what waited behind it.
    pub async fn after_discard(&self, discarded: Discarded) -> Result<(), DeliveryError> {
        match discarded.message.subject.as_deref() {
            Some(subject) => self.release(subject, discarded.released).await,
            None => Ok(()),
        }
    }

    /// After an operator replayed a parked message: put it back on the work queue with a fresh
    /// set of tiers. It still blocks its subject, so it goes before the messages held behind it.
    pub async fn replay(&self, parked: &ParkedMessage) -> Result<(), DeliveryError> {
        let mut msg = from_parts(parked.message_id, &parked.headers, &parked.body);
        msg.headers.remove(TIER_HEADER);
        msg.headers.remove(headers::PARK_REASON);
        self.deps
            .transport
            .publish(REQUEUE_EXCHANGE, &self.name, &msg)
            .await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn park(
        &self,
        msg: &Message,
        subject: Option<&str>,
        reason: &str,
        attempts: u32,
        first_failure: DateTime<Utc>,
        last_failure: DateTime<Utc>,
        last_error: &str,
        trail: &mut Trail,
    ) -> Result<(), DeliveryError> {
        let held = to_held(msg);
        self.deps
            .state
            .park(ParkedMessage {
                consumer: self.name.clone(),
                message_id: msg.id,
                subject: subject.map(str::to_owned),
                partner: self.name.clone(),
                reason: reason.to_owned(),
                attempts,
                first_failure,
                last_failure,
                last_error: last_error.to_owned(),
                headers: held.headers,
                body: held.body,
            })
            .await?;
        let mut copy = msg.clone();
        copy.headers.insert(
            headers::PARK_REASON.into(),
            HeaderValue::Str(reason.to_owned()),
        );
        copy.headers.insert(
            headers::LAST_ERROR.into(),
            HeaderValue::Str(last_error.to_owned()),
        );
        set_int(&mut copy, headers::ATTEMPT, attempts);
        self.deps
            .transport
            .publish(PARKING_EXCHANGE, &self.name, &copy)
            .await?;
        telemetry::Parked {
            partner: &self.name,
            message_id: msg.id,
            attempts,
            reason,
        }
        .emit(&self.deps.metrics);
        let e = trail.push(Hop::Parked);
        e.reason = Some(clean_reason(reason));
        e.status = Some(clean_code(last_error));
        e.attempt = Some(attempts);
        Ok(())
    }

    async fn update_waiting(&self) {
        match self.deps.state.waiting(&self.name).await {
            Ok(w) => {
                let m = &self.deps.metrics;
                m.set_waiting(&self.name, w.iter().map(|w| w.held).sum());
                m.set_blocked_since(&self.name, w.iter().map(|w| w.blocked_since).min());
            }
            Err(e) => {
                tracing::debug!(partner = %self.name, error = %e, "waiting count unavailable")
            }
        }
    }

    /// Samples how many messages are ready in the work queue into `knooppunt_queue_messages`
    /// (the node calls it periodically; a failed sample removes the value instead of keeping a
    /// stale one).
    pub async fn sample_queue_depth(&self) {
        let depth = match self
            .deps
            .transport
            .queue_depth(&work_queue(&self.name))
            .await
        {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::debug!(partner = %self.name, error = %e, "queue depth unavailable");
                None
            }
        };
        self.deps.metrics.set_queue_messages(&self.name, depth);
    }

    /// The subjects of this partner that wait behind a retrying or parked message.
    pub async fn waiting(&self) -> Result<Vec<knooppunt_ops::WaitingInfo>, DeliveryError> {
        Ok(self.deps.state.waiting(&self.name).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_copy_round_trips_properties_and_header_types() {
        let msg = Message::new("nl.knooppunt.x.v1", b"{}".to_vec())
            .with_header(headers::SEQUENCE, 7i64)
            .with_header(headers::SUBJECT, "abc");
        let back = from_held(&to_held(&msg));
        assert_eq!(back.id, msg.id);
        assert_eq!(back.kind, msg.kind);
        assert_eq!(back.header_int(headers::SEQUENCE), Some(7));
        assert_eq!(back.header_str(headers::SUBJECT), Some("abc"));
        assert_eq!(back.body, msg.body);
    }

    #[test]
    fn answer_ids_are_stable_per_consumer_and_message() {
        let m = Uuid::now_v7();
        assert_eq!(answer_id("duo", m), answer_id("duo", m));
        assert_ne!(answer_id("duo", m), answer_id("sbb", m));
    }

    #[test]
    fn audit_texts_are_cleaned() {
        assert_eq!(clean_code("server error 503"), "server_error_503");
        assert_eq!(clean_code("bsn 111222333"), "redacted");
        assert_eq!(clean_reason("E042\nrejected"), "E042rejected");
        assert_eq!(clean_endpoint("https://x/y?bsn=1#f"), "https://x/y");
    }

    #[tokio::test]
    async fn subject_turns_run_in_arrival_order() {
        let chains = Arc::new(SubjectChains::default());
        let a = chains.enter("s".into());
        let b = chains.enter("s".into());
        let other = chains.enter("t".into());
        other.wait_previous().await; // not blocked by "s"
        let waiter = tokio::spawn(async move {
            b.wait_previous().await;
            b
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        chains.leave(a);
        let b = waiter.await.unwrap();
        chains.leave(b);
        chains.leave(other);
        assert!(chains.last.lock().unwrap().is_empty());
    }
}

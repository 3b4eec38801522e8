//! The message bus and what runs on it: one [`Transport`] abstraction with two
//! implementations, RabbitMQ through lapin ([`amqp::AmqpTransport`]) and in-process
//! ([`memory::MemoryTransport`]); the outbox [`relay`] that publishes registry events onto it;
//! and the [`delivery`] runtime that runs each adapter on its queue (retries, tiers, parking,
//! per-student order, audit).
//!
//! The delivery runtime codes against [`Transport`], [`Consumer`] and [`Delivery`] only; the
//! names of exchanges, queues and routing keys come from [`topology`] (see `docs/topology.md`).
//!
//! *Architecture invariants:*
//! - a `publish` returns `Ok` only after the broker confirmed the message (publisher confirm);
//! - a [`Delivery`] that is dropped without [`Delivery::ack`] or [`Delivery::nack`] (a crashed
//!   consumer) is redelivered, with `redelivered = true`;
//! - message bodies may hold personal data: this module never logs a body or a header value,
//!   only message ids, queue names and routing keys.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub mod amqp;
pub mod delivery;
pub mod memory;
pub mod relay;
pub mod topology;

pub use topology::{AdapterQueues, Topology};

/// Header names carried next to the AMQP properties (CloudEvents attribute names where one exists).
pub mod headers {
    /// CloudEvents `source`, e.g. `/knooppunt/registry`.
    pub const SOURCE: &str = "ce-source";
    /// CloudEvents `subject`: the dossier key (an opaque UUID, never a BSN).
    pub const SUBJECT: &str = "ce-subject";
    /// The message that caused this one.
    pub const CAUSATION_ID: &str = "causation-id";
    /// Per-dossier sequence number.
    pub const SEQUENCE: &str = "sequence";
    /// The institution (BRIN) the message concerns.
    pub const INSTITUTION: &str = "institution";
    /// Delivery attempts so far (set by the delivery runtime when it schedules a retry).
    pub const ATTEMPT: &str = "x-knooppunt-attempt";
    /// Why a message was parked (set by the delivery runtime).
    pub const PARK_REASON: &str = "x-knooppunt-park-reason";
    /// The last error before a retry or parking (never personal data).
    pub const LAST_ERROR: &str = "x-knooppunt-last-error";
}

/// A header value: the AMQP field types Knooppunt uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeaderValue {
    /// A text value.
    Str(String),
    /// An integer value.
    Int(i64),
}

impl HeaderValue {
    /// The text, if this is a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            Self::Int(_) => None,
        }
    }

    /// The integer, if this is an integer value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Str(_) => None,
        }
    }
}

impl From<&str> for HeaderValue {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for HeaderValue {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

/// One message on the bus. CloudEvents attributes travel as AMQP properties (`message_id`,
/// `type`, `timestamp`, `correlation_id`) and headers (see [`headers`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique id (CloudEvents `id`, AMQP `message_id`); consumers deduplicate on it.
    pub id: Uuid,
    /// Versioned type (CloudEvents `type`, AMQP `type`), e.g. `nl.knooppunt.aanmelding.ingediend.v1`.
    pub kind: String,
    /// When the event happened (AMQP `timestamp`; full precision in a header).
    pub time: DateTime<Utc>,
    /// One per user action.
    pub correlation_id: Option<Uuid>,
    /// Further attributes: `ce-source`, `ce-subject`, `causation-id`, `sequence`, … (see [`headers`]).
    pub headers: BTreeMap<String, HeaderValue>,
    /// The payload, normally the JSON of an `EventEnvelope`. May hold personal data: never log it.
    pub body: Bytes,
}

impl Message {
    /// A message with a new random id, `time` now, no headers.
    pub fn new(kind: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: kind.into(),
            time: Utc::now(),
            correlation_id: None,
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// Sets a header (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<HeaderValue>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// A text header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(HeaderValue::as_str)
    }

    /// An integer header.
    pub fn header_int(&self, name: &str) -> Option<i64> {
        self.headers.get(name).and_then(HeaderValue::as_int)
    }
}

impl fmt::Debug for Message {
    /// Ids and sizes only: header values and the body may hold personal data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("time", &self.time)
            .field("correlation_id", &self.correlation_id)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// One item of [`Transport::publish_batch`].
#[derive(Debug, Clone)]
pub struct Publish {
    /// Exchange name.
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// The message.
    pub message: Message,
    /// When true (the default), a message no queue is bound for is an error
    /// ([`BusError::Unroutable`]); when false the broker drops it silently (the outbox relay
    /// publishes events no adapter subscribes to this way).
    pub mandatory: bool,
}

impl Publish {
    /// A mandatory publish.
    pub fn new(
        exchange: impl Into<String>,
        routing_key: impl Into<String>,
        message: Message,
    ) -> Self {
        Self {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            message,
            mandatory: true,
        }
    }

    /// A publish that may reach no queue at all.
    pub fn optional(
        exchange: impl Into<String>,
        routing_key: impl Into<String>,
        message: Message,
    ) -> Self {
        Self {
            mandatory: false,
            ..Self::new(exchange, routing_key, message)
        }
    }
}

/// A transport failure. Never carries a message body or header value.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No broker connection within the configured wait: try again later.
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the message (publisher confirm was a nack).
    #[error("broker nacked message {message_id} to exchange {exchange:?}")]
    Nacked {
        /// The message's id.
        message_id: Uuid,
        /// Where it was published.
        exchange: String,
    },
    /// A mandatory message could not be routed to any queue.
    #[error("message {message_id} unroutable: exchange {exchange:?}, routing key {routing_key:?}")]
    Unroutable {
        /// The message's id.
        message_id: Uuid,
        /// Where it was published.
        exchange: String,
        /// With which routing key.
        routing_key: String,
    },
    /// The named exchange or queue does not exist (topology not declared?).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// `"exchange"` or `"queue"`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A topology or configuration value is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// An ack or nack could not be delivered (the channel is gone); the message will be
    /// redelivered, so the consumer's effect must be idempotent.
    #[error("acknowledgement lost: {0}")]
    AckLost(String),
    /// A broker or protocol failure (a lapin error, as text).
    #[error("broker error: {0}")]
    Broker(String),
    /// The transport was shut down.
    #[error("transport closed")]
    Closed,
}

impl BusError {
    /// Whether trying again (later) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Nacked { .. } | Self::AckLost(_) | Self::Broker(_)
        )
    }
}

/// A message bus: RabbitMQ or in-memory. Implementations are cheap to clone behind an `Arc`.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Declares exchanges, queues and bindings. Idempotent; an AMQP transport re-declares the
    /// topology itself after a reconnect.
    async fn declare(&self, topology: &Topology) -> Result<(), BusError>;

    /// Publishes one message (persistent, mandatory) and waits for the broker's confirm.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        msg: &Message,
    ) -> Result<(), BusError>;

    /// Publishes several messages and returns once all are confirmed (in order per call).
    /// On error some may have been published: publishing again gives duplicates, which
    /// consumers absorb (idempotent effects).
    async fn publish_batch(&self, items: &[Publish]) -> Result<(), BusError>;

    /// Starts consuming `queue` with at most `prefetch` unacknowledged deliveries (0 = no limit).
    /// The consumer survives reconnects: it re-subscribes transparently.
    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn Consumer>, BusError>;

    /// Messages ready for delivery in `queue` (not counting unacknowledged ones).
    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError>;
}

/// A subscription to one queue.
#[async_trait]
pub trait Consumer: Send + fmt::Debug {
    /// The next delivery; `None` only when the transport is closed.
    async fn next(&mut self) -> Option<Delivery>;
}

/// How a delivery is settled; one implementation per transport.
#[async_trait]
pub(crate) trait Settle: Send + Sync + fmt::Debug {
    /// Positive acknowledgement.
    async fn ack(&mut self) -> Result<(), BusError>;
    /// Negative acknowledgement; `requeue = false` dead-letters (parks) the message.
    async fn nack(&mut self, requeue: bool) -> Result<(), BusError>;
    /// Called when the delivery is dropped unsettled: must requeue (without waiting).
    fn abandon(&mut self);
    /// Shutting down: leaves the delivery unsettled, to be returned to the queue when the
    /// consumer's channel closes, together with the other unsettled ones and in the order they
    /// were delivered. (A requeue per delivery, sent from several tasks, could reach the broker
    /// in another order and let a student's later message overtake an earlier one.) Default:
    /// as [`Settle::abandon`].
    fn leave(&mut self) {
        self.abandon();
    }
}

/// A message handed to a consumer. Settle it with [`Delivery::ack`] after its effect is durable,
/// or [`Delivery::nack`]; dropping it unsettled requeues it (`redelivered = true` next time).
#[derive(Debug)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// True when the message was delivered before and not acknowledged.
    pub redelivered: bool,
    /// The queue it came from.
    pub queue: String,
    settle: Option<Box<dyn Settle>>,
}

impl Delivery {
    pub(crate) fn new(
        message: Message,
        redelivered: bool,
        queue: String,
        settle: Box<dyn Settle>,
    ) -> Self {
        Self {
            message,
            redelivered,
            queue,
            settle: Some(settle),
        }
    }

    /// Acknowledges the message: it is removed from the queue.
    pub async fn ack(mut self) -> Result<(), BusError> {
        match self.settle.take() {
            Some(mut s) => s.ack().await,
            None => Ok(()),
        }
    }

    /// Rejects the message: `requeue = true` puts it back (redelivered later), `false`
    /// dead-letters it to the adapter's parking queue.
    pub async fn nack(mut self, requeue: bool) -> Result<(), BusError> {
        match self.settle.take() {
            Some(mut s) => s.nack(requeue).await,
            None => Ok(()),
        }
    }
}

impl Delivery {
    /// Shutting down: leaves the message unsettled; the broker returns it together with the
    /// others when the consumer's channel closes (not a requeue of its own, which could reach
    /// the broker before an earlier message's).
    pub fn leave(mut self) {
        if let Some(mut s) = self.settle.take() {
            s.leave();
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(mut s) = self.settle.take() {
            s.abandon();
        }
    }
}

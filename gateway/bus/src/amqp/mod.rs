//! RabbitMQ through lapin, with publisher confirms and a connection supervisor.
//!
//! A supervisor task owns the connection. lapin's own recovery may be enabled
//! ([`AmqpConfig::lapin_recovery`]); the supervisor watches the connection and, when it is
//! closed, errored, or lapin's recovery takes longer than [`AmqpConfig::recovery_grace`],
//! throws the connection away and builds a new one: connection, publishing channel (confirm
//! mode), every declared topology, and — through an epoch counter — every consumer.
//!
//! - `publish` waits for a usable connection up to [`AmqpConfig::publish_wait`], publishes
//!   (persistent, mandatory) and waits for the confirm; an unconfirmed publish (connection lost,
//!   confirm timeout) is sent again, so a message may arrive twice but is never lost once `Ok`.
//! - a consumer re-subscribes after every reconnect (new epoch); deliveries from before the
//!   reconnect can no longer be acked ([`BusError::AckLost`]) and come back redelivered.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::topology::ExchangeKind;
use crate::{
    BusError, Consumer, Delivery, HeaderValue, Message, Publish, Settle, Topology, Transport,
};

mod codec;
mod config;
mod consumer;
mod session;

use codec::*;
pub use config::AmqpConfig;
use config::*;
use consumer::*;
use session::*;

/// One live connection with its publishing channel.
struct Session {
    connection: Connection,
    publisher: tokio::sync::Mutex<Channel>,
}

struct Shared {
    config: AmqpConfig,
    session: watch::Sender<Option<Arc<Session>>>,
    /// Bumped on every new connection and every completed lapin recovery: consumers re-subscribe.
    epoch: watch::Sender<u64>,
    topologies: Mutex<Vec<Topology>>,
    cancel: CancellationToken,
    /// Where reconnects and re-sent publishes are counted, once set.
    metrics: std::sync::OnceLock<Arc<knooppunt_ops::Metrics>>,
}

impl Shared {
    /// Counts a usable connection after a loss (not the first connection).
    fn count_reconnect(&self) {
        if let Some(m) = self.metrics.get() {
            m.bus_reconnected();
        }
    }
}

/// Cancels the supervisor when the last [`AmqpTransport`] clone is dropped.
struct ShutdownGuard(CancellationToken);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The RabbitMQ transport. Clones share one supervised connection.
#[derive(Clone)]
pub struct AmqpTransport {
    shared: Arc<Shared>,
    _guard: Arc<ShutdownGuard>,
}

impl fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("uri", &redacted_uri(&self.shared.config.uri))
            .field("epoch", &*self.shared.epoch.borrow())
            .finish()
    }
}

fn broker_err(e: &lapin::Error) -> BusError {
    if let lapin::ErrorKind::ProtocolError(amqp) = e.kind()
        && let AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) = amqp.kind()
    {
        return BusError::NotFound {
            kind: "exchange or queue",
            name: amqp.get_message().to_string(),
        };
    }
    BusError::Broker(e.to_string())
}

/// Runs one broker operation with an upper bound.
async fn bounded<T>(
    limit: Duration,
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, BusError>>,
) -> Result<T, BusError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| Err(BusError::Unavailable(format!("{what} timed out"))))
}

fn short(field: &'static str, s: &str) -> Result<ShortString, BusError> {
    ShortString::try_new(s).map_err(|_| BusError::Invalid {
        field,
        reason: "longer than 255 bytes".into(),
    })
}

impl AmqpTransport {
    /// Starts the supervisor and waits (up to `publish_wait`) for the first connection.
    /// Fails with [`BusError::Unavailable`] if the broker cannot be reached in that time.
    pub async fn connect(config: AmqpConfig) -> Result<Self, BusError> {
        let cancel = CancellationToken::new();
        let (session, _) = watch::channel(None);
        let (epoch, _) = watch::channel(0);
        let wait = config.publish_wait;
        let shared = Arc::new(Shared {
            config,
            session,
            epoch,
            topologies: Mutex::new(Vec::new()),
            cancel: cancel.clone(),
            metrics: std::sync::OnceLock::new(),
        });
        tokio::spawn(supervise(Arc::clone(&shared)));
        let transport = Self {
            shared,
            _guard: Arc::new(ShutdownGuard(cancel)),
        };
        transport
            .shared
            .ready_session(Instant::now() + wait)
            .await?;
        Ok(transport)
    }

    /// Stops the supervisor and closes the connection; consumers then return `None`.
    pub fn shutdown(&self) {
        self.shared.cancel.cancel();
    }

    /// Counts reconnects (`knooppunt_bus_reconnects_total`) and unconfirmed publishes sent again
    /// (`knooppunt_bus_republished_total`) in `metrics` from now on. The first call wins; clones
    /// share the setting.
    pub fn with_metrics(self, metrics: Arc<knooppunt_ops::Metrics>) -> Self {
        let _ = self.shared.metrics.set(metrics);
        self
    }

    /// Number of connections built so far plus completed lapin recoveries (for tests and metrics).
    pub fn epoch(&self) -> u64 {
        *self.shared.epoch.borrow()
    }

    /// Publishes `items`, retrying unconfirmed ones until all are confirmed.
    async fn publish_all(&self, items: &[(&str, &str, &Message, bool)]) -> Result<(), BusError> {
        let cfg = &self.shared.config;
        let mut prepared = Vec::with_capacity(items.len());
        for (exchange, key, msg, mandatory) in items {
            prepared.push((
                short("exchange", exchange)?,
                short("routing_key", key)?,
                encode(msg)?,
                *msg,
                *mandatory,
            ));
        }
        let mut pending: Vec<usize> = (0..prepared.len()).collect();
        let mut rounds = 0u32;
        while !pending.is_empty() {
            rounds += 1;
            let session = self
                .shared
                .ready_session(Instant::now() + cfg.publish_wait)
                .await?;
            let channel = bounded(
                cfg.op_timeout,
                "opening the publishing channel",
                session.publishing_channel(),
            )
            .await?;
            let mut confirms = Vec::with_capacity(pending.len());
            let mut last_err = None;
            for &i in &pending {
                let Some((ex, key, props, msg, mandatory)) = prepared.get(i) else {
                    continue;
                };
                let publish = channel.basic_publish(
                    ex.clone(),
                    key.clone(),
                    BasicPublishOptions {
                        mandatory: *mandatory,
                        immediate: false,
                    },
                    &msg.body,
                    props.clone(),
                );
                match tokio::time::timeout(cfg.op_timeout, publish).await {
                    Ok(Ok(c)) => confirms.push((i, c)),
                    Ok(Err(e)) => {
                        last_err = Some(broker_err(&e));
                        break;
                    }
                    Err(_) => {
                        last_err = Some(BusError::Unavailable("basic.publish timed out".into()));
                        break;
                    }
                }
            }
            let mut confirmed = std::collections::BTreeSet::new();
            // One deadline for the whole batch: a dead connection costs one timeout, not one
            // per message.
            let confirm_deadline = Instant::now() + cfg.confirm_timeout;
            for (i, confirm) in confirms {
                let Some((ex, key, _, msg, _)) = prepared.get(i) else {
                    continue;
                };
                match tokio::time::timeout_at(confirm_deadline, confirm).await {
                    Ok(Ok(Confirmation::Ack(None))) | Ok(Ok(Confirmation::NotRequested)) => {
                        confirmed.insert(i);
                    }
                    Ok(Ok(Confirmation::Ack(Some(_)))) => {
                        return Err(BusError::Unroutable {
                            message_id: msg.id,
                            exchange: ex.to_string(),
                            routing_key: key.to_string(),
                        });
                    }
                    Ok(Ok(Confirmation::Nack(_))) => {
                        return Err(BusError::Nacked {
                            message_id: msg.id,
                            exchange: ex.to_string(),
                        });
                    }
                    Ok(Err(e)) => last_err = Some(broker_err(&e)),
                    Err(_) => {
                        last_err =
                            Some(BusError::Unavailable("publisher confirm timed out".into()));
                    }
                }
            }
            // Unconfirmed and never-sent items are published again in the next round.
            pending.retain(|i| !confirmed.contains(i));
            if let Some(err) = last_err {
                if let BusError::NotFound { .. } = err {
                    return Err(err);
                }
                if rounds >= 20 {
                    return Err(err);
                }
                tracing::warn!(error = %err, pending = pending.len(), round = rounds, "publish interrupted, publishing unconfirmed messages again");
                if let Some(m) = self.shared.metrics.get() {
                    m.bus_republished(pending.len() as u64);
                }
                tokio::time::sleep(cfg.reconnect_min).await;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Transport for AmqpTransport {
    async fn declare(&self, topology: &Topology) -> Result<(), BusError> {
        let session = self
            .shared
            .ready_session(Instant::now() + self.shared.config.publish_wait)
            .await?;
        declare_on(&session.connection, topology, self.shared.config.op_timeout).await?;
        if let Ok(mut list) = self.shared.topologies.lock()
            && !list.contains(topology)
        {
            list.push(topology.clone());
        }
        Ok(())
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        msg: &Message,
    ) -> Result<(), BusError> {
        self.publish_all(&[(exchange, routing_key, msg, true)])
            .await
    }

    async fn publish_batch(&self, items: &[Publish]) -> Result<(), BusError> {
        let refs: Vec<(&str, &str, &Message, bool)> = items
            .iter()
            .map(|p| {
                (
                    p.exchange.as_str(),
                    p.routing_key.as_str(),
                    &p.message,
                    p.mandatory,
                )
            })
            .collect();
        self.publish_all(&refs).await
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn Consumer>, BusError> {
        let mut consumer = AmqpConsumer {
            shared: Arc::clone(&self.shared),
            queue: queue.to_owned(),
            prefetch,
            current: None,
        };
        // Subscribe once now so a missing queue is an error here, not a silent retry loop.
        let deadline = Instant::now() + self.shared.config.publish_wait;
        consumer.current = Some(consumer.subscribe(deadline).await?);
        Ok(Box::new(consumer))
    }

    async fn queue_depth(&self, queue: &str) -> Result<u64, BusError> {
        let session = self
            .shared
            .ready_session(Instant::now() + self.shared.config.publish_wait)
            .await?;
        bounded(
            self.shared.config.op_timeout,
            "queue depth",
            depth_of(&session, queue),
        )
        .await
    }
}

async fn depth_of(session: &Session, queue: &str) -> Result<u64, BusError> {
    {
        let ch = session
            .connection
            .create_channel()
            .await
            .map_err(|e| broker_err(&e))?;
        let q = ch
            .queue_declare(
                short("queue", queue)?,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| match broker_err(&e) {
                BusError::NotFound { .. } => BusError::NotFound {
                    kind: "queue",
                    name: queue.to_owned(),
                },
                other => other,
            })?;
        let _ = tokio::time::timeout(Duration::from_secs(2), ch.close(200, "depth".into())).await;
        Ok(u64::from(q.message_count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_keeps_the_message() {
        let mut msg = Message::new("nl.knooppunt.test.v1", "{}")
            .with_header("ce-subject", "abc")
            .with_header("sequence", 42);
        msg.correlation_id = Some(Uuid::new_v4());
        let props = encode(&msg).unwrap();
        let back = decode(&props, msg.body.to_vec()).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn foreign_messages_are_typed_errors() {
        let err = |p: BasicProperties| decode(&p, Vec::new()).unwrap_err().to_string();
        assert!(err(BasicProperties::default()).contains("message_id"));
        let no_type = BasicProperties::default().with_message_id(Uuid::new_v4().to_string().into());
        assert!(err(no_type.clone()).contains("type"));
        let bad_id = BasicProperties::default().with_message_id("not-a-uuid".into());
        assert!(err(bad_id).contains("not a UUID"));
        let no_time = no_type.with_type("t".into());
        assert!(err(no_time).contains("timestamp"));
        let mut headers = FieldTable::default();
        headers.insert(
            TIME_HEADER.into(),
            AMQPValue::LongString("yesterday".into()),
        );
        let bad_time = BasicProperties::default()
            .with_message_id(Uuid::new_v4().to_string().into())
            .with_type("t".into())
            .with_headers(headers);
        assert!(err(bad_time).contains("ce-time"));
    }

    #[test]
    fn broker_headers_are_not_message_headers() {
        let msg = Message::new("t", "{}");
        let mut props = encode(&msg).unwrap();
        let mut headers = props.headers().clone().unwrap_or_default();
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(3));
        headers.insert("x-death".into(), AMQPValue::FieldArray(Default::default()));
        props = props.with_headers(headers);
        let back = decode(&props, Vec::new()).unwrap();
        assert!(back.headers.is_empty());
    }

    #[test]
    fn uri_password_is_redacted() {
        let cfg = AmqpConfig::new("amqp://guest:secret@localhost:5672/%2f");
        let text = format!("{cfg:?}");
        assert!(!text.contains("secret"));
        assert!(text.contains("localhost:5672"));
    }
}

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

use super::topology::ExchangeKind;
use super::{
    BusError, Consumer, Delivery, HeaderValue, Message, Publish, Settle, Topology, Transport,
};

/// Header carrying [`Message::time`] at full precision (AMQP `timestamp` has whole seconds).
const TIME_HEADER: &str = "ce-time";

/// Settings of [`AmqpTransport`].
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` (the password is never logged).
    pub uri: String,
    /// Connection name shown in RabbitMQ.
    pub connection_name: String,
    /// How long a publish (or declare, or depth query) waits for a usable connection.
    pub publish_wait: Duration,
    /// How long to wait for one publisher confirm before publishing again.
    pub confirm_timeout: Duration,
    /// First delay between reconnect attempts of the supervisor (doubles up to the maximum).
    pub reconnect_min: Duration,
    /// Largest delay between reconnect attempts.
    pub reconnect_max: Duration,
    /// How often the supervisor checks the connection.
    pub health_interval: Duration,
    /// Whether lapin's own connection recovery is enabled (the supervisor still watches).
    pub lapin_recovery: bool,
    /// How many reconnect attempts lapin makes itself (backoff from `reconnect_min` to
    /// `reconnect_max`) before it gives up and the supervisor takes over. Kept small: lapin
    /// retries in a thread of its own, also for a first connect the supervisor abandoned.
    pub lapin_retries: usize,
    /// How long lapin's recovery may take before the supervisor rebuilds the connection.
    pub recovery_grace: Duration,
    /// Upper bound of one broker operation (open a channel, declare, subscribe, ack): a call
    /// that hangs in a half-dead connection fails instead of blocking forever.
    pub op_timeout: Duration,
}

impl AmqpConfig {
    /// Defaults for `uri`: wait 30 s for a connection and for confirms, reconnect after
    /// 100 ms … 5 s, check every 250 ms, lapin recovery on with 30 s grace.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            connection_name: "knooppunt".into(),
            publish_wait: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            health_interval: Duration::from_millis(250),
            lapin_recovery: true,
            lapin_retries: 3,
            recovery_grace: Duration::from_secs(30),
            op_timeout: Duration::from_secs(10),
        }
    }
}

/// The URI without its userinfo (for logs and Debug).
fn redacted_uri(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!(
            "{}://***@{}",
            uri.get(..s).unwrap_or_default(),
            uri.get(at + 1..).unwrap_or_default()
        ),
        _ => uri.to_owned(),
    }
}

impl fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("uri", &redacted_uri(&self.uri))
            .field("connection_name", &self.connection_name)
            .field("publish_wait", &self.publish_wait)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("health_interval", &self.health_interval)
            .field("lapin_recovery", &self.lapin_recovery)
            .field("lapin_retries", &self.lapin_retries)
            .field("recovery_grace", &self.recovery_grace)
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

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

impl Shared {
    /// The current session once its connection is usable, waiting until `deadline`.
    async fn ready_session(&self, deadline: Instant) -> Result<Arc<Session>, BusError> {
        let mut rx = self.session.subscribe();
        loop {
            if self.cancel.is_cancelled() {
                return Err(BusError::Closed);
            }
            let current = rx.borrow_and_update().clone();
            if let Some(s) = current
                && s.connection.status().connected()
            {
                return Ok(s);
            }
            let poll = tokio::time::sleep(Duration::from_millis(50));
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(BusError::Unavailable("no broker connection within the publish wait".into()));
                }
                _ = self.cancel.cancelled() => return Err(BusError::Closed),
                _ = rx.changed() => {}
                _ = poll => {}
            }
        }
    }
}

impl Session {
    /// The publishing channel, replaced when the broker closed it (e.g. after a NOT_FOUND).
    async fn publishing_channel(&self) -> Result<Channel, BusError> {
        let mut ch = self.publisher.lock().await;
        if !ch.status().connected() && self.connection.status().connected() {
            let fresh = self
                .connection
                .create_channel()
                .await
                .map_err(|e| broker_err(&e))?;
            fresh
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| broker_err(&e))?;
            *ch = fresh;
        }
        Ok(ch.clone())
    }
}

async fn open_session(shared: &Shared) -> Result<Arc<Session>, BusError> {
    let cfg = &shared.config;
    let mut props =
        ConnectionProperties::default().with_connection_name(cfg.connection_name.clone().into());
    if cfg.lapin_recovery {
        let (min, max, times) = (cfg.reconnect_min, cfg.reconnect_max, cfg.lapin_retries);
        props = props
            .configure_backoff(move |b| {
                b.with_min_delay(min)
                    .with_max_delay(max)
                    .with_max_times(times)
                    .with_jitter()
            })
            .enable_auto_recover();
    }
    let connection = tokio::time::timeout(cfg.publish_wait, Connection::connect(&cfg.uri, props))
        .await
        .map_err(|_| BusError::Unavailable("connect timed out".into()))?
        .map_err(|e| BusError::Unavailable(e.to_string()))?;
    match bounded(
        cfg.op_timeout,
        "opening the session",
        prepare_session(shared, &connection),
    )
    .await
    {
        Ok(publisher) => Ok(Arc::new(Session {
            connection,
            publisher: tokio::sync::Mutex::new(publisher),
        })),
        Err(e) => {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                connection.close(200, "setup failed".into()),
            )
            .await;
            Err(e)
        }
    }
}

/// Publishing channel in confirm mode and every known topology, on a fresh connection.
async fn prepare_session(shared: &Shared, connection: &Connection) -> Result<Channel, BusError> {
    let publisher = connection
        .create_channel()
        .await
        .map_err(|e| broker_err(&e))?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| broker_err(&e))?;
    let topologies = shared
        .topologies
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default();
    for t in &topologies {
        declare_on(connection, t).await?;
    }
    Ok(publisher)
}

async fn declare_on(connection: &Connection, topology: &Topology) -> Result<(), BusError> {
    let ch = connection
        .create_channel()
        .await
        .map_err(|e| broker_err(&e))?;
    for ex in topology.exchanges() {
        let kind = match ex.kind {
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
            ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        };
        ch.exchange_declare(
            short("exchange", &ex.name)?,
            kind,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker_err(&e))?;
    }
    for q in topology.queues() {
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        if let Some(ttl) = q.message_ttl {
            let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms));
            // Retry queues must not lose a message on its way back to the work queue.
            args.insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString("at-least-once".into()),
            );
            args.insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
        }
        if let Some((dlx, key)) = &q.dead_letter {
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(dlx.as_str().into()),
            );
            args.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(key.as_str().into()),
            );
        }
        ch.queue_declare(
            short("queue", &q.name)?,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await
        .map_err(|e| broker_err(&e))?;
    }
    for b in topology.bindings() {
        ch.queue_bind(
            short("queue", &b.queue)?,
            short("exchange", &b.exchange)?,
            short("routing_key", &b.routing_key)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker_err(&e))?;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ch.close(200, "declared".into())).await;
    Ok(())
}

/// The supervisor: keeps one usable session, rebuilding it when the connection is lost.
async fn supervise(shared: Arc<Shared>) {
    let cfg = shared.config.clone();
    let mut delay = cfg.reconnect_min;
    while !shared.cancel.is_cancelled() {
        match open_session(&shared).await {
            Ok(session) => {
                delay = cfg.reconnect_min;
                shared.session.send_replace(Some(Arc::clone(&session)));
                shared.epoch.send_modify(|e| *e += 1);
                tracing::info!(uri = %redacted_uri(&cfg.uri), epoch = *shared.epoch.borrow(), "bus connected");
                if *shared.epoch.borrow() > 1 {
                    shared.count_reconnect();
                }
                monitor(&shared, &session).await;
                shared.session.send_replace(None);
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    session
                        .connection
                        .close(320, "knooppunt supervisor closes".into()),
                )
                .await;
                if !shared.cancel.is_cancelled() {
                    tracing::warn!(
                        "bus connection lost, rebuilding connection, channels, topology and consumers"
                    );
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64, "bus connect failed, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shared.cancel.cancelled() => {}
                }
                delay = (delay * 2).min(cfg.reconnect_max);
            }
        }
    }
}

/// Returns when the session is beyond saving (or on shutdown).
async fn monitor(shared: &Shared, session: &Session) {
    let cfg = &shared.config;
    let mut down_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(cfg.health_interval) => {}
            _ = shared.cancel.cancelled() => return,
        }
        let status = session.connection.status();
        if status.connected() {
            if down_since.take().is_some() {
                tracing::info!("bus connection recovered by lapin, consumers re-subscribe");
                shared.epoch.send_modify(|e| *e += 1);
                shared.count_reconnect();
            }
            continue;
        }
        if !cfg.lapin_recovery || status.closed() || status.errored() || status.closing() {
            return;
        }
        let since = *down_since.get_or_insert_with(Instant::now);
        if since.elapsed() > cfg.recovery_grace {
            tracing::warn!("lapin recovery exceeded its grace period");
            return;
        }
    }
}

fn encode(msg: &Message) -> Result<BasicProperties, BusError> {
    let mut headers = FieldTable::default();
    for (k, v) in &msg.headers {
        let value = match v {
            HeaderValue::Str(s) => AMQPValue::LongString(s.as_str().into()),
            HeaderValue::Int(i) => AMQPValue::LongLongInt(*i),
        };
        headers.insert(short("header name", k)?, value);
    }
    headers.insert(
        TIME_HEADER.into(),
        AMQPValue::LongString(
            msg.time
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                .as_str()
                .into(),
        ),
    );
    let mut props = BasicProperties::default()
        .with_message_id(msg.id.to_string().into())
        .with_type(short("kind", &msg.kind)?)
        .with_timestamp(u64::try_from(msg.time.timestamp()).unwrap_or(0))
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    if let Some(c) = msg.correlation_id {
        props = props.with_correlation_id(c.to_string().into());
    }
    Ok(props)
}

/// Headers RabbitMQ adds itself; not part of [`Message::headers`].
fn broker_owned(name: &str) -> bool {
    name == "x-death"
        || name == "x-delivery-count"
        || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
        || name == TIME_HEADER
}

fn decode(props: &BasicProperties, body: Vec<u8>) -> Result<Message, BusError> {
    let bad = |field: &'static str, reason: &str| BusError::Invalid {
        field,
        reason: reason.to_owned(),
    };
    let id = props
        .message_id()
        .as_ref()
        .ok_or_else(|| bad("message_id", "missing"))?;
    let id = Uuid::parse_str(id.as_str()).map_err(|_| bad("message_id", "not a UUID"))?;
    let kind = props
        .kind()
        .as_ref()
        .ok_or_else(|| bad("type", "missing"))?
        .to_string();
    let correlation_id = match props.correlation_id() {
        Some(c) => {
            Some(Uuid::parse_str(c.as_str()).map_err(|_| bad("correlation_id", "not a UUID"))?)
        }
        None => None,
    };
    let mut headers = BTreeMap::new();
    let mut time: Option<DateTime<Utc>> = None;
    if let Some(table) = props.headers() {
        for (k, v) in table {
            let name = k.as_str();
            if name == TIME_HEADER {
                let text = match v {
                    AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    AMQPValue::ShortString(s) => s.to_string(),
                    _ => return Err(bad("ce-time", "not a string")),
                };
                time = Some(
                    DateTime::parse_from_rfc3339(&text)
                        .map_err(|_| bad("ce-time", "not RFC 3339"))?
                        .with_timezone(&Utc),
                );
                continue;
            }
            if broker_owned(name) {
                continue;
            }
            let value = match v {
                AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
                    Ok(s) => HeaderValue::Str(s.to_owned()),
                    Err(_) => continue,
                },
                AMQPValue::ShortString(s) => HeaderValue::Str(s.to_string()),
                AMQPValue::ShortShortInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::ShortShortUInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::ShortInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::ShortUInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::LongInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::LongUInt(i) => HeaderValue::Int(i64::from(*i)),
                AMQPValue::LongLongInt(i) => HeaderValue::Int(*i),
                _ => continue,
            };
            headers.insert(name.to_owned(), value);
        }
    }
    let time = match time {
        Some(t) => t,
        None => {
            let secs = props
                .timestamp()
                .ok_or_else(|| bad("timestamp", "missing"))?;
            i64::try_from(secs)
                .ok()
                .and_then(|s| Utc.timestamp_opt(s, 0).single())
                .ok_or_else(|| bad("timestamp", "out of range"))?
        }
    };
    Ok(Message {
        id,
        kind,
        time,
        correlation_id,
        headers,
        body: body.into(),
    })
}

#[async_trait]
impl Transport for AmqpTransport {
    async fn declare(&self, topology: &Topology) -> Result<(), BusError> {
        let session = self
            .shared
            .ready_session(Instant::now() + self.shared.config.publish_wait)
            .await?;
        bounded(
            self.shared.config.op_timeout,
            "declaring the topology",
            declare_on(&session.connection, topology),
        )
        .await?;
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

struct Subscription {
    epoch: u64,
    channel: Channel,
    stream: lapin::Consumer,
}

struct AmqpConsumer {
    shared: Arc<Shared>,
    queue: String,
    prefetch: u16,
    current: Option<Subscription>,
}

impl fmt::Debug for AmqpConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConsumer")
            .field("queue", &self.queue)
            .field("prefetch", &self.prefetch)
            .field("epoch", &self.current.as_ref().map(|s| s.epoch))
            .finish()
    }
}

impl AmqpConsumer {
    async fn subscribe(&self, deadline: Instant) -> Result<Subscription, BusError> {
        let session = self.shared.ready_session(deadline).await?;
        bounded(
            self.shared.config.op_timeout,
            "subscribing",
            self.subscribe_on(&session),
        )
        .await
    }

    async fn subscribe_on(&self, session: &Session) -> Result<Subscription, BusError> {
        let epoch = *self.shared.epoch.borrow();
        let channel = session
            .connection
            .create_channel()
            .await
            .map_err(|e| broker_err(&e))?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions { global: false })
            .await
            .map_err(|e| broker_err(&e))?;
        let tag = format!("knooppunt-{}", Uuid::new_v4());
        let stream = channel
            .basic_consume(
                short("queue", &self.queue)?,
                short("consumer tag", &tag)?,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| match broker_err(&e) {
                BusError::NotFound { .. } => BusError::NotFound {
                    kind: "queue",
                    name: self.queue.clone(),
                },
                other => other,
            })?;
        Ok(Subscription {
            epoch,
            channel,
            stream,
        })
    }

    fn drop_subscription(&mut self) {
        if let Some(sub) = self.current.take() {
            // Closing the channel returns its unacknowledged and prefetched messages to the queue.
            let Ok(handle) = tokio::runtime::Handle::try_current() else {
                return; // no runtime left: the connection closes with it
            };
            handle.spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    sub.channel.close(200, "consumer closed".into()),
                )
                .await;
            });
        }
    }
}

impl Drop for AmqpConsumer {
    /// A dropped consumer closes its channel, so its prefetched messages go to other consumers.
    fn drop(&mut self) {
        self.drop_subscription();
    }
}

#[async_trait]
impl Consumer for AmqpConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        let cfg = self.shared.config.clone();
        loop {
            if self.shared.cancel.is_cancelled() {
                self.drop_subscription();
                return None;
            }
            let Some(sub) = self.current.as_mut() else {
                let far = Instant::now() + Duration::from_secs(3600);
                match self.subscribe(far).await {
                    Ok(sub) => {
                        tracing::info!(queue = %self.queue, epoch = sub.epoch, "consumer subscribed");
                        self.current = Some(sub);
                    }
                    Err(BusError::Closed) => return None,
                    Err(err) => {
                        tracing::warn!(queue = %self.queue, error = %err, "consumer subscribe failed, retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(cfg.reconnect_min.max(Duration::from_millis(100))) => {}
                            _ = self.shared.cancel.cancelled() => return None,
                        }
                    }
                }
                continue;
            };
            let my_epoch = sub.epoch;
            let mut epoch_rx = self.shared.epoch.subscribe();
            let item = tokio::select! {
                _ = self.shared.cancel.cancelled() => { self.drop_subscription(); return None; }
                _ = epoch_rx.wait_for(|e| *e != my_epoch) => None,
                item = sub.stream.next() => Some(item),
            };
            match item {
                None => {
                    // New connection or completed recovery: subscribe again.
                    self.drop_subscription();
                }
                Some(None) | Some(Some(Err(_))) => {
                    tracing::warn!(queue = %self.queue, "consumer stream ended, re-subscribing");
                    self.drop_subscription();
                }
                Some(Some(Ok(d))) => {
                    let tag = d.delivery_tag;
                    match decode(&d.properties, d.data) {
                        Ok(message) => {
                            return Some(Delivery::new(
                                message,
                                d.redelivered,
                                self.queue.clone(),
                                Box::new(AmqpSettle {
                                    acker: Some(d.acker),
                                    limit: cfg.op_timeout,
                                }),
                            ));
                        }
                        Err(err) => {
                            // Not a Knooppunt message: park it, never loop on it.
                            tracing::warn!(queue = %self.queue, delivery_tag = tag, error = %err, "undecodable message dead-lettered");
                            let _ = d
                                .acker
                                .nack(BasicNackOptions {
                                    multiple: false,
                                    requeue: false,
                                })
                                .await;
                        }
                    }
                }
            }
        }
    }
}

struct AmqpSettle {
    acker: Option<lapin::Acker>,
    limit: Duration,
}

impl fmt::Debug for AmqpSettle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpSettle").finish_non_exhaustive()
    }
}

fn settled(
    r: Result<Result<bool, lapin::Error>, tokio::time::error::Elapsed>,
) -> Result<(), BusError> {
    match r {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(BusError::AckLost(
            "channel was recovered or closed; the message will be redelivered".into(),
        )),
        Ok(Err(e)) => Err(BusError::AckLost(e.to_string())),
        Err(_) => Err(BusError::AckLost("acknowledgement timed out".into())),
    }
}

#[async_trait]
impl Settle for AmqpSettle {
    async fn ack(&mut self) -> Result<(), BusError> {
        match self.acker.take() {
            Some(a) => {
                settled(tokio::time::timeout(self.limit, a.ack(BasicAckOptions::default())).await)
            }
            None => Ok(()),
        }
    }

    async fn nack(&mut self, requeue: bool) -> Result<(), BusError> {
        match self.acker.take() {
            Some(a) => settled(
                tokio::time::timeout(
                    self.limit,
                    a.nack(BasicNackOptions {
                        multiple: false,
                        requeue,
                    }),
                )
                .await,
            ),
            None => Ok(()),
        }
    }

    fn abandon(&mut self) {
        let Some(a) = self.acker.take() else {
            return;
        };
        if !a.usable() {
            return; // its channel is gone: the broker redelivers anyway
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = a
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    })
                    .await;
            });
        }
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

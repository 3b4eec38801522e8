//! One live connection and its supervisor: open, prepare (publishing channel, topology),
//! watch, rebuild.

use super::*;

impl Shared {
    /// The current session once its connection is usable, waiting until `deadline`.
    pub(super) async fn ready_session(&self, deadline: Instant) -> Result<Arc<Session>, BusError> {
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
    pub(super) async fn publishing_channel(&self) -> Result<Channel, BusError> {
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

pub(super) async fn open_session(shared: &Shared) -> Result<Arc<Session>, BusError> {
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
    let connect = async {
        match &cfg.tls_ca_pem {
            None => Connection::connect(&cfg.uri, props).await,
            Some(ca) => {
                let tls = lapin::tcp::OwnedTLSConfig {
                    identity: None,
                    cert_chain: Some(ca.clone()),
                };
                Connection::connect_with_config(
                    &cfg.uri,
                    props,
                    tls,
                    lapin::runtime::default_runtime()?,
                )
                .await
            }
        }
    };
    let connection = tokio::time::timeout(cfg.publish_wait, connect)
        .await
        .map_err(|_| BusError::Unavailable("connect timed out".into()))?
        .map_err(|e| BusError::Unavailable(e.to_string()))?;
    // Each broker operation of the preparation is bounded by `op_timeout` on its own.
    match prepare_session(shared, &connection).await {
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
pub(super) async fn prepare_session(
    shared: &Shared,
    connection: &Connection,
) -> Result<Channel, BusError> {
    let op = shared.config.op_timeout;
    let publisher = bounded(op, "opening the publishing channel", async {
        connection
            .create_channel()
            .await
            .map_err(|e| broker_err(&e))
    })
    .await?;
    bounded(op, "confirm mode", async {
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| broker_err(&e))
    })
    .await?;
    let topologies = shared
        .topologies
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default();
    for t in &topologies {
        declare_on(connection, t, op).await?;
    }
    Ok(publisher)
}

/// Declares every exchange, queue and binding of `topology`, each broker operation bounded by
/// `op` (not the whole: a topology of a hundred quorum queues takes seconds on a busy broker).
pub(super) async fn declare_on(
    connection: &Connection,
    topology: &Topology,
    op: Duration,
) -> Result<(), BusError> {
    let ch = bounded(op, "opening a channel to declare the topology", async {
        connection
            .create_channel()
            .await
            .map_err(|e| broker_err(&e))
    })
    .await?;
    for ex in topology.exchanges() {
        let kind = match ex.kind {
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
            ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        };
        let name = short("exchange", &ex.name)?;
        bounded(op, "declaring an exchange", async {
            ch.exchange_declare(
                name,
                kind,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| broker_err(&e))
        })
        .await?;
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
        let name = short("queue", &q.name)?;
        bounded(op, "declaring a queue", async {
            ch.queue_declare(
                name,
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await
            .map_err(|e| broker_err(&e))
        })
        .await?;
    }
    for b in topology.bindings() {
        let (queue, exchange, key) = (
            short("queue", &b.queue)?,
            short("exchange", &b.exchange)?,
            short("routing_key", &b.routing_key)?,
        );
        bounded(op, "binding a queue", async {
            ch.queue_bind(
                queue,
                exchange,
                key,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| broker_err(&e))
        })
        .await?;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ch.close(200, "declared".into())).await;
    Ok(())
}

/// The supervisor: keeps one usable session, rebuilding it when the connection is lost.
pub(super) async fn supervise(shared: Arc<Shared>) {
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
pub(super) async fn monitor(shared: &Shared, session: &Session) {
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

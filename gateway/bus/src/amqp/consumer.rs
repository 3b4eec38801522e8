//! Consumers that re-subscribe after every reconnect, and the settling of their deliveries.

use super::*;

pub(super) struct Subscription {
    pub(super) epoch: u64,
    pub(super) channel: Channel,
    pub(super) stream: lapin::Consumer,
}

pub(super) struct AmqpConsumer {
    pub(super) shared: Arc<Shared>,
    pub(super) queue: String,
    pub(super) prefetch: u16,
    pub(super) current: Option<Subscription>,
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
    pub(super) async fn subscribe(&self, deadline: Instant) -> Result<Subscription, BusError> {
        let session = self.shared.ready_session(deadline).await?;
        bounded(
            self.shared.config.op_timeout,
            "subscribing",
            self.subscribe_on(&session),
        )
        .await
    }

    pub(super) async fn subscribe_on(&self, session: &Session) -> Result<Subscription, BusError> {
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

    pub(super) fn drop_subscription(&mut self) {
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

pub(super) struct AmqpSettle {
    pub(super) acker: Option<lapin::Acker>,
    pub(super) limit: Duration,
}

impl fmt::Debug for AmqpSettle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpSettle").finish_non_exhaustive()
    }
}

pub(super) fn settled(
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

    fn leave(&mut self) {
        // Unsettled: the channel's close (the consumer is dropped at shutdown) returns it.
        self.acker.take();
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

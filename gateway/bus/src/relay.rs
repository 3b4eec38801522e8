//! The outbox relay: publishes the registry's committed events to the bus.
//!
//! A relay takes a lease on outbox partitions ([`OutboxLease`]), claims unsent rows in position
//! order, publishes them with publisher confirms to the events exchange (routing key = event
//! type; CloudEvents attributes as AMQP properties and headers; body = JSON of the
//! `EventEnvelope`) and only then marks them sent.
//!
//! *Architecture invariants:*
//! - a row is never marked sent before the broker confirmed it;
//! - a dossier's events are published in sequence order, also with several relays (gateway
//!   instances) at once: all of a dossier's rows are in one partition, and a partition is held
//!   by one lease at a time;
//! - after a failed publish the lease is released, so the next lease claims the unsent rows again
//!   from the oldest one (at-least-once; consumers deduplicate by event id).
//!
//! Events no adapter is bound for are dropped by the broker (non-mandatory publish).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use knooppunt_ops::Metrics;
use knooppunt_registry::store::{EventEnvelope, OUTBOX_PARTITIONS, OutboxLease, Store, StoreError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::topology::DEFAULT_EVENTS_EXCHANGE;
use crate::{BusError, Message, Publish, Transport, headers};

/// A relay failure.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The registry store failed.
    #[error("outbox store: {0}")]
    Store(#[from] StoreError),
    /// Publishing failed.
    #[error("publishing: {0}")]
    Bus(#[from] BusError),
    /// An event could not be turned into a message (names the event id and the field).
    #[error("event {event_id}: {field}: {reason}")]
    Encode {
        /// The event's id.
        event_id: uuid::Uuid,
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// Settings of a [`Relay`].
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The events exchange (topic).
    pub exchange: String,
    /// At most this many outbox partitions per lease (several relays share the partitions).
    pub max_partitions: u32,
    /// Lanes: leases worked side by side, each on its share of `max_partitions`. One lane waits
    /// for PostgreSQL (claim, mark) and for the broker's confirms in turn; several keep both busy.
    /// A dossier's events stay in one partition, so in one lane, in order.
    pub lanes: u32,
    /// Rows per claim (one confirmed batch).
    pub batch_size: usize,
    /// Pause when there was nothing to publish.
    pub idle_wait: Duration,
    /// Pause after an error before taking a new lease.
    pub error_backoff: Duration,
    /// A lease is given back and taken again after this long, busy or idle, so partitions
    /// rebalance between relays that started at different moments: each takes at most its fair
    /// share of the live leases (`Store::lease_outbox`).
    pub rebalance_every: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            exchange: DEFAULT_EVENTS_EXCHANGE.into(),
            max_partitions: OUTBOX_PARTITIONS,
            lanes: 4,
            batch_size: 500,
            idle_wait: Duration::from_millis(100),
            error_backoff: Duration::from_secs(1),
            rebalance_every: Duration::from_secs(30),
        }
    }
}

/// Turns a stored event into a bus message: id, type, time and correlation id as AMQP
/// properties; source, subject, causation id, sequence and institution as headers; the JSON of
/// the envelope as body.
pub fn event_message(event: &EventEnvelope) -> Result<Message, RelayError> {
    let meta = &event.meta;
    let encode_err = |field: &'static str, reason: String| RelayError::Encode {
        event_id: meta.id,
        field,
        reason,
    };
    let body = serde_json::to_vec(event).map_err(|e| encode_err("data", e.to_string()))?;
    let sequence = i64::try_from(meta.sequence)
        .map_err(|_| encode_err("sequence", "larger than i64".into()))?;
    let mut msg = Message {
        id: meta.id,
        kind: meta.kind.clone(),
        time: meta.time,
        correlation_id: Some(meta.correlation_id),
        headers: Default::default(),
        body: body.into(),
    };
    msg = msg
        .with_header(headers::SOURCE, meta.source.as_str())
        .with_header(headers::SUBJECT, meta.subject.to_string())
        .with_header(headers::CAUSATION_ID, meta.causation_id.to_string())
        .with_header(headers::SEQUENCE, sequence);
    if let Some(brin) = &meta.institution {
        msg = msg.with_header(headers::INSTITUTION, brin.to_string());
    }
    Ok(msg)
}

/// Publishes outbox rows. Run one per gateway instance (or several: they share the partitions).
pub struct Relay {
    store: Arc<dyn Store>,
    transport: Arc<dyn Transport>,
    config: RelayConfig,
    metrics: Option<Arc<Metrics>>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay from `store` to `transport`.
    pub fn new(store: Arc<dyn Store>, transport: Arc<dyn Transport>, config: RelayConfig) -> Self {
        Self {
            store,
            transport,
            config,
            metrics: None,
        }
    }

    /// Counts the rows this relay publishes in `knooppunt_relay_published_total`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Claims one batch on `lease`, publishes it with confirms and marks it sent.
    /// Returns the number of rows published.
    pub async fn pump(&self, lease: &dyn OutboxLease) -> Result<usize, RelayError> {
        let rows = lease.claim(self.config.batch_size).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let msg = event_message(&row.event)?;
            items.push(Publish::optional(
                self.config.exchange.clone(),
                msg.kind.clone(),
                msg,
            ));
        }
        self.transport.publish_batch(&items).await?;
        let positions: Vec<i64> = rows.iter().map(|r| r.position).collect();
        lease.mark_sent(&positions).await?;
        if let Some(m) = &self.metrics {
            m.relay_published(rows.len() as u64);
        }
        tracing::debug!(
            rows = rows.len(),
            first = positions.first().copied().unwrap_or_default(),
            "outbox rows published"
        );
        Ok(rows.len())
    }

    /// Publishes everything currently unsent in the partitions one lease can get, then gives the
    /// lease back. Returns the number of rows published (for tests and one-shot tools).
    pub async fn drain_once(&self) -> Result<usize, RelayError> {
        let lease = self.store.lease_outbox(self.config.max_partitions).await?;
        let mut total = 0;
        let result = loop {
            match self.pump(lease.as_ref()).await {
                Ok(0) => break Ok(total),
                Ok(n) => total += n,
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = lease.release().await {
            tracing::warn!(error = %e, "releasing outbox lease failed");
        }
        result
    }

    /// Runs until `cancel`: [`RelayConfig::lanes`] lanes side by side, each leasing its share of
    /// the partitions, publishing, and releasing on error or to rebalance.
    /// Errors are logged and retried after [`RelayConfig::error_backoff`].
    pub async fn run(&self, cancel: CancellationToken) {
        let lanes = self
            .config
            .lanes
            .clamp(1, self.config.max_partitions.max(1));
        let share = self.config.max_partitions.div_ceil(lanes);
        futures::future::join_all((0..lanes).map(|_| self.lane(share, &cancel))).await;
    }

    async fn lane(&self, max_partitions: u32, cancel: &CancellationToken) {
        while !cancel.is_cancelled() {
            let lease = match self.store.lease_outbox(max_partitions).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "taking an outbox lease failed, retrying");
                    pause(cancel, self.config.error_backoff).await;
                    continue;
                }
            };
            let taken = Instant::now();
            let mut failed = false;
            // A lease without partitions (others hold them all) is kept only briefly: long
            // enough to be counted in the others' fair shares, then asked again.
            let hold = if lease.partitions().is_empty() {
                self.config.idle_wait
            } else {
                self.config.rebalance_every
            };
            while !cancel.is_cancelled() {
                // Given back after `hold` also under load (between batches, so no claimed row
                // is left behind), so the partitions spread over the relays that are running.
                if taken.elapsed() >= hold {
                    break;
                }
                match self.pump(lease.as_ref()).await {
                    Ok(0) => pause(cancel, self.config.idle_wait).await,
                    Ok(_) => {}
                    Err(e) => {
                        // Claimed rows stay unsent; a new lease claims them again in order.
                        tracing::warn!(error = %e, "outbox relay failed, releasing lease");
                        failed = true;
                        break;
                    }
                }
            }
            if let Err(e) = lease.release().await {
                tracing::warn!(error = %e, "releasing outbox lease failed");
            }
            if failed {
                pause(cancel, self.config.error_backoff).await;
            } else if !cancel.is_cancelled() {
                // Let another relay take partitions before we lease again.
                pause(cancel, self.config.idle_wait).await;
            }
        }
    }
}

async fn pause(cancel: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = cancel.cancelled() => {}
    }
}

//! Prometheus metrics of the delivery pipeline (prometheus-client, OpenMetrics text).
//!
//! *Architecture invariant:* labels are bounded — `partner` (a configured adapter name; anything
//! that is not a short lowercase code is reported as `other`), `outcome` (a closed enum) and
//! `tier` (a small number). Never a message id, dossier key, URL or error text.
//!
//! Each typed method is one telemetry occurrence: it counts once and logs once (structured,
//! lowercase, no payloads), in the manner of `style.md` §9.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::OpsError;

/// Every label name a Knooppunt metric may carry.
pub const LABEL_NAMES: [&str; 3] = ["partner", "outcome", "tier"];

/// Highest tier number used as a label; higher tiers are reported as this one.
pub const MAX_TIER: u8 = 9;

/// Labels of the per-partner families.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PartnerLabels {
    /// The partner (adapter) name.
    pub partner: String,
}

/// Labels of the retry counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RetryLabels {
    /// The partner (adapter) name.
    pub partner: String,
    /// The retry tier (0 = immediate retry, 1.. = delayed TTL tiers).
    pub tier: String,
}

/// Labels of the BRON mutation counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MutationLabels {
    /// The partner (adapter) name.
    pub partner: String,
    /// `sent`, `accepted`, `accepted_with_signals`, `rejected` or `failed`.
    pub outcome: String,
}

/// The closed set of BRON mutation outcomes ([`Metrics::bron_mutation`]).
pub const BRON_OUTCOMES: [&str; 5] = [
    "sent",
    "accepted",
    "accepted_with_signals",
    "rejected",
    "failed",
];

/// How an attempt ended, for the latency histogram (label values `delivered`, `rejected`,
/// `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The partner accepted the message.
    Delivered,
    /// The partner refused the content (permanent).
    Rejected,
    /// A transient failure (timeout, 5xx, connection error).
    Failed,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.as_str())
    }
}

/// Labels of the latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LatencyLabels {
    /// The partner (adapter) name.
    pub partner: String,
    /// How the attempt ended.
    pub outcome: Outcome,
}

/// A circuit breaker's state, exported as 0 / 1 / 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow (0).
    Closed,
    /// One trial call is let through (1).
    HalfOpen,
    /// Calls are refused until the cool-down ends (2).
    Open,
}

impl BreakerState {
    /// The gauge value.
    pub fn value(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

/// Bounds a partner name for use as a label: a lowercase code of at most 32 characters
/// (`[a-z0-9_-]`), otherwise `other`.
pub fn partner_label(partner: &str) -> String {
    let ok = !partner.is_empty()
        && partner.len() <= 32
        && partner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        partner.to_owned()
    } else {
        "other".to_owned()
    }
}

fn partner(p: &str) -> PartnerLabels {
    PartnerLabels {
        partner: partner_label(p),
    }
}

fn latency_histogram() -> Histogram {
    // 5 ms … ~10 s
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// The metrics registry of one Knooppunt process. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    published: Family<PartnerLabels, Counter>,
    consumed: Family<PartnerLabels, Counter>,
    delivered: Family<PartnerLabels, Counter>,
    rejected: Family<PartnerLabels, Counter>,
    retried: Family<RetryLabels, Counter>,
    parked: Family<PartnerLabels, Counter>,
    in_flight: Family<PartnerLabels, Gauge>,
    waiting: Family<PartnerLabels, Gauge>,
    breaker: Family<PartnerLabels, Gauge>,
    latency: Family<LatencyLabels, Histogram>,
    reconnects: Counter,
    republished: Counter,
    relay_published: Counter,
    outbox_unsent: Gauge,
    ready: Gauge,
    blocked_since: Family<PartnerLabels, Gauge>,
    certificate_expiry: Gauge,
    queue_messages: Family<PartnerLabels, Gauge>,
    bron_mutations: Family<MutationLabels, Counter>,
    bron_unanswered: Family<PartnerLabels, Gauge>,
    bron_unanswered_oldest: Family<PartnerLabels, Gauge>,
    last_delivered: Family<PartnerLabels, Gauge>,
    last_failure: Family<PartnerLabels, Gauge>,
}

/// What the node knows of one partner right now, read from these metrics (the operators' status
/// view). `None` where the node has no sample.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartnerView {
    /// Messages the partner accepted since the process started.
    pub delivered: u64,
    /// Messages the partner refused since the process started.
    pub rejected: u64,
    /// Messages parked since the process started.
    pub parked: u64,
    /// Delivery attempts running now.
    pub in_flight: u64,
    /// The breaker's state; `None` before the first message.
    pub breaker: Option<BreakerState>,
    /// Messages ready in the work queue at the last sample (every 15 s); `None` when unknown.
    pub queue_messages: Option<u64>,
    /// Unix time of the last accepted delivery since the process started.
    pub last_delivered_at: Option<i64>,
    /// Unix time of the last failed attempt (transient or refused) since the process started.
    pub last_failure_at: Option<i64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every family under the `knooppunt_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("knooppunt");
        let published = Family::<PartnerLabels, Counter>::default();
        let consumed = Family::<PartnerLabels, Counter>::default();
        let delivered = Family::<PartnerLabels, Counter>::default();
        let rejected = Family::<PartnerLabels, Counter>::default();
        let retried = Family::<RetryLabels, Counter>::default();
        let parked = Family::<PartnerLabels, Counter>::default();
        let in_flight = Family::<PartnerLabels, Gauge>::default();
        let waiting = Family::<PartnerLabels, Gauge>::default();
        let breaker = Family::<PartnerLabels, Gauge>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "published",
            "Messages published on the bus (broker confirmed), per partner",
            published.clone(),
        );
        registry.register(
            "consumed",
            "Messages taken from a partner's queue",
            consumed.clone(),
        );
        registry.register(
            "delivered",
            "Messages the partner accepted",
            delivered.clone(),
        );
        registry.register(
            "rejected",
            "Messages the partner refused (permanent, reported back as a business outcome)",
            rejected.clone(),
        );
        registry.register(
            "retried",
            "Transient failures sent to a retry tier (0 = immediate, 1.. = delayed queues)",
            retried.clone(),
        );
        registry.register(
            "parked",
            "Messages parked after the last retry tier; they wait for an operator",
            parked.clone(),
        );
        registry.register(
            "in_flight",
            "Delivery attempts running now",
            in_flight.clone(),
        );
        registry.register(
            "waiting",
            "Messages held behind an earlier message about the same student",
            waiting.clone(),
        );
        registry.register(
            "breaker_state",
            "Circuit breaker per partner: 0 closed, 1 half-open, 2 open",
            breaker.clone(),
        );
        let reconnects = Counter::default();
        let republished = Counter::default();
        registry.register(
            "bus_reconnects",
            "Bus connections rebuilt by the supervisor or recovered after a loss (first connect not counted)",
            reconnects.clone(),
        );
        registry.register(
            "bus_republished",
            "Publishes sent again because their confirm never came (connection lost, confirm timeout)",
            republished.clone(),
        );
        let relay_published = Counter::default();
        let outbox_unsent = Gauge::default();
        let ready = Gauge::default();
        let blocked_since = Family::<PartnerLabels, Gauge>::default();
        let certificate_expiry = Gauge::default();
        let queue_messages = Family::<PartnerLabels, Gauge>::default();
        registry.register(
            "queue_messages",
            "Messages ready in the partner's work queue (knooppunt.<adapter>), sampled by the node every 15 s (absent while the broker does not answer)",
            queue_messages.clone(),
        );
        registry.register(
            "relay_published",
            "Outbox rows the relay published (broker confirmed) and marked sent",
            relay_published.clone(),
        );
        registry.register(
            "outbox_unsent",
            "Outbox rows not yet published, as last counted by the readiness check (shared by every instance on one database)",
            outbox_unsent.clone(),
        );
        registry.register(
            "ready",
            "1 when the last readiness check passed (the registry store answered), else 0",
            ready.clone(),
        );
        registry.register(
            "blocked_since_timestamp_seconds",
            "Unix time since which this partner's longest-blocked student waits behind a retrying or parked message (absent when none)",
            blocked_since.clone(),
        );
        registry.register(
            "tls_certificate_expiry_timestamp_seconds",
            "Unix time at which the API server's TLS certificate (leaf) expires; 0 when the node serves no TLS",
            certificate_expiry.clone(),
        );
        let bron_mutations = Family::<MutationLabels, Counter>::default();
        let bron_unanswered = Family::<PartnerLabels, Gauge>::default();
        let bron_unanswered_oldest = Family::<PartnerLabels, Gauge>::default();
        registry.register(
            "bron_mutations",
            "BRON mutations by state: sent (first attempt), then accepted, accepted_with_signals, rejected (DUO's afkeuring) or failed (never answered: refused or untranslatable)",
            bron_mutations.clone(),
        );
        registry.register(
            "bron_unanswered",
            "BRON mutations sent (or being sent) that DUO has not answered yet, in this process",
            bron_unanswered.clone(),
        );
        registry.register(
            "bron_unanswered_oldest_timestamp_seconds",
            "Unix time of the fact (registry event) of the oldest unanswered BRON mutation: the 7-day delivery deadline runs from it (absent when none)",
            bron_unanswered_oldest.clone(),
        );
        let last_delivered = Family::<PartnerLabels, Gauge>::default();
        let last_failure = Family::<PartnerLabels, Gauge>::default();
        registry.register(
            "last_delivered_timestamp_seconds",
            "Unix time of the partner's last accepted delivery (absent until the first since start)",
            last_delivered.clone(),
        );
        registry.register(
            "last_failure_timestamp_seconds",
            "Unix time of the partner's last failed or refused attempt (absent until the first since start)",
            last_failure.clone(),
        );
        registry.register_with_unit(
            "delivery_latency",
            "Duration of one delivery attempt, by outcome",
            Unit::Seconds,
            latency.clone(),
        );
        Self {
            registry,
            published,
            consumed,
            delivered,
            rejected,
            retried,
            parked,
            in_flight,
            waiting,
            breaker,
            latency,
            reconnects,
            republished,
            relay_published,
            outbox_unsent,
            ready,
            blocked_since,
            certificate_expiry,
            queue_messages,
            bron_mutations,
            bron_unanswered,
            bron_unanswered_oldest,
            last_delivered,
            last_failure,
        }
    }

    /// The OpenMetrics text exposition (served at `/metrics`).
    pub fn encode(&self) -> String {
        self.try_encode().unwrap_or_default()
    }

    /// Like [`Metrics::encode`], with the (practically impossible) formatting error surfaced.
    pub fn try_encode(&self) -> Result<String, OpsError> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|_| OpsError::Encode)?;
        Ok(out)
    }

    /// A message for `partner` was published (broker confirmed).
    pub fn published(&self, partner_name: &str) {
        let labels = partner(partner_name);
        tracing::trace!(partner = %labels.partner, "message published");
        self.published.get_or_create(&labels).inc();
    }

    /// A message was consumed from `partner`'s queue.
    pub fn consumed(&self, partner_name: &str) {
        let labels = partner(partner_name);
        self.consumed.get_or_create(&labels).inc();
    }

    /// The partner accepted a message; `latency` is the duration of the successful attempt.
    pub fn delivered(&self, partner_name: &str, latency: Duration) {
        let labels = partner(partner_name);
        self.delivered.get_or_create(&labels).inc();
        self.last_delivered
            .get_or_create(&labels)
            .set(chrono::Utc::now().timestamp());
        self.observe(labels.partner, Outcome::Delivered, latency);
    }

    /// The partner refused the content (permanent failure).
    pub fn rejected(&self, partner_name: &str, latency: Duration) {
        let labels = partner(partner_name);
        self.rejected.get_or_create(&labels).inc();
        self.failed_now(&labels);
        self.observe(labels.partner, Outcome::Rejected, latency);
    }

    /// An attempt failed transiently (its latency is observed; the retry is counted by
    /// [`Metrics::retried`]).
    pub fn attempt_failed(&self, partner_name: &str, latency: Duration) {
        let labels = partner(partner_name);
        self.failed_now(&labels);
        self.observe(labels.partner, Outcome::Failed, latency);
    }

    fn failed_now(&self, labels: &PartnerLabels) {
        self.last_failure
            .get_or_create(labels)
            .set(chrono::Utc::now().timestamp());
    }

    /// What these metrics know of `partner_name` now (read only: no sample is created).
    pub fn partner_view(&self, partner_name: &str) -> PartnerView {
        let labels = partner(partner_name);
        let count = |f: &Family<PartnerLabels, Counter>| f.get(&labels).map_or(0, |c| c.get());
        let gauge = |f: &Family<PartnerLabels, Gauge>| f.get(&labels).map(|g| g.get());
        let breaker = gauge(&self.breaker).map(|v| match v {
            0 => BreakerState::Closed,
            1 => BreakerState::HalfOpen,
            _ => BreakerState::Open,
        });
        PartnerView {
            delivered: count(&self.delivered),
            rejected: count(&self.rejected),
            parked: count(&self.parked),
            in_flight: gauge(&self.in_flight).map_or(0, |v| u64::try_from(v).unwrap_or(0)),
            breaker,
            queue_messages: gauge(&self.queue_messages).and_then(|v| u64::try_from(v).ok()),
            last_delivered_at: gauge(&self.last_delivered),
            last_failure_at: gauge(&self.last_failure),
        }
    }

    fn observe(&self, partner: String, outcome: Outcome, latency: Duration) {
        self.latency
            .get_or_create(&LatencyLabels { partner, outcome })
            .observe(latency.as_secs_f64());
    }

    /// A transient failure went to retry `tier` (0 = immediate; higher tiers are capped at
    /// [`MAX_TIER`]).
    pub fn retried(&self, partner_name: &str, tier: u8) {
        let tier = tier.min(MAX_TIER);
        let partner = partner_label(partner_name);
        self.retried
            .get_or_create(&RetryLabels {
                partner,
                tier: tier.to_string(),
            })
            .inc();
    }

    /// A message was parked for an operator.
    pub fn parked(&self, partner_name: &str) {
        let labels = partner(partner_name);
        self.parked.get_or_create(&labels).inc();
    }

    /// An attempt to `partner` starts; the gauge goes down again when the guard is dropped.
    pub fn in_flight(&self, partner_name: &str) -> InFlight {
        let gauge = self.in_flight.get_or_create_owned(&partner(partner_name));
        gauge.inc();
        InFlight { gauge }
    }

    /// Sets how many messages for `partner` wait behind an earlier message.
    pub fn set_waiting(&self, partner_name: &str, count: u64) {
        let labels = partner(partner_name);
        self.waiting
            .get_or_create(&labels)
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The bus connection was lost and is usable again (rebuilt by the supervisor or recovered
    /// by the client library).
    /// Counts only: the transport logs the reconnect itself, with its epoch.
    pub fn bus_reconnected(&self) {
        self.reconnects.inc();
    }

    /// `count` publishes were not confirmed and are sent again.
    pub fn bus_republished(&self, count: u64) {
        // Counts only: the transport logs the re-send itself, with the error and the round.
        if count > 0 {
            self.republished.inc_by(count);
        }
    }

    /// Reconnects counted so far (see [`Metrics::bus_reconnected`]).
    pub fn bus_reconnects(&self) -> u64 {
        self.reconnects.get()
    }

    /// Publishes sent again so far (see [`Metrics::bus_republished`]).
    pub fn bus_republished_total(&self) -> u64 {
        self.republished.get()
    }

    /// The relay published `rows` outbox rows (broker confirmed, marked sent).
    pub fn relay_published(&self, rows: u64) {
        if rows > 0 {
            self.relay_published.inc_by(rows);
        }
    }

    /// Records the number of unsent outbox rows (counted by the readiness check).
    pub fn set_outbox_unsent(&self, rows: u64) {
        self.outbox_unsent
            .set(i64::try_from(rows).unwrap_or(i64::MAX));
    }

    /// Records the outcome of a readiness check (logs when it changes).
    pub fn set_ready(&self, ready: bool) {
        let old = self.ready.set(i64::from(ready));
        if old != i64::from(ready) {
            if ready {
                tracing::info!("node ready");
            } else {
                tracing::warn!("node not ready");
            }
        }
    }

    /// Whether the last readiness check passed.
    pub fn is_ready(&self) -> bool {
        self.ready.get() == 1
    }

    /// Records since when `partner`'s longest-blocked student waits (`None`: no student is
    /// blocked, and the sample disappears).
    pub fn set_blocked_since(
        &self,
        partner_name: &str,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let labels = partner(partner_name);
        match since {
            Some(t) => {
                self.blocked_since.get_or_create(&labels).set(t.timestamp());
            }
            None => {
                self.blocked_since.remove(&labels);
            }
        }
    }

    /// Records how many messages are ready in `partner`'s work queue (`None`: unknown, the
    /// broker did not answer, and the sample disappears rather than going stale).
    pub fn set_queue_messages(&self, partner_name: &str, ready: Option<u64>) {
        let labels = partner(partner_name);
        match ready {
            Some(n) => {
                self.queue_messages
                    .get_or_create(&labels)
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            None => {
                self.queue_messages.remove(&labels);
            }
        }
    }

    /// Counts one BRON mutation reaching `outcome` (one of [`BRON_OUTCOMES`]; anything else is
    /// counted as `failed`).
    pub fn bron_mutation(&self, partner_name: &str, outcome: &str) {
        let outcome = if BRON_OUTCOMES.contains(&outcome) {
            outcome
        } else {
            "failed"
        };
        self.bron_mutations
            .get_or_create(&MutationLabels {
                partner: partner_label(partner_name),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records how many BRON mutations of `partner` are unanswered and the time of the oldest
    /// one's fact (`None`: none, and that sample disappears).
    pub fn set_bron_unanswered(
        &self,
        partner_name: &str,
        count: usize,
        oldest: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let labels = partner(partner_name);
        self.bron_unanswered
            .get_or_create(&labels)
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        match oldest {
            Some(t) => {
                self.bron_unanswered_oldest
                    .get_or_create(&labels)
                    .set(t.timestamp());
            }
            None => {
                self.bron_unanswered_oldest.remove(&labels);
            }
        }
    }

    /// Records when the API server's TLS certificate expires (Unix seconds).
    pub fn set_certificate_expiry(&self, not_after_unix: i64) {
        self.certificate_expiry.set(not_after_unix);
    }

    /// Records a breaker state change of `partner` (logs when it opens or closes).
    pub fn breaker(&self, partner_name: &str, state: BreakerState) {
        let labels = partner(partner_name);
        let old = self.breaker.get_or_create(&labels).set(state.value());
        if old != state.value() {
            match state {
                BreakerState::Open => {
                    tracing::warn!(partner = %labels.partner, "circuit breaker opened")
                }
                BreakerState::HalfOpen => {
                    tracing::info!(partner = %labels.partner, "circuit breaker half-open")
                }
                BreakerState::Closed => {
                    tracing::info!(partner = %labels.partner, "circuit breaker closed")
                }
            }
        }
    }
}

/// Keeps the in-flight gauge of one partner raised while it lives.
#[derive(Debug)]
pub struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

//! The delivery runtime's telemetry as typed occurrences (as vector's `internal_events`): each
//! delivery, rejection, retry or parking is one value whose `emit` logs once — with the
//! partner and the message id, never a payload or personal data — and counts once in
//! [`Metrics`], whose labels are bounded (the partner, the tier).

use std::time::Duration;

use knooppunt_adapters::{PermanentClass, TransientClass};
use knooppunt_ops::Metrics;
use uuid::Uuid;

/// A message was taken from the partner's queue.
#[derive(Debug)]
pub struct Consumed<'a> {
    /// The adapter.
    pub partner: &'a str,
}

impl Consumed<'_> {
    /// Counts it (`knooppunt_consumed_total`); logged at trace level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.consumed(self.partner);
        tracing::trace!(partner = self.partner, "message consumed");
    }
}

/// A message this consumer had handled before: acknowledged, nothing else.
#[derive(Debug)]
pub struct DuplicateIgnored<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
}

impl DuplicateIgnored<'_> {
    /// Logs it (debug); the audit trail records it too.
    pub fn emit(self) {
        tracing::debug!(partner = self.partner, message_id = %self.message_id, "duplicate ignored");
    }
}

/// A body that is not an event. It is parked next ([`Parked`] counts it); this adds where the
/// JSON broke, never the body.
#[derive(Debug)]
pub struct Undecodable<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
    /// Line of the JSON error.
    pub line: usize,
    /// Column of the JSON error.
    pub column: usize,
}

impl Undecodable<'_> {
    /// Logs it (debug).
    pub fn emit(self) {
        tracing::debug!(partner = self.partner, message_id = %self.message_id, line = self.line, column = self.column, "undecodable body");
    }
}

/// One attempt failed in a way that may pass later.
#[derive(Debug)]
pub struct AttemptFailed<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
    /// What kind of failure.
    pub class: TransientClass,
    /// How long the attempt took.
    pub took: Duration,
}

impl AttemptFailed<'_> {
    /// Counts it (`knooppunt_attempt_failures_total`, latency); logged at debug level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.attempt_failed(self.partner, self.took);
        tracing::debug!(partner = self.partner, message_id = %self.message_id, class = %self.class, latency_ms = millis(self.took), "delivery attempt failed");
    }
}

/// An immediate retry, before any tier.
#[derive(Debug)]
pub struct RetriedNow<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
    /// The attempt that failed.
    pub attempt: u32,
    /// The wait before the next one.
    pub wait: Duration,
}

impl RetriedNow<'_> {
    /// Counts it as a retry in tier 0; logged at debug level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.retried(self.partner, 0);
        tracing::debug!(partner = self.partner, message_id = %self.message_id, attempt = self.attempt, wait_ms = millis(self.wait), "retrying now");
    }
}

/// The message went to a retry tier.
#[derive(Debug)]
pub struct Retried<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
    /// The tier (1 = the first).
    pub tier: u8,
    /// The attempts so far.
    pub attempt: u32,
    /// The tier's delay.
    pub delay: Duration,
}

impl Retried<'_> {
    /// Counts it per tier; logged at info level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.retried(self.partner, self.tier);
        tracing::info!(partner = self.partner, message_id = %self.message_id, tier = self.tier, attempt = self.attempt, delay_ms = millis(self.delay), "delivery failed, retrying later");
    }
}

/// The partner accepted the message (or, in shadow mode, it was translated).
#[derive(Debug)]
pub struct Delivered<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
    /// The attempt that passed.
    pub attempt: u32,
    /// How long it took.
    pub took: Duration,
}

impl Delivered<'_> {
    /// Counts it with its latency; logged at debug level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.delivered(self.partner, self.took);
        tracing::debug!(partner = self.partner, message_id = %self.message_id, attempt = self.attempt, latency_ms = millis(self.took), "message delivered");
    }
}

/// The partner refused the content for good (a business outcome, not retried).
#[derive(Debug)]
pub struct Rejected<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
    /// What kind of refusal.
    pub class: PermanentClass,
    /// How long the attempt took.
    pub took: Duration,
}

impl Rejected<'_> {
    /// Counts it with its latency; logged at info level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.rejected(self.partner, self.took);
        tracing::info!(partner = self.partner, message_id = %self.message_id, class = %self.class, latency_ms = millis(self.took), "partner rejected the message");
    }
}

/// The message was parked: an operator must replay or discard it.
#[derive(Debug)]
pub struct Parked<'a> {
    /// The adapter.
    pub partner: &'a str,
    /// The message.
    pub message_id: Uuid,
    /// Attempts made.
    pub attempts: u32,
    /// Why (a code such as `retries_exhausted`).
    pub reason: &'a str,
}

impl Parked<'_> {
    /// Counts it; logged at warn level.
    pub fn emit(self, metrics: &Metrics) {
        metrics.parked(self.partner);
        tracing::warn!(partner = self.partner, message_id = %self.message_id, attempts = self.attempts, reason = self.reason, "message parked, operator action needed");
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

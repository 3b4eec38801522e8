//! Per-partner delivery configuration: retries, tiers, circuit breaker, rate limit, maintenance
//! windows and shadow mode. Every field has a default, so `{}` is a valid configuration.

use std::time::Duration;

use chrono::{DateTime, Utc};
use knooppunt_ops::controls::{ConfiguredControls, Rate};
use knooppunt_registry::ids::Brin;
use serde::{Deserialize, Serialize};

use super::DeliveryError;

/// How the delivery runtime treats one partner (adapter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Messages handled concurrently (the consumer's prefetch). 1–1000.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// Immediate retries of a transient failure, before a delay tier is used.
    #[serde(default)]
    pub immediate: ImmediateRetry,
    /// Delays of the retry tiers in milliseconds, in order. After the last tier a message is
    /// parked. Each delay is a TTL queue on the bus (no sleeping in the consumer).
    #[serde(default = "default_tiers_ms")]
    pub tiers_ms: Vec<u64>,
    /// The circuit breaker.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// At most this many attempts per second towards the partner; `None` for no limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Periods in which nothing is sent (the partner's maintenance).
    #[serde(default)]
    pub maintenance: Vec<MaintenanceWindow>,
    /// After a maintenance window, the backlog is drained at most this fast (attempts per
    /// second) until the work queue is empty; `None` drains at the normal rate.
    #[serde(default)]
    pub drain_per_second: Option<f64>,
    /// Shadow mode: translate and store, send nothing.
    #[serde(default)]
    pub shadow: bool,
    /// Shadow mode for the messages about these institutions only (BRIN; a vestiging counts as
    /// its instelling): translated and stored, not sent. Operators change it at runtime.
    #[serde(default)]
    pub shadow_institutions: Vec<Brin>,
}

/// Immediate retries with exponential backoff and jitter (backon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImmediateRetry {
    /// Retries after the first attempt (0 = go to the first tier straight away).
    #[serde(default = "default_immediate_retries")]
    pub retries: u32,
    /// First backoff delay in milliseconds.
    #[serde(default = "default_immediate_base_ms")]
    pub base_ms: u64,
    /// Largest backoff delay in milliseconds; a `Retry-After` longer than this skips the
    /// remaining immediate retries and goes to a tier.
    #[serde(default = "default_immediate_max_ms")]
    pub max_ms: u64,
    /// Adds random jitter to each delay.
    #[serde(default = "default_true")]
    pub jitter: bool,
}

/// When the breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the breaker. At least 1.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// How long the breaker stays open before one probe is let through (milliseconds).
    #[serde(default = "default_cool_down_ms")]
    pub cool_down_ms: u64,
}

/// A token bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained attempts per second (> 0).
    pub per_second: f64,
    /// How many attempts may go at once after a quiet period (≥ 1).
    #[serde(default = "default_burst")]
    pub burst: u32,
}

/// A maintenance window: `[start, end)`, in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// First moment of the window.
    pub start: DateTime<Utc>,
    /// First moment after the window.
    pub end: DateTime<Utc>,
}

fn default_prefetch() -> u16 {
    16
}
fn default_tiers_ms() -> Vec<u64> {
    vec![5_000, 30_000, 300_000, 1_800_000, 10_800_000]
}
fn default_immediate_retries() -> u32 {
    2
}
fn default_immediate_base_ms() -> u64 {
    100
}
fn default_immediate_max_ms() -> u64 {
    2_000
}
fn default_true() -> bool {
    true
}
fn default_failure_threshold() -> u32 {
    5
}
fn default_cool_down_ms() -> u64 {
    30_000
}
fn default_burst() -> u32 {
    1
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            prefetch: default_prefetch(),
            immediate: ImmediateRetry::default(),
            tiers_ms: default_tiers_ms(),
            breaker: BreakerConfig::default(),
            rate_limit: None,
            maintenance: Vec::new(),
            drain_per_second: None,
            shadow: false,
            shadow_institutions: Vec::new(),
        }
    }
}

impl Default for ImmediateRetry {
    fn default() -> Self {
        Self {
            retries: default_immediate_retries(),
            base_ms: default_immediate_base_ms(),
            max_ms: default_immediate_max_ms(),
            jitter: true,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: default_failure_threshold(),
            cool_down_ms: default_cool_down_ms(),
        }
    }
}

fn invalid(field: &'static str, reason: &str) -> DeliveryError {
    DeliveryError::Config {
        field,
        reason: reason.to_owned(),
    }
}

impl DeliveryConfig {
    /// Checks every field; the error names the field and the reason.
    pub fn validate(&self) -> Result<(), DeliveryError> {
        if self.prefetch == 0 || self.prefetch > 1000 {
            return Err(invalid("prefetch", "must be 1–1000"));
        }
        if self.immediate.base_ms == 0 || self.immediate.max_ms < self.immediate.base_ms {
            return Err(invalid(
                "immediate",
                "base_ms must be > 0 and max_ms ≥ base_ms",
            ));
        }
        if self.immediate.retries > 20 {
            return Err(invalid("immediate.retries", "must be at most 20"));
        }
        if self
            .tiers_ms
            .iter()
            .any(|&t| t == 0 || t > u64::from(u32::MAX))
        {
            return Err(invalid("tiers_ms", "each delay must be 1 ms – 49 days"));
        }
        let mut sorted = self.tiers_ms.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.tiers_ms.len() {
            return Err(invalid("tiers_ms", "a delay appears twice"));
        }
        if self.breaker.failure_threshold == 0 {
            return Err(invalid("breaker.failure_threshold", "must be at least 1"));
        }
        if let Some(r) = &self.rate_limit
            && (!r.per_second.is_finite() || r.per_second <= 0.0 || r.burst == 0)
        {
            return Err(invalid(
                "rate_limit",
                "per_second must be a positive number and burst ≥ 1",
            ));
        }
        if let Some(d) = self.drain_per_second
            && (!d.is_finite() || d <= 0.0)
        {
            return Err(invalid("drain_per_second", "must be a positive number"));
        }
        if self.maintenance.iter().any(|w| w.end <= w.start) {
            return Err(invalid("maintenance", "a window must end after it starts"));
        }
        Ok(())
    }

    /// The controls operators may change at runtime, as configured (their start state).
    pub fn configured_controls(&self) -> ConfiguredControls {
        ConfiguredControls {
            windows: self.maintenance.iter().map(|w| (w.start, w.end)).collect(),
            shadow: self.shadow,
            shadow_institutions: self
                .shadow_institutions
                .iter()
                .map(Brin::instelling)
                .collect(),
            rate_limit: self.rate_limit.as_ref().map(|r| Rate {
                per_second: r.per_second,
                burst: r.burst,
            }),
        }
    }

    /// The tier delays.
    pub fn tiers(&self) -> Vec<Duration> {
        self.tiers_ms
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_gives_the_defaults() {
        let c: DeliveryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, DeliveryConfig::default());
        assert!(c.validate().is_ok());
        assert_eq!(c.tiers().len(), 5);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused_by_name() {
        let err = serde_json::from_str::<DeliveryConfig>(r#"{"prefetsh": 3}"#).unwrap_err();
        assert!(err.to_string().contains("prefetsh"));
        let c: DeliveryConfig =
            serde_json::from_str(r#"{"rate_limit": {"per_second": 0}}"#).unwrap();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("rate_limit"), "{err}");
        let c: DeliveryConfig = serde_json::from_str(r#"{"tiers_ms": [5, 5]}"#).unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("tiers_ms"));
        let c: DeliveryConfig = serde_json::from_str(
            r#"{"maintenance": [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}]}"#,
        )
        .unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("maintenance")
        );
    }
}

//! The gate every attempt passes before it may call the partner: maintenance window, circuit
//! breaker, rate limit and (after a window) the drain rate. Waiting here is how messages "wait"
//! while a partner is down or in maintenance: no retries are burnt, no tier is used up.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use knooppunt_ops::{BreakerState, Metrics};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::breaker::{CircuitBreaker, Permit};
use super::config::{DeliveryConfig, MaintenanceWindow};
use super::limiter::TokenBucket;
use super::maintenance;

/// Longest single wait before the gate looks again (a configuration change or a lost wake-up
/// never stalls a partner for long).
const MAX_WAIT: Duration = Duration::from_secs(1);

/// What the partner's answer said about the partner's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// It answered (accepted or rejected the content).
    Up,
    /// Transient failure.
    Failing,
    /// Nothing learnt (the event was skipped).
    Unknown,
}

#[derive(Debug)]
struct State {
    breaker: CircuitBreaker,
    limiter: Option<TokenBucket>,
    drain: Option<TokenBucket>,
    draining: bool,
    opened: u64,
}

/// One partner's gate. Shared by all of the partner's in-flight messages.
#[derive(Debug)]
pub struct Gate {
    partner: String,
    windows: Vec<MaintenanceWindow>,
    drain_per_second: Option<f64>,
    state: Mutex<State>,
    changed: Notify,
    metrics: Arc<Metrics>,
}

impl Gate {
    /// A gate from a validated configuration.
    pub fn new(partner: &str, config: &DeliveryConfig, metrics: Arc<Metrics>) -> Self {
        let now = Instant::now();
        metrics.breaker(partner, BreakerState::Closed);
        Self {
            partner: partner.to_owned(),
            windows: config.maintenance.clone(),
            drain_per_second: config.drain_per_second,
            state: Mutex::new(State {
                breaker: CircuitBreaker::new(
                    config.breaker.failure_threshold,
                    Duration::from_millis(config.breaker.cool_down_ms),
                ),
                limiter: config
                    .rate_limit
                    .as_ref()
                    .map(|r| TokenBucket::new(r.per_second, r.burst, now)),
                drain: None,
                draining: false,
                opened: 0,
            }),
            changed: Notify::new(),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        self.lock().breaker.state()
    }

    /// How many times the breaker opened (including re-opening after a failed probe).
    pub fn opened_count(&self) -> u64 {
        self.lock().opened
    }

    /// Whether a post-maintenance backlog is being drained at the drain rate.
    pub fn draining(&self) -> bool {
        self.lock().draining
    }

    /// The backlog is gone: back to the normal rate.
    pub fn stop_draining(&self) {
        let mut s = self.lock();
        s.draining = false;
        s.drain = None;
    }

    /// Waits until one attempt may go. `None` when cancelled while waiting.
    pub async fn admit(&self, cancel: &CancellationToken) -> Option<()> {
        // Maintenance: hold everything while a window is active.
        let mut waited_for_window = false;
        loop {
            let now = Utc::now();
            let Some(end) = maintenance::active_until(&self.windows, now) else {
                break;
            };
            waited_for_window = true;
            let wait = (end - now).to_std().unwrap_or(Duration::ZERO).min(MAX_WAIT);
            if !sleep_or_cancel(wait, cancel).await {
                return None;
            }
        }
        if waited_for_window && let Some(rate) = self.drain_per_second {
            let mut s = self.lock();
            if !s.draining {
                s.draining = true;
                s.drain = Some(TokenBucket::new(rate, 1, Instant::now()));
            }
        }
        // Breaker: closed, or the one half-open probe.
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let permit = {
                let mut s = self.lock();
                let p = s.breaker.permit(Instant::now());
                self.metrics.breaker(&self.partner, s.breaker.state());
                p
            };
            match permit {
                Permit::Go | Permit::Probe => break,
                Permit::Wait(d) => {
                    tokio::select! {
                        _ = cancel.cancelled() => return None,
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(d.min(MAX_WAIT)) => {}
                    }
                }
            }
        }
        // Rate limit, then the drain rate.
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                let State { limiter, drain, .. } = &mut *s;
                // The drain rate first, so a refusal there costs no normal token.
                match drain.as_mut().map(|d| d.try_take(now)) {
                    Some(Err(w)) => Some(w),
                    _ => match limiter.as_mut().map(|l| l.try_take(now)) {
                        Some(Err(w)) => Some(w),
                        _ => None,
                    },
                }
            };
            match wait {
                None => return Some(()),
                Some(w) => {
                    if !sleep_or_cancel(w.min(MAX_WAIT), cancel).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Reports what an admitted attempt learnt about the partner.
    pub fn report(&self, health: Health) {
        let state = {
            let mut s = self.lock();
            let before = s.breaker.state();
            match health {
                Health::Up => s.breaker.on_success(),
                Health::Failing => s.breaker.on_failure(Instant::now()),
                Health::Unknown => s.breaker.on_neutral(),
            }
            let after = s.breaker.state();
            if after == BreakerState::Open && before != BreakerState::Open {
                s.opened += 1;
            }
            after
        };
        self.metrics.breaker(&self.partner, state);
        self.changed.notify_waiters();
    }
}

async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::config::{BreakerConfig, RateLimit};

    #[tokio::test]
    async fn open_breaker_holds_attempts_until_the_probe_succeeds() {
        let config = DeliveryConfig {
            breaker: BreakerConfig {
                failure_threshold: 1,
                cool_down_ms: 50,
            },
            ..DeliveryConfig::default()
        };
        let gate = Arc::new(Gate::new("sim", &config, Arc::new(Metrics::new())));
        let cancel = CancellationToken::new();
        gate.admit(&cancel).await.unwrap();
        gate.report(Health::Failing);
        assert_eq!(gate.breaker_state(), BreakerState::Open);
        assert_eq!(gate.opened_count(), 1);
        let started = Instant::now();
        gate.admit(&cancel).await.unwrap(); // the probe, after the cool-down
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(gate.breaker_state(), BreakerState::HalfOpen);
        let g = gate.clone();
        let c = cancel.clone();
        let second = tokio::spawn(async move { g.admit(&c).await });
        tokio::task::yield_now().await;
        assert!(!second.is_finished(), "only one probe while half-open");
        gate.report(Health::Up);
        assert_eq!(second.await.unwrap(), Some(()));
        assert_eq!(gate.breaker_state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn rate_limit_spaces_attempts_and_cancel_stops_waiting() {
        let config = DeliveryConfig {
            rate_limit: Some(RateLimit {
                per_second: 100.0,
                burst: 1,
            }),
            ..DeliveryConfig::default()
        };
        let gate = Gate::new("sim", &config, Arc::new(Metrics::new()));
        let cancel = CancellationToken::new();
        let started = Instant::now();
        for _ in 0..5 {
            gate.admit(&cancel).await.unwrap();
        }
        // Four waits of ~10 ms each after the first token (a lower bound, not a speed test).
        assert!(started.elapsed() >= Duration::from_millis(35));
        cancel.cancel();
        assert_eq!(gate.admit(&cancel).await, None);
    }
}

//! A per-partner circuit breaker: opens after N consecutive transient failures, lets one probe
//! through after a cool-down (half-open), closes again when the probe succeeds.
//!
//! Pure state machine: the caller passes the current time, so tests need no clock.

use std::time::Duration;

use knooppunt_ops::BreakerState;
use tokio::time::Instant;

/// What a caller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Go ahead (breaker closed).
    Go,
    /// Go ahead as the one half-open probe; report its result.
    Probe,
    /// Do not call the partner; ask again after this long (or when woken).
    Wait(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// The breaker of one partner.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    inner: Inner,
}

impl CircuitBreaker {
    /// A closed breaker opening after `threshold` (≥ 1) consecutive failures.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            inner: Inner::Closed { failures: 0 },
        }
    }

    /// Asks to call the partner at `now`.
    pub fn permit(&mut self, now: Instant) -> Permit {
        match self.inner {
            Inner::Closed { .. } => Permit::Go,
            Inner::Open { until } if now >= until => {
                self.inner = Inner::HalfOpen { probing: true };
                Permit::Probe
            }
            Inner::Open { until } => Permit::Wait(until - now),
            Inner::HalfOpen { probing: false } => {
                self.inner = Inner::HalfOpen { probing: true };
                Permit::Probe
            }
            // Woken by the probe's result; the fallback poll keeps a lost wake-up harmless.
            Inner::HalfOpen { probing: true } => {
                Permit::Wait(self.cool_down.max(Duration::from_millis(1)))
            }
        }
    }

    /// The partner answered (delivered or rejected the content): it is up.
    pub fn on_success(&mut self) {
        self.inner = Inner::Closed { failures: 0 };
    }

    /// A transient failure at `now`.
    pub fn on_failure(&mut self, now: Instant) {
        self.inner = match self.inner {
            Inner::Closed { failures } if failures + 1 < self.threshold => Inner::Closed {
                failures: failures + 1,
            },
            Inner::Closed { .. } | Inner::HalfOpen { .. } => Inner::Open {
                until: now + self.cool_down,
            },
            open @ Inner::Open { .. } => open,
        };
    }

    /// A permitted call ended without telling anything about the partner (skipped event): a
    /// pending probe slot is given back.
    pub fn on_neutral(&mut self) {
        if let Inner::HalfOpen { probing: true } = self.inner {
            self.inner = Inner::HalfOpen { probing: false };
        }
    }

    /// The state for metrics and operators.
    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_after_cool_down_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert_eq!(b.permit(t0), Permit::Go);
            b.on_failure(t0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.on_failure(t0);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.permit(t0 + Duration::from_secs(4)),
            Permit::Wait(Duration::from_secs(6))
        );
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.permit(later), Permit::Probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(
            matches!(b.permit(later), Permit::Wait(_)),
            "one probe at a time"
        );
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.permit(later), Permit::Go);
    }

    #[test]
    fn failed_probe_reopens_and_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(2, Duration::from_secs(1));
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "count restarted after a success"
        );
        b.on_failure(t0);
        assert_eq!(b.state(), BreakerState::Open);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.permit(t1), Permit::Probe);
        b.on_failure(t1);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.permit(t1), Permit::Wait(Duration::from_secs(1)));
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(b.permit(t2), Permit::Probe);
        b.on_neutral();
        assert_eq!(
            b.permit(t2),
            Permit::Probe,
            "a neutral result gives the probe back"
        );
    }
}

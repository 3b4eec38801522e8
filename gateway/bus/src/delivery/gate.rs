//! The gate every attempt passes before it may call the partner: maintenance window, circuit
//! breaker, rate limit and (after a window) the drain rate. Waiting here is how messages "wait"
//! while a partner is down or in maintenance: no retries are burnt, no tier is used up.
//!
//! The runtime controls (maintenance windows, shadow mode, the rate limit) start as configured
//! and change while running ([`Gate::apply`]: operator overrides on top of the configuration).
//! A change wakes every waiting attempt, and the maintenance check is repeated under the same
//! lock as the change just before an attempt is let through: once `apply` returns with an
//! active window, no attempt that has not yet started goes out.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;
use knooppunt_ops::controls::{ConfiguredControls, EffectiveControls, PartnerOverrides};
use knooppunt_ops::{BreakerState, Metrics};
use knooppunt_registry::ids::Brin;
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
    /// The controls in force (configuration plus operator overrides).
    controls: EffectiveControls,
    /// `controls.maintenance` as the window checks want them.
    windows: Vec<MaintenanceWindow>,
}

/// One partner's gate. Shared by all of the partner's in-flight messages.
#[derive(Debug)]
pub struct Gate {
    partner: String,
    configured: ConfiguredControls,
    drain_per_second: Option<f64>,
    state: Mutex<State>,
    changed: Notify,
    metrics: Arc<Metrics>,
}

fn windows_of(controls: &EffectiveControls) -> Vec<MaintenanceWindow> {
    controls
        .maintenance
        .iter()
        .map(|w| MaintenanceWindow {
            start: w.start,
            end: w.end,
        })
        .collect()
}

fn bucket(controls: &EffectiveControls, now: Instant) -> Option<TokenBucket> {
    controls
        .rate_limit
        .map(|r| TokenBucket::new(r.per_second, r.burst, now))
}

impl Gate {
    /// A gate from a validated configuration.
    pub fn new(partner: &str, config: &DeliveryConfig, metrics: Arc<Metrics>) -> Self {
        let now = Instant::now();
        metrics.breaker(partner, BreakerState::Closed);
        let configured = config.configured_controls();
        let controls = configured.with(&PartnerOverrides::default());
        Self {
            partner: partner.to_owned(),
            drain_per_second: config.drain_per_second,
            state: Mutex::new(State {
                breaker: CircuitBreaker::new(
                    config.breaker.failure_threshold,
                    Duration::from_millis(config.breaker.cool_down_ms),
                ),
                limiter: bucket(&controls, now),
                drain: None,
                draining: false,
                opened: 0,
                windows: windows_of(&controls),
                controls,
            }),
            configured,
            changed: Notify::new(),
            metrics,
        }
    }

    /// The controls as configured (the start state).
    pub fn configured(&self) -> &ConfiguredControls {
        &self.configured
    }

    /// The controls in force now.
    pub fn controls(&self) -> EffectiveControls {
        self.lock().controls.clone()
    }

    /// Puts `overrides` on top of the configuration. Returns whether anything changed; an
    /// unchanged rate limit keeps its bucket. Wakes every waiting attempt.
    pub fn apply(&self, overrides: &PartnerOverrides) -> bool {
        let controls = self.configured.with(overrides);
        {
            let mut s = self.lock();
            if s.controls == controls {
                return false;
            }
            if s.controls.rate_limit != controls.rate_limit {
                s.limiter = bucket(&controls, Instant::now());
            }
            s.windows = windows_of(&controls);
            s.controls = controls;
        }
        tracing::info!(partner = %self.partner, "runtime controls applied");
        self.changed.notify_waiters();
        true
    }

    /// Whether a message about `institution` goes in shadow mode (translated and stored, not
    /// sent): the partner is in shadow mode, or that institution is.
    pub fn shadows(&self, institution: Option<&Brin>) -> bool {
        self.lock().controls.shadows(institution)
    }

    /// The end of the maintenance window active now, if one is.
    pub fn in_maintenance(&self) -> Option<chrono::DateTime<Utc>> {
        maintenance::active_until(&self.lock().windows, Utc::now())
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
        loop {
            match self.try_admit(cancel).await {
                Step::Cancelled => return None,
                Step::Go => return Some(()),
                // A window began while this attempt waited for the breaker or a token.
                Step::Again => {}
            }
        }
    }

    async fn try_admit(&self, cancel: &CancellationToken) -> Step {
        // Maintenance: hold everything while a window is active (woken by a change).
        let mut waited_for_window = false;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Utc::now();
            let Some(end) = maintenance::active_until(&self.lock().windows, now) else {
                break;
            };
            waited_for_window = true;
            let wait = (end - now).to_std().unwrap_or(Duration::ZERO).min(MAX_WAIT);
            tokio::select! {
                _ = cancel.cancelled() => return Step::Cancelled,
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
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
                        _ = cancel.cancelled() => return Step::Cancelled,
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(d.min(MAX_WAIT)) => {}
                    }
                }
            }
        }
        // Rate limit, then the drain rate; and no window began meanwhile (same lock as
        // `apply`, so a window set before this point holds this attempt).
        loop {
            let wait = {
                let mut s = self.lock();
                if maintenance::active_until(&s.windows, Utc::now()).is_some() {
                    // Give back a half-open probe slot taken above.
                    s.breaker.on_neutral();
                    drop(s);
                    self.changed.notify_waiters();
                    return Step::Again;
                }
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
                None => return Step::Go,
                Some(w) => {
                    if !sleep_or_cancel(w.min(MAX_WAIT), cancel).await {
                        return Step::Cancelled;
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

/// How one pass through the gate ended.
enum Step {
    Go,
    Cancelled,
    Again,
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

    fn window(minutes: i64) -> PartnerOverrides {
        let now = Utc::now();
        PartnerOverrides {
            windows: vec![knooppunt_ops::controls::OperatorWindow {
                id: uuid::Uuid::now_v7(),
                start: now - chrono::TimeDelta::seconds(1),
                end: now + chrono::TimeDelta::minutes(minutes),
                added_by: "otto".into(),
                added_at: now,
            }],
            ..PartnerOverrides::default()
        }
    }

    async fn finishes(task: tokio::task::JoinHandle<Option<()>>) -> Option<()> {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the attempt is let through")
            .unwrap()
    }

    #[tokio::test]
    async fn a_window_applied_at_runtime_holds_attempts_and_its_removal_drains() {
        let config = DeliveryConfig {
            drain_per_second: Some(50.0),
            ..DeliveryConfig::default()
        };
        let gate = Arc::new(Gate::new("sim", &config, Arc::new(Metrics::new())));
        let cancel = CancellationToken::new();
        gate.admit(&cancel).await.unwrap();
        assert!(gate.apply(&window(60)));
        assert!(gate.in_maintenance().is_some());
        let (g, c) = (gate.clone(), cancel.clone());
        let held = tokio::spawn(async move { g.admit(&c).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!held.is_finished(), "held by the window");
        assert!(gate.apply(&PartnerOverrides::default()));
        assert_eq!(finishes(held).await, Some(()));
        assert!(
            gate.draining(),
            "after a window the backlog drains at the drain rate"
        );
        assert!(gate.in_maintenance().is_none());
    }

    #[tokio::test]
    async fn a_window_set_while_an_attempt_waits_for_a_token_holds_it() {
        let config = DeliveryConfig {
            rate_limit: Some(RateLimit {
                per_second: 5.0,
                burst: 1,
            }),
            ..DeliveryConfig::default()
        };
        let gate = Arc::new(Gate::new("sim", &config, Arc::new(Metrics::new())));
        let cancel = CancellationToken::new();
        gate.admit(&cancel).await.unwrap(); // the one token
        let (g, c) = (gate.clone(), cancel.clone());
        let waiting = tokio::spawn(async move { g.admit(&c).await });
        tokio::task::yield_now().await;
        gate.apply(&window(60));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !waiting.is_finished(),
            "the token came, but the window holds it"
        );
        gate.apply(&PartnerOverrides::default());
        assert_eq!(finishes(waiting).await, Some(()));
        cancel.cancel();
    }

    #[tokio::test]
    async fn rate_limit_and_shadow_change_at_runtime() {
        let config = DeliveryConfig {
            shadow_institutions: vec!["25LX".parse().unwrap()],
            ..DeliveryConfig::default()
        };
        let gate = Gate::new("sim", &config, Arc::new(Metrics::new()));
        let brin = |s: &str| -> Brin { s.parse().unwrap() };
        assert!(gate.shadows(Some(&brin("25LX01"))));
        assert!(!gate.shadows(Some(&brin("28AB"))));
        assert!(!gate.shadows(None));
        assert_eq!(gate.controls().rate_limit, None);
        let mut o = PartnerOverrides {
            rate_limit: Some(knooppunt_ops::Rate {
                per_second: 1.0,
                burst: 1,
            }),
            ..PartnerOverrides::default()
        };
        o.shadow_institutions.insert(brin("28AB"), true);
        o.shadow_institutions.insert(brin("25LX"), false);
        assert!(gate.apply(&o));
        assert!(!gate.apply(&o), "the same overrides again change nothing");
        assert!(gate.shadows(Some(&brin("28AB"))));
        assert!(!gate.shadows(Some(&brin("25LX"))));
        let cancel = CancellationToken::new();
        gate.admit(&cancel).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(200), gate.admit(&cancel)).await;
        assert!(second.is_err(), "1 per second: the second attempt waits");
        o.shadow = Some(true);
        o.rate_limit = None;
        assert!(gate.apply(&o));
        assert!(gate.shadows(None), "partner-wide");
        // No limit any more: attempts go at once.
        for _ in 0..20 {
            gate.admit(&cancel).await.unwrap();
        }
    }
}

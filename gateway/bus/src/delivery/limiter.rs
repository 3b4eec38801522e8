//! A token bucket: at most `per_second` attempts per second on average, `burst` at once.
//!
//! Pure: the caller passes the current time.

use std::time::Duration;

use tokio::time::Instant;

/// One partner's rate limit.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`. `per_second` must be > 0 and `burst` ≥ 1 (validated config).
    pub fn new(per_second: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now;
    }

    /// Takes one token at `now`, or says how long to wait for one.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(missing / self.per_second).max(Duration::from_micros(100)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3, t0);
        for _ in 0..3 {
            assert!(b.try_take(t0).is_ok());
        }
        let wait = b.try_take(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait >= Duration::from_millis(99));
        // Over one simulated second, taking whenever allowed, at most burst + rate tokens go.
        let mut taken = 3;
        let mut now = t0;
        while now < t0 + Duration::from_secs(1) {
            match b.try_take(now) {
                Ok(()) => taken += 1,
                Err(w) => now += w,
            }
        }
        assert!((12..=13).contains(&taken), "{taken}");
    }
}

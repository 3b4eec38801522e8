//! Rate limits of the token endpoint: a token bucket per registered client id and one per source
//! address (`TokenLimiter`), each answered with 429 `rate_limited` and `Retry-After` when empty.
//!
//! The buckets are per node (in memory); with several nodes each allows the configured rate.
//! The per-source map is bounded: when it is full, buckets that have refilled completely (idle
//! sources) are dropped, and a new source is refused while none can be dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A rate: `per_second` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained attempts per second (> 0).
    pub per_second: f64,
    /// Attempts allowed at once (≥ 1).
    pub burst: u32,
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: f64::from(rate.burst.max(1)),
            last: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst.max(1)));
        self.last = now;
    }

    fn is_full(&self, rate: Rate) -> bool {
        self.tokens >= f64::from(rate.burst.max(1))
    }

    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let per_second = rate.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
        }
    }
}

/// Token buckets by key, at most `max_keys` of them.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: Rate,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash> KeyedLimiter<K> {
    /// Buckets of `rate`, at most `max_keys` at once.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `key` at `now`, or says how long to wait.
    pub fn check_at(&self, key: K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&key) && buckets.len() >= self.max_keys {
            let rate = self.rate;
            buckets.retain(|_, b| {
                b.refill(rate, now);
                !b.is_full(rate)
            });
            if buckets.len() >= self.max_keys {
                return Err(Duration::from_secs(1));
            }
        }
        buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(self.rate, now))
            .take(self.rate, now)
    }

    /// Number of buckets kept (tests).
    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no bucket is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The token endpoint's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenRateLimits {
    /// Attempts per registered client id (default 1/s, burst 20: a SIS asks for a token every
    /// few minutes).
    pub per_client: Rate,
    /// Attempts per source address (default 10/s, burst 100: a hosted SIS asks for many
    /// institutions from few addresses; behind a proxy every request has the proxy's address).
    pub per_source: Rate,
    /// Most source addresses tracked at once (default 10 000).
    pub max_sources: usize,
}

impl Default for TokenRateLimits {
    fn default() -> Self {
        Self {
            per_client: Rate {
                per_second: 1.0,
                burst: 20,
            },
            per_source: Rate {
                per_second: 10.0,
                burst: 100,
            },
            max_sources: 10_000,
        }
    }
}

/// The token endpoint's limiter: every attempt counts against its source address, and an
/// attempt naming a registered client also against that client (unknown ids get no bucket of
/// their own, so invented ids cannot grow memory).
#[derive(Debug)]
pub struct TokenLimiter {
    per_client: KeyedLimiter<String>,
    per_source: KeyedLimiter<IpAddr>,
}

impl Default for TokenLimiter {
    fn default() -> Self {
        Self::new(TokenRateLimits::default())
    }
}

impl TokenLimiter {
    /// A limiter with `limits`.
    pub fn new(limits: TokenRateLimits) -> Self {
        Self {
            // Bounded by the client registry: only registered ids get here.
            per_client: KeyedLimiter::new(limits.per_client, usize::MAX),
            per_source: KeyedLimiter::new(limits.per_source, limits.max_sources),
        }
    }

    /// An attempt from `source` (unknown: all such attempts share one bucket).
    pub fn source(&self, source: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        self.per_source
            .check_at(source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), now)
    }

    /// Number of client buckets kept (tests).
    pub fn clients_tracked(&self) -> usize {
        self.per_client.len()
    }

    /// An attempt naming the registered client `client_id`.
    pub fn client(&self, client_id: &str, now: Instant) -> Result<(), Duration> {
        self.per_client.check_at(client_id.to_owned(), now)
    }
}

/// Feed long-polls (`GET /api/v1/feed?wacht=…`) running at once per client. Each waiting poll
/// reads the feed every poll interval from the shared pool, so one client cannot hold more than
/// `max_per_client` of them; another is answered 429 `rate_limited` (a poll without `wacht` is
/// never limited). Per node, in memory.
#[derive(Debug)]
pub struct LongPolls {
    max_per_client: usize,
    running: Mutex<HashMap<String, usize>>,
}

impl LongPolls {
    /// At most `max_per_client` (at least 1) long-polls per client at once.
    pub fn new(max_per_client: usize) -> Self {
        Self {
            max_per_client: max_per_client.max(1),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// The limit per client.
    pub fn max_per_client(&self) -> usize {
        self.max_per_client
    }

    /// A slot for one long-poll of `client`, held until the slot is dropped; `None` when the
    /// client has its maximum running.
    pub fn try_acquire(self: &std::sync::Arc<Self>, client: &str) -> Option<LongPollSlot> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = running.entry(client.to_owned()).or_insert(0);
        if *n >= self.max_per_client {
            return None;
        }
        *n += 1;
        Some(LongPollSlot {
            polls: std::sync::Arc::clone(self),
            client: client.to_owned(),
        })
    }
}

impl Default for LongPolls {
    fn default() -> Self {
        Self::new(4)
    }
}

/// One running long-poll; dropping it frees the slot.
#[derive(Debug)]
pub struct LongPollSlot {
    polls: std::sync::Arc<LongPolls>,
    client: String,
}

impl Drop for LongPollSlot {
    fn drop(&mut self) {
        let mut running = self.polls.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 2.0,
        burst: 3,
    };

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let t0 = Instant::now();
        let l = KeyedLimiter::new(RATE, 10);
        for _ in 0..3 {
            assert_eq!(l.check_at("a", t0), Ok(()));
        }
        assert_eq!(l.check_at("a", t0), Err(Duration::from_millis(500)));
        // Other keys have buckets of their own.
        assert_eq!(l.check_at("b", t0), Ok(()));
        // Half a second later one more attempt is allowed, then none.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.check_at("a", t1), Ok(()));
        assert!(l.check_at("a", t1).is_err());
    }

    #[test]
    fn the_key_map_is_bounded_and_drops_idle_buckets() {
        let t0 = Instant::now();
        let l = KeyedLimiter::new(RATE, 2);
        assert_eq!(l.check_at(1, t0), Ok(()));
        assert_eq!(l.check_at(2, t0), Ok(()));
        // Full of busy buckets: a new key is refused and not kept.
        assert_eq!(l.check_at(3, t0), Err(Duration::from_secs(1)));
        assert_eq!(l.len(), 2);
        // Once they have refilled (idle), they make room.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(l.check_at(3, later), Ok(()));
        assert_eq!(l.len(), 1);
    }
}

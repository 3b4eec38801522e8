//! Exchanges, queues and bindings of the bus, and their names (`docs/topology.md`).
//!
//! Both transports declare the same plan: [`Topology::exchanges`], [`Topology::queues`] and
//! [`Topology::bindings`].
//!
//! Per adapter `a` with retry tiers `d0, d1, …`:
//! - work queue `knooppunt.a` (quorum) bound to the events exchange with the adapter's topic
//!   patterns and to [`REQUEUE_EXCHANGE`] with key `a`; its dead-letter exchange is
//!   [`PARKING_EXCHANGE`] (a `nack` without requeue parks the message);
//! - retry queue per tier `knooppunt.a.retry.<ms>ms` (quorum, message TTL `<ms>`, no consumers)
//!   bound to [`RETRY_EXCHANGE`] with its own name as key; expired messages are dead-lettered
//!   (at-least-once) through [`REQUEUE_EXCHANGE`] back to the work queue;
//! - parking queue `knooppunt.a.parking` (quorum) bound to [`PARKING_EXCHANGE`] with key `a`.
//!
//! *Design choice:* queue arguments cannot change after declaration, so a retry queue is named
//! after its delay. Changing a tier declares a new queue; the old one receives nothing more and
//! drains into the work queue by its TTL (delete it once empty).

use std::collections::BTreeSet;
use std::time::Duration;

use super::BusError;

/// Direct exchange for delayed retries: key = [`retry_key`].
pub const RETRY_EXCHANGE: &str = "knooppunt.retry";
/// Direct exchange straight onto an adapter's work queue: key = adapter name. Also the
/// dead-letter exchange of the retry queues.
pub const REQUEUE_EXCHANGE: &str = "knooppunt.requeue";
/// Direct exchange onto an adapter's parking queue: key = adapter name. Also the dead-letter
/// exchange of the work queues.
pub const PARKING_EXCHANGE: &str = "knooppunt.parking";
/// The usual name of the registry's topic exchange.
pub const DEFAULT_EVENTS_EXCHANGE: &str = "knooppunt.events";

/// The usual retry tiers: 5 s, 30 s, 5 min, 30 min, 3 h.
pub fn default_tiers() -> Vec<Duration> {
    [5, 30, 300, 1800, 10_800]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}

/// The work queue of an adapter.
pub fn work_queue(adapter: &str) -> String {
    format!("knooppunt.{adapter}")
}

/// The retry queue of an adapter for one delay (named after the delay, see the module docs).
pub fn retry_queue(adapter: &str, delay: Duration) -> String {
    format!("knooppunt.{adapter}.retry.{}ms", delay.as_millis())
}

/// The routing key on [`RETRY_EXCHANGE`] for one adapter and delay: the retry queue's name.
pub fn retry_key(adapter: &str, delay: Duration) -> String {
    retry_queue(adapter, delay)
}

/// The parking queue of an adapter.
pub fn parking_queue(adapter: &str) -> String {
    format!("knooppunt.{adapter}.parking")
}

/// The queues of one adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterQueues {
    /// Adapter name: lowercase letters, digits, `-` and `_`.
    pub name: String,
    /// Topic patterns on the events exchange (`*` one word, `#` zero or more), e.g.
    /// `nl.knooppunt.aanmelding.#`.
    pub bindings: Vec<String>,
    /// Retry delays, in order of use.
    pub tiers: Vec<Duration>,
}

/// Kind of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    /// Routing by topic pattern.
    Topic,
    /// Routing by exact key.
    Direct,
}

/// An exchange to declare (always durable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeSpec {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ExchangeKind,
}

/// A quorum queue to declare (always durable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Name.
    pub name: String,
    /// Per-queue message TTL (`x-message-ttl`), for retry queues.
    pub message_ttl: Option<Duration>,
    /// Dead-letter exchange and routing key (`x-dead-letter-exchange`, `-routing-key`).
    pub dead_letter: Option<(String, String)>,
}

/// A binding of a queue to an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingSpec {
    /// Exchange.
    pub exchange: String,
    /// Queue.
    pub queue: String,
    /// Routing key or topic pattern.
    pub routing_key: String,
}

/// The whole bus layout: the events exchange and every adapter's queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    events_exchange: String,
    adapters: Vec<AdapterQueues>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_exchange(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl Topology {
    /// Validates and builds a topology.
    pub fn new(
        events_exchange: impl Into<String>,
        adapters: &[AdapterQueues],
    ) -> Result<Self, BusError> {
        let events_exchange = events_exchange.into();
        if !valid_exchange(&events_exchange)
            || [RETRY_EXCHANGE, REQUEUE_EXCHANGE, PARKING_EXCHANGE]
                .contains(&events_exchange.as_str())
        {
            return Err(BusError::Invalid {
                field: "events_exchange",
                reason: "must be a non-empty name of [A-Za-z0-9-_.:], not a reserved exchange"
                    .into(),
            });
        }
        let mut seen = BTreeSet::new();
        for a in adapters {
            if !valid_name(&a.name) {
                return Err(BusError::Invalid {
                    field: "adapter.name",
                    reason: format!("{:?} must be 1–100 of [a-z0-9-_]", a.name),
                });
            }
            if !seen.insert(a.name.as_str()) {
                return Err(BusError::Invalid {
                    field: "adapter.name",
                    reason: format!("{:?} appears twice", a.name),
                });
            }
            if a.bindings.iter().any(|b| b.is_empty() || b.len() > 255) {
                return Err(BusError::Invalid {
                    field: "adapter.bindings",
                    reason: format!("adapter {:?}: patterns must be 1–255 bytes", a.name),
                });
            }
            let mut delays = BTreeSet::new();
            for t in &a.tiers {
                let ms = t.as_millis();
                if ms == 0 || ms > u128::from(u32::MAX) {
                    return Err(BusError::Invalid {
                        field: "adapter.tiers",
                        reason: format!("adapter {:?}: a delay must be 1 ms – 49 days", a.name),
                    });
                }
                if !delays.insert(ms) {
                    return Err(BusError::Invalid {
                        field: "adapter.tiers",
                        reason: format!("adapter {:?}: delay {ms} ms appears twice", a.name),
                    });
                }
            }
        }
        Ok(Self {
            events_exchange,
            adapters: adapters.to_vec(),
        })
    }

    /// The registry's topic exchange.
    pub fn events_exchange(&self) -> &str {
        &self.events_exchange
    }

    /// The adapters.
    pub fn adapters(&self) -> &[AdapterQueues] {
        &self.adapters
    }

    /// One adapter's queues.
    pub fn adapter(&self, name: &str) -> Option<&AdapterQueues> {
        self.adapters.iter().find(|a| a.name == name)
    }

    /// Number of retry tiers of an adapter (0 if unknown).
    pub fn tier_count(&self, adapter: &str) -> usize {
        self.adapter(adapter).map_or(0, |a| a.tiers.len())
    }

    /// The delay of retry tier `tier` of `adapter`, if both exist.
    pub fn tier_delay(&self, adapter: &str, tier: usize) -> Option<Duration> {
        self.adapter(adapter)
            .and_then(|a| a.tiers.get(tier).copied())
    }

    /// The routing key on [`RETRY_EXCHANGE`] for tier `tier` of `adapter`, if both exist.
    pub fn retry_key(&self, adapter: &str, tier: usize) -> Option<String> {
        self.tier_delay(adapter, tier)
            .map(|d| retry_key(adapter, d))
    }

    /// The retry queue for tier `tier` of `adapter`, if both exist.
    pub fn retry_queue(&self, adapter: &str, tier: usize) -> Option<String> {
        self.tier_delay(adapter, tier)
            .map(|d| retry_queue(adapter, d))
    }

    /// Every exchange (all durable).
    pub fn exchanges(&self) -> Vec<ExchangeSpec> {
        vec![
            ExchangeSpec {
                name: self.events_exchange.clone(),
                kind: ExchangeKind::Topic,
            },
            ExchangeSpec {
                name: RETRY_EXCHANGE.into(),
                kind: ExchangeKind::Direct,
            },
            ExchangeSpec {
                name: REQUEUE_EXCHANGE.into(),
                kind: ExchangeKind::Direct,
            },
            ExchangeSpec {
                name: PARKING_EXCHANGE.into(),
                kind: ExchangeKind::Direct,
            },
        ]
    }

    /// Every queue (all quorum, durable).
    pub fn queues(&self) -> Vec<QueueSpec> {
        let mut out = Vec::new();
        for a in &self.adapters {
            out.push(QueueSpec {
                name: work_queue(&a.name),
                message_ttl: None,
                dead_letter: Some((PARKING_EXCHANGE.into(), a.name.clone())),
            });
            for d in &a.tiers {
                out.push(QueueSpec {
                    name: retry_queue(&a.name, *d),
                    message_ttl: Some(*d),
                    dead_letter: Some((REQUEUE_EXCHANGE.into(), a.name.clone())),
                });
            }
            out.push(QueueSpec {
                name: parking_queue(&a.name),
                message_ttl: None,
                dead_letter: None,
            });
        }
        out
    }

    /// Every binding.
    pub fn bindings(&self) -> Vec<BindingSpec> {
        let mut out = Vec::new();
        for a in &self.adapters {
            let work = work_queue(&a.name);
            for p in &a.bindings {
                out.push(BindingSpec {
                    exchange: self.events_exchange.clone(),
                    queue: work.clone(),
                    routing_key: p.clone(),
                });
            }
            out.push(BindingSpec {
                exchange: REQUEUE_EXCHANGE.into(),
                queue: work.clone(),
                routing_key: a.name.clone(),
            });
            for d in &a.tiers {
                out.push(BindingSpec {
                    exchange: RETRY_EXCHANGE.into(),
                    queue: retry_queue(&a.name, *d),
                    routing_key: retry_key(&a.name, *d),
                });
            }
            out.push(BindingSpec {
                exchange: PARKING_EXCHANGE.into(),
                queue: parking_queue(&a.name),
                routing_key: a.name.clone(),
            });
        }
        out
    }
}

/// Whether a routing key matches a topic pattern, as RabbitMQ's topic exchange does:
/// words separated by `.`, `*` matches exactly one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    matches_from(&p, &k)
}

fn matches_from(p: &[&str], k: &[&str]) -> bool {
    match p.split_first() {
        None => k.is_empty(),
        Some((&"#", rest)) => {
            (0..=k.len()).any(|i| k.get(i..).is_some_and(|t| matches_from(rest, t)))
        }
        Some((&w, rest)) => match k.split_first() {
            Some((&kw, krest)) => (w == "*" || w == kw) && matches_from(rest, krest),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        let cases = [
            ("a.b.c", "a.b.c", true),
            ("a.*.c", "a.b.c", true),
            ("a.*", "a.b.c", false),
            ("a.#", "a", true),
            ("a.#", "a.b.c", true),
            ("#", "x.y", true),
            ("#.c", "a.b.c", true),
            ("a.#.c", "a.c", true),
            ("a.#.c", "a.b.d", false),
            ("*", "a.b", false),
            (
                "nl.knooppunt.aanmelding.#",
                "nl.knooppunt.aanmelding.ingediend.v1",
                true,
            ),
            (
                "nl.knooppunt.aanmelding.#",
                "nl.knooppunt.ook.getekend.v1",
                false,
            ),
        ];
        for (p, k, want) in cases {
            assert_eq!(topic_matches(p, k), want, "{p} vs {k}");
        }
    }

    #[test]
    fn names_and_validation() {
        let t = Topology::new(
            DEFAULT_EVENTS_EXCHANGE,
            &[AdapterQueues {
                name: "duo".into(),
                bindings: vec!["#".into()],
                tiers: vec![Duration::from_secs(5), Duration::from_millis(250)],
            }],
        )
        .unwrap();
        assert_eq!(
            t.retry_key("duo", 1).as_deref(),
            Some("knooppunt.duo.retry.250ms")
        );
        assert_eq!(t.retry_key("duo", 2), None);
        assert_eq!(t.queues().len(), 4);
        let bad = |a: AdapterQueues| Topology::new("ev", &[a]).unwrap_err().to_string();
        assert!(
            bad(AdapterQueues {
                name: "Duo".into(),
                bindings: vec![],
                tiers: vec![]
            })
            .contains("adapter.name")
        );
        assert!(
            bad(AdapterQueues {
                name: "d".into(),
                bindings: vec![],
                tiers: vec![Duration::ZERO]
            })
            .contains("adapter.tiers")
        );
        assert!(Topology::new(RETRY_EXCHANGE, &[]).is_err());
    }
}

//! One module per chain partner: its client, its use of a mapping, how it classifies failures,
//! and a simulator of that partner.
//!
//! This file holds what every adapter shares: the [`Adapter`] trait the delivery runtime drives,
//! the delivery [`Mode`] (live or shadow) and the [`Outcome`] of one delivery attempt, classified
//! so the runtime knows whether to retry ([`Outcome::Transient`]), to report a business outcome
//! ([`Outcome::Permanent`]) or to pass the partner's answer back to the registry
//! ([`Outcome::Delivered`]).
//!
//! *Architecture invariant:* an adapter never writes registry tables. A partner's answer leaves an
//! adapter only as a registry [`Command`], which the runtime executes with the event as its cause.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use knooppunt_registry::domain::Command;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::EventEnvelope;
use serde::{Deserialize, Serialize};

pub mod duo;
pub mod http_answer;
pub mod loopback;
pub mod partners;
pub mod receive;
pub mod sbb;
pub mod signing;
pub mod sim;
pub mod va;

/// How an adapter must treat an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Translate and send to the partner.
    Live,
    /// Translate and store the partner message, send nothing (a new adapter or participation level
    /// proving itself; `design.md` §2).
    Shadow,
}

/// Why an attempt failed in a way that may succeed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransientClass {
    /// The partner did not answer in time.
    Timeout,
    /// The connection could not be made or broke (refused, reset, TLS failure).
    Connection,
    /// The partner answered 5xx.
    ServerError,
    /// The partner answered 429 (too many requests).
    RateLimited,
    /// The partner is known to be down or in maintenance.
    Unavailable,
}

impl TransientClass {
    /// A short, bounded label (metrics, audit).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::ServerError => "server_error",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for TransientClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the partner refused an event for good. Retrying would fail the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermanentClass {
    /// The partner rejected the content (a business rule, a signal such as a BRON "terugmelding").
    Rejected,
    /// The event could not be translated into the partner's format (mapping refused it).
    Untranslatable,
    /// The partner refused our credentials or authorisation (4xx other than 429).
    Refused,
}

impl PermanentClass {
    /// A short, bounded label (metrics, audit).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Untranslatable => "untranslatable",
            Self::Refused => "refused",
        }
    }
}

impl fmt::Display for PermanentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The classified result of one delivery attempt.
///
/// Texts in outcomes (`status`, `endpoint`, `error`, `reason`) are audited and may be logged:
/// they must never hold personal data (use codes and ids).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The partner accepted the message (or, in shadow mode, it was translated and stored).
    Delivered {
        /// The partner's answer, to be executed by the registry with the event as its cause.
        answer: Option<Command>,
        /// The partner's status, e.g. `"200"`, or `"shadow"`.
        status: String,
        /// Where it went, e.g. `"https://duo.example/bron"` (no query strings with ids).
        endpoint: String,
    },
    /// The attempt failed in a way that may succeed later: retry.
    Transient {
        /// What kind of failure.
        class: TransientClass,
        /// The partner's `Retry-After`, when it gave one.
        retry_after: Option<Duration>,
        /// The partner's status when it answered, e.g. `"503"`.
        status: Option<String>,
        /// Where it went.
        endpoint: String,
        /// A short description without personal data.
        error: String,
    },
    /// The partner rejected the content: not retried, reported back as a business outcome.
    Permanent {
        /// What kind of refusal.
        class: PermanentClass,
        /// The partner's reason code or a short description, without personal data.
        reason: String,
        /// The partner's answer (e.g. the rejection with its signals) for the registry.
        answer: Option<Command>,
        /// The partner's status, e.g. `"422"`.
        status: Option<String>,
        /// Where it went.
        endpoint: String,
    },
    /// The event is not for this partner (e.g. an institution not on its participation level).
    Skip,
}

impl Outcome {
    /// A short, bounded label of the outcome kind (metrics, audit).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::Transient { .. } => "transient",
            Self::Permanent { .. } => "permanent",
            Self::Skip => "skipped",
        }
    }

    /// The endpoint the attempt went to, if any.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Self::Delivered { endpoint, .. }
            | Self::Transient { endpoint, .. }
            | Self::Permanent { endpoint, .. } => Some(endpoint),
            Self::Skip => None,
        }
    }

    /// The partner's status, if it answered.
    pub fn status(&self) -> Option<&str> {
        match self {
            Self::Delivered { status, .. } => Some(status),
            Self::Transient { status, .. } | Self::Permanent { status, .. } => status.as_deref(),
            Self::Skip => None,
        }
    }
}

/// One chain partner as seen by the delivery runtime.
///
/// An adapter translates an event with its mapping, sends it (or, in [`Mode::Shadow`], stores the
/// translation and sends nothing) and classifies what happened. It must not retry by itself: the
/// runtime owns retries, tiers, the circuit breaker and the rate limit.
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// The adapter's name: queue names, metric labels, audit `partner`. Lowercase, e.g. `"duo"`.
    fn name(&self) -> &str;

    /// The partner this adapter's answers come from: the runtime executes them as
    /// `Actor::Partner { partner }`, so the registry's policy applies. `None` for an adapter that
    /// never answers (a projection such as the institution feed); an answer from it is refused.
    fn answers_as(&self) -> Option<Partner>;

    /// The event types it consumes, as AMQP topic patterns, e.g. `"nl.knooppunt.aanmelding.#"`.
    fn topics(&self) -> Vec<String>;

    /// Delivers one event once and classifies the result. Must not panic on any input.
    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome;
}

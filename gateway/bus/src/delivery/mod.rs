//! The delivery runtime (`design.md` §5): runs an adapter for each message of its work queue and
//! acts on the classified [`Outcome`](knooppunt_adapters::Outcome).
//!
//! - **delivered** — the partner's answer goes back to the registry as a command caused by the
//!   event ([`sink::CommandSink`]); its id is derived from (consumer, message id).
//! - **transient** — a few immediate retries with exponential backoff and jitter (backon), then
//!   the next delay tier: the message is published to the tier's TTL queue with attempt,
//!   first-failure and last-error headers and acknowledged. The consumer never sleeps a tier.
//! - **permanent** — not retried; a business outcome (audit `rejected`, metric) and the
//!   partner's answer, if any, reported to the registry.
//! - **exhausted** — after the last tier the message is parked (parking queue and
//!   [`DeliveryState::park`](knooppunt_ops::DeliveryState::park)) with reason, attempts, first
//!   and last failure and last error.
//!
//! *Invariants:*
//! - exactly-once effect per (consumer, message id): the inbox ([`DeliveryState::seen`](knooppunt_ops::DeliveryState::seen)
//!   / `mark_done`) drops redelivered duplicates, and answers carry a derived command id;
//! - a message about a student never overtakes an earlier one about the same student for the
//!   same partner that is still retrying or parked: later ones are held durably and released
//!   one at a time, in order, when the blocker is delivered, rejected or discarded;
//! - while the partner's breaker is open or a maintenance window is active, messages wait at the
//!   [`gate::Gate`] instead of burning retries;
//! - audit entries and logs carry ids, codes and hashes only, never a payload.

pub mod breaker;
pub mod config;
pub mod gate;
pub mod limiter;
pub mod maintenance;
pub mod runtime;
pub mod sink;
pub mod telemetry;

pub use config::{BreakerConfig, DeliveryConfig, ImmediateRetry, MaintenanceWindow, RateLimit};
pub use runtime::{DeliveryRuntime, Deps, Disposition, answer_id};
pub use sink::{CommandSink, RecordingSink, StoreSink, Submitted};

/// What can go wrong in the delivery runtime (not the partner's failures: those are outcomes).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A configuration value is invalid.
    #[error("invalid delivery configuration {field}: {reason}")]
    Config {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] crate::BusError),
    /// The delivery state or the audit trail failed.
    #[error(transparent)]
    Ops(#[from] knooppunt_ops::OpsError),
    /// The registry failed to take an answer.
    #[error(transparent)]
    Store(#[from] knooppunt_registry::store::StoreError),
}

impl DeliveryError {
    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Config { .. } => false,
            Self::Bus(e) => e.is_transient(),
            Self::Ops(e) => e.is_transient(),
            Self::Store(e) => e.is_transient(),
        }
    }
}

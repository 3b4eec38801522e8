//! What Knooppunt's operators see and use: the hash-chained audit trail ([`audit`]), Prometheus
//! metrics ([`metrics`]), and the durable delivery state with failed-message handling
//! ([`failed`]); the delivery side of the sector reports ([`report`]). PostgreSQL tables are
//! created by [`migrate`] (the registry's migration runner, [`MIGRATOR`]).
//!
//! Runbook: `docs/operations.md`. Audit chain design and verification: `docs/audit.md`.

pub mod audit;
pub mod controls;
mod error;
pub mod failed;
pub mod metrics;
mod migrate;
pub mod report;

pub use audit::{
    AuditEntry, AuditRecord, AuditTrail, BatchConfig, BatchingAudit, BrokenLink, BrokenReason,
    ChainHead, Hop, MemoryAudit, PgAudit, payload_hash, verify_chain, verify_chain_with_head,
    verify_stored_chain,
};
pub use controls::{
    ConfiguredControls, ControlActor, ControlChange, ControlStore, EffectiveControls,
    MemoryControlStore, PartnerOverrides, PgControlStore, Rate, RuntimeControls,
};
pub use error::OpsError;
pub use failed::{
    BatchingDeliveryState, DeliveryState, Discarded, FailedMessages, HeldMessage,
    MemoryDeliveryState, OperatorAction, ParkedMessage, PgDeliveryState, StateBatchConfig,
    WaitingInfo,
};
pub use metrics::{BreakerState, Metrics, PartnerView};
pub use migrate::{MIGRATIONS, MIGRATOR, migrate, migrate_client};

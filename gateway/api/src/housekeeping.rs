//! Background housekeeping of the API store: expired idempotency records are purged.
//!
//! A record is kept at least [`ApiLimits::idempotency_retention`](crate::ApiLimits) (24 h by
//! default) and deleted by the next purge after that ([`run_idempotency_purge`], every
//! [`PURGE_EVERY`] on each node; several nodes purging at once is harmless). Expiry is safe
//! because the command ids of a request derive from its key *and* its body: after the purge the
//! same body under the same key has the same ids (one effect), another body other ids.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{ApiStore, ApiStoreError};

/// How often a node purges.
pub const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Records deleted per statement (short transactions, no long lock).
pub const PURGE_BATCH: usize = 1000;

/// Deletes every idempotency record created at least `retention` ago, in batches of
/// [`PURGE_BATCH`]; returns how many.
pub async fn purge_idempotency(
    store: &dyn ApiStore,
    retention: Duration,
) -> Result<u64, ApiStoreError> {
    let mut total = 0;
    loop {
        let n = store.purge_idempotency(retention, PURGE_BATCH).await?;
        total += n;
        if n < PURGE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Purges expired idempotency records now and then every `every` until `cancel` fires. A failed
/// purge is logged and tried again at the next tick.
pub async fn run_idempotency_purge(
    store: Arc<dyn ApiStore>,
    retention: Duration,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match purge_idempotency(store.as_ref(), retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired idempotency records purged"),
            Err(e) => tracing::warn!(error = %e, "idempotency purge failed; trying again later"),
        }
    }
}

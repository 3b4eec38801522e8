//! The node's stores and its PostgreSQL budget: the readiness probe of the registry store, the
//! connection budget split between its pools and held connections (checked against the server),
//! and the pool of the ops and API tables.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::Pool;
use knooppunt_api::{ApiStore, Readiness};
use knooppunt_bus::relay::RelayConfig;
use knooppunt_ops::{AuditTrail, DeliveryState, Metrics};
use knooppunt_registry::store::Store;

pub(super) type Stores = (
    Arc<dyn Store>,
    Arc<dyn AuditTrail>,
    Arc<dyn DeliveryState>,
    Arc<dyn ApiStore>,
    knooppunt_api::operator::Reports,
);

/// Ready when the registry store answers. The node probes every [`READINESS_PROBE_EVERY`] and
/// `/readyz` answers from the last probe while it is fresh, so a caller of that unauthenticated
/// endpoint never makes the database work more than once per probe interval; a stale or missing
/// result is probed again, one probe at a time. Each probe also sets `knooppunt_ready` and
/// `knooppunt_outbox_unsent`.
pub(super) struct StoreReadiness {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, Result<(), String>)>>,
}

impl StoreReadiness {
    pub(super) fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            metrics,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Asks the store now and keeps the outcome.
    pub(super) async fn probe(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        let outcome = self.check().await;
        *last = Some((tokio::time::Instant::now(), outcome.clone()));
        outcome
    }

    async fn check(&self) -> Result<(), String> {
        let checked = self.store.outbox_backlog().await;
        self.metrics.set_ready(checked.is_ok());
        let unsent = checked.map_err(|e| format!("registry store: {e}"))?;
        self.metrics.set_outbox_unsent(unsent);
        Ok(())
    }
}

/// How often the node checks its own readiness and samples its work queues' depth, so the
/// metrics are fresh without `/readyz` calls.
pub(super) const READINESS_PROBE_EVERY: Duration = Duration::from_secs(15);

#[async_trait]
impl Readiness for StoreReadiness {
    async fn ready(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, outcome)) = &*last
            && at.elapsed() < 2 * READINESS_PROBE_EVERY
        {
            return outcome.clone();
        }
        let outcome = self.check().await;
        *last = Some((tokio::time::Instant::now(), outcome.clone()));
        outcome
    }
}

impl fmt::Debug for StoreReadiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreReadiness")
    }
}

/// How a node spends its budget of PostgreSQL connections (`store.max_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// The registry store's pool.
    pub registry: usize,
    /// The pool of the ops and API tables (audit, delivery state, idempotency, feed).
    pub ops: usize,
    /// Held outside the pools: one per relay lane (its partition locks) and one for the API's
    /// instance lock.
    pub held: usize,
}

impl ConnectionBudget {
    /// Splits `max_connections` (at least 10): the held connections first, the rest in two
    /// nearly equal pools.
    pub fn split(max_connections: usize) -> Self {
        let held = RelayConfig::default().lanes as usize + 1;
        let pools = max_connections.saturating_sub(held).max(4);
        let registry = pools.div_ceil(2);
        Self {
            registry,
            ops: pools - registry,
            held,
        }
    }

    /// Every connection the node may open.
    pub fn total(&self) -> usize {
        self.registry + self.ops + self.held
    }
}

/// Checks the node's connection budget against the server's: `max_connections` less the
/// connections reserved for superusers. Other clients' connections are only warned about (they
/// may be this node's peers, each within its own budget).
pub(super) async fn check_connection_budget(pool: &Pool, budget: usize) -> anyhow::Result<()> {
    let client = pool
        .get()
        .await
        .context("connecting to PostgreSQL (store.url)")?;
    let row = client
        .query_one(
            "SELECT current_setting('max_connections')::int, \
                    current_setting('superuser_reserved_connections')::int, \
                    (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'client backend')",
            &[],
        )
        .await
        .context("reading the server's max_connections")?;
    let (max, reserved, in_use): (i32, i32, i32) = (row.get(0), row.get(1), row.get(2));
    let allowed = usize::try_from(max - reserved).unwrap_or(0);
    anyhow::ensure!(
        budget <= allowed,
        "configuration `store.max_connections`: the node may open {budget} connections, the \
         server allows {allowed} (max_connections {max} − superuser_reserved_connections \
         {reserved}); lower store.max_connections or raise the server's max_connections"
    );
    // This check's own connection is one of those in use.
    let others = usize::try_from(in_use - 1).unwrap_or(0);
    if budget + others > allowed {
        tracing::warn!(
            budget,
            allowed,
            others,
            "PostgreSQL: this node's connection budget and the connections already open exceed \
             the server's limit; under load some requests will wait or fail"
        );
    }
    Ok(())
}

/// A connection pool for the ops and api tables (the registry's one pool builder).
pub fn ops_pool(url: &str, schema: Option<&str>, size: usize) -> anyhow::Result<Pool> {
    knooppunt_registry::store::pg_pool(url, schema, size).context("ops connection pool (store.url)")
}

#[cfg(test)]
mod tests {
    use super::{ConnectionBudget, READINESS_PROBE_EVERY, StoreReadiness};
    use knooppunt_api::Readiness;
    use knooppunt_ops::metrics::Metrics;
    use knooppunt_registry::store::MemoryStore;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn readyz_answers_from_the_last_probe_while_it_is_fresh() {
        let metrics = Arc::new(Metrics::new());
        let r = StoreReadiness::new(Arc::new(MemoryStore::new()), metrics);
        assert_eq!(r.ready().await, Ok(()));
        let first = r.last.lock().await.as_ref().map(|(at, _)| *at);
        // Many calls within the interval: the same probe answers.
        for _ in 0..100 {
            assert_eq!(r.ready().await, Ok(()));
        }
        assert_eq!(r.last.lock().await.as_ref().map(|(at, _)| *at), first);
        // Once stale, the next call probes again.
        tokio::time::advance(2 * READINESS_PROBE_EVERY).await;
        assert_eq!(r.ready().await, Ok(()));
        assert!(r.last.lock().await.as_ref().map(|(at, _)| *at) > first);
    }

    #[test]
    fn the_connection_budget_is_spent_exactly() {
        for max in [10, 11, 20, 64, 84, 1000] {
            let b = ConnectionBudget::split(max);
            assert_eq!(b.total(), max, "{b:?}");
            assert_eq!(b.held, 5, "four relay lanes and the API's instance lock");
            assert!(b.registry >= b.ops && b.registry - b.ops <= 1, "{b:?}");
            assert!(b.ops >= 2, "{b:?}");
        }
    }
}

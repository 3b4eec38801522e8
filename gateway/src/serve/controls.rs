//! Runtime controls in a node: the operator overrides stored in the ops tables (or in memory)
//! go on top of each delivery runtime's configured controls at start, after every change made
//! through this node's operator API, and every [`CONTROLS_POLL`] (so a change made on another
//! node on the same database reaches this one within that time).
//!
//! Every application reads the store and applies what it read under one lock, so a poll that
//! read the overrides just before a change was committed cannot put the older state back after
//! the change was applied.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use knooppunt_api::operator::ControlTargets;
use knooppunt_bus::delivery::DeliveryRuntime;
use knooppunt_ops::controls::{ConfiguredControls, PartnerOverrides};
use knooppunt_ops::{ControlStore, OpsError};
use tokio_util::sync::CancellationToken;

/// How often a node reads the stored overrides again.
pub const CONTROLS_POLL: Duration = Duration::from_secs(5);

/// The stored overrides and the node's delivery runtimes they apply to.
pub struct NodeControls {
    store: Arc<dyn ControlStore>,
    runtimes: BTreeMap<String, Arc<DeliveryRuntime>>,
    applying: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for NodeControls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeControls").finish_non_exhaustive()
    }
}

impl NodeControls {
    /// The overrides in `store` for these runtimes.
    pub fn new(
        store: Arc<dyn ControlStore>,
        runtimes: BTreeMap<String, Arc<DeliveryRuntime>>,
    ) -> Self {
        Self {
            store,
            runtimes,
            applying: tokio::sync::Mutex::new(()),
        }
    }

    /// Puts the stored overrides in force (a partner without any gets its configuration back).
    pub async fn refresh(&self) -> Result<(), OpsError> {
        let _one_at_a_time = self.applying.lock().await;
        let all = self.store.all().await?;
        let none = PartnerOverrides::default();
        for (name, runtime) in &self.runtimes {
            runtime.gate().apply(all.get(name).unwrap_or(&none));
        }
        Ok(())
    }

    /// Refreshes every [`CONTROLS_POLL`] until `cancel`; a failed read keeps the controls in
    /// force and is logged.
    pub async fn poll(&self, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(CONTROLS_POLL) => {}
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "runtime controls could not be read; the controls in force stay");
            }
        }
    }
}

/// The node's gates, for the operator API.
#[derive(Debug)]
pub struct Gates(pub Arc<NodeControls>);

#[async_trait]
impl ControlTargets for Gates {
    fn configured(&self) -> BTreeMap<String, ConfiguredControls> {
        self.0
            .runtimes
            .iter()
            .map(|(name, r)| (name.clone(), r.gate().configured().clone()))
            .collect()
    }

    async fn apply(&self, partner: &str, overrides: &PartnerOverrides) {
        if let Err(e) = self.0.refresh().await {
            // The change is stored; apply what the change returned until the next poll.
            tracing::warn!(error = %e, "runtime controls could not be read back; applying the change");
            let _one_at_a_time = self.0.applying.lock().await;
            if let Some(r) = self.0.runtimes.get(partner) {
                r.gate().apply(overrides);
            }
        }
    }
}

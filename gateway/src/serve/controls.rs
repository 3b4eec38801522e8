//! Runtime controls in a node: the operator overrides stored in the ops tables (or in memory)
//! go on top of each delivery runtime's configured controls at start, after every change made
//! through this node's operator API, and every [`CONTROLS_POLL`] (so a change made on another
//! node on the same database reaches this one within that time).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use knooppunt_api::operator::ControlTargets;
use knooppunt_bus::delivery::DeliveryRuntime;
use knooppunt_ops::controls::{ConfiguredControls, PartnerOverrides};
use knooppunt_ops::{ControlStore, OpsError};
use tokio_util::sync::CancellationToken;

/// How often a node reads the stored overrides again.
pub const CONTROLS_POLL: Duration = Duration::from_secs(5);

/// The node's delivery runtimes' gates, for the operator API.
#[derive(Debug)]
pub struct Gates(pub BTreeMap<String, Arc<DeliveryRuntime>>);

impl ControlTargets for Gates {
    fn configured(&self) -> BTreeMap<String, ConfiguredControls> {
        self.0
            .iter()
            .map(|(name, r)| (name.clone(), r.gate().configured().clone()))
            .collect()
    }

    fn apply(&self, partner: &str, overrides: &PartnerOverrides) {
        if let Some(r) = self.0.get(partner) {
            r.gate().apply(overrides);
        }
    }
}

/// Puts the stored overrides in force (a partner without any gets its configuration back).
pub async fn apply_stored(
    store: &dyn ControlStore,
    runtimes: &BTreeMap<String, Arc<DeliveryRuntime>>,
) -> Result<(), OpsError> {
    let all = store.all().await?;
    let none = PartnerOverrides::default();
    for (name, runtime) in runtimes {
        runtime.gate().apply(all.get(name).unwrap_or(&none));
    }
    Ok(())
}

/// Reads the stored overrides every [`CONTROLS_POLL`] until `cancel`; a failed read keeps the
/// controls in force and is logged.
pub async fn poll(
    store: Arc<dyn ControlStore>,
    runtimes: BTreeMap<String, Arc<DeliveryRuntime>>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(CONTROLS_POLL) => {}
        }
        if let Err(e) = apply_stored(&*store, &runtimes).await {
            tracing::warn!(error = %e, "runtime controls could not be read; the controls in force stay");
        }
    }
}

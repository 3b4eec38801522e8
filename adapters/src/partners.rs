//! The list of partners the node runs: one [`PartnerPlugin`] per chain partner, in [`all`].
//!
//! The node (`knooppunt serve`, the demo, the benches, the end-to-end tests) iterates this list
//! and nothing else: for each entry it takes the partner's settings from configuration
//! (`[partners.<name>]`), lets the entry [`build`](PartnerPlugin::build) its adapter(s), its
//! HTTP client and — when no endpoint is configured — its simulator, and runs one delivery
//! runtime per adapter. Adding a partner is a folder under `adapters/src/`, one line in [`all`],
//! its mapping and its `docs/partners/` page (`docs/adapters.md`).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use knooppunt_ops::{AuditTrail, Metrics};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::Store;

use crate::Adapter;
use crate::duo::DuoPlugin;
use crate::sbb::SbbPlugin;
use crate::signing::SigningPlugin;
use crate::sim::{SimFaults, Simulator};
use crate::va::{VaPartner, VaPlugin};

/// Every partner Knooppunt can run, in the order the node starts them.
pub fn all() -> Vec<Box<dyn PartnerPlugin>> {
    vec![
        Box::new(VaPlugin(VaPartner::Koppelpunt)),
        Box::new(VaPlugin(VaPartner::Regionaal(
            knooppunt_registry::reference::RegionaalSysteem::Intergrip,
        ))),
        Box::new(VaPlugin(VaPartner::Regionaal(
            knooppunt_registry::reference::RegionaalSysteem::Digidoor,
        ))),
        Box::new(VaPlugin(VaPartner::Regionaal(
            knooppunt_registry::reference::RegionaalSysteem::Voroc,
        ))),
        Box::new(VaPlugin(VaPartner::Gemeenten)),
        Box::new(DuoPlugin),
        Box::new(SbbPlugin),
        Box::new(SigningPlugin),
    ]
}

/// The partners in [`all`]: the ones a configuration may name in `[partners.<name>]`.
pub fn supported() -> Vec<Partner> {
    all().iter().map(|p| p.partner()).collect()
}

/// One chain partner as the node builds it.
#[async_trait]
pub trait PartnerPlugin: Send + Sync + fmt::Debug {
    /// The partner.
    fn partner(&self) -> Partner;

    /// Builds the partner's adapter(s) from its `settings`: its HTTP client, and its simulator
    /// on loopback when `settings.endpoint` is absent (the adapters then deliver to it).
    async fn build(&self, ctx: &PartnerContext, settings: &Settings) -> Result<Built, BuildError>;
}

/// What the node lends every partner: the registry store (for policy-checked, audited reads),
/// reference data and the audit trail.
#[derive(Clone)]
pub struct PartnerContext {
    /// The registry store.
    pub store: Arc<dyn Store>,
    /// Reference data in use.
    pub reference: Arc<ReferenceData>,
    /// The audit trail (reads of personal data are audited).
    pub audit: Arc<dyn AuditTrail>,
    /// The process's metrics (what an adapter tracks beyond the runtime's, e.g. BRON answers).
    pub metrics: Arc<Metrics>,
}

impl fmt::Debug for PartnerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartnerContext").finish_non_exhaustive()
    }
}

/// One partner's settings, from its `[partners.<name>]` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// The partner's base URL. Absent: its simulator runs in-process on a loopback port.
    pub endpoint: Option<String>,
    /// Time limit of one attempt; [`DEFAULT_TIMEOUT`] when absent.
    pub timeout: Option<Duration>,
    /// Faults the simulator injects (only without `endpoint`).
    pub faults: SimFaults,
    /// Where the partner's [`Receiver`] listens, for a partner that pushes to Knooppunt
    /// (absent: a free loopback port).
    pub receiver_listen: Option<SocketAddr>,
    /// The receiver's URL as the partner must call it (e.g. behind the Digikoppeling gateway);
    /// absent: the listener's own `http://` URL.
    pub receiver_url: Option<String>,
    /// The secret the partner and Knooppunt share to authenticate what the partner pushes (the
    /// signing provider's postbacks). Absent with a simulator: a random one the simulator is
    /// given; absent with a configured endpoint: a start-up error for a partner that needs one.
    pub receiver_secret: Option<Secret>,
    /// For a partner whose outcomes Knooppunt also polls (the signing provider): how long after
    /// the last news about a transaction it asks the partner itself.
    pub poll_after: Option<Duration>,
    /// TLS towards the partner's endpoint: the CA to trust and the client certificate to show.
    pub tls: ClientTls,
}

/// TLS of the HTTP client towards one partner (`[partners.<name>.tls]`). Chain partners
/// (Digikoppeling) use PKIoverheid certificates, whose private-services roots are not in the
/// public bundle, and ask for Knooppunt's own PKIoverheid certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientTls {
    /// PEM file with the CA certificates the partner's server certificate must chain to. Given:
    /// only these are trusted for this partner (not the public roots). Absent: the public roots
    /// (webpki).
    pub ca_file: Option<PathBuf>,
    /// PEM file with Knooppunt's client certificate (chain) for this partner.
    pub client_cert: Option<PathBuf>,
    /// PEM file with the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

/// A shared secret from configuration. `Debug` and `Serialize` never show it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret with this value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, to key a MAC with.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// The time limit of one attempt when the configuration sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an entry built.
pub struct Built {
    /// The adapters, each run by its own delivery runtime.
    pub adapters: Vec<Arc<dyn Adapter>>,
    /// The simulator the adapters deliver to, when no endpoint was configured.
    pub simulator: Option<Box<dyn Simulator>>,
    /// Knooppunt's endpoint the partner pushes to, for a partner that does (DUO's mutation
    /// notifications).
    pub receiver: Option<Box<dyn Receiver>>,
}

/// An HTTP endpoint of Knooppunt that a partner pushes messages to, started by the partner's
/// entry; the node keeps it and stops it at shutdown.
#[async_trait]
pub trait Receiver: Send + Sync + fmt::Debug {
    /// The partner that pushes.
    fn partner(&self) -> Partner;
    /// The address the partner pushes to.
    fn url(&self) -> String;
    /// Stops the listener and waits until it stopped.
    async fn shutdown(&self);
}

impl fmt::Debug for Built {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Built")
            .field(
                "adapters",
                &self.adapters.iter().map(|a| a.name()).collect::<Vec<_>>(),
            )
            .field("simulator", &self.simulator)
            .field("receiver", &self.receiver)
            .finish()
    }
}

/// Why a partner could not be built. Names the partner.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Its simulator could not start.
    #[error("starting the {partner} simulator: {source}")]
    Simulator {
        /// The partner.
        partner: Partner,
        /// Why.
        source: io::Error,
    },
    /// Its receiver could not listen.
    #[error("starting the {partner} receiver (partners.{partner}.receiver_listen): {source}")]
    Receiver {
        /// The partner.
        partner: Partner,
        /// Why.
        source: io::Error,
    },
    /// A setting the partner needs is missing or unusable.
    #[error("partners.{partner}.{field}: {reason}")]
    Setting {
        /// The partner.
        partner: Partner,
        /// The setting, e.g. `receiver_secret`.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A TLS file of the partner's HTTP client is missing or unusable.
    #[error("partners.{partner}.{field}: {reason}")]
    Tls {
        /// The partner.
        partner: Partner,
        /// The setting, e.g. `tls.ca_file`.
        field: &'static str,
        /// Why (the file's path and what is wrong; never key material).
        reason: String,
    },
    /// Its HTTP client could not be built.
    #[error("HTTP client for {partner}: {source}")]
    Client {
        /// The partner.
        partner: Partner,
        /// Why.
        source: reqwest::Error,
    },
}

/// The partner's endpoint from `settings`, or — without one — a simulator started on a free
/// loopback port by `spawn`, with the configured faults, and its URL.
pub async fn endpoint_or_simulator<S, F, Fut>(
    partner: Partner,
    settings: &Settings,
    spawn: F,
) -> Result<(String, Option<Box<dyn Simulator>>), BuildError>
where
    S: Simulator + 'static,
    F: FnOnce(SocketAddr, SimFaults) -> Fut,
    Fut: Future<Output = Result<S, io::Error>>,
{
    if let Some(endpoint) = &settings.endpoint {
        return Ok((endpoint.clone(), None));
    }
    let sim = spawn(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        settings.faults.clone(),
    )
    .await
    .map_err(|source| BuildError::Simulator { partner, source })?;
    Ok((sim.url(), Some(Box::new(sim))))
}

/// The HTTP client of one partner: one attempt is limited to the configured timeout; its TLS is
/// the partner's [`ClientTls`] (the CA it trusts, the client certificate it shows).
pub fn http_client(partner: Partner, settings: &Settings) -> Result<reqwest::Client, BuildError> {
    let tls_err = |field: &'static str, path: &Path, reason: String| BuildError::Tls {
        partner,
        field,
        reason: format!("{}: {reason}", path.display()),
    };
    let read = |field: &'static str, path: &Path| {
        std::fs::read(path).map_err(|e| tls_err(field, path, e.to_string()))
    };
    let mut builder =
        reqwest::Client::builder().timeout(settings.timeout.unwrap_or(DEFAULT_TIMEOUT));
    let tls = &settings.tls;
    if let Some(path) = &tls.ca_file {
        let certs =
            reqwest::Certificate::from_pem_bundle(&read("tls.ca_file", path)?).map_err(|e| {
                tls_err(
                    "tls.ca_file",
                    path,
                    format!("not a PEM certificate bundle ({e})"),
                )
            })?;
        if certs.is_empty() {
            return Err(tls_err("tls.ca_file", path, "holds no certificate".into()));
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    match (&tls.client_cert, &tls.client_key) {
        (None, None) => {}
        (Some(cert), Some(key)) => {
            let mut pem = read("tls.client_cert", cert)?;
            pem.push(b'\n');
            pem.extend(read("tls.client_key", key)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                tls_err(
                    "tls.client_cert",
                    cert,
                    format!("with tls.client_key not a usable certificate and key ({e})"),
                )
            })?;
            builder = builder.identity(identity);
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(BuildError::Setting {
                partner,
                field: "tls",
                reason: "client_cert and client_key go together",
            });
        }
    }
    builder
        .build()
        .map_err(|source| BuildError::Client { partner, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partner_is_in_the_list_once() {
        let partners = supported();
        let mut unique = partners.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), partners.len(), "{partners:?}");
        assert!(!partners.is_empty());
    }
}

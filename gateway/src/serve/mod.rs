//! `knooppunt serve`: one process with the registry, the bus, the outbox relay, the delivery
//! runtimes of every partner's adapters (the partner list, `knooppunt_adapters::partners::all`)
//! and of the institution feed, the webhook dispatcher, the partner simulators and the HTTP
//! edge — wired from a [`Config`].
//!
//! With the default configuration this is the sandbox: in-memory store and bus, every partner
//! simulated on a loopback port, sample reference data and students, a generated PKI. With a
//! configuration file it is the production shape: PostgreSQL, RabbitMQ, real partner endpoints
//! and certificates. The same [`Node`] runs the end-to-end tests and `knooppunt demo`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use knooppunt_adapters::Adapter;
use knooppunt_adapters::partners::{self, PartnerContext, Receiver};
use knooppunt_adapters::sim::Simulator;
use knooppunt_ops::audit::{BatchConfig, BatchingAudit};
use knooppunt_ops::{
    AuditTrail, BatchingDeliveryState, DeliveryState, MemoryAudit, MemoryDeliveryState, Metrics,
    PgAudit, PgDeliveryState, StateBatchConfig,
};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::{
    BatchingConfig, BatchingStore, MemoryStore, PgStore, PgStoreConfig, Store,
};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{BusSettings, Config, Mode, StoreSettings, TlsMode};
use knooppunt_api::auth::{
    ClientRegistry, SandboxBestuurCredential, SandboxCredential, TokenIssuer,
};
use knooppunt_api::operator::{OperatorCredential, OperatorState, Reports};
use knooppunt_api::pki::{ClientFiles, Pki, SandboxFiles};
use knooppunt_api::{
    ApiLimits, ApiState, ApiStore, FeedAdapter, MemoryApiStore, PgApiStore, Readiness,
    WebhookConfig, WebhookDispatcher, webhook::WebhookTargets,
};
use knooppunt_bus::amqp::{AmqpConfig, AmqpTransport};
use knooppunt_bus::delivery::{DeliveryConfig, DeliveryRuntime, Deps, StoreSink};
use knooppunt_bus::memory::MemoryTransport;
use knooppunt_bus::relay::{Relay, RelayConfig};
use knooppunt_bus::topology::DEFAULT_EVENTS_EXCHANGE;
use knooppunt_bus::{Topology, Transport};
use knooppunt_ops::report::PgDeliveryReports;
use knooppunt_registry::report::PgDossierReports;
use knooppunt_sample::{SampleStudent, seed_students};

mod banner;
pub mod controls;
mod stores;

pub use stores::{ConnectionBudget, ops_pool};
use stores::{READINESS_PROBE_EVERY, StoreReadiness, Stores, check_connection_budget};

/// A running Knooppunt.
pub struct Node {
    /// Base URL of the API listener, e.g. `https://127.0.0.1:8443`.
    pub api_url: String,
    /// The address the API listens on.
    pub api_addr: SocketAddr,
    /// Generated OAuth2 credentials (sandbox; empty with configured clients).
    pub credentials: Vec<SandboxCredential>,
    /// Generated OAuth2 credentials of the besturen (bevoegd gezag) of the sandbox's
    /// institutions (sandbox; empty with configured clients).
    pub bestuur_credentials: Vec<SandboxBestuurCredential>,
    /// The generated PKI files (sandbox TLS mode).
    pub pki: Option<SandboxFiles>,
    /// Seeded sample students.
    pub students: Vec<SampleStudent>,
    /// The in-process partner simulators, by partner.
    pub simulators: BTreeMap<Partner, Box<dyn Simulator>>,
    /// Knooppunt's endpoints that partners push to (DUO's mutation notifications), by partner.
    pub receivers: BTreeMap<Partner, Box<dyn Receiver>>,
    /// Reference data in use.
    pub reference: Arc<ReferenceData>,
    /// The registry store.
    pub store: Arc<dyn Store>,
    /// The audit trail.
    pub audit: Arc<dyn AuditTrail>,
    /// Delivery state (inbox, holds, parked messages).
    pub state: Arc<dyn DeliveryState>,
    /// The API's own store (idempotency, index, feed, webhooks).
    pub api_store: Arc<dyn ApiStore>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The delivery runtimes, by adapter name.
    pub runtimes: BTreeMap<String, Arc<DeliveryRuntime>>,
    /// Whether the API demands client certificates.
    pub mutual_tls: bool,
    /// Base URL of the operator listener, e.g. `http://127.0.0.1:9444`.
    pub operator_url: String,
    /// Generated operator tokens, one per role (sandbox without configured operators).
    pub operator_credentials: Vec<OperatorCredential>,
    cancel: CancellationToken,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown_timeout: Duration,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// The registry store, the audit trail, the delivery state and the API's store.
fn load_reference_file(path: &std::path::Path) -> anyhow::Result<ReferenceData> {
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "configuration `reference.file`: cannot read {}",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "configuration `reference.file`: {} is not reference data",
            path.display()
        )
    })
}

/// `host:port` to reach a listener on this machine (an unspecified address as 127.0.0.1).
fn local_authority(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

impl Node {
    /// Starts everything the configuration describes. Returns once the API listens.
    pub async fn start(config: Config) -> anyhow::Result<Node> {
        config.validate()?;
        let cancel = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let metrics = Arc::new(Metrics::new());

        // Registry store, ops and API tables.
        let mut ops_tables = None;
        let (store, audit, state, api_store, reports): Stores = match &config.store {
            StoreSettings::Memory => {
                let (store, audit) = (MemoryStore::new(), Arc::new(MemoryAudit::new()));
                (
                    Arc::new(store.clone()),
                    audit.clone(),
                    Arc::new(MemoryDeliveryState::new()),
                    Arc::new(MemoryApiStore::new()),
                    Reports::new(Arc::new(store), audit),
                )
            }
            StoreSettings::Postgres {
                url,
                max_connections,
                schema,
                person_key_file,
            } => {
                let person_key = crate::config::load_person_key(person_key_file, config.mode)?;
                let budget = ConnectionBudget::split(*max_connections);
                let pool = ops_pool(url, schema.as_deref(), budget.ops)?;
                check_connection_budget(&pool, budget.total()).await?;
                let pg = PgStore::open(&PgStoreConfig {
                    url: url.clone(),
                    schema: schema.clone(),
                    pool_size: budget.registry,
                    person_key,
                })
                .await
                .context("opening the registry store (store.url)")?;
                knooppunt_ops::migrate(&pool)
                    .await
                    .context("ops migrations")?;
                ops_tables = Some(pool.clone());
                knooppunt_api::migrate(&pool)
                    .await
                    .context("api migrations")?;
                let store = Arc::new(BatchingStore::new(Arc::new(pg), BatchingConfig::default()));
                let audit = BatchingAudit::spawn(
                    Arc::new(PgAudit::new(pool.clone())),
                    BatchConfig::default(),
                );
                let state = BatchingDeliveryState::spawn(
                    // Audit rows and inbox marks of a batch in one transaction.
                    Arc::new(PgDeliveryState::new(pool.clone()).with_audit()),
                    StateBatchConfig::default(),
                );
                // The reports read the registry and ops tables (one schema) through this pool.
                let reports = Reports::new(
                    Arc::new(PgDossierReports::new(pool.clone())),
                    Arc::new(PgDeliveryReports::new(pool.clone())),
                );
                (
                    store,
                    Arc::new(audit),
                    Arc::new(state),
                    Arc::new(PgApiStore::new(pool)),
                    reports,
                )
            }
        };

        // Reference data: a file, else what the store holds, else the sandbox sample.
        // Reference data: a file, else what the store holds; the sandbox sample only with the
        // in-memory store, never on PostgreSQL.
        let reference = match &config.reference.file {
            Some(path) => load_reference_file(path)?,
            None => match store.load_reference().await? {
                Some(r) => r,
                None if config.store == StoreSettings::Memory => knooppunt_sample::reference_data(),
                None => anyhow::bail!(
                    "configuration `reference.file`: the store holds no reference data; give a \
                     reference data file (the sandbox's sample data is used with the in-memory \
                     store only)"
                ),
            },
        };
        store.save_reference(&reference).await?;
        let reference = Arc::new(reference);

        let students = if config.seeds_students() {
            seed_students(&*store, &reference, Utc::now()).await?
        } else {
            Vec::new()
        };

        // The bus.
        let transport: Arc<dyn Transport> = match &config.bus {
            BusSettings::Memory => Arc::new(MemoryTransport::new()),
            BusSettings::Amqp { url, ca_file } => {
                let mut amqp = AmqpConfig::new(url.clone());
                if let Some(ca) = ca_file {
                    amqp.tls_ca_pem = Some(
                        std::fs::read_to_string(ca)
                            .with_context(|| format!("bus.ca_file: {}", ca.display()))?,
                    );
                }
                Arc::new(
                    AmqpTransport::connect(amqp)
                        .await
                        .context("connecting to RabbitMQ (bus.url)")?
                        .with_metrics(metrics.clone()),
                )
            }
        };
        let deps = Deps {
            transport: transport.clone(),
            state: state.clone(),
            audit: audit.clone(),
            metrics: metrics.clone(),
            sink: Arc::new(StoreSink::new(store.clone(), reference.clone())),
        };

        // Partners, from the partner list: real endpoints or simulators; a runtime per adapter.
        let context = PartnerContext {
            store: store.clone(),
            reference: reference.clone(),
            audit: audit.clone(),
            metrics: metrics.clone(),
        };
        let mut simulators = BTreeMap::new();
        let mut receivers = BTreeMap::new();
        let mut adapters: Vec<(Arc<dyn Adapter>, DeliveryConfig)> = Vec::new();
        for plugin in partners::all() {
            let partner = plugin.partner();
            let settings = config.partners.get(&partner).cloned().unwrap_or_default();
            let built = plugin
                .build(&context, &settings.plugin_settings())
                .await
                .with_context(|| format!("configuration `partners.{partner}`"))?;
            if let Some(sim) = built.simulator {
                simulators.insert(partner, sim);
            }
            if let Some(receiver) = built.receiver {
                receivers.insert(partner, receiver);
            }
            let delivery = settings.delivery.clone().unwrap_or_default();
            adapters.extend(built.adapters.into_iter().map(|a| (a, delivery.clone())));
        }
        adapters.push((
            Arc::new(FeedAdapter::new(api_store.clone(), reference.clone())),
            config.feed.clone(),
        ));
        let mut runtimes = BTreeMap::new();
        for (adapter, delivery) in adapters {
            let runtime = Arc::new(DeliveryRuntime::new(adapter, delivery, deps.clone())?);
            runtimes.insert(runtime.name().to_owned(), runtime);
        }
        // Runtime controls: the stored operator overrides on top of the configuration.
        let control_store: Arc<dyn knooppunt_ops::ControlStore> = match ops_tables {
            Some(pool) => Arc::new(knooppunt_ops::PgControlStore::new(pool)),
            None => Arc::new(knooppunt_ops::MemoryControlStore::new(audit.clone())),
        };
        let node_controls = Arc::new(controls::NodeControls::new(
            control_store.clone(),
            runtimes.clone(),
        ));
        node_controls
            .refresh()
            .await
            .context("reading the runtime controls")?;
        {
            let (node_controls, cancel) = (node_controls.clone(), cancel.clone());
            tasks.spawn(async move {
                node_controls.poll(cancel).await;
                ("runtime controls poll", Ok(()))
            });
        }
        let queues: Vec<_> = runtimes.values().map(|r| r.queues()).collect();
        transport
            .declare(&Topology::new(DEFAULT_EVENTS_EXCHANGE, &queues)?)
            .await
            .context("declaring the bus topology")?;

        // The relay and the runtimes.
        let relay = Relay::new(store.clone(), transport.clone(), RelayConfig::default())
            .with_metrics(metrics.clone());
        {
            let cancel = cancel.clone();
            tasks.spawn(async move {
                relay.run(cancel).await;
                ("relay", Ok(()))
            });
        }
        for runtime in runtimes.values() {
            let runtime = runtime.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                let r = runtime.run(cancel).await;
                ("delivery runtime", r.map_err(anyhow::Error::from))
            });
        }

        // Clients and tokens.
        let (mut clients, credentials) = if config.clients.is_empty() {
            ClientRegistry::sandbox(&reference)
        } else {
            let mut clients = ClientRegistry::new();
            for (i, c) in config.clients.iter().enumerate() {
                anyhow::ensure!(
                    reference.institution(&c.brin).is_some(),
                    "configuration `clients[{i}].brin`: {} is not an institution in reference data",
                    c.brin
                );
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&c.secret_sha256, &mut hash)
                    .with_context(|| format!("configuration `clients[{i}].secret_sha256`"))?;
                clients.insert_hashed(c.oin.clone(), c.brin.clone(), hash);
            }
            (clients, Vec::new())
        };
        // The besturen read with credentials of their own, like the institutions: configured,
        // or in the sandbox one generated per bestuur of its institutions.
        let bestuur_credentials = if config.clients.is_empty()
            && config.bevoegd_gezag_clients.is_empty()
        {
            clients.sandbox_besturen(&reference)
        } else {
            for (i, c) in config.bevoegd_gezag_clients.iter().enumerate() {
                anyhow::ensure!(
                    reference
                        .institutions
                        .values()
                        .any(|inst| inst.bevoegd_gezag == c.bestuur),
                    "configuration `bevoegd_gezag_clients[{i}].bestuur`: {} is the bevoegd gezag of no institution in reference data",
                    c.bestuur.as_str()
                );
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&c.secret_sha256, &mut hash).with_context(|| {
                    format!("configuration `bevoegd_gezag_clients[{i}].secret_sha256`")
                })?;
                clients.insert_bestuur_hashed(c.oin.clone(), c.bestuur.clone(), hash);
            }
            Vec::new()
        };
        let ttl = Duration::from_secs(config.api.token_ttl_seconds);
        let tokens = match &config.api.token_key_file {
            Some(path) => {
                let key = std::fs::read(path).with_context(|| {
                    format!(
                        "configuration `api.token_key_file`: cannot read {}",
                        path.display()
                    )
                })?;
                TokenIssuer::new(&key, ttl).context("configuration `api.token_key_file`")?
            }
            None => TokenIssuer::random(ttl),
        };

        // TLS.
        let mut pki = None;
        let tls = match &config.api.tls {
            TlsMode::Off | TlsMode::Proxy { .. } => None,
            TlsMode::Files {
                cert,
                key,
                client_ca,
            } => Some(
                knooppunt_api::tls::server_config(&knooppunt_api::tls::TlsSettings {
                    cert_pem_path: cert.clone(),
                    key_pem_path: key.clone(),
                    client_ca_pem_path: client_ca.clone(),
                })
                .context("configuration `api.tls`")?,
            ),
            TlsMode::Sandbox => {
                let mut institutions: Vec<_> = reference
                    .institutions
                    .values()
                    .map(|i| (i.oin.clone(), i.naam.clone()))
                    .collect();
                institutions.extend(bestuur_credentials.iter().filter_map(|b| {
                    let oin = b.client_id.parse().ok()?;
                    Some((oin, format!("Bevoegd gezag {}", b.bestuur)))
                }));
                let files =
                    Pki::write_sandbox(&config.sandbox_dir, &institutions).with_context(|| {
                        format!(
                            "writing the sandbox PKI to {} (sandbox_dir)",
                            config.sandbox_dir.display()
                        )
                    })?;
                let server = knooppunt_api::tls::server_config(&knooppunt_api::tls::TlsSettings {
                    cert_pem_path: files.server_pem.clone(),
                    key_pem_path: files.server_key.clone(),
                    client_ca_pem_path: files.ca_pem.clone(),
                })
                .context("sandbox TLS")?;
                pki = Some(files);
                Some(server)
            }
        };
        // A client certificate is demanded where one can come: the API's own TLS, or a trusted
        // proxy that forwards it.
        let mutual_tls = tls.is_some() || matches!(config.api.tls, TlsMode::Proxy { .. });
        let served_cert = match &config.api.tls {
            TlsMode::Off | TlsMode::Proxy { .. } => None,
            TlsMode::Files { cert, .. } => Some(cert.clone()),
            TlsMode::Sandbox => pki.as_ref().map(|f| f.server_pem.clone()),
        };
        if let Some(cert) = served_cert {
            let not_after = knooppunt_api::tls::server_certificate_not_after(&cert)
                .context("configuration `api.tls`")?;
            metrics.set_certificate_expiry(not_after);
        }

        let mut api_state = ApiState::new(
            store.clone(),
            reference.clone(),
            audit.clone(),
            metrics.clone(),
            Arc::new(clients),
            Arc::new(tokens),
            api_store.clone(),
        );
        api_state.require_client_cert = mutual_tls;
        if let TlsMode::Proxy { proxies, header } = &config.api.tls {
            api_state.trusted_proxy = Some(Arc::new(
                knooppunt_api::proxy::TrustedProxy::new(proxies.clone(), header).map_err(
                    |reason| anyhow::anyhow!("configuration `api.tls.header`: {reason}"),
                )?,
            ));
        }
        let readiness = Arc::new(StoreReadiness::new(store.clone(), metrics.clone()));
        api_state.readiness = readiness.clone();
        let operator_readiness: Arc<dyn Readiness> = readiness.clone();
        {
            let cancel = cancel.clone();
            let sampled: Vec<Arc<DeliveryRuntime>> = runtimes.values().cloned().collect();
            tasks.spawn(async move {
                while !cancel.is_cancelled() {
                    // The outcome is in the metrics; /readyz answers from it.
                    let _ = readiness.probe().await;
                    for runtime in &sampled {
                        runtime.sample_queue_depth().await;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(READINESS_PROBE_EVERY) => {}
                        _ = cancel.cancelled() => {}
                    }
                }
                ("readiness and queue probe", Ok(()))
            });
        }
        api_state.limits = ApiLimits {
            body_limit: config.api.body_limit_bytes,
            request_timeout: Duration::from_secs(config.api.request_timeout_seconds),
            idempotency_retention: Duration::from_secs(
                config.api.idempotency_retention_hours * 3600,
            ),
            ..ApiLimits::default()
        };
        api_state.long_polls = Arc::new(knooppunt_api::limiter::LongPolls::new(
            config.api.max_long_polls_per_client,
        ));
        // Where webhooks may point: public hosts and the allowlist; in the sandbox loopback too.
        let webhook_targets = match config.mode {
            Mode::Production => WebhookTargets::allowing(&config.webhooks.allow_hosts),
            Mode::Sandbox => WebhookTargets::allowing(
                ["localhost", "127.0.0.1", "::1"]
                    .iter()
                    .map(|h| h.to_string())
                    .chain(config.webhooks.allow_hosts.iter().cloned()),
            ),
        };
        api_state.webhook_targets = webhook_targets.clone();
        let retention = api_state.limits.idempotency_retention;
        let api_metrics = api_state.api_metrics.clone();
        let app = knooppunt_api::router(api_state);
        let listener = TcpListener::bind(config.api.listen)
            .await
            .with_context(|| {
                format!(
                    "configuration `api.listen`: cannot listen on {}",
                    config.api.listen
                )
            })?;
        let api_addr = listener.local_addr()?;
        {
            let cancel = cancel.clone();
            let options = knooppunt_api::server::ServeOptions {
                max_connections: config.api.max_connections,
                idle_timeout: Duration::from_secs(config.api.idle_timeout_seconds),
                ..Default::default()
            };
            tasks.spawn(async move {
                let r =
                    knooppunt_api::server::serve_with(listener, app, tls, cancel, options).await;
                ("api", r.map_err(anyhow::Error::from))
            });
        }

        // The operator API, on a listener of its own.
        let (operators, operator_credentials) =
            crate::operator::operators(&config.operator, config.mode)?;
        let operator_state = OperatorState::new(
            state.clone(),
            audit.clone(),
            metrics.clone(),
            api_metrics,
            operator_readiness,
            Arc::new(operators),
            Arc::new(crate::operator::Runtimes(runtimes.clone())),
            cancel.clone(),
        )
        .with_levels(store.clone(), reference.clone())
        .with_reports(reports)
        .with_controls(
            knooppunt_ops::RuntimeControls::new(control_store),
            Arc::new(controls::Gates(node_controls)),
        );
        let (operator_addr, operator_tls, operator_api) =
            crate::operator::listen(&config.operator, operator_state).await?;
        tasks.spawn(async move {
            let r = operator_api.await;
            ("operator api", r.map_err(anyhow::Error::from))
        });

        // Expired idempotency records.
        {
            let (store, cancel) = (api_store.clone(), cancel.clone());
            tasks.spawn(async move {
                knooppunt_api::housekeeping::run_idempotency_purge(
                    store,
                    retention,
                    knooppunt_api::housekeeping::PURGE_EVERY,
                    cancel,
                )
                .await;
                ("idempotency purge", Ok(()))
            });
        }

        // Webhook push.
        let dispatcher = WebhookDispatcher::new(
            api_store.clone(),
            WebhookConfig {
                min_delay: Duration::from_millis(config.webhooks.retry_base_ms),
                max_delay: Duration::from_millis(config.webhooks.retry_max_ms),
                request_timeout: Duration::from_millis(config.webhooks.timeout_ms),
                targets: webhook_targets,
                ..WebhookConfig::default()
            },
        )
        .context("webhook HTTP client")?;
        {
            let cancel = cancel.clone();
            tasks.spawn(async move {
                dispatcher.run(cancel).await;
                ("webhooks", Ok(()))
            });
        }

        let scheme = if mutual_tls { "https" } else { "http" };
        Ok(Node {
            api_url: format!("{scheme}://{}", local_authority(api_addr)),
            operator_url: format!(
                "{}://{}",
                if operator_tls { "https" } else { "http" },
                local_authority(operator_addr)
            ),
            operator_credentials,
            api_addr,
            credentials,
            bestuur_credentials,
            pki,
            students,
            simulators,
            receivers,
            reference,
            store,
            audit,
            state,
            api_store,
            metrics,
            runtimes,
            mutual_tls,
            cancel,
            tasks,
            shutdown_timeout: Duration::from_secs(config.shutdown_timeout_seconds),
        })
    }

    /// Waits until a task ends by itself (an error) or `stop` fires, then shuts down.
    pub async fn run_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let outcome = tokio::select! {
            _ = stop => Ok(()),
            ended = self.tasks.join_next() => match ended {
                Some(Ok((what, Err(e)))) => Err(e.context(format!("{what} stopped"))),
                Some(Ok((what, Ok(())))) => Err(anyhow::anyhow!("{what} stopped unexpectedly")),
                Some(Err(e)) => Err(anyhow::anyhow!("a task failed: {e}")),
                None => Ok(()),
            },
        };
        self.shutdown().await;
        outcome
    }

    /// Stops taking work (the API listener closes, the relay and the consumers stop), lets
    /// in-flight requests and deliveries finish within `shutdown_timeout_seconds` and stops every
    /// task. What is aborted after that is safe: accepted messages are in the outbox or
    /// unacknowledged on the bus, and are delivered after a restart.
    pub async fn shutdown(mut self) {
        tracing::info!(
            timeout_s = self.shutdown_timeout.as_secs(),
            "shutdown: draining"
        );
        self.cancel.cancel();
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                timeout_s = self.shutdown_timeout.as_secs(),
                "shutdown: tasks still running after the timeout; aborting them"
            );
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        } else {
            tracing::info!("shutdown: drained");
        }
        for (_, sim) in std::mem::take(&mut self.simulators) {
            sim.shutdown().await;
        }
        for (_, receiver) in std::mem::take(&mut self.receivers) {
            receiver.shutdown().await;
        }
    }

    /// The sandbox certificate files of the institution with this OIN (client id).
    pub fn client_files(&self, oin: &str) -> Option<&ClientFiles> {
        self.pki
            .as_ref()?
            .clients
            .iter()
            .find(|c| c.oin.as_str() == oin)
    }
}

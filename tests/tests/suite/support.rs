//! What the end-to-end suites share: a whole node (`serve::Node`) on the sandbox (in-memory
//! store and bus) or on PostgreSQL + RabbitMQ in a schema and vhost of its own, with delays
//! shortened through configuration, and what must outlive it.

use std::time::Duration;

use knooppunt_bus::delivery::DeliveryConfig;
use knooppunt_gateway::config::{BusSettings, Config, PartnerSettings, StoreSettings};
use knooppunt_gateway::serve::Node;
use knooppunt_tests::{TestSchema, TestVhost};
use uuid::Uuid;

/// The running node and what must outlive it (schema, vhost, PKI directory).
pub struct Harness {
    pub node: Node,
    pub dir: std::path::PathBuf,
    /// An HTTP client for the simulators' test endpoints.
    pub http: reqwest::Client,
    /// The configuration the node was started with.
    pub config: Config,
    _schema: Option<TestSchema>,
    _vhost: Option<TestVhost>,
}

impl Harness {
    pub async fn stop(self) {
        self.node.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Shuts the node down and starts a new one with the same configuration (on PostgreSQL and
    /// RabbitMQ: the same schema and vhost, so what was stored survives).
    pub async fn restart(self) -> Harness {
        self.node.shutdown().await;
        let node = Node::start(self.config.clone()).await.unwrap();
        Harness {
            node,
            dir: self.dir,
            http: self.http,
            config: self.config,
            _schema: self._schema,
            _vhost: self._vhost,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sandbox,
    Real,
}

/// Starts a node on `backend` (`prefix` names its schema, vhost and directory), every partner of
/// the list simulated with 20–50 ms immediate retries and tiers of 100–600 ms; `adjust` is
/// applied to the configuration last. On PostgreSQL, as in production: no sample students (DUO
/// delivers the personalia) and the reference data from a file, never the sandbox's fallback.
pub async fn start_node(
    prefix: &str,
    backend: Backend,
    adjust: impl FnOnce(&mut Config),
) -> Harness {
    let dir = std::env::temp_dir().join(format!("kp-{prefix}-{}", Uuid::new_v4().simple()));
    let mut config = Config::default();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.operator.listen = "127.0.0.1:0".parse().unwrap();
    config.sandbox_dir = dir.clone();
    let mut delivery = DeliveryConfig {
        tiers_ms: vec![100, 200, 300, 400, 500, 600],
        ..DeliveryConfig::default()
    };
    delivery.immediate.base_ms = 20;
    delivery.immediate.max_ms = 50;
    delivery.breaker.cool_down_ms = 200;
    for partner in knooppunt_adapters::partners::supported() {
        config.partners.insert(
            partner,
            PartnerSettings {
                delivery: Some(delivery.clone()),
                timeout_ms: Some(2_000),
                ..PartnerSettings::default()
            },
        );
    }
    config.feed = delivery;
    let (schema, vhost) = match backend {
        Backend::Sandbox => (None, None),
        Backend::Real => {
            let schema = TestSchema::create(prefix).await.unwrap();
            let vhost = TestVhost::create(prefix).unwrap();
            config.store = StoreSettings::Postgres {
                url: knooppunt_tests::database_url(),
                max_connections: 40,
                schema: Some(schema.name().to_owned()),
                person_key_file: person_key_file(&dir),
            };
            config.bus = BusSettings::Amqp {
                url: vhost.url().to_owned(),
                ca_file: None,
            };
            config.seed_students = Some(false);
            config.reference.file = Some(reference_file(&dir));
            (Some(schema), Some(vhost))
        }
    };
    adjust(&mut config);
    let node = Node::start(config.clone()).await.unwrap();
    Harness {
        node,
        config,
        dir,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        _schema: schema,
        _vhost: vhost,
    }
}

/// A new random person key as a file in `dir` (the first call makes it; a later one, for a
/// node restarted on the same schema, finds it).
pub fn person_key_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("person.key");
    if !file.exists() {
        knooppunt_gateway::config::write_person_key(&file).unwrap();
    }
    file
}

/// The sample reference data as a JSON file in `dir`.
pub fn reference_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("reference.json");
    let json = serde_json::to_vec(&knooppunt_sample::reference_data()).unwrap();
    std::fs::write(&file, json).unwrap();
    file
}

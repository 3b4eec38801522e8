//! Configuration of `knooppunt serve`: a TOML file plus environment variables (figment).
//!
//! Every field has a default, and the defaults are the sandbox: in-memory store and bus, every
//! partner simulated, sample reference data, a generated PKI. `docs/configuration.md` documents
//! each field and `docs/knooppunt.example.toml` is a complete production-shaped example.
//!
//! Sources, later ones win: the built-in defaults, the TOML file (`--config` or
//! `KNOOPPUNT_CONFIG`), then environment variables `KNOOPPUNT_<SECTION>__<FIELD>` (double
//! underscore between levels), e.g. `KNOOPPUNT_STORE__URL` or `KNOOPPUNT_API__LISTEN`.
//!
//! A wrong value is reported with its dotted name and the reason ([`ConfigError`]); nothing
//! starts with a configuration that does not validate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use knooppunt_adapters::partners;
use knooppunt_adapters::sim::SimFaults;
use knooppunt_registry::ids::{Brin, Oin, OnderwijsbestuurCode};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::pseudonym::PersonKey;
use serde::{Deserialize, Serialize};

use knooppunt_bus::delivery::DeliveryConfig;

pub use crate::operator::{OperatorEntry, OperatorSettings, OperatorTls};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sandbox` or `production`. A configuration file must say which; without one the node is
    /// the sandbox. In production every sandbox piece is a start-up error naming its field.
    pub mode: Mode,
    /// The HTTP edge.
    pub api: ApiSettings,
    /// The registry store.
    pub store: StoreSettings,
    /// The message bus.
    pub bus: BusSettings,
    /// Reference data (institutions, opleidingen, VO schools, municipalities).
    pub reference: ReferenceSettings,
    /// The institutions' OAuth2 clients. Empty: sandbox credentials are generated and printed.
    pub clients: Vec<ClientSettings>,
    /// The OAuth2 clients of besturen (bevoegd gezag), which read students only. Empty with
    /// empty `clients`: the sandbox generates one per bestuur of its institutions.
    pub bevoegd_gezag_clients: Vec<BestuurClientSettings>,
    /// The partners by name, one of the partner list's (`knooppunt_adapters::partners::all`):
    /// today `koppelpunt`, `intergrip`, `digidoor`, `voroc`, `gemeenten`, `duo`. A partner without an
    /// entry (or without `endpoint`) is served by its simulator.
    pub partners: BTreeMap<Partner, PartnerSettings>,
    /// Delivery settings of the institution feed projection.
    pub feed: DeliveryConfig,
    /// Webhook push to institutions.
    pub webhooks: WebhookSettings,
    /// The operator API (its own listener) and the operators.
    pub operator: OperatorSettings,
    /// Where the sandbox writes its generated PKI and credentials.
    pub sandbox_dir: PathBuf,
    /// Seed sample students (with DUO personalia) into the registry at start; on by default
    /// only for the in-memory store.
    pub seed_students: Option<bool>,
    /// On SIGTERM or Ctrl-C: how long in-flight requests and deliveries may take to finish
    /// before the rest is aborted (and redelivered by the bus), in seconds (1–600).
    pub shutdown_timeout_seconds: u64,
}

/// What a node may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Sandbox pieces are allowed: the in-memory store and bus, sample data, in-process
    /// simulators for partners without an endpoint, generated credentials and PKI.
    #[default]
    Sandbox,
    /// None of them: PostgreSQL, RabbitMQ, configured clients, TLS from files (or plain HTTP on
    /// loopback), an `https` endpoint for every partner.
    Production,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Sandbox,
            api: ApiSettings::default(),
            store: StoreSettings::default(),
            bus: BusSettings::default(),
            reference: ReferenceSettings::default(),
            clients: Vec::new(),
            bevoegd_gezag_clients: Vec::new(),
            partners: BTreeMap::new(),
            feed: DeliveryConfig::default(),
            webhooks: WebhookSettings::default(),
            operator: OperatorSettings::default(),
            sandbox_dir: std::env::temp_dir().join("knooppunt-sandbox"),
            seed_students: None,
            shutdown_timeout_seconds: 30,
        }
    }
}

/// The HTTP edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// TLS: the sandbox PKI (default), certificate files, or off (plain HTTP, tokens only).
    pub tls: TlsMode,
    /// Lifetime of an access token, in seconds (30–3600).
    pub token_ttl_seconds: u64,
    /// File with the key that signs access tokens (at least 32 bytes). Absent: a random key per
    /// start (tokens do not survive a restart, and several instances cannot share tokens).
    pub token_key_file: Option<PathBuf>,
    /// Largest request body, in bytes (1 KiB – 16 MiB).
    pub body_limit_bytes: usize,
    /// A request taking longer is answered 503 (seconds, 1–300).
    pub request_timeout_seconds: u64,
    /// How long an idempotency record is kept at least (hours, 1–720); older ones are purged.
    pub idempotency_retention_hours: u64,
    /// Feed long-polls (`wacht`) one client may have running at once (1–100); another is
    /// answered 429.
    pub max_long_polls_per_client: usize,
    /// Connections served at once (1–100000); at the cap new ones wait in the listen backlog.
    pub max_connections: usize,
    /// A connection with no request in flight for this long is closed (HTTP/1.1 keep-alive,
    /// HTTP/2), in seconds (1–3600).
    pub idle_timeout_seconds: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls: TlsMode::default(),
            token_ttl_seconds: 300,
            token_key_file: None,
            body_limit_bytes: 64 * 1024,
            request_timeout_seconds: 30,
            idempotency_retention_hours: 24,
            max_long_polls_per_client: 4,
            max_connections: knooppunt_api::server::MAX_CONNECTIONS,
            idle_timeout_seconds: knooppunt_api::server::IDLE_TIMEOUT.as_secs(),
        }
    }
}

/// How the API listener does TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum TlsMode {
    /// Generate a CA, a server certificate and a client certificate per institution into
    /// `sandbox_dir`; mutual TLS is required for the API.
    #[default]
    Sandbox,
    /// PEM files: the server's certificate chain and key, and the CA that signs institutions'
    /// client certificates (PKIoverheid). Mutual TLS is required for the API.
    Files {
        /// Server certificate chain (PEM).
        cert: PathBuf,
        /// Server private key (PEM).
        key: PathBuf,
        /// CA certificates that sign client certificates (PEM).
        client_ca: PathBuf,
    },
    /// Plain HTTP, OAuth2 tokens only, no client certificate: for load tests and local tools
    /// on loopback (production refuses it on any other address).
    Off,
    /// Plain HTTP behind a TLS-terminating proxy that verifies the institutions' client
    /// certificates and forwards the certificate in `header` (URL-encoded PEM, nginx's
    /// `$ssl_client_escaped_cert`). The header is taken only from `proxies`; the
    /// certificate–OIN check applies as with `files`.
    Proxy {
        /// The proxies' IP addresses (the connection's peer).
        proxies: Vec<std::net::IpAddr>,
        /// The header with the certificate.
        #[serde(default = "default_proxy_header")]
        header: String,
    },
}

fn default_proxy_header() -> String {
    knooppunt_api::proxy::DEFAULT_HEADER.to_owned()
}

/// The registry store.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreSettings {
    /// In memory: the sandbox; everything is gone at exit.
    #[default]
    Memory,
    /// PostgreSQL (the production path).
    Postgres {
        /// Connection URL, e.g. `postgres://knooppunt@db/knooppunt`.
        url: String,
        /// The node's whole budget of PostgreSQL connections (10–1000): its two pools and the
        /// connections it holds (the relay's lanes, the API's instance lock) together.
        /// Checked against the server's `max_connections` at start.
        #[serde(default = "default_max_connections")]
        max_connections: usize,
        /// Schema to use (default: the connection's search path).
        #[serde(default)]
        schema: Option<String>,
        /// The secret key (at least 32 random bytes, e.g. `openssl rand -out FILE 32`) under
        /// which the person index keys its fingerprints of BSNs and onderwijsnummers
        /// (`registry/src/pseudonym.rs`). The database remembers the key's id and refuses
        /// another; keep the file with the database's backups. Production refuses a file that
        /// others than its owner may read.
        person_key_file: PathBuf,
    },
}

/// Reads the person key at `path` (`store.person_key_file`). In production the file must be
/// readable by its owner only (mode `0600` or `0400`).
pub fn load_person_key(path: &Path, mode: Mode) -> Result<PersonKey, ConfigError> {
    const FIELD: &str = "store.person_key_file";
    if mode == Mode::Production {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| invalid(FIELD, format!("{}: {e}", path.display())))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(invalid(
                    FIELD,
                    format!(
                        "{} may be read by others than its owner: chmod 600 it",
                        path.display()
                    ),
                ));
            }
        }
    }
    PersonKey::from_file(path).map_err(|e| invalid(FIELD, format!("{}: {e}", path.display())))
}

/// Writes a new random person key to `path`, readable by its owner only (mode 0600). Refuses
/// to overwrite an existing file: replacing the key of a populated database orphans its index.
pub fn write_person_key(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(&knooppunt_registry::pseudonym::random_key_bytes())?;
    file.sync_all()
}

fn default_max_connections() -> usize {
    64
}

/// The message bus.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BusSettings {
    /// In memory: the sandbox.
    #[default]
    Memory,
    /// RabbitMQ (the production path).
    Amqp {
        /// AMQP URL with its vhost, e.g. `amqps://knooppunt:…@mq:5671/knooppunt`.
        url: String,
        /// PEM file of the CA certificates that may vouch for the broker's certificate over
        /// `amqps://`, besides the system's roots (a broker with a private CA's certificate).
        #[serde(default)]
        ca_file: Option<PathBuf>,
    },
}

/// Where reference data comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferenceSettings {
    /// A JSON file in the shape of `ReferenceData`. Absent: what the store holds, else the
    /// sample reference data of the sandbox.
    pub file: Option<PathBuf>,
}

/// One institution's OAuth2 client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The institution's OIN: the client id, and the serialNumber of its certificate.
    pub oin: Oin,
    /// The institution's BRIN (must be in reference data).
    pub brin: Brin,
    /// SHA-256 of the client secret, 64 hex digits (`printf %s "$SECRET" | sha256sum`).
    pub secret_sha256: String,
}

/// One bevoegd gezag's OAuth2 client (`[[bevoegd_gezag_clients]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestuurClientSettings {
    /// The bestuur's OIN: the client id, and the serialNumber of its certificate.
    pub oin: Oin,
    /// Its RIO onderwijsbestuurcode, e.g. `100B490`; the bevoegd gezag of an institution in
    /// reference data.
    pub bestuur: OnderwijsbestuurCode,
    /// SHA-256 of the client secret, 64 hex digits (`printf %s "$SECRET" | sha256sum`).
    pub secret_sha256: String,
}

/// One partner (`[partners.<name>]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerSettings {
    /// The partner's base URL. Absent: its simulator runs in-process on a loopback port.
    pub endpoint: Option<String>,
    /// Faults the simulator injects (only without `endpoint`).
    pub faults: SimFaults,
    /// Timeout of one attempt, in milliseconds (100–120000).
    pub timeout_ms: Option<u64>,
    /// Retries, tiers, breaker, rate limit, maintenance windows, shadow mode.
    pub delivery: Option<DeliveryConfig>,
    /// For a partner that pushes to Knooppunt (DUO's mutation notifications): where its
    /// receiver listens. Absent: a free loopback port.
    pub receiver_listen: Option<SocketAddr>,
    /// The receiver's URL as the partner must call it (e.g. behind the Digikoppeling gateway).
    /// Absent: the listener's own `http://` URL.
    pub receiver_url: Option<String>,
    /// In production, allow an `http://` endpoint and receiver URL for this partner (a local
    /// gateway that encrypts the hop, such as a Digikoppeling adapter). Default: off.
    pub allow_plain_http: bool,
    /// The secret the partner signs its pushes with (the signing provider's postbacks: HMAC-SHA256
    /// over the body). Required with a configured `endpoint` for a partner that needs one;
    /// absent with a simulator: a random secret shared with the simulator.
    pub receiver_secret: Option<partners::Secret>,
    /// For a partner Knooppunt also polls (the signing provider): milliseconds after the last
    /// news about a transaction before Knooppunt asks the partner (default 900000, 15 minutes).
    pub poll_after_ms: Option<u64>,
    /// TLS towards `endpoint`: `ca_file` (the CAs to trust instead of the public roots),
    /// `client_cert` and `client_key` (Knooppunt's PKIoverheid certificate for this partner).
    pub tls: partners::ClientTls,
}

impl PartnerSettings {
    /// What the partner's entry in the partner list builds from.
    pub fn plugin_settings(&self) -> partners::Settings {
        partners::Settings {
            endpoint: self.endpoint.clone(),
            timeout: self.timeout_ms.map(std::time::Duration::from_millis),
            faults: self.faults.clone(),
            receiver_listen: self.receiver_listen,
            receiver_url: self.receiver_url.clone(),
            receiver_secret: self.receiver_secret.clone(),
            poll_after: self.poll_after_ms.map(std::time::Duration::from_millis),
            tls: self.tls.clone(),
        }
    }
}

/// Webhook push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// First retry delay after a failed push, in milliseconds.
    pub retry_base_ms: u64,
    /// Largest retry delay, in milliseconds.
    pub retry_max_ms: u64,
    /// Timeout of one push, in milliseconds.
    pub timeout_ms: u64,
    /// Hosts (names or IP addresses) a webhook may point at although they are not public, and
    /// with `http`. Everything else must be `https` to a host that resolves only to public
    /// addresses. The sandbox allows loopback besides.
    pub allow_hosts: Vec<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            timeout_ms: 10_000,
            allow_hosts: Vec::new(),
        }
    }
}

/// A configuration value that cannot be used: its dotted name and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is wrong.
    #[error("configuration `{field}`: {reason}")]
    Invalid {
        /// Dotted name, e.g. `api.token_ttl_seconds`.
        field: String,
        /// Why.
        reason: String,
    },
    /// The file or an environment variable could not be read or has the wrong shape.
    #[error("configuration: {0}")]
    Source(String),
}

/// Whether an `amqp://user:pass@host:port/vhost` URL's host is this machine.
fn amqp_host_is_local(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Turns figment's error (which names the key and the expected type) into a [`ConfigError`],
/// one line per problem, with the dotted key first.
fn from_figment(e: figment::Error) -> ConfigError {
    let lines: Vec<String> = e
        .into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| format!(" (from {s})"))
                .unwrap_or_default();
            let kind = e.kind.to_string();
            if path.is_empty() {
                format!("{kind}{source}")
            } else {
                format!("`{path}`: {kind}{source}")
            }
        })
        .collect();
    ConfigError::Source(lines.join("; "))
}

impl Config {
    /// Loads defaults, then `file` (if any), then `KNOOPPUNT_*` environment variables, and
    /// validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("KNOOPPUNT_").split("__"))
    }

    /// As [`Config::load`] with an explicit environment provider (tests).
    pub fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(invalid(
                    "--config",
                    format!("no such file: {}", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // KNOOPPUNT_CONFIG names the file and KNOOPPUNT_LOG the log filter; they are not fields.
        let env = env.ignore(&["config", "log", "log_format"]);
        // A configuration file says which mode it is: the sandbox's pieces are never the
        // silent default of a file meant for production.
        if let Some(path) = file {
            let said = Figment::from(Toml::file_exact(path)).merge(env.clone());
            if said.find_value("mode").is_err() {
                return Err(invalid(
                    "mode",
                    "a configuration file must say `mode = \"production\"` (or `\"sandbox\"` to \
                     allow in-memory stores, sample data, simulators and generated credentials)",
                ));
            }
        }
        let figment = figment.merge(env);
        let config: Config = figment.extract().map_err(from_figment)?;
        config.validate()?;
        Ok(config)
    }

    /// In production: refuses every sandbox piece, naming its field.
    fn validate_production(&self) -> Result<(), ConfigError> {
        if self.store == StoreSettings::Memory {
            return Err(invalid(
                "store.kind",
                "production keeps the registry in PostgreSQL (`postgres`); `memory` is the sandbox's",
            ));
        }
        if self.bus == BusSettings::Memory {
            return Err(invalid(
                "bus.kind",
                "production uses RabbitMQ (`amqp`); `memory` is the sandbox's",
            ));
        }
        if let BusSettings::Amqp { url, .. } = &self.bus
            && url.starts_with("amqp://")
            && !amqp_host_is_local(url)
        {
            return Err(invalid(
                "bus.url",
                "production reaches a RabbitMQ broker on another host over TLS: use amqps://",
            ));
        }
        if self.clients.is_empty() {
            return Err(invalid(
                "clients",
                "production needs the institutions' OAuth2 clients; without them the sandbox \
                 generates secrets and prints them",
            ));
        }
        match &self.api.tls {
            TlsMode::Sandbox => {
                return Err(invalid(
                    "api.tls",
                    "the generated sandbox PKI is not for production: `mode = \"files\"` with \
                     the server's certificate and the CA of the institutions' certificates",
                ));
            }
            TlsMode::Proxy { .. } => {}
            TlsMode::Off if !self.api.listen.ip().is_loopback() => {
                return Err(invalid(
                    "api.tls",
                    format!(
                        "plain HTTP only on a loopback address (api.listen is {}): institutions' \
                         credentials and students' data never cross a network in plain text",
                        self.api.listen
                    ),
                ));
            }
            _ => {}
        }
        if self.operator.tls == OperatorTls::Off && !self.operator.listen.ip().is_loopback() {
            return Err(invalid(
                "operator.tls",
                format!(
                    "plain HTTP only on a loopback address (operator.listen is {}): operator \
                     tokens never cross a network in plain text; give `mode = \"files\"` with \
                     the server's certificate and key",
                    self.operator.listen
                ),
            ));
        }
        if self.seed_students == Some(true) {
            return Err(invalid(
                "seed_students",
                "sample students are the sandbox's; personal data comes from DUO",
            ));
        }
        for partner in partners::supported() {
            let settings = self.partners.get(&partner);
            let Some(endpoint) = settings.and_then(|p| p.endpoint.as_deref()) else {
                return Err(invalid(
                    format!("partners.{partner}.endpoint"),
                    "production needs the partner's endpoint; without one an in-process \
                     simulator would stand in for it",
                ));
            };
            let allow_http = settings.is_some_and(|p| p.allow_plain_http);
            if endpoint.starts_with("http://") && !allow_http {
                return Err(invalid(
                    format!("partners.{partner}.endpoint"),
                    "must be https in production (set `allow_plain_http = true` only for a \
                     partner reached through a local gateway that encrypts)",
                ));
            }
            if let Some(url) = settings.and_then(|p| p.receiver_url.as_deref())
                && url.starts_with("http://")
                && !allow_http
            {
                return Err(invalid(
                    format!("partners.{partner}.receiver_url"),
                    "must be https in production: the partner sends personal data to it",
                ));
            }
        }
        Ok(())
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mode == Mode::Production {
            self.validate_production()?;
        }
        if !(1..=600).contains(&self.shutdown_timeout_seconds) {
            return Err(invalid(
                "shutdown_timeout_seconds",
                "must be between 1 and 600",
            ));
        }
        let api = &self.api;
        if !(30..=3600).contains(&api.token_ttl_seconds) {
            return Err(invalid(
                "api.token_ttl_seconds",
                "must be between 30 and 3600",
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&api.body_limit_bytes) {
            return Err(invalid(
                "api.body_limit_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if !(1..=300).contains(&api.request_timeout_seconds) {
            return Err(invalid(
                "api.request_timeout_seconds",
                "must be between 1 and 300",
            ));
        }
        if !(1..=100_000).contains(&api.max_connections) {
            return Err(invalid(
                "api.max_connections",
                "must be between 1 and 100000",
            ));
        }
        if !(1..=3600).contains(&api.idle_timeout_seconds) {
            return Err(invalid(
                "api.idle_timeout_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !(1..=100).contains(&api.max_long_polls_per_client) {
            return Err(invalid(
                "api.max_long_polls_per_client",
                "must be between 1 and 100",
            ));
        }
        if !(1..=720).contains(&api.idempotency_retention_hours) {
            return Err(invalid(
                "api.idempotency_retention_hours",
                "must be between 1 and 720",
            ));
        }
        if let Some(path) = &api.token_key_file
            && !path.is_file()
        {
            return Err(invalid(
                "api.token_key_file",
                format!("no such file: {}", path.display()),
            ));
        }
        if let TlsMode::Files {
            cert,
            key,
            client_ca,
        } = &api.tls
        {
            for (name, path) in [
                ("api.tls.cert", cert),
                ("api.tls.key", key),
                ("api.tls.client_ca", client_ca),
            ] {
                if !path.is_file() {
                    return Err(invalid(name, format!("no such file: {}", path.display())));
                }
            }
        }
        if let TlsMode::Proxy { proxies, header } = &api.tls {
            if proxies.is_empty() {
                return Err(invalid(
                    "api.tls.proxies",
                    "name the address of every TLS-terminating proxy; a certificate header from \
                     anywhere else is ignored",
                ));
            }
            knooppunt_api::proxy::TrustedProxy::new(proxies.clone(), header)
                .map_err(|reason| invalid("api.tls.header", reason))?;
        }
        match &self.store {
            StoreSettings::Memory => {}
            StoreSettings::Postgres {
                url,
                max_connections,
                schema,
                ..
            } => {
                // Parsed once: the URL, its TLS settings (the CA file is read) and, in
                // production, whether a plain connection would cross a network.
                match knooppunt_registry::store::pg_config(url, None) {
                    Ok(pg) => {
                        if self.mode == Mode::Production && !pg.uses_tls() && !pg.is_local() {
                            return Err(invalid(
                                "store.url",
                                "production reaches a PostgreSQL server on another host over \
                                 TLS: add `?sslmode=verify-full&sslrootcert=/path/to/ca.pem`",
                            ));
                        }
                    }
                    Err(knooppunt_registry::store::PgPoolError::Tls { param, reason }) => {
                        return Err(invalid(format!("store.url ({param})"), reason));
                    }
                    Err(_) => {
                        return Err(invalid(
                            "store.url",
                            "not a PostgreSQL connection URL (postgres://user@host:port/db)",
                        ));
                    }
                }
                if !(10..=1000).contains(max_connections) {
                    return Err(invalid(
                        "store.max_connections",
                        "must be between 10 and 1000",
                    ));
                }
                if let Some(s) = schema
                    && !knooppunt_registry::store::valid_schema_name(s)
                {
                    return Err(invalid(
                        "store.schema",
                        "must be 1–63 characters of a–z, 0–9 and _, not starting with a digit",
                    ));
                }
            }
        }
        if let BusSettings::Amqp { url, ca_file } = &self.bus {
            if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                return Err(invalid("bus.url", "must start with amqp:// or amqps://"));
            }
            if let Some(ca) = ca_file {
                if !url.starts_with("amqps://") {
                    return Err(invalid(
                        "bus.ca_file",
                        "a CA for the broker's certificate needs an amqps:// bus.url",
                    ));
                }
                if !ca.is_file() {
                    return Err(invalid(
                        "bus.ca_file",
                        format!("no such file: {}", ca.display()),
                    ));
                }
            }
        }
        let supported = partners::supported();
        for (name, p) in &self.partners {
            if !supported.contains(name) {
                let list: Vec<_> = supported.iter().map(|p| p.as_str()).collect();
                return Err(invalid(
                    format!("partners.{name}"),
                    format!(
                        "no adapter for this partner yet; configurable: {}",
                        list.join(", ")
                    ),
                ));
            }
            if let Some(endpoint) = &p.endpoint
                && !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
            {
                return Err(invalid(
                    format!("partners.{name}.endpoint"),
                    "must be an http(s) URL",
                ));
            }
            if let Some(url) = &p.receiver_url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(invalid(
                    format!("partners.{name}.receiver_url"),
                    "must be an http(s) URL",
                ));
            }
            if let Some(t) = p.timeout_ms
                && !(100..=120_000).contains(&t)
            {
                return Err(invalid(
                    format!("partners.{name}.timeout_ms"),
                    "must be between 100 and 120000",
                ));
            }
            if let Some(t) = p.poll_after_ms
                && !(10..=86_400_000).contains(&t)
            {
                return Err(invalid(
                    format!("partners.{name}.poll_after_ms"),
                    "must be between 10 and 86400000 (one day)",
                ));
            }
            if let Some(d) = &p.delivery {
                d.validate()
                    .map_err(|e| invalid(format!("partners.{name}.delivery"), e.to_string()))?;
            }
        }
        self.feed
            .validate()
            .map_err(|e| invalid("feed", e.to_string()))?;
        for (i, c) in self.clients.iter().enumerate() {
            if c.secret_sha256.len() != 64
                || !c.secret_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(invalid(
                    format!("clients[{i}].secret_sha256"),
                    "must be 64 hex digits (the SHA-256 of the secret)",
                ));
            }
            // An institution's OIN is derived from its BRIN (00000007000 + BRIN + 00000): a
            // client whose OIN is another's would act for the wrong institution.
            let expected = c.brin.oin();
            if c.oin != expected {
                return Err(invalid(
                    format!("clients[{i}].oin"),
                    format!(
                        "is not the OIN of BRIN {} (that is {})",
                        c.brin.instelling(),
                        expected.as_str()
                    ),
                ));
            }
        }
        for (i, c) in self.bevoegd_gezag_clients.iter().enumerate() {
            if c.secret_sha256.len() != 64
                || !c.secret_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(invalid(
                    format!("bevoegd_gezag_clients[{i}].secret_sha256"),
                    "must be 64 hex digits (the SHA-256 of the secret)",
                ));
            }
            let taken = self.clients.iter().any(|k| k.oin == c.oin)
                || self.bevoegd_gezag_clients[..i]
                    .iter()
                    .any(|k| k.oin == c.oin);
            if taken {
                return Err(invalid(
                    format!("bevoegd_gezag_clients[{i}].oin"),
                    "is the OIN of another client",
                ));
            }
        }
        self.operator.validate(self.api.listen)?;
        let w = &self.webhooks;
        if w.retry_base_ms == 0 || w.retry_base_ms > w.retry_max_ms {
            return Err(invalid(
                "webhooks.retry_base_ms",
                "must be at least 1 and at most webhooks.retry_max_ms",
            ));
        }
        if !(100..=120_000).contains(&w.timeout_ms) {
            return Err(invalid(
                "webhooks.timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        Ok(())
    }

    /// True when this is the all-in-memory sandbox.
    pub fn is_sandbox(&self) -> bool {
        self.store == StoreSettings::Memory && self.bus == BusSettings::Memory
    }

    /// Whether to seed sample students.
    pub fn seeds_students(&self) -> bool {
        self.seed_students
            .unwrap_or(self.store == StoreSettings::Memory)
    }
}

#[cfg(test)]
mod tests;

//! The operator API in a node: its configuration (`[operator]`), the bridge from the API's
//! [`Redelivery`] to the node's delivery runtimes, and the listener.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
pub use knooppunt_api::operator::{OperatorCredential, Role};
use knooppunt_api::operator::{OperatorRegistry, OperatorState, Redelivery};
use knooppunt_bus::delivery::DeliveryRuntime;
use knooppunt_ops::{Discarded, ParkedMessage};
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Mode};

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The operator API (`[operator]`): a listener of its own, and who may use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorSettings {
    /// Address to listen on (default `127.0.0.1:9444`).
    pub listen: SocketAddr,
    /// TLS: off (plain HTTP; in production on loopback only) or certificate files.
    pub tls: OperatorTls,
    /// The operators. Empty in the sandbox: a token per role is generated and printed. Empty in
    /// production: every operator call is refused (and a warning logged at start).
    pub operators: Vec<OperatorEntry>,
}

impl Default for OperatorSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9444)),
            tls: OperatorTls::Off,
            operators: Vec::new(),
        }
    }
}

/// How the operator listener does TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum OperatorTls {
    /// Plain HTTP: on loopback (or behind a TLS-terminating proxy on the same host).
    #[default]
    Off,
    /// The server's certificate chain and key (PEM). Operators authenticate with tokens, not
    /// client certificates.
    Files {
        /// Server certificate chain (PEM).
        cert: PathBuf,
        /// Server private key (PEM).
        key: PathBuf,
    },
}

/// One operator (`[[operator.operators]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorEntry {
    /// The name the audit trail records (1–64 of `A–Z a–z 0–9 . _ - @`).
    pub name: String,
    /// `reader` (status, failures, traces), `operator` (also replay and discard) or `admin`.
    pub role: Role,
    /// SHA-256 of the bearer token, 64 hex digits (`printf %s "$TOKEN" | sha256sum`).
    pub token_sha256: String,
}

impl OperatorSettings {
    /// Checks what the types alone cannot (the production rules are in `Config::validate`).
    pub fn validate(&self, api_listen: SocketAddr) -> Result<(), ConfigError> {
        let op = self;
        if op.listen == api_listen && op.listen.port() != 0 {
            return Err(invalid(
                "operator.listen",
                "must differ from api.listen: the operator API has a listener of its own",
            ));
        }
        if let OperatorTls::Files { cert, key } = &op.tls {
            for (name, path) in [("operator.tls.cert", cert), ("operator.tls.key", key)] {
                if !path.is_file() {
                    return Err(invalid(name, format!("no such file: {}", path.display())));
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        let mut hashes = std::collections::BTreeSet::new();
        for (i, o) in op.operators.iter().enumerate() {
            if !knooppunt_api::operator::auth::valid_operator_name(&o.name) {
                return Err(invalid(
                    format!("operator.operators[{i}].name"),
                    "must be 1–64 characters of A–Z, a–z, 0–9, '.', '_', '-' and '@' (it is \
                     recorded in the audit trail)",
                ));
            }
            if !names.insert(o.name.as_str()) {
                return Err(invalid(
                    format!("operator.operators[{i}].name"),
                    "is given twice",
                ));
            }
            if o.token_sha256.len() != 64 || !o.token_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(invalid(
                    format!("operator.operators[{i}].token_sha256"),
                    "must be 64 hex digits (the SHA-256 of the token)",
                ));
            }
            if !hashes.insert(o.token_sha256.to_ascii_lowercase()) {
                return Err(invalid(
                    format!("operator.operators[{i}].token_sha256"),
                    "is another operator's token: each operator needs a token of their own",
                ));
            }
        }
        Ok(())
    }
}

/// The node's delivery runtimes, for the operator API.
#[derive(Debug)]
pub struct Runtimes(pub BTreeMap<String, Arc<DeliveryRuntime>>);

impl Runtimes {
    fn get(&self, consumer: &str) -> Result<&Arc<DeliveryRuntime>, String> {
        self.0
            .get(consumer)
            .ok_or_else(|| format!("no delivery runtime named {consumer}"))
    }
}

#[async_trait]
impl Redelivery for Runtimes {
    fn consumers(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    async fn republish(&self, parked: &ParkedMessage) -> Result<(), String> {
        self.get(&parked.consumer)?
            .replay(parked)
            .await
            .map_err(|e| e.to_string())
    }

    async fn release(&self, discarded: Discarded) -> Result<(), String> {
        self.get(&discarded.message.consumer)?
            .after_discard(discarded)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The operators from configuration; in the sandbox without any, a generated token per role.
pub fn operators(
    settings: &OperatorSettings,
    mode: Mode,
) -> anyhow::Result<(OperatorRegistry, Vec<OperatorCredential>)> {
    if settings.operators.is_empty() {
        if mode == Mode::Sandbox {
            return Ok(OperatorRegistry::sandbox());
        }
        tracing::warn!(
            "no operators configured (operator.operators): every operator API call is refused"
        );
        return Ok((OperatorRegistry::new(), Vec::new()));
    }
    let mut registry = OperatorRegistry::new();
    for (i, o) in settings.operators.iter().enumerate() {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&o.token_sha256, &mut hash)
            .with_context(|| format!("configuration `operator.operators[{i}].token_sha256`"))?;
        registry.insert_hashed(o.name.clone(), o.role, hash);
    }
    Ok((registry, Vec::new()))
}

/// Binds the operator listener and serves the operator API until `state.shutdown`. Returns the
/// bound address and the serving future.
pub async fn listen(
    settings: &OperatorSettings,
    state: OperatorState,
) -> anyhow::Result<(
    SocketAddr,
    bool,
    impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
)> {
    let tls = match &settings.tls {
        OperatorTls::Off => None,
        OperatorTls::Files { cert, key } => Some(
            knooppunt_api::operator::tls::server_config(cert, key)
                .context("configuration `operator.tls`")?,
        ),
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| {
            format!(
                "configuration `operator.listen`: cannot listen on {}",
                settings.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let shutdown = state.shutdown.clone();
    // The console's session cookie is `Secure` when the listener has TLS.
    let state = state.with_console(knooppunt_api::operator::console::ConsoleSettings {
        secure_cookies: tls.is_some(),
        ..Default::default()
    });
    let app = knooppunt_api::operator::router(state);
    let with_tls = tls.is_some();
    Ok((
        addr,
        with_tls,
        knooppunt_api::server::serve(listener, app, tls, shutdown),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn entry(name: &str, role: Role, hash: &str) -> OperatorEntry {
        OperatorEntry {
            name: name.into(),
            role,
            token_sha256: hash.into(),
        }
    }

    #[test]
    fn operator_settings_are_checked_by_dotted_name() {
        let mut c = Config::default();
        c.validate().unwrap();
        type Break = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Break)> = vec![
            (
                "operator.listen",
                Box::new(|c| c.operator.listen = c.api.listen),
            ),
            (
                "operator.operators[0].name",
                Box::new(|c| {
                    c.operator.operators = vec![entry("Jan Jansen", Role::Reader, &"a".repeat(64))]
                }),
            ),
            (
                "operator.operators[0].token_sha256",
                Box::new(|c| c.operator.operators = vec![entry("jan", Role::Reader, "abc")]),
            ),
            (
                "operator.operators[1].name",
                Box::new(|c| {
                    c.operator.operators = vec![
                        entry("jan", Role::Reader, &"a".repeat(64)),
                        entry("jan", Role::Admin, &"b".repeat(64)),
                    ]
                }),
            ),
            (
                "operator.operators[1].token_sha256",
                Box::new(|c| {
                    c.operator.operators = vec![
                        entry("jan", Role::Reader, &"a".repeat(64)),
                        entry("piet", Role::Admin, &"A".repeat(64)),
                    ]
                }),
            ),
            (
                "operator.tls.cert",
                Box::new(|c| {
                    c.operator.tls = OperatorTls::Files {
                        cert: "/nonexistent/cert.pem".into(),
                        key: "/nonexistent/key.pem".into(),
                    }
                }),
            ),
        ];
        for (field, break_it) in cases {
            c = Config::default();
            break_it(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
        }
    }

    #[test]
    fn the_operator_section_reads_from_toml() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "k.toml",
                &format!(
                    r#"
                    mode = "sandbox"
                    [operator]
                    listen = "127.0.0.1:9555"
                    [[operator.operators]]
                    name = "alice"
                    role = "operator"
                    token_sha256 = "{}"
                    "#,
                    "0f".repeat(32)
                ),
            )?;
            let c =
                Config::load(Some(std::path::Path::new("k.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.operator.listen.port(), 9555);
            assert_eq!(c.operator.operators[0].role, Role::Operator);
            let (registry, generated) =
                operators(&c.operator, c.mode).map_err(|e| e.to_string())?;
            assert_eq!(registry.len(), 1);
            assert!(
                generated.is_empty(),
                "configured operators: no generated tokens"
            );
            jail.create_file(
                "k.toml",
                "mode = \"sandbox\"\n[operator]\nlisten = \"127.0.0.1:9555\"\n[[operator.operators]]\nname = \"a\"\nrole = \"root\"\ntoken_sha256 = \"x\"\n",
            )?;
            let e = Config::load(Some(std::path::Path::new("k.toml")))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("operator.operators") && e.contains("role"),
                "{e}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_sandbox_generates_a_token_per_role() {
        let (registry, generated) = operators(&OperatorSettings::default(), Mode::Sandbox).unwrap();
        let roles: Vec<Role> = generated.iter().map(|c| c.role).collect();
        assert_eq!(roles, Role::ALL);
        for c in &generated {
            assert_eq!(
                registry.authenticate(&c.token).map(|o| o.role),
                Some(c.role)
            );
        }
        let (registry, generated) =
            operators(&OperatorSettings::default(), Mode::Production).unwrap();
        assert!(registry.is_empty() && generated.is_empty());
    }
}

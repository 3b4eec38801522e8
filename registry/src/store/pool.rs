//! The one way the workspace builds a PostgreSQL connection pool (deadpool-postgres).
//!
//! [`pg_pool`] parses the URL, validates the schema name and puts it in every connection's
//! `search_path` (`-c search_path=<schema>` at connect), turns on TCP keepalives, and builds a
//! pool with fast recycling and bounded waits. [`pg_config`] and [`pool_from_config`] are its
//! two halves, for a caller that needs one more connection setting (an application name, a
//! `-c` option of its own). [`pg_connect`] makes a single connection outside a pool.
//!
//! *TLS.* This module is the one place TLS is chosen, from the URL as libpq reads it:
//! `?sslmode=verify-full&sslrootcert=/path/ca.pem` (or `verify-ca`, or `require` with
//! `sslrootcert`) connects over TLS (rustls), verifying the server's certificate against that CA
//! and its name against the host. `require` without `sslrootcert` is refused rather than
//! connecting to an unverified server; without `sslmode` (or `disable`, `prefer`) the connection
//! is plain, for a server on the same host. [`PgConfig::uses_tls`] and
//! [`PgConfig::is_local`] let the configuration refuse a plain connection across a network.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long [`Pool::get`] waits for a free connection before it fails.
pub const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long making a new connection may take before it fails.
pub const POOL_CREATE_TIMEOUT: Duration = Duration::from_secs(10);

/// The pool could not be built (configuration: nothing was connected yet).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgPoolError {
    /// The URL does not parse (the URL is not repeated: it may hold a password).
    #[error("the database URL is not a valid postgres:// URL")]
    Url,
    /// The schema name is not 1–63 of `a-z0-9_` starting with a letter or `_`.
    #[error(
        "schema name {0:?} must be 1–63 lowercase letters, digits and _, not starting with a digit"
    )]
    Schema(String),
    /// deadpool refused the settings.
    #[error("connection pool: {0}")]
    Build(String),
    /// The URL's TLS settings cannot be used.
    #[error("database URL `{param}`: {reason}")]
    Tls {
        /// `sslmode` or `sslrootcert`.
        param: &'static str,
        /// Why.
        reason: String,
    },
}

/// Connection settings with the TLS choice made from the URL. Derefs to
/// [`tokio_postgres::Config`] for further settings.
#[derive(Clone)]
pub struct PgConfig {
    pg: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Deref for PgConfig {
    type Target = tokio_postgres::Config;
    fn deref(&self) -> &tokio_postgres::Config {
        &self.pg
    }
}

impl DerefMut for PgConfig {
    fn deref_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.pg
    }
}

impl PgConfig {
    /// Whether connections are made over verified TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether every host is this machine (a Unix socket, `localhost` or a loopback address):
    /// the only case where a plain connection keeps personal data off the network.
    pub fn is_local(&self) -> bool {
        self.pg.get_hosts().iter().all(|h| match h {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        })
    }
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query (tokio-postgres knows
/// neither `verify-full` nor `sslrootcert`) and returns the URL to parse, whether TLS was asked
/// for, and the CA file.
fn split_tls(url: &str) -> Result<(String, bool, Option<PathBuf>), PgPoolError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), false, None));
    };
    let (mut tls, mut ca) = (false, None);
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", mode)) => match mode {
                "disable" | "prefer" | "allow" => tls = false,
                "require" | "verify-ca" | "verify-full" => tls = true,
                _ => {
                    return Err(PgPoolError::Tls {
                        param: "sslmode",
                        reason: "must be disable, prefer, require, verify-ca or verify-full".into(),
                    });
                }
            },
            Some(("sslrootcert", path)) => ca = Some(PathBuf::from(path)),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, tls, ca))
}

/// A rustls connector that trusts exactly the certificates in `ca`.
fn tls_connector(ca: &Path) -> Result<MakeRustlsConnect, PgPoolError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |reason: String| PgPoolError::Tls {
        param: "sslrootcert",
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| bad(format!("cannot read {}: {e}", ca.display())))?;
    for cert in certs {
        let cert = cert.map_err(|e| bad(format!("{}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("{}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!("{} holds no certificate", ca.display())));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Whether `name` is a schema name the pool accepts: 1–63 of `a-z`, `0-9` and `_`, not starting
/// with a digit — usable unquoted in SQL and in `search_path`. The configuration's
/// `store.schema` is checked with this function too.
pub fn valid_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The connection settings [`pg_pool`] uses: `url` parsed, `search_path` set to `schema` (when
/// given; validated with [`valid_schema_name`]), application name `knooppunt`, TCP keepalives
/// (idle 30 s). Change what you need, then call [`pool_from_config`]; to add a server setting
/// keep the search path: `cfg.options(format!("{} -c name=value",
/// cfg.get_options().unwrap_or_default()))`.
pub fn pg_config(url: &str, schema: Option<&str>) -> Result<PgConfig, PgPoolError> {
    let (url, tls, ca) = split_tls(url)?;
    let mut pg: tokio_postgres::Config = url.parse().map_err(|_| PgPoolError::Url)?;
    let tls = match (tls, ca) {
        (false, _) => None,
        (true, Some(ca)) => {
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
            Some(tls_connector(&ca)?)
        }
        (true, None) => {
            return Err(PgPoolError::Tls {
                param: "sslrootcert",
                reason: "TLS needs the CA that signs the server's certificate \
                         (sslrootcert=/path/ca.pem): Knooppunt never connects to an unverified \
                         server"
                    .into(),
            });
        }
    };
    if let Some(schema) = schema {
        if !valid_schema_name(schema) {
            return Err(PgPoolError::Schema(schema.to_owned()));
        }
        pg.options(format!("-c search_path={schema}"));
    }
    pg.application_name("knooppunt");
    pg.keepalives(true);
    pg.keepalives_idle(Duration::from_secs(30));
    Ok(PgConfig { pg, tls })
}

/// A pool of at most `size` (at least 1) connections made with `config` (over TLS when its URL
/// asked for it, see the module docs), [`RecyclingMethod::Fast`], tokio runtime, waits bounded
/// by [`POOL_WAIT_TIMEOUT`] and [`POOL_CREATE_TIMEOUT`]. Connections are made on first use.
///
/// The schema in `config`'s options is not checked here: build `config` with [`pg_config`].
pub fn pool_from_config(config: PgConfig, size: usize) -> Result<Pool, PgPoolError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match config.tls {
        Some(tls) => Manager::from_config(config.pg, tls, manager_config),
        None => Manager::from_config(config.pg, NoTls, manager_config),
    };
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT_TIMEOUT))
        .create_timeout(Some(POOL_CREATE_TIMEOUT))
        .build()
        .map_err(|e| PgPoolError::Build(e.to_string()))
}

/// A pool of at most `size` connections to `url`, working in `schema` (its `search_path`; `None`
/// keeps the server's default): [`pg_config`] then [`pool_from_config`]. Nothing is connected
/// until the first [`Pool::get`].
pub fn pg_pool(url: &str, schema: Option<&str>, size: usize) -> Result<Pool, PgPoolError> {
    pool_from_config(pg_config(url, schema)?, size)
}

/// One connection outside any pool (e.g. an administrative connection that creates or drops
/// schemas), made with `config` (build it with [`pg_config`]), over TLS like the pool's when the
/// URL asked for it. The connection task is spawned on the current tokio runtime; how it ended
/// is logged.
pub async fn pg_connect(
    config: &PgConfig,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    fn spawn<C>(connection: C)
    where
        C: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
    {
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "database connection ended");
            }
        });
    }
    match &config.tls {
        Some(tls) => {
            let (client, connection) = config.pg.connect(tls.clone()).await?;
            spawn(connection);
            Ok(client)
        }
        None => {
            let (client, connection) = config.pg.connect(NoTls).await?;
            spawn(connection);
            Ok(client)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names() {
        for good in ["public", "ops_test_0a1b", "_x", &"a".repeat(63)] {
            assert!(valid_schema_name(good), "{good:?}");
        }
        for bad in [
            "",
            "1abc",
            "Abc",
            "a-b",
            "a b",
            "a;drop table x",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn config_sets_the_search_path() {
        let cfg = pg_config("postgres://u@127.0.0.1:5432/db", Some("s1")).unwrap();
        assert_eq!(cfg.get_options(), Some("-c search_path=s1"));
        let cfg = pg_config("postgres://u@127.0.0.1:5432/db", None).unwrap();
        assert_eq!(cfg.get_options(), None);
    }

    #[test]
    fn refusals_do_not_repeat_the_url() {
        let err = pg_pool("postgres://u:secret@host:notaport/db", None, 2).unwrap_err();
        assert!(matches!(err, PgPoolError::Url));
        assert!(!err.to_string().contains("secret"));
        let err = pg_pool("postgres://u@h/db", Some("x;y"), 2).unwrap_err();
        assert!(matches!(err, PgPoolError::Schema(_)));
    }
}

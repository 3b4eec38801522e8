//! The one way the workspace builds a PostgreSQL connection pool (deadpool-postgres).
//!
//! [`pg_pool`] parses the URL, validates the schema name and puts it in every connection's
//! `search_path` (`-c search_path=<schema>` at connect), turns on TCP keepalives, and builds a
//! pool with fast recycling and bounded waits. [`pg_config`] and [`pool_from_config`] are its
//! two halves, for a caller that needs one more connection setting (an application name, a
//! `-c` option of its own). [`pg_connect`] makes a single connection outside a pool.
//!
//! *TLS.* Connections are made without TLS ([`NoTls`]): the database is reached over a trusted
//! network today. This module is the one place that choice is made ([`pool_from_config`] and
//! [`pg_connect`]); TLS to PostgreSQL comes with a later issue and changes only this module.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

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
pub fn pg_config(url: &str, schema: Option<&str>) -> Result<tokio_postgres::Config, PgPoolError> {
    let mut pg: tokio_postgres::Config = url.parse().map_err(|_| PgPoolError::Url)?;
    if let Some(schema) = schema {
        if !valid_schema_name(schema) {
            return Err(PgPoolError::Schema(schema.to_owned()));
        }
        pg.options(format!("-c search_path={schema}"));
    }
    pg.application_name("knooppunt");
    pg.keepalives(true);
    pg.keepalives_idle(Duration::from_secs(30));
    Ok(pg)
}

/// A pool of at most `size` (at least 1) connections made with `config`: no TLS (the one place
/// that is decided, see the module docs), [`RecyclingMethod::Fast`], tokio runtime, waits bounded
/// by [`POOL_WAIT_TIMEOUT`] and [`POOL_CREATE_TIMEOUT`]. Connections are made on first use.
///
/// The schema in `config`'s options is not checked here: build `config` with [`pg_config`].
pub fn pool_from_config(config: tokio_postgres::Config, size: usize) -> Result<Pool, PgPoolError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
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
/// schemas), made with `config` (build it with [`pg_config`]) and, like the pool's, without TLS.
/// The connection task is spawned on the current tokio runtime; how it ended is logged.
pub async fn pg_connect(
    config: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "database connection ended");
        }
    });
    Ok(client)
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

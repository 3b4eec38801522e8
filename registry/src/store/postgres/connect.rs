//! Where and how the store connects: its configuration, the pool, migrations and the
//! server's durability settings.

use std::fmt;

use deadpool_postgres::Object;

use super::super::{StoreError, migrations, pool};
use super::{PgStore, StateCache, db_err, pool_err};

/// Where and how to connect.
#[derive(Clone)]
pub struct PgStoreConfig {
    /// A `postgres://` URL (may hold a password: never logged, not in `Debug`).
    pub url: String,
    /// Schema to work in (sets `search_path` on every connection); `None` uses the server's
    /// default. Letters, digits and `_` only.
    pub schema: Option<String>,
    /// Maximum number of pooled connections (outbox leases use their own, on top).
    pub pool_size: usize,
}

impl fmt::Debug for PgStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStoreConfig")
            .field("url", &"***")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// The default `DATABASE_URL`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl PgStoreConfig {
    /// `DATABASE_URL` from the environment (or [`DEFAULT_DATABASE_URL`]), default schema,
    /// 32 connections.
    pub fn from_env() -> Self {
        Self {
            url: std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned()),
            schema: None,
            pool_size: 32,
        }
    }
}

/// Durability settings of the server, as `SHOW` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// `fsync`.
    pub fsync: String,
    /// `synchronous_commit`.
    pub synchronous_commit: String,
}

impl Durability {
    /// Whether a commit is on disk when it returns.
    pub fn is_durable(&self) -> bool {
        self.fsync == "on" && self.synchronous_commit != "off"
    }
}

impl PgStore {
    /// Builds the connection pool ([`pg_pool`](crate::store::pg_pool)'s settings, application name
    /// `knooppunt-registry`). Connections are made on first use; nothing is migrated (see
    /// [`PgStore::open`]).
    pub fn connect(config: &PgStoreConfig) -> Result<Self, StoreError> {
        let mut pg = pool::pg_config(&config.url, config.schema.as_deref())?;
        pg.application_name("knooppunt-registry");
        let pool = pool::pool_from_config(pg, config.pool_size)?;
        Ok(Self {
            pool,
            schema: config.schema.clone(),
            cache: StateCache::default(),
        })
    }

    /// Connects and applies pending migrations: what a registry does at start.
    pub async fn open(config: &PgStoreConfig) -> Result<Self, StoreError> {
        let store = Self::connect(config)?;
        store.migrate().await?;
        Ok(store)
    }

    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// Applies the migrations not yet applied ([`migrations::MIGRATOR`]: one transaction under a
    /// per-schema advisory lock); returns the versions it applied (empty when up to date). Fails
    /// with [`StoreError::Config`] when an applied migration's SQL has changed or the database
    /// has a version this binary does not know, [`StoreError::Unavailable`] when the database
    /// could not be reached.
    pub async fn migrate(&self) -> Result<Vec<i32>, StoreError> {
        let mut client = self.client().await?;
        // A configured schema that is not there would otherwise surface as tables that cannot be
        // found; say what is wrong and how to fix it.
        if let Some(schema) = &self.schema {
            let exists = client
                .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[schema])
                .await
                .map_err(db_err)?
                .is_some();
            if !exists {
                return Err(StoreError::Config(format!(
                    "schema `{schema}` (store.schema) does not exist in this database: create it \
                     (CREATE SCHEMA {schema} AUTHORIZATION <the node's role>) or configure an \
                     existing one"
                )));
            }
        }
        Ok(migrations::MIGRATOR.run(&mut client).await?)
    }

    /// The server's `fsync` and `synchronous_commit` settings.
    pub async fn durability(&self) -> Result<Durability, StoreError> {
        let client = self.client().await?;
        let fsync = client.query_one("SHOW fsync", &[]).await.map_err(db_err)?;
        let sync = client
            .query_one("SHOW synchronous_commit", &[])
            .await
            .map_err(db_err)?;
        Ok(Durability {
            fsync: fsync.try_get(0).map_err(db_err)?,
            synchronous_commit: sync.try_get(0).map_err(db_err)?,
        })
    }
}

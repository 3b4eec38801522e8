//! Where and how the store connects: its configuration, the pool, migrations and the
//! server's durability settings.

use std::fmt;

use deadpool_postgres::Object;

use super::super::{StoreError, migrations, pool};
use super::{PgStore, StateCache, db_err, pool_err};
use crate::ids::PersonId;
use crate::pseudonym::PersonKey;

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
    /// The key of the person index's fingerprints (`store.person_key_file`). The index
    /// remembers the key it was built with; [`PgStore::open`] refuses another.
    pub person_key: PersonKey,
}

impl fmt::Debug for PgStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStoreConfig")
            .field("url", &"***")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("person_key", &self.person_key)
            .finish()
    }
}

/// The default `DATABASE_URL`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl PgStoreConfig {
    /// `DATABASE_URL` from the environment (or [`DEFAULT_DATABASE_URL`]), default schema,
    /// 32 connections, and a fresh random person key: for tests and benchmarks, each on a
    /// schema of its own that lives no longer than the key.
    pub fn from_env() -> Self {
        Self {
            url: std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned()),
            schema: None,
            pool_size: 32,
            person_key: PersonKey::random(),
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
            person_key: config.person_key.clone(),
            levels: super::levels::LevelsCache::default(),
        })
    }

    /// Connects, applies pending migrations and checks the person index's key
    /// ([`PgStore::index_persons`]): what a registry does at start.
    pub async fn open(config: &PgStoreConfig) -> Result<Self, StoreError> {
        let store = Self::connect(config)?;
        store.migrate().await?;
        store.index_persons().await?;
        Ok(store)
    }

    /// Makes sure the person index is keyed with this store's [`PersonKey`]. The database
    /// remembers the key id of its index (table `person_key`); another key is refused with
    /// [`StoreError::Config`] (its fingerprints would find nobody, and a second dossier would be
    /// opened for every student). An index without a key id holds the unkeyed SHA-256
    /// fingerprints of releases before 0.5: every fingerprint is recomputed from the person in
    /// the dossier's state, in one transaction under an advisory lock, and the key id is
    /// recorded. Returns how many dossiers were re-indexed (0 when the index was already keyed).
    pub async fn index_persons(&self) -> Result<u64, StoreError> {
        let ours = self.person_key.key_id();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_err)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('knooppunt-person-key:' || current_schema()))",
            &[],
        )
        .await
        .map_err(db_err)?;
        let stored: Option<String> = tx
            .query_opt("SELECT key_id FROM person_key", &[])
            .await
            .map_err(db_err)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db_err)?;
        if let Some(theirs) = stored {
            if theirs == ours {
                return Ok(0);
            }
            return Err(StoreError::Config(format!(
                "the person index of this database was built with person key `{theirs}`, and                  this node has key `{ours}` (store.person_key_file): configure the key file the                  index was built with; a node with another key would open a second dossier for                  every student"
            )));
        }
        let rows = tx
            .query(
                "SELECT key, state->'person'->'id' FROM dossiers \
                 WHERE person_fingerprint IS NOT NULL ORDER BY key",
                &[],
            )
            .await
            .map_err(db_err)?;
        let mut keys = Vec::with_capacity(rows.len());
        let mut fingerprints = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: uuid::Uuid = row.try_get(0).map_err(db_err)?;
            let person: PersonId = super::from_json("the person of a dossier", row, 1)?;
            keys.push(key);
            fingerprints.push(self.person_key.fingerprint(&person));
        }
        for (keys, fingerprints) in keys.chunks(5_000).zip(fingerprints.chunks(5_000)) {
            tx.execute(
                "UPDATE dossiers d SET person_fingerprint = v.fp \
                 FROM unnest($1::uuid[], $2::text[]) AS v(key, fp) WHERE d.key = v.key",
                &[&keys, &fingerprints],
            )
            .await
            .map_err(db_err)?;
        }
        tx.execute("INSERT INTO person_key (key_id) VALUES ($1)", &[&ours])
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        let n = keys.len() as u64;
        if n > 0 {
            tracing::info!(dossiers = n, key_id = %ours, "person index re-keyed");
        }
        Ok(n)
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

//! Shared test support: a fresh, migrated PostgreSQL schema per test.
#![allow(dead_code)]

use deadpool_postgres::Pool;
use knooppunt_registry::store::{pg_config, pg_connect, pg_pool};

/// The database the tests use (`DATABASE_URL`, default: the local test database).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema with the ops migrations applied, and a pool whose connections use it.
/// Call [`PgSchema::drop`] at the end of the test.
pub struct PgSchema {
    pub name: String,
    pub pool: Pool,
}

impl PgSchema {
    /// Creates the schema and migrates it. Fails (does not skip) when PostgreSQL is missing.
    pub async fn new() -> anyhow::Result<Self> {
        let schema = Self::empty().await?;
        if let Err(e) = knooppunt_ops::migrate(&schema.pool).await {
            schema.drop().await?;
            return Err(e.into());
        }
        Ok(schema)
    }

    /// Creates the schema, without migrating it.
    pub async fn empty() -> anyhow::Result<Self> {
        let name = format!("ops_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Self::admin().await?;
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await?;
        let pool = pg_pool(&database_url(), Some(&name), 12)?;
        Ok(Self { name, pool })
    }

    async fn admin() -> anyhow::Result<tokio_postgres::Client> {
        pg_connect(&pg_config(&database_url(), None)?)
            .await
            .map_err(|e| anyhow::anyhow!("PostgreSQL is required for this test ({e})"))
    }

    /// Runs SQL on a connection of the pool (so in this schema).
    pub async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        self.pool.get().await?.batch_execute(sql).await?;
        Ok(())
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close();
        Self::admin()
            .await?
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await?;
        Ok(())
    }
}

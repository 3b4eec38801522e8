//! Shared test support: a fresh, migrated PostgreSQL schema per test.
#![allow(dead_code)]

use deadpool_postgres::Pool;
use knooppunt_registry::store::pg_pool;
use knooppunt_testkit::TestSchema;
pub use knooppunt_testkit::database_url;

/// A fresh schema (the test kit's) with the ops migrations applied, and a pool whose
/// connections use it. Call [`PgSchema::drop`] at the end of the test.
pub struct PgSchema {
    pub name: String,
    pub pool: Pool,
    schema: TestSchema,
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
        let schema = TestSchema::create("ops").await?;
        let name = schema.name().to_owned();
        let pool = pg_pool(&database_url(), Some(&name), 12)?;
        Ok(Self { name, pool, schema })
    }

    /// Runs SQL on a connection of the pool (so in this schema).
    pub async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        self.pool.get().await?.batch_execute(sql).await?;
        Ok(())
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close();
        self.schema.drop_now().await
    }
}

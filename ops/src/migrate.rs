//! The ops crate's PostgreSQL migrations: numbered SQL files embedded at build time, applied in
//! order in one transaction under a per-schema advisory lock, each recorded in `ops_schema_migrations`.
//! Running it again (or from several instances at once) is safe.

use deadpool_postgres::Pool;

use crate::OpsError;

/// The migrations, in order: (version, name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "audit", include_str!("../migrations/0001_audit.sql")),
    (
        2,
        "delivery_state",
        include_str!("../migrations/0002_delivery_state.sql"),
    ),
    (
        3,
        "head_fillfactor",
        include_str!("../migrations/0003_head_fillfactor.sql"),
    ),
];

/// Applies the pending ops migrations using a connection from `pool`.
pub async fn migrate(pool: &Pool) -> Result<(), OpsError> {
    let mut client = pool.get().await?;
    migrate_client(&mut client).await
}

/// Applies the pending ops migrations on `client` (one transaction, under an advisory lock).
pub async fn migrate_client(client: &mut tokio_postgres::Client) -> Result<(), OpsError> {
    let tx = client.transaction().await?;
    // One lock per schema: instances migrating the same schema wait for each other, tests in
    // their own schemas do not.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('knooppunt-ops-migrate:' || coalesce(current_schema(), '')))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS ops_schema_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    for (version, name, sql) in MIGRATIONS {
        let done = tx
            .query_opt(
                "SELECT 1 FROM ops_schema_migrations WHERE version = $1",
                &[version],
            )
            .await?
            .is_some();
        if done {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO ops_schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tracing::info!(version, name, "ops migration applied");
    }
    tx.commit().await?;
    Ok(())
}

//! The ops migrations through the registry's runner: a deployment from before checksums is
//! upgraded in place, and from then on a changed or unknown migration is refused.

use crate::common::PgSchema;
use knooppunt_ops::{MIGRATIONS, OpsError};
use knooppunt_registry::store::MigrateError;

/// `ops_schema_migrations` as the runner without checksums left it, with `versions` applied.
async fn old_style_deployment(db: &PgSchema, versions: usize) -> anyhow::Result<()> {
    db.exec(
        "CREATE TABLE ops_schema_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    for m in &MIGRATIONS[..versions] {
        db.exec(m.sql).await?;
        db.exec(&format!(
            "INSERT INTO ops_schema_migrations (version, name) VALUES ({}, '{}')",
            m.version, m.name
        ))
        .await?;
    }
    Ok(())
}

async fn recorded(db: &PgSchema) -> anyhow::Result<Vec<(i32, String)>> {
    Ok(db
        .pool
        .get()
        .await?
        .query(
            "SELECT version, checksum FROM ops_schema_migrations ORDER BY version",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

#[tokio::test]
async fn a_deployment_without_checksums_is_upgraded_then_verified() -> anyhow::Result<()> {
    let db = PgSchema::empty().await?;
    let outcome = async {
        old_style_deployment(&db, 2).await?;
        knooppunt_ops::migrate(&db.pool).await?;
        let expected: Vec<(i32, String)> = MIGRATIONS
            .iter()
            .map(|m| (m.version, m.checksum()))
            .collect();
        anyhow::ensure!(recorded(&db).await? == expected, "1-2 trusted, 3 applied");
        knooppunt_ops::migrate(&db.pool).await?;

        // An applied file that changed is refused, naming the version and file.
        db.exec("UPDATE ops_schema_migrations SET checksum = 'edited' WHERE version = 2")
            .await?;
        let Err(err) = knooppunt_ops::migrate(&db.pool).await else {
            anyhow::bail!("expected a refusal");
        };
        anyhow::ensure!(
            matches!(
                &err,
                OpsError::Migrate(MigrateError::ChecksumMismatch { version: 2, file, .. })
                    if file == "0002_delivery_state.sql"
            ),
            "{err:?}"
        );
        anyhow::ensure!(!err.is_transient());
        anyhow::ensure!(err.to_string().contains("0002_delivery_state.sql"), "{err}");
        db.exec(&format!(
            "UPDATE ops_schema_migrations SET checksum = '{}' WHERE version = 2",
            MIGRATIONS[1].checksum()
        ))
        .await?;

        // A database migrated by a newer binary is refused.
        db.exec("INSERT INTO ops_schema_migrations (version, name, checksum) VALUES (99, 'future', 'x')")
            .await?;
        let Err(err) = knooppunt_ops::migrate(&db.pool).await else {
            anyhow::bail!("expected a refusal");
        };
        anyhow::ensure!(
            matches!(
                err,
                OpsError::Migrate(MigrateError::UnknownVersion { version: 99, .. })
            ),
            "{err:?}"
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.drop().await?;
    outcome
}

#[tokio::test]
async fn a_fresh_schema_gets_every_migration_with_its_checksum() -> anyhow::Result<()> {
    let db = PgSchema::new().await?;
    let outcome = async {
        let expected: Vec<(i32, String)> = MIGRATIONS
            .iter()
            .map(|m| (m.version, m.checksum()))
            .collect();
        anyhow::ensure!(recorded(&db).await? == expected);
        let mut client = db.pool.get().await?;
        knooppunt_ops::migrate_client(&mut client).await?;
        anyhow::ensure!(recorded(&db).await? == expected);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.drop().await?;
    outcome
}

//! The ops crate's PostgreSQL migrations: numbered SQL files (`ops/migrations/`) embedded at
//! build time and applied by the workspace's one runner ([`Migrator`], in the registry crate):
//! in order, in one transaction under a per-schema advisory lock (`knooppunt-ops-migrate`, the
//! same key as before), each recorded with its checksum in `ops_schema_migrations`. Running it
//! again (or from several instances at once) is safe; an applied file that changed, or a version
//! the binary does not know, is refused ([`OpsError::Migrate`]).
//!
//! Deployments from before checksums have `ops_schema_migrations` without a `checksum` column:
//! the first run adds it and records this binary's checksums for the versions already applied
//! (trust on first use), and verifies from then on.

use deadpool_postgres::Pool;
use knooppunt_registry::store::{Migration, Migrator};

use crate::OpsError;

/// The migrations, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "audit",
        sql: include_str!("../migrations/0001_audit.sql"),
    },
    Migration {
        version: 2,
        name: "delivery_state",
        sql: include_str!("../migrations/0002_delivery_state.sql"),
    },
    Migration {
        version: 3,
        name: "head_fillfactor",
        sql: include_str!("../migrations/0003_head_fillfactor.sql"),
    },
    Migration {
        version: 4,
        name: "runtime_controls",
        sql: include_str!("../migrations/0004_runtime_controls.sql"),
    },
    Migration {
        version: 5,
        name: "report_index",
        sql: include_str!("../migrations/0005_report_index.sql"),
    },
];

/// The ops crate's runner: namespace `ops`, table `ops_schema_migrations`.
pub const MIGRATOR: Migrator = Migrator::new("ops", "ops_schema_migrations", MIGRATIONS);

/// Applies the pending ops migrations using a connection from `pool`.
pub async fn migrate(pool: &Pool) -> Result<(), OpsError> {
    let mut client = pool.get().await?;
    migrate_client(&mut client).await
}

/// Applies the pending ops migrations on `client` (one transaction, under an advisory lock).
pub async fn migrate_client(client: &mut tokio_postgres::Client) -> Result<(), OpsError> {
    MIGRATOR.run(client).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_match_the_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        for m in MIGRATIONS {
            let on_disk = std::fs::read_to_string(dir.join(m.file_name())).expect("file exists");
            assert_eq!(on_disk, m.sql, "{}", m.file_name());
        }
    }
}

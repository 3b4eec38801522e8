//! The registry's PostgreSQL schema, as numbered SQL files embedded in the binary.
//!
//! Applied by [`PgStore::migrate`](super::PgStore::migrate) at start and by `knooppunt migrate`,
//! through the workspace's one runner ([`Migrator`], [`MIGRATOR`]): in one
//! transaction, under a transaction advisory lock per schema (so several instances can start at
//! once), recorded with a checksum in `schema_migrations` (`version`, `name`, `checksum`,
//! `applied_at`). An applied file must never change: a different checksum is refused, and so is
//! a version in the database that this binary does not know.

pub use super::migrator::Migration;
use super::migrator::Migrator;

/// All migrations, in order.
pub const ALL: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "outbox_unsent_by_position",
        sql: include_str!("../../migrations/0002_outbox_unsent_by_position.sql"),
    },
    Migration {
        version: 3,
        name: "dossier_fillfactor",
        sql: include_str!("../../migrations/0003_dossier_fillfactor.sql"),
    },
    Migration {
        version: 4,
        name: "person_key",
        sql: include_str!("../../migrations/0004_person_key.sql"),
    },
    Migration {
        version: 5,
        name: "institution_history",
        sql: include_str!("../../migrations/0005_institution_history.sql"),
    },
];

/// The registry's runner: table `schema_migrations`, and the advisory lock key of the runner it
/// replaced (`knooppunt-migrate`, without the namespace), so old and new binaries exclude each
/// other.
pub const MIGRATOR: Migrator =
    Migrator::new("registry", "schema_migrations", ALL).with_lock_name("knooppunt-migrate");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_from_one() {
        for (i, m) in ALL.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "migration {}", m.name);
            assert_eq!(m.checksum().len(), 64);
        }
    }

    #[test]
    fn file_names_match_the_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        for m in ALL {
            let on_disk = std::fs::read_to_string(dir.join(m.file_name())).expect("file exists");
            assert_eq!(on_disk, m.sql, "{}", m.file_name());
        }
    }
}

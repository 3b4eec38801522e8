//! The PostgreSQL schema, as numbered SQL files embedded in the binary.
//!
//! Applied by [`PgStore::migrate`](super::PgStore::migrate) at start and by `knooppunt migrate`:
//! in one transaction, under a transaction advisory lock per schema (so several instances can
//! start at once), recorded with a checksum in `schema_migrations`. An applied file must never
//! change: a different checksum is a configuration error.

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, increasing from 1.
    pub version: i32,
    /// Short name (the file name without number and extension).
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

impl Migration {
    /// Hex SHA-256 of the SQL, recorded when applied.
    pub fn checksum(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

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
];

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
}

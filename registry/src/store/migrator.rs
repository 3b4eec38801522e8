//! The one migration runner of the workspace: numbered SQL files embedded in a binary, applied to
//! PostgreSQL in order and recorded with a checksum.
//!
//! Each crate that owns tables has one [`Migrator`]: the registry
//! ([`migrations::MIGRATOR`](super::migrations::MIGRATOR), table `schema_migrations`), ops
//! (`ops_schema_migrations`) and the gateway's API (`api_schema_migrations`). [`Migrator::run`]
//! does, in **one transaction**:
//!
//! 1. take a transaction advisory lock per schema,
//!    `pg_advisory_xact_lock(hashtext('<lock name>:' || coalesce(current_schema(), '')))`, so
//!    several instances can start at once and exactly one applies each file. The lock name is
//!    `knooppunt-<namespace>-migrate` — the key the earlier, separate runners used, so an old
//!    and a new binary exclude each other too (the registry keeps its historical
//!    `knooppunt-migrate`, see [`Migrator::with_lock_name`]);
//! 2. create the table if absent (`version`, `name`, `checksum`, `applied_at`);
//! 3. check what is recorded: a version this binary does not know is refused
//!    ([`MigrateError::UnknownVersion`]: the database is newer than the binary), and an applied
//!    version whose recorded checksum differs from the binary's file is refused
//!    ([`MigrateError::ChecksumMismatch`]: an applied file must never change);
//! 4. apply the pending versions in order, recording version, name and checksum.
//!
//! Any failure rolls the whole transaction back: nothing is half-applied.
//!
//! *Tables from before checksums.* `ops_schema_migrations` and `api_schema_migrations` were
//! created without a `checksum` column. The runner adds it, records for each row without one the
//! checksum of this binary's file for that version (trust on first use, logged), makes the column
//! `NOT NULL` and verifies from then on.
//!
//! Errors name the namespace, the version and the file, never SQL or row values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use tokio_postgres::error::SqlState;

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

    /// The file name by the repository's convention, e.g. `0002_outbox_unsent_by_position.sql`.
    pub fn file_name(&self) -> String {
        format!("{:04}_{}.sql", self.version, self.name)
    }
}

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// PostgreSQL failed or could not be reached (also: a migration file's SQL was refused).
    /// Only the primary message and SQLSTATE are kept: a DETAIL line may quote row values.
    #[error("{namespace} migrations: {step}: {message}")]
    Database {
        /// The runner's namespace (`registry`, `ops`, `api`).
        namespace: &'static str,
        /// What the runner was doing (e.g. `applying 0002_delivery_state.sql`).
        step: String,
        /// The server's message and SQLSTATE, or the connection error.
        message: String,
        /// Whether trying again may succeed (connection lost, serialization failure, …).
        transient: bool,
    },
    /// An applied migration's file changed after it was applied.
    #[error(
        "{namespace} migration {version} ({file}) changed after it was applied: \
         recorded checksum {recorded}, this binary has {expected}"
    )]
    ChecksumMismatch {
        /// The runner's namespace.
        namespace: &'static str,
        /// The version.
        version: i32,
        /// The binary's file name for it.
        file: String,
        /// The checksum recorded in the database.
        recorded: String,
        /// The checksum of the binary's file.
        expected: String,
    },
    /// The database has a migration this binary does not know: it was migrated by a newer
    /// binary (or the file was removed). Run the newer binary.
    #[error(
        "{namespace} migrations: the database has version {version} ({name}) that this binary \
         does not know (it knows up to {known_up_to}); it was migrated by a newer binary"
    )]
    UnknownVersion {
        /// The runner's namespace.
        namespace: &'static str,
        /// The unknown version.
        version: i32,
        /// The name recorded with it.
        name: String,
        /// The highest version this binary knows (0: none).
        known_up_to: i32,
    },
}

impl MigrateError {
    /// Whether trying again may succeed (a database or connection hiccup), as opposed to a
    /// refusal that will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Database {
                transient: true,
                ..
            }
        )
    }
}

/// Whether a SQLSTATE means "try again" (serialization failure, deadlock, connection exception,
/// insufficient resources, operator intervention such as a shutdown).
pub(crate) fn is_transient_sqlstate(code: &SqlState) -> bool {
    *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || code.code().starts_with("08")
        || code.code().starts_with("53")
        || code.code().starts_with("57P")
}

/// A migration runner for one set of files and one bookkeeping table (see the module docs).
///
/// Build it once, as a constant, next to the files:
///
/// ```
/// use knooppunt_registry::store::{Migration, Migrator};
///
/// static API_MIGRATOR: Migrator = Migrator::new(
///     "api",
///     "api_schema_migrations",
///     &[Migration { version: 1, name: "api", sql: "CREATE TABLE IF NOT EXISTS api_x (id int)" }],
/// );
/// ```
///
/// `new` checks, at compile time in a `const`/`static`, that the namespace and table are plain
/// identifiers and that versions increase strictly from 1.
#[derive(Clone, Copy)]
pub struct Migrator {
    namespace: &'static str,
    table: &'static str,
    lock_name: Option<&'static str>,
    migrations: &'static [Migration],
}

impl fmt::Debug for Migrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator")
            .field("namespace", &self.namespace)
            .field("table", &self.table)
            .field("lock_name", &self.lock_name())
            .field("versions", &self.migrations.len())
            .finish()
    }
}

/// `1..=63` of `a-z`, `0-9`, `_`, not starting with a digit (usable unquoted in SQL).
const fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 || b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit() || b[i] == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// `1..=63` of `a-z`, `0-9`, `_` and `-`.
const fn is_lock_name(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit() || b[i] == b'_' || b[i] == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

impl Migrator {
    /// A runner for `migrations`, recorded in `table`; `namespace` names it in the lock key,
    /// logs and errors.
    ///
    /// # Panics
    ///
    /// (At compile time when used in a `const` or `static`.) When `namespace` or `table` is not
    /// 1–63 of `a-z0-9_` starting with a letter or `_`, or when the versions do not increase
    /// strictly from 1 (gaps are allowed, so a removed file keeps its number taken).
    pub const fn new(
        namespace: &'static str,
        table: &'static str,
        migrations: &'static [Migration],
    ) -> Self {
        assert!(
            is_identifier(namespace),
            "migrator namespace must be a-z0-9_"
        );
        assert!(is_identifier(table), "migrations table must be a-z0-9_");
        let mut previous = 0;
        let mut i = 0;
        while i < migrations.len() {
            assert!(
                migrations[i].version > previous,
                "migration versions must increase strictly from 1"
            );
            previous = migrations[i].version;
            i += 1;
        }
        Self {
            namespace,
            table,
            lock_name: None,
            migrations,
        }
    }

    /// Uses `lock_name` instead of `knooppunt-<namespace>-migrate` in the advisory lock key
    /// (for a runner whose earlier versions used another key; the registry's is
    /// `knooppunt-migrate`).
    ///
    /// # Panics
    ///
    /// When `lock_name` is not 1–63 of `a-z0-9_-`.
    pub const fn with_lock_name(self, lock_name: &'static str) -> Self {
        assert!(is_lock_name(lock_name), "lock name must be a-z0-9_-");
        Self {
            lock_name: Some(lock_name),
            ..self
        }
    }

    /// The namespace (`registry`, `ops`, `api`).
    pub fn namespace(&self) -> &'static str {
        self.namespace
    }

    /// The bookkeeping table.
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The migrations, in order.
    pub fn migrations(&self) -> &'static [Migration] {
        self.migrations
    }

    /// The lock name: the advisory lock key is
    /// `hashtext('<lock name>:' || coalesce(current_schema(), ''))`.
    pub fn lock_name(&self) -> String {
        match self.lock_name {
            Some(name) => name.to_owned(),
            None => format!("knooppunt-{}-migrate", self.namespace),
        }
    }

    fn db_error(&self, step: impl Into<String>, e: tokio_postgres::Error) -> MigrateError {
        let (message, transient) = match e.as_db_error() {
            Some(db) => (
                format!("{} ({})", db.message(), db.code().code()),
                is_transient_sqlstate(db.code()),
            ),
            // No server error: the connection failed or broke.
            None => (e.to_string(), true),
        };
        MigrateError::Database {
            namespace: self.namespace,
            step: step.into(),
            message,
            transient,
        }
    }

    /// [`run`](Self::run) on a connection taken from `pool`.
    pub async fn run_pool(&self, pool: &deadpool_postgres::Pool) -> Result<Vec<i32>, MigrateError> {
        let mut client = match pool.get().await {
            Ok(client) => client,
            Err(deadpool_postgres::PoolError::Backend(e)) => {
                return Err(self.db_error("connecting", e));
            }
            Err(e) => {
                return Err(MigrateError::Database {
                    namespace: self.namespace,
                    step: "taking a pooled connection".to_owned(),
                    message: e.to_string(),
                    transient: true,
                });
            }
        };
        self.run(&mut client).await
    }

    /// Applies the pending migrations on `client` in one transaction (see the module docs) and
    /// returns the versions it applied, in order (empty when the schema was up to date).
    pub async fn run(&self, client: &mut tokio_postgres::Client) -> Result<Vec<i32>, MigrateError> {
        let table = self.table;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.db_error("beginning the transaction", e))?;
        // `$1::text || current_schema()::text` is the same string as the literal form the
        // earlier runners used, so the lock key is the same.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1::text || coalesce(current_schema()::text, '')))",
            &[&format!("{}:", self.lock_name())],
        )
        .await
        .map_err(|e| self.db_error("taking the migration lock", e))?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                 version    integer     PRIMARY KEY,
                 name       text        NOT NULL,
                 checksum   text        NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )"
        ))
        .await
        .map_err(|e| self.db_error(format!("creating {table}"), e))?;

        // A table from before checksums has no `checksum` column, or (added but not yet
        // filled) a nullable one.
        let checksum_not_null: Option<bool> = tx
            .query_opt(
                "SELECT a.attnotnull FROM pg_attribute a
                 WHERE a.attrelid = to_regclass($1) AND a.attname = 'checksum' AND NOT a.attisdropped",
                &[&table],
            )
            .await
            .and_then(|row| row.map(|r| r.try_get(0)).transpose())
            .map_err(|e| self.db_error(format!("inspecting {table}"), e))?;
        if checksum_not_null.is_none() {
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS checksum text"
            ))
            .await
            .map_err(|e| self.db_error(format!("adding the checksum column to {table}"), e))?;
            tracing::info!(
                namespace = self.namespace,
                table,
                "migrations table upgraded with a checksum column"
            );
        }

        let rows = tx
            .query(
                &format!("SELECT version, name, checksum FROM {table} ORDER BY version"),
                &[],
            )
            .await
            .map_err(|e| self.db_error(format!("reading {table}"), e))?;
        let known: BTreeMap<i32, &Migration> =
            self.migrations.iter().map(|m| (m.version, m)).collect();
        let mut applied_before = BTreeSet::new();
        for row in rows {
            let read = |e| self.db_error(format!("reading {table}"), e);
            let version: i32 = row.try_get(0).map_err(read)?;
            let name: String = row.try_get(1).map_err(read)?;
            let recorded: Option<String> = row.try_get(2).map_err(read)?;
            let Some(m) = known.get(&version) else {
                return Err(MigrateError::UnknownVersion {
                    namespace: self.namespace,
                    version,
                    name,
                    known_up_to: self.migrations.last().map_or(0, |m| m.version),
                });
            };
            let expected = m.checksum();
            match recorded {
                Some(recorded) if recorded == expected => {}
                Some(recorded) => {
                    return Err(MigrateError::ChecksumMismatch {
                        namespace: self.namespace,
                        version,
                        file: m.file_name(),
                        recorded,
                        expected,
                    });
                }
                None => {
                    // Applied by a runner without checksums: trust on first use.
                    tx.execute(
                        &format!("UPDATE {table} SET checksum = $2 WHERE version = $1"),
                        &[&version, &expected],
                    )
                    .await
                    .map_err(|e| self.db_error(format!("recording checksums in {table}"), e))?;
                    tracing::info!(
                        namespace = self.namespace,
                        version,
                        file = %m.file_name(),
                        checksum = %expected,
                        "migration applied without a checksum: recorded this binary's (trust on first use)"
                    );
                }
            }
            applied_before.insert(version);
        }
        if checksum_not_null != Some(true) {
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ALTER COLUMN checksum SET NOT NULL"
            ))
            .await
            .map_err(|e| self.db_error(format!("upgrading {table}"), e))?;
        }

        let mut applied = Vec::new();
        for m in self.migrations {
            if applied_before.contains(&m.version) {
                continue;
            }
            let file = m.file_name();
            tx.batch_execute(m.sql)
                .await
                .map_err(|e| self.db_error(format!("applying {file}"), e))?;
            tx.execute(
                &format!("INSERT INTO {table} (version, name, checksum) VALUES ($1, $2, $3)"),
                &[&m.version, &m.name, &m.checksum()],
            )
            .await
            .map_err(|e| self.db_error(format!("recording {file}"), e))?;
            applied.push(m.version);
        }
        tx.commit()
            .await
            .map_err(|e| self.db_error("committing", e))?;
        if !applied.is_empty() {
            tracing::info!(namespace = self.namespace, versions = ?applied, "schema migrated");
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("schema_migrations"));
        assert!(is_identifier("_x1"));
        for bad in ["", "1abc", "Abc", "a-b", "a b", "a;drop", &"a".repeat(64)] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
        assert!(is_lock_name("knooppunt-migrate"));
        assert!(!is_lock_name("knooppunt migrate"));
        assert!(!is_lock_name("x'"));
    }

    #[test]
    fn default_lock_names_are_the_historical_keys() {
        const NONE: &[Migration] = &[];
        assert_eq!(
            Migrator::new("ops", "ops_schema_migrations", NONE).lock_name(),
            "knooppunt-ops-migrate"
        );
        assert_eq!(
            Migrator::new("api", "api_schema_migrations", NONE).lock_name(),
            "knooppunt-api-migrate"
        );
        assert_eq!(
            super::super::migrations::MIGRATOR.lock_name(),
            "knooppunt-migrate"
        );
    }

    #[test]
    #[should_panic(expected = "increase strictly")]
    fn versions_must_increase() {
        static BAD: &[Migration] = &[
            Migration {
                version: 2,
                name: "b",
                sql: "",
            },
            Migration {
                version: 1,
                name: "a",
                sql: "",
            },
        ];
        let _ = Migrator::new("x", "x_schema_migrations", BAD);
    }

    #[test]
    fn file_names() {
        let m = Migration {
            version: 2,
            name: "outbox_unsent_by_position",
            sql: "",
        };
        assert_eq!(m.file_name(), "0002_outbox_unsent_by_position.sql");
    }
}

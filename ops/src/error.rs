//! The one error type of the ops crate.

use knooppunt_registry::store::MigrateError;
use thiserror::Error;

/// What can go wrong in the ops crate. Messages name fields and reasons, never values that could
/// hold personal data.
#[derive(Debug, Error)]
pub enum OpsError {
    /// An audit entry or a delivery-state record was refused before it was stored.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field that was refused (e.g. `partner`, `reason`).
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A stored record could not be read back into its type (e.g. an unknown hop name).
    #[error("corrupt stored {what}: {reason}")]
    Corrupt {
        /// Which kind of record.
        what: &'static str,
        /// Why it could not be read.
        reason: String,
    },
    /// PostgreSQL failed (connection, query, constraint).
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
    /// No connection could be taken from the pool.
    #[error("database pool error: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The batch this append was part of failed (see the log line of the batch writer), or the
    /// batch writer has stopped.
    #[error("audit batch failed: {0}")]
    Batch(String),
    /// The ops migrations failed: the database (see [`MigrateError::is_transient`]), or an
    /// applied migration changed, or the database is newer than this binary.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// Metrics could not be encoded.
    #[error("metrics encoding failed")]
    Encode,
}

impl OpsError {
    /// Whether trying again later may succeed (a database or pool hiccup), as opposed to a
    /// refusal that will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            OpsError::Db(_) | OpsError::Pool(_) | OpsError::Batch(_) => true,
            OpsError::Migrate(e) => e.is_transient(),
            OpsError::Invalid { .. } | OpsError::Corrupt { .. } | OpsError::Encode => false,
        }
    }
}

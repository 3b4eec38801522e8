//! Reference data: one snapshot, replaced as a whole.

use tokio_postgres::types::Json;

use super::super::StoreError;
use super::{PgStore, db_err, from_json};
use crate::reference::ReferenceData;

impl PgStore {
    /// [`Store::save_reference`](super::super::Store::save_reference) on PostgreSQL.
    pub(super) async fn write_reference(
        &self,
        reference: &ReferenceData,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let json = Json(reference);
        client
            .execute(
                "INSERT INTO reference_data (id, snapshot) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET snapshot = excluded.snapshot, saved_at = now()",
                &[&json],
            )
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// [`Store::load_reference`](super::super::Store::load_reference) on PostgreSQL.
    pub(super) async fn read_reference(&self) -> Result<Option<ReferenceData>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT snapshot FROM reference_data WHERE id = 1", &[])
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => Ok(Some(from_json("reference data", &r, 0)?)),
            None => Ok(None),
        }
    }
}

//! Reads: a dossier's state, its history, the dossier of a person.

use super::super::{EventEnvelope, StoreError};
use super::{PgStore, db_err, from_json};
use crate::domain::Dossier;
use crate::envelope::DossierKey;
use crate::ids::{LeerbedrijfId, PersonId};

impl PgStore {
    /// [`Store::dossier`](super::super::Store::dossier) on PostgreSQL.
    pub(super) async fn read_dossier(
        &self,
        key: DossierKey,
    ) -> Result<Option<Dossier>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT state FROM dossiers WHERE key = $1")
            .await
            .map_err(db_err)?;
        match client.query_opt(&stmt, &[&key.0]).await.map_err(db_err)? {
            Some(row) => Ok(Some(from_json("dossier state", &row, 0)?)),
            None => Ok(None),
        }
    }

    /// [`Store::history`](super::super::Store::history) on PostgreSQL.
    pub(super) async fn read_history(
        &self,
        key: DossierKey,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT envelope FROM events WHERE dossier_key = $1 ORDER BY sequence")
            .await
            .map_err(db_err)?;
        let rows = client.query(&stmt, &[&key.0]).await.map_err(db_err)?;
        rows.into_iter()
            .map(|r| from_json("stored event", &r, 0))
            .collect()
    }

    /// [`Store::find_dossier`](super::super::Store::find_dossier) on PostgreSQL.
    pub(super) async fn read_person_dossier(
        &self,
        person: &PersonId,
    ) -> Result<Option<DossierKey>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT key FROM dossiers WHERE person_fingerprint = $1")
            .await
            .map_err(db_err)?;
        let row = client
            .query_opt(&stmt, &[&self.person_key.fingerprint(person)])
            .await
            .map_err(db_err)?;
        row.map(|r| r.try_get(0).map(DossierKey).map_err(db_err))
            .transpose()
    }

    /// [`Store::dossiers_with_running_bpv`](super::super::Store::dossiers_with_running_bpv) on
    /// PostgreSQL: a JSON path over the dossier states (the same filter as the memory store).
    pub(super) async fn read_dossiers_with_running_bpv(
        &self,
        leerbedrijf: &LeerbedrijfId,
    ) -> Result<Vec<DossierKey>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT key FROM dossiers WHERE jsonb_path_exists(state, \
                 '$.praktijkovereenkomsten.* ? (@.details.leerbedrijf == $l \
                 && @.status != \"beeindigd\" && @.sbb.state != \"ingetrokken\")', \
                 jsonb_build_object('l', $1::text)) ORDER BY key",
            )
            .await
            .map_err(db_err)?;
        let rows = client
            .query(&stmt, &[&leerbedrijf.as_str()])
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|r| r.try_get(0).map(DossierKey).map_err(db_err))
            .collect()
    }
}

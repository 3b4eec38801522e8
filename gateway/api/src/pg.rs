//! [`ApiStore`] on PostgreSQL (deadpool-postgres), tables `api_*` from
//! `gateway/api/migrations/0001_api.sql`, applied by [`migrate`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{ClientWrapper, Object, Pool};
use knooppunt_registry::store::{Migration, Migrator};
use tokio_postgres::Row;
use uuid::Uuid;

use super::store::{
    ApiStore, ApiStoreError, FeedItem, IdempotencyBegin, IndexedAanmelding, IndexedBpv, IndexedOok,
    InstanceId, NewFeedItem, SjabloonWrite, StoredResponse, StoredSjabloon, Webhook,
};

/// The API's migrations, run by the registry's one runner (checksums, per-schema lock
/// `knooppunt-api-migrate:`, table `api_schema_migrations`).
static MIGRATOR: Migrator = Migrator::new(
    "api",
    "api_schema_migrations",
    &[
        Migration {
            version: 1,
            name: "api",
            sql: include_str!("../migrations/0001_api.sql"),
        },
        Migration {
            version: 2,
            name: "idempotency_bound",
            sql: include_str!("../migrations/0002_idempotency_bound.sql"),
        },
        Migration {
            version: 3,
            name: "idempotency_holder",
            sql: include_str!("../migrations/0003_idempotency_holder.sql"),
        },
        Migration {
            version: 4,
            name: "idempotency_expiry",
            sql: include_str!("../migrations/0004_idempotency_expiry.sql"),
        },
        Migration {
            version: 5,
            name: "onderwijsovereenkomsten",
            sql: include_str!("../migrations/0005_onderwijsovereenkomsten.sql"),
        },
        Migration {
            version: 6,
            name: "feed_keuzedeel",
            sql: include_str!("../migrations/0006_feed_keuzedeel.sql"),
        },
        Migration {
            version: 7,
            name: "webhook_lease",
            sql: include_str!("../migrations/0007_webhook_lease.sql"),
        },
    ],
);

fn db(e: impl std::fmt::Display) -> ApiStoreError {
    ApiStoreError::Unavailable(e.to_string())
}

/// Applies the pending API migrations (one transaction, under a per-schema advisory lock; safe
/// to run again or from several instances at once). An applied file whose checksum changed, or
/// a version this binary does not know, is refused.
pub async fn migrate(pool: &Pool) -> Result<(), ApiStoreError> {
    MIGRATOR.run_pool(pool).await.map(drop).map_err(db)
}

/// The first key of an instance's liveness lock (per schema, so test schemas do not meet).
const INSTANCE_LOCK_NS: &str =
    "hashtext('knooppunt-api-instance:' || coalesce(current_schema(), ''))";

/// The PostgreSQL [`ApiStore`].
///
/// An instance that begins an idempotent request first makes sure it is live: it holds the
/// session advisory lock `(INSTANCE_LOCK_NS, instance id)` on a connection taken out of the pool
/// (one per instance, normally one per node). Closing that connection — [`ApiStore::end_instance`],
/// dropping the store, or the process dying — drops the lock, and the instance's unfinished
/// records are free for every other instance at once.
#[derive(Clone)]
pub struct PgApiStore {
    pool: Pool,
    leases: Arc<tokio::sync::Mutex<HashMap<InstanceId, ClientWrapper>>>,
}

impl std::fmt::Debug for PgApiStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgApiStore").finish_non_exhaustive()
    }
}

impl PgApiStore {
    /// A store on `pool` (run [`migrate`] first).
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            leases: Arc::default(),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ApiStoreError> {
        self.pool.get().await.map_err(db)
    }

    /// Takes the liveness lock of `instance` unless its connection holds it already. When
    /// another session holds it (an id collision, or the server has not yet noticed the old
    /// connection of this instance is gone) the instance goes on without it: its records may
    /// then be taken over by another instance, which only means a retry of the same request
    /// runs twice — with the same command ids, so with one effect.
    async fn ensure_live(&self, instance: InstanceId) -> Result<(), ApiStoreError> {
        let mut leases = self.leases.lock().await;
        if leases.get(&instance).is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        leases.remove(&instance);
        let client = Object::take(self.client().await?);
        let got: bool = client
            .query_one(
                &format!("SELECT pg_try_advisory_lock({INSTANCE_LOCK_NS}, $1)"),
                &[&instance.get()],
            )
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        if got {
            leases.insert(instance, client);
        } else {
            tracing::warn!(
                instance = instance.get(),
                "the liveness lock of this API instance is held by another session"
            );
        }
        Ok(())
    }
}

fn feed_row(r: &Row) -> Result<FeedItem, ApiStoreError> {
    Ok(FeedItem {
        wijzigingsvolgnummer: r.try_get(0).map_err(db)?,
        item: NewFeedItem {
            event_id: r.try_get(1).map_err(db)?,
            kind: r.try_get(2).map_err(db)?,
            tijd: r.try_get(3).map_err(db)?,
            aanmelding_id: r.try_get(4).map_err(db)?,
            status: r.try_get(5).map_err(db)?,
            partner: r.try_get(6).map_err(db)?,
            reden: r.try_get(7).map_err(db)?,
            ook_id: r.try_get(8).map_err(db)?,
            bpv_id: r.try_get(9).map_err(db)?,
            ondertekenaar: r.try_get(10).map_err(db)?,
            keuzedeel: r.try_get(11).map_err(db)?,
        },
    })
}

fn index_row(r: &Row) -> Result<IndexedAanmelding, ApiStoreError> {
    Ok(IndexedAanmelding {
        seq: r.try_get(0).map_err(db)?,
        aanmelding: r.try_get(1).map_err(db)?,
        brin: r.try_get(2).map_err(db)?,
        dossier: r.try_get(3).map_err(db)?,
    })
}

/// Columns: seq, sjabloon, brin, versie, laatste_versie, inhoud, aangemaakt_op.
const SJABLOON_COLUMNS: &str = "t.seq, t.sjabloon, t.brin, v.versie,
     (SELECT max(versie) FROM api_ook_sjabloon_versie m WHERE m.sjabloon = t.sjabloon),
     v.inhoud, v.aangemaakt_op";

fn sjabloon_row(r: &Row) -> Result<StoredSjabloon, ApiStoreError> {
    Ok(StoredSjabloon {
        seq: r.try_get(0).map_err(db)?,
        sjabloon: r.try_get(1).map_err(db)?,
        brin: r.try_get(2).map_err(db)?,
        versie: r.try_get(3).map_err(db)?,
        laatste_versie: r.try_get(4).map_err(db)?,
        inhoud: r.try_get(5).map_err(db)?,
        aangemaakt_op: r.try_get(6).map_err(db)?,
    })
}

fn ook_row(r: &Row) -> Result<IndexedOok, ApiStoreError> {
    Ok(IndexedOok {
        ook: r.try_get(0).map_err(db)?,
        brin: r.try_get(1).map_err(db)?,
        dossier: r.try_get(2).map_err(db)?,
        aanmelding: r.try_get(3).map_err(db)?,
        sjabloon: r.try_get(4).map_err(db)?,
        versie: r.try_get(5).map_err(db)?,
    })
}

impl PgApiStore {
    /// The version of template `sjabloon` that `request` made, if any.
    async fn sjabloon_made_by(
        client: &impl deadpool_postgres::GenericClient,
        sjabloon: Uuid,
        request: Uuid,
    ) -> Result<Option<StoredSjabloon>, ApiStoreError> {
        let row = client
            .query_opt(
                &format!(
                    "SELECT {SJABLOON_COLUMNS} FROM api_ook_sjabloon t
                     JOIN api_ook_sjabloon_versie v ON v.sjabloon = t.sjabloon
                     WHERE t.sjabloon = $1 AND v.request = $2"
                ),
                &[&sjabloon, &request],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(sjabloon_row).transpose()
    }

    /// Writes a version in one transaction: `new` makes the template (version 1), else the
    /// next version of `brin`'s template. A race on the same template ends in a unique
    /// violation and is retried once by the caller's retry of the request.
    async fn write_sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
        new: bool,
    ) -> Result<SjabloonWrite, ApiStoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let owner: Option<String> = tx
            .query_opt(
                "SELECT brin FROM api_ook_sjabloon WHERE sjabloon = $1 FOR UPDATE",
                &[&sjabloon],
            )
            .await
            .map_err(db)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db)?;
        if let Some(owner) = &owner
            && let Some(v) = Self::sjabloon_made_by(&tx, sjabloon, request).await?
        {
            return Ok(if owner == brin {
                SjabloonWrite::Written(v)
            } else {
                SjabloonWrite::Exists
            });
        }
        match (&owner, new) {
            (Some(_), true) => return Ok(SjabloonWrite::Exists),
            (None, false) => return Ok(SjabloonWrite::NotFound),
            (Some(o), false) if o != brin => return Ok(SjabloonWrite::NotFound),
            (None, true) => {
                tx.execute(
                    "INSERT INTO api_ook_sjabloon (sjabloon, brin) VALUES ($1, $2)",
                    &[&sjabloon, &brin],
                )
                .await
                .map_err(db)?;
            }
            (Some(_), false) => {}
        }
        tx.execute(
            "INSERT INTO api_ook_sjabloon_versie (sjabloon, versie, request, inhoud)
             SELECT $1, coalesce(max(versie), 0) + 1, $2, $3
             FROM api_ook_sjabloon_versie WHERE sjabloon = $1",
            &[&sjabloon, &request, inhoud],
        )
        .await
        .map_err(db)?;
        let written = Self::sjabloon_made_by(&tx, sjabloon, request)
            .await?
            .ok_or_else(|| ApiStoreError::Corrupt("api_ook_sjabloon_versie".into()))?;
        tx.commit().await.map_err(db)?;
        Ok(SjabloonWrite::Written(written))
    }
}

fn webhook_row(r: &Row) -> Result<Webhook, ApiStoreError> {
    Ok(Webhook {
        brin: r.try_get(0).map_err(db)?,
        url: r.try_get(1).map_err(db)?,
        secret: r.try_get(2).map_err(db)?,
        cursor: r.try_get(3).map_err(db)?,
    })
}

#[async_trait]
impl ApiStore for PgApiStore {
    async fn begin_idempotent(
        &self,
        oin: &str,
        key: &str,
        request_hash: &str,
        holder: InstanceId,
        stale_after: std::time::Duration,
    ) -> Result<IdempotencyBegin, ApiStoreError> {
        self.ensure_live(holder).await?;
        let holder = holder.get();
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO api_idempotency (oin, key, request_hash, holder) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (oin, key) DO NOTHING",
                &[&oin, &key, &request_hash, &holder],
            )
            .await
            .map_err(db)?;
        if inserted == 1 {
            return Ok(IdempotencyBegin::Started);
        }
        let stale_secs = stale_after.as_secs_f64();
        // Take over a released record of the same request, an unfinished one whose holder is
        // another instance that holds no liveness lock (it died), or one that is stale.
        let taken = client
            .execute(
                &format!(
                    "UPDATE api_idempotency
                     SET started_at = now(), released = false, prior_attempt = true, holder = $5
                     WHERE oin = $1 AND key = $2 AND request_hash = $3 AND status IS NULL
                       AND (released
                            OR started_at <= now() - make_interval(secs => $4)
                            OR (holder IS DISTINCT FROM $5 AND NOT EXISTS (
                                SELECT 1 FROM pg_locks
                                WHERE locktype = 'advisory' AND granted AND objsubid = 2
                                  AND database = (SELECT oid FROM pg_database
                                                  WHERE datname = current_database())
                                  AND classid::bigint = ({INSTANCE_LOCK_NS}::bigint & 4294967295)
                                  AND objid::bigint = api_idempotency.holder::bigint)))"
                ),
                &[&oin, &key, &request_hash, &stale_secs, &holder],
            )
            .await
            .map_err(db)?;
        if taken == 1 {
            return Ok(IdempotencyBegin::Started);
        }
        let Some(row) = client
            .query_opt(
                "SELECT request_hash, status, location, body FROM api_idempotency
                 WHERE oin = $1 AND key = $2",
                &[&oin, &key],
            )
            .await
            .map_err(db)?
        else {
            // Abandoned in between: the caller may try again.
            return Ok(IdempotencyBegin::InProgress);
        };
        let hash: String = row.try_get(0).map_err(db)?;
        if hash != request_hash {
            return Ok(IdempotencyBegin::Mismatch);
        }
        let status: Option<i32> = row.try_get(1).map_err(db)?;
        match status {
            // Running (or released by another attempt in between: retry shortly).
            None => Ok(IdempotencyBegin::InProgress),
            Some(status) => Ok(IdempotencyBegin::Replay(StoredResponse {
                status: u16::try_from(status)
                    .map_err(|_| ApiStoreError::Corrupt("api_idempotency.status".into()))?,
                location: row.try_get(2).map_err(db)?,
                body: row
                    .try_get::<_, Option<serde_json::Value>>(3)
                    .map_err(db)?
                    .unwrap_or(serde_json::Value::Null),
            })),
        }
    }

    async fn complete_idempotent(
        &self,
        oin: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), ApiStoreError> {
        let status = i32::from(response.status);
        self.client()
            .await?
            .execute(
                "UPDATE api_idempotency SET status = $3, location = $4, body = $5
                 WHERE oin = $1 AND key = $2 AND status IS NULL",
                &[&oin, &key, &status, &response.location, &response.body],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn end_instance(&self, instance: InstanceId) -> Result<(), ApiStoreError> {
        let lease = self.leases.lock().await.remove(&instance);
        if let Some(client) = lease {
            // Unlocked explicitly, so the lock is gone when this returns (closing alone lets the
            // server notice in its own time).
            client
                .execute(
                    &format!("SELECT pg_advisory_unlock({INSTANCE_LOCK_NS}, $1)"),
                    &[&instance.get()],
                )
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn purge_idempotency(
        &self,
        older_than: std::time::Duration,
        limit: usize,
    ) -> Result<u64, ApiStoreError> {
        let secs = older_than.as_secs_f64();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.client()
            .await?
            .execute(
                "DELETE FROM api_idempotency WHERE ctid IN (
                     SELECT ctid FROM api_idempotency
                     WHERE created_at <= now() - make_interval(secs => $1)
                     LIMIT $2)",
                &[&secs, &limit],
            )
            .await
            .map_err(db)
    }

    async fn release_idempotent(&self, oin: &str, key: &str) -> Result<(), ApiStoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE api_idempotency SET released = true
                 WHERE oin = $1 AND key = $2 AND status IS NULL",
                &[&oin, &key],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, oin: &str, key: &str) -> Result<(), ApiStoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute(
                "DELETE FROM api_idempotency
                 WHERE oin = $1 AND key = $2 AND status IS NULL AND NOT prior_attempt",
                &[&oin, &key],
            )
            .await
            .map_err(db)?;
        if deleted == 0 {
            client
                .execute(
                    "UPDATE api_idempotency SET released = true
                     WHERE oin = $1 AND key = $2 AND status IS NULL",
                    &[&oin, &key],
                )
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn index_aanmelding(
        &self,
        aanmelding: Uuid,
        brin: &str,
        dossier: Uuid,
    ) -> Result<(), ApiStoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO api_aanmelding_index (aanmelding, brin, dossier) VALUES ($1, $2, $3)
                 ON CONFLICT (aanmelding) DO NOTHING",
                &[&aanmelding, &brin, &dossier],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn find_aanmelding(
        &self,
        aanmelding: Uuid,
    ) -> Result<Option<IndexedAanmelding>, ApiStoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT seq, aanmelding, brin, dossier FROM api_aanmelding_index
                 WHERE aanmelding = $1",
                &[&aanmelding],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(index_row).transpose()
    }

    async fn list_aanmeldingen(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<IndexedAanmelding>, ApiStoreError> {
        let limit = limit as i64;
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, aanmelding, brin, dossier FROM api_aanmelding_index
                 WHERE brin = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&brin, &after, &limit],
            )
            .await
            .map_err(db)?;
        rows.iter().map(index_row).collect()
    }

    async fn append_feed(&self, brin: &str, item: &NewFeedItem) -> Result<i64, ApiStoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        // Lock the institution's counter first: appends of one institution are serialised, and
        // the duplicate check below then sees every committed append.
        let next: i64 = tx
            .query_one(
                "INSERT INTO api_feed_counter (brin, last) VALUES ($1, 1)
                 ON CONFLICT (brin) DO UPDATE SET last = api_feed_counter.last + 1
                 RETURNING last",
                &[&brin],
            )
            .await
            .map_err(db)?
            .try_get(0)
            .map_err(db)?;
        if let Some(row) = tx
            .query_opt(
                "SELECT wijzigingsvolgnummer FROM api_feed WHERE event_id = $1",
                &[&item.event_id],
            )
            .await
            .map_err(db)?
        {
            let n: i64 = row.try_get(0).map_err(db)?;
            tx.rollback().await.map_err(db)?;
            return Ok(n);
        }
        tx.execute(
            "INSERT INTO api_feed (brin, wijzigingsvolgnummer, event_id, kind, tijd, aanmelding,
                                   status, partner, reden, ook, bpv, ondertekenaar, keuzedeel)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &brin,
                &next,
                &item.event_id,
                &item.kind,
                &item.tijd,
                &item.aanmelding_id,
                &item.status,
                &item.partner,
                &item.reden,
                &item.ook_id,
                &item.bpv_id,
                &item.ondertekenaar,
                &item.keuzedeel,
            ],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(next)
    }

    async fn feed_item_of_event(&self, event_id: Uuid) -> Result<Option<FeedItem>, ApiStoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT wijzigingsvolgnummer, event_id, kind, tijd, aanmelding, status, partner, reden,
                        ook, bpv, ondertekenaar, keuzedeel
                 FROM api_feed WHERE event_id = $1",
                &[&event_id],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(feed_row).transpose()
    }

    async fn feed(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<FeedItem>, ApiStoreError> {
        let limit = limit as i64;
        let rows = self
            .client()
            .await?
            .query(
                "SELECT wijzigingsvolgnummer, event_id, kind, tijd, aanmelding, status, partner, reden,
                        ook, bpv, ondertekenaar, keuzedeel
                 FROM api_feed WHERE brin = $1 AND wijzigingsvolgnummer > $2
                 ORDER BY wijzigingsvolgnummer LIMIT $3",
                &[&brin, &after, &limit],
            )
            .await
            .map_err(db)?;
        rows.iter().map(feed_row).collect()
    }

    async fn create_sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError> {
        self.write_sjabloon(brin, sjabloon, request, inhoud, true)
            .await
    }

    async fn add_sjabloon_versie(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError> {
        self.write_sjabloon(brin, sjabloon, request, inhoud, false)
            .await
    }

    async fn sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        versie: Option<i32>,
    ) -> Result<Option<StoredSjabloon>, ApiStoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {SJABLOON_COLUMNS} FROM api_ook_sjabloon t
                     JOIN api_ook_sjabloon_versie v ON v.sjabloon = t.sjabloon
                     WHERE t.sjabloon = $1 AND t.brin = $2
                       AND ($3::integer IS NULL OR v.versie = $3)
                     ORDER BY v.versie DESC LIMIT 1"
                ),
                &[&sjabloon, &brin, &versie],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(sjabloon_row).transpose()
    }

    async fn list_sjablonen(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredSjabloon>, ApiStoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {SJABLOON_COLUMNS} FROM api_ook_sjabloon t
                     JOIN api_ook_sjabloon_versie v ON v.sjabloon = t.sjabloon
                     WHERE t.brin = $1 AND t.seq > $2
                       AND v.versie = (SELECT max(versie) FROM api_ook_sjabloon_versie m
                                       WHERE m.sjabloon = t.sjabloon)
                     ORDER BY t.seq LIMIT $3"
                ),
                &[&brin, &after, &limit],
            )
            .await
            .map_err(db)?;
        rows.iter().map(sjabloon_row).collect()
    }

    async fn index_ook(&self, entry: &IndexedOok) -> Result<(), ApiStoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO api_ook_index (ook, brin, dossier, aanmelding, sjabloon, versie)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ook) DO NOTHING",
                &[
                    &entry.ook,
                    &entry.brin,
                    &entry.dossier,
                    &entry.aanmelding,
                    &entry.sjabloon,
                    &entry.versie,
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn find_ook(&self, ook: Uuid) -> Result<Option<IndexedOok>, ApiStoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT ook, brin, dossier, aanmelding, sjabloon, versie FROM api_ook_index
                 WHERE ook = $1",
                &[&ook],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(ook_row).transpose()
    }

    async fn index_bpv(&self, entry: &IndexedBpv) -> Result<(), ApiStoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO api_bpv_index (bpv, brin, dossier, ook) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (bpv) DO NOTHING",
                &[&entry.bpv, &entry.brin, &entry.dossier, &entry.ook],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn find_bpv(&self, bpv: Uuid) -> Result<Option<IndexedBpv>, ApiStoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT bpv, brin, dossier, ook FROM api_bpv_index WHERE bpv = $1",
                &[&bpv],
            )
            .await
            .map_err(db)?;
        row.map(|r| {
            Ok(IndexedBpv {
                bpv: r.try_get(0).map_err(db)?,
                brin: r.try_get(1).map_err(db)?,
                dossier: r.try_get(2).map_err(db)?,
                ook: r.try_get(3).map_err(db)?,
            })
        })
        .transpose()
    }

    async fn put_webhook(
        &self,
        brin: &str,
        url: &str,
        secret: &str,
    ) -> Result<Webhook, ApiStoreError> {
        let row = self
            .client()
            .await?
            .query_one(
                "INSERT INTO api_webhook (brin, url, secret, cursor)
                 VALUES ($1, $2, $3, coalesce((SELECT last FROM api_feed_counter WHERE brin = $1), 0))
                 ON CONFLICT (brin) DO UPDATE SET url = excluded.url, secret = excluded.secret
                 RETURNING brin, url, secret, cursor",
                &[&brin, &url, &secret],
            )
            .await
            .map_err(db)?;
        webhook_row(&row)
    }

    async fn webhook(&self, brin: &str) -> Result<Option<Webhook>, ApiStoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT brin, url, secret, cursor FROM api_webhook WHERE brin = $1",
                &[&brin],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(webhook_row).transpose()
    }

    async fn delete_webhook(&self, brin: &str) -> Result<bool, ApiStoreError> {
        let n = self
            .client()
            .await?
            .execute("DELETE FROM api_webhook WHERE brin = $1", &[&brin])
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn webhooks(&self) -> Result<Vec<Webhook>, ApiStoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT brin, url, secret, cursor FROM api_webhook ORDER BY brin",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter().map(webhook_row).collect()
    }

    async fn advance_webhook(&self, brin: &str, to: i64) -> Result<(), ApiStoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE api_webhook SET cursor = greatest(cursor, $2) WHERE brin = $1",
                &[&brin, &to],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn lease_webhook(
        &self,
        brin: &str,
        holder: Uuid,
        ttl: std::time::Duration,
    ) -> Result<bool, ApiStoreError> {
        // The database's clock decides, so the nodes' clocks need not agree.
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE api_webhook
                    SET lease_holder = $2, lease_until = now() + make_interval(secs => $3)
                  WHERE brin = $1
                    AND (lease_holder IS NULL OR lease_holder = $2 OR lease_until < now())",
                &[&brin, &holder, &ttl.as_secs_f64()],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn release_webhook(&self, brin: &str, holder: Uuid) -> Result<(), ApiStoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE api_webhook SET lease_holder = NULL, lease_until = NULL
                  WHERE brin = $1 AND lease_holder = $2",
                &[&brin, &holder],
            )
            .await
            .map_err(db)?;
        Ok(())
    }
}

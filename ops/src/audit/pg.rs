//! The PostgreSQL audit trail: table `ops_audit` (append-only, guarded by a trigger) and
//! `ops_audit_head` (one row per chain, locked `FOR UPDATE` while appending).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use knooppunt_registry::envelope::DossierKey;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{AuditEntry, AuditRecord, AuditTrail, ChainHead, GENESIS_HASH, Hop};
use crate::OpsError;

const COLUMNS: &str = "chain, seq, hop, at, message_id, subject, partner, endpoint, status, \
                       duration_ms, payload_hash, actor, reason, attempt, prev_hash, hash";

/// The audit trail in PostgreSQL (tables from [`crate::migrate`]). The code has no UPDATE or
/// DELETE path on `ops_audit`; a trigger refuses them anyway.
#[derive(Debug, Clone)]
pub struct PgAudit {
    pool: Pool,
}

impl PgAudit {
    /// A trail on this pool (run [`crate::migrate`] first).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Appends `entries` (already validated and normalised) in one transaction and returns the
    /// stored records in input order.
    async fn append_batch(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let records = append_in(&tx, entries).await?;
        tx.commit().await?;
        Ok(records)
    }
}

/// Appends `entries` (already validated and normalised) inside `tx` (not committed here) and
/// returns the records in input order. Used by [`PgAudit`] and by
/// [`crate::PgDeliveryState::finish_many`], which writes the inbox marks in the same transaction.
pub(crate) async fn append_in(
    tx: &deadpool_postgres::Transaction<'_>,
    entries: Vec<AuditEntry>,
) -> Result<Vec<AuditRecord>, OpsError> {
    {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // Sorted and unique: rows are created and locked in one global order, so concurrent
        // batches over overlapping chains cannot deadlock.
        let chains: Vec<String> = entries
            .iter()
            .map(|e| e.chain.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Creates missing heads and locks every head row (DO UPDATE takes the row lock, like
        // FOR UPDATE) in one round trip; RETURNING gives the current seq and hash.
        let lock = tx
            .prepare_cached(
                "INSERT INTO ops_audit_head AS h (chain, seq, hash) \
                 SELECT c, 0, $2 FROM unnest($1::text[]) AS c ORDER BY c \
                 ON CONFLICT (chain) DO UPDATE SET seq = h.seq \
                 RETURNING chain, seq, hash",
            )
            .await?;
        let mut heads: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for row in tx.query(&lock, &[&chains, &GENESIS_HASH]).await? {
            let chain: String = row.try_get(0)?;
            let seq = to_u64("seq", row.try_get::<_, i64>(1)?)?;
            heads.insert(chain, (seq, row.try_get(2)?));
        }

        let mut records = Vec::with_capacity(entries.len());
        for entry in entries {
            let head = heads
                .entry(entry.chain.clone())
                .or_insert_with(|| (0, GENESIS_HASH.to_owned()));
            let record = AuditRecord::link(head.0 + 1, entry, head.1.clone());
            *head = (record.seq, record.hash.clone());
            records.push(record);
        }

        let mut cols = Columns::default();
        for r in &records {
            cols.push(r)?;
        }
        let (head_chains, (head_seqs, head_hashes)): (Vec<String>, (Vec<i64>, Vec<String>)) = heads
            .into_iter()
            .map(|(c, (s, h))| (c, (i64::try_from(s).unwrap_or(i64::MAX), h)))
            .unzip();
        // Inserts the records and moves the heads in one statement (one round trip). The heads
        // exist and are locked (above); the upsert moves them through the primary key, where an
        // UPDATE ... FROM unnest was planned as a hash join over a scan of every head.
        let write = tx
            .prepare_cached(&format!(
                "WITH ins AS (INSERT INTO ops_audit ({COLUMNS}) SELECT * FROM unnest(\
                 $1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::uuid[], $6::uuid[], \
                 $7::text[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[], \
                 $13::text[], $14::bigint[], $15::text[], $16::text[]) RETURNING 1), \
                 upd AS (INSERT INTO ops_audit_head AS h (chain, seq, hash) \
                 SELECT * FROM unnest($17::text[], $18::bigint[], $19::text[]) \
                 ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash \
                 RETURNING 1) \
                 SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM upd) AS heads"
            ))
            .await?;
        let row = tx
            .query_one(
                &write,
                &[
                    &cols.chain,
                    &cols.seq,
                    &cols.hop,
                    &cols.at,
                    &cols.message_id,
                    &cols.subject,
                    &cols.partner,
                    &cols.endpoint,
                    &cols.status,
                    &cols.duration_ms,
                    &cols.payload_hash,
                    &cols.actor,
                    &cols.reason,
                    &cols.attempt,
                    &cols.prev_hash,
                    &cols.hash,
                    &head_chains,
                    &head_seqs,
                    &head_hashes,
                ],
            )
            .await?;
        let inserted: i64 = row.try_get("inserted")?;
        let moved: i64 = row.try_get("heads")?;
        if inserted != records.len() as i64 || moved != head_chains.len() as i64 {
            return Err(OpsError::Corrupt {
                what: "audit append",
                reason: format!("wrote {inserted} records and {moved} heads"),
            });
        }
        Ok(records)
    }
}

/// Column arrays for one multi-row insert.
#[derive(Default)]
struct Columns {
    chain: Vec<String>,
    seq: Vec<i64>,
    hop: Vec<&'static str>,
    at: Vec<DateTime<Utc>>,
    message_id: Vec<Option<Uuid>>,
    subject: Vec<Option<Uuid>>,
    partner: Vec<Option<String>>,
    endpoint: Vec<Option<String>>,
    status: Vec<Option<String>>,
    duration_ms: Vec<Option<i64>>,
    payload_hash: Vec<Option<String>>,
    actor: Vec<Option<String>>,
    reason: Vec<Option<String>>,
    attempt: Vec<Option<i64>>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

impl Columns {
    fn push(&mut self, r: &AuditRecord) -> Result<(), OpsError> {
        let e = &r.entry;
        self.chain.push(e.chain.clone());
        self.seq
            .push(i64::try_from(r.seq).map_err(|_| OpsError::Invalid {
                field: "seq",
                reason: "out of range",
            })?);
        self.hop.push(e.hop.as_str());
        self.at.push(e.at);
        self.message_id.push(e.message_id);
        self.subject.push(e.subject.map(|k| k.0));
        self.partner.push(e.partner.clone());
        self.endpoint.push(e.endpoint.clone());
        self.status.push(e.status.clone());
        self.duration_ms
            .push(e.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)));
        self.payload_hash.push(e.payload_hash.clone());
        self.actor.push(e.actor.clone());
        self.reason.push(e.reason.clone());
        self.attempt.push(e.attempt.map(i64::from));
        self.prev_hash.push(r.prev_hash.clone());
        self.hash.push(r.hash.clone());
        Ok(())
    }
}

fn to_u64(what: &'static str, v: i64) -> Result<u64, OpsError> {
    u64::try_from(v).map_err(|_| OpsError::Corrupt {
        what: "audit record",
        reason: format!("negative {what}"),
    })
}

fn from_row(row: &Row) -> Result<AuditRecord, OpsError> {
    let hop: String = row.try_get("hop")?;
    let entry = AuditEntry {
        chain: row.try_get("chain")?,
        hop: hop.parse::<Hop>().map_err(|_| OpsError::Corrupt {
            what: "audit record",
            reason: "unknown hop".to_owned(),
        })?,
        at: row.try_get("at")?,
        message_id: row.try_get("message_id")?,
        subject: row.try_get::<_, Option<Uuid>>("subject")?.map(DossierKey),
        partner: row.try_get("partner")?,
        endpoint: row.try_get("endpoint")?,
        status: row.try_get("status")?,
        duration_ms: row
            .try_get::<_, Option<i64>>("duration_ms")?
            .map(|d| to_u64("duration_ms", d))
            .transpose()?,
        payload_hash: row.try_get("payload_hash")?,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
        attempt: row
            .try_get::<_, Option<i64>>("attempt")?
            .map(|a| {
                u32::try_from(a).map_err(|_| OpsError::Corrupt {
                    what: "audit record",
                    reason: "attempt out of range".to_owned(),
                })
            })
            .transpose()?,
    };
    Ok(AuditRecord {
        seq: to_u64("seq", row.try_get("seq")?)?,
        entry,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

#[async_trait]
impl AuditTrail for PgAudit {
    async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, OpsError> {
        entry.validate()?;
        self.append_batch(vec![entry.normalised()])
            .await?
            .pop()
            .ok_or(OpsError::Corrupt {
                what: "audit append",
                reason: "no record returned".to_owned(),
            })
    }

    async fn append_many(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError> {
        for e in &entries {
            e.validate()?;
        }
        self.append_batch(entries.into_iter().map(AuditEntry::normalised).collect())
            .await
    }

    async fn chain(&self, chain: &str) -> Result<Vec<AuditRecord>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM ops_audit WHERE chain = $1 ORDER BY seq"
            ))
            .await?;
        client
            .query(&stmt, &[&chain])
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    async fn head(&self, chain: &str) -> Result<Option<ChainHead>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT seq, hash FROM ops_audit_head WHERE chain = $1 AND seq > 0")
            .await?;
        match client.query_opt(&stmt, &[&chain]).await? {
            Some(row) => Ok(Some(ChainHead {
                seq: to_u64("seq", row.try_get("seq")?)?,
                hash: row.try_get("hash")?,
            })),
            None => Ok(None),
        }
    }

    async fn for_message(&self, id: Uuid) -> Result<Vec<AuditRecord>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM ops_audit WHERE message_id = $1 ORDER BY chain, seq"
            ))
            .await?;
        client
            .query(&stmt, &[&id])
            .await?
            .iter()
            .map(from_row)
            .collect()
    }
}

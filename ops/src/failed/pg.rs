//! Delivery state in PostgreSQL: tables `ops_inbox`, `ops_blocker`, `ops_held`, `ops_parked`
//! (created by [`crate::migrate`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{DeliveryState, HeldMessage, ParkedMessage, WaitingInfo};
use crate::OpsError;
use crate::audit::AuditEntry;

const PARKED_COLUMNS: &str = "consumer, message_id, subject, partner, reason, attempts, \
                              first_failure, last_failure, last_error, headers, body";

/// Delivery state in PostgreSQL; survives restarts and is shared by every gateway instance.
#[derive(Debug, Clone)]
pub struct PgDeliveryState {
    pool: Pool,
    audit: bool,
}

impl PgDeliveryState {
    /// State on this pool (run [`crate::migrate`] first).
    pub fn new(pool: Pool) -> Self {
        Self { pool, audit: false }
    }

    /// Also writes the audit trail (`ops_audit` in the same database, as [`crate::PgAudit`] on
    /// this pool does): [`DeliveryState::finish_many`] then stores a batch's audit records and
    /// inbox marks in one transaction.
    pub fn with_audit(mut self) -> Self {
        self.audit = true;
        self
    }

    /// Inserts the inbox marks inside `tx`; `true` for the pairs that were new (the first
    /// occurrence of a pair given twice).
    async fn mark_in(
        tx: &impl deadpool_postgres::GenericClient,
        done: Vec<(String, Uuid, String)>,
    ) -> Result<Vec<bool>, OpsError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let mut consumers = Vec::with_capacity(done.len());
        let mut ids = Vec::with_capacity(done.len());
        let mut outcomes = Vec::with_capacity(done.len());
        for (c, m, o) in done {
            consumers.push(c);
            ids.push(m);
            outcomes.push(o);
        }
        let stmt = tx.prepare_cached(MARK_DONE_MANY).await?;
        let mut inserted = std::collections::HashSet::new();
        for row in tx.query(&stmt, &[&consumers, &ids, &outcomes]).await? {
            let c: String = row.try_get(0)?;
            let m: Uuid = row.try_get(1)?;
            inserted.insert((c, m));
        }
        Ok(consumers
            .into_iter()
            .zip(ids)
            .map(|(c, m)| inserted.remove(&(c, m)))
            .collect())
    }
}

/// One statement, one commit. A pair twice in the batch is inserted once (the first, by
/// ordinality); RETURNING names the rows that were new.
const MARK_DONE_MANY: &str = "INSERT INTO ops_inbox (consumer, message_id, outcome) \
     SELECT u.c, u.m, u.o FROM unnest($1::text[], $2::uuid[], $3::text[]) \
     WITH ORDINALITY AS u(c, m, o, n) ORDER BY u.n \
     ON CONFLICT (consumer, message_id) DO NOTHING \
     RETURNING consumer, message_id";

fn headers_json(h: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        h.iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

fn headers_from(
    what: &'static str,
    v: serde_json::Value,
) -> Result<BTreeMap<String, String>, OpsError> {
    serde_json::from_value(v).map_err(|e| OpsError::Corrupt {
        what,
        reason: format!("headers: {}", e.classify_name()),
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "not a map of strings",
            serde_json::error::Category::Eof => "eof",
        }
    }
}

fn held_from(row: &Row) -> Result<HeldMessage, OpsError> {
    Ok(HeldMessage {
        message_id: row.try_get("message_id")?,
        headers: headers_from("held message", row.try_get("headers")?)?,
        body: row.try_get("body")?,
        held_at: row.try_get("held_at")?,
    })
}

fn parked_from(row: &Row) -> Result<ParkedMessage, OpsError> {
    Ok(ParkedMessage {
        consumer: row.try_get("consumer")?,
        message_id: row.try_get("message_id")?,
        subject: row.try_get("subject")?,
        partner: row.try_get("partner")?,
        reason: row.try_get("reason")?,
        attempts: u32::try_from(row.try_get::<_, i64>("attempts")?).map_err(|_| {
            OpsError::Corrupt {
                what: "parked message",
                reason: "attempts out of range".to_owned(),
            }
        })?,
        first_failure: row.try_get("first_failure")?,
        last_failure: row.try_get("last_failure")?,
        last_error: row.try_get("last_error")?,
        headers: headers_from("parked message", row.try_get("headers")?)?,
        body: row.try_get("body")?,
    })
}

#[async_trait]
impl DeliveryState for PgDeliveryState {
    async fn seen(&self, consumer: &str, message_id: Uuid) -> Result<bool, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached("SELECT 1 FROM ops_inbox WHERE consumer = $1 AND message_id = $2")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&consumer, &message_id])
            .await?
            .is_some())
    }

    async fn mark_done(
        &self,
        consumer: &str,
        message_id: Uuid,
        outcome: &str,
    ) -> Result<bool, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO ops_inbox (consumer, message_id, outcome) VALUES ($1, $2, $3) \
                 ON CONFLICT (consumer, message_id) DO NOTHING",
            )
            .await?;
        Ok(client
            .execute(&stmt, &[&consumer, &message_id, &outcome])
            .await?
            == 1)
    }

    async fn seen_many(&self, keys: Vec<(String, Uuid)>) -> Result<Vec<bool>, OpsError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (consumers, ids): (Vec<String>, Vec<Uuid>) = keys.into_iter().unzip();
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                // One primary-key probe per message (a LATERAL with LIMIT is never turned into
                // a hash join): with EXISTS, PostgreSQL planned a hash join over a sequential
                // scan of the inbox while it was small and kept that plan as it grew.
                "SELECT u.n FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS u(c, m, n) \
                 CROSS JOIN LATERAL (SELECT 1 FROM ops_inbox i \
                 WHERE i.consumer = u.c AND i.message_id = u.m LIMIT 1) AS i",
            )
            .await?;
        let mut out = vec![false; ids.len()];
        for row in client.query(&stmt, &[&consumers, &ids]).await? {
            let n: i64 = row.try_get(0)?;
            if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| out.get_mut(i)) {
                *slot = true;
            }
        }
        Ok(out)
    }

    async fn blockers(&self, keys: Vec<(String, String)>) -> Result<Vec<Option<Uuid>>, OpsError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (consumers, subjects): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT u.n, b.message_id FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(c, s, n) \
                 JOIN ops_blocker b ON b.consumer = u.c AND b.subject = u.s",
            )
            .await?;
        let mut out = vec![None; subjects.len()];
        for row in client.query(&stmt, &[&consumers, &subjects]).await? {
            let n: i64 = row.try_get(0)?;
            if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| out.get_mut(i)) {
                *slot = Some(row.try_get(1)?);
            }
        }
        Ok(out)
    }

    async fn mark_done_many(
        &self,
        done: Vec<(String, Uuid, String)>,
    ) -> Result<Vec<bool>, OpsError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        // One statement in autocommit: one transaction.
        let client = self.pool.get().await?;
        Self::mark_in(&client, done).await
    }

    fn writes_audit(&self) -> bool {
        self.audit
    }

    async fn finish_many(
        &self,
        done: Vec<(String, Uuid, String)>,
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<bool>, OpsError> {
        if !self.audit {
            return Err(OpsError::Invalid {
                field: "finish_many",
                reason: "this delivery state does not write the audit trail",
            });
        }
        for e in &entries {
            e.validate()?;
        }
        let entries: Vec<AuditEntry> = entries.into_iter().map(AuditEntry::normalised).collect();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The audit records first (their head rows are locked in chain order), then the marks.
        crate::audit::append_in(&tx, entries).await?;
        let marked = Self::mark_in(&tx, done).await?;
        tx.commit().await?;
        Ok(marked)
    }

    async fn blocker(&self, consumer: &str, subject: &str) -> Result<Option<Uuid>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT message_id FROM ops_blocker WHERE consumer = $1 AND subject = $2",
            )
            .await?;
        Ok(
            match client.query_opt(&stmt, &[&consumer, &subject]).await? {
                Some(row) => Some(row.try_get(0)?),
                None => None,
            },
        )
    }

    async fn block(&self, consumer: &str, subject: &str, message_id: Uuid) -> Result<(), OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO ops_blocker (consumer, subject, message_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (consumer, subject) DO NOTHING",
            )
            .await?;
        client
            .execute(&stmt, &[&consumer, &subject, &message_id])
            .await?;
        Ok(())
    }

    async fn hold(
        &self,
        consumer: &str,
        subject: &str,
        message: HeldMessage,
    ) -> Result<bool, OpsError> {
        let client = self.pool.get().await?;
        // The blocker row is locked FOR SHARE, so a concurrent unblock either sees this held
        // row (and returns it) or has already removed the blocker (and nothing is held).
        let stmt = client
            .prepare_cached(
                "WITH b AS (SELECT 1 FROM ops_blocker WHERE consumer = $1 AND subject = $2 FOR SHARE), \
                 ins AS (INSERT INTO ops_held (consumer, subject, message_id, headers, body, held_at) \
                         SELECT $1, $2, $3, $4, $5, $6 FROM b \
                         ON CONFLICT (consumer, subject, message_id) DO NOTHING RETURNING 1) \
                 SELECT (SELECT count(*) FROM b) AS blocked",
            )
            .await?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &consumer,
                    &subject,
                    &message.message_id,
                    &headers_json(&message.headers),
                    &message.body,
                    &message.held_at,
                ],
            )
            .await?;
        Ok(row.try_get::<_, i64>("blocked")? > 0)
    }

    async fn unblock_and_take_held(
        &self,
        consumer: &str,
        subject: &str,
    ) -> Result<Vec<HeldMessage>, OpsError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let unblock = tx
            .prepare_cached(
                "DELETE FROM ops_blocker WHERE consumer = $1 AND subject = $2 RETURNING message_id",
            )
            .await?;
        let blocker: Option<Uuid> = match tx.query_opt(&unblock, &[&consumer, &subject]).await? {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        };
        let take = tx
            .prepare_cached(
                "DELETE FROM ops_held WHERE consumer = $1 AND subject = $2 \
                 RETURNING position, message_id, headers, body, held_at",
            )
            .await?;
        let mut rows = tx.query(&take, &[&consumer, &subject]).await?;
        tx.commit().await?;
        rows.sort_by_key(|r| r.try_get::<_, i64>("position").unwrap_or(i64::MAX));
        let mut held = rows.iter().map(held_from).collect::<Result<Vec<_>, _>>()?;
        held.retain(|m| Some(m.message_id) != blocker);
        Ok(held)
    }

    async fn promote_next_held(
        &self,
        consumer: &str,
        subject: &str,
        finished: Uuid,
    ) -> Result<Option<HeldMessage>, OpsError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The blocker row is locked FOR UPDATE: a concurrent `hold` (FOR SHARE) either committed
        // its held row before (and it is seen below) or runs after and sees the new state.
        let lock = tx
            .prepare_cached(
                "SELECT message_id FROM ops_blocker WHERE consumer = $1 AND subject = $2 FOR UPDATE",
            )
            .await?;
        let current: Option<Uuid> = match tx.query_opt(&lock, &[&consumer, &subject]).await? {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        };
        if current != Some(finished) {
            tx.commit().await?;
            return Ok(None);
        }
        // Forget the finished message's own copy (left by its promotion), pick the oldest held
        // message and make it the blocker, or unblock the subject: one statement.
        let promote = tx
            .prepare_cached(
                "WITH gone AS (DELETE FROM ops_held WHERE consumer = $1 AND subject = $2 AND message_id = $3), \
                 next AS (SELECT position, message_id, headers, body, held_at FROM ops_held \
                          WHERE consumer = $1 AND subject = $2 AND message_id <> $3 \
                          ORDER BY position LIMIT 1), \
                 moved AS (UPDATE ops_blocker b SET message_id = next.message_id, since = now() \
                           FROM next WHERE b.consumer = $1 AND b.subject = $2 RETURNING 1), \
                 cleared AS (DELETE FROM ops_blocker WHERE consumer = $1 AND subject = $2 \
                             AND NOT EXISTS (SELECT 1 FROM next) RETURNING 1) \
                 SELECT position, message_id, headers, body, held_at FROM next",
            )
            .await?;
        let row = tx
            .query_opt(&promote, &[&consumer, &subject, &finished])
            .await?;
        tx.commit().await?;
        row.as_ref().map(held_from).transpose()
    }

    async fn waiting(&self, consumer: &str) -> Result<Vec<WaitingInfo>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT b.subject, b.message_id, b.since, count(h.position) AS held, \
                        min(h.held_at) AS oldest \
                 FROM ops_blocker b \
                 LEFT JOIN ops_held h ON h.consumer = b.consumer AND h.subject = b.subject \
                      AND h.message_id <> b.message_id \
                 WHERE b.consumer = $1 \
                 GROUP BY b.subject, b.message_id, b.since \
                 ORDER BY b.since, b.subject",
            )
            .await?;
        client
            .query(&stmt, &[&consumer])
            .await?
            .iter()
            .map(|row| {
                Ok(WaitingInfo {
                    subject: row.try_get("subject")?,
                    blocker: row.try_get("message_id")?,
                    blocked_since: row.try_get("since")?,
                    held: u64::try_from(row.try_get::<_, i64>("held")?).unwrap_or(0),
                    oldest_held_at: row.try_get("oldest")?,
                })
            })
            .collect()
    }

    async fn park(&self, p: ParkedMessage) -> Result<(), OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "INSERT INTO ops_parked ({PARKED_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (consumer, message_id) DO UPDATE SET \
                   subject = EXCLUDED.subject, partner = EXCLUDED.partner, \
                   reason = EXCLUDED.reason, attempts = EXCLUDED.attempts, \
                   first_failure = EXCLUDED.first_failure, last_failure = EXCLUDED.last_failure, \
                   last_error = EXCLUDED.last_error, headers = EXCLUDED.headers, body = EXCLUDED.body"
            ))
            .await?;
        client
            .execute(
                &stmt,
                &[
                    &p.consumer,
                    &p.message_id,
                    &p.subject,
                    &p.partner,
                    &p.reason,
                    &i64::from(p.attempts),
                    &p.first_failure,
                    &p.last_failure,
                    &p.last_error,
                    &headers_json(&p.headers),
                    &p.body,
                ],
            )
            .await?;
        Ok(())
    }

    async fn parked(&self, consumer: &str) -> Result<Vec<ParkedMessage>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {PARKED_COLUMNS} FROM ops_parked WHERE consumer = $1 \
                 ORDER BY last_failure, message_id"
            ))
            .await?;
        client
            .query(&stmt, &[&consumer])
            .await?
            .iter()
            .map(parked_from)
            .collect()
    }

    async fn take_parked(
        &self,
        consumer: &str,
        message_id: Uuid,
    ) -> Result<Option<ParkedMessage>, OpsError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(&format!(
                "DELETE FROM ops_parked WHERE consumer = $1 AND message_id = $2 \
                 RETURNING {PARKED_COLUMNS}"
            ))
            .await?;
        match client.query_opt(&stmt, &[&consumer, &message_id]).await? {
            Some(row) => Ok(Some(parked_from(&row)?)),
            None => Ok(None),
        }
    }
}

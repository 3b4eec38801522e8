//! Durable delivery state per consumer (adapter): the inbox (exactly-once effect per
//! (consumer, message id)), per-subject ordering holds, and parked messages that operators
//! replay or discard through [`FailedMessages`].
//!
//! *Architecture invariant:* the state is keyed by consumer name, message id and subject
//! (dossier key); bodies of held and parked messages are kept as opaque bytes for re-delivery
//! and never logged, audited or shown in `Debug` output.

mod batching;
mod memory;
mod pg;
mod service;

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::OpsError;
use crate::audit::AuditEntry;

pub use batching::{BatchingDeliveryState, StateBatchConfig};
pub use memory::MemoryDeliveryState;
pub use pg::PgDeliveryState;
pub use service::{Discarded, FailedMessages, OperatorAction};

/// A message held back because an earlier message about the same subject is still retrying or
/// parked. A durable copy: the runtime acks the bus message once this is stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldMessage {
    /// The message id.
    pub message_id: Uuid,
    /// The message's headers/properties as the bus carried them (ids and codes).
    pub headers: BTreeMap<String, String>,
    /// The message body as the bus carried it. Opaque; may hold personal data; never logged.
    pub body: Vec<u8>,
    /// When it was held (set by the caller; arrival order is kept by the store regardless).
    pub held_at: DateTime<Utc>,
}

impl fmt::Debug for HeldMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldMessage")
            .field("message_id", &self.message_id)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .field("held_at", &self.held_at)
            .finish()
    }
}

/// What operators see per blocked subject: who blocks, how many wait behind it, since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingInfo {
    /// The subject (dossier key) whose messages wait.
    pub subject: String,
    /// The message that is retrying or parked and blocks the subject.
    pub blocker: Uuid,
    /// Since when the subject is blocked.
    pub blocked_since: DateTime<Utc>,
    /// How many messages are held behind the blocker.
    pub held: u64,
    /// When the oldest held message arrived, if any.
    pub oldest_held_at: Option<DateTime<Utc>>,
}

/// A message whose retries are exhausted, waiting for an operator.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedMessage {
    /// The consumer (adapter) that could not deliver it.
    pub consumer: String,
    /// The message id.
    pub message_id: Uuid,
    /// The subject (dossier key), when the message has one.
    pub subject: Option<String>,
    /// The partner it was for.
    pub partner: String,
    /// Why it was parked: an error *class* (`retries_exhausted`, `breaker_open`, …).
    pub reason: String,
    /// How many delivery attempts were made.
    pub attempts: u32,
    /// When the first attempt failed.
    pub first_failure: DateTime<Utc>,
    /// When the last attempt failed.
    pub last_failure: DateTime<Utc>,
    /// The last error as a class and status (`http_503`, `timeout`), never a response body.
    pub last_error: String,
    /// The message's headers as the bus carried them.
    pub headers: BTreeMap<String, String>,
    /// The message body for replay. Opaque; never logged.
    pub body: Vec<u8>,
}

impl fmt::Debug for ParkedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParkedMessage")
            .field("consumer", &self.consumer)
            .field("message_id", &self.message_id)
            .field("subject", &self.subject)
            .field("partner", &self.partner)
            .field("reason", &self.reason)
            .field("attempts", &self.attempts)
            .field("first_failure", &self.first_failure)
            .field("last_failure", &self.last_failure)
            .field("last_error", &self.last_error)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Durable delivery state per consumer; memory ([`MemoryDeliveryState`]) and PostgreSQL
/// ([`PgDeliveryState`]) behave the same (one behaviour suite runs on both).
#[async_trait]
pub trait DeliveryState: Send + Sync {
    /// Whether `consumer` already finished `message_id` (inbox lookup).
    async fn seen(&self, consumer: &str, message_id: Uuid) -> Result<bool, OpsError>;
    /// Records that `consumer` finished `message_id` with `outcome` (`delivered`, `rejected`,
    /// `discarded`). Returns `true` the first time, `false` when it was already recorded (the
    /// first outcome is kept). Safe under concurrency: exactly one caller gets `true`.
    async fn mark_done(
        &self,
        consumer: &str,
        message_id: Uuid,
        outcome: &str,
    ) -> Result<bool, OpsError>;
    /// The message that currently blocks `subject` for `consumer`, if any.
    async fn blocker(&self, consumer: &str, subject: &str) -> Result<Option<Uuid>, OpsError>;
    /// [`seen`](Self::seen) for several (consumer, message id) pairs, answers in input order.
    /// The default asks one by one.
    async fn seen_many(&self, keys: Vec<(String, Uuid)>) -> Result<Vec<bool>, OpsError> {
        let mut out = Vec::with_capacity(keys.len());
        for (consumer, id) in keys {
            out.push(self.seen(&consumer, id).await?);
        }
        Ok(out)
    }
    /// [`blocker`](Self::blocker) for several (consumer, subject) pairs, answers in input
    /// order. The default asks one by one.
    async fn blockers(&self, keys: Vec<(String, String)>) -> Result<Vec<Option<Uuid>>, OpsError> {
        let mut out = Vec::with_capacity(keys.len());
        for (consumer, subject) in keys {
            out.push(self.blocker(&consumer, &subject).await?);
        }
        Ok(out)
    }
    /// [`mark_done`](Self::mark_done) for several (consumer, message id, outcome) triples, as
    /// if called in input order (a pair twice: only the first gets `true`). Implementations may
    /// write them in one transaction; the default writes one by one.
    async fn mark_done_many(
        &self,
        done: Vec<(String, Uuid, String)>,
    ) -> Result<Vec<bool>, OpsError> {
        let mut out = Vec::with_capacity(done.len());
        for (consumer, id, outcome) in done {
            out.push(self.mark_done(&consumer, id, &outcome).await?);
        }
        Ok(out)
    }
    /// Whether [`finish_many`](Self::finish_many) is supported: this state writes the audit
    /// trail itself, in the same transaction as the inbox marks
    /// ([`PgDeliveryState::with_audit`]). The default is `false`.
    fn writes_audit(&self) -> bool {
        false
    }
    /// Appends the audit `entries` of finished messages and marks `done` (as
    /// [`mark_done_many`](Self::mark_done_many)) in one transaction: all or nothing, one commit.
    /// Only when [`writes_audit`](Self::writes_audit); the default refuses.
    async fn finish_many(
        &self,
        done: Vec<(String, Uuid, String)>,
        entries: Vec<AuditEntry>,
    ) -> Result<Vec<bool>, OpsError> {
        let _ = (done, entries);
        Err(OpsError::Invalid {
            field: "finish_many",
            reason: "this delivery state does not write the audit trail",
        })
    }
    /// [`finish_many`](Self::finish_many) for one message.
    async fn finish(
        &self,
        consumer: &str,
        message_id: Uuid,
        outcome: &str,
        entries: Vec<AuditEntry>,
    ) -> Result<bool, OpsError> {
        let marked = self
            .finish_many(
                vec![(consumer.to_owned(), message_id, outcome.to_owned())],
                entries,
            )
            .await?;
        Ok(marked.first().copied().unwrap_or(false))
    }
    /// Makes `message_id` the blocker of `subject` (a later call for the same subject replaces
    /// the blocker only if none is set; the first blocker stays until unblocked).
    async fn block(&self, consumer: &str, subject: &str, message_id: Uuid) -> Result<(), OpsError>;
    /// Stores a durable copy of a message that must wait behind the blocker, in arrival order,
    /// atomically with a check that the subject is still blocked. Returns `true` when held;
    /// `false` when the subject is no longer blocked (the blocker finished in the meantime), in
    /// which case nothing is stored and the caller delivers the message now. Holding the same
    /// message id twice keeps one copy.
    async fn hold(
        &self,
        consumer: &str,
        subject: &str,
        message: HeldMessage,
    ) -> Result<bool, OpsError>;
    /// Removes the blocker of `subject` and returns (and forgets) the held messages in arrival
    /// order, for the runtime to deliver next (without the blocker's own copy, which a
    /// [`promote_next_held`](Self::promote_next_held) may have left). Prefer
    /// `promote_next_held`, which cannot lose held messages in a crash.
    async fn unblock_and_take_held(
        &self,
        consumer: &str,
        subject: &str,
    ) -> Result<Vec<HeldMessage>, OpsError>;
    /// The blocker `finished` of `subject` is done: atomically forgets it and makes the oldest
    /// held message the subject's new blocker, which is returned for the caller to put back on
    /// the work queue; the other held messages stay held behind it. `None` when nothing was held
    /// (the subject is no longer blocked) or when `finished` is not the subject's blocker (then
    /// nothing changes).
    ///
    /// Unlike [`unblock_and_take_held`](Self::unblock_and_take_held) followed by `block` and
    /// `hold`, no crash can lose a held message: the promoted message's durable copy stays in
    /// the held list until the promoted message itself finishes (the next promotion removes it;
    /// [`waiting`](Self::waiting) does not count it).
    async fn promote_next_held(
        &self,
        consumer: &str,
        subject: &str,
        finished: Uuid,
    ) -> Result<Option<HeldMessage>, OpsError>;
    /// Every blocked subject of `consumer` with its blocker and held count (the operators' view),
    /// oldest block first.
    async fn waiting(&self, consumer: &str) -> Result<Vec<WaitingInfo>, OpsError>;
    /// Parks a message (replacing an earlier parked copy of the same message id).
    async fn park(&self, parked: ParkedMessage) -> Result<(), OpsError>;
    /// The parked messages of `consumer`, oldest last failure first.
    async fn parked(&self, consumer: &str) -> Result<Vec<ParkedMessage>, OpsError>;
    /// Removes and returns a parked message (for replay or discard); `None` when not parked.
    async fn take_parked(
        &self,
        consumer: &str,
        message_id: Uuid,
    ) -> Result<Option<ParkedMessage>, OpsError>;
}

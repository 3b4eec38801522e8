//! The audit trail: every hop of every message, every operator action and every read of personal
//! data, append-only and hash-chained (`docs/audit.md`).
//!
//! *Architecture invariant:* an [`AuditEntry`] holds ids, hashes, bounded codes and an operator's
//! reason — never a payload, a BSN, a name or an address. There is no free-text payload field, and
//! [`AuditEntry::validate`] refuses values that look like personal data or do not fit their field.
//!
//! Records form *chains*. Each record carries the hash of the previous record of its chain; the
//! hash is SHA-256 over a canonical encoding of the record and that previous hash
//! ([`record_hash`]). [`verify_chain`] recomputes a chain and reports the first broken link.
//! Chains are small on purpose (one per message, one per dossier for reads), so concurrent appends
//! to different chains never wait for each other; see [`AuditEntry::message_chain`].

mod batching;
mod memory;
mod pg;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use knooppunt_registry::envelope::DossierKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::OpsError;

pub use batching::{BatchConfig, BatchingAudit};
pub use memory::MemoryAudit;
pub use pg::PgAudit;
pub(crate) use pg::append_in;

/// The `prev_hash` of the first record of every chain: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version tag at the start of the canonical encoding; change it when the encoding changes.
const CANONICAL_VERSION: &str = "knooppunt-audit-v1";

/// The hops a message (or a read) goes through. Stored by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hop {
    /// The gateway accepted a request or a partner answer.
    Received,
    /// The message passed validation (schema, business rules).
    Validated,
    /// The registry committed the change (and its outbox rows).
    Stored,
    /// The message was published on the bus (broker confirmed).
    Published,
    /// A consumer (adapter) took the message from its queue.
    Consumed,
    /// One delivery attempt to a partner: endpoint, status, duration, payload hash.
    Attempt,
    /// The partner accepted the message.
    Delivered,
    /// The partner's answer came back (accepted, rejected with signals).
    Answered,
    /// The partner refused the content (permanent failure, a business outcome).
    Rejected,
    /// A transient failure sent the message to a retry tier.
    Retried,
    /// The message waits behind an earlier message about the same subject.
    Held,
    /// A held message was released after the earlier one finished.
    Released,
    /// Retries are exhausted; the message is parked for an operator.
    Parked,
    /// An operator replayed a parked message (actor and reason recorded).
    Replayed,
    /// An operator discarded a parked message (actor and reason recorded).
    Discarded,
    /// Someone read (part of) a dossier: actor, part (`status`), legal ground (`reason`).
    Read,
    /// A read was refused by the access policy.
    ReadDenied,
    /// An operator changed a partner's runtime controls (maintenance window, shadow mode, rate
    /// limit): actor, role and action in `status`, reason.
    ControlChanged,
}

impl Hop {
    /// Every hop, in declaration order.
    pub const ALL: [Hop; 18] = [
        Hop::Received,
        Hop::Validated,
        Hop::Stored,
        Hop::Published,
        Hop::Consumed,
        Hop::Attempt,
        Hop::Delivered,
        Hop::Answered,
        Hop::Rejected,
        Hop::Retried,
        Hop::Held,
        Hop::Released,
        Hop::Parked,
        Hop::Replayed,
        Hop::Discarded,
        Hop::Read,
        Hop::ReadDenied,
        Hop::ControlChanged,
    ];

    /// The stable snake_case name used in storage and in the canonical encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Hop::Received => "received",
            Hop::Validated => "validated",
            Hop::Stored => "stored",
            Hop::Published => "published",
            Hop::Consumed => "consumed",
            Hop::Attempt => "attempt",
            Hop::Delivered => "delivered",
            Hop::Answered => "answered",
            Hop::Rejected => "rejected",
            Hop::Retried => "retried",
            Hop::Held => "held",
            Hop::Released => "released",
            Hop::Parked => "parked",
            Hop::Replayed => "replayed",
            Hop::Discarded => "discarded",
            Hop::Read => "read",
            Hop::ReadDenied => "read_denied",
            Hop::ControlChanged => "control_changed",
        }
    }
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Hop {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hop::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .ok_or(OpsError::Invalid {
                field: "hop",
                reason: "unknown hop name",
            })
    }
}

/// One thing that happened, as the caller hands it to [`AuditTrail::append`]. Ids and hashes only.
///
/// Field rules (checked by [`AuditEntry::validate`]):
/// - `chain`, `partner`, `status`, `actor`: short codes (`[A-Za-z0-9._:@/-]`, at most 128 chars);
/// - `endpoint`: the partner endpoint *without* query string or fragment (those may carry data);
/// - `payload_hash`: a lowercase hex SHA-256 from [`payload_hash`];
/// - `reason`: an operator-supplied reason or an error *class* (e.g. `timeout`, `http_503`,
///   `schema_invalid`), at most 500 chars, never a partner response body; it is refused when it
///   holds a 9-digit number that passes the BSN eleven-test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Which chain this record extends; see [`AuditEntry::message_chain`] and
    /// [`AuditEntry::dossier_chain`].
    pub chain: String,
    /// What happened.
    pub hop: Hop,
    /// When it happened (stored with microsecond precision).
    pub at: DateTime<Utc>,
    /// The message concerned, if any.
    pub message_id: Option<Uuid>,
    /// The dossier concerned (an opaque key, never a BSN).
    pub subject: Option<DossierKey>,
    /// The partner (adapter) name, e.g. `bron`, `intergrip`.
    pub partner: Option<String>,
    /// The partner endpoint of an attempt (no query string).
    pub endpoint: Option<String>,
    /// A status code or outcome code (HTTP status, `accepted`, `rejected`; for reads: the part read).
    pub status: Option<String>,
    /// How long the hop took, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Hex SHA-256 of the bytes sent or received ([`payload_hash`]).
    pub payload_hash: Option<String>,
    /// Who did it: a service name, an operator's user name, an institution's OIN; never a BSN.
    pub actor: Option<String>,
    /// An operator-supplied reason, an error class, or (for reads) the legal ground.
    pub reason: Option<String>,
    /// The attempt number (1-based) for attempts and retries.
    pub attempt: Option<u32>,
}

impl AuditEntry {
    /// An entry for `hop` on `chain`, happening now, with every optional field empty.
    pub fn new(chain: impl Into<String>, hop: Hop) -> Self {
        Self {
            chain: chain.into(),
            hop,
            at: Utc::now(),
            message_id: None,
            subject: None,
            partner: None,
            endpoint: None,
            status: None,
            duration_ms: None,
            payload_hash: None,
            actor: None,
            reason: None,
            attempt: None,
        }
    }

    /// The chain of one message: `msg:<uuid>`. Every hop of a message, including operator actions
    /// on it, goes on this chain.
    pub fn message_chain(message_id: Uuid) -> String {
        format!("msg:{message_id}")
    }

    /// The chain of the reads of one dossier: `read:<dossier key>`.
    pub fn dossier_chain(subject: DossierKey) -> String {
        format!("read:{subject}")
    }

    /// An entry for `hop` on the message's own chain, with `message_id` set.
    pub fn for_message(message_id: Uuid, hop: Hop) -> Self {
        let mut e = Self::new(Self::message_chain(message_id), hop);
        e.message_id = Some(message_id);
        e
    }

    /// A read (or, with `denied`, a refused read) of `part` of a dossier by `actor` on `ground`.
    pub fn for_read(
        subject: DossierKey,
        actor: impl Into<String>,
        part: impl Into<String>,
        ground: impl Into<String>,
        denied: bool,
    ) -> Self {
        let hop = if denied { Hop::ReadDenied } else { Hop::Read };
        let mut e = Self::new(Self::dossier_chain(subject), hop);
        e.subject = Some(subject);
        e.actor = Some(actor.into());
        e.status = Some(part.into());
        e.reason = Some(ground.into());
        e
    }

    /// Sets the subject (dossier key).
    pub fn subject(mut self, subject: DossierKey) -> Self {
        self.subject = Some(subject);
        self
    }

    /// Sets the partner name.
    pub fn partner(mut self, partner: impl Into<String>) -> Self {
        self.partner = Some(partner.into());
        self
    }

    /// Sets the endpoint (without query string).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Sets the status or outcome code.
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Sets the duration.
    pub fn duration(mut self, duration: std::time::Duration) -> Self {
        self.duration_ms = Some(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Sets the payload hash from the bytes themselves (the bytes are not kept).
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload_hash = Some(payload_hash(bytes));
        self
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the reason (operator reason or error class).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Sets the attempt number.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// Sets the time (it is truncated to microseconds when appended).
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// Checks the field rules listed on [`AuditEntry`].
    pub fn validate(&self) -> Result<(), OpsError> {
        check_code("chain", Some(&self.chain))?;
        if self.chain.is_empty() {
            return Err(OpsError::Invalid {
                field: "chain",
                reason: "must not be empty",
            });
        }
        check_code("partner", self.partner.as_deref())?;
        check_code("status", self.status.as_deref())?;
        check_code("actor", self.actor.as_deref())?;
        if let Some(ep) = &self.endpoint {
            if ep.len() > 512 {
                return Err(invalid("endpoint", "longer than 512 characters"));
            }
            if ep.contains(['?', '#']) {
                return Err(invalid(
                    "endpoint",
                    "must not carry a query string or fragment",
                ));
            }
            if ep.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(invalid(
                    "endpoint",
                    "contains whitespace or control characters",
                ));
            }
            if has_bsn_shape(ep) {
                return Err(invalid("endpoint", "contains a BSN-shaped number"));
            }
        }
        if let Some(h) = &self.payload_hash
            && (h.len() != 64
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(invalid(
                "payload_hash",
                "must be 64 lowercase hex characters",
            ));
        }
        if let Some(r) = &self.reason {
            if r.chars().count() > 500 {
                return Err(invalid("reason", "longer than 500 characters"));
            }
            if r.chars().any(|c| c.is_control()) {
                return Err(invalid("reason", "contains control characters"));
            }
            if has_bsn_shape(r) {
                return Err(invalid("reason", "contains a BSN-shaped number"));
            }
        }
        if self.chain.len() > 128 {
            return Err(invalid("chain", "longer than 128 characters"));
        }
        Ok(())
    }

    /// The entry as it will be stored: `at` truncated to microseconds (PostgreSQL's precision),
    /// so that the hash computed before storing equals the hash recomputed after reading.
    pub(crate) fn normalised(mut self) -> Self {
        self.at = self.at.trunc_subsecs(6);
        self
    }
}

fn invalid(field: &'static str, reason: &'static str) -> OpsError {
    OpsError::Invalid { field, reason }
}

fn check_code(field: &'static str, v: Option<&str>) -> Result<(), OpsError> {
    let Some(v) = v else { return Ok(()) };
    if v.len() > 128 {
        return Err(invalid(field, "longer than 128 characters"));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._:@/-".contains(&b))
    {
        return Err(invalid(
            field,
            "only letters, digits and ._:@/- are allowed",
        ));
    }
    if has_bsn_shape(v) {
        return Err(invalid(field, "contains a BSN-shaped number"));
    }
    Ok(())
}

/// Whether `s` holds a run of exactly nine digits that passes the BSN eleven-test, outside
/// hyphenated UUIDs (whose hex groups may contain such runs by chance).
fn has_bsn_shape(s: &str) -> bool {
    let bytes = mask_uuids(s.as_bytes());
    let bytes = bytes.as_slice();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i).is_some_and(u8::is_ascii_digit) {
            let start = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if let Some(run) = bytes.get(start..i)
                && run.len() == 9
            {
                let sum: i64 = run
                    .iter()
                    .zip([9i64, 8, 7, 6, 5, 4, 3, 2, -1])
                    .map(|(d, w)| i64::from(d - b'0') * w)
                    .sum();
                if sum % 11 == 0 && sum != 0 {
                    return true;
                }
            }
        } else {
            i += 1;
        }
    }
    false
}

/// `bytes` with every hyphenated UUID replaced by `#`s.
fn mask_uuids(bytes: &[u8]) -> Vec<u8> {
    const LEN: usize = 36;
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + LEN <= bytes.len() {
        let is_uuid = bytes.get(i..i + LEN).is_some_and(|w| {
            w.iter().enumerate().all(|(j, b)| match j {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
        });
        if is_uuid {
            if let Some(w) = out.get_mut(i..i + LEN) {
                w.fill(b'#');
            }
            i += LEN;
        } else {
            i += 1;
        }
    }
    out
}

/// A stored audit record: the entry, its place in its chain and the hashes that link it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, starting at 1, without gaps.
    pub seq: u64,
    /// What was recorded.
    pub entry: AuditEntry,
    /// The `hash` of the previous record of the chain ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// SHA-256 (hex) over the canonical encoding of this record and `prev_hash`.
    pub hash: String,
}

impl AuditRecord {
    /// Builds the record that follows `prev` (or starts a chain) and computes its hash.
    pub(crate) fn link(seq: u64, entry: AuditEntry, prev_hash: String) -> Self {
        let hash = record_hash(seq, &entry, &prev_hash);
        Self {
            seq,
            entry,
            prev_hash,
            hash,
        }
    }
}

/// The canonical encoding that is hashed: a JSON array with a fixed order of fields, the time
/// as RFC 3339 with exactly six fractional digits, absent values as `null`.
pub fn canonical_encoding(seq: u64, entry: &AuditEntry, prev_hash: &str) -> Vec<u8> {
    let value = serde_json::json!([
        CANONICAL_VERSION,
        entry.chain,
        seq,
        entry.hop.as_str(),
        entry.at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        entry.message_id.map(|u| u.to_string()),
        entry.subject.map(|k| k.to_string()),
        entry.partner,
        entry.endpoint,
        entry.status,
        entry.duration_ms,
        entry.payload_hash,
        entry.actor,
        entry.reason,
        entry.attempt,
        prev_hash,
    ]);
    // Serialising a `serde_json::Value` cannot fail.
    serde_json::to_vec(&value).unwrap_or_default()
}

/// SHA-256 (lowercase hex) over [`canonical_encoding`].
pub fn record_hash(seq: u64, entry: &AuditEntry, prev_hash: &str) -> String {
    hex::encode(Sha256::digest(canonical_encoding(seq, entry, prev_hash)))
}

/// Lowercase hex SHA-256 of a payload; what the trail keeps instead of the payload.
pub fn payload_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Why a link of a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokenReason {
    /// The record's stored hash differs from the hash recomputed over its content: the record
    /// was changed after it was written.
    HashMismatch,
    /// The record's `prev_hash` differs from the hash of the record before it: a record was
    /// removed, inserted or replaced.
    PrevHashMismatch,
    /// The sequence number is not the expected one (a record is missing or duplicated).
    SequenceGap {
        /// The sequence number that should be here.
        expected: u64,
        /// The sequence number found.
        found: u64,
    },
    /// The record belongs to another chain than the first record.
    ChainMismatch,
    /// The chain ends before its recorded head: records at the end were removed. `index` is
    /// the length of the chain as read, `seq` the head's sequence number.
    TruncatedTail,
    /// The last record's hash differs from the hash in the chain's head.
    HeadMismatch,
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokenReason::HashMismatch => f.write_str("hash mismatch (record content changed)"),
            BrokenReason::PrevHashMismatch => {
                f.write_str("prev-hash mismatch (record removed, inserted or replaced)")
            }
            BrokenReason::SequenceGap { expected, found } => {
                write!(f, "sequence gap (expected {expected}, found {found})")
            }
            BrokenReason::ChainMismatch => f.write_str("record of another chain"),
            BrokenReason::TruncatedTail => f.write_str("records removed at the end of the chain"),
            BrokenReason::HeadMismatch => f.write_str("last record differs from the chain head"),
        }
    }
}

/// The first broken link of a chain, as found by [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at index {index} (seq {seq}): {reason}")]
pub struct BrokenLink {
    /// Index into the slice handed to [`verify_chain`].
    pub index: usize,
    /// The sequence number stored in that record.
    pub seq: u64,
    /// What is wrong.
    pub reason: BrokenReason,
}

/// Verifies one whole chain, given in sequence order from its first record: sequence numbers
/// 1, 2, 3…, each `prev_hash` equal to the previous `hash` (the first to [`GENESIS_HASH`]),
/// each `hash` equal to the recomputed hash. Reports the first broken link. An empty slice is
/// a valid (empty) chain.
pub fn verify_chain(records: &[AuditRecord]) -> Result<(), BrokenLink> {
    let mut prev = GENESIS_HASH;
    let chain = records.first().map(|r| r.entry.chain.as_str());
    for (index, r) in records.iter().enumerate() {
        let broken = |reason| BrokenLink {
            index,
            seq: r.seq,
            reason,
        };
        if Some(r.entry.chain.as_str()) != chain {
            return Err(broken(BrokenReason::ChainMismatch));
        }
        let expected = index as u64 + 1;
        if r.seq != expected {
            return Err(broken(BrokenReason::SequenceGap {
                expected,
                found: r.seq,
            }));
        }
        if r.prev_hash != prev {
            return Err(broken(BrokenReason::PrevHashMismatch));
        }
        if record_hash(r.seq, &r.entry, &r.prev_hash) != r.hash {
            return Err(broken(BrokenReason::HashMismatch));
        }
        prev = &r.hash;
    }
    Ok(())
}

/// The head of a chain as the store keeps it apart from the records: the last sequence number
/// and hash. Comparing it with the records detects removal of records at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The last sequence number appended.
    pub seq: u64,
    /// The hash of that record.
    pub hash: String,
}

/// Like [`verify_chain`], and also checks that the chain reaches its recorded `head`: a chain
/// whose last records were removed verifies on its own, but not against its head.
pub fn verify_chain_with_head(
    records: &[AuditRecord],
    head: Option<&ChainHead>,
) -> Result<(), BrokenLink> {
    verify_chain(records)?;
    let Some(head) = head else {
        return Ok(());
    };
    let last = records.last();
    let last_seq = last.map_or(0, |r| r.seq);
    if last_seq < head.seq {
        return Err(BrokenLink {
            index: records.len(),
            seq: head.seq,
            reason: BrokenReason::TruncatedTail,
        });
    }
    if last_seq > head.seq || last.is_some_and(|r| r.hash != head.hash) {
        return Err(BrokenLink {
            index: records.len().saturating_sub(1),
            seq: last_seq,
            reason: BrokenReason::HeadMismatch,
        });
    }
    Ok(())
}

/// Reads a chain and its head from `trail` and verifies both ([`verify_chain_with_head`]).
/// The outer error is a storage failure; the inner one the first broken link.
pub async fn verify_stored_chain(
    trail: &dyn AuditTrail,
    chain: &str,
) -> Result<Result<(), BrokenLink>, OpsError> {
    let records = trail.chain(chain).await?;
    let head = trail.head(chain).await?;
    Ok(verify_chain_with_head(&records, head.as_ref()))
}

/// Where audit records are appended and read back. Append-only: there is no update or delete.
#[async_trait]
pub trait AuditTrail: Send + Sync {
    /// Validates the entry, links it to the head of its chain and stores it.
    async fn append(&self, entry: AuditEntry) -> Result<AuditRecord, OpsError>;
    /// Appends a batch in one go (one transaction on PostgreSQL): all or nothing. Entries of the
    /// same chain are linked in the order given. Returns the records in input order.
    async fn append_many(&self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, OpsError>;
    /// The whole chain, in sequence order (empty when unknown).
    async fn chain(&self, chain: &str) -> Result<Vec<AuditRecord>, OpsError>;
    /// Every record that names this message id, ordered by chain and sequence number.
    async fn for_message(&self, id: Uuid) -> Result<Vec<AuditRecord>, OpsError>;
    /// The recorded head of a chain (`None` when the chain has no records).
    async fn head(&self, chain: &str) -> Result<Option<ChainHead>, OpsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsn_shape_is_found_only_for_eleven_test_numbers() {
        assert!(has_bsn_shape("error for 111222333 here"));
        assert!(!has_bsn_shape("111222334"));
        assert!(!has_bsn_shape("1112223330")); // ten digits
        assert!(!has_bsn_shape("http_503"));
        // a UUID whose hex group holds an eleven-test run is not a BSN
        assert!(!has_bsn_shape("msg:00000000-0000-7000-8000-111222333abc"));
        assert!(has_bsn_shape(
            "msg:00000000-0000-7000-8000-111222333abc 111222333"
        ));
    }

    #[test]
    fn validate_refuses_query_strings_and_bsns() {
        let base = AuditEntry::for_message(Uuid::nil(), Hop::Attempt);
        assert!(
            base.clone()
                .endpoint("https://bron.example/api/v1")
                .validate()
                .is_ok()
        );
        let err = base
            .clone()
            .endpoint("https://x/a?bsn=1")
            .validate()
            .unwrap_err();
        assert!(matches!(
            err,
            OpsError::Invalid {
                field: "endpoint",
                ..
            }
        ));
        let err = base
            .clone()
            .reason("student 111222333 unknown")
            .validate()
            .unwrap_err();
        assert!(matches!(
            err,
            OpsError::Invalid {
                field: "reason",
                ..
            }
        ));
        let err = base.clone().actor("Jan Jansen").validate().unwrap_err();
        assert!(matches!(err, OpsError::Invalid { field: "actor", .. }));
        let err = base.payload_hash_raw("abc").validate().unwrap_err();
        assert!(matches!(
            err,
            OpsError::Invalid {
                field: "payload_hash",
                ..
            }
        ));
    }

    impl AuditEntry {
        fn payload_hash_raw(mut self, h: &str) -> Self {
            self.payload_hash = Some(h.to_owned());
            self
        }
    }

    #[test]
    fn hop_names_round_trip() {
        for h in Hop::ALL {
            assert_eq!(h.as_str().parse::<Hop>().unwrap(), h);
        }
        assert!("nope".parse::<Hop>().is_err());
    }

    #[test]
    fn canonical_encoding_is_stable() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T12:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let e = AuditEntry::for_message(Uuid::nil(), Hop::Delivered)
            .at(at)
            .normalised();
        let enc = String::from_utf8(canonical_encoding(1, &e, GENESIS_HASH)).unwrap();
        assert!(enc.starts_with(
            "[\"knooppunt-audit-v1\",\"msg:00000000-0000-0000-0000-000000000000\",1,\"delivered\",\"2026-11-28T12:00:00.123456Z\""
        ));
    }
}

//! What the operator API answers: ids, codes, counts, hashes and times only. No view holds a
//! message body, a BSN, a name or an address; the parked message's headers are shown through an
//! allowlist of id and code headers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use knooppunt_ops::audit::AuditRecord;
use knooppunt_ops::{BreakerState, ParkedMessage, PartnerView, WaitingInfo, payload_hash};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `GET /ops/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// Whether the last readiness probe passed.
    pub ready: bool,
    /// One entry per consumer (partner adapter, and the institution feed).
    pub consumers: Vec<ConsumerStatus>,
}

/// One consumer's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerStatus {
    /// The consumer (adapter) name.
    pub consumer: String,
    /// Messages parked now, waiting for an operator.
    pub parked: usize,
    /// Students whose messages wait behind a retrying or parked one.
    pub blocked_subjects: usize,
    /// Messages held behind those.
    pub held: u64,
    /// Since when the longest-blocked student waits.
    pub blocked_since: Option<DateTime<Utc>>,
    /// `closed`, `half_open`, `open`; absent before the first message.
    pub breaker: Option<String>,
    /// Delivery attempts running now.
    pub in_flight: u64,
    /// Messages ready in the work queue at the last sample (every 15 s); absent when unknown.
    pub queue_depth: Option<u64>,
    /// Accepted by the partner since this process started.
    pub delivered_since_start: u64,
    /// Refused by the partner since this process started.
    pub rejected_since_start: u64,
    /// Parked since this process started.
    pub parked_since_start: u64,
    /// The last accepted delivery since this process started.
    pub last_delivered_at: Option<DateTime<Utc>>,
    /// The last failed or refused attempt since this process started.
    pub last_failure_at: Option<DateTime<Utc>>,
}

fn breaker_name(b: BreakerState) -> &'static str {
    match b {
        BreakerState::Closed => "closed",
        BreakerState::HalfOpen => "half_open",
        BreakerState::Open => "open",
    }
}

fn unix(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t, 0))
}

impl ConsumerStatus {
    /// Built from the delivery state's counts and the metrics' samples.
    pub fn new(consumer: &str, parked: usize, waiting: &[WaitingInfo], m: PartnerView) -> Self {
        Self {
            consumer: consumer.to_owned(),
            parked,
            blocked_subjects: waiting.len(),
            held: waiting.iter().map(|w| w.held).sum(),
            blocked_since: waiting.iter().map(|w| w.blocked_since).min(),
            breaker: m.breaker.map(|b| breaker_name(b).to_owned()),
            in_flight: m.in_flight,
            queue_depth: m.queue_messages,
            delivered_since_start: m.delivered,
            rejected_since_start: m.rejected,
            parked_since_start: m.parked,
            last_delivered_at: unix(m.last_delivered_at),
            last_failure_at: unix(m.last_failure_at),
        }
    }
}

/// `GET /ops/v1/parked`: parked messages grouped by consumer and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedGroups {
    /// All parked messages.
    pub total: usize,
    /// The groups, by consumer then reason.
    pub groups: Vec<ParkedGroup>,
}

/// One group of parked messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedGroup {
    /// The consumer (adapter).
    pub consumer: String,
    /// Why they were parked (`retries_exhausted`, `undecodable`, …).
    pub reason: String,
    /// How many.
    pub count: usize,
    /// The earliest first failure in the group.
    pub oldest_failure: DateTime<Utc>,
    /// The latest last failure in the group.
    pub latest_failure: DateTime<Utc>,
}

impl ParkedGroups {
    /// Groups `parked` (any order).
    pub fn of(parked: &[ParkedMessage]) -> Self {
        let mut groups: BTreeMap<(String, String), ParkedGroup> = BTreeMap::new();
        for p in parked {
            groups
                .entry((p.consumer.clone(), p.reason.clone()))
                .and_modify(|g| {
                    g.count += 1;
                    g.oldest_failure = g.oldest_failure.min(p.first_failure);
                    g.latest_failure = g.latest_failure.max(p.last_failure);
                })
                .or_insert_with(|| ParkedGroup {
                    consumer: p.consumer.clone(),
                    reason: p.reason.clone(),
                    count: 1,
                    oldest_failure: p.first_failure,
                    latest_failure: p.last_failure,
                });
        }
        Self {
            total: parked.len(),
            groups: groups.into_values().collect(),
        }
    }
}

/// The headers of a parked message an operator may see: ids and codes.
const SHOWN_HEADERS: [(&str, &str); 6] = [
    ("amqp-type", "type"),
    ("amqp-correlation-id", "correlation_id"),
    ("causation-id", "causation_id"),
    ("ce-source", "source"),
    ("sequence", "sequence"),
    ("institution", "institution"),
];

/// One parked message (`GET /ops/v1/parked/{consumer}/{message_id}`; also the rows of
/// `GET /ops/v1/parked/{consumer}`). Never the body: its length and SHA-256 only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParkedView {
    /// The consumer (adapter).
    pub consumer: String,
    /// The message id.
    pub message_id: Uuid,
    /// The student's dossier key (opaque; not a BSN).
    pub subject: Option<String>,
    /// Why it was parked.
    pub reason: String,
    /// Delivery attempts made.
    pub attempts: u32,
    /// When the first attempt failed.
    pub first_failure: DateTime<Utc>,
    /// When the last attempt failed.
    pub last_failure: DateTime<Utc>,
    /// The last error as a class and status (`http_503`, `timeout`).
    pub last_error: String,
    /// Id and code headers (type, correlation id, causation id, source, sequence, institution).
    pub headers: BTreeMap<String, String>,
    /// The body's length in bytes.
    pub body_bytes: usize,
    /// SHA-256 (hex) of the body, as in the audit trail's attempts.
    pub payload_sha256: String,
}

impl ParkedView {
    /// The operator's view of `p`.
    pub fn of(p: &ParkedMessage) -> Self {
        let headers = SHOWN_HEADERS
            .iter()
            .filter_map(|(key, shown)| {
                p.headers
                    .get(*key)
                    .map(|v| ((*shown).to_owned(), v.clone()))
            })
            .collect();
        Self {
            consumer: p.consumer.clone(),
            message_id: p.message_id,
            subject: p.subject.clone(),
            reason: p.reason.clone(),
            attempts: p.attempts,
            first_failure: p.first_failure,
            last_failure: p.last_failure,
            last_error: p.last_error.clone(),
            headers,
            body_bytes: p.body.len(),
            payload_sha256: payload_hash(&p.body),
        }
    }
}

/// `GET /ops/v1/trace/{message_id}`: every audit record naming the message, per chain, each
/// chain verified against its hashes and recorded head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    /// The message.
    pub message_id: Uuid,
    /// Whether every chain verified.
    pub verified: bool,
    /// The chains.
    pub chains: Vec<ChainView>,
}

/// One audit chain of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainView {
    /// The chain (`msg:<id>`, `dossier:<key>`).
    pub chain: String,
    /// Whether the whole chain verified.
    pub verified: bool,
    /// The first broken link, when it did not.
    pub broken: Option<String>,
    /// The records of this chain that name the message, in sequence order.
    pub records: Vec<RecordView>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    /// Position in the chain.
    pub seq: u64,
    /// What happened.
    pub hop: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The partner (adapter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<String>,
    /// A status or outcome code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Who (a service, an operator, an OIN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// An operator's reason or an error class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The attempt number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// How long it took (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The partner endpoint (no query string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// SHA-256 of what was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_hash: Option<String>,
    /// The record's hash.
    pub hash: String,
}

impl RecordView {
    /// The view of one record.
    pub fn of(r: &AuditRecord) -> Self {
        let e = &r.entry;
        Self {
            seq: r.seq,
            hop: e.hop.as_str().to_owned(),
            at: e.at,
            partner: e.partner.clone(),
            status: e.status.clone(),
            actor: e.actor.clone(),
            reason: e.reason.clone(),
            attempt: e.attempt,
            duration_ms: e.duration_ms,
            endpoint: e.endpoint.clone(),
            payload_hash: e.payload_hash.clone(),
            hash: r.hash.clone(),
        }
    }
}

/// `POST /ops/v1/discard`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscardView {
    /// The consumer.
    pub consumer: String,
    /// The discarded message.
    pub message_id: Uuid,
    /// The held message that now goes to the partner (the rest follow one by one).
    pub released: Vec<Uuid>,
}

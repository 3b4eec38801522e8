//! What the runtime's steps share: the audit trail of one message, bus headers, durable copies
//! of messages (held, parked), cleaning of audited texts, and the per-subject turns.

use super::*;

/// The answer command's id: derived from (consumer, message id), so a redelivered message gives
/// the same id and the registry gives it one effect.
pub fn answer_id(consumer: &str, message_id: Uuid) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"knooppunt:answer:v1:");
    h.update(consumer.as_bytes());
    h.update(b":");
    h.update(message_id.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Audit entries of one message, written together before the message is settled.
pub(super) struct Trail {
    pub(super) id: Uuid,
    pub(super) partner: String,
    pub(super) payload: String,
    pub(super) subject: Option<knooppunt_registry::envelope::DossierKey>,
    pub(super) entries: Vec<AuditEntry>,
}

impl Trail {
    pub(super) fn new(id: Uuid, partner: &str, payload: String) -> Self {
        Self {
            id,
            partner: partner.to_owned(),
            payload,
            subject: None,
            entries: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, hop: Hop) -> &mut AuditEntry {
        let mut e = AuditEntry::for_message(self.id, hop).partner(self.partner.clone());
        e.subject = self.subject;
        if matches!(hop, Hop::Consumed | Hop::Attempt | Hop::Released) {
            e.payload_hash = Some(self.payload.clone());
        }
        self.entries.push(e);
        let last = self.entries.len() - 1;
        &mut self.entries[last]
    }

    pub(super) async fn flush(&mut self, audit: &dyn AuditTrail) -> Result<(), DeliveryError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.entries);
        audit.append_many(entries).await?;
        Ok(())
    }
}

pub(super) fn header_u32(msg: &Message, name: &str) -> u32 {
    msg.header_int(name)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0)
}

pub(super) fn set_int(msg: &mut Message, name: &str, value: u32) {
    msg.headers
        .insert(name.to_owned(), HeaderValue::Int(i64::from(value)));
}

/// A durable copy of a bus message (properties under reserved keys).
pub(super) fn to_held(msg: &Message) -> HeldMessage {
    let mut headers: BTreeMap<String, String> = msg
        .headers
        .iter()
        .map(|(k, v)| {
            let v = match v {
                HeaderValue::Str(s) => s.clone(),
                HeaderValue::Int(i) => i.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    headers.insert(KEY_TYPE.into(), msg.kind.clone());
    headers.insert(KEY_TIME.into(), msg.time.to_rfc3339());
    if let Some(c) = msg.correlation_id {
        headers.insert(KEY_CORRELATION.into(), c.to_string());
    }
    HeldMessage {
        message_id: msg.id,
        headers,
        body: msg.body.to_vec(),
        held_at: Utc::now(),
    }
}

pub(super) fn from_held(h: &HeldMessage) -> Message {
    from_parts(h.message_id, &h.headers, &h.body)
}

pub(super) fn from_parts(id: Uuid, stored: &BTreeMap<String, String>, body: &[u8]) -> Message {
    let mut headers = BTreeMap::new();
    for (k, v) in stored {
        if [KEY_TYPE, KEY_TIME, KEY_CORRELATION].contains(&k.as_str()) {
            continue;
        }
        let value = match v.parse::<i64>() {
            Ok(i) if INT_HEADERS.contains(&k.as_str()) => HeaderValue::Int(i),
            _ => HeaderValue::Str(v.clone()),
        };
        headers.insert(k.clone(), value);
    }
    Message {
        id,
        kind: stored.get(KEY_TYPE).cloned().unwrap_or_default(),
        time: stored
            .get(KEY_TIME)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc)),
        correlation_id: stored.get(KEY_CORRELATION).and_then(|c| c.parse().ok()),
        headers,
        body: bytes::Bytes::copy_from_slice(body),
    }
}

/// A code for an audit field: only `[A-Za-z0-9._:@/-]`, at most 64 characters.
pub(super) fn clean_code(s: &str) -> String {
    let c: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:@/-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if c.bytes().filter(u8::is_ascii_digit).count() >= 9 {
        "redacted".into()
    } else {
        c
    }
}

/// A reason for the audit trail: no control characters, at most 200 characters, no long
/// digit runs (which could be a BSN).
pub(super) fn clean_reason(s: &str) -> String {
    let c: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
    let mut run = 0;
    for ch in c.chars() {
        run = if ch.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 9 {
            return "redacted".into();
        }
    }
    c
}

/// An endpoint for the audit trail: without query string or fragment.
pub(super) fn clean_endpoint(s: &str) -> String {
    let base = s.split(['?', '#']).next().unwrap_or_default();
    base.chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .take(256)
        .collect()
}

/// Per-subject turns inside one process: a message waits until the previous message about the
/// same subject has finished here, so concurrency never reorders one student's messages.
#[derive(Debug, Default)]
pub(super) struct SubjectChains {
    pub(super) last: Mutex<HashMap<String, (u64, watch::Receiver<bool>)>>,
    pub(super) tickets: AtomicU64,
}

/// One message's place in its subject's line.
#[derive(Debug)]
pub(super) struct Turn {
    pub(super) subject: String,
    pub(super) ticket: u64,
    pub(super) done: watch::Sender<bool>,
    pub(super) previous: Option<watch::Receiver<bool>>,
}

impl Turn {
    pub(super) async fn wait_previous(&self) {
        if let Some(prev) = &self.previous {
            let mut prev = prev.clone();
            // An error means the previous task is gone: its turn is over too.
            let _ = prev.wait_for(|done| *done).await;
        }
    }
}

impl SubjectChains {
    pub(super) fn enter(&self, subject: String) -> Turn {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let (done, rx) = watch::channel(false);
        let previous = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(subject.clone(), (ticket, rx))
            .map(|(_, rx)| rx);
        Turn {
            subject,
            ticket,
            done,
            previous,
        }
    }

    pub(super) fn leave(&self, turn: Turn) {
        let _ = turn.done.send(true);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last
            .get(&turn.subject)
            .is_some_and(|(t, _)| *t == turn.ticket)
        {
            last.remove(&turn.subject);
        }
    }
}

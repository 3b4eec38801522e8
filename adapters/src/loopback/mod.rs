//! A loopback partner: an [`Adapter`] whose "partner" is an in-process simulator with scriptable
//! faults. The delivery conformance suite and `knooppunt bench` use it; it needs no network.
//!
//! The simulator records every message it accepted, in the order it accepted them, so tests can
//! check "delivered once", ordering per student, rate limits and shadow mode by what the partner
//! actually saw. Faults are scripted per message id or per subject (student):
//! N transient failures, a permanent rejection, a 429 with `Retry-After`, extra latency, or the
//! whole partner down for a while.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use knooppunt_registry::domain::Command;
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::store::EventEnvelope;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{Adapter, Mode, Outcome, PermanentClass, TransientClass};

#[cfg(test)]
mod tests;

/// One scripted fault, consumed by one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The attempt fails transiently with this class (503 for server errors).
    Transient(TransientClass),
    /// The partner answers 429 with this `Retry-After`.
    RateLimited {
        /// The advised wait.
        retry_after: Duration,
    },
}

/// What the simulated partner accepted (or, in shadow mode, what was translated and stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The event id.
    pub message_id: Uuid,
    /// The student's dossier key.
    pub subject: DossierKey,
    /// The event type.
    pub kind: String,
    /// The per-dossier sequence number.
    pub sequence: u64,
    /// When it was accepted (monotonic clock; tokio's, so paused-time tests work).
    pub at: Instant,
}

#[derive(Debug, Default)]
struct State {
    latency: Duration,
    down: bool,
    down_until: Option<Instant>,
    by_message: HashMap<Uuid, VecDeque<Fault>>,
    by_subject: HashMap<DossierKey, VecDeque<Fault>>,
    rejected_messages: HashMap<Uuid, String>,
    rejected_subjects: HashMap<DossierKey, String>,
    received: Vec<Received>,
    shadowed: Vec<Received>,
    attempts: u64,
    attempts_by_message: HashMap<Uuid, u32>,
    seen: HashSet<Uuid>,
}

/// The simulated partner. Share it (`Arc`) between the adapter and the test that scripts it.
#[derive(Debug, Default)]
pub struct LoopbackPartner {
    state: Mutex<State>,
}

impl LoopbackPartner {
    /// A healthy partner without latency.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every attempt waits this long before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// The next `times` attempts for this message fail with `class`.
    pub fn fail_message(&self, id: Uuid, times: u32, class: TransientClass) {
        let mut s = self.state();
        let q = s.by_message.entry(id).or_default();
        q.extend((0..times).map(|_| Fault::Transient(class)));
    }

    /// The next `times` attempts for any message about this student fail with `class`.
    pub fn fail_subject(&self, subject: DossierKey, times: u32, class: TransientClass) {
        let mut s = self.state();
        let q = s.by_subject.entry(subject).or_default();
        q.extend((0..times).map(|_| Fault::Transient(class)));
    }

    /// The next `times` attempts for this message get a 429 with `retry_after`.
    pub fn throttle_message(&self, id: Uuid, times: u32, retry_after: Duration) {
        let mut s = self.state();
        let q = s.by_message.entry(id).or_default();
        q.extend((0..times).map(|_| Fault::RateLimited { retry_after }));
    }

    /// Every attempt for this message is rejected (permanent) with `reason`.
    pub fn reject_message(&self, id: Uuid, reason: &str) {
        self.state().rejected_messages.insert(id, reason.to_owned());
    }

    /// Every attempt for a message about this student is rejected (permanent) with `reason`.
    pub fn reject_subject(&self, subject: DossierKey, reason: &str) {
        self.state()
            .rejected_subjects
            .insert(subject, reason.to_owned());
    }

    /// The partner is down (every attempt fails as unavailable) until [`Self::come_up`].
    pub fn go_down(&self) {
        self.state().down = true;
    }

    /// The partner is up again.
    pub fn come_up(&self) {
        let mut s = self.state();
        s.down = false;
        s.down_until = None;
    }

    /// The partner is down for `period` from now.
    pub fn down_for(&self, period: Duration) {
        self.state().down_until = Some(Instant::now() + period);
    }

    /// What the partner accepted, in order.
    pub fn received(&self) -> Vec<Received> {
        self.state().received.clone()
    }

    /// What was translated and stored in shadow mode (never sent), in order.
    pub fn shadowed(&self) -> Vec<Received> {
        self.state().shadowed.clone()
    }

    /// All attempts so far (accepted, failed or rejected; shadow mode not counted).
    pub fn attempts(&self) -> u64 {
        self.state().attempts
    }

    /// Attempts for one message (shadow mode not counted).
    pub fn attempts_for(&self, id: Uuid) -> u32 {
        self.state()
            .attempts_by_message
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    /// How many times this message was accepted (an "effect" at the partner).
    pub fn accepted_count(&self, id: Uuid) -> usize {
        self.state()
            .received
            .iter()
            .filter(|r| r.message_id == id)
            .count()
    }

    /// Messages accepted more than once (should be none).
    pub fn duplicates(&self) -> usize {
        let s = self.state();
        s.received.len() - s.seen.len()
    }

    fn handle(&self, event: &EventEnvelope, endpoint: &str) -> Result<(), Outcome> {
        let mut s = self.state();
        let id = event.meta.id;
        let subject = event.meta.subject;
        s.attempts += 1;
        *s.attempts_by_message.entry(id).or_default() += 1;
        let now = Instant::now();
        let down = s.down || s.down_until.is_some_and(|until| now < until);
        if down {
            return Err(Outcome::Transient {
                class: TransientClass::Unavailable,
                retry_after: None,
                status: Some("503".into()),
                endpoint: endpoint.into(),
                error: "partner down".into(),
            });
        }
        let rejected = s
            .rejected_messages
            .get(&id)
            .or_else(|| s.rejected_subjects.get(&subject))
            .cloned();
        if let Some(reason) = rejected {
            return Err(Outcome::Permanent {
                class: PermanentClass::Rejected,
                reason,
                answer: None,
                status: Some("422".into()),
                endpoint: endpoint.into(),
            });
        }
        let fault = match s.by_message.get_mut(&id).and_then(VecDeque::pop_front) {
            Some(f) => Some(f),
            None => s.by_subject.get_mut(&subject).and_then(VecDeque::pop_front),
        };
        match fault {
            Some(Fault::Transient(class)) => Err(Outcome::Transient {
                class,
                retry_after: None,
                status: match class {
                    TransientClass::ServerError | TransientClass::Unavailable => Some("503".into()),
                    _ => None,
                },
                endpoint: endpoint.into(),
                error: format!("scripted {class}"),
            }),
            Some(Fault::RateLimited { retry_after }) => Err(Outcome::Transient {
                class: TransientClass::RateLimited,
                retry_after: Some(retry_after),
                status: Some("429".into()),
                endpoint: endpoint.into(),
                error: "too many requests".into(),
            }),
            None => {
                s.seen.insert(id);
                s.received.push(received(event, now));
                Ok(())
            }
        }
    }

    fn store_shadow(&self, event: &EventEnvelope) {
        let now = Instant::now();
        self.state().shadowed.push(received(event, now));
    }
}

fn received(event: &EventEnvelope, at: Instant) -> Received {
    Received {
        message_id: event.meta.id,
        subject: event.meta.subject,
        kind: event.meta.kind.clone(),
        sequence: event.meta.sequence,
        at,
    }
}

/// Builds the partner's answer (a registry command) for an accepted event.
pub type AnswerFn = Arc<dyn Fn(&EventEnvelope) -> Option<Command> + Send + Sync>;

/// An [`Adapter`] talking to a [`LoopbackPartner`].
#[derive(Clone)]
pub struct LoopbackAdapter {
    name: String,
    topics: Vec<String>,
    endpoint: String,
    partner: Arc<LoopbackPartner>,
    answer: Option<(Partner, AnswerFn)>,
}

impl fmt::Debug for LoopbackAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopbackAdapter")
            .field("name", &self.name)
            .field("topics", &self.topics)
            .field("answers", &self.answer.is_some())
            .finish_non_exhaustive()
    }
}

impl LoopbackAdapter {
    /// An adapter named `name` consuming every event (`"#"`), without answers.
    pub fn new(name: &str, partner: Arc<LoopbackPartner>) -> Self {
        Self {
            name: name.to_owned(),
            topics: vec!["#".to_owned()],
            endpoint: format!("loopback://{name}"),
            partner,
            answer: None,
        }
    }

    /// Consumes only these topic patterns.
    pub fn with_topics(mut self, topics: Vec<String>) -> Self {
        self.topics = topics;
        self
    }

    /// For each accepted event the partner answers with the command `answer` builds; the
    /// runtime executes it as `answers_as` (e.g. [`Partner::Duo`] for a DUO-like answer).
    pub fn with_answer(mut self, answers_as: Partner, answer: AnswerFn) -> Self {
        self.answer = Some((answers_as, answer));
        self
    }

    /// The simulated partner.
    pub fn partner(&self) -> &Arc<LoopbackPartner> {
        &self.partner
    }
}

#[async_trait]
impl Adapter for LoopbackAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    fn answers_as(&self) -> Option<Partner> {
        self.answer.as_ref().map(|(p, _)| *p)
    }

    fn topics(&self) -> Vec<String> {
        self.topics.clone()
    }

    async fn deliver(&self, event: &EventEnvelope, mode: Mode) -> Outcome {
        if mode == Mode::Shadow {
            self.partner.store_shadow(event);
            return Outcome::Delivered {
                answer: None,
                status: "shadow".into(),
                endpoint: self.endpoint.clone(),
            };
        }
        let latency = self.partner.state().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match self.partner.handle(event, &self.endpoint) {
            Ok(()) => Outcome::Delivered {
                answer: self.answer.as_ref().and_then(|(_, f)| f(event)),
                status: "200".into(),
                endpoint: self.endpoint.clone(),
            },
            Err(outcome) => outcome,
        }
    }
}

//! Each delivered BRON mutation's state: *sent* → *accepted* | *accepted with signals* |
//! *rejected* (DUO's afkeuring) — or *failed* when DUO will never answer it (refused,
//! untranslatable). A mutation is *unanswered* from its first attempt until one of those; the
//! count and the fact time of the oldest are metrics (`knooppunt_bron_unanswered`,
//! `knooppunt_bron_unanswered_oldest_timestamp_seconds`), so a missing answer and the 7-day
//! deadline are alerts (`ops/monitoring/alerts.yml`), not silence.
//!
//! The tracker lives in the process: after a restart an unanswered mutation is tracked again at
//! its next attempt (the runtime redelivers it); a parked one shows in the runtime's own parked
//! metric and operator view.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use knooppunt_ops::Metrics;
use uuid::Uuid;

/// The states of [`BronTracker`] that end a mutation's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// DUO accepted it.
    Accepted,
    /// DUO accepted it with signals.
    AcceptedWithSignals,
    /// DUO rejected it (afkeuring).
    Rejected,
    /// DUO will never answer it (our message refused or untranslatable).
    Failed,
}

impl Settled {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::AcceptedWithSignals => "accepted_with_signals",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

/// The unanswered mutations of one adapter. Cheap to share.
#[derive(Clone)]
pub struct BronTracker {
    name: String,
    metrics: Option<Arc<Metrics>>,
    open: Arc<Mutex<HashMap<Uuid, DateTime<Utc>>>>,
}

impl fmt::Debug for BronTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BronTracker")
            .field("name", &self.name)
            .field("unanswered", &self.unanswered())
            .finish()
    }
}

impl BronTracker {
    /// A tracker for adapter `name`, reporting to `metrics` when given.
    pub fn new(name: &str, metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            name: name.to_owned(),
            metrics,
            open: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, DateTime<Utc>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Mutation `bericht` (about a fact at `fact`) is being sent. Counted as `sent` once.
    pub fn sending(&self, bericht: Uuid, fact: DateTime<Utc>) {
        let first = {
            let mut open = self.lock();
            let first = !open.contains_key(&bericht);
            open.entry(bericht).or_insert(fact.min(Utc::now()));
            first
        };
        if first && let Some(m) = &self.metrics {
            m.bron_mutation(&self.name, "sent");
        }
        self.publish();
    }

    /// Mutation `bericht` reached `state`. A mutation settled before (a redelivery) is counted
    /// once more only if it was open again.
    pub fn settled(&self, bericht: Uuid, state: Settled) {
        let was_open = self.lock().remove(&bericht).is_some();
        if was_open && let Some(m) = &self.metrics {
            m.bron_mutation(&self.name, state.as_str());
        }
        self.publish();
    }

    /// How many mutations wait for an answer.
    pub fn unanswered(&self) -> usize {
        self.lock().len()
    }

    /// The fact time of the oldest unanswered mutation.
    pub fn oldest(&self) -> Option<DateTime<Utc>> {
        self.lock().values().min().copied()
    }

    fn publish(&self) {
        if let Some(m) = &self.metrics {
            let (count, oldest) = {
                let open = self.lock();
                (open.len(), open.values().min().copied())
            };
            m.set_bron_unanswered(&self.name, count, oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_mutation_is_unanswered_from_its_first_attempt_until_settled() {
        let metrics = Arc::new(Metrics::new());
        let t = BronTracker::new("duo_bron", Some(metrics.clone()));
        let fact = Utc.with_ymd_and_hms(2026, 9, 1, 8, 0, 0).unwrap();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        t.sending(a, fact);
        t.sending(a, fact); // a retry
        t.sending(b, fact + chrono::Duration::days(1));
        assert_eq!(t.unanswered(), 2);
        assert_eq!(t.oldest(), Some(fact));
        let text = metrics.encode();
        assert!(
            text.contains(r#"knooppunt_bron_mutations_total{partner="duo_bron",outcome="sent"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"knooppunt_bron_unanswered{partner="duo_bron"} 2"#));
        assert!(text.contains(&format!(
            r#"knooppunt_bron_unanswered_oldest_timestamp_seconds{{partner="duo_bron"}} {}"#,
            fact.timestamp()
        )));

        t.settled(a, Settled::Rejected);
        t.settled(a, Settled::Rejected); // answered again after a redelivery: counted once
        t.settled(b, Settled::Accepted);
        assert_eq!(t.unanswered(), 0);
        let text = metrics.encode();
        assert!(text.contains(
            r#"knooppunt_bron_mutations_total{partner="duo_bron",outcome="rejected"} 1"#
        ));
        assert!(text.contains(r#"knooppunt_bron_unanswered{partner="duo_bron"} 0"#));
        assert!(!text.contains("knooppunt_bron_unanswered_oldest_timestamp_seconds{"));
    }
}

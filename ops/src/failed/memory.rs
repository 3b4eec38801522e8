//! Delivery state in memory (sandbox and tests).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::{DeliveryState, HeldMessage, ParkedMessage, WaitingInfo};
use crate::OpsError;

type Key = (String, String);

#[derive(Debug, Default)]
struct Inner {
    done: HashMap<(String, Uuid), String>,
    blockers: HashMap<Key, (Uuid, DateTime<Utc>)>,
    held: HashMap<Key, Vec<HeldMessage>>,
    parked: HashMap<(String, Uuid), ParkedMessage>,
}

/// Delivery state in memory: one mutex, lost at exit. For the sandbox and tests.
#[derive(Debug, Default)]
pub struct MemoryDeliveryState {
    inner: Mutex<Inner>,
}

impl MemoryDeliveryState {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key(consumer: &str, subject: &str) -> Key {
    (consumer.to_owned(), subject.to_owned())
}

#[async_trait]
impl DeliveryState for MemoryDeliveryState {
    async fn seen(&self, consumer: &str, message_id: Uuid) -> Result<bool, OpsError> {
        Ok(self
            .lock()
            .done
            .contains_key(&(consumer.to_owned(), message_id)))
    }

    async fn mark_done(
        &self,
        consumer: &str,
        message_id: Uuid,
        outcome: &str,
    ) -> Result<bool, OpsError> {
        let mut inner = self.lock();
        let k = (consumer.to_owned(), message_id);
        if inner.done.contains_key(&k) {
            return Ok(false);
        }
        inner.done.insert(k, outcome.to_owned());
        Ok(true)
    }

    async fn blocker(&self, consumer: &str, subject: &str) -> Result<Option<Uuid>, OpsError> {
        Ok(self
            .lock()
            .blockers
            .get(&key(consumer, subject))
            .map(|(id, _)| *id))
    }

    async fn block(&self, consumer: &str, subject: &str, message_id: Uuid) -> Result<(), OpsError> {
        self.lock()
            .blockers
            .entry(key(consumer, subject))
            .or_insert((message_id, Utc::now().trunc_subsecs(6)));
        Ok(())
    }

    async fn hold(
        &self,
        consumer: &str,
        subject: &str,
        mut message: HeldMessage,
    ) -> Result<bool, OpsError> {
        // Same precision as PostgreSQL, so both stores return equal values.
        message.held_at = message.held_at.trunc_subsecs(6);
        let mut inner = self.lock();
        let k = key(consumer, subject);
        if !inner.blockers.contains_key(&k) {
            return Ok(false);
        }
        let list = inner.held.entry(k).or_default();
        if !list.iter().any(|m| m.message_id == message.message_id) {
            list.push(message);
        }
        Ok(true)
    }

    async fn unblock_and_take_held(
        &self,
        consumer: &str,
        subject: &str,
    ) -> Result<Vec<HeldMessage>, OpsError> {
        let mut inner = self.lock();
        let k = key(consumer, subject);
        let blocker = inner.blockers.remove(&k).map(|(id, _)| id);
        let mut held = inner.held.remove(&k).unwrap_or_default();
        held.retain(|m| Some(m.message_id) != blocker);
        Ok(held)
    }

    async fn promote_next_held(
        &self,
        consumer: &str,
        subject: &str,
        finished: Uuid,
    ) -> Result<Option<HeldMessage>, OpsError> {
        let mut inner = self.lock();
        let k = key(consumer, subject);
        if inner.blockers.get(&k).map(|(id, _)| *id) != Some(finished) {
            return Ok(None);
        }
        let next = match inner.held.get_mut(&k) {
            Some(list) => {
                list.retain(|m| m.message_id != finished);
                list.first().cloned()
            }
            None => None,
        };
        match &next {
            Some(m) => {
                inner
                    .blockers
                    .insert(k, (m.message_id, Utc::now().trunc_subsecs(6)));
            }
            None => {
                inner.blockers.remove(&k);
                inner.held.remove(&k);
            }
        }
        Ok(next)
    }

    async fn waiting(&self, consumer: &str) -> Result<Vec<WaitingInfo>, OpsError> {
        let inner = self.lock();
        let mut out: Vec<WaitingInfo> = inner
            .blockers
            .iter()
            .filter(|((c, _), _)| c == consumer)
            .map(|(k, (blocker, since))| {
                // The blocker's own copy (left by a promotion) does not wait.
                let held: Vec<&HeldMessage> = inner
                    .held
                    .get(k)
                    .map(|h| h.iter().filter(|m| m.message_id != *blocker).collect())
                    .unwrap_or_default();
                WaitingInfo {
                    subject: k.1.clone(),
                    blocker: *blocker,
                    blocked_since: *since,
                    held: held.len() as u64,
                    oldest_held_at: held.iter().map(|m| m.held_at).min(),
                }
            })
            .collect();
        out.sort_by(|a, b| (a.blocked_since, &a.subject).cmp(&(b.blocked_since, &b.subject)));
        Ok(out)
    }

    async fn park(&self, mut parked: ParkedMessage) -> Result<(), OpsError> {
        parked.first_failure = parked.first_failure.trunc_subsecs(6);
        parked.last_failure = parked.last_failure.trunc_subsecs(6);
        self.lock()
            .parked
            .insert((parked.consumer.clone(), parked.message_id), parked);
        Ok(())
    }

    async fn parked(&self, consumer: &str) -> Result<Vec<ParkedMessage>, OpsError> {
        let mut out: Vec<ParkedMessage> = self
            .lock()
            .parked
            .values()
            .filter(|p| p.consumer == consumer)
            .cloned()
            .collect();
        out.sort_by_key(|p| (p.last_failure, p.message_id));
        Ok(out)
    }

    async fn take_parked(
        &self,
        consumer: &str,
        message_id: Uuid,
    ) -> Result<Option<ParkedMessage>, OpsError> {
        Ok(self
            .lock()
            .parked
            .remove(&(consumer.to_owned(), message_id)))
    }
}

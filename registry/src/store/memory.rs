//! The in-memory store: the sandbox's registry and the fast half of the behaviour suite.
//!
//! Everything lives behind one mutex that is never held across an `await`, so every operation is
//! atomic and commands are trivially serialised; the semantics (idempotency, rejections, history,
//! outbox partitions and leases) are the same as PostgreSQL's.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    CommandOutcome, Decision, EventEnvelope, OUTBOX_PARTITIONS, OutboxLease, OutboxRow, Store,
    StoreError, decide, opened_person, outbox_partition,
};
use crate::domain::institution::{
    self, InstitutionCommand, InstitutionRecord, LevelRejection, Levels,
};
use crate::domain::{BpvStatus, Command, Dossier, Rejection, SbbCheck};
use crate::envelope::{CommandMeta, DossierKey};
use crate::ids::{Brin, LeerbedrijfId, PersonId};
use crate::pseudonym::PersonKey;
use crate::reference::ReferenceData;

/// The in-memory [`Store`]. Cheap to clone: clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    dossiers: HashMap<DossierKey, Dossier>,
    /// Person fingerprint → dossier.
    persons: HashMap<String, DossierKey>,
    /// The key of the fingerprints: random per store, which lives no longer than its index.
    person_key: EphemeralKey,
    /// Command id → the outcome as first returned (`replayed = false`).
    commands: HashMap<Uuid, CommandOutcome>,
    history: HashMap<DossierKey, Vec<EventEnvelope>>,
    /// Unsent outbox rows by position.
    unsent: BTreeMap<i64, OutboxRow>,
    last_position: i64,
    reference: Option<ReferenceData>,
    /// Partitions held by some lease.
    held: BTreeSet<u32>,
    /// Leases alive (also those holding no partition): each takes at most its fair share.
    leases: u32,
    /// Institutions' histories (level changes, RO imports) by instelling BRIN.
    institutions: BTreeMap<Brin, Vec<InstitutionRecord>>,
    /// The levels those histories record.
    levels: Arc<Levels>,
}

/// A [`PersonKey`] made fresh for each in-memory store.
#[derive(Debug, Clone)]
struct EphemeralKey(PersonKey);

impl Default for EphemeralKey {
    fn default() -> Self {
        Self(PersonKey::random())
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // No code path panics while holding the lock, but a poisoned lock must not take the sandbox
    // down: the data is consistent after every completed operation.
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f` with every dossier under the store's lock (the sector reports aggregate them).
    pub(crate) fn with_dossiers<R>(&self, f: impl FnOnce(&HashMap<DossierKey, Dossier>) -> R) -> R {
        f(&lock(&self.inner).dossiers)
    }
}

impl Inner {
    fn execute(
        &mut self,
        meta: CommandMeta,
        command: &Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError> {
        if let Some(stored) = self.commands.get(&meta.id) {
            let mut outcome = stored.clone();
            outcome.replayed = true;
            return Ok(outcome);
        }
        let key = meta.dossier;
        let person = opened_person(command, &self.person_key.0);
        let taken = person
            .as_ref()
            .and_then(|fp| self.persons.get(fp))
            .is_some_and(|owner| *owner != key);
        let result = if taken {
            Err(Rejection::DossierAlreadyOpen)
        } else {
            let state = self.dossiers.get(&key).cloned().unwrap_or_default();
            match decide(&state, &meta, command, reference, &self.levels)? {
                Decision::Rejected(rejection) => Err(rejection),
                Decision::Accepted { events, state } => {
                    if let Some(fp) = person {
                        self.persons.entry(fp).or_insert(key);
                    }
                    self.dossiers.insert(key, state);
                    let partition = outbox_partition(key);
                    for event in &events {
                        self.last_position += 1;
                        self.unsent.insert(
                            self.last_position,
                            OutboxRow {
                                position: self.last_position,
                                partition,
                                event: event.clone(),
                            },
                        );
                    }
                    self.history
                        .entry(key)
                        .or_default()
                        .extend(events.iter().cloned());
                    Ok(events)
                }
            }
        };
        let outcome = CommandOutcome {
            command_id: meta.id,
            dossier: key,
            result,
            replayed: false,
        };
        self.commands.insert(meta.id, outcome.clone());
        Ok(outcome)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn execute(
        &self,
        meta: CommandMeta,
        command: Command,
        reference: &ReferenceData,
    ) -> Result<CommandOutcome, StoreError> {
        lock(&self.inner).execute(meta, &command, reference)
    }

    async fn dossier(&self, key: DossierKey) -> Result<Option<Dossier>, StoreError> {
        Ok(lock(&self.inner).dossiers.get(&key).cloned())
    }

    async fn history(&self, key: DossierKey) -> Result<Vec<EventEnvelope>, StoreError> {
        Ok(lock(&self.inner)
            .history
            .get(&key)
            .cloned()
            .unwrap_or_default())
    }

    async fn find_dossier(&self, person: &PersonId) -> Result<Option<DossierKey>, StoreError> {
        let inner = lock(&self.inner);
        let fingerprint = inner.person_key.0.fingerprint(person);
        Ok(inner.persons.get(&fingerprint).copied())
    }

    async fn dossiers_with_running_bpv(
        &self,
        leerbedrijf: &LeerbedrijfId,
    ) -> Result<Vec<DossierKey>, StoreError> {
        let inner = lock(&self.inner);
        let mut keys: Vec<DossierKey> = inner
            .dossiers
            .iter()
            .filter(|(_, d)| {
                d.praktijkovereenkomsten.values().any(|b| {
                    &b.details.leerbedrijf == leerbedrijf
                        && b.status != BpvStatus::Beeindigd
                        && !matches!(b.sbb, SbbCheck::Ingetrokken { .. })
                })
            })
            .map(|(k, _)| *k)
            .collect();
        keys.sort_by_key(|k| k.0);
        Ok(keys)
    }

    async fn save_reference(&self, reference: &ReferenceData) -> Result<(), StoreError> {
        lock(&self.inner).reference = Some(reference.clone());
        Ok(())
    }

    async fn load_reference(&self) -> Result<Option<ReferenceData>, StoreError> {
        Ok(lock(&self.inner).reference.clone())
    }

    async fn lease_outbox(&self, max_partitions: u32) -> Result<Box<dyn OutboxLease>, StoreError> {
        let mut inner = lock(&self.inner);
        inner.leases += 1;
        let max_partitions = max_partitions.min(super::fair_share(inner.leases));
        let mut partitions = Vec::new();
        for p in 0..OUTBOX_PARTITIONS {
            if partitions.len() as u32 >= max_partitions {
                break;
            }
            if inner.held.insert(p) {
                partitions.push(p);
            }
        }
        Ok(Box::new(MemoryLease {
            inner: Arc::clone(&self.inner),
            partitions,
            claimed: Mutex::new(BTreeSet::new()),
        }))
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).unsent.len() as u64)
    }

    async fn levels(&self) -> Result<Arc<Levels>, StoreError> {
        Ok(Arc::clone(&lock(&self.inner).levels))
    }

    async fn execute_institution(
        &self,
        brin: &Brin,
        time: DateTime<Utc>,
        command: InstitutionCommand,
        reference: &ReferenceData,
    ) -> Result<Result<InstitutionRecord, LevelRejection>, StoreError> {
        let mut inner = lock(&self.inner);
        let brin = brin.instelling();
        let history = inner.institutions.entry(brin.clone()).or_default();
        let event = match institution::decide(&brin, history, &command, reference) {
            Ok(event) => event,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let record = InstitutionRecord {
            brin,
            sequence: history.len() as u64 + 1,
            time,
            event,
        };
        history.push(record.clone());
        inner.levels = Arc::new(Levels::from_records(inner.institutions.values().flatten()));
        Ok(Ok(record))
    }

    async fn institution_history(
        &self,
        brin: Option<&Brin>,
    ) -> Result<Vec<InstitutionRecord>, StoreError> {
        let inner = lock(&self.inner);
        Ok(match brin {
            Some(brin) => inner
                .institutions
                .get(&brin.instelling())
                .cloned()
                .unwrap_or_default(),
            None => inner.institutions.values().flatten().cloned().collect(),
        })
    }
}

/// A lease on partitions of a [`MemoryStore`]'s outbox; gives them back when dropped.
#[derive(Debug)]
struct MemoryLease {
    inner: Arc<Mutex<Inner>>,
    partitions: Vec<u32>,
    /// Positions handed out by this lease and not yet marked sent.
    claimed: Mutex<BTreeSet<i64>>,
}

#[async_trait]
impl OutboxLease for MemoryLease {
    fn partitions(&self) -> &[u32] {
        &self.partitions
    }

    async fn claim(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let inner = lock(&self.inner);
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        let rows: Vec<OutboxRow> = inner
            .unsent
            .values()
            .filter(|row| {
                self.partitions.binary_search(&row.partition).is_ok()
                    && !claimed.contains(&row.position)
            })
            .take(limit)
            .cloned()
            .collect();
        claimed.extend(rows.iter().map(|row| row.position));
        Ok(rows)
    }

    async fn mark_sent(&self, positions: &[i64]) -> Result<(), StoreError> {
        let mut inner = lock(&self.inner);
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        for position in positions {
            inner.unsent.remove(position);
            claimed.remove(position);
        }
        Ok(())
    }

    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        drop(self);
        Ok(())
    }
}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        for p in &self.partitions {
            inner.held.remove(p);
        }
        inner.leases = inner.leases.saturating_sub(1);
    }
}

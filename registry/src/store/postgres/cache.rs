//! The states this instance wrote last, so that the next command on a dossier can skip its read.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::domain::Dossier;
use crate::envelope::DossierKey;

/// A dossier state and the version it was stored with.
#[derive(Clone)]
pub(super) struct Known {
    pub(super) state: Dossier,
    pub(super) version: i64,
}

/// The states this instance last wrote, so the next command on a dossier can skip the read.
/// Never trusted: every write checks the version. Bounded: cleared when full.
#[derive(Default)]
pub(super) struct StateCache {
    map: Mutex<HashMap<DossierKey, Known>>,
}

/// Entries before the cache is cleared.
const STATE_CACHE_CAPACITY: usize = 65_536;

impl StateCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DossierKey, Known>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn get(&self, key: DossierKey) -> Option<Known> {
        self.lock().get(&key).cloned()
    }

    /// Remembers a written state; never goes back to an older version (two commands on one
    /// dossier may finish in either order).
    pub(super) fn put(&self, key: DossierKey, known: Known) {
        let mut map = self.lock();
        if map.get(&key).is_some_and(|k| k.version >= known.version) {
            return;
        }
        if map.len() >= STATE_CACHE_CAPACITY && !map.contains_key(&key) {
            map.clear();
        }
        map.insert(key, known);
    }

    pub(super) fn forget(&self, key: DossierKey) {
        self.lock().remove(&key);
    }
}

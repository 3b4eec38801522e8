//! The in-memory store's OOK templates (the PostgreSQL one is in `pg.rs`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ApiStoreError, MemoryApiStore, SjabloonWrite, StoredSjabloon};

/// One template: its institution, list position and versions with the request that made each.
#[derive(Debug, Clone)]
pub(super) struct MemSjabloon {
    pub(super) brin: String,
    pub(super) seq: i64,
    pub(super) versies: Vec<(Uuid, serde_json::Value, DateTime<Utc>)>,
}

impl MemSjabloon {
    fn version(&self, sjabloon: Uuid, n: usize) -> Option<StoredSjabloon> {
        let (_, inhoud, at) = self.versies.get(n.checked_sub(1)?)?;
        Some(StoredSjabloon {
            seq: self.seq,
            sjabloon,
            brin: self.brin.clone(),
            versie: i32::try_from(n).ok()?,
            laatste_versie: i32::try_from(self.versies.len()).ok()?,
            inhoud: inhoud.clone(),
            aangemaakt_op: *at,
        })
    }

    fn made_by(&self, sjabloon: Uuid, request: Uuid) -> Option<StoredSjabloon> {
        let n = self.versies.iter().position(|(r, _, _)| *r == request)?;
        self.version(sjabloon, n + 1)
    }
}

impl MemoryApiStore {
    pub(super) fn mem_create_sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError> {
        let mut inner = self.lock();
        if let Some(t) = inner.sjablonen.get(&sjabloon) {
            return Ok(match t.made_by(sjabloon, request) {
                Some(v) if t.brin == brin => SjabloonWrite::Written(v),
                _ => SjabloonWrite::Exists,
            });
        }
        inner.sjabloon_seq += 1;
        let t = MemSjabloon {
            brin: brin.to_owned(),
            seq: inner.sjabloon_seq,
            versies: vec![(request, inhoud.clone(), Utc::now())],
        };
        let written = t.version(sjabloon, 1);
        inner.sjablonen.insert(sjabloon, t);
        written
            .map(SjabloonWrite::Written)
            .ok_or_else(|| ApiStoreError::Corrupt("sjabloon version".into()))
    }

    pub(super) fn mem_add_sjabloon_versie(
        &self,
        brin: &str,
        sjabloon: Uuid,
        request: Uuid,
        inhoud: &serde_json::Value,
    ) -> Result<SjabloonWrite, ApiStoreError> {
        let mut inner = self.lock();
        let Some(t) = inner
            .sjablonen
            .get_mut(&sjabloon)
            .filter(|t| t.brin == brin)
        else {
            return Ok(SjabloonWrite::NotFound);
        };
        if let Some(v) = t.made_by(sjabloon, request) {
            return Ok(SjabloonWrite::Written(v));
        }
        t.versies.push((request, inhoud.clone(), Utc::now()));
        let n = t.versies.len();
        t.version(sjabloon, n)
            .map(SjabloonWrite::Written)
            .ok_or_else(|| ApiStoreError::Corrupt("sjabloon version".into()))
    }

    pub(super) fn mem_sjabloon(
        &self,
        brin: &str,
        sjabloon: Uuid,
        versie: Option<i32>,
    ) -> Option<StoredSjabloon> {
        let inner = self.lock();
        inner
            .sjablonen
            .get(&sjabloon)
            .filter(|t| t.brin == brin)
            .and_then(|t| {
                let n = match versie {
                    Some(v) => usize::try_from(v).ok()?,
                    None => t.versies.len(),
                };
                t.version(sjabloon, n)
            })
    }

    pub(super) fn mem_list_sjablonen(
        &self,
        brin: &str,
        after: i64,
        limit: usize,
    ) -> Vec<StoredSjabloon> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .sjablonen
            .iter()
            .filter(|(_, t)| t.brin == brin && t.seq > after)
            .filter_map(|(id, t)| t.version(*id, t.versies.len()))
            .collect();
        out.sort_by_key(|t| t.seq);
        out.truncate(limit);
        out
    }
}

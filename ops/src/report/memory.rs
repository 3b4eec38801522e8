//! The delivery reports' aggregates on the in-memory audit trail: one pass over its records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use knooppunt_registry::report::{Period, suppress};
use uuid::Uuid;

use super::{DeliveryReports, ParkedWeek, Timeliness, v7_millis, week_of};
use crate::audit::Hop;
use crate::{MemoryAudit, OpsError};

#[async_trait]
impl DeliveryReports for MemoryAudit {
    async fn delivery_times(
        &self,
        period: &Period,
        partners: &[&str],
    ) -> Result<Vec<Timeliness>, OpsError> {
        // (partner, message) → its first delivery in the period.
        let mut first: HashMap<(String, Uuid), DateTime<Utc>> = HashMap::new();
        self.with_records(|records| {
            for r in records {
                let e = &r.entry;
                let (Some(partner), Some(id)) = (&e.partner, e.message_id) else {
                    continue;
                };
                if e.hop != Hop::Delivered
                    || !period.contains(e.at)
                    || !partners.contains(&partner.as_str())
                    || v7_millis(id).is_none()
                {
                    continue;
                }
                let at = first.entry((partner.clone(), id)).or_insert(e.at);
                *at = (*at).min(e.at);
            }
        });
        let mut by_partner: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for ((partner, id), at) in first {
            let changed = v7_millis(id).unwrap_or_default();
            let ms = u64::try_from(at.timestamp_millis() - changed).unwrap_or(0);
            by_partner.entry(partner).or_default().push(ms);
        }
        Ok(by_partner
            .into_iter()
            .map(|(partner, mut ms)| {
                ms.sort_unstable();
                Timeliness {
                    partner,
                    messages: ms.len() as u64,
                    p50_ms: suppress::nearest_rank(&ms, 0.5),
                    p95_ms: suppress::nearest_rank(&ms, 0.95),
                }
            })
            .collect())
    }

    async fn parked_weeks(&self, period: &Period) -> Result<Vec<ParkedWeek>, OpsError> {
        type Sets = [BTreeSet<Uuid>; 3];
        let mut weeks: BTreeMap<(chrono::NaiveDate, String), Sets> = BTreeMap::new();
        self.with_records(|records| {
            for r in records {
                let e = &r.entry;
                let (Some(partner), Some(id)) = (&e.partner, e.message_id) else {
                    continue;
                };
                let slot = match e.hop {
                    Hop::Parked => 0,
                    Hop::Replayed => 1,
                    Hop::Discarded => 2,
                    _ => continue,
                };
                if !period.contains(e.at) {
                    continue;
                }
                if let Some(set) = weeks
                    .entry((week_of(e.at), partner.clone()))
                    .or_default()
                    .get_mut(slot)
                {
                    set.insert(id);
                }
            }
        });
        Ok(weeks
            .into_iter()
            .map(
                |((week, partner), [parked, replayed, discarded])| ParkedWeek {
                    week,
                    partner,
                    parked: parked.len() as u64,
                    replayed: replayed.len() as u64,
                    discarded: discarded.len() as u64,
                },
            )
            .collect())
    }
}

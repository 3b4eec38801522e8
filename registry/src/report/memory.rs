//! The registry's report aggregates on the in-memory store: one pass over the dossiers under
//! its lock (the sandbox's few thousand at most).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::{AanmeldingCount, BronCount, BronOutcome, DossierReports, Period, SignalCount};
use crate::domain::{AanmeldStatus, DuoUitkomst};
use crate::store::{MemoryStore, StoreError};
use uuid::Uuid;

fn outcome(u: &DuoUitkomst) -> BronOutcome {
    match u {
        DuoUitkomst::Geaccepteerd => BronOutcome::Geaccepteerd,
        DuoUitkomst::GeaccepteerdMetSignalen { .. } => BronOutcome::GeaccepteerdMetSignalen,
        DuoUitkomst::Afgekeurd { .. } => BronOutcome::Afgekeurd,
    }
}

#[async_trait]
impl DossierReports for MemoryStore {
    async fn count_aanmeldingen(
        &self,
        period: &Period,
    ) -> Result<Vec<AanmeldingCount>, StoreError> {
        type Key = (String, String, Option<AanmeldStatus>);
        let mut counts: BTreeMap<Key, u64> = BTreeMap::new();
        self.with_dossiers(|dossiers| {
            for dossier in dossiers.values() {
                // Each student once per group, however many aanmeldingen they have in it.
                let mut groups: BTreeSet<Key> = BTreeSet::new();
                for a in dossier.aanmeldingen.values() {
                    if !period.contains(a.ingediend_op) {
                        continue;
                    }
                    let (i, c) = (a.instelling.to_string(), a.cohort.clone());
                    groups.insert((i.clone(), c.clone(), Some(a.status)));
                    groups.insert((i, c, None));
                }
                for g in groups {
                    *counts.entry(g).or_default() += 1;
                }
            }
        });
        Ok(counts
            .into_iter()
            .map(|((instelling, cohort, status), students)| AanmeldingCount {
                instelling,
                cohort,
                status,
                students,
            })
            .collect())
    }

    async fn count_bron(&self, period: &Period) -> Result<Vec<BronCount>, StoreError> {
        type Key = (String, Option<BronOutcome>);
        let mut counts: BTreeMap<Key, (u64, u64)> = BTreeMap::new();
        self.with_dossiers(|dossiers| {
            for dossier in dossiers.values() {
                let mut groups: BTreeMap<Key, u64> = BTreeMap::new();
                for t in dossier.duo_terugkoppeling.values() {
                    if !period.contains(t.ontvangen_op) {
                        continue;
                    }
                    let i = t.instelling.to_string();
                    *groups
                        .entry((i.clone(), Some(outcome(&t.uitkomst))))
                        .or_default() += 1;
                    *groups.entry((i, None)).or_default() += 1;
                }
                for (g, mutations) in groups {
                    let c = counts.entry(g).or_default();
                    c.0 += 1;
                    c.1 += mutations;
                }
            }
        });
        Ok(counts
            .into_iter()
            .map(|((instelling, outcome), (students, mutations))| BronCount {
                instelling,
                outcome,
                students,
                mutations,
            })
            .collect())
    }

    async fn count_bron_signals(&self, period: &Period) -> Result<Vec<SignalCount>, StoreError> {
        // (institution, code) → (students, feedbacks)
        let mut counts: BTreeMap<(String, String), (u64, BTreeSet<Uuid>)> = BTreeMap::new();
        self.with_dossiers(|dossiers| {
            for dossier in dossiers.values() {
                let mut groups: BTreeMap<(String, String), BTreeSet<Uuid>> = BTreeMap::new();
                for t in dossier.duo_terugkoppeling.values() {
                    if !period.contains(t.ontvangen_op) {
                        continue;
                    }
                    let signalen = match &t.uitkomst {
                        DuoUitkomst::Geaccepteerd => &[][..],
                        DuoUitkomst::GeaccepteerdMetSignalen { signalen }
                        | DuoUitkomst::Afgekeurd { signalen } => signalen.as_slice(),
                    };
                    for s in signalen {
                        groups
                            .entry((t.instelling.to_string(), s.code.clone()))
                            .or_default()
                            .insert(t.mutatie);
                    }
                }
                for (g, mutations) in groups {
                    let c = counts.entry(g).or_default();
                    c.0 += 1;
                    c.1.extend(mutations);
                }
            }
        });
        Ok(counts
            .into_iter()
            .map(|((instelling, code), (students, mutations))| SignalCount {
                instelling,
                code,
                students,
                mutations: mutations.len() as u64,
            })
            .collect())
    }
}

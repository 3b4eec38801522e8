//! Sample data of the sandbox: a few students whose personal data "DUO" has delivered, so that
//! aanmeldingen for them route as in the chain (the municipality is told only about a student who
//! lives in the Netherlands, is under 23 and has no startkwalificatie; `domain.md` §2.2).
//!
//! The BSNs are from the range the government keeps for tests (`99999xxxx`); the names are
//! invented. In production, personal data comes from DUO through its adapter; here the seed plays
//! DUO's part through the same registry commands, as `Actor::Partner { partner: Partner::Duo }`.

use chrono::{DateTime, Months, NaiveDate, Utc};
use knooppunt_registry::domain::{Command, Geboortedatum, Geslacht, Person, Personalia};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::{Bsn, PersonId};
use knooppunt_registry::reference::{GemeenteCode, ReferenceData};
use knooppunt_registry::store::{Store, StoreError};
use uuid::Uuid;

/// Namespace of the seed's command ids (stable across restarts: seeding twice has one effect).
const SEED_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_756e_7400_0000_0000_0001);

/// One seeded student, as printed by `knooppunt serve`.
#[derive(Debug, Clone)]
pub struct SampleStudent {
    /// A test BSN.
    pub bsn: PersonId,
    /// The dossier.
    pub dossier: DossierKey,
    /// What makes this student's routing different, in words.
    pub profiel: &'static str,
    /// Woongemeente, when in the Netherlands.
    pub woongemeente: Option<GemeenteCode>,
    /// Whether the municipality must be told of VA statuses.
    pub gemeente_informeren: bool,
}

struct Template {
    bsn: &'static str,
    voornamen: &'static str,
    achternaam: &'static str,
    geslacht: Geslacht,
    age_years: u32,
    woongemeente: Option<&'static str>,
    startkwalificatie: bool,
    profiel: &'static str,
}

const STUDENTS: [Template; 4] = [
    Template {
        bsn: "999990019",
        voornamen: "Noor",
        achternaam: "Jansen",
        geslacht: Geslacht::V,
        age_years: 16,
        woongemeente: Some("0599"),
        startkwalificatie: false,
        profiel: "16 jaar, woont in Rotterdam, geen startkwalificatie: gemeente wordt geïnformeerd",
    },
    Template {
        bsn: "999990032",
        voornamen: "Daan",
        achternaam: "de Vries",
        geslacht: Geslacht::M,
        age_years: 24,
        woongemeente: Some("0363"),
        startkwalificatie: false,
        profiel: "24 jaar: gemeente niet",
    },
    Template {
        bsn: "999990044",
        voornamen: "Sem",
        achternaam: "Bakker",
        geslacht: Geslacht::M,
        age_years: 17,
        woongemeente: Some("0344"),
        startkwalificatie: true,
        profiel: "17 jaar met startkwalificatie: gemeente niet",
    },
    Template {
        bsn: "999990056",
        voornamen: "Lina",
        achternaam: "El Amrani",
        geslacht: Geslacht::V,
        age_years: 15,
        woongemeente: None,
        startkwalificatie: false,
        profiel: "15 jaar, woont in het buitenland: gemeente niet",
    },
];

fn birth_date(today: NaiveDate, years: u32) -> NaiveDate {
    // The last birthday a month ago: the student stays `years` old for ten more months.
    today
        .checked_sub_months(Months::new(years * 12 + 1))
        .unwrap_or(today)
}

/// Opens the sample students' dossiers and records their personal data, once (replays are
/// harmless). Returns them for the start banner.
pub async fn seed_students(
    store: &dyn Store,
    reference: &ReferenceData,
    now: DateTime<Utc>,
) -> Result<Vec<SampleStudent>, StoreError> {
    let duo = Actor::Partner {
        partner: knooppunt_registry::partner::Partner::Duo,
    };
    let mut out = Vec::new();
    for t in STUDENTS {
        let bsn = PersonId::Bsn(
            t.bsn
                .parse::<Bsn>()
                .map_err(|e| StoreError::Config(format!("sample BSN: {e}")))?,
        );
        let dossier = match store.find_dossier(&bsn).await? {
            Some(k) => k,
            None => {
                let key = DossierKey(Uuid::new_v5(&SEED_NAMESPACE, t.bsn.as_bytes()));
                let mut meta = CommandMeta::new(key, Actor::System, now);
                meta.id = Uuid::new_v5(&SEED_NAMESPACE, format!("open:{}", t.bsn).as_bytes());
                let opened = store
                    .execute(
                        meta,
                        Command::OpenDossier {
                            person: Person { id: bsn.clone() },
                        },
                        reference,
                    )
                    .await?;
                opened.dossier
            }
        };
        let woongemeente = match t.woongemeente {
            Some(code) => Some(
                code.parse::<GemeenteCode>()
                    .map_err(|e| StoreError::Config(format!("sample gemeente: {e}")))?,
            ),
            None => None,
        };
        let mut meta = CommandMeta::new(dossier, duo.clone(), now);
        meta.id = Uuid::new_v5(&SEED_NAMESPACE, format!("personalia:{}", t.bsn).as_bytes());
        store
            .execute(
                meta,
                Command::RecordPersonalia {
                    personalia: Personalia {
                        voornamen: t.voornamen.to_owned(),
                        voorvoegsels: None,
                        achternaam: t.achternaam.to_owned(),
                        geboortedatum: Geboortedatum::from_date(birth_date(
                            now.date_naive(),
                            t.age_years,
                        )),
                        geslacht: t.geslacht,
                        woongemeente: woongemeente.clone(),
                        startkwalificatie: t.startkwalificatie,
                    },
                },
                reference,
            )
            .await?;
        out.push(SampleStudent {
            bsn,
            dossier,
            profiel: t.profiel,
            gemeente_informeren: woongemeente.is_some() && !t.startkwalificatie && t.age_years < 23,
            woongemeente,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use knooppunt_registry::store::MemoryStore;

    /// Age in whole years on `on` of someone born on `born`.
    fn age(born: NaiveDate, on: NaiveDate) -> i32 {
        use chrono::Datelike;
        let mut years = on.year() - born.year();
        if (on.month(), on.day()) < (born.month(), born.day()) {
            years -= 1;
        }
        years
    }

    #[tokio::test]
    async fn seeding_twice_has_one_effect_and_ages_hold() {
        let store = MemoryStore::new();
        let reference = crate::reference_data();
        let now = Utc::now();
        let a = seed_students(&store, &reference, now).await.unwrap();
        let b = seed_students(&store, &reference, now).await.unwrap();
        assert_eq!(a.len(), STUDENTS.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.dossier, y.dossier);
            assert_eq!(store.history(x.dossier).await.unwrap().len(), 2);
        }
        for t in STUDENTS {
            let born = birth_date(now.date_naive(), t.age_years);
            assert_eq!(
                age(born, now.date_naive()),
                t.age_years as i32,
                "{}",
                t.profiel
            );
            // still that age ten months from now
            let later = now.date_naive() + chrono::Days::new(300);
            assert_eq!(age(born, later), t.age_years as i32, "{}", t.profiel);
        }
        assert_eq!(
            a.iter().filter(|s| s.gemeente_informeren).count(),
            1,
            "only the 16-year-old in Rotterdam"
        );
    }
}

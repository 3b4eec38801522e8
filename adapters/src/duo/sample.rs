//! The persons the DUO simulator knows in the sandbox: the sandbox's sample students
//! (`gateway/src/sandbox.rs`), with the same test BSNs (`99999xxxx`), invented names, the same
//! age, residence and startkwalificatie, and a vooropleiding each where they have one.
//!
//! The birth dates follow the sandbox's rule (the last birthday a month before `today`), so the
//! age a student has on the day the sandbox starts holds for ten more months, and what DUO
//! answers equals what the sandbox seeds.

use chrono::{Datelike, Months, NaiveDate};
use knooppunt_mappings::duo::codes::{Geboortedatum, Geslacht};
use knooppunt_mappings::duo::persoon::{DuoPersoon, DuoVooropleiding, PersoonEnVooropleidingen};
use knooppunt_registry::ids::PersonId;

struct Template {
    bsn: &'static str,
    voornamen: &'static str,
    geslachtsnaam: &'static str,
    geslacht: Geslacht,
    age_years: u32,
    woongemeente: Option<&'static str>,
    startkwalificatie: bool,
    /// (school BRIN, opleiding, omschrijving, diploma behaald)
    vooropleiding: Option<(&'static str, &'static str, &'static str, bool)>,
}

const PERSONS: [Template; 4] = [
    Template {
        bsn: "999990019",
        voornamen: "Noor",
        geslachtsnaam: "Jansen",
        geslacht: Geslacht::Vrouw,
        age_years: 16,
        woongemeente: Some("0599"),
        startkwalificatie: false,
        vooropleiding: Some(("19XY", "VMBO-KB", "vmbo kaderberoepsgerichte leerweg", true)),
    },
    Template {
        bsn: "999990032",
        voornamen: "Daan",
        geslachtsnaam: "de Vries",
        geslacht: Geslacht::Man,
        age_years: 24,
        woongemeente: Some("0363"),
        startkwalificatie: false,
        vooropleiding: Some(("20AB", "HAVO", "havo (niet afgerond)", false)),
    },
    Template {
        bsn: "999990044",
        voornamen: "Sem",
        geslachtsnaam: "Bakker",
        geslacht: Geslacht::Man,
        age_years: 17,
        woongemeente: Some("0344"),
        startkwalificatie: true,
        vooropleiding: Some(("21CD", "HAVO", "havo", true)),
    },
    Template {
        bsn: "999990056",
        voornamen: "Lina",
        geslachtsnaam: "El Amrani",
        geslacht: Geslacht::Vrouw,
        age_years: 15,
        woongemeente: None,
        startkwalificatie: false,
        vooropleiding: None,
    },
];

/// The birth date of someone `years` old on `today` whose last birthday was a month ago.
fn birth_date(today: NaiveDate, years: u32) -> NaiveDate {
    today
        .checked_sub_months(Months::new(years * 12 + 1))
        .unwrap_or(today)
}

/// The sandbox's persons as DUO knows them on `today`.
pub fn persons(today: NaiveDate) -> Vec<PersoonEnVooropleidingen> {
    PERSONS
        .iter()
        .filter_map(|t| {
            let id = PersonId::Bsn(t.bsn.parse().ok()?);
            let born = birth_date(today, t.age_years);
            let geboortedatum = Geboortedatum::new(
                u16::try_from(born.year()).ok()?,
                u8::try_from(born.month()).ok()?,
                u8::try_from(born.day()).ok()?,
            )?;
            let vooropleidingen = t
                .vooropleiding
                .iter()
                .filter_map(|(school, opleiding, omschrijving, diploma)| {
                    Some(DuoVooropleiding {
                        instelling: Some(school.parse().ok()?),
                        instelling_naam: None,
                        opleiding: (*opleiding).to_owned(),
                        omschrijving: (*omschrijving).to_owned(),
                        vanaf: None,
                        tot_en_met: None,
                        datum_uitslag: None,
                        diploma_behaald: *diploma,
                        eindresultaat: None,
                        vakken: Vec::new(),
                    })
                })
                .collect();
            Some(PersoonEnVooropleidingen {
                persoon: DuoPersoon {
                    id,
                    geboortedatum,
                    geslacht: t.geslacht,
                    voornamen: Some(t.voornamen.to_owned()),
                    roepnaam: None,
                    voorvoegsels: None,
                    geslachtsnaam: t.geslachtsnaam.to_owned(),
                    postcode: None,
                    woongemeente: t.woongemeente.map(str::to_owned),
                    land: None,
                    startkwalificatie: Some(t.startkwalificatie),
                },
                vooropleidingen,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_person_is_valid_and_translates() {
        let today = NaiveDate::from_ymd_opt(2027, 3, 31).expect("date");
        let all = persons(today);
        assert_eq!(all.len(), PERSONS.len());
        for p in &all {
            knooppunt_mappings::duo::persoon::lookup_to_command(p).expect("translates");
        }
        // A month past the birthday: 16 on 2027-03-31 means born 2011-02-28.
        assert_eq!(all[0].persoon.geboortedatum.to_string(), "2011-02-28");
    }
}

//! Sample reference data: institutions, opleidingen with their cohorts, VO schools, gemeenten and
//! regional systems of the sandbox and the demos.
//!
//! All data here is made up: BRIN, RIO and leerbedrijf codes are real-looking but fictitious.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use knooppunt_registry::ids::Brin;
use knooppunt_registry::reference::{
    AangebodenOpleiding, Cohort, Gemeente, GemeenteCode, Institution, Leertraject, Niveau,
    Participation, ReferenceData, RegionaalSysteem, VoSchool,
};

/// RIO id of the demo's Software Developer opleiding at 25LX.
pub const SOFTWARE_DEVELOPER: Uuid =
    Uuid::from_u128(0x6f1e_0a52_8c1b_4c4e_9a57_0000_0000_0001_u128);

/// RIO id of the demo's Verzorgende-IG (BBL) opleiding at 25LX.
pub const VERZORGENDE_IG: Uuid = Uuid::from_u128(0x6f1e_0a52_8c1b_4c4e_9a57_0000_0000_0002_u128);

/// RIO id of the demo's entree opleiding at 25LX.
pub const ENTREE: Uuid = Uuid::from_u128(0x6f1e_0a52_8c1b_4c4e_9a57_0000_0000_0003_u128);

/// RIO id of the demo's Timmerman opleiding at 27DV.
pub const TIMMERMAN: Uuid = Uuid::from_u128(0x6f1e_0a52_8c1b_4c4e_9a57_0000_0000_0004_u128);

/// RIO id of the sample aangeboden opleiding Mediavormgever (ROC Kustland, level `va`).
pub const MEDIAVORMGEVER: Uuid = Uuid::from_u128(0x6f1e_0a52_8c1b_4c4e_9a57_0000_0000_0005_u128);

/// RIO id of the sample aangeboden opleiding Dierverzorging (AOC Groenland).
pub const DIERVERZORGING: Uuid = Uuid::from_u128(0x6f1e_0a52_8c1b_4c4e_9a57_0000_0000_0006_u128);

pub(crate) fn p<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    // Only ever called on the literals in this module, which the tests parse.
    match s.parse() {
        Ok(v) => v,
        Err(e) => panic!("demo literal {s:?} does not parse: {e:?}"),
    }
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

pub(crate) fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn institution(
    brin: &str,
    naam: &str,
    aanbieder: &str,
    bestuur: &str,
    participatie: Participation,
    verband: Option<&str>,
) -> Institution {
    let brin: Brin = p(brin);
    Institution {
        oin: brin.oin(),
        brin,
        naam: naam.to_owned(),
        aanbieder: p(aanbieder),
        participatie,
        bevoegd_gezag: p(bestuur),
        samenwerkingsverband: verband.map(str::to_owned),
    }
}

fn cohort(start_year: i32) -> Cohort {
    Cohort {
        code: format!("{}-{}", start_year, start_year + 1),
        begin_aanmeldperiode: date(start_year - 1, 10, 1),
        einde_aanmeldperiode: date(start_year, 8, 31),
        startdatum: date(start_year, 8, 30),
    }
}

fn opleiding(
    id: Uuid,
    brin: &str,
    naam: &str,
    crebo: &str,
    niveau: Niveau,
    leertraject: Leertraject,
) -> AangebodenOpleiding {
    AangebodenOpleiding {
        id,
        instelling: p(brin),
        naam: naam.to_owned(),
        crebo: p(crebo),
        niveau,
        leertraject,
        cohorts: vec![cohort(2026), cohort(2027), cohort(2028)],
    }
}

/// Sample reference data: four institutions (one at each participation level, two in one
/// samenwerkingsverband, a guest institution), opleidingen with three cohorts each, three VO
/// schools (one per regional system) and their municipalities.
pub fn reference_data() -> ReferenceData {
    let institutions = [
        institution(
            "25LX",
            "ROC Zuidwaard",
            "100A501",
            "100B490",
            Participation::Krd,
            Some("SWV Rijnmond"),
        ),
        institution(
            "30GT",
            "AOC Groenland",
            "102A110",
            "100B492",
            Participation::Krd,
            Some("SWV Rijnmond"),
        ),
        institution(
            "27DV",
            "Vakcollege Houtwerk",
            "101A203",
            "100B491",
            Participation::Aanmelden,
            None,
        ),
        institution(
            "28AB",
            "ROC Kustland",
            "103A321",
            "100B490",
            Participation::Va,
            None,
        ),
    ];
    let opleidingen = [
        opleiding(
            SOFTWARE_DEVELOPER,
            "25LX",
            "Software Developer",
            "25998",
            Niveau::Mbo4,
            Leertraject::Bol,
        ),
        opleiding(
            VERZORGENDE_IG,
            "25LX",
            "Verzorgende-IG",
            "25655",
            Niveau::Mbo3,
            Leertraject::Bbl,
        ),
        opleiding(
            ENTREE,
            "25LX",
            "Entree Assistent logistiek",
            "25348",
            Niveau::Mbo1,
            Leertraject::Bol,
        ),
        opleiding(
            TIMMERMAN,
            "27DV",
            "Timmerman",
            "25311",
            Niveau::Mbo2,
            Leertraject::Bol,
        ),
        opleiding(
            MEDIAVORMGEVER,
            "28AB",
            "Mediavormgever",
            "25592",
            Niveau::Mbo4,
            Leertraject::Bol,
        ),
        opleiding(
            DIERVERZORGING,
            "30GT",
            "Dierverzorging",
            "25470",
            Niveau::Mbo3,
            Leertraject::Bol,
        ),
    ];
    let gemeenten = [
        ("0599", "Rotterdam"),
        ("0363", "Amsterdam"),
        ("0344", "Utrecht"),
    ];
    let scholen = [
        (
            "19XY",
            "Erasmus College",
            RegionaalSysteem::Intergrip,
            "0599",
        ),
        (
            "20AB",
            "Het Amstel Lyceum",
            RegionaalSysteem::Digidoor,
            "0363",
        ),
        ("21CD", "Domstad Mavo", RegionaalSysteem::Voroc, "0344"),
    ];
    ReferenceData {
        institutions: institutions
            .into_iter()
            .map(|i| (i.brin.clone(), i))
            .collect(),
        opleidingen: opleidingen.into_iter().map(|o| (o.id, o)).collect(),
        vo_scholen: scholen
            .into_iter()
            .map(|(brin, naam, systeem, gemeente)| {
                let brin: Brin = p(brin);
                (
                    brin.clone(),
                    VoSchool {
                        brin,
                        naam: naam.to_owned(),
                        systeem,
                        gemeente: p(gemeente),
                    },
                )
            })
            .collect(),
        gemeenten: gemeenten
            .into_iter()
            .map(|(code, naam)| {
                let code: GemeenteCode = p(code);
                (
                    code.clone(),
                    Gemeente {
                        code,
                        naam: naam.to_owned(),
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

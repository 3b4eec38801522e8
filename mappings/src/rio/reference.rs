//! RIO model → the registry's reference data (`knooppunt_registry::reference`).
//!
//! Only what the registry's rules need: an institution per BRIN and each mbo aangeboden opleiding
//! with its *published* cohorts (status `G`; cohorts in `O`ntwerp are not open for aanmelding).

use knooppunt_registry::ids::Brin;
use knooppunt_registry::reference::{self, Institution, Leertraject, Niveau, Participation};

use super::model::{AangebodenOpleiding, CohortStatus, Instroom, Onderwijsaanbieder};
use crate::error::MappingError;

/// Parses RIO's leertraject code (`BOL`, `BBL`, `BOL_DT`, `OVO`, `EX`, `ODT`).
pub fn leertraject(field: &str, s: &str) -> Result<Leertraject, MappingError> {
    Ok(match s {
        "BOL" => Leertraject::Bol,
        "BBL" => Leertraject::Bbl,
        "BOL_DT" => Leertraject::BolDt,
        "OVO" => Leertraject::Ovo,
        "EX" => Leertraject::Ex,
        "ODT" => Leertraject::Odt,
        _ => {
            return Err(MappingError::invalid(
                field,
                "expected BOL, BBL, BOL_DT, OVO, EX or ODT",
            ));
        }
    })
}

/// Parses RIO's niveau (`MBO-1` … `MBO-4`; the SOAP service also uses `NIVEAU1` … `NIVEAU4`).
pub fn niveau(field: &str, s: &str) -> Result<Niveau, MappingError> {
    Ok(match s {
        "MBO-1" | "NIVEAU1" | "ENTREE" => Niveau::Mbo1,
        "MBO-2" | "NIVEAU2" => Niveau::Mbo2,
        "MBO-3" | "NIVEAU3" => Niveau::Mbo3,
        "MBO-4" | "NIVEAU4" => Niveau::Mbo4,
        _ => return Err(MappingError::invalid(field, "expected MBO-1 … MBO-4")),
    })
}

/// An aangeboden opleiding as the registry keeps it. `instelling` is the BRIN of its aanbieder
/// (the adapter knows it from the aanbieder it asked about).
pub fn to_opleiding(
    o: &AangebodenOpleiding,
    instelling: &Brin,
) -> Result<reference::AangebodenOpleiding, MappingError> {
    let path = format!("aangebodenOpleiding[{}]", o.code);
    let f = |n: &str| format!("{path}/{n}");
    let cohorts = o
        .cohorts
        .iter()
        .filter(|c| c.status == CohortStatus::Gepubliceerd)
        .map(|c| {
            let startdatum = match c.instroom {
                Instroom::Vast { moment } => moment,
                Instroom::Flexibel { begin, .. } => begin,
            };
            reference::Cohort {
                code: c.code.clone(),
                begin_aanmeldperiode: c.begin_aanmeldperiode,
                // RIO leaves the end open when one may apply until the start.
                einde_aanmeldperiode: c.einde_aanmeldperiode.unwrap_or(startdatum),
                startdatum,
            }
        })
        .collect();
    Ok(reference::AangebodenOpleiding {
        id: o.code,
        instelling: instelling.instelling(),
        naam: o
            .naam
            .clone()
            .ok_or_else(|| MappingError::missing(f("eigenNaam")))?,
        crebo: o
            .crebo
            .clone()
            .ok_or_else(|| MappingError::missing(f("opleidingserkenningSleutel/opleidingscode")))?,
        niveau: niveau(
            &f("mboNiveau"),
            o.niveau
                .as_deref()
                .ok_or_else(|| MappingError::missing(f("mboNiveau")))?,
        )?,
        leertraject: leertraject(
            &f("leertraject"),
            o.leertraject
                .as_deref()
                .ok_or_else(|| MappingError::missing(f("leertraject")))?,
        )?,
        cohorts,
    })
}

/// An institution as the registry keeps it: the aanbieder's first BRIN erkenning, its current
/// bevoegd gezag, and the participation level (an operator setting, not RIO's).
pub fn to_institution(
    a: &Onderwijsaanbieder,
    participatie: Participation,
) -> Result<Institution, MappingError> {
    let path = format!("onderwijsaanbieder[{}]", a.code);
    let brin = a
        .brins
        .first()
        .ok_or_else(|| {
            MappingError::missing(format!(
                "{path}/juridischeRelatie/instellingserkenningscode"
            ))
        })?
        .instelling();
    Ok(Institution {
        oin: brin.oin(),
        naam: a
            .naam
            .clone()
            .ok_or_else(|| MappingError::missing(format!("{path}/naam")))?,
        aanbieder: a.code.clone(),
        participatie,
        bevoegd_gezag: a
            .bevoegd_gezag
            .clone()
            .ok_or_else(|| MappingError::missing(format!("{path}/bijbehorendOnderwijsbestuur")))?,
        samenwerkingsverband: None,
        brin,
    })
}

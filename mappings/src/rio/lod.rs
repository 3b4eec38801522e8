//! RIO LOD REST API v2 (`https://lod.onderwijsregistratie.nl/api/rio/v2`, OpenAPI v2.13.0 in
//! specs/): JSON lists (or single objects) of `/aangeboden-opleidingen`,
//! `/aangeboden-opleiding-cohorten`, `/organisatorische-eenheden` and `/onderwijslocaties`.
//!
//! The LOD API links resources instead of nesting them: an aangeboden opleiding carries neither
//! its aanbieder nor its cohorts, so the adapter fetches the cohorts separately and joins them
//! with [`with_cohorts`].

use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::model::{
    AangebodenOpleiding, Cohort, CohortStatus, Instroom, Onderwijsaanbieder, Onderwijslocatie,
};
use super::{check_len, soap::ja_nee};
use crate::error::MappingError;
use crate::xml::guard;

/// Largest LOD page accepted (pageSize ≤ 100, so a page is far below this).
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

fn read<T: DeserializeOwned>(input: &[u8]) -> Result<Vec<T>, MappingError> {
    let text = guard(input, MAX_BYTES)?;
    // Parse to a Value first so syntax errors and shape errors are told apart.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| MappingError::Malformed {
            format: "JSON",
            position: format!("line {} column {}", e.line(), e.column()),
            reason: e.to_string(),
        })?;
    let items = match value {
        serde_json::Value::Array(a) => a,
        other @ serde_json::Value::Object(_) => vec![other],
        _ => {
            return Err(MappingError::invalid(
                "$",
                "expected an object or an array of objects",
            ));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v)
                .map_err(|e| MappingError::invalid(format!("$[{i}]"), e.to_string()))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LodAangebodenOpleiding {
    aangeboden_opleidingcode: String,
    eigennaam: Option<String>,
    startdatum: NaiveDate,
    eerste_instroomdatum: Option<NaiveDate>,
    einddatum: Option<NaiveDate>,
    #[serde(rename = "type")]
    soort: String,
    leertraject: Option<String>,
    mboniveau: Option<String>,
    toelatingseisen: Option<String>,
    toegankelijkheid: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LodCohort {
    code: String,
    status: String,
    begin_aanmeldperiode: NaiveDate,
    einde_aanmeldperiode: Option<NaiveDate>,
    instroommoment: Option<NaiveDate>,
    begin_instroomperiode: Option<NaiveDate>,
    einde_instroomperiode: Option<NaiveDate>,
    toestemming_vereist_voor_aanmelding: String,
    deelnemersplaatsen: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LodEenheid {
    code: String,
    inbedrijfdatum: NaiveDate,
    uitbedrijfdatum: Option<NaiveDate>,
    naam: String,
    #[serde(rename = "type")]
    soort: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LodLocatie {
    onderwijslocatiecode: String,
    huisnummer: Option<u32>,
    huisnummertoevoeging: Option<String>,
    postcode: Option<String>,
    plaatsnaam: Option<String>,
}

/// `/aangeboden-opleidingen`: the mbo opleidingen among them (other sectors are skipped), without
/// cohorts (see [`with_cohorts`]).
pub fn parse_aangeboden_opleidingen(
    input: &[u8],
) -> Result<Vec<AangebodenOpleiding>, MappingError> {
    let raw: Vec<LodAangebodenOpleiding> = read(input)?;
    let mut out = Vec::new();
    for (i, o) in raw.into_iter().enumerate() {
        if !o.soort.starts_with("AANGEBODENMBO") {
            continue;
        }
        let field = format!("$[{i}].aangebodenOpleidingcode");
        if o.aangeboden_opleidingcode.len() != 36 {
            return Err(MappingError::invalid(
                field,
                "expected a UUID of 36 characters",
            ));
        }
        let code = Uuid::parse_str(&o.aangeboden_opleidingcode)
            .map_err(|_| MappingError::invalid(&field, "expected a UUID"))?;
        if let Some(n) = &o.eigennaam {
            check_len(&format!("$[{i}].eigennaam"), n, 225)?;
        }
        let toelatingseisen = o
            .toelatingseisen
            .as_deref()
            .map(|t| ja_nee(&format!("$[{i}].toelatingseisen"), t))
            .transpose()?;
        out.push(AangebodenOpleiding {
            toelatingseisen,
            toegankelijkheid: o.toegankelijkheid,
            code,
            aanbieder: None,
            opleidingseenheid: None,
            locatie: None,
            crebo: None,
            begindatum: o.startdatum,
            einddatum: o.einddatum,
            eerste_instroom: o.eerste_instroomdatum,
            naam: o.eigennaam,
            leertraject: o.leertraject,
            niveau: o.mboniveau,
            cohorts: Vec::new(),
        });
    }
    Ok(out)
}

/// `/aangeboden-opleiding-cohorten` (or `/aangeboden-opleidingen/{id}/aangeboden-opleiding-cohorten`).
pub fn parse_cohorten(input: &[u8]) -> Result<Vec<Cohort>, MappingError> {
    let raw: Vec<LodCohort> = read(input)?;
    raw.into_iter()
        .enumerate()
        .map(|(i, c)| {
            check_len(&format!("$[{i}].code"), &c.code, 60)?;
            let instroom = match (c.instroommoment, c.begin_instroomperiode) {
                (Some(moment), _) => Instroom::Vast { moment },
                (None, Some(begin)) => Instroom::Flexibel {
                    begin,
                    eind: c.einde_instroomperiode,
                },
                (None, None) => {
                    return Err(MappingError::missing(format!(
                        "$[{i}].instroommoment|beginInstroomperiode"
                    )));
                }
            };
            Ok(Cohort {
                code: c.code,
                status: CohortStatus::from_code(&format!("$[{i}].status"), &c.status)?,
                begin_aanmeldperiode: c.begin_aanmeldperiode,
                einde_aanmeldperiode: c.einde_aanmeldperiode,
                instroom,
                toestemming_vereist: ja_nee(
                    &format!("$[{i}].toestemmingVereistVoorAanmelding"),
                    &c.toestemming_vereist_voor_aanmelding,
                )?,
                deelnemersplaatsen: c.deelnemersplaatsen,
            })
        })
        .collect()
}

/// Joins cohorts fetched separately to their opleiding.
pub fn with_cohorts(
    mut opleiding: AangebodenOpleiding,
    cohorts: Vec<Cohort>,
) -> AangebodenOpleiding {
    opleiding.cohorts = cohorts;
    opleiding
}

/// `/organisatorische-eenheden`: the onderwijsaanbieders among them (besturen etc. are skipped).
pub fn parse_onderwijsaanbieders(input: &[u8]) -> Result<Vec<Onderwijsaanbieder>, MappingError> {
    let raw: Vec<LodEenheid> = read(input)?;
    let mut out = Vec::new();
    for (i, e) in raw.into_iter().enumerate() {
        if e.soort != "ONDERWIJSAANBIEDER" {
            continue;
        }
        check_len(&format!("$[{i}].naam"), &e.naam, 80)?;
        out.push(Onderwijsaanbieder {
            code: e
                .code
                .parse()
                .map_err(|err| MappingError::id(format!("$[{i}].code"), err))?,
            naam: Some(e.naam),
            in_bedrijf: e.inbedrijfdatum,
            uit_bedrijf: e.uitbedrijfdatum,
            brins: Vec::new(),
            bevoegd_gezag: None,
        });
    }
    Ok(out)
}

/// `/onderwijslocaties`.
pub fn parse_onderwijslocaties(input: &[u8]) -> Result<Vec<Onderwijslocatie>, MappingError> {
    let raw: Vec<LodLocatie> = read(input)?;
    raw.into_iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(Onderwijslocatie {
                code: l
                    .onderwijslocatiecode
                    .parse()
                    .map_err(|err| MappingError::id(format!("$[{i}].onderwijslocatiecode"), err))?,
                postcode: l.postcode,
                huisnummer: l.huisnummer,
                toevoeging: l.huisnummertoevoeging,
                plaatsnaam: l.plaatsnaam,
            })
        })
        .collect()
}

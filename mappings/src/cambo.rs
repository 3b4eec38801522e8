//! Central aanmelding (CAMBO / VCA, `vca.Aanmelding`, media type
//! `application/vnd.topicus.cambo+json`) → registry commands.
//!
//! One CAMBO aanmelding at one `wijzigingsvolgnummer` becomes one [`CamboBatch`]: `OpenDossier`,
//! `RecordPersonalia`, one `RecordVooropleiding` per vooropleiding, `SubmitAanmelding`, and
//! `ChangeAanmeldingStatus(ingetrokken)` when CAMBO says it was withdrawn. Every command id is a
//! UUIDv5 of `ketenId | wijzigingsvolgnummer | position`, so reading the same change twice gives
//! the same ids (the registry's idempotency does the rest), and the aanmelding id is a UUIDv5 of
//! the ketenId alone (stable across changes). Rules: `docs/partners/cambo.md`.

use chrono::{DateTime, NaiveDate, Utc};
use knooppunt_registry::domain::{
    AanmeldStatus, AanmeldingId, Command, ExterneReferentie, Geboortedatum, Geslacht, KetenId,
    Person, Personalia, Vooropleiding,
};
use knooppunt_registry::ids::{Brin, Bsn, PersonId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::MappingError;
use crate::rio::check_len;
use crate::xml::guard;

/// Largest CAMBO document accepted (a page of aanmeldingen).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// Namespace for Knooppunt's UUIDv5 ids derived from CAMBO keys (fixed forever).
pub const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_756e_7400_0000_0000_ca3b);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireVooropleiding {
    vanaf: Option<NaiveDate>,
    tot_en_met: Option<NaiveDate>,
    instelling: Option<String>,
    opleiding: Option<String>,
    datum_uitslag: Option<NaiveDate>,
    diploma_behaald: Option<bool>,
    eindresultaat: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAanmelding {
    keten_id: Option<String>,
    ca_keten_id: Option<Uuid>,
    wijzigingsvolgnummer: Option<u64>,
    #[serde(rename = "type")]
    soort: Option<String>,
    ingetrokken: Option<bool>,
    datum_tijd_indienen: Option<DateTime<Utc>>,
    bsn: Option<String>,
    geboortedatum: Option<String>,
    geslacht: Option<String>,
    roepnaam: Option<String>,
    achternaam: Option<String>,
    voorvoegsels: Option<String>,
    voornamen: Option<String>,
    #[serde(default)]
    vooropleidingen: Vec<WireVooropleiding>,
    instelling: Option<String>,
    opleiding: Option<String>,
    opleiding_cohort: Option<String>,
    aanmelding_voor_eerste_leerjaar: Option<bool>,
    extra_ondersteuning: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct WirePage {
    items: Vec<serde_json::Value>,
}

/// `type`: a real aanmelding or an interessemelding (no toelatingsrecht, no VA status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Soort {
    /// `A`.
    Aanmelding,
    /// `I`.
    Interessemelding,
}

/// A vooropleiding as CAMBO gives it (from DUO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamboVooropleiding {
    /// From.
    pub vanaf: Option<NaiveDate>,
    /// Until (inclusive).
    pub tot_en_met: Option<NaiveDate>,
    /// School name (≤ 100) or BRIN.
    pub instelling: String,
    /// Opleiding (≤ 200).
    pub opleiding: String,
    /// Date of the result.
    pub datum_uitslag: Option<NaiveDate>,
    /// Diploma obtained.
    pub diploma_behaald: bool,
}

/// A validated `vca.Aanmelding`. Holds personal data: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamboAanmelding {
    /// CAMBO ketenId (BRIN:nnnnnnnn).
    pub keten_id: KetenId,
    /// CAMBO's own UUID of the chain.
    pub ca_keten_id: Option<Uuid>,
    /// Change counter, increasing per ketenId.
    pub wijzigingsvolgnummer: u64,
    /// Aanmelding or interessemelding.
    pub soort: Soort,
    /// Withdrawn by the student.
    pub ingetrokken: bool,
    /// When submitted.
    pub ingediend_op: DateTime<Utc>,
    /// BSN (required for an aanmelding).
    pub bsn: Option<Bsn>,
    /// Birth date (partial dates allowed, `00`).
    pub geboortedatum: Option<Geboortedatum>,
    /// Geslacht (`-` = O).
    pub geslacht: Option<Geslacht>,
    /// Roepnaam.
    pub roepnaam: String,
    /// Voornamen.
    pub voornamen: Option<String>,
    /// Voorvoegsels.
    pub voorvoegsels: Option<String>,
    /// Achternaam.
    pub achternaam: Option<String>,
    /// Vooropleidingen.
    pub vooropleidingen: Vec<CamboVooropleiding>,
    /// The institution applied to.
    pub instelling: Brin,
    /// Opleiding: RIO aangebodenOpleidingcode (UUID) or the institution's own code (≤ 36).
    pub opleiding: String,
    /// Cohort (≤ 100).
    pub opleiding_cohort: String,
    /// For the first year.
    pub voor_eerste_leerjaar: Option<bool>,
    /// Extra support asked.
    pub extra_ondersteuning: Option<bool>,
}

impl std::fmt::Debug for CamboAanmelding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CamboAanmelding")
            .field("keten_id", &self.keten_id)
            .field("wijzigingsvolgnummer", &self.wijzigingsvolgnummer)
            .field("soort", &self.soort)
            .finish_non_exhaustive()
    }
}

fn malformed_json(e: serde_json::Error) -> MappingError {
    MappingError::Malformed {
        format: "JSON",
        position: format!("line {} column {}", e.line(), e.column()),
        reason: e.to_string(),
    }
}

fn opt_text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, MappingError> {
    match v {
        Some(s) if !s.trim().is_empty() => {
            check_len(field, &s, max)?;
            if s.chars().any(char::is_control) {
                return Err(MappingError::invalid(
                    field,
                    "control characters are not allowed",
                ));
            }
            Ok(Some(s.trim().to_owned()))
        }
        _ => Ok(None),
    }
}

fn req_text(field: &str, v: Option<String>, max: usize) -> Result<String, MappingError> {
    opt_text(field, v, max)?.ok_or_else(|| MappingError::missing(field))
}

fn validate(w: WireAanmelding, path: &str) -> Result<CamboAanmelding, MappingError> {
    let f = |name: &str| format!("{path}.{name}");
    let keten_id: KetenId = req_text(&f("ketenId"), w.keten_id, 15)?.parse().map_err(
        |e: knooppunt_registry::domain::ValueError| MappingError::invalid(f("ketenId"), e.reason),
    )?;
    let soort = match w.soort.as_deref() {
        Some("A") => Soort::Aanmelding,
        Some("I") => Soort::Interessemelding,
        Some(_) => return Err(MappingError::invalid(f("type"), "expected A or I")),
        None => return Err(MappingError::missing(f("type"))),
    };
    let bsn = match w.bsn.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<Bsn>()
                .map_err(|e| MappingError::id(f("bsn"), e))?,
        ),
        None if soort == Soort::Aanmelding => return Err(MappingError::missing(f("bsn"))),
        None => None,
    };
    let geboortedatum = w
        .geboortedatum
        .as_deref()
        .map(|s| {
            s.parse::<Geboortedatum>()
                .map_err(|e| MappingError::invalid(f("geboortedatum"), e.reason))
        })
        .transpose()?;
    let geslacht = match w.geslacht.as_deref() {
        None => None,
        Some("V") => Some(Geslacht::V),
        Some("M") => Some(Geslacht::M),
        Some("-") => Some(Geslacht::O),
        Some(_) => return Err(MappingError::invalid(f("geslacht"), "expected V, M or -")),
    };
    let instelling: Brin = req_text(&f("instelling"), w.instelling, 4)?
        .parse()
        .map_err(|e| MappingError::id(f("instelling"), e))?;
    let mut vooropleidingen = Vec::new();
    for (i, v) in w.vooropleidingen.into_iter().enumerate() {
        let vf = |name: &str| format!("{path}.vooropleidingen[{i}].{name}");
        if let (Some(a), Some(b)) = (v.vanaf, v.tot_en_met)
            && b < a
        {
            return Err(MappingError::invalid(vf("totEnMet"), "lies before vanaf"));
        }
        let _ = opt_text(&vf("eindresultaat"), v.eindresultaat, 100)?;
        vooropleidingen.push(CamboVooropleiding {
            vanaf: v.vanaf,
            tot_en_met: v.tot_en_met,
            instelling: req_text(&vf("instelling"), v.instelling, 100)?,
            opleiding: req_text(&vf("opleiding"), v.opleiding, 200)?,
            datum_uitslag: v.datum_uitslag,
            diploma_behaald: v.diploma_behaald.unwrap_or(false),
        });
    }
    Ok(CamboAanmelding {
        keten_id,
        ca_keten_id: w.ca_keten_id,
        wijzigingsvolgnummer: w
            .wijzigingsvolgnummer
            .ok_or_else(|| MappingError::missing(f("wijzigingsvolgnummer")))?,
        soort,
        ingetrokken: w.ingetrokken.unwrap_or(false),
        ingediend_op: w
            .datum_tijd_indienen
            .ok_or_else(|| MappingError::missing(f("datumTijdIndienen")))?,
        bsn,
        geboortedatum,
        geslacht,
        roepnaam: req_text(&f("roepnaam"), w.roepnaam, 75)?,
        voornamen: opt_text(&f("voornamen"), w.voornamen, 200)?,
        voorvoegsels: opt_text(&f("voorvoegsels"), w.voorvoegsels, 20)?,
        achternaam: opt_text(&f("achternaam"), w.achternaam, 200)?,
        vooropleidingen,
        instelling,
        opleiding: req_text(&f("opleiding"), w.opleiding, 36)?,
        opleiding_cohort: req_text(&f("opleidingCohort"), w.opleiding_cohort, 100)?,
        voor_eerste_leerjaar: w.aanmelding_voor_eerste_leerjaar,
        extra_ondersteuning: w.extra_ondersteuning,
    })
}

fn one(v: serde_json::Value, path: &str) -> Result<CamboAanmelding, MappingError> {
    let w: WireAanmelding =
        serde_json::from_value(v).map_err(|e| MappingError::invalid(path, e.to_string()))?;
    validate(w, path)
}

/// A page `{"items": [vca.Aanmelding, …]}` (the `/aanmelding` and `/aanmelding/nieuw` answers).
pub fn parse_page(input: &[u8]) -> Result<Vec<CamboAanmelding>, MappingError> {
    let text = guard(input, MAX_BYTES)?;
    let page: WirePage = serde_json::from_str(text).map_err(malformed_json)?;
    page.items
        .into_iter()
        .enumerate()
        .map(|(i, v)| one(v, &format!("items[{i}]")))
        .collect()
}

/// One `vca.Aanmelding` (the `/aanmelding/{id}` answer).
pub fn parse_aanmelding(input: &[u8]) -> Result<CamboAanmelding, MappingError> {
    let text = guard(input, MAX_BYTES)?;
    let v: serde_json::Value = serde_json::from_str(text).map_err(malformed_json)?;
    one(v, "$")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutVooropleiding<'a> {
    #[serde(rename = "$type")]
    soort: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vanaf: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tot_en_met: Option<NaiveDate>,
    instelling: &'a str,
    opleiding: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    datum_uitslag: Option<NaiveDate>,
    diploma_behaald: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutAanmelding<'a> {
    #[serde(rename = "$type")]
    soort_type: &'static str,
    keten_id: &'a KetenId,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_keten_id: Option<Uuid>,
    wijzigingsvolgnummer: u64,
    #[serde(rename = "type")]
    soort: &'static str,
    ingetrokken: bool,
    datum_tijd_indienen: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bsn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geboortedatum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geslacht: Option<&'static str>,
    roepnaam: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    voornamen: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voorvoegsels: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    achternaam: Option<&'a str>,
    vooropleidingen: Vec<OutVooropleiding<'a>>,
    instelling: &'a Brin,
    opleiding: &'a str,
    opleiding_cohort: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aanmelding_voor_eerste_leerjaar: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_ondersteuning: Option<bool>,
}

/// Writes aanmeldingen as a CAMBO page `{"items": […]}` (for the CAMBO simulator): what
/// [`parse_page`] reads back to the same values.
pub fn write_page(items: &[CamboAanmelding]) -> Result<String, MappingError> {
    let out: Vec<OutAanmelding<'_>> = items
        .iter()
        .map(|a| OutAanmelding {
            soort_type: "vca.Aanmelding",
            keten_id: &a.keten_id,
            ca_keten_id: a.ca_keten_id,
            wijzigingsvolgnummer: a.wijzigingsvolgnummer,
            soort: match a.soort {
                Soort::Aanmelding => "A",
                Soort::Interessemelding => "I",
            },
            ingetrokken: a.ingetrokken,
            datum_tijd_indienen: a.ingediend_op,
            bsn: a.bsn.as_ref().map(Bsn::as_str),
            geboortedatum: a.geboortedatum.map(|g| g.duo_format()),
            geslacht: a.geslacht.map(|g| match g {
                Geslacht::V => "V",
                Geslacht::M => "M",
                Geslacht::O => "-",
            }),
            roepnaam: &a.roepnaam,
            voornamen: a.voornamen.as_deref(),
            voorvoegsels: a.voorvoegsels.as_deref(),
            achternaam: a.achternaam.as_deref(),
            vooropleidingen: a
                .vooropleidingen
                .iter()
                .map(|v| OutVooropleiding {
                    soort: "vca.Vooropleiding",
                    vanaf: v.vanaf,
                    tot_en_met: v.tot_en_met,
                    instelling: &v.instelling,
                    opleiding: &v.opleiding,
                    datum_uitslag: v.datum_uitslag,
                    diploma_behaald: v.diploma_behaald,
                })
                .collect(),
            instelling: &a.instelling,
            opleiding: &a.opleiding,
            opleiding_cohort: &a.opleiding_cohort,
            aanmelding_voor_eerste_leerjaar: a.voor_eerste_leerjaar,
            extra_ondersteuning: a.extra_ondersteuning,
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "items": out }))
        .map_err(|e| MappingError::Unsupported(e.to_string()))
}

/// The notification CAMBO sends when new aanmeldingen wait at a koppelpunt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Koppelpunt code.
    pub koppelpunt_code: String,
    /// Koppelpunt name.
    pub koppelpunt_naam: String,
    /// Estimated number of new aanmeldingen (a hint to pull).
    pub geschatte_nieuwe_aanmeldingen: u64,
}

/// Reads a notification.
pub fn parse_notification(input: &[u8]) -> Result<Notification, MappingError> {
    let text = guard(input, 64 * 1024)?;
    let n: Notification = serde_json::from_str(text).map_err(malformed_json)?;
    if n.koppelpunt_code.trim().is_empty() {
        return Err(MappingError::missing("koppelpuntCode"));
    }
    check_len("koppelpuntCode", &n.koppelpunt_code, 36)?;
    Ok(n)
}

/// A registry command with the id to submit it under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifiedCommand {
    /// Deterministic command id (UUIDv5).
    pub id: Uuid,
    /// The command.
    pub command: Command,
}

/// What one CAMBO change means for the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CamboBatch {
    /// UUIDv5 of `ketenId|wijzigingsvolgnummer`: the idempotency key of the whole change.
    pub id: Uuid,
    /// The aanmelding (UUIDv5 of the ketenId).
    pub aanmelding: AanmeldingId,
    /// The person whose dossier the commands go to.
    pub person: PersonId,
    /// The commands, in order.
    pub commands: Vec<IdentifiedCommand>,
}

/// Deterministic id of one CAMBO change.
pub fn change_id(keten_id: &KetenId, wijzigingsvolgnummer: u64) -> Uuid {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("cambo|{keten_id}|{wijzigingsvolgnummer}").as_bytes(),
    )
}

/// Deterministic aanmelding id of a CAMBO chain.
pub fn aanmelding_id(keten_id: &KetenId) -> AanmeldingId {
    AanmeldingId(Uuid::new_v5(
        &ID_NAMESPACE,
        format!("cambo-aanmelding|{keten_id}").as_bytes(),
    ))
}

/// The commands for one aanmelding. `resolve_opleiding` maps CAMBO's `opleiding` to the RIO
/// aangebodenOpleidingcode when it is not already one (an institution's own code). Returns
/// `Ok(None)` for an interessemelding: it is not an aanmelding (no toelatingsrecht, no VA status).
pub fn to_commands(
    a: &CamboAanmelding,
    resolve_opleiding: &dyn Fn(&Brin, &str) -> Option<Uuid>,
) -> Result<Option<CamboBatch>, MappingError> {
    if a.soort == Soort::Interessemelding {
        return Ok(None);
    }
    let bsn = a.bsn.clone().ok_or_else(|| MappingError::missing("bsn"))?;
    let opleiding = match Uuid::parse_str(&a.opleiding) {
        Ok(u) if a.opleiding.len() == 36 => u,
        _ => resolve_opleiding(&a.instelling, &a.opleiding).ok_or_else(|| {
            MappingError::invalid(
                "opleiding",
                "neither a RIO aangebodenOpleidingcode nor a known code of the institution",
            )
        })?,
    };
    let batch_id = change_id(&a.keten_id, a.wijzigingsvolgnummer);
    let aanmelding = aanmelding_id(&a.keten_id);
    let person = PersonId::Bsn(bsn);
    let mut commands = vec![Command::OpenDossier {
        person: Person { id: person.clone() },
    }];
    if let (Some(voornamen), Some(achternaam), Some(geboortedatum)) =
        (&a.voornamen, &a.achternaam, a.geboortedatum)
    {
        let personalia = Personalia {
            voornamen: voornamen.clone(),
            voorvoegsels: a.voorvoegsels.clone(),
            achternaam: achternaam.clone(),
            geboortedatum,
            geslacht: a.geslacht.unwrap_or(Geslacht::O),
            woongemeente: None,
            startkwalificatie: false,
        };
        personalia
            .validate()
            .map_err(|e| MappingError::invalid(e.field, e.reason))?;
        commands.push(Command::RecordPersonalia { personalia });
    }
    for (i, v) in a.vooropleidingen.iter().enumerate() {
        let vooropleiding = Vooropleiding {
            instelling: v.instelling.parse().ok(),
            opleiding: v.opleiding.chars().take(36).collect(),
            omschrijving: v.opleiding.clone(),
            vanaf: v.vanaf,
            tot_en_met: v.tot_en_met,
            diploma_behaald: v.diploma_behaald,
            datum_uitslag: v.datum_uitslag,
        };
        vooropleiding.validate().map_err(|e| {
            MappingError::invalid(format!("vooropleidingen[{i}].{}", e.field), e.reason)
        })?;
        commands.push(Command::RecordVooropleiding { vooropleiding });
    }
    commands.push(Command::SubmitAanmelding {
        aanmelding,
        instelling: a.instelling.instelling(),
        opleiding,
        cohort: a.opleiding_cohort.clone(),
        toeleverende_school: None,
        externe_referentie: Some(ExterneReferentie {
            keten_id: a.keten_id.clone(),
            wijzigingsvolgnummer: a.wijzigingsvolgnummer,
        }),
    });
    if a.ingetrokken {
        commands.push(Command::ChangeAanmeldingStatus {
            aanmelding,
            status: AanmeldStatus::Ingetrokken,
        });
    }
    let commands = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| IdentifiedCommand {
            id: Uuid::new_v5(&batch_id, i.to_string().as_bytes()),
            command,
        })
        .collect();
    Ok(Some(CamboBatch {
        id: batch_id,
        aanmelding,
        person,
        commands,
    }))
}

//! Vroegtijdige aanmelding (VA/VVA): aanmeldstatussen to the mbo koppelpunt and the regional
//! overstapsystemen (Intergrip, Digidoor, Voroc), in the CAMBO *overstapsysteem* JSON shape
//! (`specs/cambo-vca-overstapsysteem-voorbeeld-aanmelding.json`): BSN (`pgn`), BRIN, opleiding,
//! status.
//!
//! Status codes: only `AO` and `LI` are seen in the public example; the full list of six is our
//! assumption (docs/partners/va.md): `OT` ontvangen, `AM` aangemeld, `AO` onderwijsovereenkomst
//! aangeboden, `LI` leidt niet tot inschrijving, `IT` ingetrokken, `IS` ingeschreven.
//!
//! The published example has trailing commas (not JSON); [`parse_page`] accepts them through a
//! pre-pass that removes a comma before `}` or `]` outside strings. The example also spells the
//! leertraject field `leeratraject`; both spellings are read, `leertraject` is written.

use chrono::{DateTime, NaiveDate, Utc};
use knooppunt_registry::domain::{AanmeldStatus, Event, ExterneReferentie, KetenId};
use knooppunt_registry::envelope::EventMeta;
use knooppunt_registry::ids::{Brin, Crebo, OnderwijsaanbiederCode, PersonId};
use knooppunt_registry::reference::{GemeenteCode, Leertraject, ReferenceData, RegionaalSysteem};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::MappingError;
use crate::xml::guard;

/// Largest page accepted.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// The VA status code for a status (our assumption for the four not seen in public examples).
pub fn status_code(s: AanmeldStatus) -> &'static str {
    match s {
        AanmeldStatus::Ontvangen => "OT",
        AanmeldStatus::Aangemeld => "AM",
        AanmeldStatus::OokAangeboden => "AO",
        AanmeldStatus::LeidtNietTotInschrijving => "LI",
        AanmeldStatus::Ingetrokken => "IT",
        AanmeldStatus::Ingeschreven => "IS",
    }
}

/// The status for a VA status code.
pub fn status_from_code(field: &str, code: &str) -> Result<AanmeldStatus, MappingError> {
    AanmeldStatus::ALL
        .into_iter()
        .find(|s| status_code(*s) == code)
        .ok_or_else(|| MappingError::invalid(field, "expected one of OT, AM, AO, LI, IT, IS"))
}

/// One aanmeldstatus as sent to a koppelpunt. Holds a BSN: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct VaStatus {
    /// CAMBO ketenId, when the aanmelding came through central aanmelding.
    pub keten_id: Option<KetenId>,
    /// CAMBO's chain UUID, when known.
    pub ca_keten_id: Option<Uuid>,
    /// Increasing per student (the dossier's event sequence): the receiver keeps the highest.
    pub wijzigingsvolgnummer: u64,
    /// The student's BSN or onderwijsnummer (`pgn`).
    pub pgn: PersonId,
    /// The status.
    pub status: AanmeldStatus,
    /// When the status changed.
    pub laatste_wijziging: DateTime<Utc>,
    /// The mbo institution.
    pub brin: Brin,
    /// RIO onderwijsaanbieder, when known.
    pub onderwijsaanbieder_code: Option<OnderwijsaanbiederCode>,
    /// Crebo of the opleiding.
    pub crebo: Crebo,
    /// Aanmeldjaar as `YYYY-YYYY`, when known.
    pub aanmeldjaar: Option<String>,
    /// Start of the opleiding, when known.
    pub startdatum: Option<NaiveDate>,
    /// Leertraject, when known.
    pub leertraject: Option<Leertraject>,
}

impl std::fmt::Debug for VaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaStatus")
            .field("wijzigingsvolgnummer", &self.wijzigingsvolgnummer)
            .field("status", &self.status)
            .field("brin", &self.brin)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(rename = "$type", default)]
    soort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keten_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_keten_id: Option<Uuid>,
    wijzigingsvolgnummer: u64,
    pgn: String,
    status: String,
    laatste_wijziging: DateTime<Utc>,
    brin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    onderwijs_aanbieder_code: Option<String>,
    opleiding_crebo_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opleiding_aanmeldjaar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    startdatum_opleiding: Option<NaiveDate>,
    #[serde(
        default,
        alias = "leeratraject",
        skip_serializing_if = "Option::is_none"
    )]
    leertraject: Option<Leertraject>,
}

#[derive(Serialize, Deserialize)]
struct Page {
    items: Vec<serde_json::Value>,
}

/// Context the event does not carry: the person number (from the dossier) and, when known,
/// the CAMBO reference and RIO details of the opleiding.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct VaContext {
    /// The student's number (from the dossier's person).
    pub pgn: Option<PersonId>,
    /// CAMBO reference, for aanmeldingen from central aanmelding.
    pub externe_referentie: Option<ExterneReferentie>,
    /// CAMBO's chain UUID.
    pub ca_keten_id: Option<Uuid>,
    /// The RIO aanbieder.
    pub onderwijsaanbieder_code: Option<OnderwijsaanbiederCode>,
    /// Cohort start date.
    pub startdatum: Option<NaiveDate>,
    /// Leertraject.
    pub leertraject: Option<Leertraject>,
}

impl std::fmt::Debug for VaContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaContext(***)")
    }
}

/// The aanmeldjaar (`2027-2028`) of a start date: the studiejaar runs 1 August – 31 July.
pub fn aanmeldjaar(start: NaiveDate) -> String {
    use chrono::Datelike;
    let y = if start.month() >= 8 {
        start.year()
    } else {
        start.year() - 1
    };
    format!("{y}-{}", y + 1)
}

/// The VA status message for a registry event, or `None` for events VA does not report.
pub fn from_event(
    event: &Event,
    meta: &EventMeta,
    ctx: &VaContext,
) -> Result<Option<VaStatus>, MappingError> {
    let (brin, crebo, status, referentie) = match event {
        Event::AanmeldingIngediend { aanmelding } => (
            aanmelding.instelling.clone(),
            aanmelding.crebo.clone(),
            aanmelding.status,
            aanmelding.externe_referentie.clone(),
        ),
        Event::AanmeldingStatusGewijzigd {
            instelling,
            crebo,
            naar,
            ..
        } => (instelling.clone(), crebo.clone(), *naar, None),
        _ => return Ok(None),
    };
    let pgn = ctx
        .pgn
        .clone()
        .ok_or_else(|| MappingError::missing("pgn"))?;
    let referentie = referentie.or_else(|| ctx.externe_referentie.clone());
    Ok(Some(VaStatus {
        keten_id: referentie.map(|r| r.keten_id),
        ca_keten_id: ctx.ca_keten_id,
        wijzigingsvolgnummer: meta.sequence,
        pgn,
        status,
        laatste_wijziging: meta.time,
        brin,
        onderwijsaanbieder_code: ctx.onderwijsaanbieder_code.clone(),
        crebo,
        aanmeldjaar: ctx.startdatum.map(aanmeldjaar),
        startdatum: ctx.startdatum,
        leertraject: ctx.leertraject,
    }))
}

/// Where a status goes (domain.md §2.2): always the mbo koppelpunt; also the regional system of
/// the sending school when there is one and reference data knows it; and the municipality when
/// the registry decided it must be told (lives in NL, under 23, no startkwalificatie).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VaTarget {
    /// The mbo koppelpunt of the VVA.
    MboKoppelpunt,
    /// A regional overstapsysteem.
    Regionaal(RegionaalSysteem),
    /// The koppelpunt gemeenten, for this municipality.
    Gemeente(GemeenteCode),
}

/// The targets for a status event.
pub fn targets(event: &Event, reference: &ReferenceData) -> Vec<VaTarget> {
    let (school, gemeente) = match event {
        Event::AanmeldingIngediend { aanmelding } => {
            (aanmelding.toeleverende_school.as_ref(), None)
        }
        Event::AanmeldingStatusGewijzigd {
            toeleverende_school,
            gemeente,
            ..
        } => (toeleverende_school.as_ref(), gemeente.as_ref()),
        _ => return Vec::new(),
    };
    let mut out = vec![VaTarget::MboKoppelpunt];
    if let Some(s) = school.and_then(|b| reference.vo_school(b)) {
        out.push(VaTarget::Regionaal(s.systeem));
    }
    if let Some(g) = gemeente {
        out.push(VaTarget::Gemeente(g.clone()));
    }
    out
}

fn to_wire(s: &VaStatus) -> Wire {
    Wire {
        soort: Some("Aanmelding".to_owned()),
        keten_id: s.keten_id.as_ref().map(|k| k.to_string()),
        ca_keten_id: s.ca_keten_id,
        wijzigingsvolgnummer: s.wijzigingsvolgnummer,
        pgn: s.pgn.digits().to_owned(),
        status: status_code(s.status).to_owned(),
        laatste_wijziging: s.laatste_wijziging,
        brin: s.brin.to_string(),
        onderwijs_aanbieder_code: s.onderwijsaanbieder_code.as_ref().map(|c| c.to_string()),
        opleiding_crebo_code: s.crebo.to_string(),
        opleiding_aanmeldjaar: s.aanmeldjaar.clone(),
        startdatum_opleiding: s.startdatum,
        leertraject: s.leertraject,
    }
}

/// Writes statuses as a page `{"items": […]}`.
pub fn write_page(items: &[VaStatus]) -> Result<String, MappingError> {
    let page = Page {
        items: items
            .iter()
            .map(|s| serde_json::to_value(to_wire(s)))
            .collect::<Result<_, _>>()
            .map_err(|e| MappingError::Unsupported(e.to_string()))?,
    };
    serde_json::to_string_pretty(&page).map_err(|e| MappingError::Unsupported(e.to_string()))
}

/// Removes trailing commas (before `}` or `]`) outside strings; everything else is unchanged.
pub fn strip_trailing_commas(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = input.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ',' => {
                let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
                if !matches!(next, Some('}') | Some(']')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn from_wire(w: Wire, path: &str) -> Result<VaStatus, MappingError> {
    let f = |n: &str| format!("{path}.{n}");
    Ok(VaStatus {
        keten_id: w
            .keten_id
            .map(|k| {
                k.parse::<KetenId>()
                    .map_err(|e| MappingError::invalid(f("ketenId"), e.reason))
            })
            .transpose()?,
        ca_keten_id: w.ca_keten_id,
        wijzigingsvolgnummer: w.wijzigingsvolgnummer,
        pgn: PersonId::parse_either(&w.pgn).map_err(|e| MappingError::id(f("pgn"), e))?,
        status: status_from_code(&f("status"), &w.status)?,
        laatste_wijziging: w.laatste_wijziging,
        brin: w.brin.parse().map_err(|e| MappingError::id(f("brin"), e))?,
        onderwijsaanbieder_code: w
            .onderwijs_aanbieder_code
            .map(|c| {
                c.parse()
                    .map_err(|e| MappingError::id(f("onderwijsAanbiederCode"), e))
            })
            .transpose()?,
        crebo: w
            .opleiding_crebo_code
            .parse()
            .map_err(|e| MappingError::id(f("opleidingCreboCode"), e))?,
        aanmeldjaar: w.opleiding_aanmeldjaar,
        startdatum: w.startdatum_opleiding,
        leertraject: w.leertraject,
    })
}

/// Reads a page of statuses (tolerating trailing commas as in the published example).
pub fn parse_page(input: &[u8]) -> Result<Vec<VaStatus>, MappingError> {
    let text = strip_trailing_commas(guard(input, MAX_BYTES)?);
    let page: Page = serde_json::from_str(&text).map_err(|e| MappingError::Malformed {
        format: "JSON",
        position: format!("line {} column {}", e.line(), e.column()),
        reason: e.to_string(),
    })?;
    page.items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let path = format!("items[{i}]");
            let w: Wire = serde_json::from_value(v)
                .map_err(|e| MappingError::invalid(&path, e.to_string()))?;
            from_wire(w, &path)
        })
        .collect()
}

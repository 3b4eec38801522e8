//! Conversions between the registry's domain values and DUO's codes, and the deterministic ids
//! DUO-side keys get (volgnummers for BRON, OOK/BPV ids for an RO import).

use knooppunt_registry::domain::{self as reg, BpvId, OokId};
use knooppunt_registry::ids::{Brin, Bsn, Onderwijsnummer, PersonId};
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference;
use uuid::Uuid;

use super::codes::{Geboortedatum, Geslacht, Leertraject, Niveau, RedenUitschrijving, Volgnummer};
use crate::error::MappingError;

/// Registry geslacht → DUO.
pub fn geslacht_to_duo(g: reg::Geslacht) -> Geslacht {
    match g {
        reg::Geslacht::M => Geslacht::Man,
        reg::Geslacht::V => Geslacht::Vrouw,
        reg::Geslacht::O => Geslacht::Onbekend,
    }
}

/// DUO geslacht → registry.
pub fn geslacht_from_duo(g: Geslacht) -> reg::Geslacht {
    match g {
        Geslacht::Man => reg::Geslacht::M,
        Geslacht::Vrouw => reg::Geslacht::V,
        Geslacht::Onbekend => reg::Geslacht::O,
    }
}

/// Registry birth date → DUO (same `00` convention).
pub fn geboortedatum_to_duo(
    field: &str,
    g: &reg::Geboortedatum,
) -> Result<Geboortedatum, MappingError> {
    let year =
        u16::try_from(g.jaar()).map_err(|_| MappingError::invalid(field, "year out of range"))?;
    Geboortedatum::new(
        year,
        g.maand().unwrap_or(0) as u8,
        g.dag().unwrap_or(0) as u8,
    )
    .ok_or_else(|| MappingError::invalid(field, "not a valid DUO birth date"))
}

/// DUO birth date → registry.
pub fn geboortedatum_from_duo(
    field: &str,
    g: Geboortedatum,
) -> Result<reg::Geboortedatum, MappingError> {
    reg::Geboortedatum::new(
        i32::from(g.year()),
        g.month().map(u32::from),
        g.day().map(u32::from),
    )
    .map_err(|e| MappingError::invalid(field, e.reason))
}

/// Registry leertraject → DUO.
pub fn leertraject_to_duo(l: reference::Leertraject) -> Leertraject {
    use reference::Leertraject as R;
    match l {
        R::Bol => Leertraject::Bol,
        R::Bbl => Leertraject::Bbl,
        R::BolDt => Leertraject::BolDeeltijd,
        R::Ovo => Leertraject::Ovo,
        R::Ex => Leertraject::Examendeelnemer,
        R::Odt => Leertraject::Odt,
    }
}

/// DUO leertraject → registry.
pub fn leertraject_from_duo(l: Leertraject) -> reference::Leertraject {
    use reference::Leertraject as R;
    match l {
        Leertraject::Bol => R::Bol,
        Leertraject::Bbl => R::Bbl,
        Leertraject::BolDeeltijd => R::BolDt,
        Leertraject::Ovo => R::Ovo,
        Leertraject::Examendeelnemer => R::Ex,
        Leertraject::Odt => R::Odt,
    }
}

/// The intensiteit a leertraject implies (RIO merges leerweg and default intensiteit).
pub fn intensiteit_of(l: Leertraject) -> reg::Intensiteit {
    match l {
        Leertraject::Bol | Leertraject::Bbl | Leertraject::Ovo => reg::Intensiteit::VT,
        Leertraject::BolDeeltijd | Leertraject::Odt => reg::Intensiteit::DT,
        Leertraject::Examendeelnemer => reg::Intensiteit::EX,
    }
}

/// DUO niveau → registry.
pub fn niveau_from_duo(n: Niveau) -> reference::Niveau {
    match n {
        Niveau::Mbo1 => reference::Niveau::Mbo1,
        Niveau::Mbo2 => reference::Niveau::Mbo2,
        Niveau::Mbo3 => reference::Niveau::Mbo3,
        Niveau::Mbo4 => reference::Niveau::Mbo4,
    }
}

/// Registry reden uitschrijving → DUO.
pub fn reden_to_duo(r: &reg::RedenUitschrijving) -> Result<RedenUitschrijving, MappingError> {
    RedenUitschrijving::parse("RedenUitschrijving", r.as_str())
}

/// DUO reden uitschrijving → registry.
pub fn reden_from_duo(
    field: &str,
    r: &RedenUitschrijving,
) -> Result<reg::RedenUitschrijving, MappingError> {
    r.as_str()
        .parse()
        .map_err(|e: reg::ValueError| MappingError::invalid(field, e.reason))
}

fn volgnummer_from(prefix: &str, id: &Uuid) -> Volgnummer {
    let hex = id.simple().to_string();
    let take = 20usize.saturating_sub(prefix.len());
    let s: String = prefix.chars().chain(hex.chars().take(take)).collect();
    // Internal prefixes (letters and digits) and hex digits: always a valid volgnummer.
    Volgnummer::parse("volgnummer", &s).expect("letters and hex digits form a valid volgnummer")
}

/// The inschrijvingvolgnummer of an OOK for DUO: the one the institution assigned, else one
/// derived from the OOK id (20 hex characters; stable for the life of the OOK).
pub fn inschrijvingvolgnummer(
    ook: &OokId,
    assigned: Option<&str>,
) -> Result<Volgnummer, MappingError> {
    match assigned {
        Some(v) => Volgnummer::parse("inschrijvingsvolgnummer", v),
        None => Ok(volgnummer_from("", &ook.0)),
    }
}

/// The BPV volgnummer of a praktijkovereenkomst, derived from its id.
pub fn bpv_volgnummer(bpv: &BpvId) -> Volgnummer {
    volgnummer_from("", &bpv.0)
}

/// A resultaatvolgnummer derived from the OOK and a short tag (`D` diploma, `G3005`, `K0067`).
pub fn resultaatvolgnummer(ook: &OokId, tag: &str) -> Volgnummer {
    volgnummer_from(tag, &ook.0)
}

/// Namespace of Knooppunt's deterministic (v5) ids for imported DUO records.
pub const IMPORT_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_5000_8000_0000_6475_6f00);

/// The OOK id an imported inschrijving gets: the same RO file imported twice (with the same
/// person key) gives the same ids (so the registry's idempotency holds). Derived from the BRIN,
/// the person's keyed fingerprint (not the number itself, and nothing that can be reversed
/// without the key) and the inschrijvingvolgnummer.
pub fn import_ook_id(
    key: &PersonKey,
    brin: &Brin,
    persoon: &PersonId,
    volgnummer: &Volgnummer,
) -> OokId {
    let name = format!(
        "ook:{}:{}:{}",
        brin.instelling(),
        key.fingerprint(persoon),
        volgnummer
    );
    OokId(Uuid::new_v5(&IMPORT_NAMESPACE, name.as_bytes()))
}

/// The BPV id an imported BPV gets (see [`import_ook_id`]).
pub fn import_bpv_id(ook: &OokId, bpv_volgnummer: &Volgnummer) -> BpvId {
    let name = format!("bpv:{}:{}", ook.0, bpv_volgnummer);
    BpvId(Uuid::new_v5(&IMPORT_NAMESPACE, name.as_bytes()))
}

/// ASSUMPTION (no public source maps them): codes of the generieke examenonderdelen per subject.
/// `3005` (Nederlands) and `3010` (rekenen) follow cedanl `geo.md`; `3020` for Engels is a
/// placeholder until DUO's code list is available. One table, so it is replaced in one place.
pub const GEO_CODES: [(reg::GeneriekVak, &str); 3] = [
    (reg::GeneriekVak::Nederlands, "3005"),
    (reg::GeneriekVak::Rekenen, "3010"),
    (reg::GeneriekVak::Engels, "3020"),
];

/// The GEO code of a subject.
pub fn geo_code(vak: reg::GeneriekVak) -> &'static str {
    GEO_CODES
        .iter()
        .find(|(v, _)| *v == vak)
        .map(|(_, c)| *c)
        .unwrap_or("3005")
}

/// The subject of a GEO code, when it is one of [`GEO_CODES`].
pub fn geo_vak(code: &str) -> Option<reg::GeneriekVak> {
    GEO_CODES.iter().find(|(_, c)| *c == code).map(|(v, _)| *v)
}

/// The two person fields of DUO's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PersonField {
    /// `Burgerservicenummer`.
    Bsn,
    /// `Onderwijsnummer`.
    Onderwijsnummer,
}

/// DUO's rule for the person of a record, in every format (RO lines, BRON, TBG-i, persons):
/// exactly one of BSN and onderwijsnummer. `path` names a field for an error (never its value).
pub(crate) fn person_id(
    bsn: Option<&str>,
    onderwijsnummer: Option<&str>,
    path: impl Fn(PersonField) -> String,
) -> Result<PersonId, MappingError> {
    match (bsn, onderwijsnummer) {
        (Some(v), None) => v
            .parse::<Bsn>()
            .map(PersonId::Bsn)
            .map_err(|e| MappingError::id(path(PersonField::Bsn), e)),
        (None, Some(v)) => v
            .parse::<Onderwijsnummer>()
            .map(PersonId::Onderwijsnummer)
            .map_err(|e| MappingError::id(path(PersonField::Onderwijsnummer), e)),
        (Some(_), Some(_)) => Err(MappingError::invalid(
            path(PersonField::Onderwijsnummer),
            "either Burgerservicenummer or Onderwijsnummer, not both",
        )),
        (None, None) => Err(MappingError::missing(path(PersonField::Bsn))),
    }
}

//! DUO's mbo record model (`domain.md` §1.3–1.4): the content of ISG/ISP/ISE/BPV/DIP/GEO/KZD
//! records, shared by the outgoing BRON messages ([`super::bron`]) and the incoming
//! registratieoverzicht ([`super::ro`]). Field names follow DUO's.

use chrono::NaiveDate;
use knooppunt_registry::ids::{
    Crebo, KeuzedeelCode, LeerbedrijfId, OnderwijsaanbiederCode, OnderwijslocatieCode,
};
use serde::{Deserialize, Serialize};

use super::codes::{
    GeoCode, KeuzedeelResultaat, Leerroute, Leerroutefase, Leertraject, LocatiecodeVsv, Niveau,
    RedenUitschrijving, Volgnummer, Vrijstelling,
};

/// An inschrijving (ISG) with its periods (ISP) and periods of extra ondersteuning (ISE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inschrijving {
    /// Inschrijvingvolgnummer, assigned by the institution.
    pub inschrijvingvolgnummer: Volgnummer,
    /// Datum inschrijving.
    pub datum_inschrijving: NaiveDate,
    /// Datum uitschrijving gepland (mandatory).
    pub datum_uitschrijving_gepland: NaiveDate,
    /// Datum uitschrijving werkelijk, once known.
    pub datum_uitschrijving_werkelijk: Option<NaiveDate>,
    /// Reden uitschrijving, with the werkelijke datum.
    pub reden_uitschrijving: Option<RedenUitschrijving>,
    /// The periods (ISP), at least one; a new one on change of opleiding, niveau or leertraject.
    pub perioden: Vec<Periode>,
    /// Periods of extra ondersteuning (ISE).
    pub extra_ondersteuning: Vec<ExtraOndersteuning>,
}

/// One period of an inschrijving (ISP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Periode {
    /// Datum begin (inclusive).
    pub datum_begin: NaiveDate,
    /// Opleidingcode (crebo).
    pub opleidingcode: Crebo,
    /// Leertraject.
    pub leertraject: Leertraject,
    /// Niveau, only for enrolments at dossier/domain level.
    pub niveau: Option<Niveau>,
    /// Indicatie bekostigbaar.
    pub indicatie_bekostigbaar: bool,
    /// Locatiecode VSV (NHR vestigingsnummer).
    pub locatiecode_vsv: Option<LocatiecodeVsv>,
    /// RIO onderwijsaanbieder.
    pub onderwijsaanbieder: Option<OnderwijsaanbiederCode>,
    /// RIO onderwijslocatie.
    pub onderwijslocatie: Option<OnderwijslocatieCode>,
    /// Leerroute (`DLP`).
    pub leerroute: Option<Leerroute>,
    /// Leerroutefase (`VO` / `MBO`).
    pub leerroutefase: Option<Leerroutefase>,
}

/// A period of extra ondersteuning (ISE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraOndersteuning {
    /// Datum begin (inclusive).
    pub datum_begin: NaiveDate,
    /// Datum eind (inclusive), when known.
    pub datum_eind: Option<NaiveDate>,
}

/// A praktijkovereenkomst (BPV record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bpv {
    /// The inschrijving it belongs to.
    pub inschrijvingvolgnummer: Volgnummer,
    /// BPV volgnummer, assigned by the institution.
    pub bpv_volgnummer: Volgnummer,
    /// Afsluitdatum: the date the POK was drawn up (not the last signature).
    pub afsluitdatum: NaiveDate,
    /// Datum begin.
    pub datum_begin: NaiveDate,
    /// Datum einde gepland.
    pub datum_einde_gepland: NaiveDate,
    /// Datum einde werkelijk.
    pub datum_einde_werkelijk: Option<NaiveDate>,
    /// Omvang in hours.
    pub omvang: u32,
    /// SBB leerbedrijf-ID.
    pub leerbedrijf_id: LeerbedrijfId,
    /// Opleidingcode (crebo) of the BPV.
    pub opleidingcode: Crebo,
    /// Code keuzedeel, when the BPV belongs to a keuzedeel.
    pub code_keuzedeel: Option<KeuzedeelCode>,
}

/// A diploma (DIP) with its generieke examenonderdelen (GEO) and keuzedelen (KZD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diploma {
    /// Resultaatvolgnummer.
    pub resultaatvolgnummer: Volgnummer,
    /// Opleidingcode (crebo) of the kwalificatie.
    pub opleidingcode: Crebo,
    /// Datum resultaat (the day the diploma was obtained).
    pub datum_resultaat: NaiveDate,
    /// Indicatie bekostigbaar.
    pub indicatie_bekostigbaar: bool,
    /// The inschrijving it belongs to.
    pub inschrijvingvolgnummer: Option<Volgnummer>,
    /// RIO onderwijsaanbieder.
    pub onderwijsaanbieder: Option<OnderwijsaanbiederCode>,
    /// Generieke examenonderdelen.
    pub generieke_examenonderdelen: Vec<GeneriekExamenonderdeel>,
    /// Keuzedelen.
    pub keuzedelen: Vec<Keuzedeel>,
}

/// A generiek examenonderdeel (GEO): Nederlands, rekenen, Engels, KZDL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneriekExamenonderdeel {
    /// Resultaatvolgnummer of this result.
    pub resultaatvolgnummer: Volgnummer,
    /// Code generiek examenonderdeel.
    pub code: GeoCode,
    /// Eindcijfer (1–10).
    pub eindcijfer: Option<u8>,
    /// Vrijstelling for the whole onderdeel.
    pub vrijstelling: Option<Vrijstelling>,
    /// Cijfer institutioneel examen (N2..3 as DUO writes it).
    pub cijfer_ie: Option<u16>,
    /// Vrijstelling IE.
    pub vrijstelling_ie: Option<Vrijstelling>,
    /// Cijfer centraal examen (N2..3 as DUO writes it).
    pub cijfer_ce: Option<u16>,
    /// Vrijstelling CE.
    pub vrijstelling_ce: Option<Vrijstelling>,
}

/// A keuzedeel result (KZD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keuzedeel {
    /// Resultaatvolgnummer of this result.
    pub resultaatvolgnummer: Volgnummer,
    /// Code keuzedeel.
    pub code: KeuzedeelCode,
    /// Behaald / niet behaald.
    pub resultaat: KeuzedeelResultaat,
}

/// An uitschrijving: the werkelijke datum and reden of an inschrijving delivered before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uitschrijving {
    /// The inschrijving.
    pub inschrijvingvolgnummer: Volgnummer,
    /// Datum uitschrijving werkelijk.
    pub datum_uitschrijving_werkelijk: NaiveDate,
    /// Reden uitschrijving.
    pub reden_uitschrijving: RedenUitschrijving,
}

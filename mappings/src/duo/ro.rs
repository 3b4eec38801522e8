//! DUO's registratieoverzicht (RO): a multi-record CSV of every inschrijving and diploma of an
//! institution in a selection period (`domain.md` §1.4; demo
//! `shared/specs/duo-ro-demo_RO_27DV_20240731_20260324.csv`; column layouts from
//! cedanl/mbo-bekostiging-bestanden `docs/recordtypes/*.md`). Used for the bulk import of an
//! institution moving to level `krd` (`design.md` §2).
//!
//! The file can be large (tens of thousands of persons), so it is read as a stream:
//! [`RoReader`] yields one typed record per line from any [`BufRead`], and [`RoPersonen`] groups
//! them per person. Checks: the first record is `VLP`, the separator is `|` (PvE) or `;` (seen in
//! practice), every record type has its exact column count, every line is UTF-8 and at most
//! [`MAX_LINE_BYTES`], child records belong to the preceding `PER`/`ISG`/`DIP`, and the `SLR`
//! trailer's counts equal the records read (a mismatch is an error naming the count).

use std::io::BufRead;

use chrono::NaiveDate;
use knooppunt_registry::ids::{
    Brin, Bsn, Crebo, OnderwijsaanbiederCode, Onderwijsnummer, PersonId,
};
use serde::{Deserialize, Serialize};

use super::codes::{
    AmoCode, Geboortedatum, GeoCode, Geslacht, KeuzedeelResultaat, Leerroute, Leerroutefase,
    Leertraject, LocatiecodeVsv, Niveau, RedenUitschrijving, Volgnummer, Vrijstelling, jn,
    parse_jn, parse_uint, push_date,
};
use super::records::{
    Bpv, Diploma, ExtraOndersteuning, GeneriekExamenonderdeel, Inschrijving, Keuzedeel, Periode,
};
use crate::error::MappingError;

/// Longest line accepted (the longest RO record is well under 300 bytes).
pub const MAX_LINE_BYTES: usize = 4096;

/// The header (VLP): institution and selection period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoVlp {
    /// The institution.
    pub brin: Brin,
    /// Begin of the selection period.
    pub begin: NaiveDate,
    /// End of the selection period.
    pub eind: NaiveDate,
    /// When DUO made the file.
    pub aanmaakdatum: NaiveDate,
}

/// A person (PER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoPer {
    /// BSN or onderwijsnummer.
    pub persoon: PersonId,
    /// Geboortedatum (day or day and month may be unknown).
    pub geboortedatum: Geboortedatum,
    /// Geslacht.
    pub geslacht: Geslacht,
}

/// An inschrijving (ISG) without its periods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoIsg {
    /// The person.
    pub persoon: PersonId,
    /// Inschrijvingvolgnummer.
    pub inschrijvingvolgnummer: Volgnummer,
    /// Datum inschrijving.
    pub datum_inschrijving: NaiveDate,
    /// Datum uitschrijving gepland.
    pub datum_uitschrijving_gepland: NaiveDate,
    /// Datum uitschrijving werkelijk.
    pub datum_uitschrijving_werkelijk: Option<NaiveDate>,
    /// Reden uitschrijving.
    pub reden_uitschrijving: Option<RedenUitschrijving>,
}

/// A period of an inschrijving (ISP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoIsp {
    /// The person.
    pub persoon: PersonId,
    /// The inschrijving.
    pub inschrijvingvolgnummer: Volgnummer,
    /// The period.
    pub periode: Periode,
}

/// A period of extra ondersteuning (ISE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoIse {
    /// The person.
    pub persoon: PersonId,
    /// The inschrijving.
    pub inschrijvingvolgnummer: Volgnummer,
    /// The period.
    pub periode: ExtraOndersteuning,
}

/// A BPV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoBpv {
    /// The person.
    pub persoon: PersonId,
    /// The BPV.
    pub bpv: Bpv,
}

/// A diploma (DIP) without its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoDip {
    /// The person.
    pub persoon: PersonId,
    /// Resultaatvolgnummer.
    pub resultaatvolgnummer: Volgnummer,
    /// Opleidingcode.
    pub opleidingcode: Crebo,
    /// Datum resultaat.
    pub datum_resultaat: NaiveDate,
    /// Indicatie bekostigbaar.
    pub indicatie_bekostigbaar: bool,
    /// The inschrijving.
    pub inschrijvingvolgnummer: Option<Volgnummer>,
    /// RIO onderwijsaanbieder.
    pub onderwijsaanbieder: Option<OnderwijsaanbiederCode>,
}

/// The diploma a result belongs to (absent for a loose result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiplomaRef {
    /// The diploma's resultaatvolgnummer.
    pub resultaatvolgnummer: Volgnummer,
    /// The diploma's opleidingcode.
    pub opleidingcode: Crebo,
}

/// Fields a loose result (not part of a diploma) carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LosResultaat {
    /// Datum resultaat.
    pub datum_resultaat: Option<NaiveDate>,
    /// Inschrijvingvolgnummer.
    pub inschrijvingvolgnummer: Option<Volgnummer>,
    /// RIO onderwijsaanbieder.
    pub onderwijsaanbieder: Option<OnderwijsaanbiederCode>,
}

/// An AMvB-onderdeel (AMO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoAmo {
    /// The person.
    pub persoon: PersonId,
    /// The diploma, when part of one.
    pub diploma: Option<DiplomaRef>,
    /// Resultaatvolgnummer.
    pub resultaatvolgnummer: Volgnummer,
    /// Code AMvB-onderdeel.
    pub code: AmoCode,
    /// Certificaat (loose only).
    pub certificaat: Option<bool>,
    /// Loose-result fields.
    pub los: LosResultaat,
}

/// A generiek examenonderdeel (GEO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoGeo {
    /// The person.
    pub persoon: PersonId,
    /// The diploma, when part of one.
    pub diploma: Option<DiplomaRef>,
    /// The result.
    pub geo: GeneriekExamenonderdeel,
    /// Loose-result fields.
    pub los: LosResultaat,
}

/// A keuzedeel (KZD).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoKzd {
    /// The person.
    pub persoon: PersonId,
    /// The diploma, when part of one.
    pub diploma: Option<DiplomaRef>,
    /// The result.
    pub kzd: Keuzedeel,
    /// Certificaat (loose only).
    pub certificaat: Option<bool>,
    /// Loose-result fields.
    pub los: LosResultaat,
}

/// Record counts per type, as in the SLR trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoCounts {
    /// PER records.
    pub per: u64,
    /// ISG records.
    pub isg: u64,
    /// ISP records.
    pub isp: u64,
    /// ISE records.
    pub ise: u64,
    /// BPV records.
    pub bpv: u64,
    /// DIP records.
    pub dip: u64,
    /// AMO records.
    pub amo: u64,
    /// GEO records.
    pub geo: u64,
    /// KZD records.
    pub kzd: u64,
}

impl RoCounts {
    const NAMES: [&'static str; 9] = [
        "Totaal aantal personen",
        "Totaal aantal deelnames",
        "Totaal aantal deelnameperiodes",
        "Totaal aantal periodes extra ondersteuning",
        "Totaal aantal BPV's",
        "Totaal aantal diploma's",
        "Totaal aantal AMvB-onderdelen",
        "Totaal aantal generieke examenonderdelen",
        "Totaal aantal keuzedelen",
    ];
    const KINDS: [&'static str; 9] = [
        "PER", "ISG", "ISP", "ISE", "BPV", "DIP", "AMO", "GEO", "KZD",
    ];

    fn as_array(&self) -> [u64; 9] {
        [
            self.per, self.isg, self.isp, self.ise, self.bpv, self.dip, self.amo, self.geo,
            self.kzd,
        ]
    }

    fn from_array(a: [u64; 9]) -> Self {
        let [per, isg, isp, ise, bpv, dip, amo, geo, kzd] = a;
        Self {
            per,
            isg,
            isp,
            ise,
            bpv,
            dip,
            amo,
            geo,
            kzd,
        }
    }
}

/// One RO record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record")]
pub enum RoRecord {
    /// Voorlooprecord.
    #[serde(rename = "VLP")]
    Vlp(RoVlp),
    /// Persoon.
    #[serde(rename = "PER")]
    Per(RoPer),
    /// Inschrijving.
    #[serde(rename = "ISG")]
    Isg(RoIsg),
    /// Inschrijvingsperiode.
    #[serde(rename = "ISP")]
    Isp(RoIsp),
    /// Extra ondersteuning.
    #[serde(rename = "ISE")]
    Ise(RoIse),
    /// BPV.
    #[serde(rename = "BPV")]
    Bpv(RoBpv),
    /// Diploma.
    #[serde(rename = "DIP")]
    Dip(RoDip),
    /// AMvB-onderdeel.
    #[serde(rename = "AMO")]
    Amo(RoAmo),
    /// Generiek examenonderdeel.
    #[serde(rename = "GEO")]
    Geo(RoGeo),
    /// Keuzedeel.
    #[serde(rename = "KZD")]
    Kzd(RoKzd),
    /// Sluitrecord with the declared counts.
    #[serde(rename = "SLR")]
    Slr(RoCounts),
}

impl RoRecord {
    /// The record type code.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Vlp(_) => "VLP",
            Self::Per(_) => "PER",
            Self::Isg(_) => "ISG",
            Self::Isp(_) => "ISP",
            Self::Ise(_) => "ISE",
            Self::Bpv(_) => "BPV",
            Self::Dip(_) => "DIP",
            Self::Amo(_) => "AMO",
            Self::Geo(_) => "GEO",
            Self::Kzd(_) => "KZD",
            Self::Slr(_) => "SLR",
        }
    }

    /// The person a record is about (none for VLP and SLR).
    pub fn persoon(&self) -> Option<&PersonId> {
        match self {
            Self::Vlp(_) | Self::Slr(_) => None,
            Self::Per(r) => Some(&r.persoon),
            Self::Isg(r) => Some(&r.persoon),
            Self::Isp(r) => Some(&r.persoon),
            Self::Ise(r) => Some(&r.persoon),
            Self::Bpv(r) => Some(&r.persoon),
            Self::Dip(r) => Some(&r.persoon),
            Self::Amo(r) => Some(&r.persoon),
            Self::Geo(r) => Some(&r.persoon),
            Self::Kzd(r) => Some(&r.persoon),
        }
    }

    /// Writes the record as one RO line (no line terminator), dates as `ccyy-mm-dd`, DIP in
    /// the 10-column layout DUO delivers. The inverse of the reader (for tests and the DUO
    /// simulator).
    pub fn write_line(&self, sep: char) -> String {
        let mut f: Vec<String> = vec![self.kind().to_owned()];
        match self {
            Self::Vlp(r) => {
                f.push(r.brin.to_string());
                f.push(d(r.begin));
                f.push(d(r.eind));
                f.push(d(r.aanmaakdatum));
            }
            Self::Per(r) => {
                push_person(&mut f, &r.persoon);
                f.push(r.geboortedatum.to_string());
                f.push(r.geslacht.code().to_owned());
            }
            Self::Isg(r) => {
                push_person(&mut f, &r.persoon);
                f.push(r.inschrijvingvolgnummer.to_string());
                f.push(d(r.datum_inschrijving));
                f.push(d(r.datum_uitschrijving_gepland));
                f.push(od(r.datum_uitschrijving_werkelijk));
                f.push(os(&r.reden_uitschrijving));
            }
            Self::Isp(r) => {
                push_person(&mut f, &r.persoon);
                let p = &r.periode;
                f.push(r.inschrijvingvolgnummer.to_string());
                f.push(d(p.datum_begin));
                f.push(p.opleidingcode.to_string());
                f.push(p.leertraject.code().to_owned());
                f.push(p.niveau.map(|n| n.code().to_owned()).unwrap_or_default());
                f.push(jn(p.indicatie_bekostigbaar).to_owned());
                f.push(os(&p.locatiecode_vsv));
                f.push(os(&p.onderwijsaanbieder));
                f.push(os(&p.onderwijslocatie));
                f.push(p.leerroute.map(|n| n.code().to_owned()).unwrap_or_default());
                f.push(
                    p.leerroutefase
                        .map(|n| n.code().to_owned())
                        .unwrap_or_default(),
                );
            }
            Self::Ise(r) => {
                push_person(&mut f, &r.persoon);
                f.push(r.inschrijvingvolgnummer.to_string());
                f.push(d(r.periode.datum_begin));
                f.push(od(r.periode.datum_eind));
            }
            Self::Bpv(r) => {
                push_person(&mut f, &r.persoon);
                let b = &r.bpv;
                f.push(b.inschrijvingvolgnummer.to_string());
                f.push(b.bpv_volgnummer.to_string());
                f.push(d(b.afsluitdatum));
                f.push(d(b.datum_begin));
                f.push(d(b.datum_einde_gepland));
                f.push(od(b.datum_einde_werkelijk));
                f.push(b.omvang.to_string());
                f.push(b.leerbedrijf_id.to_string());
                f.push(b.opleidingcode.to_string());
                f.push(os(&b.code_keuzedeel));
            }
            Self::Dip(r) => {
                push_person(&mut f, &r.persoon);
                f.push(r.resultaatvolgnummer.to_string());
                f.push(r.opleidingcode.to_string());
                f.push(d(r.datum_resultaat));
                f.push(String::new());
                f.push(jn(r.indicatie_bekostigbaar).to_owned());
                f.push(os(&r.inschrijvingvolgnummer));
                f.push(os(&r.onderwijsaanbieder));
            }
            Self::Amo(r) => {
                push_person(&mut f, &r.persoon);
                push_dipref(&mut f, &r.diploma);
                f.push(r.resultaatvolgnummer.to_string());
                f.push(r.code.to_string());
                f.push(od(r.los.datum_resultaat));
                f.push(r.certificaat.map(|b| jn(b).to_owned()).unwrap_or_default());
                f.push(os(&r.los.inschrijvingvolgnummer));
                f.push(os(&r.los.onderwijsaanbieder));
            }
            Self::Geo(r) => {
                push_person(&mut f, &r.persoon);
                push_dipref(&mut f, &r.diploma);
                let g = &r.geo;
                f.push(g.resultaatvolgnummer.to_string());
                f.push(g.code.to_string());
                f.push(od(r.los.datum_resultaat));
                f.push(g.eindcijfer.map(|c| c.to_string()).unwrap_or_default());
                f.push(os(&g.vrijstelling));
                f.push(g.cijfer_ie.map(|c| c.to_string()).unwrap_or_default());
                f.push(os(&g.vrijstelling_ie));
                f.push(g.cijfer_ce.map(|c| c.to_string()).unwrap_or_default());
                f.push(os(&g.vrijstelling_ce));
                f.push(os(&r.los.inschrijvingvolgnummer));
                f.push(os(&r.los.onderwijsaanbieder));
            }
            Self::Kzd(r) => {
                push_person(&mut f, &r.persoon);
                push_dipref(&mut f, &r.diploma);
                f.push(r.kzd.resultaatvolgnummer.to_string());
                f.push(r.kzd.code.to_string());
                f.push(od(r.los.datum_resultaat));
                f.push(r.kzd.resultaat.code().to_owned());
                f.push(r.certificaat.map(|b| jn(b).to_owned()).unwrap_or_default());
                f.push(os(&r.los.inschrijvingvolgnummer));
                f.push(os(&r.los.onderwijsaanbieder));
            }
            Self::Slr(c) => {
                for n in c.as_array() {
                    f.push(n.to_string());
                }
            }
        }
        f.join(&sep.to_string())
    }
}

fn d(date: NaiveDate) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, date);
    s
}

fn od(date: Option<NaiveDate>) -> String {
    date.map(d).unwrap_or_default()
}

fn os<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn push_person(f: &mut Vec<String>, p: &PersonId) {
    match p {
        PersonId::Bsn(b) => {
            f.push(b.to_string());
            f.push(String::new());
        }
        PersonId::Onderwijsnummer(o) => {
            f.push(String::new());
            f.push(o.to_string());
        }
    }
}

fn push_dipref(f: &mut Vec<String>, r: &Option<DiplomaRef>) {
    match r {
        Some(r) => {
            f.push(r.resultaatvolgnummer.to_string());
            f.push(r.opleidingcode.to_string());
        }
        None => {
            f.push(String::new());
            f.push(String::new());
        }
    }
}

/// Parses an RO date: `ccyy-mm-dd` (PvE) or `d-m-yyyy` (seen from some institutions).
pub fn parse_ro_date(field: &str, s: &str) -> Result<NaiveDate, MappingError> {
    let bad = || MappingError::invalid(field, "expected a date ccyy-mm-dd or d-m-yyyy");
    let mut parts = s.split('-');
    let (a, b, c) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c), None) => (a, b, c),
        _ => return Err(bad()),
    };
    let num = |p: &str, lens: &[usize]| -> Result<u32, MappingError> {
        if lens.contains(&p.len()) && p.bytes().all(|x| x.is_ascii_digit()) {
            p.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, m, day) = if a.len() == 4 {
        (num(a, &[4])?, num(b, &[2])?, num(c, &[2])?)
    } else {
        (num(c, &[4])?, num(b, &[1, 2])?, num(a, &[1, 2])?)
    };
    NaiveDate::from_ymd_opt(y as i32, m, day)
        .ok_or_else(|| MappingError::invalid(field, "not an existing calendar date"))
}

/// Column names per record type (after the record type), for error paths and the column count.
fn columns(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "VLP" => &["BRIN", "Begindatum", "Einddatum", "Aanmaakdatum"],
        "PER" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Geboortedatum",
            "Geslacht",
        ],
        "ISG" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Inschrijvingvolgnummer",
            "DatumInschrijving",
            "DatumUitschrijvingGepland",
            "DatumUitschrijvingWerkelijk",
            "RedenUitschrijving",
        ],
        "ISP" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Inschrijvingvolgnummer",
            "DatumBegin",
            "Opleidingcode",
            "Leertraject",
            "Niveau",
            "IndicatieBekostigbaar",
            "LocatiecodeVSV",
            "Onderwijsaanbieder",
            "Onderwijslocatie",
            "Leerroute",
            "Leerroutefase",
        ],
        "ISE" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Inschrijvingvolgnummer",
            "DatumBegin",
            "DatumEind",
        ],
        "BPV" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Inschrijvingvolgnummer",
            "BPVVolgnummer",
            "Afsluitdatum",
            "DatumBegin",
            "DatumEindeGepland",
            "DatumEindeWerkelijk",
            "Omvang",
            "LeerbedrijfID",
            "Opleidingcode",
            "CodeKeuzedeel",
        ],
        "DIP" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "Resultaatvolgnummer",
            "Opleidingcode",
            "DatumResultaat",
            "(leeg)",
            "IndicatieBekostigbaar",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "AMO" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "ResultaatvolgnummerDiploma",
            "OpleidingcodeDiploma",
            "Resultaatvolgnummer",
            "CodeAMvBOnderdeel",
            "DatumResultaat",
            "Certificaat",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "GEO" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "ResultaatvolgnummerDiploma",
            "OpleidingcodeDiploma",
            "Resultaatvolgnummer",
            "CodeGeneriekExamenonderdeel",
            "DatumResultaat",
            "Eindcijfer",
            "Vrijstelling",
            "CijferIE",
            "VrijstellingIE",
            "CijferCE",
            "VrijstellingCE",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "KZD" => &[
            "Burgerservicenummer",
            "Onderwijsnummer",
            "ResultaatvolgnummerDiploma",
            "OpleidingcodeDiploma",
            "Resultaatvolgnummer",
            "CodeKeuzedeel",
            "DatumResultaat",
            "Resultaat",
            "Certificaat",
            "Inschrijvingvolgnummer",
            "Onderwijsaanbieder",
        ],
        "SLR" => &RoCounts::NAMES,
        _ => return None,
    })
}

/// The fields of one line with their names, for typed access with errors naming the field.
struct Line<'a> {
    line: u64,
    kind: &'static str,
    names: &'static [&'static str],
    fields: Vec<&'a str>,
}

impl<'a> Line<'a> {
    fn path(&self, i: usize) -> String {
        format!(
            "line {}/{}/{}",
            self.line,
            self.kind,
            self.names.get(i).copied().unwrap_or("?")
        )
    }

    fn opt(&self, i: usize) -> Option<&'a str> {
        self.fields.get(i).copied().filter(|s| !s.is_empty())
    }

    fn req(&self, i: usize) -> Result<&'a str, MappingError> {
        self.opt(i)
            .ok_or_else(|| MappingError::missing(self.path(i)))
    }

    fn with<T>(
        &self,
        i: usize,
        f: impl Fn(&str, &str) -> Result<T, MappingError>,
    ) -> Result<T, MappingError> {
        f(&self.path(i), self.req(i)?)
    }

    fn opt_with<T>(
        &self,
        i: usize,
        f: impl Fn(&str, &str) -> Result<T, MappingError>,
    ) -> Result<Option<T>, MappingError> {
        self.opt(i).map(|v| f(&self.path(i), v)).transpose()
    }

    fn id<T: std::str::FromStr<Err = knooppunt_registry::ids::IdError>>(
        &self,
        i: usize,
    ) -> Result<T, MappingError> {
        self.req(i)?
            .parse()
            .map_err(|e| MappingError::id(self.path(i), e))
    }

    fn opt_id<T: std::str::FromStr<Err = knooppunt_registry::ids::IdError>>(
        &self,
        i: usize,
    ) -> Result<Option<T>, MappingError> {
        self.opt(i)
            .map(|v| v.parse().map_err(|e| MappingError::id(self.path(i), e)))
            .transpose()
    }

    fn date(&self, i: usize) -> Result<NaiveDate, MappingError> {
        self.with(i, parse_ro_date)
    }

    fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, MappingError> {
        self.opt_with(i, parse_ro_date)
    }

    /// Fields 0 and 1: exactly one of BSN and onderwijsnummer.
    fn persoon(&self) -> Result<PersonId, MappingError> {
        match (self.opt(0), self.opt(1)) {
            (Some(_), None) => Ok(PersonId::Bsn(self.id::<Bsn>(0)?)),
            (None, Some(_)) => Ok(PersonId::Onderwijsnummer(self.id::<Onderwijsnummer>(1)?)),
            (Some(_), Some(_)) => Err(MappingError::invalid(
                self.path(1),
                "either Burgerservicenummer or Onderwijsnummer, not both",
            )),
            (None, None) => Err(MappingError::missing(self.path(0))),
        }
    }

    /// Fields 2 and 3: the diploma a result belongs to (both or neither).
    fn dipref(&self) -> Result<Option<DiplomaRef>, MappingError> {
        match (self.opt(2), self.opt(3)) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(MappingError::missing(self.path(3))),
            (None, Some(_)) => Err(MappingError::missing(self.path(2))),
            (Some(_), Some(_)) => Ok(Some(DiplomaRef {
                resultaatvolgnummer: self.with(2, Volgnummer::parse)?,
                opleidingcode: self.id(3)?,
            })),
        }
    }

    fn cijfer(&self, i: usize, digits: usize) -> Result<Option<u32>, MappingError> {
        self.opt_with(i, |f, v| parse_uint(f, v, digits))
    }
}

fn parse_line(line_no: u64, text: &str, sep: char) -> Result<RoRecord, MappingError> {
    let mut it = text.split(sep);
    let kind_raw = it.next().unwrap_or_default();
    let (kind, names) = ["VLP", "PER", "ISG", "ISP", "ISE", "BPV", "DIP", "AMO", "GEO", "KZD", "SLR"]
        .iter()
        .find(|k| **k == kind_raw)
        .and_then(|k| columns(k).map(|c| (*k, c)))
        .ok_or_else(|| {
            MappingError::invalid(
                format!("line {line_no}/Recordsoort"),
                "unknown record type (expected VLP, PER, ISG, ISP, ISE, BPV, DIP, AMO, GEO, KZD or SLR)",
            )
        })?;
    let mut fields: Vec<&str> = it.collect();
    // DIP: DUO delivers 10 columns with an always-empty 6th field; the PvE says 9. Accept both.
    if kind == "DIP" && fields.len() == names.len() - 1 {
        fields.insert(5, "");
    }
    if fields.len() != names.len() {
        return Err(MappingError::invalid(
            format!("line {line_no}/{kind}"),
            format!(
                "wrong column count: expected {} columns, got {}",
                names.len() + 1,
                fields.len() + 1
            ),
        ));
    }
    let l = Line {
        line: line_no,
        kind,
        names,
        fields,
    };
    let los = |l: &Line<'_>,
               datum: usize,
               isg: usize,
               aanbieder: usize|
     -> Result<LosResultaat, MappingError> {
        Ok(LosResultaat {
            datum_resultaat: l.opt_date(datum)?,
            inschrijvingvolgnummer: l.opt_with(isg, Volgnummer::parse)?,
            onderwijsaanbieder: l.opt_id(aanbieder)?,
        })
    };
    Ok(match kind {
        "VLP" => RoRecord::Vlp(RoVlp {
            brin: l.id(0)?,
            begin: l.date(1)?,
            eind: l.date(2)?,
            aanmaakdatum: l.date(3)?,
        }),
        "PER" => RoRecord::Per(RoPer {
            persoon: l.persoon()?,
            geboortedatum: l.with(2, Geboortedatum::parse)?,
            geslacht: l.with(3, Geslacht::parse)?,
        }),
        "ISG" => RoRecord::Isg(RoIsg {
            persoon: l.persoon()?,
            inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
            datum_inschrijving: l.date(3)?,
            datum_uitschrijving_gepland: l.date(4)?,
            datum_uitschrijving_werkelijk: l.opt_date(5)?,
            reden_uitschrijving: l.opt_with(6, RedenUitschrijving::parse)?,
        }),
        "ISP" => RoRecord::Isp(RoIsp {
            persoon: l.persoon()?,
            inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
            periode: Periode {
                datum_begin: l.date(3)?,
                opleidingcode: l.id(4)?,
                leertraject: l.with(5, Leertraject::parse)?,
                niveau: l.opt_with(6, Niveau::parse)?,
                indicatie_bekostigbaar: l.with(7, parse_jn)?,
                locatiecode_vsv: l.opt_with(8, LocatiecodeVsv::parse)?,
                onderwijsaanbieder: l.opt_id(9)?,
                onderwijslocatie: l.opt_id(10)?,
                leerroute: l.opt_with(11, Leerroute::parse)?,
                leerroutefase: l.opt_with(12, Leerroutefase::parse)?,
            },
        }),
        "ISE" => RoRecord::Ise(RoIse {
            persoon: l.persoon()?,
            inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
            periode: ExtraOndersteuning {
                datum_begin: l.date(3)?,
                datum_eind: l.opt_date(4)?,
            },
        }),
        "BPV" => RoRecord::Bpv(RoBpv {
            persoon: l.persoon()?,
            bpv: Bpv {
                inschrijvingvolgnummer: l.with(2, Volgnummer::parse)?,
                bpv_volgnummer: l.with(3, Volgnummer::parse)?,
                afsluitdatum: l.date(4)?,
                datum_begin: l.date(5)?,
                datum_einde_gepland: l.date(6)?,
                datum_einde_werkelijk: l.opt_date(7)?,
                omvang: l.with(8, |f, v| parse_uint(f, v, 9))?,
                leerbedrijf_id: l.id(9)?,
                opleidingcode: l.id(10)?,
                code_keuzedeel: l.opt_id(11)?,
            },
        }),
        "DIP" => {
            if l.opt(5).is_some() {
                return Err(MappingError::invalid(l.path(5), "must be empty"));
            }
            RoRecord::Dip(RoDip {
                persoon: l.persoon()?,
                resultaatvolgnummer: l.with(2, Volgnummer::parse)?,
                opleidingcode: l.id(3)?,
                datum_resultaat: l.date(4)?,
                indicatie_bekostigbaar: l.with(6, parse_jn)?,
                inschrijvingvolgnummer: l.opt_with(7, Volgnummer::parse)?,
                onderwijsaanbieder: l.opt_id(8)?,
            })
        }
        "AMO" => RoRecord::Amo(RoAmo {
            persoon: l.persoon()?,
            diploma: l.dipref()?,
            resultaatvolgnummer: l.with(4, Volgnummer::parse)?,
            code: l.with(5, AmoCode::parse)?,
            certificaat: l.opt_with(7, parse_jn)?,
            los: los(&l, 6, 8, 9)?,
        }),
        "GEO" => {
            let eindcijfer = l.cijfer(7, 2)?;
            if eindcijfer.is_some_and(|c| !(1..=10).contains(&c)) {
                return Err(MappingError::invalid(l.path(7), "must be 1 to 10"));
            }
            RoRecord::Geo(RoGeo {
                persoon: l.persoon()?,
                diploma: l.dipref()?,
                geo: GeneriekExamenonderdeel {
                    resultaatvolgnummer: l.with(4, Volgnummer::parse)?,
                    code: l.with(5, GeoCode::parse)?,
                    eindcijfer: eindcijfer.map(|c| c as u8),
                    vrijstelling: l.opt_with(8, Vrijstelling::parse)?,
                    cijfer_ie: l.cijfer(9, 3)?.map(|c| c as u16),
                    vrijstelling_ie: l.opt_with(10, Vrijstelling::parse)?,
                    cijfer_ce: l.cijfer(11, 3)?.map(|c| c as u16),
                    vrijstelling_ce: l.opt_with(12, Vrijstelling::parse)?,
                },
                los: los(&l, 6, 13, 14)?,
            })
        }
        "KZD" => RoRecord::Kzd(RoKzd {
            persoon: l.persoon()?,
            diploma: l.dipref()?,
            kzd: Keuzedeel {
                resultaatvolgnummer: l.with(4, Volgnummer::parse)?,
                code: l.id(5)?,
                resultaat: l.with(7, KeuzedeelResultaat::parse)?,
            },
            certificaat: l.opt_with(8, parse_jn)?,
            los: los(&l, 6, 9, 10)?,
        }),
        _ => {
            let mut a = [0u64; 9];
            for (i, slot) in a.iter_mut().enumerate() {
                *slot = u64::from(l.with(i, |f, v| parse_uint(f, v, 9))?);
            }
            RoRecord::Slr(RoCounts::from_array(a))
        }
    })
}

/// Streams RO records from a reader, one line at a time. After the first error it yields
/// nothing more. The SLR record is yielded only when its counts match.
#[derive(Debug)]
pub struct RoReader<R> {
    input: R,
    buf: Vec<u8>,
    line: u64,
    offset: usize,
    sep: Option<char>,
    counts: RoCounts,
    done: bool,
    vlp_seen: bool,
    seen_slr: bool,
}

impl<R: BufRead> RoReader<R> {
    /// A reader over `input` (wrap files in a `BufReader`).
    pub fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::with_capacity(256),
            line: 0,
            offset: 0,
            sep: None,
            counts: RoCounts::default(),
            done: false,
            vlp_seen: false,
            seen_slr: false,
        }
    }

    /// Number of the last line read (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Counts of the records read so far.
    pub fn counts(&self) -> RoCounts {
        self.counts
    }

    fn next_record(&mut self) -> Result<Option<RoRecord>, MappingError> {
        loop {
            self.buf.clear();
            let limit = (MAX_LINE_BYTES + 2) as u64;
            let n = std::io::Read::take(&mut self.input, limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| MappingError::Malformed {
                    format: "CSV",
                    position: format!("line {}", self.line + 1),
                    reason: e.kind().to_string(),
                })?;
            if n == 0 {
                if self.seen_slr {
                    return Ok(None);
                }
                return Err(MappingError::missing(format!(
                    "line {}/SLR (the file ends without its sluitrecord)",
                    self.line + 1
                )));
            }
            self.line += 1;
            let start = self.offset;
            self.offset += n;
            let mut bytes = &self.buf[..];
            if let Some(b) = bytes.strip_suffix(b"\n") {
                bytes = b;
            } else if n as u64 == limit {
                return Err(MappingError::invalid(
                    format!("line {}", self.line),
                    format!("longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            if let Some(b) = bytes.strip_suffix(b"\r") {
                bytes = b;
            }
            if bytes.len() > MAX_LINE_BYTES {
                return Err(MappingError::invalid(
                    format!("line {}", self.line),
                    format!("longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            let text = std::str::from_utf8(bytes).map_err(|e| MappingError::InvalidUtf8 {
                offset: start + e.valid_up_to(),
            })?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(text);
            if text.is_empty() {
                continue;
            }
            if self.seen_slr {
                return Err(MappingError::invalid(
                    format!("line {}", self.line),
                    "records after the SLR sluitrecord",
                ));
            }
            let sep = match self.sep {
                Some(s) => s,
                None => {
                    let s = match text.as_bytes().get(3) {
                        Some(b'|') => '|',
                        Some(b';') => ';',
                        _ => {
                            return Err(MappingError::invalid(
                                format!("line {}/Recordsoort", self.line),
                                "the file must start with a VLP record followed by | or ;",
                            ));
                        }
                    };
                    self.sep = Some(s);
                    s
                }
            };
            if !self.vlp_seen && text.split(sep).next() != Some("VLP") {
                return Err(MappingError::invalid(
                    format!("line {}/Recordsoort", self.line),
                    "the file must start with a VLP record",
                ));
            }
            let rec = parse_line(self.line, text, sep)?;
            let first = !self.vlp_seen;
            self.vlp_seen = true;
            match (&rec, first) {
                (RoRecord::Vlp(_), true) => {}
                (_, true) => {
                    return Err(MappingError::invalid(
                        format!("line {}/Recordsoort", self.line),
                        "the file must start with a VLP record",
                    ));
                }
                (RoRecord::Vlp(_), false) => {
                    return Err(MappingError::invalid(
                        format!("line {}/VLP", self.line),
                        "a second VLP record",
                    ));
                }
                _ => {}
            }
            let c = &mut self.counts;
            match &rec {
                RoRecord::Per(_) => c.per += 1,
                RoRecord::Isg(_) => c.isg += 1,
                RoRecord::Isp(_) => c.isp += 1,
                RoRecord::Ise(_) => c.ise += 1,
                RoRecord::Bpv(_) => c.bpv += 1,
                RoRecord::Dip(_) => c.dip += 1,
                RoRecord::Amo(_) => c.amo += 1,
                RoRecord::Geo(_) => c.geo += 1,
                RoRecord::Kzd(_) => c.kzd += 1,
                RoRecord::Vlp(_) => {}
                RoRecord::Slr(declared) => {
                    let counted = self.counts.as_array();
                    for (i, (want, got)) in declared.as_array().iter().zip(counted).enumerate() {
                        if *want != got {
                            return Err(MappingError::invalid(
                                format!("line {}/SLR/{}", self.line, RoCounts::NAMES[i]),
                                format!(
                                    "declares {want} {} records, the file has {got}",
                                    RoCounts::KINDS[i]
                                ),
                            ));
                        }
                    }
                    self.seen_slr = true;
                }
            }
            return Ok(Some(rec));
        }
    }
}

impl<R: BufRead> Iterator for RoReader<R> {
    type Item = Result<RoRecord, MappingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_record();
        crate::error::fuse(&mut self.done, next)
    }
}

/// An inschrijving as the RO delivers it: ISG with its ISP and ISE records, and its BPV's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoInschrijving {
    /// ISG + ISP + ISE.
    pub inschrijving: Inschrijving,
    /// The BPV records of this inschrijving.
    pub bpvs: Vec<Bpv>,
}

/// A diploma with its results, and its AMvB-onderdelen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoDiploma {
    /// DIP + GEO + KZD.
    pub diploma: Diploma,
    /// AMO records of this diploma.
    pub amvb_onderdelen: Vec<RoAmo>,
}

/// A result not part of a diploma.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record")]
pub enum RoLosResultaat {
    /// AMvB-onderdeel (e.g. a certificate).
    #[serde(rename = "AMO")]
    Amo(RoAmo),
    /// Generiek examenonderdeel.
    #[serde(rename = "GEO")]
    Geo(RoGeo),
    /// Keuzedeel.
    #[serde(rename = "KZD")]
    Kzd(RoKzd),
}

/// Everything the RO holds about one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoPersoon {
    /// The PER record.
    pub per: RoPer,
    /// Inschrijvingen in file order.
    pub inschrijvingen: Vec<RoInschrijving>,
    /// Diplomas in file order.
    pub diplomas: Vec<RoDiploma>,
    /// Loose results.
    pub losse_resultaten: Vec<RoLosResultaat>,
}

/// Groups a stream of RO records per person (`PER` and everything after it up to the next
/// `PER` or the `SLR`), checking that every child record belongs to its parent.
#[derive(Debug)]
pub struct RoPersonen<R> {
    reader: RoReader<R>,
    pending: Option<RoPer>,
    done: bool,
}

/// Opens an RO stream: reads the VLP header and returns it with the per-person iterator.
pub fn open<R: BufRead>(input: R) -> Result<(RoVlp, RoPersonen<R>), MappingError> {
    let mut reader = RoReader::new(input);
    match reader.next() {
        Some(Ok(RoRecord::Vlp(v))) => Ok((
            v,
            RoPersonen {
                reader,
                pending: None,
                done: false,
            },
        )),
        Some(Err(e)) => Err(e),
        Some(Ok(_)) | None => Err(MappingError::missing("line 1/VLP")),
    }
}

impl<R: BufRead> RoPersonen<R> {
    /// Counts of the records read so far.
    pub fn counts(&self) -> RoCounts {
        self.reader.counts()
    }

    fn here(&self, kind: &str, field: &str) -> String {
        format!("line {}/{kind}/{field}", self.reader.line())
    }

    fn same_person(&self, per: &RoPer, rec: &RoRecord) -> Result<(), MappingError> {
        if rec.persoon() == Some(&per.persoon) {
            Ok(())
        } else {
            Err(MappingError::invalid(
                self.here(rec.kind(), "Burgerservicenummer"),
                "does not belong to the preceding PER record",
            ))
        }
    }

    fn next_person(&mut self) -> Result<Option<RoPersoon>, MappingError> {
        let per = match self.pending.take() {
            Some(p) => p,
            None => match self.reader.next().transpose()? {
                None => return Ok(None),
                Some(RoRecord::Slr(_)) => {
                    if let Some(trailing) = self.reader.next() {
                        trailing?;
                    }
                    return Ok(None);
                }
                Some(RoRecord::Per(p)) => p,
                Some(other) => {
                    return Err(MappingError::invalid(
                        self.here(other.kind(), "Recordsoort"),
                        "expected a PER record before this one",
                    ));
                }
            },
        };
        let mut p = RoPersoon {
            per,
            inschrijvingen: Vec::new(),
            diplomas: Vec::new(),
            losse_resultaten: Vec::new(),
        };
        while let Some(rec) = self.reader.next().transpose()? {
            if let RoRecord::Slr(_) = rec {
                self.done = true;
                // Nothing may follow the sluitrecord: the reader reports it as an error.
                if let Some(trailing) = self.reader.next() {
                    trailing?;
                }
                break;
            }
            if let RoRecord::Per(next) = rec {
                self.pending = Some(next);
                break;
            }
            self.same_person(&p.per, &rec)?;
            let kind = rec.kind();
            match rec {
                RoRecord::Isg(isg) => {
                    self.close_inschrijving(&p)?;
                    p.inschrijvingen.push(RoInschrijving {
                        inschrijving: Inschrijving {
                            inschrijvingvolgnummer: isg.inschrijvingvolgnummer,
                            datum_inschrijving: isg.datum_inschrijving,
                            datum_uitschrijving_gepland: isg.datum_uitschrijving_gepland,
                            datum_uitschrijving_werkelijk: isg.datum_uitschrijving_werkelijk,
                            reden_uitschrijving: isg.reden_uitschrijving,
                            perioden: Vec::new(),
                            extra_ondersteuning: Vec::new(),
                        },
                        bpvs: Vec::new(),
                    });
                }
                RoRecord::Isp(RoIsp {
                    inschrijvingvolgnummer,
                    periode,
                    ..
                }) => self
                    .current_isg(&mut p, kind, &inschrijvingvolgnummer)?
                    .inschrijving
                    .perioden
                    .push(periode),
                RoRecord::Ise(RoIse {
                    inschrijvingvolgnummer,
                    periode,
                    ..
                }) => self
                    .current_isg(&mut p, kind, &inschrijvingvolgnummer)?
                    .inschrijving
                    .extra_ondersteuning
                    .push(periode),
                RoRecord::Bpv(RoBpv { bpv, .. }) => {
                    let v = bpv.inschrijvingvolgnummer.clone();
                    self.current_isg(&mut p, kind, &v)?.bpvs.push(bpv);
                }
                RoRecord::Dip(dip) => {
                    self.close_inschrijving(&p)?;
                    p.diplomas.push(RoDiploma {
                        diploma: Diploma {
                            resultaatvolgnummer: dip.resultaatvolgnummer,
                            opleidingcode: dip.opleidingcode,
                            datum_resultaat: dip.datum_resultaat,
                            indicatie_bekostigbaar: dip.indicatie_bekostigbaar,
                            inschrijvingvolgnummer: dip.inschrijvingvolgnummer,
                            onderwijsaanbieder: dip.onderwijsaanbieder,
                            generieke_examenonderdelen: Vec::new(),
                            keuzedelen: Vec::new(),
                        },
                        amvb_onderdelen: Vec::new(),
                    });
                }
                RoRecord::Amo(amo) => match amo.diploma.clone() {
                    None => p.losse_resultaten.push(RoLosResultaat::Amo(amo)),
                    Some(r) => self
                        .current_dip(&mut p, kind, &r)?
                        .amvb_onderdelen
                        .push(amo),
                },
                RoRecord::Geo(geo) => match geo.diploma.clone() {
                    None => p.losse_resultaten.push(RoLosResultaat::Geo(geo)),
                    Some(r) => self
                        .current_dip(&mut p, kind, &r)?
                        .diploma
                        .generieke_examenonderdelen
                        .push(geo.geo),
                },
                RoRecord::Kzd(kzd) => match kzd.diploma.clone() {
                    None => p.losse_resultaten.push(RoLosResultaat::Kzd(kzd)),
                    Some(r) => self
                        .current_dip(&mut p, kind, &r)?
                        .diploma
                        .keuzedelen
                        .push(kzd.kzd),
                },
                RoRecord::Vlp(_) | RoRecord::Per(_) | RoRecord::Slr(_) => {}
            }
        }
        self.close_inschrijving(&p)?;
        Ok(Some(p))
    }

    /// An ISG needs at least one ISP before the next record group starts.
    fn close_inschrijving(&self, p: &RoPersoon) -> Result<(), MappingError> {
        match p.inschrijvingen.last() {
            Some(i) if i.inschrijving.perioden.is_empty() => Err(MappingError::missing(format!(
                "line {}/ISP (inschrijving {} has no period)",
                self.reader.line(),
                i.inschrijving.inschrijvingvolgnummer
            ))),
            _ => Ok(()),
        }
    }

    fn current_isg<'p>(
        &self,
        p: &'p mut RoPersoon,
        kind: &str,
        volgnummer: &Volgnummer,
    ) -> Result<&'p mut RoInschrijving, MappingError> {
        let field = self.here(kind, "Inschrijvingvolgnummer");
        match p.inschrijvingen.last_mut() {
            Some(i) if &i.inschrijving.inschrijvingvolgnummer == volgnummer => Ok(i),
            _ => Err(MappingError::invalid(
                field,
                "does not match the preceding ISG record",
            )),
        }
    }

    fn current_dip<'p>(
        &self,
        p: &'p mut RoPersoon,
        kind: &str,
        r: &DiplomaRef,
    ) -> Result<&'p mut RoDiploma, MappingError> {
        let field = self.here(kind, "ResultaatvolgnummerDiploma");
        match p.diplomas.last_mut() {
            Some(d)
                if d.diploma.resultaatvolgnummer == r.resultaatvolgnummer
                    && d.diploma.opleidingcode == r.opleidingcode =>
            {
                Ok(d)
            }
            _ => Err(MappingError::invalid(
                field,
                "does not match the preceding DIP record",
            )),
        }
    }
}

impl<R: BufRead> Iterator for RoPersonen<R> {
    type Item = Result<RoPersoon, MappingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done && self.pending.is_none() {
            return None;
        }
        match self.next_person() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.pending = None;
                Some(Err(e))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bulk import: an institution moving to level `krd`
// ---------------------------------------------------------------------------------------------

use std::collections::BTreeSet;

use knooppunt_registry::domain::{
    BpvDetails, BpvOnderdeel, BpvOndertekenaar, Cijfer, Command as RegCommand, ExamenOnderdeel,
    KeuzedeelUitslag, Ondertekenwijze, OokDetails, Person,
};
use knooppunt_registry::reference;

use super::convert::{
    import_bpv_id, import_ook_id, intensiteit_of, leertraject_from_duo, niveau_from_duo,
    reden_from_duo,
};

/// What the import needs to know besides the file: the niveau of a crebo (the RO's ISP carries
/// it only for dossier-level enrolments; otherwise it comes from the kwalificatiestructuur/RIO).
pub trait ImportContext {
    /// The niveau of a kwalificatie, if known.
    fn niveau(&self, crebo: &Crebo) -> Option<reference::Niveau>;
}

impl<F> ImportContext for F
where
    F: Fn(&Crebo) -> Option<reference::Niveau>,
{
    fn niveau(&self, crebo: &Crebo) -> Option<reference::Niveau> {
        self(crebo)
    }
}

/// The commands that import one person, in the order they must be applied to a fresh dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoImport {
    /// Who (the caller finds or makes the dossier).
    pub persoon: PersonId,
    /// `OpenDossier`, then per inschrijving: `ImportInschrijving`, its BPV's
    /// (`RegisterPraktijkovereenkomst`, `RecordSbbCheck`, `SignPraktijkovereenkomst` on paper,
    /// `EndPraktijkovereenkomst`), its diploma (`RegisterKeuzedeel`,
    /// `RecordKeuzedeelResultaat`, `RecordExamenresultaat`, `AwardDiploma`) or its end
    /// (`TerminateOnderwijsovereenkomst`).
    pub commands: Vec<RegCommand>,
    /// What was not imported, by position (no personal data), with the reason.
    pub overgeslagen: Vec<(String, &'static str)>,
}

/// Builds the import commands for one person of an RO file of institution `vlp.brin`.
pub fn import_commands(
    vlp: &RoVlp,
    p: &RoPersoon,
    ctx: &impl ImportContext,
) -> Result<RoImport, MappingError> {
    let brin = vlp.brin.instelling();
    let mut commands = vec![RegCommand::OpenDossier {
        person: Person {
            id: p.per.persoon.clone(),
        },
    }];
    let mut overgeslagen = Vec::new();
    let mut used_diplomas = vec![false; p.diplomas.len()];
    for (i, ri) in p.inschrijvingen.iter().enumerate() {
        let ins = &ri.inschrijving;
        let at = format!("PER/ISG[{}]", i + 1);
        let Some(last) = ins.perioden.last() else {
            return Err(MappingError::missing(format!("{at}/ISP")));
        };
        if ins
            .perioden
            .iter()
            .any(|q| q.opleidingcode != last.opleidingcode || q.leertraject != last.leertraject)
        {
            overgeslagen.push((
                format!("{at}/ISP"),
                "earlier periods with another opleiding or leertraject (the OOK takes the last)",
            ));
        }
        let niveau = last
            .niveau
            .map(niveau_from_duo)
            .or_else(|| ctx.niveau(&last.opleidingcode))
            .ok_or_else(|| {
                MappingError::invalid(format!("{at}/ISP/Niveau"), "unknown niveau for the crebo")
            })?;
        for (e_i, _) in ins.extra_ondersteuning.iter().enumerate() {
            overgeslagen.push((
                format!("{at}/ISE[{}]", e_i + 1),
                "extra ondersteuning has no registry part",
            ));
        }
        let ook = import_ook_id(&brin, &p.per.persoon, &ins.inschrijvingvolgnummer);
        commands.push(RegCommand::ImportInschrijving {
            ook,
            instelling: brin.clone(),
            details: OokDetails {
                aanmelding: None,
                opleiding: None,
                crebo: last.opleidingcode.clone(),
                niveau,
                leertraject: leertraject_from_duo(last.leertraject),
                intensiteit: intensiteit_of(last.leertraject),
                begin: ins.datum_inschrijving,
                gepland_einde: ins.datum_uitschrijving_gepland,
            },
            inschrijvingsvolgnummer: ins.inschrijvingvolgnummer.to_string(),
            ondertekend_op: ins.datum_inschrijving,
        });
        for b in &ri.bpvs {
            let bpv = import_bpv_id(&ook, &b.bpv_volgnummer);
            commands.push(RegCommand::RegisterPraktijkovereenkomst {
                bpv,
                details: BpvDetails {
                    ook,
                    leerbedrijf: b.leerbedrijf_id.clone(),
                    onderdeel: match &b.code_keuzedeel {
                        Some(k) => BpvOnderdeel::Keuzedeel(k.clone()),
                        None => BpvOnderdeel::Crebo(b.opleidingcode.clone()),
                    },
                    begin: b.datum_begin,
                    gepland_einde: b.datum_einde_gepland,
                    omvang_uren: b.omvang,
                    afsluitdatum: b.afsluitdatum,
                },
            });
            // DUO accepted this BPV, so SBB recognised the leerbedrijf (domain.md §1.1: SBB first).
            commands.push(RegCommand::RecordSbbCheck {
                bpv,
                erkend: true,
                reden: None,
                datum: b.afsluitdatum,
            });
            commands.push(RegCommand::SignPraktijkovereenkomst {
                bpv,
                ondertekenaars: BTreeSet::from([
                    BpvOndertekenaar::Student,
                    BpvOndertekenaar::School,
                    BpvOndertekenaar::Leerbedrijf,
                ]),
                wijze: Ondertekenwijze::Papier,
                datum: b.afsluitdatum,
            });
            if let Some(e) = b.datum_einde_werkelijk {
                commands.push(RegCommand::EndPraktijkovereenkomst { bpv, datum: e });
            }
        }
        let mut awarded = false;
        for (j, rd) in p.diplomas.iter().enumerate() {
            let d = &rd.diploma;
            if d.inschrijvingvolgnummer.as_ref() != Some(&ins.inschrijvingvolgnummer) {
                continue;
            }
            let dat = format!("PER/DIP[{}]", j + 1);
            if let Some(u) = used_diplomas.get_mut(j) {
                *u = true;
            }
            if d.opleidingcode != last.opleidingcode {
                overgeslagen.push((dat, "diploma for another crebo than the enrolment"));
                continue;
            }
            for k in &d.keuzedelen {
                commands.push(RegCommand::RegisterKeuzedeel {
                    ook,
                    code: k.code.clone(),
                    gastinstelling: None,
                });
                commands.push(RegCommand::RecordKeuzedeelResultaat {
                    ook,
                    code: k.code.clone(),
                    uitslag: match k.resultaat {
                        KeuzedeelResultaat::Behaald => KeuzedeelUitslag::Behaald,
                        KeuzedeelResultaat::NietBehaald => KeuzedeelUitslag::NietBehaald,
                    },
                    datum: d.datum_resultaat,
                });
            }
            for (g_i, g) in d.generieke_examenonderdelen.iter().enumerate() {
                let gat = format!("{dat}/GEO[{}]", g_i + 1);
                let Some(vak) = super::convert::geo_vak(g.code.as_str()) else {
                    overgeslagen.push((gat, "GEO code without a registry subject"));
                    continue;
                };
                let cijfer = |c: Option<u16>| -> Result<Option<Cijfer>, ()> {
                    c.map(|t| {
                        u8::try_from(t)
                            .ok()
                            .and_then(|t| Cijfer::from_tenths(t).ok())
                            .ok_or(())
                    })
                    .transpose()
                };
                match (cijfer(g.cijfer_ie), cijfer(g.cijfer_ce)) {
                    (Ok(cijfer_ie), Ok(cijfer_ce)) => {
                        commands.push(RegCommand::RecordExamenresultaat {
                            ook,
                            onderdeel: ExamenOnderdeel::Generiek {
                                vak,
                                cijfer_ie,
                                cijfer_ce,
                            },
                            datum: d.datum_resultaat,
                        })
                    }
                    _ => overgeslagen.push((gat, "grade outside 1.0–10.0")),
                }
            }
            for (a_i, _) in rd.amvb_onderdelen.iter().enumerate() {
                overgeslagen.push((
                    format!("{dat}/AMO[{}]", a_i + 1),
                    "AMvB-onderdelen have no registry part",
                ));
            }
            if !awarded {
                commands.push(RegCommand::AwardDiploma {
                    crebo: d.opleidingcode.clone(),
                    datum: d.datum_resultaat,
                });
                awarded = true;
            }
        }
        if !awarded && let Some(datum) = ins.datum_uitschrijving_werkelijk {
            match &ins.reden_uitschrijving {
                Some(r) => commands.push(RegCommand::TerminateOnderwijsovereenkomst {
                    ook,
                    datum,
                    reden: Some(reden_from_duo(&format!("{at}/RedenUitschrijving"), r)?),
                }),
                None => overgeslagen.push((
                    format!("{at}/RedenUitschrijving"),
                    "uitschrijving without a reden",
                )),
            }
        }
    }
    for (j, used) in used_diplomas.iter().enumerate() {
        if !used {
            overgeslagen.push((
                format!("PER/DIP[{}]", j + 1),
                "diploma without an inschrijving in this file",
            ));
        }
    }
    for (k, l) in p.losse_resultaten.iter().enumerate() {
        let kind = match l {
            RoLosResultaat::Amo(_) => "AMO",
            RoLosResultaat::Geo(_) => "GEO",
            RoLosResultaat::Kzd(_) => "KZD",
        };
        overgeslagen.push((
            format!("PER/los[{}]/{kind}", k + 1),
            "loose results are not imported",
        ));
    }
    Ok(RoImport {
        persoon: p.per.persoon.clone(),
        commands,
        overgeslagen,
    })
}

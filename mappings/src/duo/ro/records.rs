//! The RO's records, one type per record kind, and writing a record back as one line.

use chrono::NaiveDate;
use knooppunt_registry::ids::{Brin, Crebo, OnderwijsaanbiederCode, PersonId};
use serde::{Deserialize, Serialize};

use crate::duo::codes::{
    AmoCode, Geboortedatum, Geslacht, RedenUitschrijving, Volgnummer, jn, push_date,
};
use crate::duo::records::{Bpv, ExtraOndersteuning, GeneriekExamenonderdeel, Keuzedeel, Periode};

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
    pub(super) const NAMES: [&'static str; 9] = [
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
    pub(super) const KINDS: [&'static str; 9] = [
        "PER", "ISG", "ISP", "ISE", "BPV", "DIP", "AMO", "GEO", "KZD",
    ];

    pub(super) fn as_array(&self) -> [u64; 9] {
        [
            self.per, self.isg, self.isp, self.ise, self.bpv, self.dip, self.amo, self.geo,
            self.kzd,
        ]
    }

    pub(super) fn from_array(a: [u64; 9]) -> Self {
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

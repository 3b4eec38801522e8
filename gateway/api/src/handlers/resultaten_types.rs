//! The request and response bodies of the results endpoints under an onderwijsovereenkomst:
//! keuzedelen with their results, examenresultaten and the diploma (memo §5d, §5f).

use chrono::NaiveDate;
use knooppunt_registry::domain::{
    Cijfer, Diploma, Examenresultaat, GeneriekVak, Keuzedeel, KeuzedeelUitslag, OokId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::feed::serde_name;
use crate::problem::Problem;

/// `POST /onderwijsovereenkomsten/{id}/keuzedelen` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "K0067", "gastinstelling": "27DV"}))]
pub struct NewKeuzedeelBody {
    /// Keuzedeel code: `K` and four digits.
    #[schema(pattern = "^[Kk][0-9]{4}$")]
    pub code: String,
    /// BRIN of the guest institution where the student takes it, if not your own.
    #[serde(default)]
    #[schema(nullable = false, pattern = "^[0-9]{2}[A-Za-z]{2}$")]
    pub gastinstelling: Option<String>,
}

/// The outcome of a keuzedeel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UitslagValue {
    /// Behaald.
    Behaald,
    /// Niet behaald.
    NietBehaald,
}

impl From<UitslagValue> for KeuzedeelUitslag {
    fn from(v: UitslagValue) -> Self {
        match v {
            UitslagValue::Behaald => Self::Behaald,
            UitslagValue::NietBehaald => Self::NietBehaald,
        }
    }
}

/// `POST /onderwijsovereenkomsten/{id}/keuzedelen/{code}/resultaat` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"uitslag": "behaald", "datum": "2026-11-20"}))]
pub struct KeuzedeelResultaatBody {
    /// `behaald` or `niet_behaald`.
    pub uitslag: UitslagValue,
    /// Date of the result (from the datum inschrijving up to today).
    pub datum: NaiveDate,
}

/// What kind of exam result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SoortValue {
    /// A generic exam (Nederlands, rekenen, Engels) with an IE and/or CE grade.
    Generiek,
    /// An institutional exam part (beroepsgericht) with one grade.
    Instelling,
}

/// A generic exam subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VakValue {
    /// Nederlands.
    Nederlands,
    /// Rekenen.
    Rekenen,
    /// Engels (niveau 4 only).
    Engels,
}

impl From<VakValue> for GeneriekVak {
    fn from(v: VakValue) -> Self {
        match v {
            VakValue::Nederlands => Self::Nederlands,
            VakValue::Rekenen => Self::Rekenen,
            VakValue::Engels => Self::Engels,
        }
    }
}

/// `POST /onderwijsovereenkomsten/{id}/examenresultaten` body: a generic exam (`vak` and
/// `cijfer_ie` and/or `cijfer_ce`) or an institutional exam part (`onderdeel` and `cijfer`).
/// Grades are 1.0–10.0 with at most one decimal. A result for the same exam (the same `vak`,
/// or the same `onderdeel`) replaces the earlier one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"soort": "generiek", "vak": "nederlands", "cijfer_ie": 7.5, "cijfer_ce": 6.8, "datum": "2026-11-20"}))]
pub struct ExamenresultaatBody {
    /// `generiek` or `instelling`.
    pub soort: SoortValue,
    /// For `generiek`: the subject.
    #[serde(default)]
    #[schema(nullable = false)]
    pub vak: Option<VakValue>,
    /// For `generiek`: the instellingsexamen grade.
    #[serde(default)]
    #[schema(nullable = false, minimum = 1.0, maximum = 10.0)]
    pub cijfer_ie: Option<f64>,
    /// For `generiek`: the centraal examen grade.
    #[serde(default)]
    #[schema(nullable = false, minimum = 1.0, maximum = 10.0)]
    pub cijfer_ce: Option<f64>,
    /// For `instelling`: your code of the exam part (1–20 characters).
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 20)]
    pub onderdeel: Option<String>,
    /// For `instelling`: the grade.
    #[serde(default)]
    #[schema(nullable = false, minimum = 1.0, maximum = 10.0)]
    pub cijfer: Option<f64>,
    /// Date of the exam (from the datum inschrijving up to today).
    pub datum: NaiveDate,
}

/// A grade from the API's 1.0–10.0 (one decimal at most), naming `field` when it is not one.
pub(super) fn cijfer(field: &str, v: f64) -> Result<Cijfer, Problem> {
    let bad = || Problem::invalid_field(field, "expected 1.0 to 10.0 with at most one decimal");
    let tenths = (v * 10.0).round();
    if !v.is_finite() || (v * 10.0 - tenths).abs() > 1e-6 || !(10.0..=100.0).contains(&tenths) {
        return Err(bad());
    }
    // In 10..=100, so the cast is exact.
    Cijfer::from_tenths(tenths as u8).map_err(|_| bad())
}

fn grade(c: Cijfer) -> f64 {
    f64::from(c.tenths()) / 10.0
}

/// `POST /onderwijsovereenkomsten/{id}/diploma` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"datum": "2026-11-27"}))]
pub struct DiplomaBody {
    /// Datum kwalificatie behaald (from the datum inschrijving up to today); the
    /// onderwijsovereenkomst ends on it with reden uitschrijving `01` (geslaagd).
    pub datum: NaiveDate,
}

/// A keuzedeel result as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeuzedeelResultaatView {
    /// `behaald` or `niet_behaald`.
    pub uitslag: String,
    /// Date of the result.
    pub datum: NaiveDate,
    /// BRIN of the institution that recorded it (yours or the guest institution).
    pub vastgelegd_door: String,
}

/// A keuzedeel within the onderwijsovereenkomst.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeuzedeelView {
    /// Keuzedeel code.
    pub code: String,
    /// BRIN of the guest institution where it is taken, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gastinstelling: Option<String>,
    /// The result, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resultaat: Option<KeuzedeelResultaatView>,
}

impl From<&Keuzedeel> for KeuzedeelView {
    fn from(k: &Keuzedeel) -> Self {
        Self {
            code: k.code.as_str().to_owned(),
            gastinstelling: k.gastinstelling.as_ref().map(|g| g.as_str().to_owned()),
            resultaat: k.resultaat.as_ref().map(|r| KeuzedeelResultaatView {
                uitslag: serde_name(&r.uitslag),
                datum: r.datum,
                vastgelegd_door: r.vastgelegd_door.as_str().to_owned(),
            }),
        }
    }
}

/// An exam result within the onderwijsovereenkomst.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExamenresultaatView {
    /// `generiek` or `instelling`.
    pub soort: String,
    /// For `generiek`: the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vak: Option<String>,
    /// For `generiek`: the IE grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cijfer_ie: Option<f64>,
    /// For `generiek`: the CE grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cijfer_ce: Option<f64>,
    /// For `instelling`: your code of the exam part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onderdeel: Option<String>,
    /// For `instelling`: the grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cijfer: Option<f64>,
    /// Date of the exam.
    pub datum: NaiveDate,
}

impl From<&Examenresultaat> for ExamenresultaatView {
    fn from(r: &Examenresultaat) -> Self {
        match r {
            Examenresultaat::Generiek {
                vak,
                cijfer_ie,
                cijfer_ce,
                datum,
                ..
            } => Self {
                soort: "generiek".to_owned(),
                vak: Some(serde_name(vak)),
                cijfer_ie: cijfer_ie.map(grade),
                cijfer_ce: cijfer_ce.map(grade),
                onderdeel: None,
                cijfer: None,
                datum: *datum,
            },
            Examenresultaat::Instelling {
                onderdeel,
                cijfer,
                datum,
                ..
            } => Self {
                soort: "instelling".to_owned(),
                vak: None,
                cijfer_ie: None,
                cijfer_ce: None,
                onderdeel: Some(onderdeel.clone()),
                cijfer: Some(grade(*cijfer)),
                datum: *datum,
            },
        }
    }
}

/// The diploma that concluded the onderwijsovereenkomst.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiplomaView {
    /// Crebo.
    pub crebo: String,
    /// Datum kwalificatie behaald.
    pub datum: NaiveDate,
}

/// The results of one onderwijsovereenkomst in a dossier, each part only when `allowed`
/// (keuzedelen, examenresultaten, diplomas).
pub(super) fn results_of(
    d: &knooppunt_registry::domain::Dossier,
    ook: OokId,
    allowed: [bool; 3],
) -> (
    Vec<KeuzedeelView>,
    Vec<ExamenresultaatView>,
    Option<DiplomaView>,
) {
    let keuzedelen = if allowed[0] {
        d.keuzedelen
            .iter()
            .filter(|k| k.ook == ook)
            .map(KeuzedeelView::from)
            .collect()
    } else {
        Vec::new()
    };
    let examens = if allowed[1] {
        d.examenresultaten
            .iter()
            .filter(|r| r.ook() == ook)
            .map(ExamenresultaatView::from)
            .collect()
    } else {
        Vec::new()
    };
    let diploma = if allowed[2] {
        d.diplomas
            .iter()
            .find(|x: &&Diploma| x.ook == ook)
            .map(|x| DiplomaView {
                crebo: x.crebo.as_str().to_owned(),
                datum: x.datum,
            })
    } else {
        None
    };
    (keuzedelen, examens, diploma)
}

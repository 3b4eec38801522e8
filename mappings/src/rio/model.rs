//! The format-neutral RIO reference model both the SOAP and the LOD readers produce.

use chrono::NaiveDate;
use knooppunt_registry::ids::{
    Brin, Crebo, OnderwijsaanbiederCode, OnderwijsbestuurCode, OnderwijslocatieCode,
    OpleidingseenheidCode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An onderwijsaanbieder (RIO organisatorische eenheid of type ONDERWIJSAANBIEDER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onderwijsaanbieder {
    /// RIO code `nnnAnnn`.
    pub code: OnderwijsaanbiederCode,
    /// Name in the current (latest) period.
    pub naam: Option<String>,
    /// In bedrijf since.
    pub in_bedrijf: NaiveDate,
    /// Out of bedrijf from, if ended.
    pub uit_bedrijf: Option<NaiveDate>,
    /// The erkenningen (BRIN) this aanbieder belongs to (juridische relaties), where they are BRINs.
    pub brins: Vec<Brin>,
    /// The bevoegd gezag (first bijbehorend onderwijsbestuur still current), when given.
    pub bevoegd_gezag: Option<OnderwijsbestuurCode>,
}

/// An onderwijslocatie (an address where education is given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onderwijslocatie {
    /// RIO code `nnnXnnn`.
    pub code: OnderwijslocatieCode,
    /// Postcode as RIO gives it (`1234AB`).
    pub postcode: Option<String>,
    /// House number.
    pub huisnummer: Option<u32>,
    /// House number suffix.
    pub toevoeging: Option<String>,
    /// Place name.
    pub plaatsnaam: Option<String>,
}

/// An aangeboden opleiding with its cohorts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AangebodenOpleiding {
    /// RIO aangebodenOpleidingCode (UUID).
    pub code: Uuid,
    /// The aanbieder; absent in LOD JSON (there it is a link).
    pub aanbieder: Option<OnderwijsaanbiederCode>,
    /// The opleidingseenheid offered; absent in LOD JSON.
    pub opleidingseenheid: Option<OpleidingseenheidCode>,
    /// The location, when tied to one.
    pub locatie: Option<OnderwijslocatieCode>,
    /// The crebo, from the opleidingserkenning sleutel (SOAP) when present.
    pub crebo: Option<Crebo>,
    /// Start of the offer.
    pub begindatum: NaiveDate,
    /// End of the offer.
    pub einddatum: Option<NaiveDate>,
    /// First intake date.
    pub eerste_instroom: Option<NaiveDate>,
    /// Own name (latest period).
    pub naam: Option<String>,
    /// Leertraject (`BOL`, `BBL`, …) for mbo.
    pub leertraject: Option<String>,
    /// Niveau (`MBO-1` … `MBO-4`, or RIO's code) for mbo.
    pub niveau: Option<String>,
    /// Whether extra admission requirements apply (`toelatingseisen` JA/NEE).
    pub toelatingseisen: Option<bool>,
    /// Who may apply (`toegankelijkheid`: `ALL` or `SPEC`).
    pub toegankelijkheid: Option<String>,
    /// Cohorts (instroommomenten with an aanmeldperiode).
    pub cohorts: Vec<Cohort>,
}

/// Status of a cohort: RIO `O` (ontwerp) or `G` (gepubliceerd/geldig).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CohortStatus {
    /// `O`: in preparation; not open for aanmelding.
    Ontwerp,
    /// `G`: published.
    Gepubliceerd,
}

impl CohortStatus {
    /// Parses RIO's code.
    pub fn from_code(field: &str, s: &str) -> Result<Self, crate::MappingError> {
        match s.trim() {
            "O" => Ok(Self::Ontwerp),
            "G" => Ok(Self::Gepubliceerd),
            _ => Err(crate::MappingError::invalid(field, "expected O or G")),
        }
    }

    /// RIO's code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ontwerp => "O",
            Self::Gepubliceerd => "G",
        }
    }
}

/// When students start in a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "soort", rename_all = "snake_case")]
pub enum Instroom {
    /// A fixed start date.
    Vast {
        /// The start date.
        moment: NaiveDate,
    },
    /// Flexible intake within a period.
    Flexibel {
        /// Start of the intake period.
        begin: NaiveDate,
        /// End, if bounded.
        eind: Option<NaiveDate>,
    },
}

/// One cohort of an aangeboden opleiding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cohort {
    /// Cohort code (≤ 60).
    pub code: String,
    /// Status.
    pub status: CohortStatus,
    /// Aanmeldperiode start.
    pub begin_aanmeldperiode: NaiveDate,
    /// Aanmeldperiode end.
    pub einde_aanmeldperiode: Option<NaiveDate>,
    /// Intake.
    pub instroom: Instroom,
    /// Whether the institution must consent before one can apply.
    pub toestemming_vereist: bool,
    /// Number of places, when limited.
    pub deelnemersplaatsen: Option<u32>,
}

//! Aanmeldingen, their VA status and the institution's external reference.

use super::*;

/// The VA statuses of an aanmelding (domain.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AanmeldStatus {
    /// "Aanmelding ontvangen": received, verified, enriched (non-statutory).
    Ontvangen,
    /// "Aangemeld".
    Aangemeld,
    /// "Aan de betrokkene is een onderwijsovereenkomst aangeboden".
    OokAangeboden,
    /// "De aanmelding leidt niet tot een inschrijving".
    LeidtNietTotInschrijving,
    /// "De aanmelding is ingetrokken".
    Ingetrokken,
    /// "De betrokkene is ingeschreven".
    Ingeschreven,
}

impl AanmeldStatus {
    /// Every status.
    pub const ALL: [AanmeldStatus; 6] = [
        Self::Ontvangen,
        Self::Aangemeld,
        Self::OokAangeboden,
        Self::LeidtNietTotInschrijving,
        Self::Ingetrokken,
        Self::Ingeschreven,
    ];

    /// The state machine: `ontvangen → aangemeld → ook_aangeboden → ingeschreven`, and from
    /// any of the first three to `leidt_niet_tot_inschrijving` or `ingetrokken`. The last three
    /// are final.
    pub fn can_become(self, to: AanmeldStatus) -> bool {
        use AanmeldStatus::*;
        matches!(
            (self, to),
            (Ontvangen, Aangemeld)
                | (Aangemeld, OokAangeboden)
                | (OokAangeboden, Ingeschreven)
                | (
                    Ontvangen | Aangemeld | OokAangeboden,
                    LeidtNietTotInschrijving | Ingetrokken
                )
        )
    }

    /// Whether no transition leaves this status.
    pub fn is_final(self) -> bool {
        Self::ALL.iter().all(|to| !self.can_become(*to))
    }
}

/// CAMBO ketenId: BRIN (4 or 6) + `:` + 8 digits, e.g. `99XX:90001119`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KetenId(String);

impl KetenId {
    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KetenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KetenId({})", self.0)
    }
}

impl fmt::Display for KetenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KetenId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        const F: &str = "ketenId";
        let s = s.trim();
        let Some((brin, nummer)) = s.split_once(':') else {
            return Err(ValueError::new(F, "expected BRIN:nnnnnnnn"));
        };
        let brin: Brin = brin
            .parse()
            .map_err(|_| ValueError::new(F, "the part before ':' is not a BRIN"))?;
        if nummer.len() != 8 || !nummer.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError::new(F, "expected 8 digits after ':'"));
        }
        Ok(Self(format!("{brin}:{nummer}")))
    }
}

impl Serialize for KetenId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KetenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Reference of an aanmelding in CAMBO (central aanmelding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExterneReferentie {
    /// CAMBO ketenId.
    pub keten_id: KetenId,
    /// CAMBO's change counter, increasing.
    pub wijzigingsvolgnummer: u64,
}

/// An aanmelding for an aangeboden opleiding of an institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aanmelding {
    /// Id.
    pub id: AanmeldingId,
    /// The institution applied to.
    pub instelling: Brin,
    /// RIO id of the aangeboden opleiding.
    pub opleiding: Uuid,
    /// Crebo of that opleiding (copied from reference data).
    pub crebo: Crebo,
    /// Cohort code.
    pub cohort: String,
    /// When it was submitted.
    pub ingediend_op: DateTime<Utc>,
    /// Submitted on or before 1 April of the cohort's start year (not for entree).
    pub toelatingsrecht: bool,
    /// Current VA status.
    pub status: AanmeldStatus,
    /// The sending (va)vo school, when there is one.
    #[serde(default)]
    pub toeleverende_school: Option<Brin>,
    /// CAMBO reference, when it came through central aanmelding.
    #[serde(default)]
    pub externe_referentie: Option<ExterneReferentie>,
}

//! The praktijkovereenkomst (BPV): details, SBB check, signatures, status.

use super::*;

/// What a BPV is for: the kwalificatie (crebo) or a keuzedeel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpvOnderdeel {
    /// The kwalificatie.
    Crebo(Crebo),
    /// A keuzedeel.
    Keuzedeel(KeuzedeelCode),
}

/// SBB's answer on the recognition of the leerbedrijf for the crebo on the start date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SbbCheck {
    /// Asked, no answer yet.
    Pending,
    /// Recognised.
    Erkend {
        /// Date of SBB's answer.
        datum: NaiveDate,
    },
    /// Not recognised.
    NietErkend {
        /// SBB's reason (a code or short text, no personal data).
        reason: String,
    },
    /// Recognition withdrawn later by SBB.
    Ingetrokken {
        /// Date of withdrawal.
        datum: NaiveDate,
    },
}

/// Who signs a praktijkovereenkomst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpvOndertekenaar {
    /// The student.
    Student,
    /// The school.
    School,
    /// The leerbedrijf.
    Leerbedrijf,
}

/// Signatures on a praktijkovereenkomst.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpvHandtekeningen {
    /// The student's.
    #[serde(default)]
    pub student: Option<Handtekening>,
    /// The school's.
    #[serde(default)]
    pub school: Option<Handtekening>,
    /// The leerbedrijf's.
    #[serde(default)]
    pub leerbedrijf: Option<Handtekening>,
}

impl BpvHandtekeningen {
    /// The signature of `who`.
    pub fn get(&self, who: BpvOndertekenaar) -> Option<&Handtekening> {
        match who {
            BpvOndertekenaar::Student => self.student.as_ref(),
            BpvOndertekenaar::School => self.school.as_ref(),
            BpvOndertekenaar::Leerbedrijf => self.leerbedrijf.as_ref(),
        }
    }

    /// Sets the signature of `who`.
    pub fn set(&mut self, who: BpvOndertekenaar, h: Handtekening) {
        match who {
            BpvOndertekenaar::Student => self.student = Some(h),
            BpvOndertekenaar::School => self.school = Some(h),
            BpvOndertekenaar::Leerbedrijf => self.leerbedrijf = Some(h),
        }
    }

    /// Whether all three have signed.
    pub fn complete(&self) -> bool {
        self.student.is_some() && self.school.is_some() && self.leerbedrijf.is_some()
    }
}

/// Status of a praktijkovereenkomst: `geregistreerd → ondertekend → beëindigd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpvStatus {
    /// Registered, awaiting SBB and signatures.
    Geregistreerd,
    /// Signed by student, school and leerbedrijf (requires an `erkend` SBB check).
    Ondertekend,
    /// Ended.
    Beeindigd,
}

/// The dates and size of a BPV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpvDetails {
    /// The OOK (enrolment) it belongs to.
    pub ook: OokId,
    /// SBB leerbedrijf-ID.
    pub leerbedrijf: LeerbedrijfId,
    /// Crebo or keuzedeel.
    pub onderdeel: BpvOnderdeel,
    /// Datum begin.
    pub begin: NaiveDate,
    /// Datum einde gepland.
    pub gepland_einde: NaiveDate,
    /// Omvang in hours.
    pub omvang_uren: u32,
    /// Afsluitdatum: the date the agreement was drawn up.
    pub afsluitdatum: NaiveDate,
}

/// A praktijkovereenkomst (BPVO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Praktijkovereenkomst {
    /// Id.
    pub id: BpvId,
    /// The institution (of the OOK).
    pub instelling: Brin,
    /// Dates and size.
    pub details: BpvDetails,
    /// SBB check state.
    pub sbb: SbbCheck,
    /// Signatures.
    #[serde(default)]
    pub handtekeningen: BpvHandtekeningen,
    /// Status.
    pub status: BpvStatus,
    /// Datum einde werkelijk.
    #[serde(default)]
    pub werkelijk_einde: Option<NaiveDate>,
}

impl Praktijkovereenkomst {
    /// The last day: the actual end, else the planned one.
    pub fn einde(&self) -> NaiveDate {
        self.werkelijk_einde.unwrap_or(self.details.gepland_einde)
    }
}

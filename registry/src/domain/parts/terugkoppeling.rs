//! DUO feedback, bekostiging and signing transactions.

use super::*;

/// One parameter of a DUO signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignaalParameter {
    /// Parameternaam.
    pub naam: String,
    /// Parameterwaarde.
    pub waarde: String,
}

/// A DUO signal: an opaque code with its description and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signaal {
    /// Signaalcode.
    pub code: String,
    /// Signaalomschrijving.
    pub omschrijving: String,
    /// Parameters.
    #[serde(default)]
    pub parameters: Vec<SignaalParameter>,
}

/// DUO's answer to one delivered mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "uitkomst", rename_all = "snake_case")]
pub enum DuoUitkomst {
    /// Accepted.
    Geaccepteerd,
    /// Accepted, with signals.
    GeaccepteerdMetSignalen {
        /// Signals.
        signalen: Vec<Signaal>,
    },
    /// Rejected (afkeuring).
    Afgekeurd {
        /// Signals.
        signalen: Vec<Signaal>,
    },
}

/// DUO feedback on one delivered mutation (keyed by the delivered event's id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuoTerugkoppeling {
    /// Id of the event that was delivered.
    pub mutatie: Uuid,
    /// The institution.
    pub instelling: Brin,
    /// The outcome.
    pub uitkomst: DuoUitkomst,
    /// When received.
    pub ontvangen_op: DateTime<Utc>,
}

/// StatusBepalingBekostigingsstatus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BekostigingsStatus {
    /// Voorlopig (V).
    Voorlopig,
    /// Definitief (D): final, does not go back.
    Definitief,
}

/// Bekostigingsstatus of an inschrijving (OOK) for a teldatum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bekostiging {
    /// The enrolment.
    pub ook: OokId,
    /// The institution.
    pub instelling: Brin,
    /// Teldatum (1 October or 1 February).
    pub teldatum: NaiveDate,
    /// Voorlopig or definitief.
    pub status: BekostigingsStatus,
    /// Whether DUO funds it.
    pub bekostigbaar: bool,
}

/// What a signing transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "soort", content = "id", rename_all = "snake_case")]
pub enum SigningSubject {
    /// An onderwijsovereenkomst.
    Ook(OokId),
    /// A praktijkovereenkomst.
    Bpv(BpvId),
}

/// The signing provider's transaction status (Signhost codes 5..70).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum SigningStatus {
    /// 5: waiting for document.
    WaitingForDocument,
    /// 10: waiting for signer.
    WaitingForSigner,
    /// 20: in progress.
    InProgress,
    /// 30: signed.
    Signed,
    /// 40: rejected.
    Rejected,
    /// 50: expired.
    Expired,
    /// 60: cancelled.
    Cancelled,
    /// 70: failed.
    Failed,
}

impl SigningStatus {
    /// The provider's code.
    pub fn code(self) -> u16 {
        match self {
            Self::WaitingForDocument => 5,
            Self::WaitingForSigner => 10,
            Self::InProgress => 20,
            Self::Signed => 30,
            Self::Rejected => 40,
            Self::Expired => 50,
            Self::Cancelled => 60,
            Self::Failed => 70,
        }
    }

    /// Whether nothing follows (30 and up).
    pub fn is_final(self) -> bool {
        self.code() >= 30
    }
}

impl TryFrom<u16> for SigningStatus {
    type Error = ValueError;
    fn try_from(code: u16) -> Result<Self, ValueError> {
        Ok(match code {
            5 => Self::WaitingForDocument,
            10 => Self::WaitingForSigner,
            20 => Self::InProgress,
            30 => Self::Signed,
            40 => Self::Rejected,
            50 => Self::Expired,
            60 => Self::Cancelled,
            70 => Self::Failed,
            _ => {
                return Err(ValueError::new(
                    "signing status",
                    "expected one of 5, 10, 20, 30, 40, 50, 60, 70",
                ));
            }
        })
    }
}

impl From<SigningStatus> for u16 {
    fn from(s: SigningStatus) -> u16 {
        s.code()
    }
}

/// A signing transaction at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningTransaction {
    /// Provider transaction id.
    pub transactie: String,
    /// What is being signed.
    pub subject: SigningSubject,
    /// The institution.
    pub instelling: Brin,
    /// Latest status.
    pub status: SigningStatus,
    /// When last updated.
    pub bijgewerkt_op: DateTime<Utc>,
}

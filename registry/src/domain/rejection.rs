//! Why a command was refused. Each variant names what is wrong in terms a caller can act on;
//! none carries personal data (ids, codes and dates of the institution's own records only).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::parts::{AanmeldingId, BpvId, OokId, ValueError};
use crate::ids::{Brin, Crebo, KeuzedeelCode};
use crate::policy::{Access, DenyReason, Part};
use crate::reference::Participation;

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "rejection", rename_all = "snake_case")]
pub enum Rejection {
    /// The dossier is already open.
    #[error("the dossier is already open")]
    DossierAlreadyOpen,
    /// The dossier does not exist (yet).
    #[error("the dossier does not exist")]
    DossierNotFound,
    /// The actor may not make this change (access policy).
    #[error("not permitted to {access} {part}: {reason}")]
    NotPermitted {
        /// The part.
        part: Part,
        /// Read or change.
        access: Access,
        /// Why not.
        reason: DenyReason,
    },
    /// A field of the command is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The institution is not in the reference data (as an mbo institution).
    #[error("unknown institution {brin}")]
    UnknownInstitution {
        /// BRIN.
        brin: Brin,
    },
    /// The sending school is not in the reference data.
    #[error("unknown sending school {brin}")]
    UnknownSchool {
        /// BRIN.
        brin: Brin,
    },
    /// The aangeboden opleiding is not in the reference data (or not of that institution).
    #[error("unknown aangeboden opleiding {opleiding} at {instelling}")]
    UnknownAangebodenOpleiding {
        /// RIO id.
        opleiding: Uuid,
        /// The institution named in the command.
        instelling: Brin,
    },
    /// The cohort does not exist for the opleiding.
    #[error("unknown cohort {cohort}")]
    UnknownCohort {
        /// Cohort code.
        cohort: String,
    },
    /// The aanmeldperiode of the cohort does not include the command's date.
    #[error("the aanmeldperiode ({begin} – {einde}) does not include {datum}")]
    AanmeldperiodeGesloten {
        /// Begin.
        begin: NaiveDate,
        /// End.
        einde: NaiveDate,
        /// The command's date.
        datum: NaiveDate,
    },
    /// The institution's participation level does not allow this yet.
    #[error("institution {instelling} takes part at level {level}; this needs {required}")]
    ParticipationTooLow {
        /// The institution.
        instelling: Brin,
        /// Its level.
        level: Participation,
        /// The level needed.
        required: Participation,
    },
    /// An aanmelding with this id exists already.
    #[error("aanmelding {aanmelding} exists already")]
    AanmeldingExists {
        /// Id.
        aanmelding: AanmeldingId,
    },
    /// There is an open aanmelding for the same opleiding and cohort.
    #[error("there is an open aanmelding {aanmelding} for this opleiding and cohort")]
    DuplicateAanmelding {
        /// The existing one.
        aanmelding: AanmeldingId,
    },
    /// No aanmelding with this id.
    #[error("unknown aanmelding {aanmelding}")]
    UnknownAanmelding {
        /// Id.
        aanmelding: AanmeldingId,
    },
    /// A state machine does not allow this step.
    #[error("{part} cannot go from {from} to {to}")]
    InvalidTransition {
        /// The part.
        part: Part,
        /// Current state.
        from: String,
        /// Asked state.
        to: String,
    },
    /// `ingeschreven` needs a signed OOK at the institution.
    #[error("no signed onderwijsovereenkomst at {instelling}")]
    NoSignedOokAtInstitution {
        /// The institution.
        instelling: Brin,
    },
    /// A diploma needs a signed, running OOK for its crebo.
    #[error("no signed, running onderwijsovereenkomst for crebo {crebo}")]
    NoSignedOok {
        /// Crebo.
        crebo: Crebo,
    },
    /// Only one active OOK per crebo.
    #[error("an active onderwijsovereenkomst for crebo {crebo} exists ({ook})")]
    ActiveOokExists {
        /// Crebo.
        crebo: Crebo,
        /// The existing one.
        ook: OokId,
    },
    /// An OOK with this id exists already (in a state that does not allow this).
    #[error("onderwijsovereenkomst {ook} exists already")]
    OokExists {
        /// Id.
        ook: OokId,
    },
    /// No OOK with this id.
    #[error("unknown onderwijsovereenkomst {ook}")]
    UnknownOok {
        /// Id.
        ook: OokId,
    },
    /// The institution has no aanmelding of this student (needed for consent or an offer).
    #[error("the student has no aanmelding at {instelling}")]
    NoAanmeldingAtInstitution {
        /// The institution.
        instelling: Brin,
    },
    /// No consent covering this part.
    #[error("no consent covering {part}")]
    NoConsent {
        /// The part.
        part: Part,
    },
    /// The student may be under 18 on the signing date: a parent must sign too.
    #[error("the student may be under 18 on the signing date: a parent must sign too")]
    ParentSignatureRequired,
    /// Paper signing must include every required signer.
    #[error("signature of {ondertekenaar} missing")]
    SignatureMissing {
        /// Who.
        ondertekenaar: String,
    },
    /// This party signed already.
    #[error("{ondertekenaar} signed already")]
    AlreadySigned {
        /// Who.
        ondertekenaar: String,
    },
    /// The actor may not sign for this party.
    #[error("the actor may not sign for {ondertekenaar}")]
    SignerNotAllowed {
        /// Who.
        ondertekenaar: String,
    },
    /// Dates do not fit together.
    #[error("invalid date {field}: {reason}")]
    InvalidDates {
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A BPV's dates must lie within its enrolment.
    #[error("praktijkovereenkomst {bpv} would lie outside its enrolment ({begin} – {einde})")]
    BpvOutsideEnrolment {
        /// The BPV.
        bpv: BpvId,
        /// Enrolment begin.
        begin: NaiveDate,
        /// Enrolment end.
        einde: NaiveDate,
    },
    /// A BPV with this id exists already.
    #[error("praktijkovereenkomst {bpv} exists already")]
    BpvExists {
        /// Id.
        bpv: BpvId,
    },
    /// No BPV with this id.
    #[error("unknown praktijkovereenkomst {bpv}")]
    UnknownBpv {
        /// Id.
        bpv: BpvId,
    },
    /// The BPV's onderdeel does not belong to the enrolment.
    #[error("the onderdeel of the praktijkovereenkomst does not belong to the enrolment")]
    BpvOnderdeelMismatch,
    /// Signing needs SBB's `erkend`.
    #[error("the leerbedrijf is not (or no longer) recognised for praktijkovereenkomst {bpv}")]
    LeerbedrijfNotErkend {
        /// The BPV.
        bpv: BpvId,
    },
    /// No running BPV at this leerbedrijf.
    #[error("no running praktijkovereenkomst at this leerbedrijf")]
    NoBpvAtLeerbedrijf,
    /// No keuzedeel with this code in the enrolment.
    #[error("keuzedeel {code} is not registered in the enrolment")]
    UnknownKeuzedeel {
        /// Code.
        code: KeuzedeelCode,
    },
    /// The keuzedeel is registered already.
    #[error("keuzedeel {code} is registered already")]
    KeuzedeelExists {
        /// Code.
        code: KeuzedeelCode,
    },
    /// The exam does not apply to the enrolment (e.g. Engels below niveau 4).
    #[error("this exam does not apply to the enrolment: {reason}")]
    ExamenNotApplicable {
        /// Why.
        reason: String,
    },
    /// The enrolment is not running (not signed, or ended).
    #[error("onderwijsovereenkomst {ook} is not running")]
    OokNotRunning {
        /// Id.
        ook: OokId,
    },
    /// Nothing would change.
    #[error("nothing to change")]
    Unchanged,
}

impl From<ValueError> for Rejection {
    fn from(e: ValueError) -> Self {
        Self::InvalidValue {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl Rejection {
    /// A stable snake_case code for this rejection (API error codes, metrics labels).
    pub fn code(&self) -> &'static str {
        match self {
            Self::DossierAlreadyOpen => "dossier_already_open",
            Self::DossierNotFound => "dossier_not_found",
            Self::NotPermitted { .. } => "not_permitted",
            Self::InvalidValue { .. } => "invalid_value",
            Self::UnknownInstitution { .. } => "unknown_institution",
            Self::UnknownSchool { .. } => "unknown_school",
            Self::UnknownAangebodenOpleiding { .. } => "unknown_aangeboden_opleiding",
            Self::UnknownCohort { .. } => "unknown_cohort",
            Self::AanmeldperiodeGesloten { .. } => "aanmeldperiode_gesloten",
            Self::ParticipationTooLow { .. } => "participation_too_low",
            Self::AanmeldingExists { .. } => "aanmelding_exists",
            Self::DuplicateAanmelding { .. } => "duplicate_aanmelding",
            Self::UnknownAanmelding { .. } => "unknown_aanmelding",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::NoSignedOokAtInstitution { .. } => "no_signed_ook_at_institution",
            Self::NoSignedOok { .. } => "no_signed_ook",
            Self::ActiveOokExists { .. } => "active_ook_exists",
            Self::OokExists { .. } => "ook_exists",
            Self::UnknownOok { .. } => "unknown_ook",
            Self::NoAanmeldingAtInstitution { .. } => "no_aanmelding_at_institution",
            Self::NoConsent { .. } => "no_consent",
            Self::ParentSignatureRequired => "parent_signature_required",
            Self::SignatureMissing { .. } => "signature_missing",
            Self::AlreadySigned { .. } => "already_signed",
            Self::SignerNotAllowed { .. } => "signer_not_allowed",
            Self::InvalidDates { .. } => "invalid_dates",
            Self::BpvOutsideEnrolment { .. } => "bpv_outside_enrolment",
            Self::BpvExists { .. } => "bpv_exists",
            Self::UnknownBpv { .. } => "unknown_bpv",
            Self::BpvOnderdeelMismatch => "bpv_onderdeel_mismatch",
            Self::LeerbedrijfNotErkend { .. } => "leerbedrijf_not_erkend",
            Self::NoBpvAtLeerbedrijf => "no_bpv_at_leerbedrijf",
            Self::UnknownKeuzedeel { .. } => "unknown_keuzedeel",
            Self::KeuzedeelExists { .. } => "keuzedeel_exists",
            Self::ExamenNotApplicable { .. } => "examen_not_applicable",
            Self::OokNotRunning { .. } => "ook_not_running",
            Self::Unchanged => "unchanged",
        }
    }
}

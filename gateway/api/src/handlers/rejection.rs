//! How a registry rejection is answered, and the problems the edge shares with that mapping.
//!
//! The API sends the registry these commands, each as `Actor::Institution` of the caller:
//! `OpenDossier` (a first aanmelding of a student), `SubmitAanmelding` (its `instelling` is the
//! caller's own), `ChangeAanmeldingStatus`, and for the onderwijsovereenkomsten
//! `DraftOnderwijsovereenkomst`, `OfferOnderwijsovereenkomst`, `SignOnderwijsovereenkomst` (on
//! paper), `TerminateOnderwijsovereenkomst`, and for the praktijkovereenkomsten
//! `RegisterPraktijkovereenkomst`, `SignPraktijkovereenkomst` (on paper) and
//! `EndPraktijkovereenkomst`, and for results `RegisterKeuzedeel`, `RecordKeuzedeelResultaat`,
//! `RecordExamenresultaat` and `AwardDiploma`. [`rejection_problem`] maps every [`Rejection`]
//! variant, without a wildcard: a variant added to the registry does not compile here until
//! someone decides how a caller sees it.

use chrono::NaiveDate;
use knooppunt_registry::domain::Rejection;
use knooppunt_registry::policy::Part;
use knooppunt_registry::reference::Participation;

use crate::problem::{ErrorCode, Problem};

/// How a registry rejection is answered. Grouped by what the caller can do about it:
///
/// - **404 `not_found`** — `DossierNotFound`, `UnknownAanmelding`, `UnknownOok`, `UnknownBpv`,
///   `UnknownKeuzedeel` (a result for a keuzedeel not registered in the enrolment):
///   the item (or its dossier) is not there for this caller. The edge answers another
///   institution's item with the same 404 (never 403, never a hint it exists), so the
///   registry's answer must look the same. Reachable only when the API's index and the registry
///   disagree.
/// - **409** — the request conflicts with the dossier's current state; the same request may
///   succeed later or needs another id: `InvalidTransition` (`invalid_transition`: the state
///   machine does not allow this step now), `AanmeldingExists`, `DuplicateAanmelding`,
///   `OokExists`, `ActiveOokExists` (one active OOK per crebo), `OokNotRunning`,
///   `AlreadySigned`, `LeerbedrijfNotErkend` (SBB has not recognised the leerbedrijf, or not
///   yet), `BpvExists`, `KeuzedeelExists`, and `NoSignedOok` (a diploma needs a signed,
///   running onderwijsovereenkomst for the crebo: answered as `ook_not_running`). All
///   reachable.
/// - **403** — `NotPermitted` (`not_permitted`: the access policy refuses the change; the
///   caller is authenticated but not allowed) and `ParticipationTooLow`
///   (`participation_level_too_low`: the institution's level does not include this; the detail
///   names its level and the one needed — the edge checks the level first with the same
///   answer).
/// - **422** — the request is well-formed but names something the rules refuse; fix the
///   request:
///   - `NoSignedOokAtInstitution` (`no_signed_ook_at_institution`): from level `aanmelden` up,
///     `ingeschreven` needs a signed onderwijsovereenkomst at the institution. Reachable.
///   - signing on paper: `ParentSignatureRequired`, `SignatureMissing`, `SignerNotAllowed`.
///   - praktijkovereenkomsten: `BpvOutsideEnrolment`, `BpvOnderdeelMismatch`.
///   - exams: `ExamenNotApplicable` (Engels outside niveau 4).
///   - the reference checks of a submission, which the edge makes first with codes of its own
///     (see `aanmeldingen.rs`), so the registry's copy is answered exactly as the edge's:
///     `UnknownInstitution` → `institution_not_participating`,
///     `UnknownAangebodenOpleiding` → `unknown_opleiding`, `UnknownCohort` →
///     `unknown_cohort`, `AanmeldperiodeGesloten` → `aanmeldperiode_gesloten`, `UnknownSchool`
///     → `unknown_school`.
///   - `InvalidValue`, `InvalidDates` → `invalid_field`, naming the registry's field: a value
///     of the command the rules refuse (a signing date in the future, an end before the
///     begin, a missing reden uitschrijving).
/// - **500 `internal_error`** — everything else: rejections about parts the API never changes
///   (consent, DUO), `Unchanged` (the results endpoints answer a repeated result with the
///   record as it stands before they map a rejection; no other API command can be a no-op) and `DossierAlreadyOpen` (the edge treats it as "found" when it opens a dossier). None can
///   follow from an API command, whatever the caller sends; if one does, the edge and the
///   registry disagree about a rule — a bug to see in the logs (logged with the rejection's
///   code), not a refusal the caller can act on. A 5xx is not recorded under the
///   `Idempotency-Key`, so the caller can retry with the same key once it is fixed.
///
/// A detail names the field and the reason, never a value the caller sent.
pub fn rejection_problem(r: &Rejection) -> Problem {
    match r {
        // 404
        Rejection::DossierNotFound | Rejection::UnknownAanmelding { .. } => {
            Problem::not_found("aanmelding")
        }
        Rejection::UnknownOok { .. } => Problem::not_found("onderwijsovereenkomst"),
        Rejection::UnknownBpv { .. } => Problem::not_found("praktijkovereenkomst"),
        Rejection::UnknownKeuzedeel { .. } => Problem::not_found("keuzedeel"),
        // 409
        Rejection::InvalidTransition { part, from, .. } => match part {
            Part::Aanmeldingen | Part::VaStatus => Problem::new(ErrorCode::InvalidTransition)
                .detail(format!(
                    "the status cannot go from {from} to the requested status"
                ))
                .field("status", "not allowed from the current status"),
            other => Problem::new(ErrorCode::InvalidTransition).detail(format!(
                "{other} cannot go from {from} to the requested state"
            )),
        },
        Rejection::AanmeldingExists { .. } => aanmelding_exists(),
        Rejection::DuplicateAanmelding { aanmelding } => Problem::new(
            ErrorCode::DuplicateAanmelding,
        )
        .detail(format!(
            "there is an open aanmelding {aanmelding} of this student for this opleiding and cohort"
        )),
        Rejection::OokExists { .. } => Problem::new(ErrorCode::OokExists)
            .detail("an onderwijsovereenkomst with this id exists already")
            .field("ook_id", "exists already"),
        Rejection::ActiveOokExists { crebo, .. } => Problem::new(ErrorCode::ActiveOokExists)
            .detail(format!(
                "the student has an active onderwijsovereenkomst for crebo {crebo}; end or withdraw it first"
            )),
        Rejection::OokNotRunning { .. } => Problem::new(ErrorCode::OokNotRunning)
            .detail("the onderwijsovereenkomst is not signed and running"),
        Rejection::NoSignedOok { crebo } => Problem::new(ErrorCode::OokNotRunning).detail(
            format!("a diploma for crebo {crebo} needs a signed, running onderwijsovereenkomst"),
        ),
        Rejection::KeuzedeelExists { .. } => Problem::new(ErrorCode::KeuzedeelExists)
            .detail("the keuzedeel is registered within this onderwijsovereenkomst already")
            .field("code", "registered already"),
        Rejection::AlreadySigned { ondertekenaar } => Problem::new(ErrorCode::AlreadySigned)
            .detail(format!("{ondertekenaar} signed already"))
            .field("ondertekenaars", "signed already"),
        Rejection::LeerbedrijfNotErkend { .. } => Problem::new(ErrorCode::LeerbedrijfNotErkend)
            .detail(
                "SBB has not recognised the leerbedrijf for this praktijkovereenkomst (or not yet, \
                 or withdrew the recognition); it cannot be signed",
            ),
        Rejection::BpvExists { .. } => Problem::new(ErrorCode::BpvExists)
            .detail("a praktijkovereenkomst with this id exists already")
            .field("bpv_id", "exists already"),
        // 403
        Rejection::NotPermitted { .. } => {
            Problem::new(ErrorCode::NotPermitted).detail(r.to_string())
        }
        Rejection::ParticipationTooLow {
            level, required, ..
        } => participation_too_low(*level, *required),
        // 422
        Rejection::NoSignedOokAtInstitution { .. } => {
            Problem::new(ErrorCode::NoSignedOokAtInstitution)
                .detail("ingeschreven needs a signed onderwijsovereenkomst at your institution")
                .field(
                    "status",
                    "no signed onderwijsovereenkomst at your institution",
                )
        }
        Rejection::ParentSignatureRequired => Problem::new(ErrorCode::ParentSignatureRequired)
            .detail("the student may be under 18 on the signing date: a parent must sign too")
            .field("ondertekenaars", "a parent must sign too"),
        Rejection::SignatureMissing { ondertekenaar } => {
            Problem::new(ErrorCode::SignatureMissing)
                .detail(format!(
                    "signing on paper completes the agreement: the signature of {ondertekenaar} is missing"
                ))
                .field("ondertekenaars", "a required signer is missing")
        }
        Rejection::SignerNotAllowed { ondertekenaar } => {
            Problem::new(ErrorCode::SignerNotAllowed)
                .detail(format!(
                    "your institution may not record the signature of {ondertekenaar} this way"
                ))
                .field("ondertekenaars", "signer not allowed")
        }
        Rejection::BpvOutsideEnrolment { begin, einde, .. } => Problem::new(
            ErrorCode::BpvOutsideEnrolment,
        )
        .detail(format!(
            "the praktijkovereenkomst must lie within its enrolment ({begin} – {einde})"
        )),
        Rejection::BpvOnderdeelMismatch => Problem::new(ErrorCode::BpvOnderdeelMismatch)
            .detail("the onderdeel (crebo or keuzedeel) does not belong to the enrolment")
            .field("onderdeel", "not in the enrolment"),
        Rejection::ExamenNotApplicable { reason } => {
            Problem::new(ErrorCode::ExamenNotApplicable)
                .detail(format!("this exam does not apply to the enrolment: {reason}"))
                .field("vak", "not examined in this enrolment")
        }
        Rejection::UnknownInstitution { .. } => institution_not_participating(),
        Rejection::UnknownAangebodenOpleiding { .. } => unknown_opleiding(),
        Rejection::UnknownCohort { .. } => unknown_cohort(),
        Rejection::AanmeldperiodeGesloten {
            begin,
            einde,
            datum,
        } => aanmeldperiode_gesloten(*begin, *einde, *datum),
        Rejection::UnknownSchool { .. } => unknown_school(),
        Rejection::InvalidValue { field, reason } | Rejection::InvalidDates { field, reason } => {
            Problem::invalid_field(field.clone(), reason.clone())
        }
        // 500: no API command can be refused for these (see above).
        Rejection::DossierAlreadyOpen
        | Rejection::Unchanged
        | Rejection::NoAanmeldingAtInstitution { .. }
        | Rejection::NoConsent { .. }
        | Rejection::NoBpvAtLeerbedrijf => {
            tracing::error!(
                rejection = r.code(),
                "the registry refused an api command for a reason no api command can cause"
            );
            Problem::internal()
        }
    }
}

/// 403 `participation_level_too_low`: the institution takes part at `level`; this needs
/// `required`.
pub(crate) fn participation_too_low(level: Participation, required: Participation) -> Problem {
    Problem::new(ErrorCode::ParticipationLevelTooLow).detail(format!(
        "your institution takes part in Knooppunt at level {level}; this needs level {required} or higher"
    ))
}

/// 409 `aanmelding_exists`: the aanmelding id is taken (found by the edge in its index, or by
/// the registry in the dossier).
pub(super) fn aanmelding_exists() -> Problem {
    Problem::new(ErrorCode::AanmeldingExists)
        .detail("an aanmelding with this id exists already")
        .field("aanmelding_id", "exists already")
}

/// 422 `institution_not_participating`: the caller's institution is not in the reference data.
pub(super) fn institution_not_participating() -> Problem {
    Problem::new(ErrorCode::InstitutionNotParticipating)
        .detail("your institution does not take part in Knooppunt (not in the reference data)")
}

/// 422 `unknown_opleiding`: no aangeboden opleiding with this RIO id.
pub(super) fn unknown_opleiding() -> Problem {
    Problem::new(ErrorCode::UnknownOpleiding)
        .detail("no aangeboden opleiding with this RIO id")
        .field("opleiding", "unknown aangeboden opleiding")
}

/// 422 `opleiding_other_institution`: the aangeboden opleiding is another institution's.
pub(super) fn opleiding_other_institution() -> Problem {
    Problem::new(ErrorCode::OpleidingOtherInstitution)
        .detail("this aangeboden opleiding belongs to another institution")
        .field("opleiding", "belongs to another institution")
}

/// 422 `unknown_cohort`: the opleiding has no cohort with this code.
pub(super) fn unknown_cohort() -> Problem {
    Problem::new(ErrorCode::UnknownCohort)
        .detail("the opleiding has no such cohort")
        .field("cohort", "unknown cohort for this opleiding")
}

/// 422 `aanmeldperiode_gesloten`: the cohort's aanmeldperiode does not include `today`.
pub(super) fn aanmeldperiode_gesloten(
    begin: NaiveDate,
    einde: NaiveDate,
    today: NaiveDate,
) -> Problem {
    Problem::new(ErrorCode::AanmeldperiodeGesloten)
        .detail(format!(
            "the aanmeldperiode ({begin} – {einde}) does not include {today}"
        ))
        .field("cohort", "aanmeldperiode closed")
}

/// 422 `unknown_school`: the sending school is not in the reference data.
pub(super) fn unknown_school() -> Problem {
    Problem::new(ErrorCode::UnknownSchool)
        .detail("unknown sending school")
        .field("toeleverende_school", "unknown school")
}

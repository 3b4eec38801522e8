//! How a registry rejection is answered, and the problems the edge shares with that mapping.
//!
//! The API sends the registry three commands, each as `Actor::Institution` of the caller:
//! `OpenDossier` (a first aanmelding of a student), `SubmitAanmelding` (its `instelling` is the
//! caller's own) and `ChangeAanmeldingStatus`. [`rejection_problem`] maps every
//! [`Rejection`] variant, without a wildcard: a variant added to the registry does not compile
//! here until someone decides how a caller sees it.

use chrono::NaiveDate;
use knooppunt_registry::domain::Rejection;

use crate::problem::{ErrorCode, Problem};

/// How a registry rejection is answered. Grouped by what the caller can do about it:
///
/// - **404 `not_found`** — `DossierNotFound`, `UnknownAanmelding`: the aanmelding (or its
///   dossier) is not there for this caller. The edge answers another institution's aanmelding
///   with the same 404 (never 403, never a hint it exists), so the registry's answer must look
///   the same. Reachable only when the API's index and the registry disagree.
/// - **409** — the request conflicts with the dossier's current state; the same request may
///   succeed later or needs another id: `InvalidTransition` (`invalid_transition`: the state
///   machine does not allow this step now), `AanmeldingExists` (`aanmelding_exists`: the id is
///   taken), `DuplicateAanmelding` (`duplicate_aanmelding`: an open aanmelding for this
///   opleiding and cohort exists). All reachable.
/// - **403 `not_permitted`** — `NotPermitted`: the access policy refuses the change; the
///   caller is authenticated but not allowed, which is what 403 says. Not reachable today (an
///   institution in the reference data may change its own aanmeldingen; the edge answers
///   another's with 404 before the registry is asked), kept as before.
/// - **422** — the request is well-formed but names something the rules refuse; fix the
///   request:
///   - `NoSignedOokAtInstitution` (`no_signed_ook_at_institution`): from level `aanmelden` up,
///     `ingeschreven` needs a signed onderwijsovereenkomst at the institution. Reachable.
///   - the reference checks of a submission, which the edge makes first with codes of its own
///     (see `aanmeldingen.rs`), so the registry's copy is answered exactly as the edge's:
///     `UnknownInstitution` and `ParticipationTooLow` → `institution_not_participating`,
///     `UnknownAangebodenOpleiding` → `unknown_opleiding`, `UnknownCohort` →
///     `unknown_cohort`, `AanmeldperiodeGesloten` → `aanmeldperiode_gesloten`, `UnknownSchool`
///     → `unknown_school`. Not reachable today (the edge refuses first; an institution has no
///     participation level to meet for its own aanmeldingen).
///   - `InvalidValue`, `InvalidDates` → `invalid_field`, naming the registry's field: a value
///     of the command the rules refuse. Not reachable today (the edge sends parsed values
///     only).
/// - **500 `internal_error`** — everything else: rejections about parts the API never changes
///   (onderwijs- and praktijkovereenkomsten, keuzedelen, examens, consent, signing), `Unchanged`
///   (no API command can be a no-op) and `DossierAlreadyOpen` (the edge treats it as "found"
///   when it opens a dossier). None can follow from an API command, whatever the caller sends;
///   if one does, the edge and the registry disagree about a rule — a bug to see in the logs
///   (logged with the rejection's code), not a refusal the caller can act on. A 5xx is not
///   recorded under the `Idempotency-Key`, so the caller can retry with the same key once it
///   is fixed.
///
/// A detail names the field and the reason, never a value the caller sent.
pub fn rejection_problem(r: &Rejection) -> Problem {
    match r {
        // 404
        Rejection::DossierNotFound | Rejection::UnknownAanmelding { .. } => {
            Problem::not_found("aanmelding")
        }
        // 409
        Rejection::InvalidTransition { from, .. } => Problem::new(ErrorCode::InvalidTransition)
            .detail(format!(
                "the status cannot go from {from} to the requested status"
            ))
            .field("status", "not allowed from the current status"),
        Rejection::AanmeldingExists { .. } => aanmelding_exists(),
        Rejection::DuplicateAanmelding { aanmelding } => Problem::new(
            ErrorCode::DuplicateAanmelding,
        )
        .detail(format!(
            "there is an open aanmelding {aanmelding} of this student for this opleiding and cohort"
        )),
        // 403
        Rejection::NotPermitted { .. } => {
            Problem::new(ErrorCode::NotPermitted).detail(r.to_string())
        }
        // 422
        Rejection::NoSignedOokAtInstitution { .. } => {
            Problem::new(ErrorCode::NoSignedOokAtInstitution)
                .detail("ingeschreven needs a signed onderwijsovereenkomst at your institution")
                .field(
                    "status",
                    "no signed onderwijsovereenkomst at your institution",
                )
        }
        Rejection::UnknownInstitution { .. } | Rejection::ParticipationTooLow { .. } => {
            institution_not_participating()
        }
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
        | Rejection::NoSignedOok { .. }
        | Rejection::ActiveOokExists { .. }
        | Rejection::OokExists { .. }
        | Rejection::UnknownOok { .. }
        | Rejection::OokNotRunning { .. }
        | Rejection::NoAanmeldingAtInstitution { .. }
        | Rejection::NoConsent { .. }
        | Rejection::ParentSignatureRequired
        | Rejection::SignatureMissing { .. }
        | Rejection::AlreadySigned { .. }
        | Rejection::SignerNotAllowed { .. }
        | Rejection::BpvOutsideEnrolment { .. }
        | Rejection::BpvExists { .. }
        | Rejection::UnknownBpv { .. }
        | Rejection::BpvOnderdeelMismatch
        | Rejection::LeerbedrijfNotErkend { .. }
        | Rejection::NoBpvAtLeerbedrijf
        | Rejection::UnknownKeuzedeel { .. }
        | Rejection::KeuzedeelExists { .. }
        | Rejection::ExamenNotApplicable { .. } => {
            tracing::error!(
                rejection = r.code(),
                "the registry refused an api command for a reason no api command can cause"
            );
            Problem::internal()
        }
    }
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

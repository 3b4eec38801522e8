//! Every registry rejection has a deliberate answer (`handlers::rejection_problem`, an
//! exhaustive match): one test per group of the mapping, over the mapping itself and, for the
//! rejections a caller can meet, over HTTP.

use crate::support::*;
use axum::http::StatusCode;
use knooppunt_api::handlers::rejection_problem;
use knooppunt_registry::domain::{AanmeldingId, BpvId, OokId, Rejection};
use knooppunt_registry::policy::{Access, DenyReason, Part};
use knooppunt_registry::reference::Participation;
use uuid::Uuid;

/// The answer to `r` as a caller sees it: status and body.
fn answer(r: &Rejection) -> (u16, serde_json::Value) {
    let p = rejection_problem(r);
    let body = serde_json::to_value(&p).expect("problem json");
    assert_eq!(body["status"], p.status, "{r:?}");
    (p.status, body)
}

fn assert_answer(r: &Rejection, status: u16, code: &str) -> serde_json::Value {
    let (got, body) = answer(r);
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{r:?}");
    assert_eq!(
        body["type"],
        format!("https://knooppunt.nl/problems/{code}"),
        "{r:?}"
    );
    body
}

fn aanmelding() -> AanmeldingId {
    AanmeldingId(Uuid::new_v4())
}

#[test]
fn not_found_group_is_answered_as_a_foreign_or_missing_aanmelding() {
    for r in [
        Rejection::DossierNotFound,
        Rejection::UnknownAanmelding {
            aanmelding: aanmelding(),
        },
    ] {
        let body = assert_answer(&r, 404, "not_found");
        // Exactly what the edge answers for another institution's aanmelding.
        assert_eq!(body["detail"], "no such aanmelding");
    }
}

#[test]
fn conflict_group_is_409_with_the_registry_code() {
    let id = aanmelding();
    let cases = [
        (
            Rejection::InvalidTransition {
                part: Part::VaStatus,
                from: "aangemeld".into(),
                to: "ingeschreven".into(),
            },
            "invalid_transition",
        ),
        (
            Rejection::AanmeldingExists { aanmelding: id },
            "aanmelding_exists",
        ),
        (
            Rejection::DuplicateAanmelding {
                aanmelding: aanmelding(),
            },
            "duplicate_aanmelding",
        ),
    ];
    for (r, code) in cases {
        let body = assert_answer(&r, 409, code);
        let text = body.to_string();
        assert!(!text.contains("ingeschreven"), "no requested value: {text}");
        assert!(!text.contains(&id.0.to_string()), "no sent id: {text}");
    }
}

#[test]
fn forbidden_group_is_403_not_permitted() {
    let r = Rejection::NotPermitted {
        part: Part::Aanmeldingen,
        access: Access::Change,
        reason: DenyReason::OtherInstitution,
    };
    assert_answer(&r, 403, "not_permitted");
}

#[test]
fn a_participation_level_too_low_is_403_naming_both_levels() {
    let r = Rejection::ParticipationTooLow {
        instelling: brin_a(),
        level: Participation::Va,
        required: Participation::Aanmelden,
    };
    let body = assert_answer(&r, 403, "participation_level_too_low");
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("level va") && detail.contains("level aanmelden"),
        "{detail}"
    );
}

#[test]
fn agreement_rejections_are_answered_with_their_own_codes() {
    let ook = OokId(Uuid::new_v4());
    let bpv = BpvId(Uuid::new_v4());
    let who = || String::from("ouder");
    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).expect("date");
    let cases = [
        (Rejection::UnknownOok { ook }, 404, "not_found"),
        (Rejection::UnknownBpv { bpv }, 404, "not_found"),
        (
            Rejection::UnknownKeuzedeel {
                code: "K0067".parse().expect("keuzedeel"),
            },
            404,
            "not_found",
        ),
        (
            Rejection::KeuzedeelExists {
                code: "K0067".parse().expect("keuzedeel"),
            },
            409,
            "keuzedeel_exists",
        ),
        (
            Rejection::NoSignedOok {
                crebo: "25998".parse().expect("crebo"),
            },
            409,
            "ook_not_running",
        ),
        (
            Rejection::ExamenNotApplicable {
                reason: "Engels is examined at niveau 4 only".into(),
            },
            422,
            "examen_not_applicable",
        ),
        (Rejection::OokExists { ook }, 409, "ook_exists"),
        (
            Rejection::ActiveOokExists {
                crebo: "25998".parse().expect("crebo"),
                ook,
            },
            409,
            "active_ook_exists",
        ),
        (Rejection::OokNotRunning { ook }, 409, "ook_not_running"),
        (
            Rejection::AlreadySigned {
                ondertekenaar: who(),
            },
            409,
            "already_signed",
        ),
        (
            Rejection::LeerbedrijfNotErkend { bpv },
            409,
            "leerbedrijf_not_erkend",
        ),
        (Rejection::BpvExists { bpv }, 409, "bpv_exists"),
        (
            Rejection::ParentSignatureRequired,
            422,
            "parent_signature_required",
        ),
        (
            Rejection::SignatureMissing {
                ondertekenaar: who(),
            },
            422,
            "signature_missing",
        ),
        (
            Rejection::SignerNotAllowed {
                ondertekenaar: who(),
            },
            422,
            "signer_not_allowed",
        ),
        (
            Rejection::BpvOutsideEnrolment {
                bpv,
                begin: date(2027, 8, 1),
                einde: date(2028, 7, 31),
            },
            422,
            "bpv_outside_enrolment",
        ),
        (
            Rejection::BpvOnderdeelMismatch,
            422,
            "bpv_onderdeel_mismatch",
        ),
        (
            Rejection::InvalidTransition {
                part: Part::Onderwijsovereenkomsten,
                from: "beeindigd".into(),
                to: "aangeboden".into(),
            },
            409,
            "invalid_transition",
        ),
    ];
    for (r, status, code) in cases {
        let body = assert_answer(&r, status, code);
        let text = body.to_string();
        for sent in [ook.0.to_string(), bpv.0.to_string(), "K0067".to_owned()] {
            assert!(!text.contains(&sent), "{r:?} echoes a sent id: {text}");
        }
    }
}

#[test]
fn unprocessable_group_is_422_with_the_codes_the_edge_uses() {
    let brin = brin_a();
    let opleiding = Uuid::new_v4();
    let cases = [
        (
            Rejection::NoSignedOokAtInstitution {
                instelling: brin.clone(),
            },
            "no_signed_ook_at_institution",
            Some("status"),
        ),
        (
            Rejection::UnknownInstitution {
                brin: brin_unknown(),
            },
            "institution_not_participating",
            None,
        ),
        (
            Rejection::UnknownAangebodenOpleiding {
                opleiding,
                instelling: brin.clone(),
            },
            "unknown_opleiding",
            Some("opleiding"),
        ),
        (
            Rejection::UnknownCohort {
                cohort: "1999-2000".into(),
            },
            "unknown_cohort",
            Some("cohort"),
        ),
        (
            Rejection::AanmeldperiodeGesloten {
                begin: chrono::NaiveDate::from_ymd_opt(2026, 10, 1).expect("date"),
                einde: chrono::NaiveDate::from_ymd_opt(2027, 4, 1).expect("date"),
                datum: chrono::NaiveDate::from_ymd_opt(2027, 5, 1).expect("date"),
            },
            "aanmeldperiode_gesloten",
            Some("cohort"),
        ),
        (
            Rejection::UnknownSchool {
                brin: "19XY".parse().expect("brin"),
            },
            "unknown_school",
            Some("toeleverende_school"),
        ),
        (
            Rejection::InvalidValue {
                field: "cohort".into(),
                reason: "it is too long".into(),
            },
            "invalid_field",
            Some("cohort"),
        ),
        (
            Rejection::InvalidDates {
                field: "einddatum".into(),
                reason: "before the begin".into(),
            },
            "invalid_field",
            Some("einddatum"),
        ),
    ];
    for (r, code, field) in cases {
        let body = assert_answer(&r, 422, code);
        assert_eq!(body["field"].as_str(), field, "{r:?}");
        let text = body.to_string();
        for sent in [opleiding.to_string(), "1999-2000".into(), "19XY".into()] {
            assert!(!text.contains(&sent), "{r:?} echoes a sent value: {text}");
        }
    }
}

#[test]
fn internal_group_is_500_without_internals() {
    let cases = [
        Rejection::DossierAlreadyOpen,
        Rejection::Unchanged,
        Rejection::NoAanmeldingAtInstitution {
            instelling: brin_a(),
        },
        Rejection::NoConsent {
            part: Part::Aanmeldingen,
        },
        Rejection::NoBpvAtLeerbedrijf,
    ];
    for r in cases {
        let body = assert_answer(&r, 500, "internal_error");
        let text = body.to_string();
        assert!(
            !text.contains(r.code()),
            "nothing of the rejection is shown: {text}"
        );
    }
}

#[tokio::test]
async fn the_rejections_a_caller_can_meet_over_http() {
    let t = test_api();
    let brin = brin_a();
    let tok = token(&t.app, &brin).await;
    let id = Uuid::new_v4();
    let a = submit(&t.app, &tok, &brin, "k1", id, BSN).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);

    // 409 duplicate_aanmelding: the same student, opleiding and cohort under a new id.
    let other = Uuid::new_v4();
    let a = submit(&t.app, &tok, &brin, "k2", other, BSN).await;
    a.assert_problem(409, "duplicate_aanmelding");
    assert!(!a.text.contains(&other.to_string()), "{}", a.text);

    // 409 aanmelding_exists: the same id again under a new key.
    let a = submit(&t.app, &tok, &brin, "k3", id, BSN).await;
    a.assert_problem(409, "aanmelding_exists");
    assert_eq!(a.body["field"], "aanmelding_id");

    // 409 invalid_transition: ontvangen cannot become ingeschreven.
    let a = change_status(&t.app, &tok, &brin, "s1", id, "IS").await;
    a.assert_problem(409, "invalid_transition");
    assert_eq!(a.body["field"], "status");

    // 422 no_signed_ook_at_institution: ingeschreven needs a signed OOK.
    for (key, status) in [("s2", "AM"), ("s3", "AO")] {
        let a = change_status(&t.app, &tok, &brin, key, id, status).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    let a = change_status(&t.app, &tok, &brin, "s4", id, "ingeschreven").await;
    a.assert_problem(422, "no_signed_ook_at_institution");
    assert!(!a.text.contains(brin.as_str()), "{}", a.text);
}

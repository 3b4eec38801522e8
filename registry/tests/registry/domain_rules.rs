//! The dossier's rules, one behaviour at a time. Most cases start from a point in the demo
//! journey (the demo student is 16 when her OOK is signed) and try one command.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use knooppunt_registry::domain::institution::Levels;
use knooppunt_registry::domain::*;
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::Brin;
use knooppunt_registry::partner::Partner;
use knooppunt_registry::policy::{Access, DenyReason, Part};
use knooppunt_registry::reference::{Leertraject, Niveau, Participation, ReferenceData};
use knooppunt_sample::{self as demo, AANMELDING, BPV, OOK};

struct Harness {
    key: DossierKey,
    reference: ReferenceData,
    dossier: Dossier,
}

fn brin(s: &str) -> Brin {
    s.parse().expect("test BRIN")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn roc() -> Actor {
    Actor::Institution { brin: brin("25LX") }
}

impl Harness {
    fn new() -> Self {
        Self {
            key: DossierKey::new(),
            reference: demo::reference_data(),
            dossier: Dossier::default(),
        }
    }

    /// Runs the demo journey up to and including the first step whose title contains `title`.
    fn after(title: &str) -> Self {
        let mut h = Self::new();
        for step in demo::journey(h.key) {
            let done = step.title.contains(title);
            h.exec(step.meta.actor.clone(), step.meta.time, &step.command)
                .unwrap_or_else(|r| panic!("demo step {:?} rejected: {r}", step.title));
            if done {
                return h;
            }
        }
        panic!("no demo step titled {title:?}");
    }

    /// Decides and, when accepted, applies. A rejection must leave the dossier unchanged.
    fn exec(
        &mut self,
        actor: Actor,
        time: DateTime<Utc>,
        command: &Command,
    ) -> Result<Vec<Event>, Rejection> {
        let meta = CommandMeta::new(self.key, actor, time);
        let ctx = DecideContext {
            reference: &self.reference,
            levels: Levels::none(),
            meta: &meta,
        };
        let before = self.dossier.clone();
        let result = self.dossier.decide(command, &ctx);
        assert_eq!(before, self.dossier, "decide never changes the dossier");
        if let Ok(events) = &result {
            for e in events {
                self.dossier.apply(e);
            }
        }
        result
    }

    fn types(&mut self, actor: Actor, time: DateTime<Utc>, command: &Command) -> Vec<&'static str> {
        match self.exec(actor, time, command) {
            Ok(events) => events.iter().map(Event::type_name).collect(),
            Err(r) => panic!("rejected: {r}"),
        }
    }
}

fn submit(id: u128, opleiding: uuid::Uuid, instelling: &str) -> Command {
    Command::SubmitAanmelding {
        aanmelding: AanmeldingId(uuid::Uuid::from_u128(id)),
        instelling: brin(instelling),
        opleiding,
        cohort: "2027-2028".to_owned(),
        toeleverende_school: None,
        externe_referentie: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Dossier and aanmelding
// ---------------------------------------------------------------------------------------------

#[test]
fn commands_on_a_missing_dossier_and_a_second_open_are_refused() {
    let mut h = Harness::new();
    let student = Actor::Student { dossier: h.key };
    assert_eq!(
        h.exec(
            student.clone(),
            at(2027, 1, 1, 10, 0),
            &submit(1, demo::SOFTWARE_DEVELOPER, "25LX")
        ),
        Err(Rejection::DossierNotFound)
    );
    let h = Harness::after("dossier is opened");
    let mut h = h;
    let open = demo::journey(h.key).remove(0).command;
    assert_eq!(
        h.exec(
            Actor::Student { dossier: h.key },
            at(2027, 1, 1, 10, 0),
            &open
        ),
        Err(Rejection::DossierAlreadyOpen)
    );
}

#[test]
fn an_operator_cannot_open_a_dossier() {
    let mut h = Harness::new();
    let open = demo::journey(h.key).remove(0).command;
    let r = h.exec(
        Actor::Operator {
            name: "ops".to_owned(),
        },
        at(2027, 1, 1, 10, 0),
        &open,
    );
    assert!(matches!(r, Err(Rejection::NotPermitted { .. })), "{r:?}");
    assert!(!h.dossier.exists());
}

#[test]
fn toelatingsrecht_ends_at_midnight_after_1_april_dutch_time() {
    // 1 April 23:59 CEST = 21:59 UTC: still in time. 2 April 00:01 CEST = 1 April 22:01 UTC.
    for (time, expected) in [
        (at(2027, 4, 1, 21, 59), true),
        (at(2027, 4, 1, 22, 1), false),
    ] {
        let mut h = Harness::after("dossier is opened");
        let student = Actor::Student { dossier: h.key };
        h.exec(student, time, &submit(1, demo::SOFTWARE_DEVELOPER, "25LX"))
            .expect("accepted");
        let a = h.dossier.aanmeldingen.values().next().expect("aanmelding");
        assert_eq!(a.toelatingsrecht, expected, "at {time}");
        assert_eq!(a.status, AanmeldStatus::Ontvangen);
    }
}

#[test]
fn entree_gives_no_toelatingsrecht() {
    let mut h = Harness::after("dossier is opened");
    let student = Actor::Student { dossier: h.key };
    h.exec(
        student,
        at(2027, 1, 20, 10, 0),
        &submit(1, demo::ENTREE, "25LX"),
    )
    .expect("accepted");
    assert!(!h.dossier.aanmeldingen.values().all(|a| a.toelatingsrecht));
}

#[test]
fn aanmelding_outside_the_aanmeldperiode_or_for_unknown_things_is_refused() {
    let mut h = Harness::after("dossier is opened");
    let student = Actor::Student { dossier: h.key };
    // Cohort 2027-2028 closes on 31 August 2027.
    let r = h.exec(
        student.clone(),
        at(2027, 9, 10, 10, 0),
        &submit(1, demo::SOFTWARE_DEVELOPER, "25LX"),
    );
    assert!(
        matches!(r, Err(Rejection::AanmeldperiodeGesloten { .. })),
        "{r:?}"
    );
    // An opleiding of another institution.
    let r = h.exec(
        student.clone(),
        at(2027, 2, 1, 10, 0),
        &submit(1, demo::TIMMERMAN, "25LX"),
    );
    assert!(
        matches!(r, Err(Rejection::UnknownAangebodenOpleiding { .. })),
        "{r:?}"
    );
    let r = h.exec(
        student.clone(),
        at(2027, 2, 1, 10, 0),
        &submit(1, demo::TIMMERMAN, "99ZZ"),
    );
    assert_eq!(r, Err(Rejection::UnknownInstitution { brin: brin("99ZZ") }));
    let mut unknown_cohort = submit(1, demo::TIMMERMAN, "27DV");
    if let Command::SubmitAanmelding { cohort, .. } = &mut unknown_cohort {
        *cohort = "1999-2000".to_owned();
    }
    let r = h.exec(student, at(2027, 2, 1, 10, 0), &unknown_cohort);
    assert!(matches!(r, Err(Rejection::UnknownCohort { .. })), "{r:?}");
    assert!(h.dossier.aanmeldingen.is_empty());
}

#[test]
fn central_aanmelding_needs_level_aanmelden_but_an_institution_reports_at_va() {
    let mut h = Harness::after("dossier is opened");
    // 28AB takes part at level va and has no opleidingen in the demo: give it one.
    let mut opl = h.reference.opleidingen[&demo::TIMMERMAN].clone();
    opl.id = uuid::Uuid::from_u128(99);
    opl.instelling = brin("28AB");
    h.reference.opleidingen.insert(opl.id, opl.clone());
    let student = Actor::Student { dossier: h.key };
    let r = h.exec(student, at(2027, 2, 1, 10, 0), &submit(1, opl.id, "28AB"));
    assert_eq!(
        r,
        Err(Rejection::ParticipationTooLow {
            instelling: brin("28AB"),
            level: Participation::Va,
            required: Participation::Aanmelden,
        })
    );
    let va = Actor::Institution { brin: brin("28AB") };
    h.exec(
        va.clone(),
        at(2027, 2, 1, 10, 0),
        &submit(1, opl.id, "28AB"),
    )
    .expect("an institution reports its own aanmelding");
    // ...but not one for another institution.
    let r = h.exec(
        va,
        at(2027, 2, 1, 10, 0),
        &submit(2, demo::TIMMERMAN, "27DV"),
    );
    assert!(
        matches!(
            r,
            Err(Rejection::NotPermitted {
                reason: DenyReason::OtherInstitution,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_second_open_aanmelding_for_the_same_cohort_is_a_duplicate() {
    let mut h = Harness::after("applies for Software Developer");
    let student = Actor::Student { dossier: h.key };
    let r = h.exec(
        student.clone(),
        at(2027, 2, 11, 10, 0),
        &submit(2, demo::SOFTWARE_DEVELOPER, "25LX"),
    );
    assert_eq!(
        r,
        Err(Rejection::DuplicateAanmelding {
            aanmelding: AANMELDING
        })
    );
    let r = h.exec(student, at(2027, 2, 11, 10, 0), &{
        let mut c = submit(2, demo::SOFTWARE_DEVELOPER, "25LX");
        if let Command::SubmitAanmelding { aanmelding, .. } = &mut c {
            *aanmelding = AANMELDING;
        }
        c
    });
    assert_eq!(
        r,
        Err(Rejection::AanmeldingExists {
            aanmelding: AANMELDING
        })
    );
}

#[test]
fn the_aanmeld_state_machine_is_enforced() {
    use AanmeldStatus::*;
    // Written out: which transitions exist.
    let allowed = [
        (Ontvangen, Aangemeld),
        (Ontvangen, LeidtNietTotInschrijving),
        (Ontvangen, Ingetrokken),
        (Aangemeld, OokAangeboden),
        (Aangemeld, LeidtNietTotInschrijving),
        (Aangemeld, Ingetrokken),
        (OokAangeboden, Ingeschreven),
        (OokAangeboden, LeidtNietTotInschrijving),
        (OokAangeboden, Ingetrokken),
    ];
    for from in AanmeldStatus::ALL {
        for to in AanmeldStatus::ALL {
            assert_eq!(
                from.can_become(to),
                allowed.contains(&(from, to)),
                "{from:?} → {to:?}"
            );
        }
    }
    let mut h = Harness::after("applies for Software Developer");
    let r = h.exec(
        roc(),
        at(2027, 2, 12, 10, 0),
        &Command::ChangeAanmeldingStatus {
            aanmelding: AANMELDING,
            status: Ingeschreven,
        },
    );
    assert_eq!(
        r,
        Err(Rejection::InvalidTransition {
            part: Part::VaStatus,
            from: "ontvangen".to_owned(),
            to: "ingeschreven".to_owned()
        })
    );
}

#[test]
fn the_student_may_only_withdraw_her_aanmelding() {
    let mut h = Harness::after("applies for Software Developer");
    let student = Actor::Student { dossier: h.key };
    let change = |status| Command::ChangeAanmeldingStatus {
        aanmelding: AANMELDING,
        status,
    };
    let r = h.exec(
        student.clone(),
        at(2027, 2, 12, 10, 0),
        &change(AanmeldStatus::Aangemeld),
    );
    assert_eq!(
        r,
        Err(Rejection::NotPermitted {
            part: Part::VaStatus,
            access: Access::Change,
            reason: DenyReason::CommandNotAllowed
        })
    );
    let types = h.types(
        student,
        at(2027, 2, 12, 10, 0),
        &change(AanmeldStatus::Ingetrokken),
    );
    assert_eq!(types, ["nl.knooppunt.aanmelding.status_gewijzigd.v1"]);
    assert_eq!(
        h.dossier.aanmeldingen[&AANMELDING].status,
        AanmeldStatus::Ingetrokken
    );
    // Final: no way back.
    let r = h.exec(
        roc(),
        at(2027, 2, 13, 10, 0),
        &change(AanmeldStatus::Aangemeld),
    );
    assert!(matches!(r, Err(Rejection::InvalidTransition { .. })));
}

#[test]
fn ingeschreven_by_hand_needs_a_signed_ook_at_the_institution() {
    let mut h = Harness::after("offers the onderwijsovereenkomst");
    let r = h.exec(
        roc(),
        at(2027, 6, 2, 10, 0),
        &Command::ChangeAanmeldingStatus {
            aanmelding: AANMELDING,
            status: AanmeldStatus::Ingeschreven,
        },
    );
    assert_eq!(
        r,
        Err(Rejection::NoSignedOokAtInstitution {
            instelling: brin("25LX")
        })
    );
}

/// Walks a fresh aanmelding at `instelling` for `opleiding` to `ook_aangeboden` and asks for
/// `ingeschreven`, reported by the institution itself.
fn report_ingeschreven(instelling: &str, opleiding: uuid::Uuid) -> Result<Vec<Event>, Rejection> {
    let mut h = Harness::after("dossier is opened");
    let by = Actor::Institution {
        brin: brin(instelling),
    };
    let id = AanmeldingId(uuid::Uuid::from_u128(77));
    h.exec(
        by.clone(),
        at(2027, 2, 10, 9, 0),
        &submit(77, opleiding, instelling),
    )
    .expect("aanmelding");
    for status in [AanmeldStatus::Aangemeld, AanmeldStatus::OokAangeboden] {
        h.exec(
            by.clone(),
            at(2027, 3, 1, 9, 0),
            &Command::ChangeAanmeldingStatus {
                aanmelding: id,
                status,
            },
        )
        .expect("status");
    }
    h.exec(
        by,
        at(2027, 6, 1, 9, 0),
        &Command::ChangeAanmeldingStatus {
            aanmelding: id,
            status: AanmeldStatus::Ingeschreven,
        },
    )
}

#[test]
fn a_va_institution_reports_ingeschreven_from_its_own_sis_without_an_ook_here() {
    // 28AB is at level `va`: its OOKs live in its own SIS.
    let events = report_ingeschreven("28AB", demo::MEDIAVORMGEVER).expect("ingeschreven");
    assert!(matches!(
        events.as_slice(),
        [Event::AanmeldingStatusGewijzigd {
            naar: AanmeldStatus::Ingeschreven,
            ..
        }]
    ));
    // From level `aanmelden` up the OOK lives here, and must be signed.
    assert_eq!(
        report_ingeschreven("27DV", demo::TIMMERMAN),
        Err(Rejection::NoSignedOokAtInstitution {
            instelling: brin("27DV")
        })
    );
}

#[test]
fn offering_the_ook_reports_ook_aangeboden_and_signing_reports_ingeschreven() {
    let mut h = Harness::after("confirms: aangemeld");
    let offer = demo::journey(h.key)
        .into_iter()
        .find(|s| s.title.contains("offers the onderwijsovereenkomst"))
        .expect("step");
    let types = h.types(roc(), offer.meta.time, &offer.command);
    assert_eq!(
        types,
        [
            "nl.knooppunt.onderwijsovereenkomst.aangeboden.v1",
            "nl.knooppunt.aanmelding.status_gewijzigd.v1"
        ]
    );
    assert_eq!(
        h.dossier.aanmeldingen[&AANMELDING].status,
        AanmeldStatus::OokAangeboden
    );
    let h = Harness::after("ROC Zuidwaard signs");
    assert_eq!(
        h.dossier.aanmeldingen[&AANMELDING].status,
        AanmeldStatus::Ingeschreven
    );
    assert_eq!(
        h.dossier.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Ondertekend
    );
}

// ---------------------------------------------------------------------------------------------
// Consent and OSO
// ---------------------------------------------------------------------------------------------

#[test]
fn consent_needs_an_aanmelding_and_oso_needs_consent() {
    let mut h = Harness::after("dossier is opened");
    let student = Actor::Student { dossier: h.key };
    let grant = Command::GrantConsent {
        instelling: brin("25LX"),
        scopes: BTreeSet::from([Part::Overstapdossier]),
    };
    assert_eq!(
        h.exec(student.clone(), at(2027, 2, 1, 10, 0), &grant),
        Err(Rejection::NoAanmeldingAtInstitution {
            instelling: brin("25LX")
        })
    );
    let mut h = Harness::after("applies for Software Developer");
    let student = Actor::Student { dossier: h.key };
    let oso = demo::journey(h.key)
        .into_iter()
        .find(|s| s.title.contains("overstapdossier arrives"))
        .expect("step");
    assert_eq!(
        h.exec(oso.meta.actor.clone(), oso.meta.time, &oso.command),
        Err(Rejection::NoConsent {
            part: Part::Overstapdossier
        })
    );
    let history = BTreeSet::from([Part::History]);
    let r = h.exec(
        student.clone(),
        at(2027, 2, 11, 10, 0),
        &Command::GrantConsent {
            instelling: brin("25LX"),
            scopes: history,
        },
    );
    assert!(matches!(r, Err(Rejection::InvalidValue { .. })), "{r:?}");
    // An institution cannot grant itself consent.
    let r = h.exec(roc(), at(2027, 2, 11, 10, 0), &grant);
    assert!(matches!(r, Err(Rejection::NotPermitted { .. })), "{r:?}");
}

#[test]
fn consent_can_be_withdrawn_once() {
    let mut h = Harness::after("gives ROC Zuidwaard consent");
    let student = Actor::Student { dossier: h.key };
    let withdraw = Command::WithdrawConsent {
        instelling: brin("25LX"),
    };
    h.exec(student.clone(), at(2027, 3, 1, 10, 0), &withdraw)
        .expect("withdrawn");
    assert!(!h.dossier.toestemmingen[&brin("25LX")].covers(Part::Personalia));
    assert_eq!(
        h.exec(student, at(2027, 3, 2, 10, 0), &withdraw),
        Err(Rejection::Unchanged)
    );
}

// ---------------------------------------------------------------------------------------------
// Onderwijsovereenkomst
// ---------------------------------------------------------------------------------------------

fn paper(who: &[OokOndertekenaar], datum: NaiveDate) -> Command {
    Command::SignOnderwijsovereenkomst {
        ook: OOK,
        ondertekenaars: who.iter().copied().collect(),
        wijze: Ondertekenwijze::Papier,
        datum,
    }
}

#[test]
fn paper_signing_for_a_minor_needs_a_parent() {
    use OokOndertekenaar::*;
    let mut h = Harness::after("offers the onderwijsovereenkomst");
    let day = date(2027, 6, 2);
    let time = at(2027, 6, 2, 10, 0);
    assert_eq!(
        h.exec(roc(), time, &paper(&[Student, Instelling], day)),
        Err(Rejection::ParentSignatureRequired)
    );
    assert_eq!(
        h.exec(roc(), time, &paper(&[Student, Ouder], day)),
        Err(Rejection::SignatureMissing {
            ondertekenaar: "instelling".to_owned()
        })
    );
    let types = h.types(roc(), time, &paper(&[Student, Ouder, Instelling], day));
    assert_eq!(
        types.iter().filter(|t| t.ends_with(".getekend.v1")).count(),
        3
    );
    assert!(types.contains(&"nl.knooppunt.onderwijsovereenkomst.ondertekend.v1"));
}

#[test]
fn paper_completes_what_was_signed_digitally_before() {
    use OokOndertekenaar::*;
    // She signed digitally; then the transaction was rejected (the parent refused online).
    let mut h = Harness::after("She signs digitally");
    let time = at(2027, 6, 4, 10, 0);
    let day = date(2027, 6, 4);
    // The paper still needs the parent and the institution...
    assert_eq!(
        h.exec(roc(), time, &paper(&[Instelling], day)),
        Err(Rejection::ParentSignatureRequired)
    );
    // ...and may not sign again for her.
    assert_eq!(
        h.exec(roc(), time, &paper(&[Student, Ouder, Instelling], day)),
        Err(Rejection::AlreadySigned {
            ondertekenaar: "student".to_owned()
        })
    );
    let types = h.types(roc(), time, &paper(&[Ouder, Instelling], day));
    assert!(types.contains(&"nl.knooppunt.onderwijsovereenkomst.ondertekend.v1"));
    assert_eq!(
        h.dossier.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Ondertekend
    );
}

#[test]
fn an_adult_signs_without_a_parent_and_a_parent_may_not_sign() {
    use OokOndertekenaar::*;
    let mut h = Harness::after("offers the onderwijsovereenkomst");
    // Make her 18 by a birth date in 2009.
    let mut p = h.dossier.personalia.clone().expect("personalia");
    p.geboortedatum = Geboortedatum::new(2009, None, None).expect("valid");
    h.exec(
        Actor::Partner {
            partner: Partner::Duo,
        },
        at(2027, 6, 1, 12, 0),
        &Command::RecordPersonalia { personalia: p },
    )
    .expect("recorded");
    let time = at(2028, 1, 2, 10, 0);
    let day = date(2028, 1, 2);
    assert_eq!(
        h.exec(roc(), time, &paper(&[Student, Ouder, Instelling], day)),
        Err(Rejection::SignerNotAllowed {
            ondertekenaar: "ouder".to_owned()
        })
    );
    h.exec(roc(), time, &paper(&[Student, Instelling], day))
        .expect("signed");
    assert_eq!(
        h.dossier.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Ondertekend
    );
}

#[test]
fn signers_sign_for_themselves_and_only_once() {
    let mut h = Harness::after("She signs digitally");
    let student = Actor::Student { dossier: h.key };
    let digital = |who: OokOndertekenaar| Command::SignOnderwijsovereenkomst {
        ook: OOK,
        ondertekenaars: BTreeSet::from([who]),
        wijze: Ondertekenwijze::Digitaal {
            transactie: "tx".to_owned(),
        },
        datum: date(2027, 6, 3),
    };
    let time = at(2027, 6, 3, 19, 0);
    assert_eq!(
        h.exec(
            student.clone(),
            time,
            &digital(OokOndertekenaar::Instelling)
        ),
        Err(Rejection::SignerNotAllowed {
            ondertekenaar: "instelling".to_owned()
        })
    );
    assert_eq!(
        h.exec(student, time, &digital(OokOndertekenaar::Student)),
        Err(Rejection::AlreadySigned {
            ondertekenaar: "student".to_owned()
        })
    );
    // Another institution cannot sign 25LX's OOK.
    let other = Actor::Institution { brin: brin("30GT") };
    let r = h.exec(other, time, &digital(OokOndertekenaar::Instelling));
    assert!(matches!(r, Err(Rejection::NotPermitted { .. })), "{r:?}");
}

#[test]
fn at_most_one_active_ook_per_crebo() {
    let mut h = Harness::after("offers the onderwijsovereenkomst");
    let mut details = h.dossier.onderwijsovereenkomsten[&OOK].details.clone();
    details.aanmelding = None;
    let second = OokId(uuid::Uuid::from_u128(2));
    let r = h.exec(
        roc(),
        at(2027, 6, 2, 10, 0),
        &Command::OfferOnderwijsovereenkomst {
            ook: second,
            instelling: brin("25LX"),
            details: details.clone(),
        },
    );
    assert_eq!(
        r,
        Err(Rejection::ActiveOokExists {
            crebo: details.crebo.clone(),
            ook: OOK
        })
    );
    // Withdrawing the unsigned one frees the crebo.
    let types = h.types(
        roc(),
        at(2027, 6, 2, 10, 0),
        &Command::TerminateOnderwijsovereenkomst {
            ook: OOK,
            datum: date(2027, 6, 2),
            reden: None,
        },
    );
    assert_eq!(types, ["nl.knooppunt.onderwijsovereenkomst.vervallen.v1"]);
    h.exec(
        roc(),
        at(2027, 6, 2, 11, 0),
        &Command::OfferOnderwijsovereenkomst {
            ook: second,
            instelling: brin("25LX"),
            details,
        },
    )
    .expect("offered");
}

#[test]
fn ook_dates_and_participation_are_checked() {
    let mut h = Harness::after("confirms: aangemeld");
    let mut details = OokDetails {
        aanmelding: Some(AANMELDING),
        opleiding: Some(demo::SOFTWARE_DEVELOPER),
        crebo: "25998".parse().expect("crebo"),
        niveau: Niveau::Mbo4,
        leertraject: Leertraject::Bol,
        intensiteit: Intensiteit::VT,
        begin: date(2027, 8, 30),
        gepland_einde: date(2027, 8, 1),
    };
    let offer = |details: &OokDetails| Command::OfferOnderwijsovereenkomst {
        ook: OOK,
        instelling: brin("25LX"),
        details: details.clone(),
    };
    let r = h.exec(roc(), at(2027, 6, 1, 10, 0), &offer(&details));
    assert!(matches!(r, Err(Rejection::InvalidDates { .. })), "{r:?}");
    details.gepland_einde = date(2030, 7, 31);
    details.crebo = "25655".parse().expect("crebo");
    let r = h.exec(roc(), at(2027, 6, 1, 10, 0), &offer(&details));
    assert!(matches!(r, Err(Rejection::InvalidValue { .. })), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// BPV
// ---------------------------------------------------------------------------------------------

fn bpv_details(begin: NaiveDate, einde: NaiveDate) -> BpvDetails {
    BpvDetails {
        ook: OOK,
        leerbedrijf: "100018965".parse().expect("id"),
        onderdeel: BpvOnderdeel::Crebo("25998".parse().expect("crebo")),
        begin,
        gepland_einde: einde,
        omvang_uren: 400,
        afsluitdatum: begin,
    }
}

#[test]
fn a_bpv_must_lie_within_its_enrolment_and_fit_its_crebo() {
    let mut h = Harness::after("ROC Zuidwaard signs");
    let register = |id: u128, d: BpvDetails| Command::RegisterPraktijkovereenkomst {
        bpv: BpvId(uuid::Uuid::from_u128(id)),
        details: d,
    };
    let time = at(2027, 9, 1, 10, 0);
    let r = h.exec(
        roc(),
        time,
        &register(1, bpv_details(date(2027, 8, 1), date(2027, 12, 1))),
    );
    assert!(
        matches!(r, Err(Rejection::BpvOutsideEnrolment { .. })),
        "{r:?}"
    );
    let r = h.exec(
        roc(),
        time,
        &register(1, bpv_details(date(2030, 6, 1), date(2030, 9, 1))),
    );
    assert!(
        matches!(r, Err(Rejection::BpvOutsideEnrolment { .. })),
        "{r:?}"
    );
    let mut other = bpv_details(date(2027, 9, 1), date(2027, 12, 1));
    other.onderdeel = BpvOnderdeel::Crebo("25655".parse().expect("crebo"));
    assert_eq!(
        h.exec(roc(), time, &register(1, other)),
        Err(Rejection::BpvOnderdeelMismatch)
    );
    other = bpv_details(date(2027, 9, 1), date(2027, 12, 1));
    other.onderdeel = BpvOnderdeel::Keuzedeel("K0999".parse().expect("code"));
    assert_eq!(
        h.exec(roc(), time, &register(1, other)),
        Err(Rejection::BpvOnderdeelMismatch)
    );
    let types = h.types(
        roc(),
        time,
        &register(1, bpv_details(date(2027, 9, 1), date(2027, 12, 1))),
    );
    assert_eq!(
        types,
        ["nl.knooppunt.praktijkovereenkomst.geregistreerd.v1"]
    );
}

#[test]
fn a_bpv_is_signed_only_after_sbb_recognises_the_leerbedrijf() {
    let mut h = Harness::after("registers the BPV");
    let student = Actor::Student { dossier: h.key };
    let sign = Command::SignPraktijkovereenkomst {
        bpv: BPV,
        ondertekenaars: BTreeSet::from([BpvOndertekenaar::Student]),
        wijze: Ondertekenwijze::Digitaal {
            transactie: "tx".to_owned(),
        },
        datum: date(2028, 8, 21),
    };
    assert_eq!(
        h.exec(student.clone(), at(2028, 8, 21, 10, 0), &sign),
        Err(Rejection::LeerbedrijfNotErkend { bpv: BPV })
    );
    let sbb = Actor::Partner {
        partner: Partner::Sbb,
    };
    let check = |erkend: bool, reden: Option<&str>| Command::RecordSbbCheck {
        bpv: BPV,
        erkend,
        reden: reden.map(str::to_owned),
        datum: date(2028, 8, 20),
    };
    // Only SBB answers for SBB.
    let r = h.exec(roc(), at(2028, 8, 20, 10, 0), &check(true, None));
    assert!(matches!(r, Err(Rejection::NotPermitted { .. })), "{r:?}");
    let r = h.exec(sbb.clone(), at(2028, 8, 20, 10, 0), &check(false, None));
    assert!(
        matches!(r, Err(Rejection::InvalidValue { .. })),
        "a refusal needs a reason: {r:?}"
    );
    h.exec(
        sbb.clone(),
        at(2028, 8, 20, 10, 0),
        &check(false, Some("E12")),
    )
    .expect("niet erkend");
    h.exec(sbb.clone(), at(2028, 8, 20, 11, 0), &check(true, None))
        .expect("erkend on re-check");
    let r = h.exec(sbb, at(2028, 8, 20, 12, 0), &check(false, Some("E12")));
    assert!(
        matches!(r, Err(Rejection::InvalidTransition { .. })),
        "{r:?}"
    );
    h.exec(student, at(2028, 8, 21, 10, 0), &sign)
        .expect("signed");
}

#[test]
fn withdrawing_an_erkenning_marks_running_bpvs() {
    let mut h = Harness::after("school signs");
    let sbb = Actor::Partner {
        partner: Partner::Sbb,
    };
    let withdraw = |lb: &str| Command::WithdrawErkenning {
        leerbedrijf: lb.parse().expect("id"),
        datum: date(2028, 10, 1),
        onderdeel: None,
    };
    assert_eq!(
        h.exec(sbb.clone(), at(2028, 10, 1, 10, 0), &withdraw("100000001")),
        Err(Rejection::NoBpvAtLeerbedrijf)
    );
    let types = h.types(sbb.clone(), at(2028, 10, 1, 10, 0), &withdraw("100018965"));
    assert_eq!(
        types,
        ["nl.knooppunt.praktijkovereenkomst.erkenning_ingetrokken.v1"]
    );
    assert!(matches!(
        h.dossier.praktijkovereenkomsten[&BPV].sbb,
        SbbCheck::Ingetrokken { .. }
    ));
    assert_eq!(
        h.exec(sbb, at(2028, 10, 2, 10, 0), &withdraw("100018965")),
        Err(Rejection::NoBpvAtLeerbedrijf)
    );
}

#[test]
fn a_withdrawal_for_one_onderdeel_marks_only_bpvs_for_it() {
    let mut h = Harness::after("school signs");
    let sbb = Actor::Partner {
        partner: Partner::Sbb,
    };
    let own = h.dossier.praktijkovereenkomsten[&BPV]
        .details
        .onderdeel
        .clone();
    let other = BpvOnderdeel::Keuzedeel("K0999".parse().expect("keuzedeel"));
    assert_ne!(own, other);
    let withdraw = |onderdeel: &BpvOnderdeel| Command::WithdrawErkenning {
        leerbedrijf: "100018965".parse().expect("id"),
        datum: date(2028, 10, 1),
        onderdeel: Some(onderdeel.clone()),
    };
    assert_eq!(
        h.exec(sbb.clone(), at(2028, 10, 1, 10, 0), &withdraw(&other)),
        Err(Rejection::NoBpvAtLeerbedrijf)
    );
    assert!(matches!(
        h.dossier.praktijkovereenkomsten[&BPV].sbb,
        SbbCheck::Erkend { .. }
    ));
    let types = h.types(sbb, at(2028, 10, 1, 10, 0), &withdraw(&own));
    assert_eq!(
        types,
        ["nl.knooppunt.praktijkovereenkomst.erkenning_ingetrokken.v1"]
    );
}

#[test]
fn an_enrolment_cannot_end_before_its_running_bpv() {
    let mut h = Harness::after("school signs");
    let terminate = |datum| Command::TerminateOnderwijsovereenkomst {
        ook: OOK,
        datum,
        reden: Some("03".parse().expect("reden")),
    };
    let r = h.exec(roc(), at(2028, 10, 1, 10, 0), &terminate(date(2028, 10, 1)));
    assert!(
        matches!(r, Err(Rejection::BpvOutsideEnrolment { bpv: BPV, .. })),
        "{r:?}"
    );
    let r = h.exec(
        roc(),
        at(2028, 10, 1, 10, 0),
        &Command::TerminateOnderwijsovereenkomst {
            ook: OOK,
            datum: date(2028, 10, 1),
            reden: None,
        },
    );
    assert!(
        matches!(r, Err(Rejection::InvalidValue { .. })),
        "a signed OOK needs a reden: {r:?}"
    );
    h.exec(
        roc(),
        at(2028, 10, 1, 10, 0),
        &Command::EndPraktijkovereenkomst {
            bpv: BPV,
            datum: date(2028, 9, 30),
        },
    )
    .expect("BPV ended");
    let types = h.types(roc(), at(2028, 10, 1, 10, 0), &terminate(date(2028, 10, 1)));
    assert_eq!(types, ["nl.knooppunt.onderwijsovereenkomst.beeindigd.v1"]);
    assert_eq!(
        h.dossier.onderwijsovereenkomsten[&OOK].werkelijk_einde,
        Some(date(2028, 10, 1))
    );
}

// ---------------------------------------------------------------------------------------------
// Keuzedelen, exams, diploma
// ---------------------------------------------------------------------------------------------

#[test]
fn only_the_enrolling_or_the_guest_institution_records_a_keuzedeel_result() {
    let mut h = Harness::after("registers keuzedeel K0067");
    let result = Command::RecordKeuzedeelResultaat {
        ook: OOK,
        code: "K0067".parse().expect("code"),
        uitslag: KeuzedeelUitslag::NietBehaald,
        datum: date(2028, 1, 10),
    };
    let stranger = Actor::Institution { brin: brin("27DV") };
    let r = h.exec(stranger, at(2028, 1, 10, 10, 0), &result);
    assert!(
        matches!(
            r,
            Err(Rejection::NotPermitted {
                reason: DenyReason::NoRelation,
                ..
            })
        ),
        "{r:?}"
    );
    // The guest may not register further keuzedelen.
    let guest = Actor::Institution { brin: brin("30GT") };
    let r = h.exec(
        guest.clone(),
        at(2028, 1, 10, 10, 0),
        &Command::RegisterKeuzedeel {
            ook: OOK,
            code: "K0138".parse().expect("code"),
            gastinstelling: None,
        },
    );
    assert!(matches!(r, Err(Rejection::NotPermitted { .. })), "{r:?}");
    h.exec(guest, at(2028, 1, 10, 10, 0), &result)
        .expect("guest records");
    h.exec(roc(), at(2028, 1, 11, 10, 0), &{
        let mut c = result.clone();
        if let Command::RecordKeuzedeelResultaat { uitslag, .. } = &mut c {
            *uitslag = KeuzedeelUitslag::Behaald;
        }
        c
    })
    .expect("enrolling institution corrects");
    let k = &h.dossier.keuzedelen[0];
    assert_eq!(
        k.resultaat.as_ref().map(|r| r.vastgelegd_door.clone()),
        Some(brin("25LX"))
    );
}

#[test]
fn engels_is_only_examined_at_niveau_4() {
    let mut h = Harness::after("ROC Zuidwaard signs");
    // Turn the enrolment into a niveau-3 one by importing a second enrolment for another crebo.
    let ook3 = OokId(uuid::Uuid::from_u128(3));
    let details = OokDetails {
        aanmelding: None,
        opleiding: None,
        crebo: "25655".parse().expect("crebo"),
        niveau: Niveau::Mbo3,
        leertraject: Leertraject::Bbl,
        intensiteit: Intensiteit::DT,
        begin: date(2026, 8, 31),
        gepland_einde: date(2029, 7, 31),
    };
    let import = Command::ImportInschrijving {
        ook: ook3,
        instelling: brin("25LX"),
        details,
        inschrijvingsvolgnummer: "C3".to_owned(),
        ondertekend_op: date(2026, 8, 1),
    };
    let r = h.exec(roc(), at(2027, 9, 1, 10, 0), &import);
    assert!(
        matches!(r, Err(Rejection::NotPermitted { .. })),
        "import is a System action: {r:?}"
    );
    h.exec(Actor::System, at(2027, 9, 1, 10, 0), &import)
        .expect("imported");
    let engels = Command::RecordExamenresultaat {
        ook: ook3,
        onderdeel: ExamenOnderdeel::Generiek {
            vak: GeneriekVak::Engels,
            cijfer_ie: Some(Cijfer::clamped(70)),
            cijfer_ce: None,
        },
        datum: date(2027, 9, 1),
    };
    let r = h.exec(roc(), at(2027, 9, 2, 10, 0), &engels);
    assert!(
        matches!(r, Err(Rejection::ExamenNotApplicable { .. })),
        "{r:?}"
    );
}

#[test]
fn a_diploma_needs_a_signed_running_ook_for_its_crebo_and_ends_it() {
    let mut h = Harness::after("She signs digitally");
    let award = |crebo: &str, datum| Command::AwardDiploma {
        crebo: crebo.parse().expect("crebo"),
        datum,
    };
    assert_eq!(
        h.exec(
            Actor::System,
            at(2027, 9, 1, 10, 0),
            &award("25998", date(2027, 9, 1))
        ),
        Err(Rejection::NoSignedOok {
            crebo: "25998".parse().expect("crebo")
        })
    );
    let mut h = Harness::after("registers the BPV");
    // A BPV planned after the diploma date is outside the (then ended) enrolment.
    let r = h.exec(
        roc(),
        at(2028, 8, 25, 10, 0),
        &award("25998", date(2028, 8, 25)),
    );
    assert!(
        matches!(r, Err(Rejection::BpvOutsideEnrolment { .. })),
        "{r:?}"
    );
    let h = Harness::after("awards the diploma");
    let o = &h.dossier.onderwijsovereenkomsten[&OOK];
    assert_eq!(o.status, OokStatus::Beeindigd);
    assert_eq!(o.werkelijk_einde, Some(date(2030, 7, 1)));
    assert_eq!(o.reden_uitschrijving, Some("01".parse().expect("reden")));
    let mut h = h;
    assert_eq!(
        h.exec(
            roc(),
            at(2030, 7, 3, 10, 0),
            &award("25998", date(2030, 7, 3))
        ),
        Err(Rejection::NoSignedOok {
            crebo: "25998".parse().expect("crebo")
        })
    );
}

// ---------------------------------------------------------------------------------------------
// DUO, bekostiging, signing
// ---------------------------------------------------------------------------------------------

#[test]
fn a_definitive_bekostigingsstatus_does_not_go_back() {
    let mut h = Harness::after("voorlopige bekostigingsstatus");
    let duo = Actor::Partner {
        partner: Partner::Duo,
    };
    let status = |s| Command::RecordBekostigingsstatus {
        ook: OOK,
        teldatum: date(2027, 10, 1),
        status: s,
        bekostigbaar: true,
    };
    assert_eq!(
        h.exec(
            duo.clone(),
            at(2027, 10, 21, 10, 0),
            &status(BekostigingsStatus::Voorlopig)
        ),
        Err(Rejection::Unchanged)
    );
    h.exec(
        duo.clone(),
        at(2028, 3, 1, 10, 0),
        &status(BekostigingsStatus::Definitief),
    )
    .expect("definitief");
    let r = h.exec(
        duo,
        at(2028, 3, 2, 10, 0),
        &status(BekostigingsStatus::Voorlopig),
    );
    assert!(
        matches!(r, Err(Rejection::InvalidTransition { .. })),
        "{r:?}"
    );
    assert_eq!(h.dossier.bekostiging.len(), 1);
}

#[test]
fn duo_feedback_only_from_duo_and_signing_status_final_states_stay() {
    let mut h = Harness::after("transaction signed");
    let feedback = Command::RecordDuoFeedback {
        mutatie: uuid::Uuid::from_u128(5),
        instelling: brin("25LX"),
        uitkomst: DuoUitkomst::Afgekeurd {
            signalen: vec![Signaal {
                code: "A001".to_owned(),
                omschrijving: "afgekeurd".to_owned(),
                parameters: vec![],
            }],
        },
    };
    let r = h.exec(roc(), at(2027, 6, 6, 10, 0), &feedback);
    assert!(matches!(r, Err(Rejection::NotPermitted { .. })), "{r:?}");
    h.exec(
        Actor::Partner {
            partner: Partner::Duo,
        },
        at(2027, 6, 6, 10, 0),
        &feedback,
    )
    .expect("recorded");
    let signing = Actor::Partner {
        partner: Partner::Signing,
    };
    let r = h.exec(
        signing,
        at(2027, 6, 6, 10, 0),
        &Command::RecordSigningStatus {
            transactie: "sh-ook-0001".to_owned(),
            subject: SigningSubject::Ook(OOK),
            status: SigningStatus::InProgress,
        },
    );
    assert_eq!(
        r,
        Err(Rejection::InvalidTransition {
            part: Part::Ondertekening,
            from: "30".to_owned(),
            to: "20".to_owned()
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Values, events, serialisation
// ---------------------------------------------------------------------------------------------

#[test]
fn geboortedatum_with_unknown_parts() {
    let g: Geboortedatum = "2011-05-00".parse().expect("day unknown");
    assert_eq!((g.jaar(), g.maand(), g.dag()), (2011, Some(5), None));
    assert_eq!(g.latest(), date(2011, 5, 31));
    let g: Geboortedatum = "2011-00-00".parse().expect("month unknown");
    assert_eq!(g.latest(), date(2011, 12, 31));
    assert_eq!(g.duo_format(), "2011-00-00");
    let feb: Geboortedatum = "2012-02-00".parse().expect("leap");
    assert_eq!(feb.latest(), date(2012, 2, 29));
    for bad in [
        "2011-00-05",
        "2011-13-00",
        "2011-02-30",
        "11-05-15",
        "",
        "2011-5-15",
    ] {
        let e = bad.parse::<Geboortedatum>().expect_err(bad);
        assert_eq!(e.field, "geboortedatum");
    }
    assert_eq!(format!("{g:?}"), "Geboortedatum(***)");
    let json = serde_json::to_string(&feb).expect("json");
    assert_eq!(json, "\"2012-02-00\"");
    assert_eq!(
        serde_json::from_str::<Geboortedatum>(&json).expect("back"),
        feb
    );
}

#[test]
fn value_types_validate() {
    assert_eq!(
        "99xx:90001119"
            .parse::<KetenId>()
            .expect("ketenId")
            .as_str(),
        "99XX:90001119"
    );
    assert!("99XX-90001119".parse::<KetenId>().is_err());
    assert!("99XX:9000111".parse::<KetenId>().is_err());
    assert!("99X1:90001119".parse::<KetenId>().is_err());
    assert!("ab".parse::<ContentHash>().is_err());
    assert_eq!(ContentHash::of(b"").as_str().len(), 64);
    assert!(Cijfer::from_tenths(9).is_err() && Cijfer::from_tenths(101).is_err());
    assert!(serde_json::from_str::<Cijfer>("55").is_ok());
    assert!(serde_json::from_str::<Cijfer>("5").is_err());
    assert!(serde_json::from_str::<SigningStatus>("30").is_ok());
    assert!(serde_json::from_str::<SigningStatus>("31").is_err());
    assert!("00".parse::<RedenUitschrijving>().is_err());
    let p = Personalia {
        voornamen: " ".to_owned(),
        voorvoegsels: None,
        achternaam: "X".to_owned(),
        geboortedatum: Geboortedatum::from_date(date(2010, 1, 1)),
        geslacht: Geslacht::M,
        woongemeente: None,
        startkwalificatie: false,
    };
    assert_eq!(p.validate().expect_err("empty").field, "voornamen");
    assert_eq!(format!("{p:?}"), "Personalia(***)");
}

#[test]
fn event_type_names_are_versioned_unique_and_listed() {
    let mut seen = BTreeSet::new();
    for name in Event::TYPE_NAMES {
        assert!(
            name.starts_with("nl.knooppunt.") && name.ends_with(".v1"),
            "{name}"
        );
        assert_eq!(
            name.split('.').count(),
            5,
            "{name}: nl.knooppunt.<part>.<verb>.v1"
        );
        assert!(seen.insert(name), "{name} twice");
    }
    // Every event the journey produced has a listed name.
    let mut h = Harness::new();
    for step in demo::journey(h.key) {
        for e in h
            .exec(step.meta.actor.clone(), step.meta.time, &step.command)
            .expect("step")
        {
            assert!(
                Event::TYPE_NAMES.contains(&e.type_name()),
                "{}",
                e.type_name()
            );
        }
    }
}

#[test]
fn commands_events_and_dossiers_round_trip_through_json() {
    let mut h = Harness::new();
    for step in demo::journey(h.key) {
        let json = serde_json::to_string(&step.command).expect("command json");
        let back: Command = serde_json::from_str(&json).expect("command back");
        assert_eq!(back, step.command);
        for e in h
            .exec(step.meta.actor.clone(), step.meta.time, &step.command)
            .expect("step")
        {
            let json = serde_json::to_string(&e).expect("event json");
            let back: Event = serde_json::from_str(&json).expect("event back");
            assert_eq!(back, e);
        }
    }
    let json = serde_json::to_string(&h.dossier).expect("dossier json");
    let back: Dossier = serde_json::from_str(&json).expect("dossier back");
    assert_eq!(back, h.dossier);
    // A stored dossier from before this model (just sequence and person) still loads.
    let old: Dossier =
        serde_json::from_str(r#"{"sequence":1,"person":null}"#).expect("old dossier");
    assert_eq!(
        old,
        Dossier {
            sequence: 1,
            ..Dossier::default()
        }
    );
}

#[test]
fn rejections_carry_no_personal_data() {
    let mut h = Harness::after("DUO delivers the personal data");
    let mut p = h.dossier.personalia.clone().expect("personalia");
    p.achternaam = "\u{7}".to_owned();
    let r = h
        .exec(
            Actor::Partner {
                partner: Partner::Duo,
            },
            at(2027, 1, 16, 10, 0),
            &Command::RecordPersonalia { personalia: p },
        )
        .expect_err("control character");
    let text = format!("{r} {r:?} {}", serde_json::to_string(&r).expect("json"));
    assert!(
        !text.contains("111222333") && !text.contains("Fatima"),
        "{text}"
    );
    assert_eq!(r.code(), "invalid_value");
}

#[test]
fn status_changes_name_the_municipality_only_when_the_law_says_so() {
    let change = Command::ChangeAanmeldingStatus {
        aanmelding: AANMELDING,
        status: AanmeldStatus::Aangemeld,
    };
    let gemeente_of = |events: Vec<Event>| match events.as_slice() {
        [Event::AanmeldingStatusGewijzigd { gemeente, .. }] => gemeente.clone(),
        other => panic!("unexpected events {other:?}"),
    };
    // 15, living in Rotterdam, no startkwalificatie: the municipality is informed.
    let mut h = Harness::after("overstapdossier arrives");
    let events = h
        .exec(roc(), at(2027, 2, 12, 9, 0), &change)
        .expect("accepted");
    assert_eq!(
        gemeente_of(events).map(|g| g.to_string()),
        Some("0599".to_owned())
    );
    // With a startkwalificatie: not.
    let mut h = Harness::after("overstapdossier arrives");
    let mut p = h.dossier.personalia.clone().expect("personalia");
    p.startkwalificatie = true;
    let duo = Actor::Partner {
        partner: Partner::Duo,
    };
    h.exec(
        duo.clone(),
        at(2027, 2, 12, 8, 0),
        &Command::RecordPersonalia {
            personalia: p.clone(),
        },
    )
    .expect("recorded");
    let events = h
        .exec(roc(), at(2027, 2, 12, 9, 0), &change)
        .expect("accepted");
    assert_eq!(gemeente_of(events), None);
    // 23 or older: not.
    let mut h = Harness::after("overstapdossier arrives");
    p.startkwalificatie = false;
    p.geboortedatum = Geboortedatum::from_date(date(2004, 1, 1));
    h.exec(
        duo,
        at(2027, 2, 12, 8, 0),
        &Command::RecordPersonalia { personalia: p },
    )
    .expect("recorded");
    let events = h
        .exec(roc(), at(2027, 2, 12, 9, 0), &change)
        .expect("accepted");
    assert_eq!(gemeente_of(events), None);
}

#[test]
fn cambo_may_only_withdraw_an_aanmelding() {
    let mut h = Harness::after("applies for Software Developer");
    let cambo = Actor::Partner {
        partner: Partner::Cambo,
    };
    let change = |status| Command::ChangeAanmeldingStatus {
        aanmelding: AANMELDING,
        status,
    };
    let r = h.exec(
        cambo.clone(),
        at(2027, 2, 12, 9, 0),
        &change(AanmeldStatus::Aangemeld),
    );
    assert!(
        matches!(
            r,
            Err(Rejection::NotPermitted {
                reason: DenyReason::CommandNotAllowed,
                ..
            })
        ),
        "{r:?}"
    );
    h.exec(
        cambo,
        at(2027, 2, 12, 9, 0),
        &change(AanmeldStatus::Ingetrokken),
    )
    .expect("withdrawn");
}

#[test]
fn a_concept_ook_is_offered_later_and_an_offer_needs_an_aangemeld_aanmelding() {
    let mut h = Harness::after("applies for Software Developer");
    let details = OokDetails {
        aanmelding: Some(AANMELDING),
        opleiding: Some(demo::SOFTWARE_DEVELOPER),
        crebo: "25998".parse().expect("crebo"),
        niveau: Niveau::Mbo4,
        leertraject: Leertraject::Bol,
        intensiteit: Intensiteit::VT,
        begin: date(2027, 8, 30),
        gepland_einde: date(2030, 7, 31),
    };
    let draft = Command::DraftOnderwijsovereenkomst {
        ook: OOK,
        instelling: brin("25LX"),
        details: details.clone(),
    };
    let offer = Command::OfferOnderwijsovereenkomst {
        ook: OOK,
        instelling: brin("25LX"),
        details,
    };
    let types = h.types(roc(), at(2027, 2, 11, 9, 0), &draft);
    assert_eq!(types, ["nl.knooppunt.onderwijsovereenkomst.opgesteld.v1"]);
    assert_eq!(
        h.exec(roc(), at(2027, 2, 11, 9, 0), &draft),
        Err(Rejection::OokExists { ook: OOK })
    );
    // The aanmelding is still `ontvangen`: no offer yet.
    assert_eq!(
        h.exec(roc(), at(2027, 2, 11, 10, 0), &offer),
        Err(Rejection::InvalidTransition {
            part: Part::VaStatus,
            from: "ontvangen".to_owned(),
            to: "ook_aangeboden".to_owned()
        })
    );
    h.exec(
        roc(),
        at(2027, 2, 12, 9, 0),
        &Command::ChangeAanmeldingStatus {
            aanmelding: AANMELDING,
            status: AanmeldStatus::Aangemeld,
        },
    )
    .expect("aangemeld");
    h.exec(roc(), at(2027, 2, 12, 10, 0), &offer)
        .expect("the concept is offered");
    assert_eq!(
        h.dossier.onderwijsovereenkomsten[&OOK].status,
        OokStatus::Aangeboden
    );
    assert_eq!(
        h.exec(roc(), at(2027, 2, 12, 11, 0), &offer),
        Err(Rejection::OokExists { ook: OOK })
    );
}

#[test]
fn krd_parts_need_an_institution_at_level_krd() {
    let mut h = Harness::after("ROC Zuidwaard signs");
    // Move 25LX down to `aanmelden`: BPV, keuzedelen, exams and diplomas are refused.
    if let Some(i) = h.reference.institutions.get_mut(&brin("25LX")) {
        i.participatie = Participation::Aanmelden;
    }
    let r = h.exec(
        roc(),
        at(2027, 9, 15, 9, 0),
        &Command::RegisterKeuzedeel {
            ook: OOK,
            code: "K0067".parse().expect("code"),
            gastinstelling: None,
        },
    );
    assert_eq!(
        r,
        Err(Rejection::ParticipationTooLow {
            instelling: brin("25LX"),
            level: Participation::Aanmelden,
            required: Participation::Krd,
        })
    );
    // Knooppunt's own RO import (`Actor::System`) prepares the move to `krd`, which needs it
    // done: it may write the krd parts from `aanmelden` up, not at `va`.
    let diploma = Command::AwardDiploma {
        crebo: "25998".parse().expect("crebo"),
        datum: date(2027, 9, 15),
    };
    if let Some(i) = h.reference.institutions.get_mut(&brin("25LX")) {
        i.participatie = Participation::Va;
    }
    let r = h.exec(Actor::System, at(2027, 9, 15, 9, 0), &diploma);
    assert_eq!(
        r,
        Err(Rejection::ParticipationTooLow {
            instelling: brin("25LX"),
            level: Participation::Va,
            required: Participation::Aanmelden,
        })
    );
    if let Some(i) = h.reference.institutions.get_mut(&brin("25LX")) {
        i.participatie = Participation::Aanmelden;
    }
    let r = h.exec(Actor::System, at(2027, 9, 15, 9, 0), &diploma);
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn a_signing_transaction_belongs_to_one_agreement() {
    let mut h = Harness::after("transaction in progress");
    let signing = Actor::Partner {
        partner: Partner::Signing,
    };
    let r = h.exec(
        signing.clone(),
        at(2027, 6, 3, 19, 0),
        &Command::RecordSigningStatus {
            transactie: "sh-ook-0001".to_owned(),
            subject: SigningSubject::Bpv(BPV),
            status: SigningStatus::Signed,
        },
    );
    assert_eq!(r, Err(Rejection::UnknownBpv { bpv: BPV }));
    let r = h.exec(
        signing,
        at(2027, 6, 3, 19, 0),
        &Command::RecordSigningStatus {
            transactie: "sh-ook-0001".to_owned(),
            subject: SigningSubject::Ook(OokId(uuid::Uuid::from_u128(9))),
            status: SigningStatus::Signed,
        },
    );
    assert_eq!(
        r,
        Err(Rejection::UnknownOok {
            ook: OokId(uuid::Uuid::from_u128(9))
        })
    );
}

// ---------------------------------------------------------------------------------------------
// VA partners reporting a refused status
// ---------------------------------------------------------------------------------------------

fn afwijzing(partner: &str, reden: &str) -> Command {
    Command::RecordVaAfwijzing {
        aanmelding: AANMELDING,
        partner: partner.parse().expect("a known partner"),
        reden: reden.to_owned(),
    }
}

fn partner(name: &str) -> Actor {
    Actor::Partner {
        partner: name.parse().expect("a known partner"),
    }
}

/// The wire names of the VA recipients.
fn va_partners() -> Vec<&'static str> {
    Partner::ALL
        .into_iter()
        .filter(|p| p.is_va_recipient())
        .map(Partner::as_str)
        .collect()
}

#[test]
fn a_va_partner_reports_a_refused_status_to_the_institution_and_nothing_else_changes() {
    for name in va_partners() {
        let mut h = Harness::after("confirms: aangemeld");
        let before = h.dossier.clone();
        let events = h
            .exec(
                partner(name),
                at(2027, 2, 12, 10, 0),
                &afwijzing(name, "status_onbekend"),
            )
            .expect("recorded");
        assert_eq!(
            events,
            vec![Event::AanmeldingStatusAfgewezen {
                aanmelding: AANMELDING,
                instelling: brin("25LX"),
                status: AanmeldStatus::Aangemeld,
                partner: name.parse().unwrap(),
                reden: "status_onbekend".to_owned(),
            }]
        );
        let e = &events[0];
        assert_eq!(e.type_name(), "nl.knooppunt.aanmelding.status_afgewezen.v1");
        assert!(Event::TYPE_NAMES.contains(&e.type_name()));
        assert_eq!(
            e.institution(),
            Some(brin("25LX")),
            "the institution is told"
        );
        assert_eq!(e.part(), Part::VaStatus);
        // Applying it changes nothing but the sequence.
        let mut after = h.dossier.clone();
        after.sequence = before.sequence;
        assert_eq!(after, before);
        assert_eq!(h.dossier.sequence, before.sequence + 1);
    }
    // Knooppunt itself may record one too.
    let mut h = Harness::after("confirms: aangemeld");
    h.exec(
        Actor::System,
        at(2027, 2, 12, 10, 0),
        &afwijzing("koppelpunt", "rejected"),
    )
    .expect("system records");
    assert_eq!(
        Command::RecordVaAfwijzing {
            aanmelding: AANMELDING,
            partner: Partner::Voroc,
            reden: "x".to_owned()
        }
        .name(),
        "record_va_afwijzing"
    );
}

#[test]
fn a_va_afwijzing_from_anyone_else_or_with_bad_codes_is_refused() {
    let mut h = Harness::after("confirms: aangemeld");
    let when = at(2027, 2, 12, 10, 0);
    // Other partners, the institution, the student: not allowed.
    for actor in [
        partner("duo"),
        partner("cambo"),
        roc(),
        Actor::Student { dossier: h.key },
    ] {
        let r = h.exec(actor.clone(), when, &afwijzing("koppelpunt", "rejected"));
        assert!(
            matches!(
                r,
                Err(Rejection::NotPermitted {
                    part: Part::VaStatus,
                    ..
                })
            ),
            "{actor:?}: {r:?}"
        );
    }
    // Codes: non-empty, at most 64 of [a-z0-9_.-].
    for (p, reden, field) in [
        ("koppelpunt", "", "reden"),
        ("koppelpunt", "Fatima van der Berg", "reden"),
        ("koppelpunt", "111222333 onbekend", "reden"),
        ("koppelpunt", "bsn-111222333", "reden"),
        ("koppelpunt", &"x".repeat(65), "reden"),
        ("sbb", "rejected", "partner"),
    ] {
        let r = h.exec(Actor::System, when, &afwijzing(p, reden));
        match r {
            Err(Rejection::InvalidValue { field: f, .. }) => assert_eq!(f, field, "{p}/{reden}"),
            other => panic!("{p}/{reden}: {other:?}"),
        }
    }
    h.exec(
        Actor::System,
        when,
        &afwijzing("koppelpunt", &"x".repeat(64)),
    )
    .expect("64 characters fit");
    // A partner outside the closed set cannot even be named: such a command does not parse.
    for name in ["", "facebook", "Koppelpunt"] {
        let json = serde_json::json!({
            "command": "record_va_afwijzing",
            "aanmelding": AANMELDING,
            "partner": name,
            "reden": "rejected",
        });
        assert!(
            serde_json::from_value::<Command>(json).is_err(),
            "partner {name:?} parsed"
        );
    }
    // A partner reports its own refusals only.
    let r = h.exec(partner("intergrip"), when, &afwijzing("voroc", "rejected"));
    assert!(
        matches!(r, Err(Rejection::InvalidValue { ref field, .. }) if field == "partner"),
        "{r:?}"
    );
    // An unknown aanmelding is a typed rejection.
    let unknown = AanmeldingId(uuid::Uuid::from_u128(99));
    let r = h.exec(
        partner("koppelpunt"),
        when,
        &Command::RecordVaAfwijzing {
            aanmelding: unknown,
            partner: Partner::Koppelpunt,
            reden: "rejected".to_owned(),
        },
    );
    assert_eq!(
        r,
        Err(Rejection::UnknownAanmelding {
            aanmelding: unknown
        })
    );
}

#[test]
fn va_partners_may_not_change_a_status_themselves() {
    let mut h = Harness::after("applies for Software Developer");
    for name in va_partners() {
        let r = h.exec(
            partner(name),
            at(2027, 2, 12, 9, 0),
            &Command::ChangeAanmeldingStatus {
                aanmelding: AANMELDING,
                status: AanmeldStatus::Ingetrokken,
            },
        );
        assert!(
            matches!(
                r,
                Err(Rejection::NotPermitted {
                    reason: DenyReason::CommandNotAllowed,
                    ..
                })
            ),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn duos_lookup_answer_records_what_is_new_or_changed_as_one_effect() {
    let mut h = Harness::after("DUO delivers the personal data");
    let duo = Actor::Partner {
        partner: Partner::Duo,
    };
    let personalia = h.dossier.personalia.clone().expect("personalia");
    let vmbo = Vooropleiding {
        instelling: Some(brin("19XY")),
        opleiding: "VMBO-KB".to_owned(),
        omschrijving: "vmbo kaderberoepsgerichte leerweg".to_owned(),
        vanaf: None,
        tot_en_met: None,
        diploma_behaald: false,
        datum_uitslag: None,
    };
    let lookup = |personalia: Personalia, vooropleidingen: Vec<Vooropleiding>| {
        Command::RecordPersoonEnVooropleidingen {
            personalia,
            vooropleidingen,
        }
    };
    let time = at(2027, 1, 16, 10, 0);
    let before = h.dossier.vooropleidingen.len();
    // Known personalia, a new vooropleiding (twice in the answer): one event, recorded once.
    assert_eq!(
        h.types(
            duo.clone(),
            time,
            &lookup(personalia.clone(), vec![vmbo.clone(), vmbo.clone()])
        ),
        vec!["nl.knooppunt.vooropleiding.vastgelegd.v1"]
    );
    assert_eq!(h.dossier.vooropleidingen.len(), before + 1);
    // The same answer again changes nothing.
    assert_eq!(
        h.exec(
            duo.clone(),
            time,
            &lookup(personalia.clone(), vec![vmbo.clone()])
        ),
        Err(Rejection::Unchanged)
    );
    // Changed personalia and the diploma obtained: both recorded, the vooropleiding replaced.
    let mut moved = personalia.clone();
    moved.startkwalificatie = true;
    let mut diploma = vmbo.clone();
    diploma.diploma_behaald = true;
    assert_eq!(
        h.types(duo.clone(), time, &lookup(moved.clone(), vec![diploma])),
        vec![
            "nl.knooppunt.personalia.vastgelegd.v1",
            "nl.knooppunt.vooropleiding.vastgelegd.v1"
        ]
    );
    assert_eq!(h.dossier.vooropleidingen.len(), before + 1);
    assert!(
        h.dossier
            .personalia
            .as_ref()
            .is_some_and(|p| p.startkwalificatie)
    );
    // An invalid vooropleiding refuses the whole answer; an institution may not answer for DUO.
    let mut empty = vmbo.clone();
    empty.opleiding = String::new();
    assert!(matches!(
        h.exec(duo, time, &lookup(moved.clone(), vec![empty])),
        Err(Rejection::InvalidValue { field, .. }) if field == "opleiding"
    ));
    assert!(matches!(
        h.exec(roc(), time, &lookup(moved, vec![vmbo])),
        Err(Rejection::NotPermitted { .. })
    ));
}

#[test]
fn an_offered_ook_says_whether_a_parent_must_sign() {
    let offer = Command::OfferOnderwijsovereenkomst {
        ook: OOK,
        instelling: brin("25LX"),
        details: OokDetails {
            aanmelding: Some(AANMELDING),
            opleiding: Some(demo::SOFTWARE_DEVELOPER),
            crebo: "25998".parse().expect("crebo"),
            niveau: Niveau::Mbo4,
            leertraject: Leertraject::Bol,
            intensiteit: Intensiteit::VT,
            begin: date(2027, 8, 30),
            gepland_einde: date(2030, 7, 31),
        },
    };
    let ouder_tekent = |events: Vec<Event>| {
        events
            .iter()
            .find_map(|e| match e {
                Event::OnderwijsovereenkomstAangeboden { ouder_tekent, .. } => Some(*ouder_tekent),
                _ => None,
            })
            .expect("an offered event")
    };
    // The demo student is 16 on the day of the offer.
    let mut minor = Harness::after("confirms: aangemeld");
    let events = minor
        .exec(roc(), at(2027, 6, 1, 9, 0), &offer)
        .expect("offered");
    assert!(ouder_tekent(events));
    // The same student, born 20 years earlier according to DUO, is an adult.
    let mut adult = Harness::after("confirms: aangemeld");
    let mut personalia = adult.dossier.personalia.clone().expect("personalia");
    personalia.geboortedatum = Geboortedatum::from_date(date(1991, 5, 15));
    adult
        .exec(
            Actor::Partner {
                partner: Partner::Duo,
            },
            at(2027, 5, 1, 9, 0),
            &Command::RecordPersonalia { personalia },
        )
        .expect("recorded");
    let events = adult
        .exec(roc(), at(2027, 6, 1, 9, 0), &offer)
        .expect("offered");
    assert!(!ouder_tekent(events));
}

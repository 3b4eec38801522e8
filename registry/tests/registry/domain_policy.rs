//! The access policy, table-driven: every actor × every part × (read, change), with the
//! expected answer written out.
//!
//! The fixture dossier (a 16-year-old on 2027-09-01) has:
//! - a signed OOK at 25LX (so 25LX has its own student; bevoegd gezag 100B490; 25LX is in
//!   samenwerkingsverband "SWV Rijnmond" together with 31HH);
//! - an aanmelding at 28AB with consent for personalia, vooropleidingen and overstapdossier;
//! - an aanmelding at 27DV without consent, sent by VO school 19XY;
//! - a keuzedeel of the 25LX enrolment taken at guest institution 30GT.
//!
//! Cell codes: `read/change`; a ground (`own`, `parent`, `student` = own student, `consent`,
//! `aanm`, `guest`, `swv`, `bg`, `send`, `rec` = own records, `partner`, `ops`, `sys`) or a
//! refusal (`!other`, `!adult`, `!none`, `!rel`, `!ops`, `!part`, `!app`).

use std::collections::{BTreeSet, HashSet};

use chrono::{NaiveDate, TimeZone, Utc};
use knooppunt_registry::domain::*;
use knooppunt_registry::envelope::{Actor, DossierKey};
use knooppunt_registry::ids::{Brin, PersonId};
use knooppunt_registry::policy::{self, Access, Decision, DenyReason, Ground, Part, Subject};
use knooppunt_registry::reference::{
    Institution, Leertraject, Niveau, Participation, ReferenceData,
};
use knooppunt_sample as demo;

const PARTS: [&str; 14] = [
    "personalia",
    "vooropleidingen",
    "aanmeldingen",
    "va_status",
    "toestemmingen",
    "overstapdossier",
    "onderwijsovereenkomsten",
    "praktijkovereenkomsten",
    "keuzedelen",
    "examenresultaten",
    "diplomas",
    "duo_terugkoppeling",
    "ondertekening",
    "history",
];

#[rustfmt::skip]
const TABLE: &[(&str, [&str; 14])] = &[
    //                   personalia        vooropl.          aanmeldingen      va_status         toestemmingen     overstap          ook               bpv               keuzedelen        examens           diplomas          duo               ondertekening     history
    ("student",         ["own/!rel",       "own/!rel",       "own/own",        "own/own",        "own/own",        "own/!rel",       "own/own",        "own/own",        "own/!rel",       "own/!rel",       "own/!rel",       "own/!rel",       "own/!rel",       "own/!app"]),
    ("other_student",   ["!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!other",  "!other/!app"]),
    ("parent_minor",    ["parent/!rel",    "parent/!rel",    "parent/parent",  "parent/parent",  "parent/parent",  "parent/!rel",    "parent/parent",  "parent/parent",  "parent/!rel",    "parent/!rel",    "parent/!rel",    "parent/!rel",    "parent/!rel",    "parent/!app"]),
    ("parent_adult",    ["!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!adult",  "!adult/!app"]),
    ("own_student",     ["student/!rel",   "student/!rel",   "student/student","student/student","!rel/!rel",      "!rel/!rel",      "student/student","student/student","student/student","student/student","student/student","student/!rel",   "student/!rel",   "!rel/!app"]),
    ("consent",         ["consent/!rel",   "consent/!rel",   "aanm/aanm",      "aanm/aanm",      "!rel/!rel",      "consent/!rel",   "aanm/aanm",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "aanm/!rel",      "!rel/!app"]),
    ("aanmelding",      ["!rel/!rel",      "!rel/!rel",      "aanm/aanm",      "aanm/aanm",      "!rel/!rel",      "!rel/!rel",      "aanm/aanm",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "aanm/!rel",      "!rel/!app"]),
    ("guest",           ["guest/!rel",     "!rel/!rel",      "!rel/rec",       "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "guest/guest",    "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!app"]),
    ("samenwerking",    ["swv/!rel",       "!rel/!rel",      "!rel/rec",       "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "swv/!rel",       "!rel/!rel",      "swv/!rel",       "swv/!rel",       "swv/!rel",       "!rel/!rel",      "!rel/!rel",      "!rel/!app"]),
    ("bevoegd_gezag",   ["bg/!rel",        "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "bg/!rel",        "bg/!rel",        "bg/!rel",        "bg/!rel",        "bg/!rel",        "bg/!rel",        "!rel/!rel",      "!rel/!app"]),
    ("other_bestuur",   ["!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!app"]),
    ("sending_school",  ["!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "send/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!rel",      "!rel/!app"]),
    ("unrelated_mbo",   ["!none/!none",    "!none/!none",    "!none/rec",      "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!app"]),
    ("unrelated_vo",    ["!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!none",    "!none/!app"]),
    ("operator",        ["!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "!ops/!ops",      "ops/!app"]),
    ("duo",             ["partner/partner","!part/partner",  "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "partner/!part",  "partner/!part",  "partner/!part",  "partner/!part",  "partner/!part",  "partner/partner","!part/!part",    "!part/!app"]),
    ("sbb",             ["!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("signing",         ["!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","!part/!app"]),
    ("cambo",           ["!part/!part",    "!part/!part",    "partner/partner","partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("oso",             ["!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/partner",  "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("koppelpunt",      ["!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("intergrip",       ["!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("digidoor",        ["!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("voroc",           ["!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("gemeenten",       ["!part/!part",    "!part/!part",    "!part/!part",    "partner/partner","!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("rio",             ["!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("digid",           ["!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!part",    "!part/!app"]),
    ("system",          ["sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/sys",        "sys/!app"]),
];

fn brin(s: &str) -> Brin {
    s.parse().expect("test BRIN")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

fn reference() -> ReferenceData {
    let mut r = demo::reference_data();
    // The guest institution is not in the samenwerkingsverband here, so the two relations stay
    // apart; 31HH is the samenwerkingsschool, 32KK an unrelated mbo institution.
    if let Some(i) = r.institutions.get_mut(&brin("30GT")) {
        i.samenwerkingsverband = None;
    }
    for (code, naam, aanbieder, verband) in [
        ("31HH", "Techniek College", "104A001", Some("SWV Rijnmond")),
        ("32KK", "ROC Elders", "105A001", None),
    ] {
        let b = brin(code);
        r.institutions.insert(
            b.clone(),
            Institution {
                oin: b.oin(),
                brin: b,
                naam: naam.to_owned(),
                aanbieder: aanbieder.parse().expect("test code"),
                participatie: Participation::Krd,
                bevoegd_gezag: "100B777".parse().expect("test code"),
                samenwerkingsverband: verband.map(str::to_owned),
            },
        );
    }
    r
}

fn aanmelding(id: u128, instelling: &str, school: Option<&str>) -> Event {
    Event::AanmeldingIngediend {
        aanmelding: Aanmelding {
            id: AanmeldingId(uuid::Uuid::from_u128(id)),
            instelling: brin(instelling),
            opleiding: uuid::Uuid::from_u128(id),
            crebo: "25311".parse().expect("crebo"),
            cohort: "2027-2028".to_owned(),
            ingediend_op: Utc.with_ymd_and_hms(2027, 2, 1, 10, 0, 0).unwrap(),
            toelatingsrecht: true,
            status: AanmeldStatus::Aangemeld,
            toeleverende_school: school.map(brin),
            externe_referentie: None,
        },
    }
}

fn fixture() -> Dossier {
    let ook = OokId(uuid::Uuid::from_u128(7));
    let details = OokDetails {
        aanmelding: None,
        opleiding: None,
        crebo: "25998".parse().expect("crebo"),
        niveau: Niveau::Mbo4,
        leertraject: Leertraject::Bol,
        intensiteit: Intensiteit::VT,
        begin: date(2027, 8, 30),
        gepland_einde: date(2030, 7, 31),
    };
    let events = vec![
        Event::DossierOpened {
            person: Person {
                id: PersonId::parse_either("111222333").expect("bsn"),
            },
        },
        Event::PersonaliaVastgelegd {
            personalia: Personalia {
                voornamen: "Test".to_owned(),
                voorvoegsels: None,
                achternaam: "Persoon".to_owned(),
                geboortedatum: Geboortedatum::from_date(date(2011, 5, 15)),
                geslacht: Geslacht::O,
                woongemeente: None,
                startkwalificatie: false,
            },
        },
        aanmelding(1, "28AB", None),
        aanmelding(2, "27DV", Some("19XY")),
        Event::ToestemmingVerleend {
            instelling: brin("28AB"),
            scopes: BTreeSet::from([
                Part::Personalia,
                Part::Vooropleidingen,
                Part::Overstapdossier,
            ]),
            op: Utc.with_ymd_and_hms(2027, 2, 1, 10, 0, 0).unwrap(),
        },
        Event::OnderwijsovereenkomstAangeboden {
            ook,
            instelling: brin("25LX"),
            details: details.clone(),
            ouder_tekent: false,
        },
        Event::OnderwijsovereenkomstOndertekend {
            ook,
            instelling: brin("25LX"),
            datum: date(2027, 6, 5),
            details,
        },
        Event::KeuzedeelGeregistreerd {
            keuzedeel: Keuzedeel {
                code: "K0067".parse().expect("code"),
                ook,
                instelling: brin("25LX"),
                gastinstelling: Some(brin("30GT")),
                resultaat: None,
            },
        },
    ];
    let mut d = Dossier::default();
    for e in &events {
        d.apply(e);
    }
    d
}

fn actor(label: &str, key: DossierKey) -> (Actor, NaiveDate) {
    let minor_day = date(2027, 9, 1);
    let institution = |b: &str| Actor::Institution { brin: brin(b) };
    let partner = |p: &str| Actor::Partner {
        partner: p.parse().expect("a known partner"),
    };
    let a = match label {
        "student" => Actor::Student { dossier: key },
        "other_student" => Actor::Student {
            dossier: DossierKey::new(),
        },
        "parent_minor" => Actor::Parent { dossier: key },
        "parent_adult" => return (Actor::Parent { dossier: key }, date(2030, 1, 1)),
        "own_student" => institution("25LX"),
        "consent" => institution("28AB"),
        "aanmelding" => institution("27DV"),
        "guest" => institution("30GT"),
        "samenwerking" => institution("31HH"),
        "bevoegd_gezag" => Actor::BevoegdGezag {
            bestuur: "100B490".parse().expect("code"),
        },
        "other_bestuur" => Actor::BevoegdGezag {
            bestuur: "100B499".parse().expect("code"),
        },
        "sending_school" => institution("19XY"),
        "unrelated_mbo" => institution("32KK"),
        "unrelated_vo" => institution("20AB"),
        "operator" => Actor::Operator {
            name: "beheerder1".to_owned(),
        },
        "duo" | "sbb" | "rio" | "signing" | "digid" | "cambo" | "oso" | "koppelpunt"
        | "intergrip" | "digidoor" | "voroc" | "gemeenten" => partner(label),
        "system" => Actor::System,
        other => panic!("no actor for table row {other}"),
    };
    (a, minor_day)
}

fn code(d: Decision) -> &'static str {
    match d {
        Decision::Allow { ground } => match ground {
            Ground::OwnDossier => "own",
            Ground::ParentOfMinor => "parent",
            Ground::OwnStudent => "student",
            Ground::Consent => "consent",
            Ground::Aanmelding => "aanm",
            Ground::GuestInstitution => "guest",
            Ground::Samenwerkingsschool => "swv",
            Ground::BevoegdGezag => "bg",
            Ground::SendingSchool => "send",
            Ground::OwnRecords => "rec",
            Ground::PartnerTask => "partner",
            Ground::OperationalMetadata => "ops",
            Ground::System => "sys",
        },
        Decision::Deny { reason } => match reason {
            DenyReason::OtherDossier => "!other",
            DenyReason::NoLongerMinor => "!adult",
            DenyReason::NoRelation => "!none",
            DenyReason::NotForThisRelation => "!rel",
            DenyReason::OperatorNoPersonalData => "!ops",
            DenyReason::PartnerNotConcerned => "!part",
            DenyReason::AppendOnly => "!app",
            DenyReason::OtherInstitution => "!inst",
            DenyReason::CommandNotAllowed => "!cmd",
        },
    }
}

fn actor_kind(a: &Actor) -> &'static str {
    match a {
        Actor::Student { .. } => "student",
        Actor::Parent { .. } => "parent",
        Actor::Institution { .. } => "institution",
        Actor::BevoegdGezag { .. } => "bevoegd_gezag",
        Actor::Partner { .. } => "partner",
        Actor::Operator { .. } => "operator",
        Actor::System => "system",
    }
}

#[test]
fn every_actor_part_and_access_answers_as_the_table_says() {
    let key = DossierKey::new();
    let dossier = fixture();
    let reference = reference();
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut kinds = HashSet::new();
    for (label, cells) in TABLE {
        let (a, on) = actor(label, key);
        kinds.insert(actor_kind(&a));
        let subject = Subject {
            key,
            dossier: &dossier,
            reference: &reference,
            on,
        };
        for (i, part) in Part::ALL.iter().enumerate() {
            assert_eq!(part.as_str(), PARTS[i], "table columns follow Part::ALL");
            let (read, change) = cells[i].split_once('/').expect("cell is read/change");
            for (access, want) in [(Access::Read, read), (Access::Change, change)] {
                let got = code(policy::decide(&a, &subject, *part, access));
                checked += 1;
                if got != want {
                    failures.push(format!("{label} {access} {part}: want {want}, got {got}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "policy differs from the table:\n{}",
        failures.join("\n")
    );
    assert_eq!(checked, TABLE.len() * Part::ALL.len() * 2);
    // Every kind of actor and every known partner appears in the table.
    assert_eq!(kinds.len(), 7, "every Actor variant is covered");
    for p in knooppunt_registry::partner::Partner::ALL {
        assert!(
            TABLE.iter().any(|(l, _)| *l == p.as_str()),
            "partner {p} in the table"
        );
    }
}

#[test]
fn a_withdrawn_consent_grants_nothing() {
    let key = DossierKey::new();
    let mut dossier = fixture();
    dossier.apply(&Event::ToestemmingIngetrokken {
        instelling: brin("28AB"),
        op: Utc.with_ymd_and_hms(2027, 3, 1, 10, 0, 0).unwrap(),
    });
    let reference = reference();
    let subject = Subject {
        key,
        dossier: &dossier,
        reference: &reference,
        on: date(2027, 9, 1),
    };
    let a = Actor::Institution { brin: brin("28AB") };
    assert_eq!(
        policy::decide(&a, &subject, Part::Personalia, Access::Read),
        Decision::Deny {
            reason: DenyReason::NotForThisRelation
        }
    );
    // The aanmelding relation stays.
    assert!(policy::decide(&a, &subject, Part::VaStatus, Access::Read).is_allowed());
}

#[test]
fn a_parent_with_unknown_birth_day_may_act_until_the_latest_possible_birthday() {
    let key = DossierKey::new();
    let mut dossier = fixture();
    let mut p = dossier.personalia.clone().expect("personalia");
    // Born in May 2011, day unknown: the latest possible birth date is 31 May 2011, so the
    // student may be a minor up to and including 30 May 2029.
    p.geboortedatum = Geboortedatum::new(2011, Some(5), None).expect("valid");
    dossier.apply(&Event::PersonaliaVastgelegd { personalia: p });
    let reference = reference();
    let parent = Actor::Parent { dossier: key };
    for (on, allowed) in [
        (date(2029, 5, 1), true),
        (date(2029, 5, 30), true),
        (date(2029, 5, 31), false),
    ] {
        let subject = Subject {
            key,
            dossier: &dossier,
            reference: &reference,
            on,
        };
        assert_eq!(
            policy::decide(&parent, &subject, Part::Diplomas, Access::Read).is_allowed(),
            allowed,
            "on {on}"
        );
    }
}

#[test]
fn a_vestiging_brin_acts_for_its_instelling() {
    let key = DossierKey::new();
    let dossier = fixture();
    let reference = reference();
    let subject = Subject {
        key,
        dossier: &dossier,
        reference: &reference,
        on: date(2027, 9, 1),
    };
    let vestiging = Actor::Institution {
        brin: brin("25LX01"),
    };
    assert_eq!(
        policy::decide(
            &vestiging,
            &subject,
            Part::Onderwijsovereenkomsten,
            Access::Change
        ),
        Decision::Allow {
            ground: Ground::OwnStudent
        }
    );
}

#[test]
fn an_unknown_partner_cannot_be_named() {
    // The closed type is the guard: an actor naming another partner does not even parse, so it
    // never reaches the policy.
    for name in ["facebook", "", "DUO"] {
        let json = serde_json::json!({ "kind": "partner", "partner": name });
        assert!(
            serde_json::from_value::<Actor>(json).is_err(),
            "{name:?} parsed"
        );
    }
}

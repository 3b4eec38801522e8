//! Property tests: random command sequences (after a random prefix of the demo journey) by
//! random actors against the demo reference data. After every command the invariants hold:
//! - an `ingeschreven` aanmelding has a signed OOK at its institution;
//! - every BPV lies within its enrolment;
//! - at most one active OOK per crebo;
//! - the sequence counts the applied events, one by one, without gaps;
//! - `decide` is pure and deterministic: a rejected command leaves the dossier unchanged, and
//!   replaying all events on an empty dossier gives the same state.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use knooppunt_registry::domain::institution::Levels;
use knooppunt_registry::domain::*;
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::{Brin, Crebo, PersonId};
use knooppunt_registry::policy::Part;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_sample as demo;
use proptest::prelude::*;
use uuid::Uuid;

const DATES: [(i32, u32, u32); 12] = [
    (2027, 1, 15),
    (2027, 3, 31),
    (2027, 6, 1),
    (2027, 8, 30),
    (2027, 10, 1),
    (2028, 1, 15),
    (2028, 9, 1),
    (2029, 1, 31),
    (2029, 6, 30),
    (2030, 7, 1),
    (2030, 8, 1),
    (2031, 1, 1),
];

fn day(i: u8) -> NaiveDate {
    let (y, m, d) = DATES[usize::from(i) % DATES.len()];
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn brin(s: &str) -> Brin {
    s.parse().expect("brin")
}

fn pick<T: Clone>(xs: &[T], i: u8) -> T {
    xs[usize::from(i) % xs.len()].clone()
}

fn ooks() -> [OokId; 3] {
    [
        demo::OOK,
        OokId(Uuid::from_u128(2)),
        OokId(Uuid::from_u128(3)),
    ]
}

fn bpvs() -> [BpvId; 3] {
    [
        demo::BPV,
        BpvId(Uuid::from_u128(2)),
        BpvId(Uuid::from_u128(3)),
    ]
}

fn aanmeldingen() -> [AanmeldingId; 3] {
    [
        demo::AANMELDING,
        AanmeldingId(Uuid::from_u128(2)),
        AanmeldingId(Uuid::from_u128(3)),
    ]
}

const OPLEIDINGEN: [Uuid; 4] = [
    demo::SOFTWARE_DEVELOPER,
    demo::VERZORGENDE_IG,
    demo::ENTREE,
    demo::TIMMERMAN,
];

fn actor(i: u8, key: DossierKey) -> Actor {
    let partner = |p: &str| Actor::Partner {
        partner: p.parse().expect("a known partner"),
    };
    match i % 12 {
        0 => Actor::Student { dossier: key },
        1 => Actor::Parent { dossier: key },
        2 => Actor::Institution { brin: brin("25LX") },
        3 => Actor::Institution { brin: brin("30GT") },
        4 => Actor::Institution { brin: brin("27DV") },
        5 => partner("duo"),
        6 => partner("sbb"),
        7 => partner("signing"),
        8 => partner("oso"),
        9 => partner("cambo"),
        _ => Actor::System,
    }
}

fn ook_details(
    r: &ReferenceData,
    opl: u8,
    aanmelding: Option<AanmeldingId>,
    begin: u8,
) -> (Brin, OokDetails) {
    let o = &r.opleidingen[&pick(&OPLEIDINGEN, opl)];
    let begin = day(begin);
    let einde = NaiveDate::from_ymd_opt(begin.year() + 2, 7, 31).expect("date");
    (
        o.instelling.clone(),
        OokDetails {
            aanmelding,
            opleiding: Some(o.id),
            crebo: o.crebo.clone(),
            niveau: o.niveau,
            leertraject: o.leertraject,
            intensiteit: Intensiteit::VT,
            begin,
            gepland_einde: einde,
        },
    )
}

fn signers<T: Ord + Copy>(all: [T; 3], bits: u8) -> BTreeSet<T> {
    let set: BTreeSet<T> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, w)| *w)
        .collect();
    if set.is_empty() {
        BTreeSet::from([all[0]])
    } else {
        set
    }
}

fn wijze(i: u8) -> Ondertekenwijze {
    if i.is_multiple_of(3) {
        Ondertekenwijze::Papier
    } else {
        Ondertekenwijze::Digitaal {
            transactie: format!("tx-{}", i % 2),
        }
    }
}

/// The actor who would normally issue a command of this kind.
fn natural_actor(kind: u8, key: DossierKey) -> Actor {
    let partner = |p: &str| Actor::Partner {
        partner: p.parse().expect("a known partner"),
    };
    match kind % 25 {
        0 | 3 | 5 | 6 => Actor::Student { dossier: key },
        1 | 2 | 21 | 22 => partner("duo"),
        4 => Actor::Institution { brin: brin("25LX") },
        7 => partner("oso"),
        13 | 16 => partner("sbb"),
        23 => partner("signing"),
        _ => Actor::System,
    }
}

/// Mostly the natural actor, sometimes anyone.
fn choose_actor(who: u8, kind: u8, key: DossierKey) -> Actor {
    if who.is_multiple_of(4) {
        actor(who / 4, key)
    } else {
        natural_actor(kind, key)
    }
}

/// Builds one command from a few small numbers.
fn build(r: &ReferenceData, dossier: &Dossier, k: [u8; 7]) -> Command {
    let [kind, a, b, c, d, e, f] = k;
    // Mostly the crebo of an existing enrolment, so BPVs and diplomas get somewhere.
    let crebo_of = |ook: OokId, i: u8| {
        dossier
            .onderwijsovereenkomsten
            .get(&ook)
            .filter(|_| !i.is_multiple_of(4))
            .map(|o| o.details.crebo.clone())
    };
    let crebos: Vec<Crebo> = OPLEIDINGEN
        .iter()
        .map(|o| r.opleidingen[o].crebo.clone())
        .collect();
    match kind % 25 {
        0 => Command::OpenDossier {
            person: Person {
                id: PersonId::parse_either("111222333").expect("bsn"),
            },
        },
        1 => Command::RecordPersonalia {
            personalia: Personalia {
                voornamen: "Sam".to_owned(),
                voorvoegsels: None,
                achternaam: "Jansen".to_owned(),
                geboortedatum: if a.is_multiple_of(2) {
                    Geboortedatum::from_date(NaiveDate::from_ymd_opt(2011, 5, 15).expect("d"))
                } else {
                    Geboortedatum::new(2008 + i32::from(b % 4), None, None).expect("year")
                },
                geslacht: Geslacht::O,
                woongemeente: None,
                startkwalificatie: false,
            },
        },
        2 => Command::RecordVooropleiding {
            vooropleiding: Vooropleiding {
                instelling: Some(brin("19XY")),
                opleiding: format!("VMBO-{}", a % 3),
                omschrijving: "vmbo".to_owned(),
                vanaf: Some(day(0)),
                tot_en_met: None,
                diploma_behaald: b.is_multiple_of(2),
                datum_uitslag: None,
            },
        },
        3 => {
            let opl = &r.opleidingen[&pick(&OPLEIDINGEN, b)];
            Command::SubmitAanmelding {
                aanmelding: pick(&aanmeldingen(), a),
                instelling: opl.instelling.clone(),
                opleiding: opl.id,
                cohort: pick(&["2027-2028".to_owned(), "2028-2029".to_owned()], c),
                toeleverende_school: Some(brin("19XY")),
                externe_referentie: None,
            }
        }
        4 => Command::ChangeAanmeldingStatus {
            aanmelding: pick(&aanmeldingen(), a),
            status: pick(&AanmeldStatus::ALL, b),
        },
        5 => Command::GrantConsent {
            instelling: pick(&[brin("25LX"), brin("27DV"), brin("30GT")], a),
            scopes: BTreeSet::from([Part::Personalia, Part::Overstapdossier]),
        },
        6 => Command::WithdrawConsent {
            instelling: pick(&[brin("25LX"), brin("27DV"), brin("30GT")], a),
        },
        7 => Command::AttachOverstapdossier {
            school: brin("19XY"),
            samenvatting: OverstapSamenvatting {
                soort_overstap: "VOMBO".to_owned(),
                gegevensset: "2019.1".to_owned(),
                blokken: BTreeSet::new(),
            },
            content_hash: ContentHash::of(&[a % 3]),
        },
        8 | 9 => {
            let aanmelding = (d.is_multiple_of(2)).then(|| pick(&aanmeldingen(), c));
            let (instelling, details) = ook_details(r, b, aanmelding, e);
            let ook = pick(&ooks(), a);
            if kind % 25 == 8 {
                Command::DraftOnderwijsovereenkomst {
                    ook,
                    instelling,
                    details,
                }
            } else {
                Command::OfferOnderwijsovereenkomst {
                    ook,
                    instelling,
                    details,
                }
            }
        }
        10 => Command::SignOnderwijsovereenkomst {
            ook: pick(&ooks(), a),
            ondertekenaars: signers(
                [
                    OokOndertekenaar::Student,
                    OokOndertekenaar::Ouder,
                    OokOndertekenaar::Instelling,
                ],
                b,
            ),
            wijze: wijze(c),
            datum: day(d),
        },
        11 => Command::TerminateOnderwijsovereenkomst {
            ook: pick(&ooks(), a),
            datum: day(b),
            reden: (c.is_multiple_of(2)).then(|| "03".parse().expect("reden")),
        },
        12 => Command::RegisterPraktijkovereenkomst {
            bpv: pick(&bpvs(), a),
            details: BpvDetails {
                ook: pick(&ooks(), b),
                leerbedrijf: pick(
                    &[
                        "100018965".parse().expect("id"),
                        "200000002".parse().expect("id"),
                    ],
                    e,
                ),
                onderdeel: if e.is_multiple_of(3) {
                    BpvOnderdeel::Keuzedeel("K0067".parse().expect("code"))
                } else {
                    BpvOnderdeel::Crebo(
                        crebo_of(pick(&ooks(), b), f).unwrap_or_else(|| pick(&crebos, e)),
                    )
                },
                begin: day(c).min(day(d)),
                gepland_einde: day(c).max(day(d)),
                omvang_uren: 400,
                afsluitdatum: day(c).min(day(d)),
            },
        },
        13 => Command::RecordSbbCheck {
            bpv: pick(&bpvs(), a),
            erkend: !b.is_multiple_of(3),
            reden: Some("E1".to_owned()),
            datum: day(c),
        },
        14 => Command::SignPraktijkovereenkomst {
            bpv: pick(&bpvs(), a),
            ondertekenaars: signers(
                [
                    BpvOndertekenaar::Student,
                    BpvOndertekenaar::School,
                    BpvOndertekenaar::Leerbedrijf,
                ],
                b,
            ),
            wijze: wijze(c),
            datum: day(d),
        },
        15 => Command::EndPraktijkovereenkomst {
            bpv: pick(&bpvs(), a),
            datum: day(b),
        },
        16 => Command::WithdrawErkenning {
            leerbedrijf: pick(
                &[
                    "100018965".parse().expect("id"),
                    "200000002".parse().expect("id"),
                ],
                a,
            ),
            datum: day(b),
            onderdeel: None,
        },
        17 => Command::RegisterKeuzedeel {
            ook: pick(&ooks(), a),
            code: pick(
                &[
                    "K0067".parse().expect("code"),
                    "K0138".parse().expect("code"),
                ],
                b,
            ),
            gastinstelling: (c.is_multiple_of(2)).then(|| brin("30GT")),
        },
        18 => Command::RecordKeuzedeelResultaat {
            ook: pick(&ooks(), a),
            code: pick(
                &[
                    "K0067".parse().expect("code"),
                    "K0138".parse().expect("code"),
                ],
                b,
            ),
            uitslag: if c.is_multiple_of(2) {
                KeuzedeelUitslag::Behaald
            } else {
                KeuzedeelUitslag::NietBehaald
            },
            datum: day(d),
        },
        19 => Command::RecordExamenresultaat {
            ook: pick(&ooks(), a),
            onderdeel: ExamenOnderdeel::Generiek {
                vak: pick(
                    &[
                        GeneriekVak::Nederlands,
                        GeneriekVak::Rekenen,
                        GeneriekVak::Engels,
                    ],
                    b,
                ),
                cijfer_ie: Some(Cijfer::clamped(50 + c % 50)),
                cijfer_ce: None,
            },
            datum: day(d),
        },
        20 => Command::AwardDiploma {
            crebo: crebo_of(pick(&ooks(), c), f).unwrap_or_else(|| pick(&crebos, a)),
            datum: day(b),
        },
        21 => Command::RecordDuoFeedback {
            mutatie: Uuid::from_u128(u128::from(a % 4)),
            instelling: brin("25LX"),
            uitkomst: if b.is_multiple_of(2) {
                DuoUitkomst::Geaccepteerd
            } else {
                DuoUitkomst::Afgekeurd {
                    signalen: vec![Signaal {
                        code: "X1".to_owned(),
                        omschrijving: "signaal".to_owned(),
                        parameters: vec![],
                    }],
                }
            },
        },
        22 => Command::RecordBekostigingsstatus {
            ook: pick(&ooks(), a),
            teldatum: day(4),
            status: if b.is_multiple_of(2) {
                BekostigingsStatus::Voorlopig
            } else {
                BekostigingsStatus::Definitief
            },
            bekostigbaar: c.is_multiple_of(2),
        },
        23 => Command::RecordSigningStatus {
            transactie: format!("tx-{}", a % 2),
            subject: if b.is_multiple_of(2) {
                SigningSubject::Ook(pick(&ooks(), c))
            } else {
                SigningSubject::Bpv(pick(&bpvs(), c))
            },
            status: pick(
                &[
                    SigningStatus::WaitingForSigner,
                    SigningStatus::InProgress,
                    SigningStatus::Signed,
                    SigningStatus::Rejected,
                ],
                d,
            ),
        },
        _ => {
            let (instelling, details) = ook_details(r, b, None, c);
            Command::ImportInschrijving {
                ook: pick(&ooks(), a),
                instelling,
                inschrijvingsvolgnummer: format!("{}", d % 9 + 1),
                ondertekend_op: details.begin,
                details,
            }
        }
    }
}

fn check_invariants(d: &Dossier) -> Result<(), TestCaseError> {
    for a in d.aanmeldingen.values() {
        if a.status == AanmeldStatus::Ingeschreven {
            prop_assert!(
                d.onderwijsovereenkomsten
                    .values()
                    .any(|o| o.was_signed()
                        && o.instelling.instelling() == a.instelling.instelling()),
                "ingeschreven without a signed OOK"
            );
        }
    }
    for b in d.praktijkovereenkomsten.values() {
        let o = d.onderwijsovereenkomsten.get(&b.details.ook);
        prop_assert!(o.is_some(), "BPV without its OOK");
        if let Some(o) = o {
            prop_assert!(
                b.details.begin >= o.details.begin,
                "BPV begins before the enrolment"
            );
            prop_assert!(b.einde() <= o.einde(), "BPV ends after the enrolment");
            prop_assert!(b.details.begin <= b.einde(), "BPV ends before it begins");
        }
    }
    let mut active: BTreeMap<&Crebo, usize> = BTreeMap::new();
    for o in d
        .onderwijsovereenkomsten
        .values()
        .filter(|o| o.status.is_active())
    {
        *active.entry(&o.details.crebo).or_default() += 1;
    }
    prop_assert!(
        active.values().all(|n| *n <= 1),
        "two active OOKs for one crebo"
    );
    for o in d.onderwijsovereenkomsten.values() {
        if o.status == OokStatus::Ondertekend || o.status == OokStatus::Beeindigd {
            prop_assert!(o.ondertekend_op.is_some());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_invariants(
        prefix in 0usize..=28,
        commands in proptest::collection::vec(
            (any::<u8>(), any::<[u8; 7]>(), 0u8..12),
            1..40,
        ),
    ) {
        let reference = demo::reference_data();
        let key = DossierKey::new();
        let mut dossier = Dossier::default();
        let mut log: Vec<Event> = Vec::new();
        let steps = demo::journey(key);
        let total = prefix + commands.len();
        for n in 0..total {
            let (meta, command) = match (steps.get(n).filter(|_| n < prefix), commands.get(n.saturating_sub(prefix))) {
                (Some(s), _) => (s.meta.clone(), s.command.clone()),
                (None, Some((who, k, when))) => {
                    let (y, m, d) = DATES[usize::from(*when)];
                    let time = Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap();
                    let meta = CommandMeta::new(key, choose_actor(*who, k[0], key), time);
                    (meta, build(&reference, &dossier, *k))
                }
                (None, None) => break,
            };
            let ctx = DecideContext { reference: &reference, levels: Levels::none(), meta: &meta };
            let before = dossier.clone();
            let first = dossier.decide(&command, &ctx);
            prop_assert_eq!(&before, &dossier, "decide changed the dossier");
            // Deterministic: the same command on the same state decides the same.
            prop_assert_eq!(&first, &dossier.decide(&command, &ctx));
            match first {
                Ok(events) => {
                    prop_assert!(!events.is_empty(), "an accepted command yields events");
                    for e in &events {
                        prop_assert!(Event::TYPE_NAMES.contains(&e.type_name()));
                        let seq = dossier.sequence;
                        dossier.apply(e);
                        prop_assert_eq!(dossier.sequence, seq + 1);
                        log.push(e.clone());
                    }
                }
                Err(_) => prop_assert_eq!(&before, &dossier),
            }
            check_invariants(&dossier)?;
            prop_assert_eq!(dossier.sequence, log.len() as u64);
        }
        // The state is exactly the fold of its events.
        let mut replayed = Dossier::default();
        for e in &log {
            replayed.apply(e);
        }
        prop_assert_eq!(replayed, dossier);
    }
}

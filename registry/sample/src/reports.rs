//! A known set of dossiers for the tests of the sector reports (`knooppunt_registry::report`),
//! recorded through the registry's commands on any store: 12 students at ROC Zuidwaard (25LX)
//! and 3 at AOC Groenland (30GT), all for cohort 2027-2028, with DUO's personalia (so the
//! tests can check that no BSN or name reaches a report) and BRON feedback at 25LX.
//!
//! What the `aanmeldingen` report must show for 2027 (see [`ReportFixture`]):
//!
//! | institution | cohort | ontvangen | aangemeld | ingetrokken | total |
//! | --- | --- | --- | --- | --- | --- |
//! | 25LX | 2027-2028 | 5 → hidden (secondary) | 6 | 1 → hidden | 12 |
//! | 30GT | 2027-2028 | 3 → hidden | 0 | 0 | 3 → hidden |
//!
//! Student 7 has a second aanmelding at 25LX (Verzorgende-IG, ontvangen): 13 aanmeldingen,
//! still 12 students and 5 in `ontvangen`. One more student applied at 25LX in November 2026,
//! outside 2027.
//!
//! BRON feedback at 25LX in March 2027: students 1–6 geaccepteerd (student 1 twice), 7–8
//! geaccepteerd met signalen, 9 afgekeurd: 6 / 2 (hidden) / 1 (hidden), total 9, 10 mutations.

use chrono::{DateTime, TimeZone, Utc};
use knooppunt_registry::domain::{
    AanmeldStatus, AanmeldingId, Command, DuoUitkomst, Geboortedatum, Geslacht, Person, Personalia,
    Signaal,
};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::{Brin, PersonId};
use knooppunt_registry::partner::Partner;
use knooppunt_registry::reference::ReferenceData;
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_registry::store::{Store, StoreError};
use uuid::Uuid;

use crate::reference::{DIERVERZORGING, SOFTWARE_DEVELOPER, VERZORGENDE_IG, date, p};

/// What was recorded, for the tests to look for.
#[derive(Debug, Clone)]
pub struct ReportFixture {
    /// The dossiers, in student order (25LX's 12, 30GT's 3, the one from 2026).
    pub dossiers: Vec<DossierKey>,
    /// Every student's BSN, as 9 digits.
    pub bsns: Vec<String>,
    /// Every first name and surname recorded.
    pub names: Vec<String>,
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

async fn run(
    store: &dyn Store,
    reference: &ReferenceData,
    key: DossierKey,
    actor: Actor,
    time: DateTime<Utc>,
    command: Command,
) -> Result<(), StoreError> {
    let outcome = store
        .execute(CommandMeta::new(key, actor, time), command, reference)
        .await?;
    outcome
        .result
        .map(|_| ())
        .map_err(|r| StoreError::Config(format!("report fixture: a command was refused: {r}")))
}

/// Records the fixture's students (persons `first..first + 16` of
/// [`synthetic_person`]: give each store its own `first` when several share a person key).
pub async fn seed_report_students(
    store: &dyn Store,
    reference: &ReferenceData,
    first: u64,
) -> Result<ReportFixture, StoreError> {
    let roc: Brin = p("25LX");
    let aoc: Brin = p("30GT");
    let duo = Actor::Partner {
        partner: Partner::Duo,
    };
    let mut fixture = ReportFixture {
        dossiers: Vec::new(),
        bsns: Vec::new(),
        names: Vec::new(),
    };
    // (institution, opleiding, submitted, final status)
    let mut plan: Vec<(Brin, Uuid, DateTime<Utc>, AanmeldStatus)> = Vec::new();
    for i in 0..12 {
        let status = match i {
            0..=5 => AanmeldStatus::Aangemeld,
            6..=10 => AanmeldStatus::Ontvangen,
            _ => AanmeldStatus::Ingetrokken,
        };
        plan.push((roc.clone(), SOFTWARE_DEVELOPER, at(2027, 2, 10), status));
    }
    for _ in 0..3 {
        plan.push((
            aoc.clone(),
            DIERVERZORGING,
            at(2027, 2, 11),
            AanmeldStatus::Ontvangen,
        ));
    }
    plan.push((
        roc.clone(),
        SOFTWARE_DEVELOPER,
        at(2026, 11, 2),
        AanmeldStatus::Ontvangen,
    ));

    for (n, (instelling, opleiding, submitted, status)) in plan.into_iter().enumerate() {
        let key = DossierKey::new();
        let person: PersonId = synthetic_person(first + n as u64);
        let PersonId::Bsn(bsn) = &person else {
            return Err(StoreError::Config("report fixture: not a BSN".to_owned()));
        };
        fixture.bsns.push(bsn.as_str().to_owned());
        let (voornaam, achternaam) = (format!("Rapportina{n}"), format!("Telgenkamp{n}"));
        fixture.names.push(voornaam.clone());
        fixture.names.push(achternaam.clone());
        run(
            store,
            reference,
            key,
            Actor::System,
            submitted,
            Command::OpenDossier {
                person: Person { id: person },
            },
        )
        .await?;
        run(
            store,
            reference,
            key,
            duo.clone(),
            submitted,
            Command::RecordPersonalia {
                personalia: Personalia {
                    voornamen: voornaam,
                    voorvoegsels: None,
                    achternaam,
                    geboortedatum: Geboortedatum::from_date(date(2010, 3, 4)),
                    geslacht: Geslacht::V,
                    woongemeente: None,
                    startkwalificatie: false,
                },
            },
        )
        .await?;
        let student = Actor::Student { dossier: key };
        let institution = Actor::Institution {
            brin: instelling.clone(),
        };
        let aanmelding = AanmeldingId::new();
        run(
            store,
            reference,
            key,
            student.clone(),
            submitted,
            Command::SubmitAanmelding {
                aanmelding,
                instelling: instelling.clone(),
                opleiding,
                cohort: "2027-2028".to_owned(),
                toeleverende_school: None,
                externe_referentie: None,
            },
        )
        .await?;
        if status != AanmeldStatus::Ontvangen {
            run(
                store,
                reference,
                key,
                institution.clone(),
                submitted,
                Command::ChangeAanmeldingStatus { aanmelding, status },
            )
            .await?;
        }
        if n == 6 {
            run(
                store,
                reference,
                key,
                student,
                submitted,
                Command::SubmitAanmelding {
                    aanmelding: AanmeldingId::new(),
                    instelling: instelling.clone(),
                    opleiding: VERZORGENDE_IG,
                    cohort: "2027-2028".to_owned(),
                    toeleverende_school: None,
                    externe_referentie: None,
                },
            )
            .await?;
        }
        let feedback: Vec<DuoUitkomst> = match n {
            0 => vec![DuoUitkomst::Geaccepteerd, DuoUitkomst::Geaccepteerd],
            1..=5 => vec![DuoUitkomst::Geaccepteerd],
            6 | 7 => vec![DuoUitkomst::GeaccepteerdMetSignalen {
                signalen: vec![signaal("W123")],
            }],
            8 => vec![DuoUitkomst::Afgekeurd {
                signalen: vec![signaal("A456")],
            }],
            _ => Vec::new(),
        };
        for uitkomst in feedback {
            run(
                store,
                reference,
                key,
                duo.clone(),
                at(2027, 3, 1),
                Command::RecordDuoFeedback {
                    mutatie: Uuid::now_v7(),
                    instelling: instelling.clone(),
                    uitkomst,
                },
            )
            .await?;
        }
        fixture.dossiers.push(key);
    }
    Ok(fixture)
}

fn signaal(code: &str) -> Signaal {
    Signaal {
        code: code.to_owned(),
        omschrijving: "voorbeeldsignaal".to_owned(),
        parameters: Vec::new(),
    }
}

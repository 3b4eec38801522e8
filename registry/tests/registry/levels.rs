//! Participation levels as recorded institution events: the pure rules
//! (`domain::institution::decide`), and the stores (memory, PostgreSQL, each also behind
//! `BatchingStore`): a recorded change is the effective level, reversible, and changes what the
//! institution may do with the next command.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use knooppunt_registry::domain::institution::{
    InstitutionCommand, InstitutionEvent, InstitutionRecord, InstitutionState, LevelRejection,
    Levels, decide,
};
use knooppunt_registry::domain::{Command, Person, Rejection};
use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
use knooppunt_registry::ids::Brin;
use knooppunt_registry::reference::{Participation, ReferenceData};
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_registry::store::{
    BatchingConfig, BatchingStore, MemoryStore, PgStore, PgStoreConfig, Store,
};
use knooppunt_testkit::{TestSchema, database_url};

use Participation::{Aanmelden, Krd, Va};

fn brin(s: &str) -> Brin {
    s.parse().expect("brin")
}

fn reference() -> ReferenceData {
    knooppunt_sample::reference_data()
}

fn change(to: Participation) -> InstitutionCommand {
    InstitutionCommand::ChangeParticipation {
        to,
        reason: "joins central aanmelding per cohort 2027".to_owned(),
        operator: "alice".to_owned(),
    }
}

fn ro_import() -> InstitutionCommand {
    InstitutionCommand::RecordRoImport {
        persons: 10,
        commands_new: 112,
        rejected: 0,
    }
}

/// Decides `commands` in order on an empty history, appending each event; the results.
fn run(
    brin_: &str,
    commands: &[InstitutionCommand],
) -> (
    Vec<InstitutionRecord>,
    Vec<Result<InstitutionEvent, LevelRejection>>,
) {
    let reference = reference();
    let b = brin(brin_);
    let mut history = Vec::new();
    let mut results = Vec::new();
    for c in commands {
        let r = decide(&b, &history, c, &reference);
        if let Ok(event) = &r {
            history.push(InstitutionRecord {
                brin: b.clone(),
                sequence: history.len() as u64 + 1,
                time: Utc::now(),
                event: event.clone(),
            });
        }
        results.push(r);
    }
    (history, results)
}

#[test]
fn one_step_at_a_time_and_never_to_the_current_level() {
    // 28AB is at `va` in the reference data.
    let (history, results) = run("28AB", &[change(Krd), change(Va), change(Aanmelden)]);
    assert_eq!(
        results[0],
        Err(LevelRejection::NotOneStep { from: Va, to: Krd })
    );
    assert_eq!(
        results[1],
        Err(LevelRejection::AlreadyAtLevel { level: Va })
    );
    assert_eq!(
        results[2],
        Ok(InstitutionEvent::ParticipationChanged {
            from: Va,
            to: Aanmelden,
            reason: "joins central aanmelding per cohort 2027".to_owned(),
            operator: "alice".to_owned(),
        })
    );
    assert_eq!(history.len(), 1);
    assert_eq!(
        results[0].as_ref().unwrap_err().code(),
        "level_step_too_large"
    );
}

#[test]
fn krd_needs_the_ro_import_first() {
    // 27DV is at `aanmelden`.
    let (history, results) = run("27DV", &[change(Krd), ro_import(), change(Krd)]);
    assert_eq!(results[0], Err(LevelRejection::RoImportMissing));
    assert_eq!(results[0].as_ref().unwrap_err().code(), "ro_import_missing");
    assert!(results[1].is_ok());
    assert!(matches!(
        results[2],
        Ok(InstitutionEvent::ParticipationChanged {
            from: Aanmelden,
            to: Krd,
            ..
        })
    ));
    let state = InstitutionState::fold(&reference().institutions[&brin("27DV")], &history);
    assert_eq!(state.level, Krd);
    assert!(state.ro_imported);
    assert_eq!(state.changes, 1);
    assert_eq!(state.sequence, 2);
}

#[test]
fn a_change_is_reversible_and_the_latest_change_is_the_effective_level() {
    let (history, results) = run(
        "28AB",
        &[change(Aanmelden), change(Va), change(Aanmelden), change(Va)],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let reference = reference();
    let kustland = &reference.institutions[&brin("28AB")];
    for n in 0..=history.len() {
        let expected = if n % 2 == 1 { Aanmelden } else { Va };
        let levels = Levels::from_records(&history[..n]);
        assert_eq!(levels.of(kustland), expected, "after {n} changes");
        assert_eq!(
            InstitutionState::fold(kustland, &history[..n]).level,
            expected
        );
    }
    // No record: the reference data's level, for every institution.
    assert_eq!(Levels::none().of(kustland), Va);
    assert_eq!(Levels::none().level(&reference, &brin("25LX")), Some(Krd));
    assert_eq!(Levels::none().level(&reference, &brin("99XX")), None);
}

#[test]
fn moving_down_from_krd_is_allowed_and_back_up_needs_no_second_import() {
    // 25LX is at `krd` in the reference data (no import recorded: it came in at krd).
    let (_, results) = run(
        "25LX",
        &[change(Aanmelden), change(Krd), ro_import(), change(Krd)],
    );
    assert!(results[0].is_ok());
    assert_eq!(results[1], Err(LevelRejection::RoImportMissing));
    assert!(results[2].is_ok());
    assert!(results[3].is_ok());
}

#[test]
fn reason_and_operator_are_checked_and_never_carry_a_person_number() {
    let cases = [
        ("", "alice", "reason", "it is empty"),
        (
            "student 123456782 asked",
            "alice",
            "reason",
            "it holds a number of eight or more digits (a person number?)",
        ),
        (
            "ok",
            "bob\u{7}",
            "operator",
            "it contains control characters",
        ),
    ];
    for (reason, operator, field, why) in cases {
        let (_, results) = run(
            "28AB",
            &[InstitutionCommand::ChangeParticipation {
                to: Aanmelden,
                reason: reason.to_owned(),
                operator: operator.to_owned(),
            }],
        );
        assert_eq!(
            results[0],
            Err(LevelRejection::InvalidValue {
                field: field.to_owned(),
                reason: why.to_owned(),
            })
        );
        // The message names the field, never the value.
        let message = results[0].as_ref().unwrap_err().to_string();
        assert!(!message.contains("123456782"), "{message}");
    }
    let (_, results) = run("99XX", &[change(Aanmelden)]);
    assert_eq!(
        results[0],
        Err(LevelRejection::UnknownInstitution { brin: brin("99XX") })
    );
}

// --- the stores ---

fn meta(key: DossierKey) -> CommandMeta {
    let time = Utc.with_ymd_and_hms(2027, 3, 1, 9, 30, 0).unwrap();
    CommandMeta::new(key, Actor::System, time)
}

fn submit(key: DossierKey, n: u8) -> (CommandMeta, Command) {
    let aanmelding = knooppunt_registry::domain::AanmeldingId(uuid::Uuid::from_u128(u128::from(n)));
    let r = reference();
    let opleiding = r
        .opleidingen
        .values()
        .find(|o| o.instelling == brin("28AB"))
        .expect("28AB offers an opleiding");
    // The student applies centrally: that needs the institution at `aanmelden`.
    let mut m = meta(key);
    m.actor = Actor::Student { dossier: key };
    (
        m,
        Command::SubmitAanmelding {
            aanmelding,
            instelling: brin("28AB"),
            opleiding: opleiding.id,
            cohort: "2027-2028".to_owned(),
            toeleverende_school: None,
            externe_referentie: None,
        },
    )
}

/// The store's behaviour: a change is recorded (history, levels), refused changes store
/// nothing, and commands are decided on the effective level at once.
async fn levels_are_recorded_and_decide_commands(store: Arc<dyn Store>) {
    let reference = reference();
    let kustland = brin("28AB");
    let at = Utc.with_ymd_and_hms(2027, 3, 1, 10, 0, 0).unwrap();
    assert!(store.levels().await.unwrap().is_empty());
    assert!(store.institution_history(None).await.unwrap().is_empty());

    // A dossier, and an aanmelding by 28AB at `va`: refused for its level.
    let key = DossierKey::new();
    let opened = store
        .execute(
            meta(key),
            Command::OpenDossier {
                person: Person {
                    id: synthetic_person(7),
                },
            },
            &reference,
        )
        .await
        .unwrap();
    assert!(opened.result.is_ok());
    let (m, c) = submit(key, 1);
    let refused = store.execute(m, c, &reference).await.unwrap();
    assert_eq!(
        refused.result,
        Err(Rejection::ParticipationTooLow {
            instelling: kustland.clone(),
            level: Va,
            required: Aanmelden,
        })
    );

    // Up to `aanmelden`: recorded, and the next aanmelding is accepted.
    let record = store
        .execute_institution(&kustland, at, change(Aanmelden), &reference)
        .await
        .unwrap()
        .expect("accepted");
    assert_eq!(record.sequence, 1);
    assert_eq!(record.time, at);
    assert_eq!(
        store
            .levels()
            .await
            .unwrap()
            .of(&reference.institutions[&kustland]),
        Aanmelden
    );
    let (m, c) = submit(key, 2);
    let accepted = store.execute(m, c, &reference).await.unwrap();
    assert!(accepted.result.is_ok(), "{:?}", accepted.result);

    // A refused change stores nothing.
    let again = store
        .execute_institution(&kustland, at, change(Aanmelden), &reference)
        .await
        .unwrap();
    assert_eq!(
        again,
        Err(LevelRejection::AlreadyAtLevel { level: Aanmelden })
    );
    let skip = store
        .execute_institution(&kustland, at, change(Krd), &reference)
        .await
        .unwrap();
    assert_eq!(skip, Err(LevelRejection::RoImportMissing));
    assert_eq!(
        store
            .institution_history(Some(&kustland))
            .await
            .unwrap()
            .len(),
        1
    );

    // Back to `va`: the next aanmelding is refused again.
    store
        .execute_institution(&kustland, at, change(Va), &reference)
        .await
        .unwrap()
        .expect("moved back");
    let (m, c) = submit(key, 3);
    let refused = store.execute(m, c, &reference).await.unwrap();
    assert!(
        matches!(
            refused.result,
            Err(Rejection::ParticipationTooLow { level: Va, .. })
        ),
        "{:?}",
        refused.result
    );

    // The RO import record on another institution, and the histories in order.
    store
        .execute_institution(&brin("27DV"), at, ro_import(), &reference)
        .await
        .unwrap()
        .expect("recorded");
    let history = store.institution_history(Some(&kustland)).await.unwrap();
    let tos: Vec<(u64, Participation)> = history
        .iter()
        .map(|r| match r.event {
            InstitutionEvent::ParticipationChanged { to, .. } => (r.sequence, to),
            InstitutionEvent::RoImported { .. } => panic!("not 28AB's"),
        })
        .collect();
    assert_eq!(tos, vec![(1, Aanmelden), (2, Va)]);
    let all = store.institution_history(None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].brin, brin("27DV"));
    assert_eq!(all[0].event.type_name(), "ro_imported");
    let levels = store.levels().await.unwrap();
    assert_eq!(levels.of(&reference.institutions[&kustland]), Va);
    assert_eq!(levels.of(&reference.institutions[&brin("27DV")]), Aanmelden);
}

/// Two PostgreSQL stores on one schema (two nodes): a change through one applies on the other
/// within `LEVELS_TTL`, and concurrent changes keep the history gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_share_levels() {
    let (kit, config) = pg_schema().await;
    let a = PgStore::open(&config).await.expect("open");
    let b = PgStore::open(&config).await.expect("open");
    let reference = reference();
    let kustland = brin("28AB");
    let inst = &reference.institutions[&kustland];
    assert_eq!(b.levels().await.unwrap().of(inst), Va);
    a.execute_institution(&kustland, Utc::now(), change(Aanmelden), &reference)
        .await
        .unwrap()
        .expect("accepted");
    // b read its levels a moment ago: it sees the change once its cache is older than the TTL.
    let mut seen = b.levels().await.unwrap().of(inst);
    for _ in 0..100 {
        if seen == Aanmelden {
            break;
        }
        tokio::time::sleep(knooppunt_registry::store::LEVELS_TTL / 4).await;
        seen = b.levels().await.unwrap().of(inst);
    }
    assert_eq!(seen, Aanmelden);

    // Both nodes move 27DV's history at once: one record each, sequences 1 and 2.
    let houtwerk = brin("27DV");
    let (ra, rb) = tokio::join!(
        a.execute_institution(&houtwerk, Utc::now(), ro_import(), &reference),
        b.execute_institution(&houtwerk, Utc::now(), ro_import(), &reference),
    );
    assert!(ra.unwrap().is_ok());
    assert!(rb.unwrap().is_ok());
    let seqs: Vec<u64> = a
        .institution_history(Some(&brin("27DV")))
        .await
        .unwrap()
        .iter()
        .map(|r| r.sequence)
        .collect();
    assert_eq!(seqs, vec![1, 2]);
    drop((a, b));
    kit.drop_now().await.expect("drop schema");
}

async fn pg_schema() -> (TestSchema, PgStoreConfig) {
    let kit = TestSchema::create("levels").await.expect("create schema");
    let config = PgStoreConfig {
        url: database_url(),
        schema: Some(kit.name().to_owned()),
        pool_size: 4,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    };
    (kit, config)
}

fn batching() -> BatchingConfig {
    BatchingConfig {
        max_batch: 16,
        workers: 2,
    }
}

#[tokio::test]
async fn memory_levels_are_recorded_and_decide_commands() {
    levels_are_recorded_and_decide_commands(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn batching_memory_levels_are_recorded_and_decide_commands() {
    let inner = Arc::new(MemoryStore::new());
    levels_are_recorded_and_decide_commands(Arc::new(BatchingStore::new(inner, batching()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_levels_are_recorded_and_decide_commands() {
    let (kit, config) = pg_schema().await;
    let store = Arc::new(PgStore::open(&config).await.expect("open"));
    levels_are_recorded_and_decide_commands(store).await;
    kit.drop_now().await.expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_postgres_levels_are_recorded_and_decide_commands() {
    let (kit, config) = pg_schema().await;
    let store = Arc::new(PgStore::open(&config).await.expect("open"));
    levels_are_recorded_and_decide_commands(Arc::new(BatchingStore::new(store, batching()))).await;
    kit.drop_now().await.expect("drop schema");
}

//! The sandbox's sample students are known twice: the sandbox seeds them (`knooppunt-sample`)
//! and the DUO simulator answers for them (`adapters/src/duo/sample.rs`, which the adapters
//! crate keeps so that no product library depends on the sample crate). The two must agree, or
//! the sandbox routes a student one way at start and another once DUO answers.

use chrono::Utc;
use knooppunt_registry::domain::Command;
use knooppunt_registry::store::{MemoryStore, Store};

#[tokio::test]
async fn the_seeded_students_are_the_persons_the_duo_simulator_knows() {
    let store = MemoryStore::new();
    let reference = knooppunt_sample::reference_data();
    let now = Utc::now();
    let seeded = knooppunt_sample::seed_students(&store, &reference, now)
        .await
        .unwrap();
    let today = knooppunt_registry::domain::time::local_date(now);
    let duo = knooppunt_adapters::duo::sample::persons(today);
    assert_eq!(seeded.len(), duo.len());
    for student in &seeded {
        let answer = duo
            .iter()
            .find(|p| p.persoon.id == student.bsn)
            .expect("DUO knows every seeded student");
        let Command::RecordPersoonEnVooropleidingen { personalia, .. } =
            knooppunt_mappings::duo::persoon::lookup_to_command(answer).unwrap()
        else {
            panic!("a lookup answer is one command");
        };
        let dossier = store.dossier(student.dossier).await.unwrap().unwrap();
        assert_eq!(
            dossier.personalia.as_ref(),
            Some(&personalia),
            "{}",
            student.profiel
        );
    }
}

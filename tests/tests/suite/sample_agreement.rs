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

/// The SBB simulator's sandbox list (`adapters/src/sbb/sample.rs`) recognises the journey's
/// BPV at its leerbedrijf, for its onderdeel, on its start date, and every crebo it recognises
/// is one the sample institutions offer: otherwise the sandbox's BPVs would not pass the check.
#[test]
fn the_sbb_simulators_recognitions_fit_the_sample_data() {
    use knooppunt_registry::domain::BpvOnderdeel;

    let list = knooppunt_adapters::sbb::sample::erkenningen();
    let bpv = knooppunt_sample::journey(knooppunt_registry::envelope::DossierKey::new())
        .into_iter()
        .find_map(|s| match s.command {
            Command::RegisterPraktijkovereenkomst { details, .. } => Some(details),
            _ => None,
        })
        .expect("the journey registers a BPV");
    assert!(
        list.iter().any(|e| e.leerbedrijf == bpv.leerbedrijf
            && e.onderdeel == bpv.onderdeel
            && e.vanaf <= bpv.begin
            && e.tot.is_none_or(|t| bpv.begin <= t)),
        "the journey's BPV is recognised"
    );
    let reference = knooppunt_sample::reference_data();
    for e in &list {
        if let BpvOnderdeel::Crebo(c) = &e.onderdeel {
            assert!(
                reference.opleidingen.values().any(|o| &o.crebo == c),
                "crebo {c} is offered in the sample reference data"
            );
        }
    }
}

//! The demos end to end. `knooppunt demo krd` (`gateway/src/demo/krd.rs`) drives a node
//! through memo steps b–f for a minor and an adult over the institution API and checks what
//! each simulated partner received; here it runs on the sandbox exactly as the command does
//! (`demo::krd::run`, its own node) and on PostgreSQL + RabbitMQ (`demo::krd::journey` on a
//! harness node). `knooppunt demo` (the VA journey, `demo::run`) runs on the sandbox as the
//! command does. Every check must hold, and the output — meant to be pasted — must hold no BSN,
//! name or birth date of the sample students.

use knooppunt_gateway::demo::{self, DemoReport};

use crate::support::{Backend, start_node};

/// The sample students' personal data as DUO's simulator knows them (the persons the demo's
/// dossiers are filled from): BSNs, names and birth dates.
fn personal_data() -> Vec<String> {
    knooppunt_adapters::duo::sample::persons(chrono::Utc::now().date_naive())
        .into_iter()
        .flat_map(|p| {
            let q = p.persoon;
            [
                Some(q.id.digits().to_owned()),
                q.voornamen,
                q.roepnaam,
                Some(q.geslachtsnaam),
                Some(q.geboortedatum.to_string()),
            ]
            .into_iter()
            .flatten()
        })
        .collect()
}

/// Every check held and the output holds nothing personal; the output.
fn passed(result: anyhow::Result<DemoReport>, out: Vec<u8>) -> String {
    let text = String::from_utf8(out).expect("the output is UTF-8");
    let report = result.unwrap_or_else(|e| panic!("{e:#}\n--- output ---\n{text}"));
    assert!(report.all_passed(), "{:?}\n{text}", report.failed);
    assert!(report.passed > 0, "no check was made:\n{text}");
    assert!(!text.contains('✗'), "a failed check in the output:\n{text}");
    let data = personal_data();
    // Four persons, each with at least a BSN, a name and a birth date.
    assert!(
        data.len() >= 4 * 3,
        "the sample persons changed: {}",
        data.len()
    );
    for (i, value) in data.iter().enumerate() {
        assert!(
            !text.contains(value.as_str()),
            "personal data (item {i} of the sample) in the demo's output"
        );
    }
    text
}

/// The krd demo passed, and its output tells each step of the journey.
fn krd_passed(result: anyhow::Result<DemoReport>, out: Vec<u8>) {
    let text = passed(result, out);
    for step in [
        "personalia recorded from DUO",
        "signers student, ouder, instelling",
        "signers student, instelling",
        "signers student, school, leerbedrijf",
        "aanmelding ingeschreven",
        "intergrip  received OT AM AO IS",
        "digidoor   received OT AM AO IS",
        "T:Inschrijving T:Diploma T:Uitschrijving",
        "recorded in the dossier: accepted_with_signals (signals: DEMO001)",
        "SBB: niet_erkend",
        "409 leerbedrijf_not_erkend",
        "recorded in the dossier: rejected (signals: DEMO002)",
        "no BSN in any",
    ] {
        assert!(
            text.contains(step),
            "the output does not say {step:?}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_demo_krd_passes_every_check_and_prints_nothing_personal() {
    let mut out = Vec::new();
    let result = demo::krd::run(&mut out).await;
    krd_passed(result, out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_demo_krd_passes_every_check_and_prints_nothing_personal() {
    let h = start_node("demokrd", Backend::Real, |_| {}).await;
    let mut out = Vec::new();
    let result = demo::krd::journey(&h.node, &mut out).await;
    h.stop().await;
    krd_passed(result, out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_demo_va_passes_every_check_and_prints_nothing_personal() {
    let mut out = Vec::new();
    let result = demo::run(&mut out).await;
    let text = passed(result, out);
    assert!(
        text.contains("student A at 28AB: aangemeld → 200"),
        "students are named by their label:\n{text}"
    );
}

/// A failed check fails the demo (the command then exits non-zero) and names the check: on a
/// sandbox where ROC Zuidwaard takes part at level `va` only, the krd journey stops at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_demo_krd_fails_and_says_why_when_a_check_fails() {
    let dir = std::env::temp_dir().join(format!("kp-demo-va-only-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut reference = knooppunt_sample::reference_data();
    let roc = reference
        .institutions
        .get_mut(&"25LX".parse().unwrap())
        .unwrap();
    roc.participatie = knooppunt_registry::reference::Participation::Va;
    let file = dir.join("reference.json");
    std::fs::write(&file, serde_json::to_vec(&reference).unwrap()).unwrap();
    let h = start_node("demofail", Backend::Sandbox, |c| {
        c.reference.file = Some(file.clone());
    })
    .await;
    let mut out = Vec::new();
    let result = demo::krd::journey(&h.node, &mut out).await;
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8(out).unwrap();
    let error = format!("{:#}", result.expect_err("the demo must fail"));
    assert!(
        error.contains("25LX takes part at level krd"),
        "the error names the check: {error}"
    );
    assert!(
        text.contains("✗ 25LX takes part at level krd")
            && text.contains("0 checks passed, 2 failed"),
        "{text}"
    );
}

//! `knooppunt import ro FILE` as a process on PostgreSQL: the recounted public RO demo imports
//! (dossiers findable by BSN and onderwijsnummer), a second run has no effect, a run that
//! stopped halfway is resumed by running it again, `--dry-run`
//! writes nothing, a file with a bad SLR or a fault is refused whole, and nothing imported is
//! delivered to DUO again by the BRON mapping.

use std::path::{Path, PathBuf};
use std::process::Command;

use knooppunt_mappings::duo::bron;
use knooppunt_registry::domain::Event;
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::{Brin, PersonId};
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference::{Niveau, Participation, ReferenceData};
use knooppunt_registry::store::bench::synthetic_person;
use knooppunt_registry::store::{PgStore, PgStoreConfig, Store};
use knooppunt_testkit::TestSchema;
use uuid::Uuid;

const DEMO: &str = "duo-ro-demo_RO_27DV_20240731_20260324.csv";

fn demo_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/specs")
        .join(DEMO);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn with_check_digit(d: &[u8], rem: i64) -> Option<String> {
    let sum: i64 = d
        .iter()
        .enumerate()
        .map(|(i, x)| i64::from(*x) * (9 - i as i64))
        .sum();
    let last = (sum - rem).rem_euclid(11);
    (last <= 9).then(|| {
        let mut s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
        s.push(char::from(b'0' + last as u8));
        s
    })
}

/// The `n`-th test BSN (the same series as the mapping tests').
fn test_bsn(n: u32) -> String {
    let mut seed = 23_456_000 + n * 7;
    loop {
        let digits: Vec<u8> = format!("{seed:08}").bytes().map(|b| b - b'0').collect();
        if let Some(s) = with_check_digit(&digits, 0) {
            return s;
        }
        seed += 1;
    }
}

/// The `n`-th test onderwijsnummer.
fn test_onr(n: u32) -> String {
    let mut seed = 345_000 + n * 13;
    loop {
        let mut digits: Vec<u8> = vec![1, 0];
        digits.extend(format!("{seed:06}").bytes().map(|b| b - b'0'));
        if let Some(s) = with_check_digit(&digits, 5) {
            return s;
        }
        seed += 1;
    }
}

/// The public demo with its masked `BSNn` replaced by test numbers (an onderwijsnummer where
/// the mask stands in the onderwijsnummer column: persons 8–10 have only one). Its SLR still
/// declares the full file's counts.
fn demo_unmasked() -> String {
    let mut out = demo_text();
    for n in (1..=20).rev() {
        out = out.replace(&format!("||BSN{n}|"), &format!("||{}|", test_onr(n)));
    }
    for n in (1..=20).rev() {
        out = out.replace(&format!("BSN{n}"), &test_bsn(n));
    }
    out
}

/// The demo with the SLR of the excerpt (10 PER, 12 ISG, 19 ISP, 0 ISE, 17 BPV, 4 DIP, 0 AMO,
/// 11 GEO, 9 KZD): a file that parses.
fn demo_recounted() -> String {
    demo_unmasked().replace(
        "SLR|16616|19859|31053|2|28260|4696|133|11758|11511",
        "SLR|10|12|19|0|17|4|0|11|9",
    )
}

/// Reference data: the sandbox sample plus institution 27DV at level `krd` offering every
/// crebo of the demo (niveau 3, entree 25748 niveau 1).
fn reference() -> ReferenceData {
    let mut r = knooppunt_sample::reference_data();
    let brin: Brin = "27DV".parse().unwrap();
    let mut inst = r.institutions.values().next().unwrap().clone();
    inst.brin = brin.clone();
    inst.oin = brin.oin();
    inst.participatie = Participation::Krd;
    r.institutions.insert(brin.clone(), inst);
    let template = r.opleidingen.values().next().unwrap().clone();
    for crebo in [
        "23301", "25311", "25655", "25669", "25742", "25745", "25748", "25775", "25779", "25809",
    ] {
        let mut o = template.clone();
        o.id = Uuid::new_v4();
        o.instelling = brin.clone();
        o.crebo = crebo.parse().unwrap();
        o.niveau = if crebo == "25748" {
            Niveau::Mbo1
        } else {
            Niveau::Mbo3
        };
        r.opleidingen.insert(o.id, o);
    }
    r
}

/// A fresh schema, a person key, reference data and a node configuration pointing at them.
struct Setup {
    schema: TestSchema,
    dir: PathBuf,
    config: PathBuf,
    reference: PathBuf,
    person_key: PathBuf,
}

impl Setup {
    async fn new(prefix: &str, reference: &ReferenceData) -> Self {
        let schema = TestSchema::create(prefix).await.unwrap();
        let dir = std::env::temp_dir().join(format!("kp-{prefix}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let reference_file = dir.join("reference.json");
        std::fs::write(&reference_file, serde_json::to_vec(reference).unwrap()).unwrap();
        let person_key = dir.join("person.key");
        knooppunt_gateway::config::write_person_key(&person_key).unwrap();
        let config = dir.join("knooppunt.toml");
        std::fs::write(
            &config,
            format!(
                "mode = \"sandbox\"\n\n[store]\nkind = \"postgres\"\nurl = \"{db}\"\n\
                 schema = \"{schema}\"\nperson_key_file = \"{key}\"\n\n[reference]\n\
                 file = \"{reference}\"\n",
                db = knooppunt_testkit::database_url(),
                schema = schema.name(),
                key = person_key.display(),
                reference = reference_file.display(),
            ),
        )
        .unwrap();
        Self {
            schema,
            dir,
            config,
            reference: reference_file,
            person_key,
        }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `knooppunt import ro FILE --config … ARGS`: (success, stdout, stderr).
    fn import(&self, file: &Path, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_knooppunt"))
            .args(["import", "ro"])
            .arg(file)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("KNOOPPUNT_CONFIG")
            .output()
            .expect("running knooppunt");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn store(&self) -> PgStore {
        PgStore::connect(&PgStoreConfig {
            url: knooppunt_testkit::database_url(),
            schema: Some(self.schema.name().to_owned()),
            pool_size: 2,
            person_key: PersonKey::from_file(&self.person_key).unwrap(),
        })
        .unwrap()
    }

    /// Tables in the schema (0: nothing was ever written).
    async fn tables(&self) -> i64 {
        let db = knooppunt_testkit::pg_client().await.unwrap();
        db.query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
            &[&self.schema.name()],
        )
        .await
        .unwrap()
        .get(0)
    }

    /// Rows in the outbox (one per registry event).
    async fn outbox(&self) -> i64 {
        let db = knooppunt_testkit::pg_client().await.unwrap();
        db.query_one(
            &format!("SELECT count(*) FROM {}.outbox", self.schema.name()),
            &[],
        )
        .await
        .unwrap()
        .get(0)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The summary line starting with `prefix`.
fn line<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{stdout}"))
}

fn bsn(n: u32) -> PersonId {
    PersonId::Bsn(test_bsn(n).parse().unwrap())
}

/// No BSN, onderwijsnummer or birth date of the file in the output.
fn assert_no_personal_data(text: &str) {
    for n in 1..=20 {
        assert!(!text.contains(&test_bsn(n)), "a BSN in the output:\n{text}");
        assert!(
            !text.contains(&test_onr(n)),
            "an onderwijsnummer in the output:\n{text}"
        );
    }
    assert!(
        !text.contains("1987-11-23"),
        "a birth date in the output:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recounted_demo_imports_once_and_a_second_run_changes_nothing() {
    let s = Setup::new("import_ro", &reference()).await;
    let file = s.file("RO_27DV.csv", &demo_recounted());

    // A dry run checks and counts, and writes nothing (with a reference file: no connection).
    let (ok, out, err) = s.import(&file, &["--dry-run"]);
    assert!(ok, "dry run failed:\n{out}\n{err}");
    assert!(out.contains("dry run: checked, nothing written"), "{out}");
    assert_eq!(
        line(&out, "file:"),
        "file: 84 records; persons 10, inschrijvingen 12, BPV's 17, diploma's 4"
    );
    assert!(!out.contains("imported:"), "{out}");
    assert_eq!(s.tables().await, 0, "a dry run created tables");

    let (ok, out, err) = s.import(&file, &[]);
    assert!(ok, "import failed:\n{out}\n{err}");
    assert_no_personal_data(&out);
    assert_no_personal_data(&err);
    assert_eq!(
        line(&out, "imported:"),
        "imported: persons 10, inschrijvingen 12, BPV's 17, diploma's 4 (112 commands; dossiers opened 10, existing 0)",
        "{out}"
    );
    assert_eq!(
        line(&out, "already imported:"),
        "already imported: persons 0 (0 commands replayed, no effect)"
    );
    assert_eq!(
        line(&out, "rejected commands:"),
        "rejected commands: none",
        "{out}"
    );
    assert!(out.contains("× loose results are not imported") || out.contains("skipped"));
    let events = s.outbox().await;
    assert!(events > 0);

    // Every person's dossier is findable: persons 1–7 by BSN, 8–10 (onderwijsnummer only) by
    // onderwijsnummer.
    let store = s.store().await;
    let mut keys: Vec<DossierKey> = Vec::new();
    for n in 1..=10 {
        let id = if n <= 7 {
            bsn(n)
        } else {
            PersonId::Onderwijsnummer(test_onr(n).parse().unwrap())
        };
        let key = store.find_dossier(&id).await.unwrap();
        keys.push(key.unwrap_or_else(|| panic!("no dossier for person {n}")));
    }
    assert!(store.find_dossier(&bsn(8)).await.unwrap().is_none());
    let d1 = store.dossier(keys[0]).await.unwrap().unwrap();
    assert_eq!(d1.onderwijsovereenkomsten.len(), 1);
    let ook = d1.onderwijsovereenkomsten.values().next().unwrap();
    assert!(ook.geimporteerd);
    assert_eq!(ook.inschrijvingsvolgnummer.as_deref(), Some("C3"));

    // Nothing imported goes to DUO again: the BRON mapping yields no message for any event of
    // the import; the same events under another correlation id (a user's action) would be
    // delivered, so it is the import's mark that holds them back.
    let mut would_deliver = 0;
    for key in &keys {
        let dossier = store.dossier(*key).await.unwrap().unwrap();
        for e in store.history(*key).await.unwrap() {
            let sent = bron::event::from_event(&e.meta, &e.data, &dossier).unwrap();
            assert!(
                sent.is_empty(),
                "{} of the import delivered to DUO",
                e.meta.kind
            );
            if matches!(e.data, Event::InschrijvingGeimporteerd { .. }) {
                continue;
            }
            let mut user = e.meta.clone();
            user.correlation_id = Uuid::now_v7();
            // (These dossiers have no personalia yet — DUO's persons service supplies them — so
            // the mapping, once it acts, asks for them: not "nothing to deliver" either.)
            match bron::event::from_event(&user, &e.data, &dossier) {
                Ok(m) if m.is_empty() => {}
                Ok(_) => would_deliver += 1,
                Err(e) => {
                    assert_eq!(e.field(), Some("dossier/personalia"));
                    would_deliver += 1;
                }
            }
        }
    }
    // 17 BPV's signed (of which 15 ended), 4 diplomas, terminations without a diploma.
    assert!(
        would_deliver >= 17 + 4,
        "BPV's and diplomas: {would_deliver}"
    );

    // Again: the same counts in the file, nothing new.
    let (ok, out, err) = s.import(&file, &[]);
    assert!(ok, "second import failed:\n{out}\n{err}");
    assert_eq!(
        line(&out, "file:"),
        "file: 84 records; persons 10, inschrijvingen 12, BPV's 17, diploma's 4"
    );
    assert_eq!(
        line(&out, "imported:"),
        "imported: persons 0, inschrijvingen 0, BPV's 0, diploma's 0 (0 commands; dossiers opened 0, existing 10)",
        "{out}"
    );
    assert_eq!(
        line(&out, "already imported:"),
        "already imported: persons 10 (102 commands replayed, no effect)"
    );
    assert_eq!(s.outbox().await, events, "the second run added events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_a_fault_is_refused_whole_and_nothing_is_imported() {
    let s = Setup::new("import_ro_bad", &reference()).await;
    let b1 = test_bsn(1);
    let base = demo_recounted();
    let cases: Vec<(&str, String, &str)> = vec![
        // The public demo as published: its BSNs are masked.
        ("masked", demo_text(), "line 2/PER/Burgerservicenummer"),
        // Unmasked, its SLR declares the full file's counts.
        (
            "slr",
            demo_unmasked(),
            "line 84/SLR/Totaal aantal personen: declares 16616 PER records, the file has 10",
        ),
        // A BPV whose inschrijvingvolgnummer differs only by a leading zero.
        (
            "volgnummer",
            base.replacen(
                &format!("BPV|{b1}||C3|C1|"),
                &format!("BPV|{b1}||0C3|C1|"),
                1,
            ),
            "line 5/BPV/Inschrijvingvolgnummer: does not match the preceding ISG record",
        ),
        // A person twice.
        (
            "twice",
            format!(
                "VLP|27DV|2024-07-31|2026-03-24|2026-03-25\n\
                 PER|{b1}||2001-01-00|M\nISG|{b1}||1|2023-08-01|2026-07-31||\n\
                 ISP|{b1}||1|2023-08-01|25655|BOL||J|||||\n\
                 PER|{b1}||2001-01-00|M\nISG|{b1}||2|2023-08-01|2026-07-31||\n\
                 ISP|{b1}||2|2023-08-01|25655|BOL||J|||||\nSLR|2|2|2|0|0|0|0|0|0\n"
            ),
            "person 2 (PER record 2): the same person as PER record 1",
        ),
        // A crebo whose niveau neither the file nor the reference data gives.
        (
            "niveau",
            base.replace("|25655|BBL||", "|99999|BBL||"),
            "PER/ISG[1]/ISP/Niveau",
        ),
    ];
    for (name, text, expected) in cases {
        let file = s.file(&format!("{name}.csv"), &text);
        let (ok, out, err) = s.import(&file, &[]);
        assert!(!ok, "{name}: accepted:\n{out}");
        assert!(
            err.contains("the RO file is refused, nothing was imported") && err.contains(expected),
            "{name}: expected {expected:?} in:\n{err}"
        );
        assert_no_personal_data(&err);
        assert_eq!(s.outbox().await, 0, "{name}: something was imported");
    }

    // An institution below `aanmelden` is refused with the level it has.
    let mut r = reference();
    r.institutions
        .get_mut(&"27DV".parse::<Brin>().unwrap())
        .unwrap()
        .participatie = Participation::Va;
    std::fs::write(&s.reference, serde_json::to_vec(&r).unwrap()).unwrap();
    let file = s.file("low.csv", &demo_recounted());
    let (ok, _, err) = s.import(&file, &[]);
    assert!(!ok);
    assert!(err.contains("institution 27DV is at level `va`"), "{err}");
    assert_eq!(s.outbox().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_less_birth_dates_onderwijsnummers_and_leading_zeros_import_as_the_mapping_says() {
    let s = Setup::new("import_ro_edge", &reference()).await;
    let a = synthetic_person(901);
    let b = synthetic_person(902);
    let onr = test_onr(3);
    let (a, b) = (a.digits(), b.digits());
    let text = format!(
        "VLP|27DV|2024-07-31|2026-03-24|2026-03-25\n\
         PER|{a}||2007-03-00|V\nISG|{a}||002|2023-08-01|2026-07-31||\n\
         ISP|{a}||002|2023-08-01|25655|BOL||J|||||\n\
         BPV|{a}||002|007|2023-08-15|2023-09-01|2024-06-30|2024-06-30|800|100018965|25655|\n\
         PER||{onr}|2006-00-00|M\nISG||{onr}|1|2024-08-01|2027-07-31||\n\
         ISP||{onr}|1|2024-08-01|25655|BBL||J|||||\n\
         PER|{b}||2006-05-14|M\nISG|{b}||2|2023-08-01|2026-07-31||\n\
         ISP|{b}||2|2023-08-01|25655|BOL||J|||||\n\
         SLR|3|3|3|0|1|0|0|0|0\n"
    );
    let file = s.file("edge.csv", &text);
    let (ok, out, err) = s.import(&file, &[]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        line(&out, "imported:"),
        "imported: persons 3, inschrijvingen 3, BPV's 1, diploma's 0 (10 commands; dossiers opened 3, existing 0)",
        "{out}"
    );
    assert!(!out.contains(a) && !out.contains(&onr) && !out.contains("2007-03"));
    let store = s.store().await;
    // Leading zeros are part of the volgnummer: "002" is kept as it is, and differs from "2".
    let key = store
        .find_dossier(&PersonId::Bsn(a.parse().unwrap()))
        .await
        .unwrap()
        .expect("person with a day-less birth date");
    let d = store.dossier(key).await.unwrap().unwrap();
    let ook = d.onderwijsovereenkomsten.values().next().unwrap();
    assert_eq!(ook.inschrijvingsvolgnummer.as_deref(), Some("002"));
    assert_eq!(d.praktijkovereenkomsten.len(), 1);
    let kb = store
        .find_dossier(&PersonId::Bsn(b.parse().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let db = store.dossier(kb).await.unwrap().unwrap();
    let ook_b = db.onderwijsovereenkomsten.values().next().unwrap();
    assert_eq!(ook_b.inschrijvingsvolgnummer.as_deref(), Some("2"));
    assert_ne!(ook.id, ook_b.id);
    // The onderwijsnummer-only person is found by onderwijsnummer.
    let k = store
        .find_dossier(&PersonId::Onderwijsnummer(onr.parse().unwrap()))
        .await
        .unwrap();
    assert!(
        k.is_some(),
        "no dossier for the onderwijsnummer-only person"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_file_imports_every_person() {
    let s = Setup::new("import_ro_gen", &reference()).await;
    let file = s.dir.join("generated.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_knooppunt"))
        .args(["import", "generate-ro", "--persons", "40"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (ok, out, err) = s.import(&file, &["--concurrency", "4"]);
    assert!(ok, "{out}\n{err}");
    // 40 persons; every second a BPV (20), every fourth a diploma (10).
    assert_eq!(
        line(&out, "file:"),
        "file: 172 records; persons 40, inschrijvingen 40, BPV's 20, diploma's 10"
    );
    assert!(
        line(&out, "imported:")
            .starts_with("imported: persons 40, inschrijvingen 40, BPV's 20, diploma's 10"),
        "{out}"
    );
    assert_eq!(
        line(&out, "rejected commands:"),
        "rejected commands: none",
        "{out}"
    );
}

/// The first `persons` persons of an RO text, with the SLR recounted: what a run that stopped
/// after them had imported.
fn first_persons(text: &str, persons: usize) -> String {
    let mut out = String::new();
    let mut counts = [0u64; 9];
    let kinds = [
        "PER", "ISG", "ISP", "ISE", "BPV", "DIP", "AMO", "GEO", "KZD",
    ];
    for l in text.lines() {
        let kind = &l[..3];
        if kind == "SLR" || (kind == "PER" && counts[0] as usize == persons) {
            break;
        }
        if let Some(i) = kinds.iter().position(|k| *k == kind) {
            counts[i] += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    let slr: Vec<String> = counts.iter().map(u64::to_string).collect();
    out.push_str(&format!("SLR|{}\n", slr.join("|")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_stopped_halfway_is_resumed_by_running_it_again() {
    let s = Setup::new("import_ro_resume", &reference()).await;
    let file = s.dir.join("generated.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_knooppunt"))
        .args(["import", "generate-ro", "--persons", "30"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let whole = std::fs::read_to_string(&file).unwrap();
    let half = s.file("half.csv", &first_persons(&whole, 13));
    let (ok, out, err) = s.import(&half, &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        line(&out, "imported:").starts_with("imported: persons 13,"),
        "{out}"
    );
    let events = s.outbox().await;

    let (ok, out, err) = s.import(&file, &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        line(&out, "imported:").starts_with("imported: persons 17,")
            && line(&out, "imported:").ends_with("dossiers opened 17, existing 13)"),
        "{out}"
    );
    assert!(
        line(&out, "already imported:").starts_with("already imported: persons 13 "),
        "{out}"
    );
    assert_eq!(
        line(&out, "rejected commands:"),
        "rejected commands: none",
        "{out}"
    );
    assert!(s.outbox().await > events);
    let (ok, out, _) = s.import(&file, &[]);
    assert!(ok);
    assert!(
        line(&out, "imported:").starts_with("imported: persons 0, inschrijvingen 0, BPV's 0,"),
        "{out}"
    );
    assert!(
        line(&out, "already imported:").starts_with("already imported: persons 30 "),
        "{out}"
    );
}

/// The RO import prepares the move to `krd`: it runs for an institution at `aanmelden`, and its
/// completed run is recorded in the institution's history, which the move up to `krd` needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_at_aanmelden_is_recorded_and_opens_the_move_to_krd() {
    use knooppunt_registry::domain::institution::{
        InstitutionCommand, InstitutionEvent, LevelRejection,
    };
    let brin: Brin = "27DV".parse().unwrap();
    let mut r = reference();
    r.institutions.get_mut(&brin).unwrap().participatie = Participation::Aanmelden;
    let s = Setup::new("import_ro_krd", &r).await;
    let to_krd = || InstitutionCommand::ChangeParticipation {
        to: Participation::Krd,
        reason: "RO imported, going live".to_owned(),
        operator: "otto".to_owned(),
    };
    let file = s.file("RO_27DV.csv", &demo_recounted());
    // A dry run records nothing (and with a reference file does not even connect).
    let (ok, out, err) = s.import(&file, &["--dry-run"]);
    assert!(ok, "dry run failed:\n{out}\n{err}");
    assert!(!out.contains("recorded:"), "{out}");

    let (ok, out, err) = s.import(&file, &[]);
    assert!(ok, "import failed:\n{out}\n{err}");
    assert_eq!(
        line(&out, "recorded:"),
        "recorded: the RO import of 27DV is in its history (it may move up to krd)"
    );
    let store = s.store().await;
    let history = store.institution_history(Some(&brin)).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].event,
        InstitutionEvent::RoImported {
            persons: 10,
            commands_new: 112,
            rejected: 0,
        }
    );
    // Now the move up to `krd` is allowed (another institution without an import is not).
    let moved = store
        .execute_institution(&brin, chrono::Utc::now(), to_krd(), &r)
        .await
        .unwrap();
    assert!(moved.is_ok(), "{moved:?}");
    let other: Brin = "28AB".parse().unwrap();
    let aanmelden = InstitutionCommand::ChangeParticipation {
        to: Participation::Aanmelden,
        reason: "first step".to_owned(),
        operator: "otto".to_owned(),
    };
    store
        .execute_institution(&other, chrono::Utc::now(), aanmelden, &r)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .execute_institution(&other, chrono::Utc::now(), to_krd(), &r)
            .await
            .unwrap(),
        Err(LevelRejection::RoImportMissing)
    );
}

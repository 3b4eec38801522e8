//! The registry's sector reports (`aanmeldingen`, `bron`) on the known dossiers of
//! `knooppunt_sample::reports`, on the in-memory store and on PostgreSQL: the same report from
//! both, distinct students counted, small cells hidden (also the secondary one), the period
//! respected, and no BSN or name anywhere in a report.

use std::sync::Arc;

use chrono::NaiveDate;
use knooppunt_registry::report::{Cell, DossierReports, Period, PgDossierReports, Report};
use knooppunt_registry::store::{MemoryStore, PgStore, PgStoreConfig, Store, pg_pool};
use knooppunt_sample::{ReportFixture, reference_data, seed_report_students};
use knooppunt_testkit::{TestSchema, database_url};

const S: Cell = Cell::Suppressed;

fn n(v: u64) -> Cell {
    Cell::Number(v)
}

fn code(s: &str) -> Cell {
    Cell::Code(s.to_owned())
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn year_2027() -> Period {
    Period::new(day("2027-01-01"), day("2027-12-31")).unwrap()
}

fn everything() -> Period {
    Period::new(Period::EARLIEST, day("2030-12-31")).unwrap()
}

/// Every code and number of the report as text, to look for personal data in.
fn all_text(report: &Report) -> String {
    format!("{report:?}")
}

fn assert_no_personal_data(report: &Report, fixture: &ReportFixture) {
    let text = all_text(report);
    for bsn in &fixture.bsns {
        assert!(!text.contains(bsn.as_str()), "a BSN in {}", report.name);
    }
    for name in &fixture.names {
        assert!(!text.contains(name.as_str()), "a name in {}", report.name);
    }
    for key in &fixture.dossiers {
        assert!(
            !text.contains(&key.to_string()),
            "a dossier key in {}",
            report.name
        );
    }
}

async fn reports_on_the_fixture(reports: &dyn DossierReports, fixture: &ReportFixture) {
    let r = reports
        .aanmeldingen(&year_2027())
        .await
        .expect("aanmeldingen");
    let names: Vec<&str> = r.columns.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "institution",
            "cohort",
            "ontvangen",
            "aangemeld",
            "ook_aangeboden",
            "leidt_niet_tot_inschrijving",
            "ingetrokken",
            "ingeschreven",
            "total"
        ]
    );
    assert_eq!(
        r.rows,
        vec![
            // 12 students: 6 aangemeld shown; the lone ingetrokken (1) hidden, and with it the
            // smallest other cell (5 ontvangen, which 12 - 6 - 1 would give away).
            vec![
                code("25LX"),
                code("2027-2028"),
                S,
                n(6),
                n(0),
                n(0),
                S,
                n(0),
                n(12)
            ],
            // 3 students: everything that is not 0 is hidden.
            vec![
                code("30GT"),
                code("2027-2028"),
                S,
                n(0),
                n(0),
                n(0),
                n(0),
                n(0),
                S
            ],
        ]
    );
    assert_no_personal_data(&r, fixture);

    // The whole period takes in the aanmelding of November 2026: 13 students at 25LX, 6 in
    // ontvangen (student 7's two aanmeldingen count once) and 6 aangemeld; of the two equal
    // candidates the leftmost (ontvangen) is hidden with the lone ingetrokken.
    let all = reports
        .aanmeldingen(&everything())
        .await
        .expect("aanmeldingen");
    assert_eq!(all.cell(0, "total"), Some(&n(13)));
    assert_eq!(all.cell(0, "ingetrokken"), Some(&S));
    assert_eq!(all.cell(0, "ontvangen"), Some(&S));
    assert_eq!(all.cell(0, "aangemeld"), Some(&n(6)));

    // Nothing submitted in 2025.
    let none = reports
        .aanmeldingen(&Period::new(day("2025-01-01"), day("2025-12-31")).unwrap())
        .await
        .expect("aanmeldingen");
    assert!(none.rows.is_empty());

    let b = reports.bron(&year_2027()).await.expect("bron");
    assert_eq!(
        b.rows,
        vec![vec![code("25LX"), n(6), S, S, n(9), n(10)]],
        "6 accepted (one twice: 10 mutations), 2 with signals, 1 rejected"
    );
    assert_no_personal_data(&b, fixture);
    let before = reports
        .bron(&Period::new(day("2027-01-01"), day("2027-02-28")).unwrap())
        .await
        .expect("bron");
    assert!(before.rows.is_empty(), "the feedback came in March");

    let signals = reports.bron_signals(&year_2027()).await.expect("signals");
    assert_eq!(
        signals.rows,
        vec![
            vec![code("25LX"), code("A456"), S, S],
            vec![code("25LX"), code("W123"), S, S],
        ],
        "1 and 2 students: hidden"
    );
    assert_no_personal_data(&signals, fixture);
    assert!(
        !all_text(&signals).contains("voorbeeldsignaal"),
        "no description"
    );
}

#[tokio::test]
async fn memory_reports() {
    let store = MemoryStore::new();
    let fixture = seed_report_students(&store, &reference_data(), 500)
        .await
        .expect("fixture");
    reports_on_the_fixture(&store, &fixture).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reports() {
    let kit = TestSchema::create("reports").await.expect("create schema");
    let schema = kit.name().to_owned();
    let store = PgStore::open(&PgStoreConfig {
        url: database_url(),
        schema: Some(schema.clone()),
        pool_size: 4,
        person_key: knooppunt_registry::pseudonym::PersonKey::random(),
    })
    .await
    .expect("open and migrate");
    let store: Arc<dyn Store> = Arc::new(store);
    let fixture = seed_report_students(&*store, &reference_data(), 600)
        .await
        .expect("fixture");
    let pool = pg_pool(&database_url(), Some(&schema), 2).expect("pool");
    let reports = PgDossierReports::new(pool);
    reports_on_the_fixture(&reports, &fixture).await;

    // The same report as the in-memory store gives for the same students.
    let memory = MemoryStore::new();
    seed_report_students(&memory, &reference_data(), 600)
        .await
        .expect("fixture");
    for period in [year_2027(), everything()] {
        assert_eq!(
            reports.aanmeldingen(&period).await.unwrap(),
            memory.aanmeldingen(&period).await.unwrap()
        );
        assert_eq!(
            reports.bron(&period).await.unwrap(),
            memory.bron(&period).await.unwrap()
        );
        assert_eq!(
            reports.bron_signals(&period).await.unwrap(),
            memory.bron_signals(&period).await.unwrap()
        );
    }
    drop(store);
    kit.drop_now().await.expect("drop schema");
}

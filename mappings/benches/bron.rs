//! Registry event → BRON XML, in records per second (one message = one BRON record).
//!
//! `cargo bench -p knooppunt-mappings --bench bron -- --warm-up-time 1 --measurement-time 3`
//! The target is at least 100,000 records/s on one core (docs/partners/duo.md).

use std::hint::black_box;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use knooppunt_mappings::duo::bron::{event::from_event, write_into};
use knooppunt_registry::domain::*;
use knooppunt_registry::envelope::{DossierKey, EventMeta, REGISTRY_SOURCE};
use knooppunt_registry::ids::{Brin, PersonId};
use knooppunt_registry::reference::{Leertraject, Niveau};

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn setup() -> (Dossier, Vec<(EventMeta, Event)>) {
    let brin: Brin = "25LX".parse().unwrap();
    let ook = OokId(uuid::Uuid::from_u128(1));
    let bpv = BpvId(uuid::Uuid::from_u128(2));
    let details = OokDetails {
        aanmelding: None,
        opleiding: None,
        crebo: "25655".parse().unwrap(),
        niveau: Niveau::Mbo3,
        leertraject: Leertraject::Bbl,
        intensiteit: Intensiteit::VT,
        begin: date("2026-08-01"),
        gepland_einde: date("2029-07-31"),
    };
    let bpv_details = BpvDetails {
        ook,
        leerbedrijf: "100018965".parse().unwrap(),
        onderdeel: BpvOnderdeel::Crebo("25655".parse().unwrap()),
        begin: date("2026-09-01"),
        gepland_einde: date("2027-06-30"),
        omvang_uren: 800,
        afsluitdatum: date("2026-08-20"),
    };
    let setup_events = vec![
        Event::DossierOpened {
            person: Person {
                id: PersonId::parse_either("111222333").unwrap(),
            },
        },
        Event::PersonaliaVastgelegd {
            personalia: Personalia {
                voornamen: "Ayşe".into(),
                voorvoegsels: Some("van 't".into()),
                achternaam: "Hof".into(),
                geboortedatum: "2008-03-14".parse().unwrap(),
                geslacht: Geslacht::V,
                woongemeente: None,
                startkwalificatie: false,
            },
        },
        Event::OnderwijsovereenkomstAangeboden {
            ook,
            instelling: brin.clone(),
            details: details.clone(),
            ouder_tekent: false,
        },
        Event::PraktijkovereenkomstGeregistreerd {
            bpv,
            instelling: brin.clone(),
            details: bpv_details.clone(),
            crebo: "25655".parse().unwrap(),
        },
        Event::KeuzedeelGeregistreerd {
            keuzedeel: Keuzedeel {
                code: "K0067".parse().unwrap(),
                ook,
                instelling: brin.clone(),
                gastinstelling: None,
                resultaat: Some(KeuzedeelResultaat {
                    uitslag: KeuzedeelUitslag::Behaald,
                    datum: date("2028-03-01"),
                    vastgelegd_door: brin.clone(),
                }),
            },
        },
        Event::ExamenresultaatVastgelegd {
            instelling: brin.clone(),
            resultaat: Examenresultaat::Generiek {
                ook,
                vak: GeneriekVak::Nederlands,
                cijfer_ie: Some(Cijfer::from_tenths(74).unwrap()),
                cijfer_ce: Some(Cijfer::from_tenths(51).unwrap()),
                datum: date("2028-05-01"),
            },
        },
    ];
    let mut dossier = Dossier::default();
    for e in &setup_events {
        dossier.apply(e);
    }
    let events = vec![
        Event::OnderwijsovereenkomstOndertekend {
            ook,
            instelling: brin.clone(),
            datum: date("2026-07-15"),
            details,
        },
        Event::PraktijkovereenkomstOndertekend {
            bpv,
            instelling: brin.clone(),
            datum: date("2026-08-25"),
            details: bpv_details,
        },
        Event::DiplomaUitgereikt {
            diploma: Diploma {
                crebo: "25655".parse().unwrap(),
                datum: date("2029-06-17"),
                ook,
                instelling: brin.clone(),
            },
        },
        Event::OnderwijsovereenkomstBeeindigd {
            ook,
            instelling: brin,
            datum: date("2027-01-31"),
            reden: "03".parse().unwrap(),
        },
    ];
    let with_meta = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let meta = EventMeta {
                id: uuid::Uuid::from_u128(100 + i as u128),
                kind: e.type_name().to_owned(),
                time: Utc.with_ymd_and_hms(2026, 9, 1, 8, 30, 0).unwrap(),
                source: REGISTRY_SOURCE.to_owned(),
                subject: DossierKey(uuid::Uuid::from_u128(7)),
                institution: e.institution(),
                correlation_id: uuid::Uuid::from_u128(1),
                causation_id: uuid::Uuid::from_u128(2),
                sequence: 10 + i as u64,
            };
            (meta, e)
        })
        .collect();
    (dossier, with_meta)
}

fn bench(c: &mut Criterion) {
    let (dossier, events) = setup();
    // Records per iteration: every message the events yield (the diploma yields two).
    let records: usize = events
        .iter()
        .map(|(m, e)| from_event(m, e, &dossier).unwrap().len())
        .sum();
    let mut g = c.benchmark_group("bron");
    g.throughput(Throughput::Elements(records as u64));
    g.bench_function("event_to_xml", |b| {
        let mut buf = String::with_capacity(4096);
        b.iter(|| {
            for (meta, e) in &events {
                for msg in from_event(meta, e, &dossier).unwrap() {
                    buf.clear();
                    write_into(&msg, &mut buf).unwrap();
                    black_box(buf.len());
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

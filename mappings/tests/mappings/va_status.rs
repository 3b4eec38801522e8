//! VA aanmeldstatussen: registry events → overstapsysteem JSON → back (round trip), and the
//! published example (with its trailing commas) is read.

use chrono::{NaiveDate, TimeZone, Utc};
use knooppunt_mappings::MappingError;
use knooppunt_mappings::va::{self, VaContext, VaStatus, VaTarget};
use knooppunt_registry::domain::{AanmeldStatus, AanmeldingId, Event, KetenId};
use knooppunt_registry::envelope::{DossierKey, EventMeta};
use knooppunt_registry::ids::PersonId;
use knooppunt_registry::reference::{Leertraject, ReferenceData, RegionaalSysteem, VoSchool};
use proptest::prelude::*;
use uuid::Uuid;

#[test]
fn the_published_example_is_read_despite_trailing_commas() {
    let raw = crate::common::read_spec("cambo-vca-overstapsysteem-voorbeeld-aanmelding.json");
    assert!(
        serde_json::from_slice::<serde_json::Value>(&raw).is_err(),
        "not strict JSON as published"
    );
    let items = va::parse_page(&raw).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].status, AanmeldStatus::OokAangeboden);
    assert_eq!(items[1].status, AanmeldStatus::LeidtNietTotInschrijving);
    assert_eq!(
        items[0].leertraject,
        Some(Leertraject::Bbl),
        "the 'leeratraject' spelling is read"
    );
    assert_eq!(items[1].brin.as_str(), "91XX");
    let json = va::write_page(&items).unwrap();
    insta::assert_snapshot!("va_example_rewritten", json);
    assert_eq!(va::parse_page(json.as_bytes()).unwrap(), items);
}

#[test]
fn trailing_comma_pass_leaves_strings_alone() {
    assert_eq!(
        va::strip_trailing_commas(r#"{"a": "x,}", "b": [1, 2, ], }"#),
        r#"{"a": "x,}", "b": [1, 2 ] }"#
    );
    assert_eq!(va::strip_trailing_commas(r#"["\",]",]"#), r#"["\",]"]"#);
}

fn meta(sequence: u64) -> EventMeta {
    EventMeta {
        id: Uuid::from_u128(1),
        kind: "nl.knooppunt.aanmelding.status-gewijzigd.v1".into(),
        time: Utc.with_ymd_and_hms(2027, 4, 2, 10, 0, 0).unwrap(),
        source: "/knooppunt/registry".into(),
        subject: DossierKey(Uuid::from_u128(2)),
        institution: None,
        correlation_id: Uuid::from_u128(3),
        causation_id: Uuid::from_u128(3),
        sequence,
    }
}

fn status_event(naar: AanmeldStatus, school: Option<&str>) -> Event {
    status_event_in(naar, school, None)
}

fn status_event_in(naar: AanmeldStatus, school: Option<&str>, gemeente: Option<&str>) -> Event {
    Event::AanmeldingStatusGewijzigd {
        aanmelding: AanmeldingId(Uuid::from_u128(9)),
        instelling: "25BE".parse().unwrap(),
        crebo: "25655".parse().unwrap(),
        toeleverende_school: school.map(|s| s.parse().unwrap()),
        gemeente: gemeente.map(|g| g.parse().unwrap()),
        van: AanmeldStatus::Aangemeld,
        naar,
    }
}

#[test]
fn an_event_becomes_a_status_and_is_routed() {
    let ctx = VaContext {
        pgn: Some(PersonId::parse_either("111222333").unwrap()),
        startdatum: NaiveDate::from_ymd_opt(2027, 8, 30),
        leertraject: Some(Leertraject::Bol),
        onderwijsaanbieder_code: Some("100A501".parse().unwrap()),
        ..VaContext::default()
    };
    let s = va::from_event(
        &status_event(AanmeldStatus::OokAangeboden, Some("00YY")),
        &meta(7),
        &ctx,
    )
    .unwrap()
    .unwrap();
    assert_eq!(s.aanmeldjaar.as_deref(), Some("2027-2028"));
    insta::assert_snapshot!("va_status_from_event", va::write_page(&[s]).unwrap());
    // Events VA does not report.
    let other = Event::ToestemmingIngetrokken {
        instelling: "25BE".parse().unwrap(),
        op: Utc::now(),
    };
    assert_eq!(va::from_event(&other, &meta(1), &ctx).unwrap(), None);
    // Without the person number it cannot be sent.
    let e = va::from_event(
        &status_event(AanmeldStatus::Ingetrokken, None),
        &meta(1),
        &VaContext::default(),
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("pgn"));

    let mut reference = ReferenceData::default();
    reference.vo_scholen.insert(
        "00YY".parse().unwrap(),
        VoSchool {
            brin: "00YY".parse().unwrap(),
            naam: "Testschool".into(),
            systeem: RegionaalSysteem::Intergrip,
            gemeente: "0361".parse().unwrap(),
        },
    );
    assert_eq!(
        va::targets(
            &status_event(AanmeldStatus::Ingeschreven, Some("00YY01")),
            &reference
        ),
        vec![
            VaTarget::MboKoppelpunt,
            VaTarget::Regionaal(RegionaalSysteem::Intergrip)
        ]
    );
    assert_eq!(
        va::targets(&status_event(AanmeldStatus::Ingeschreven, None), &reference),
        vec![VaTarget::MboKoppelpunt]
    );
    assert_eq!(
        va::targets(
            &status_event_in(AanmeldStatus::Ingetrokken, None, Some("0363")),
            &reference
        ),
        vec![
            VaTarget::MboKoppelpunt,
            VaTarget::Gemeente("0363".parse().unwrap())
        ]
    );
}

#[test]
fn every_status_has_a_distinct_code() {
    let codes: std::collections::BTreeSet<_> = AanmeldStatus::ALL
        .iter()
        .map(|s| va::status_code(*s))
        .collect();
    assert_eq!(codes.len(), 6);
    for s in AanmeldStatus::ALL {
        assert_eq!(
            va::status_from_code("status", va::status_code(s)).unwrap(),
            s
        );
    }
}

#[test]
fn bad_input_names_the_field() {
    let raw = String::from_utf8(crate::common::read_spec(
        "cambo-vca-overstapsysteem-voorbeeld-aanmelding.json",
    ))
    .unwrap();
    for (from, to, field) in [
        ("\"AO\"", "\"XX\"", "items[0].status"),
        ("\"900180730\"", "\"900180731\"", "items[0].pgn"),
        ("\"99XX\"", "\"9XX\"", "items[0].brin"),
        ("\"25647\"", "\"2564\"", "items[0].opleidingCreboCode"),
    ] {
        let e = va::parse_page(raw.replacen(from, to, 1).as_bytes()).unwrap_err();
        assert_eq!(e.field(), Some(field), "{from}: {e}");
    }
    assert!(matches!(
        va::parse_page(b"{").unwrap_err(),
        MappingError::Malformed { .. }
    ));
}

fn arb_status() -> impl Strategy<Value = VaStatus> {
    (
        proptest::option::of(10_000_000u32..99_999_999),
        any::<u64>(),
        prop::sample::select(AanmeldStatus::ALL.to_vec()),
        0i64..4_000_000_000,
        prop::sample::select(vec!["25BE", "00YY", "91XX01"]),
        proptest::option::of(prop::sample::select(vec![
            Leertraject::Bol,
            Leertraject::Bbl,
            Leertraject::BolDt,
            Leertraject::Odt,
        ])),
        proptest::option::of((2000i32..2100, 1u32..13, 1u32..29)),
        prop::sample::select(vec!["111222333", "101222331", "900180730"]),
    )
        .prop_map(
            |(keten, volg, status, secs, brin, leertraject, start, pgn)| {
                let startdatum = start.map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap());
                VaStatus {
                    keten_id: keten.map(|k| format!("25BE:{k:08}").parse::<KetenId>().unwrap()),
                    ca_keten_id: keten.map(|k| Uuid::from_u128(k.into())),
                    wijzigingsvolgnummer: volg,
                    pgn: PersonId::parse_either(pgn).unwrap(),
                    status,
                    laatste_wijziging: Utc.timestamp_opt(secs, 0).unwrap(),
                    brin: brin.parse().unwrap(),
                    onderwijsaanbieder_code: Some("100A501".parse().unwrap()),
                    crebo: "25655".parse().unwrap(),
                    aanmeldjaar: startdatum.map(va::aanmeldjaar),
                    startdatum,
                    leertraject,
                }
            },
        )
}

proptest! {
    #[test]
    fn statuses_round_trip(items in proptest::collection::vec(arb_status(), 0..5)) {
        let json = va::write_page(&items).unwrap();
        prop_assert_eq!(va::parse_page(json.as_bytes()).unwrap(), items);
    }
}

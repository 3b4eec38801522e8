//! CAMBO `vca.Aanmelding` → registry commands, idempotent on ketenId + wijzigingsvolgnummer.

use knooppunt_mappings::MappingError;
use knooppunt_mappings::cambo::{self, Soort};
use knooppunt_registry::domain::{AanmeldStatus, Command};
use serde_json::{Value, json};
use uuid::Uuid;

const OPLEIDING: &str = "5f0c4d0e-7e9c-4d47-9a52-6b1f3c0c2a11";

fn no_lookup(_: &knooppunt_registry::ids::Brin, _: &str) -> Option<Uuid> {
    None
}

/// An aanmelding (type A) in CAMBO's shape, with names that need care.
fn aanmelding() -> Value {
    json!({
      "$type": "vca.Aanmelding",
      "links": [{"id": 500013, "rel": "self", "type": "vca.Aanmelding", "href": "https://x/aanmelding/500013"}],
      "caKetenId": "123e4567-e89b-12d3-a456-426655440000",
      "ketenId": "25BE:90001119",
      "wijzigingsvolgnummer": 1203,
      "type": "A",
      "ingetrokken": false,
      "datumTijdIndienen": "2027-03-19T15:05:35.071640Z",
      "bsn": "111222333",
      "geboortedatum": "2011-00-00",
      "geslacht": "V",
      "roepnaam": "Ayşe",
      "voornamen": "Ayşe Çiğdem",
      "voorvoegsels": "van 't",
      "achternaam": "Ñúñez-de Vries",
      "vooropleidingen": [{"$type": "vca.Vooropleiding", "vanaf": "2023-08-01", "totEnMet": "2027-07-31",
                            "instelling": "00YY", "opleiding": "VMBO-GL Zorg & Welzijn", "diplomaBehaald": false, "vakken": []}],
      "instelling": "25BE",
      "opleiding": OPLEIDING,
      "opleidingCohort": "2027-2028-SEPT",
      "aanmeldingVoorEersteLeerjaar": true,
      "extraOndersteuning": false
    })
}

fn page(items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "items": items })).unwrap()
}

#[test]
fn the_public_examples_are_read() {
    let p = cambo::parse_page(&crate::common::read_spec(
        "cambo-vca-voorbeeld-aanmelding.json",
    ))
    .unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].soort, Soort::Interessemelding);
    assert_eq!(p[0].keten_id.as_str(), "99XX:90001119");
    assert_eq!(p[0].voorvoegsels.as_deref(), Some("van de"));
    // An interessemelding is not an aanmelding: no commands.
    assert_eq!(cambo::to_commands(&p[0], &no_lookup).unwrap(), None);
    let n = cambo::parse_notification(&crate::common::read_spec(
        "cambo-vca-notification-example.json",
    ))
    .unwrap();
    assert_eq!(
        (n.koppelpunt_code.as_str(), n.geschatte_nieuwe_aanmeldingen),
        ("00AA", 2)
    );
}

#[test]
fn an_aanmelding_becomes_commands() {
    let a = &cambo::parse_page(&page(vec![aanmelding()])).unwrap()[0];
    let batch = cambo::to_commands(a, &no_lookup).unwrap().unwrap();
    let kinds: Vec<&str> = batch
        .commands
        .iter()
        .map(|c| match &c.command {
            Command::OpenDossier { .. } => "open",
            Command::RecordPersonalia { .. } => "personalia",
            Command::RecordVooropleiding { .. } => "vooropleiding",
            Command::SubmitAanmelding { .. } => "submit",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["open", "personalia", "vooropleiding", "submit"]);
    insta::assert_json_snapshot!("cambo_batch", batch);
}

#[test]
fn ids_are_deterministic_per_change_and_stable_per_chain() {
    let a1 = &cambo::parse_page(&page(vec![aanmelding()])).unwrap()[0];
    let b1 = cambo::to_commands(a1, &no_lookup).unwrap().unwrap();
    let b1_again = cambo::to_commands(a1, &no_lookup).unwrap().unwrap();
    assert_eq!(b1, b1_again);
    let mut next = aanmelding();
    next["wijzigingsvolgnummer"] = json!(1204);
    next["ingetrokken"] = json!(true);
    let a2 = &cambo::parse_page(&page(vec![next])).unwrap()[0];
    let b2 = cambo::to_commands(a2, &no_lookup).unwrap().unwrap();
    assert_ne!(b1.id, b2.id);
    assert_eq!(
        b1.aanmelding, b2.aanmelding,
        "the aanmelding id is the chain's"
    );
    assert!(
        b1.commands
            .iter()
            .zip(&b2.commands)
            .all(|(x, y)| x.id != y.id)
    );
    assert!(matches!(
        b2.commands.last().unwrap().command,
        Command::ChangeAanmeldingStatus {
            status: AanmeldStatus::Ingetrokken,
            ..
        }
    ));
}

#[test]
fn an_own_opleiding_code_is_resolved_or_refused() {
    let mut v = aanmelding();
    v["opleiding"] = json!("BAKER");
    let a = &cambo::parse_page(&page(vec![v])).unwrap()[0];
    let e = cambo::to_commands(a, &no_lookup).unwrap_err();
    assert_eq!(e.field(), Some("opleiding"));
    let id = Uuid::from_u128(42);
    let b = cambo::to_commands(a, &move |_, code| (code == "BAKER").then_some(id))
        .unwrap()
        .unwrap();
    assert!(b.commands.iter().any(
        |c| matches!(c.command, Command::SubmitAanmelding { opleiding, .. } if opleiding == id)
    ));
}

#[test]
fn optional_fields_absent_and_maximum_lengths() {
    let mut v = aanmelding();
    for k in [
        "voornamen",
        "achternaam",
        "geboortedatum",
        "geslacht",
        "vooropleidingen",
        "caKetenId",
        "voorvoegsels",
    ] {
        v.as_object_mut().unwrap().remove(k);
    }
    v["roepnaam"] = json!("é".repeat(75));
    v["opleidingCohort"] = json!("C".repeat(100));
    let a = &cambo::parse_page(&page(vec![v])).unwrap()[0];
    let b = cambo::to_commands(a, &no_lookup).unwrap().unwrap();
    // Without full personalia only the dossier and the aanmelding.
    assert_eq!(b.commands.len(), 2);
    let mut v = aanmelding();
    v["roepnaam"] = json!("é".repeat(76));
    assert_eq!(
        cambo::parse_page(&page(vec![v])).unwrap_err().field(),
        Some("items[0].roepnaam")
    );
}

#[test]
fn bad_input_names_the_field() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("bsn", json!("111222334"), "items[0].bsn"),
        ("ketenId", json!("25BE-1"), "items[0].ketenId"),
        ("instelling", json!("2BE"), "items[0].instelling"),
        ("type", json!("X"), "items[0].type"),
        ("geslacht", json!("X"), "items[0].geslacht"),
        (
            "geboortedatum",
            json!("2011-13-01"),
            "items[0].geboortedatum",
        ),
    ];
    for (k, val, field) in cases {
        let mut v = aanmelding();
        v[k] = val;
        let e = cambo::parse_page(&page(vec![v])).unwrap_err();
        assert_eq!(e.field(), Some(field), "{k}: {e}");
        assert!(!e.to_string().contains("111222334"), "no BSN in errors");
    }
    let mut v = aanmelding();
    v.as_object_mut().unwrap().remove("bsn");
    assert!(matches!(
        cambo::parse_page(&page(vec![v])).unwrap_err(),
        MappingError::Missing { .. }
    ));
    assert!(matches!(
        cambo::parse_page(b"{\"items\": [").unwrap_err(),
        MappingError::Malformed { .. }
    ));
    assert!(matches!(
        cambo::parse_page(b"\xff").unwrap_err(),
        MappingError::InvalidUtf8 { .. }
    ));
    assert!(matches!(
        cambo::parse_page(&vec![b' '; cambo::MAX_BYTES + 1]).unwrap_err(),
        MappingError::TooLarge { .. }
    ));
    assert!(
        cambo::parse_notification(
            br#"{"koppelpuntCode":"","koppelpuntNaam":"x","geschatteNieuweAanmeldingen":1}"#
        )
        .is_err()
    );
}

#[test]
fn debug_output_is_redacted() {
    let a = &cambo::parse_page(&page(vec![aanmelding()])).unwrap()[0];
    let d = format!("{a:?}");
    assert!(!d.contains("111222333") && !d.contains("Vries"), "{d}");
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;

    fn text(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[A-Za-zÇçÑñéü' -]{{1,{max}}}"))
            .unwrap()
            .prop_map(|s| s.trim().to_owned())
            .prop_filter("non-empty after trim", |s| !s.is_empty())
    }

    fn arb() -> impl Strategy<Value = Value> {
        (
            (10_000_000u32..99_999_999, any::<u64>(), any::<bool>(), any::<bool>(), 0i64..4_000_000_000),
            (proptest::option::of(text(200)), proptest::option::of(text(20)), proptest::option::of(text(200)), text(75)),
            (proptest::option::of((1990i32..2015, 0u32..13, 0u32..29)), proptest::option::of(prop::sample::select(vec!["V", "M", "-"]))),
            proptest::collection::vec((text(100), text(200), any::<bool>()), 0..3),
            (text(36), text(100)),
        )
            .prop_map(|((nr, volg, aanmelding, ingetrokken, secs), (voornamen, vv, achternaam, roepnaam), (geb, geslacht), voor, (opl, cohort))| {
                let mut v = json!({
                    "ketenId": format!("25BE:{nr:08}"),
                    "wijzigingsvolgnummer": volg,
                    "type": if aanmelding { "A" } else { "I" },
                    "ingetrokken": ingetrokken,
                    "datumTijdIndienen": chrono::DateTime::from_timestamp(secs, 0).unwrap(),
                    "bsn": "111222333",
                    "roepnaam": roepnaam,
                    "instelling": "25BE",
                    "opleiding": opl,
                    "opleidingCohort": cohort,
                    "vooropleidingen": voor.into_iter().map(|(i, o, d)| json!({"instelling": i, "opleiding": o, "diplomaBehaald": d})).collect::<Vec<_>>(),
                });
                for (k, x) in [("voornamen", voornamen), ("voorvoegsels", vv), ("achternaam", achternaam)] {
                    if let Some(x) = x { v[k] = json!(x); }
                }
                if let Some((y, m, d)) = geb {
                    // Partial dates: an unknown month means an unknown day too.
                    let d = if m == 0 { 0 } else { d };
                    v["geboortedatum"] = json!(format!("{y:04}-{m:02}-{d:02}"));
                }
                if let Some(g) = geslacht { v["geslacht"] = json!(g); }
                v
            })
    }

    proptest! {
        #[test]
        fn write_then_parse_is_identity(items in proptest::collection::vec(arb(), 0..4)) {
            let parsed = cambo::parse_page(&page(items)).unwrap();
            let written = cambo::write_page(&parsed).unwrap();
            prop_assert_eq!(cambo::parse_page(written.as_bytes()).unwrap(), parsed);
        }

        #[test]
        fn command_ids_depend_only_on_the_change(nr in 10_000_000u32..99_999_999, volg in any::<u64>()) {
            let mut v = aanmelding();
            v["ketenId"] = json!(format!("25BE:{nr:08}"));
            v["wijzigingsvolgnummer"] = json!(volg);
            let a = &cambo::parse_page(&page(vec![v.clone()])).unwrap()[0];
            let b1 = cambo::to_commands(a, &no_lookup).unwrap().unwrap();
            // Same change re-read (other field order, other roepnaam): same ids.
            v["roepnaam"] = json!("Andere");
            let a2 = &cambo::parse_page(&page(vec![v])).unwrap()[0];
            let b2 = cambo::to_commands(a2, &no_lookup).unwrap().unwrap();
            prop_assert_eq!(b1.id, b2.id);
            prop_assert_eq!(b1.commands.iter().map(|c| c.id).collect::<Vec<_>>(), b2.commands.iter().map(|c| c.id).collect::<Vec<_>>());
        }
    }
}

proptest::proptest! {
    /// Cut or flip bytes of a valid page: a value or a typed error, never a panic.
    #[test]
    fn reader_never_panics_on_mutations(cut in 0usize..3000, flips in proptest::collection::vec((0usize..3000, proptest::prelude::any::<u8>()), 0..8)) {
        let mut x = page(vec![aanmelding()]);
        for (i, b) in flips {
            let n = x.len();
            x[i % n] = b;
        }
        x.truncate(cut.max(1));
        if let Ok(items) = cambo::parse_page(&x) {
            for a in &items {
                let _ = cambo::to_commands(a, &no_lookup);
            }
        }
    }
}

//! RIO LOD REST JSON → the RIO model → registry reference data.

use chrono::NaiveDate;
use knooppunt_mappings::MappingError;
use knooppunt_mappings::rio::{Instroom, lod, reference};
use knooppunt_registry::reference::{Leertraject, Niveau, Participation};

const OPLEIDINGEN: &str = r#"[
  {"id":"5f0c4d0e-7e9c-4d47-9a52-6b1f3c0c2a11","aangebodenOpleidingcode":"5f0c4d0e-7e9c-4d47-9a52-6b1f3c0c2a11",
   "eigennaam":"Verzorgende IG — Çelik & van 't Hof","startdatum":"2026-08-01","eersteInstroomdatum":"2027-08-30",
   "type":"AANGEBODENMBOOPLEIDING","leertraject":"BBL","mboniveau":"MBO-3","toelatingseisen":"NEE","toegankelijkheid":"ALL",
   "_links":{"self":{"href":"https://lod.onderwijsregistratie.nl/api/rio/v2/aangeboden-opleidingen/5f0c"}}},
  {"id":"00000000-0000-0000-0000-000000000009","aangebodenOpleidingcode":"00000000-0000-0000-0000-000000000009",
   "startdatum":"2020-08-01","type":"AANGEBODENHOOPLEIDING"},
  {"id":"00000000-0000-0000-0000-000000000002","aangebodenOpleidingcode":"00000000-0000-0000-0000-000000000002",
   "startdatum":"2026-08-01","einddatum":"2030-07-31","type":"AANGEBODENMBOOPLEIDING","leertraject":"BOL",
   "toelatingseisen":"JA","toegankelijkheid":"SPEC"}
]"#;

const COHORTEN: &str = r#"[
  {"id":"c1","code":"2027-2028-SEPT","status":"G","beginAanmeldperiode":"2026-10-01","eindeAanmeldperiode":"2027-04-01",
   "instroommoment":"2027-08-30","toestemmingVereistVoorAanmelding":"NEE","deelnemersplaatsen":32000,"type":"AANGEBODENMBOOPLEIDINGCOHORT"},
  {"id":"c2","code":"FLEX","status":"O","beginAanmeldperiode":"2026-10-01","beginInstroomperiode":"2027-08-30",
   "eindeInstroomperiode":"2028-07-31","toestemmingVereistVoorAanmelding":"JA","type":"AANGEBODENMBOOPLEIDINGCOHORT"}
]"#;

#[test]
fn aangeboden_opleidingen_with_cohorts() {
    let opl = lod::parse_aangeboden_opleidingen(OPLEIDINGEN.as_bytes()).unwrap();
    assert_eq!(opl.len(), 2, "the HO opleiding is skipped");
    let cohorts = lod::parse_cohorten(COHORTEN.as_bytes()).unwrap();
    assert!(matches!(
        cohorts[1].instroom,
        Instroom::Flexibel { eind: Some(_), .. }
    ));
    let first = lod::with_cohorts(opl[0].clone(), cohorts);
    insta::assert_json_snapshot!("rio_lod_opleidingen", (&first, &opl[1]));

    // To the registry: only the published cohort; the crebo comes from SOAP or the opleiding link.
    let mut with_crebo = first.clone();
    with_crebo.crebo = Some("25655".parse().unwrap());
    let r = reference::to_opleiding(&with_crebo, &"25BE01".parse().unwrap()).unwrap();
    assert_eq!(r.instelling.as_str(), "25BE");
    assert_eq!((r.niveau, r.leertraject), (Niveau::Mbo3, Leertraject::Bbl));
    assert_eq!(r.cohorts.len(), 1);
    assert_eq!(
        r.cohorts[0].startdatum,
        NaiveDate::from_ymd_opt(2027, 8, 30).unwrap()
    );
    // Missing crebo is a named error.
    let e = reference::to_opleiding(&first, &"25BE".parse().unwrap()).unwrap_err();
    assert!(e.field().unwrap().ends_with("opleidingscode"), "{e}");
}

#[test]
fn organisatorische_eenheden_and_locaties() {
    let eenheden = r#"[
      {"id":"100A501","code":"100A501","inbedrijfdatum":"2010-01-01","naam":"ROC Ñúñez-de Vries","type":"ONDERWIJSAANBIEDER"},
      {"id":"100B490","code":"100B490","inbedrijfdatum":"2010-01-01","naam":"Bestuur","type":"ONDERWIJSBESTUUR"}
    ]"#;
    let a = lod::parse_onderwijsaanbieders(eenheden.as_bytes()).unwrap();
    assert_eq!(a.len(), 1);
    // Without a BRIN (LOD links the erkenning), the registry institution cannot be made yet.
    let e = reference::to_institution(&a[0], Participation::Va).unwrap_err();
    assert!(matches!(e, MappingError::Missing { .. }));
    let mut with = a[0].clone();
    with.brins = vec!["25BE".parse().unwrap()];
    with.bevoegd_gezag = Some("100B490".parse().unwrap());
    let inst = reference::to_institution(&with, Participation::Aanmelden).unwrap();
    assert_eq!(inst.oin.as_str(), "0000000700025BE00000");

    let locaties = r#"{"id":"101X591","onderwijslocatiecode":"101X591","gpsLatitude":52.6,"gpsLongitude":4.7,
      "bag-id":"0361200000000001","straatnaam":"Langestraat","huisnummer":66,"postcode":"1811JJ","plaatsnaam":"Alkmaar"}"#;
    let l = lod::parse_onderwijslocaties(locaties.as_bytes()).unwrap();
    insta::assert_json_snapshot!("rio_lod_locaties", l);
}

#[test]
fn bad_json_is_a_named_error() {
    let e = lod::parse_aangeboden_opleidingen(b"[{").unwrap_err();
    assert!(matches!(e, MappingError::Malformed { format: "JSON", .. }));
    let e = lod::parse_aangeboden_opleidingen(br#"[{"aangebodenOpleidingcode":"x","startdatum":"2020-01-01","type":"AANGEBODENMBOOPLEIDING"}]"#).unwrap_err();
    assert_eq!(e.field(), Some("$[0].aangebodenOpleidingcode"));
    let e = lod::parse_cohorten(br#"[{"code":"a","status":"X","beginAanmeldperiode":"2026-10-01","instroommoment":"2027-08-30","toestemmingVereistVoorAanmelding":"NEE"}]"#).unwrap_err();
    assert_eq!(e.field(), Some("$[0].status"));
    let e = lod::parse_cohorten(br#"[{"code":"a","status":"G","beginAanmeldperiode":"2026-10-01","toestemmingVereistVoorAanmelding":"NEE"}]"#).unwrap_err();
    assert!(matches!(e, MappingError::Missing { .. }));
    let e = lod::parse_onderwijslocaties(br#"[{"onderwijslocatiecode":"101A591"}]"#).unwrap_err();
    assert_eq!(e.field(), Some("$[0].onderwijslocatiecode"));
    assert!(matches!(
        lod::parse_cohorten(b"\"x\"").unwrap_err(),
        MappingError::Invalid { .. }
    ));
    assert!(matches!(
        lod::parse_cohorten(b"[\xff]").unwrap_err(),
        MappingError::InvalidUtf8 { .. }
    ));
    let long = format!(
        r#"[{{"code":"{}","status":"G","beginAanmeldperiode":"2026-10-01","instroommoment":"2027-08-30","toestemmingVereistVoorAanmelding":"NEE"}}]"#,
        "c".repeat(61)
    );
    assert_eq!(
        lod::parse_cohorten(long.as_bytes()).unwrap_err().field(),
        Some("$[0].code")
    );
}

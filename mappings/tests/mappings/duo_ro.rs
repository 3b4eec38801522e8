//! Registratieoverzicht (RO): the public demo, streaming, per-person grouping, the SLR check,
//! bulk-import commands, the line writer/reader round trip, and typed errors.

use std::io::BufReader;

use crate::duo_fixtures::*;
use knooppunt_mappings::MappingError;
use knooppunt_mappings::duo::codes::*;
use knooppunt_mappings::duo::records::*;
use knooppunt_mappings::duo::ro::{self, *};
use knooppunt_registry::domain::institution::Levels;
use knooppunt_registry::ids::Crebo;
use knooppunt_registry::reference::Niveau;
use proptest::prelude::*;

const DEMO: &str = "duo-ro-demo_RO_27DV_20240731_20260324.csv";

fn demo_unmasked() -> String {
    unmask(&String::from_utf8(crate::common::read_spec(DEMO)).unwrap())
}

/// The demo is an excerpt: its SLR declares the counts of the full file. This replaces it with
/// the counts of the excerpt (10 PER, 12 ISG, 19 ISP, 0 ISE, 17 BPV, 4 DIP, 0 AMO, 11 GEO, 9 KZD).
fn demo_recounted() -> String {
    demo_unmasked().replace(
        "SLR|16616|19859|31053|2|28260|4696|133|11758|11511",
        "SLR|10|12|19|0|17|4|0|11|9",
    )
}

fn records(text: &str) -> Vec<Result<RoRecord, MappingError>> {
    RoReader::new(BufReader::new(text.as_bytes())).collect()
}

#[test]
fn the_public_demo_has_masked_bsns_refused_at_the_first_per() {
    let all = records(&String::from_utf8(crate::common::read_spec(DEMO)).unwrap());
    assert_eq!(all.len(), 2, "VLP, then the error; then the stream ends");
    let e = all[1].as_ref().unwrap_err();
    assert_eq!(e.field(), Some("line 2/PER/Burgerservicenummer"));
}

#[test]
fn the_public_demo_streams_every_record_and_its_slr_mismatch_is_reported() {
    let all = records(&demo_unmasked());
    let (ok, err): (Vec<_>, Vec<_>) = all.into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 83, "VLP and 82 data records");
    assert_eq!(err.len(), 1);
    let e = err[0].as_ref().unwrap_err();
    assert_eq!(e.field(), Some("line 84/SLR/Totaal aantal personen"));
    assert_eq!(
        e.to_string(),
        "invalid value for line 84/SLR/Totaal aantal personen: declares 16616 PER records, the file has 10"
    );
}

#[test]
fn the_recounted_demo_parses_into_persons() {
    let text = demo_recounted();
    let (vlp, personen) = ro::open(BufReader::new(text.as_bytes())).unwrap();
    assert_eq!(vlp.brin.as_str(), "27DV");
    let personen: Vec<RoPersoon> = personen.collect::<Result<_, _>>().unwrap();
    assert_eq!(personen.len(), 10);
    let bsn6 = &personen[5];
    assert_eq!(bsn6.inschrijvingen.len(), 2);
    assert_eq!(bsn6.inschrijvingen[0].inschrijving.perioden.len(), 2);
    assert_eq!(bsn6.inschrijvingen[0].bpvs.len(), 2);
    assert_eq!(bsn6.diplomas[0].diploma.generieke_examenonderdelen.len(), 2);
    assert_eq!(bsn6.diplomas[0].diploma.keuzedelen.len(), 2);
    insta::assert_json_snapshot!("ro_demo_personen", personen);
}

fn niveau(c: &Crebo) -> Option<Niveau> {
    // Test kwalificatiestructuur: every crebo of the demo at niveau 3, except entree 25748.
    Some(if c.as_str() == "25748" {
        Niveau::Mbo1
    } else {
        Niveau::Mbo3
    })
}

/// A fixed person key, so the derived ids (and the snapshot) are stable.
fn key() -> knooppunt_registry::pseudonym::PersonKey {
    knooppunt_registry::pseudonym::PersonKey::from_bytes(&[0x5a; 32]).unwrap()
}

#[test]
fn bulk_import_commands_for_the_recounted_demo() {
    let text = demo_recounted();
    let (vlp, personen) = ro::open(BufReader::new(text.as_bytes())).unwrap();
    type Import = (
        Vec<knooppunt_registry::domain::Command>,
        Vec<(String, &'static str)>,
    );
    let imports: Vec<Import> = personen
        .map(|p| {
            let i = import_commands(&vlp, &p.unwrap(), &niveau, &key()).unwrap();
            (i.commands, i.overgeslagen)
        })
        .collect();
    assert_eq!(imports.len(), 10);
    // Deterministic ids: importing the same file twice gives the same commands.
    let (vlp2, again) = ro::open(BufReader::new(text.as_bytes())).unwrap();
    let again: Vec<_> = again
        .map(|p| {
            import_commands(&vlp2, &p.unwrap(), &niveau, &key())
                .unwrap()
                .commands
        })
        .collect();
    assert_eq!(
        imports.iter().map(|i| i.0.clone()).collect::<Vec<_>>(),
        again
    );
    insta::assert_json_snapshot!("ro_demo_import", imports);
}

#[test]
fn an_unknown_niveau_is_a_typed_error() {
    let text = demo_recounted();
    let (vlp, mut personen) = ro::open(BufReader::new(text.as_bytes())).unwrap();
    let p = personen.next().unwrap().unwrap();
    let e = import_commands(&vlp, &p, &|_: &Crebo| None, &key()).unwrap_err();
    assert_eq!(e.field(), Some("PER/ISG[1]/ISP/Niveau"));
}

fn persons_error(text: &str) -> MappingError {
    try_persons_error(text).expect("an error")
}

fn try_persons_error(text: &str) -> Option<MappingError> {
    match ro::open(BufReader::new(text.as_bytes())) {
        Err(e) => Some(e),
        Ok((_, personen)) => personen.filter_map(Result::err).next(),
    }
}

#[test]
fn bad_input_gives_typed_errors_naming_the_field() {
    let base = demo_recounted();
    let b1 = test_bsn(1);
    let cases: Vec<(String, &str)> = vec![
        // wrong column count
        (
            base.replacen(
                &format!("ISG|{b1}||C3|2023-01-30|2025-01-29|2025-01-16|08"),
                &format!("ISG|{b1}||C3|2023-01-30|2025-01-29|2025-01-16"),
                1,
            ),
            "line 3/ISG",
        ),
        // invalid BSN
        (
            base.replacen(&format!("PER|{b1}|"), "PER|111222334|", 1),
            "line 2/PER/Burgerservicenummer",
        ),
        // both BSN and ONR
        (
            base.replacen(&format!("PER|{b1}||"), &format!("PER|{b1}|101222331|"), 1),
            "line 2/PER/Onderwijsnummer",
        ),
        // invalid date
        (
            base.replacen("2023-01-30|25655", "2023-02-30|25655", 1),
            "line 4/ISP/DatumBegin",
        ),
        // invalid code
        (
            base.replacen("|25655|BBL||J|", "|25655|BXL||J|", 1),
            "line 4/ISP/Leertraject",
        ),
        // unknown record type
        (
            base.replacen(&format!("ISP|{b1}|"), &format!("XYZ|{b1}|"), 1),
            "line 4/Recordsoort",
        ),
        // a child of another person
        (
            base.replacen(&format!("ISG|{b1}|"), &format!("ISG|{}|", test_bsn(2)), 1),
            "line 3/ISG/Burgerservicenummer",
        ),
        // an ISP for another inschrijving
        (
            base.replacen(&format!("ISP|{b1}||C3"), &format!("ISP|{b1}||C9"), 1),
            "line 4/ISP/Inschrijvingvolgnummer",
        ),
        // a GEO for another diploma
        (
            base.replacen(
                &format!("GEO|{b1}||8286771"),
                &format!("GEO|{b1}||8286779"),
                1,
            ),
            "line 8/GEO/ResultaatvolgnummerDiploma",
        ),
        // SLR count wrong
        (
            base.replace("SLR|10|12|19|0|17|4|0|11|9", "SLR|10|12|19|0|17|4|0|11|8"),
            "line 84/SLR/Totaal aantal keuzedelen",
        ),
        // SLR column count wrong
        (
            base.replace("SLR|10|12|19|0|17|4|0|11|9", "SLR|10|12|19|0|17|4|0|11"),
            "line 84/SLR",
        ),
        // record after the SLR
        (format!("{base}PER|{b1}||1987-11-23|V\r\n"), "line 85"),
        // first record not VLP
        (
            base.replacen("VLP|27DV", "PER|27DV", 1),
            "line 1/Recordsoort",
        ),
        // line too long
        (
            base.replacen("|C3|", &format!("|{}|", "C".repeat(5000)), 1),
            "line 3",
        ),
    ];
    for (text, field) in &cases {
        let Some(e) = try_persons_error(text) else {
            panic!("no error for the case of {field}");
        };
        assert_eq!(e.field(), Some(*field), "{e}");
        assert!(!e.to_string().contains(&b1), "no BSN in errors: {e}");
    }
    // ISG without ISP
    let e = persons_error(
        &base
            .replacen(
                &format!("ISP|{b1}||C3|2023-01-30|25655|BBL||J||100A501|101X591||\r\n"),
                "",
                1,
            )
            .replace("SLR|10|12|19|", "SLR|10|12|18|"),
    );
    assert!(matches!(e, MappingError::Missing { .. }), "{e}");
    // missing SLR
    let cut = base.replace("SLR|10|12|19|0|17|4|0|11|9\r\n", "");
    assert!(matches!(persons_error(&cut), MappingError::Missing { .. }));
    // invalid UTF-8
    let mut bytes = base.clone().into_bytes();
    let at = bytes.iter().position(|b| *b == b'\n').unwrap() + 5;
    bytes[at] = 0xff;
    let e = RoReader::new(BufReader::new(&bytes[..]))
        .filter_map(Result::err)
        .next()
        .unwrap();
    assert_eq!(e, MappingError::InvalidUtf8 { offset: at });
}

#[test]
fn semicolon_separator_and_nine_column_dip_are_accepted() {
    let text = demo_recounted().replace('|', ";").replace(
        &format!(
            "DIP;{};;8286771;25655;2025-01-16;;J;C3;100A501",
            test_bsn(1)
        ),
        &format!("DIP;{};;8286771;25655;2025-01-16;J;C3;100A501", test_bsn(1)),
    );
    let all: Vec<RoRecord> = records(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 84);
}

// ---------- round trip ----------

fn arb_record() -> impl Strategy<Value = RoRecord> {
    let los = || {
        (
            proptest::option::of(arb_date()),
            proptest::option::of(arb_volgnummer()),
            proptest::option::of("[0-9]{3}A[0-9]{3}".prop_map(|s| s.parse().unwrap())),
        )
            .prop_map(|(d, i, a)| LosResultaat {
                datum_resultaat: d,
                inschrijvingvolgnummer: i,
                onderwijsaanbieder: a,
            })
    };
    let dipref = || {
        proptest::option::of(
            (arb_volgnummer(), arb_crebo()).prop_map(|(r, c)| DiplomaRef {
                resultaatvolgnummer: r,
                opleidingcode: c,
            }),
        )
    };
    prop_oneof![
        (arb_person_id(), arb_geboortedatum(), pick(Geslacht::ALL)).prop_map(|(p, g, s)| {
            RoRecord::Per(RoPer {
                persoon: p,
                geboortedatum: g,
                geslacht: s,
            })
        }),
        (arb_person_id(), arb_inschrijving()).prop_map(|(p, i)| RoRecord::Isg(RoIsg {
            persoon: p,
            inschrijvingvolgnummer: i.inschrijvingvolgnummer,
            datum_inschrijving: i.datum_inschrijving,
            datum_uitschrijving_gepland: i.datum_uitschrijving_gepland,
            datum_uitschrijving_werkelijk: i.datum_uitschrijving_werkelijk,
            reden_uitschrijving: i.reden_uitschrijving,
        })),
        (
            arb_person_id(),
            arb_volgnummer(),
            arb_date().prop_flat_map(arb_periode)
        )
            .prop_map(|(p, v, per)| RoRecord::Isp(RoIsp {
                persoon: p,
                inschrijvingvolgnummer: v,
                periode: per
            })),
        (
            arb_person_id(),
            arb_volgnummer(),
            arb_date(),
            proptest::option::of(arb_date())
        )
            .prop_map(|(p, v, b, e)| RoRecord::Ise(RoIse {
                persoon: p,
                inschrijvingvolgnummer: v,
                periode: ExtraOndersteuning {
                    datum_begin: b,
                    datum_eind: e
                }
            })),
        (arb_person_id(), arb_bpv()).prop_map(|(p, b)| RoRecord::Bpv(RoBpv { persoon: p, bpv: b })),
        (arb_person_id(), arb_diploma()).prop_map(|(p, d)| RoRecord::Dip(RoDip {
            persoon: p,
            resultaatvolgnummer: d.resultaatvolgnummer,
            opleidingcode: d.opleidingcode,
            datum_resultaat: d.datum_resultaat,
            indicatie_bekostigbaar: d.indicatie_bekostigbaar,
            inschrijvingvolgnummer: d.inschrijvingvolgnummer,
            onderwijsaanbieder: d.onderwijsaanbieder,
        })),
        (
            arb_person_id(),
            dipref(),
            arb_volgnummer(),
            "[A-Z0-9]{5}",
            proptest::option::of(any::<bool>()),
            los()
        )
            .prop_map(|(p, d, r, c, cert, l)| RoRecord::Amo(RoAmo {
                persoon: p,
                diploma: d,
                resultaatvolgnummer: r,
                code: AmoCode::parse("t", &c).unwrap(),
                certificaat: cert,
                los: l,
            })),
        (arb_person_id(), dipref(), arb_geo(), los()).prop_map(|(p, d, g, l)| RoRecord::Geo(
            RoGeo {
                persoon: p,
                diploma: d,
                geo: g,
                los: l
            }
        )),
        (
            arb_person_id(),
            dipref(),
            arb_volgnummer(),
            "K[0-9]{4}",
            pick(KeuzedeelResultaat::ALL),
            proptest::option::of(any::<bool>()),
            los()
        )
            .prop_map(|(p, d, r, c, res, cert, l)| RoRecord::Kzd(RoKzd {
                persoon: p,
                diploma: d,
                kzd: Keuzedeel {
                    resultaatvolgnummer: r,
                    code: c.parse().unwrap(),
                    resultaat: res
                },
                certificaat: cert,
                los: l,
            })),
    ]
}

fn counts(rs: &[RoRecord]) -> RoCounts {
    let mut c = RoCounts::default();
    for r in rs {
        match r {
            RoRecord::Per(_) => c.per += 1,
            RoRecord::Isg(_) => c.isg += 1,
            RoRecord::Isp(_) => c.isp += 1,
            RoRecord::Ise(_) => c.ise += 1,
            RoRecord::Bpv(_) => c.bpv += 1,
            RoRecord::Dip(_) => c.dip += 1,
            RoRecord::Amo(_) => c.amo += 1,
            RoRecord::Geo(_) => c.geo += 1,
            RoRecord::Kzd(_) => c.kzd += 1,
            RoRecord::Vlp(_) | RoRecord::Slr(_) => {}
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lines_written_are_read_back_identically(body in proptest::collection::vec(arb_record(), 0..12), semicolon in any::<bool>()) {
        let sep = if semicolon { ';' } else { '|' };
        let mut all = vec![RoRecord::Vlp(RoVlp { brin: "27DV".parse().unwrap(), begin: d("2024-07-31"), eind: d("2026-03-24"), aanmaakdatum: d("2026-03-25") })];
        all.extend(body.iter().cloned());
        all.push(RoRecord::Slr(counts(&body)));
        let text: String = all.iter().map(|r| r.write_line(sep) + "\r\n").collect();
        let back: Vec<RoRecord> = records(&text).into_iter().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, all);
    }

    #[test]
    fn reader_never_panics_on_mutations(at in 0usize..5000, byte in any::<u8>()) {
        let mut b = demo_recounted().into_bytes();
        let n = b.len();
        b[at % n] = byte;
        let _ = RoReader::new(BufReader::new(&b[..])).count();
        if let Ok((_, p)) = ro::open(BufReader::new(&b[..])) {
            let _ = p.count();
        }
    }
}

/// The import sequence is accepted by the registry's own rules: every command of every person of
/// the (recounted) demo decides without rejection on a fresh dossier of an institution at `krd`.
#[test]
fn the_import_commands_are_accepted_by_the_registry() {
    use knooppunt_registry::domain::{DecideContext, Dossier};
    use knooppunt_registry::envelope::{Actor, CommandMeta, DossierKey};
    use knooppunt_registry::reference::Participation;
    use knooppunt_sample::reference_data;

    let mut reference = reference_data();
    let brin: knooppunt_registry::ids::Brin = "27DV".parse().unwrap();
    reference
        .institutions
        .get_mut(&brin)
        .expect("27DV in the demo reference data")
        .participatie = Participation::Krd;
    let text = demo_recounted();
    let (vlp, personen) = ro::open(BufReader::new(text.as_bytes())).unwrap();
    let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 25, 12, 0, 0).unwrap();
    let mut rejected = Vec::new();
    let mut decided = 0;
    for (n, p) in personen.enumerate() {
        let import = import_commands(&vlp, &p.unwrap(), &niveau, &key()).unwrap();
        let key = DossierKey(uuid::Uuid::from_u128(n as u128 + 1));
        let mut dossier = Dossier::default();
        for c in &import.commands {
            let meta = CommandMeta::new(key, Actor::System, now);
            let ctx = DecideContext {
                reference: &reference,
                levels: Levels::none(),
                meta: &meta,
            };
            match dossier.decide(c, &ctx) {
                Ok(events) => {
                    decided += 1;
                    for e in &events {
                        dossier.apply(e);
                    }
                }
                Err(r) => rejected.push(format!("person {n}: {}: {r}", c.name())),
            }
        }
    }
    assert!(rejected.is_empty(), "{rejected:#?}");
    assert_eq!(decided, 112);
}

#[test]
fn extra_ondersteuning_is_read_and_reported_as_not_imported() {
    let b1 = test_bsn(1);
    let text = demo_recounted()
        .replacen(
            &format!("ISP|{b1}||C3|2023-01-30|25655|BBL||J||100A501|101X591||\r\n"),
            &format!("ISP|{b1}||C3|2023-01-30|25655|BBL||J||100A501|101X591||\r\nISE|{b1}||C3|2023-09-01|2024-01-31\r\n"),
            1,
        )
        .replace("SLR|10|12|19|0|", "SLR|10|12|19|1|");
    let (vlp, mut personen) = ro::open(BufReader::new(text.as_bytes())).unwrap();
    let p = personen.next().unwrap().unwrap();
    assert_eq!(
        p.inschrijvingen[0].inschrijving.extra_ondersteuning,
        vec![ExtraOndersteuning {
            datum_begin: d("2023-09-01"),
            datum_eind: Some(d("2024-01-31"))
        }]
    );
    let i = import_commands(&vlp, &p, &niveau, &key()).unwrap();
    assert!(i.overgeslagen.contains(&(
        "PER/ISG[1]/ISE[1]".to_owned(),
        "extra ondersteuning has no registry part"
    )));
    assert!(personen.all(|p| p.is_ok()));
}

//! Fixtures and proptest strategies shared by the DUO mapping tests.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use knooppunt_mappings::duo::bron::{BronBericht, BronInhoud, BronPersoon, Naam};
use knooppunt_mappings::duo::codes::*;
use knooppunt_mappings::duo::records::*;
use knooppunt_registry::ids::PersonId;
use proptest::prelude::*;

/// A valid BSN (11-proef).
pub const BSN: &str = "111222333";
/// Another valid BSN.
pub const BSN2: &str = "123456782";
/// A valid onderwijsnummer.
pub const ONR: &str = "101222331";

pub fn d(s: &str) -> NaiveDate {
    parse_date("test", s).unwrap()
}

pub fn vn(s: &str) -> Volgnummer {
    Volgnummer::parse("test", s).unwrap()
}

pub fn bsn(s: &str) -> PersonId {
    PersonId::Bsn(s.parse().unwrap())
}

pub fn onr(s: &str) -> PersonId {
    PersonId::Onderwijsnummer(s.parse().unwrap())
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 8, 30, 0).unwrap()
}

pub fn id(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0199_0000_0000_7000_8000_0000_0000_0000 + n)
}

pub fn persoon_bsn() -> BronPersoon {
    BronPersoon {
        id: bsn(BSN),
        geboortedatum: Geboortedatum::parse("t", "2008-03-14").unwrap(),
        geslacht: Geslacht::Vrouw,
        postcodecijfers: Some(Postcodecijfers::parse("t", "3511").unwrap()),
        land: Some(Landcode::parse("t", "6030").unwrap()),
        naam: None,
    }
}

pub fn periode(start: &str, crebo: &str, lt: Leertraject) -> Periode {
    Periode {
        datum_begin: d(start),
        opleidingcode: crebo.parse().unwrap(),
        leertraject: lt,
        niveau: None,
        indicatie_bekostigbaar: true,
        locatiecode_vsv: None,
        onderwijsaanbieder: Some("100A501".parse().unwrap()),
        onderwijslocatie: Some("101X591".parse().unwrap()),
        leerroute: None,
        leerroutefase: None,
    }
}

pub fn inschrijving() -> Inschrijving {
    let mut p2 = periode("2027-08-01", "25655", Leertraject::Bbl);
    p2.niveau = Some(Niveau::Mbo3);
    p2.locatiecode_vsv = Some(LocatiecodeVsv::parse("t", "000012345678").unwrap());
    p2.leerroute = Some(Leerroute::Doorlopend);
    p2.leerroutefase = Some(Leerroutefase::Mbo);
    Inschrijving {
        inschrijvingvolgnummer: vn("C3"),
        datum_inschrijving: d("2026-08-01"),
        datum_uitschrijving_gepland: d("2029-07-31"),
        datum_uitschrijving_werkelijk: None,
        reden_uitschrijving: None,
        perioden: vec![periode("2026-08-01", "25655", Leertraject::Bol), p2],
        extra_ondersteuning: vec![ExtraOndersteuning {
            datum_begin: d("2026-09-01"),
            datum_eind: None,
        }],
    }
}

pub fn bpv() -> Bpv {
    Bpv {
        inschrijvingvolgnummer: vn("C3"),
        bpv_volgnummer: vn("C1"),
        afsluitdatum: d("2026-08-20"),
        datum_begin: d("2026-09-01"),
        datum_einde_gepland: d("2027-06-30"),
        datum_einde_werkelijk: None,
        omvang: 800,
        leerbedrijf_id: "100018965".parse().unwrap(),
        opleidingcode: "25655".parse().unwrap(),
        code_keuzedeel: Some("K0067".parse().unwrap()),
    }
}

pub fn diploma() -> Diploma {
    Diploma {
        resultaatvolgnummer: vn("8286771"),
        opleidingcode: "25655".parse().unwrap(),
        datum_resultaat: d("2029-06-17"),
        indicatie_bekostigbaar: true,
        inschrijvingvolgnummer: Some(vn("C3")),
        onderwijsaanbieder: Some("100A501".parse().unwrap()),
        generieke_examenonderdelen: vec![
            GeneriekExamenonderdeel {
                resultaatvolgnummer: vn("8286774"),
                code: GeoCode::parse("t", "3005").unwrap(),
                eindcijfer: Some(6),
                vrijstelling: Some(Vrijstelling::parse("t", "MBO").unwrap()),
                cijfer_ie: Some(74),
                vrijstelling_ie: Some(Vrijstelling::parse("t", "MBO").unwrap()),
                cijfer_ce: Some(51),
                vrijstelling_ce: Some(Vrijstelling::parse("t", "KZDL").unwrap()),
            },
            GeneriekExamenonderdeel {
                resultaatvolgnummer: vn("8288188"),
                code: GeoCode::parse("t", "3006").unwrap(),
                eindcijfer: Some(10),
                vrijstelling: None,
                cijfer_ie: None,
                vrijstelling_ie: None,
                cijfer_ce: None,
                vrijstelling_ce: None,
            },
        ],
        keuzedelen: vec![
            Keuzedeel {
                resultaatvolgnummer: vn("8286772"),
                code: "K0067".parse().unwrap(),
                resultaat: KeuzedeelResultaat::Behaald,
            },
            Keuzedeel {
                resultaatvolgnummer: vn("8286773"),
                code: "K0138".parse().unwrap(),
                resultaat: KeuzedeelResultaat::NietBehaald,
            },
        ],
    }
}

pub fn bericht(mutatie: Mutatiesoort, persoon: BronPersoon, inhoud: BronInhoud) -> BronBericht {
    BronBericht {
        bericht_id: id(1),
        aangemaakt: t0(),
        brin: "25LX".parse().unwrap(),
        mutatie,
        persoon,
        inhoud,
    }
}

// ---------- proptest strategies ----------

fn with_check_digit(d: &[u8], rem: i64) -> Option<String> {
    let mut sum: i64 = 0;
    for (i, x) in d.iter().enumerate() {
        sum += i64::from(*x) * (9 - i as i64);
    }
    let last = (sum - rem).rem_euclid(11);
    if last > 9 {
        return None;
    }
    let mut s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    s.push(char::from(b'0' + last as u8));
    Some(s)
}

pub fn arb_person_id() -> impl Strategy<Value = PersonId> {
    prop_oneof![
        proptest::collection::vec(0u8..10, 8).prop_filter_map("bsn", |d| {
            if d.iter().all(|x| *x == 0) {
                return None;
            }
            with_check_digit(&d, 0)
                .and_then(|s| s.parse().ok())
                .map(PersonId::Bsn)
        }),
        proptest::collection::vec(0u8..10, 6).prop_filter_map("onr", |mut d| {
            let mut full = vec![1, 0];
            full.append(&mut d);
            with_check_digit(&full, 5)
                .and_then(|s| s.parse().ok())
                .map(PersonId::Onderwijsnummer)
        }),
    ]
}

pub fn arb_date() -> impl Strategy<Value = NaiveDate> {
    (1990i32..2040, 1u32..13, 1u32..29)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

pub fn arb_geboortedatum() -> impl Strategy<Value = Geboortedatum> {
    (1950u16..2020, 0u8..13, 0u8..29).prop_map(|(y, m, d)| {
        let d = if m == 0 { 0 } else { d };
        Geboortedatum::new(y, m, d).unwrap()
    })
}

pub fn arb_volgnummer() -> impl Strategy<Value = Volgnummer> {
    "[A-Za-z0-9]{1,20}".prop_map(|s| vn(&s))
}

pub fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

/// Names: letters with diacritics, apostrophes, hyphens, spaces inside, and XML specials.
pub fn arb_name(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "[A-Za-zÇçÑñÚúÖöŞşËëÉé'&<>\"-][A-Za-zÇçÑñÚúÖöŞşËëÉé'&<> \"-]{{0,{}}}[A-Za-zÇñúöŞë'-]",
        max - 2
    ))
    .unwrap()
}

fn code<T: std::fmt::Debug>(
    f: fn(&str, &str) -> Result<T, knooppunt_mappings::MappingError>,
    re: &str,
) -> impl Strategy<Value = T> + use<T> {
    proptest::string::string_regex(re)
        .unwrap()
        .prop_map(move |s| f("t", &s).unwrap())
}

pub fn arb_persoon() -> impl Strategy<Value = BronPersoon> {
    (
        arb_person_id(),
        arb_geboortedatum(),
        pick(Geslacht::ALL),
        proptest::option::of(code(Postcodecijfers::parse, "[1-9][0-9]{3}|00[1-4]0")),
        proptest::option::of(code(Landcode::parse, "[0-9]{4}")),
        proptest::option::of((
            proptest::option::of(arb_name(200)),
            proptest::option::of(arb_name(20)),
            arb_name(200),
        )),
    )
        .prop_map(
            |(id, geboortedatum, geslacht, postcodecijfers, land, naam)| BronPersoon {
                id,
                geboortedatum,
                geslacht,
                postcodecijfers,
                land,
                naam: naam.map(|(voornamen, voorvoegsels, geslachtsnaam)| Naam {
                    voornamen,
                    voorvoegsels,
                    geslachtsnaam,
                }),
            },
        )
}

pub fn arb_crebo() -> impl Strategy<Value = knooppunt_registry::ids::Crebo> {
    "[0-9]{5}".prop_map(|s| s.parse().unwrap())
}

pub fn arb_periode(after: NaiveDate) -> impl Strategy<Value = Periode> {
    (
        0i64..2000,
        arb_crebo(),
        pick(Leertraject::ALL),
        proptest::option::of(pick(Niveau::ALL)),
        any::<bool>(),
        proptest::option::of(code(LocatiecodeVsv::parse, "[0-9]{12}")),
        proptest::option::of("[0-9]{3}A[0-9]{3}".prop_map(|s| s.parse().unwrap())),
        proptest::option::of("[0-9]{3}X[0-9]{3}".prop_map(|s| s.parse().unwrap())),
        proptest::option::of(pick(Leerroute::ALL)),
        proptest::option::of(pick(Leerroutefase::ALL)),
    )
        .prop_map(
            move |(off, opleidingcode, leertraject, niveau, b, vsv, a, l, lr, lf)| Periode {
                datum_begin: after + chrono::Duration::days(off),
                opleidingcode,
                leertraject,
                niveau,
                indicatie_bekostigbaar: b,
                locatiecode_vsv: vsv,
                onderwijsaanbieder: a,
                onderwijslocatie: l,
                leerroute: lr,
                leerroutefase: lf,
            },
        )
}

pub fn arb_inschrijving() -> impl Strategy<Value = Inschrijving> {
    (
        arb_date(),
        0i64..2000,
        proptest::option::of((0i64..2000, code(RedenUitschrijving::parse, "[0-9]{2}"))),
        arb_volgnummer(),
    )
        .prop_flat_map(|(start, len, uit, volg)| {
            (
                proptest::collection::vec(arb_periode(start), 1..4),
                proptest::collection::vec(
                    (0i64..500, proptest::option::of(0i64..500)).prop_map(move |(a, b)| {
                        let begin = start + chrono::Duration::days(a);
                        ExtraOndersteuning {
                            datum_begin: begin,
                            datum_eind: b.map(|b| begin + chrono::Duration::days(b)),
                        }
                    }),
                    0..3,
                ),
            )
                .prop_map(move |(perioden, extra_ondersteuning)| Inschrijving {
                    inschrijvingvolgnummer: volg.clone(),
                    datum_inschrijving: start,
                    datum_uitschrijving_gepland: start + chrono::Duration::days(len),
                    datum_uitschrijving_werkelijk: uit
                        .as_ref()
                        .map(|(o, _)| start + chrono::Duration::days(*o)),
                    reden_uitschrijving: uit.as_ref().map(|(_, r)| r.clone()),
                    perioden,
                    extra_ondersteuning,
                })
        })
}

pub fn arb_bpv() -> impl Strategy<Value = Bpv> {
    (
        arb_volgnummer(),
        arb_volgnummer(),
        arb_date(),
        0i64..1000,
        proptest::option::of(0i64..1000),
        0u32..100_000,
        "[1-9][0-9]{8}".prop_map(|s| s.parse().unwrap()),
        arb_crebo(),
        proptest::option::of("K[0-9]{4}".prop_map(|s| s.parse().unwrap())),
    )
        .prop_map(|(i, v, begin, len, w, omvang, lb, crebo, kzd)| Bpv {
            inschrijvingvolgnummer: i,
            bpv_volgnummer: v,
            afsluitdatum: begin - chrono::Duration::days(10),
            datum_begin: begin,
            datum_einde_gepland: begin + chrono::Duration::days(len),
            datum_einde_werkelijk: w.map(|w| begin + chrono::Duration::days(w)),
            omvang,
            leerbedrijf_id: lb,
            opleidingcode: crebo,
            code_keuzedeel: kzd,
        })
}

pub fn arb_geo() -> impl Strategy<Value = GeneriekExamenonderdeel> {
    let vr = || proptest::option::of(code(Vrijstelling::parse, "[A-Z0-9]{1,4}"));
    (
        arb_volgnummer(),
        code(GeoCode::parse, "[0-9A-Z]{4}"),
        proptest::option::of(1u8..=10),
        vr(),
        proptest::option::of(0u16..1000),
        vr(),
        proptest::option::of(0u16..1000),
        vr(),
    )
        .prop_map(|(r, c, e, v, ie, vie, ce, vce)| GeneriekExamenonderdeel {
            resultaatvolgnummer: r,
            code: c,
            eindcijfer: e,
            vrijstelling: v,
            cijfer_ie: ie,
            vrijstelling_ie: vie,
            cijfer_ce: ce,
            vrijstelling_ce: vce,
        })
}

pub fn arb_diploma() -> impl Strategy<Value = Diploma> {
    (
        arb_volgnummer(),
        arb_crebo(),
        arb_date(),
        any::<bool>(),
        proptest::option::of(arb_volgnummer()),
        proptest::option::of("[0-9]{3}A[0-9]{3}".prop_map(|s| s.parse().unwrap())),
        proptest::collection::vec(arb_geo(), 0..4),
        proptest::collection::vec(
            (arb_volgnummer(), "K[0-9]{4}", pick(KeuzedeelResultaat::ALL)).prop_map(
                |(r, c, res)| Keuzedeel {
                    resultaatvolgnummer: r,
                    code: c.parse().unwrap(),
                    resultaat: res,
                },
            ),
            0..4,
        ),
    )
        .prop_map(|(r, c, dt, b, i, a, g, k)| Diploma {
            resultaatvolgnummer: r,
            opleidingcode: c,
            datum_resultaat: dt,
            indicatie_bekostigbaar: b,
            inschrijvingvolgnummer: i,
            onderwijsaanbieder: a,
            generieke_examenonderdelen: g,
            keuzedelen: k,
        })
}

pub fn arb_inhoud() -> impl Strategy<Value = BronInhoud> {
    prop_oneof![
        arb_inschrijving().prop_map(BronInhoud::Inschrijving),
        arb_bpv().prop_map(BronInhoud::Bpv),
        arb_diploma().prop_map(BronInhoud::Diploma),
        (
            arb_volgnummer(),
            arb_date(),
            code(RedenUitschrijving::parse, "[0-9]{2}")
        )
            .prop_map(|(i, d, r)| {
                BronInhoud::Uitschrijving(Uitschrijving {
                    inschrijvingvolgnummer: i,
                    datum_uitschrijving_werkelijk: d,
                    reden_uitschrijving: r,
                })
            }),
    ]
}

pub fn arb_bericht() -> impl Strategy<Value = BronBericht> {
    (
        any::<u128>(),
        0i64..4_000_000_000,
        "[0-9]{2}[A-Z]{2}",
        pick(Mutatiesoort::ALL),
        arb_persoon(),
        arb_inhoud(),
    )
        .prop_map(|(u, secs, brin, mutatie, persoon, inhoud)| BronBericht {
            bericht_id: uuid::Uuid::from_u128(u),
            aangemaakt: DateTime::from_timestamp(secs, 0).unwrap(),
            brin: brin.parse().unwrap(),
            mutatie,
            persoon,
            inhoud,
        })
}

/// The `n`-th valid BSN of a fixed test series (for replacing the masked `BSN1`… in DUO demos).
pub fn test_bsn(n: u32) -> String {
    let mut seed = 23_456_000 + n * 7;
    loop {
        let digits: Vec<u8> = format!("{seed:08}").bytes().map(|b| b - b'0').collect();
        if let Some(s) = with_check_digit(&digits, 0) {
            return s;
        }
        seed += 1;
    }
}

/// The `n`-th valid onderwijsnummer of a fixed test series.
pub fn test_onr(n: u32) -> String {
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

/// A DUO demo file with its masked `BSNn` values replaced by valid test BSNs (and by valid
/// onderwijsnummers where the mask stands in the RO's onderwijsnummer column).
pub fn unmask(text: &str) -> String {
    let mut out = text.to_owned();
    for n in (1..=20).rev() {
        out = out.replace(&format!("||BSN{n}|"), &format!("||{}|", test_onr(n)));
    }
    for n in (1..=20).rev() {
        out = out.replace(&format!("BSN{n}"), &test_bsn(n));
    }
    out
}

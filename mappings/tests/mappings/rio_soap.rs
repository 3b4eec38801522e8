//! RIO raadplegen V4: requests valid against the XSD, responses read by namespace whatever the
//! prefixes, RIO's refusals as typed errors.

use chrono::{NaiveDate, TimeZone, Utc};
use knooppunt_mappings::MappingError;
use knooppunt_mappings::rio::soap::{
    self, Addressing, RequestHeader, RioError, RioQuery, RioResponse,
};
use knooppunt_mappings::rio::{CohortStatus, Instroom};
use proptest::prelude::*;
use uuid::Uuid;

const XSD: &str = "rio-DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4.xsd";

fn header() -> RequestHeader {
    RequestHeader::to_duo(
        &"0000000700025BE00000".parse().unwrap(),
        Uuid::from_u128(0x1234),
        Utc.with_ymd_and_hms(2027, 3, 1, 9, 30, 0).unwrap(),
    )
}

fn queries() -> Vec<RioQuery> {
    vec![
        RioQuery::AangebodenOpleidingenVanOrganisatie {
            aanbieder: "100A501".parse().unwrap(),
            locatie: Some("101X591".parse().unwrap()),
            peildatum: Some(NaiveDate::from_ymd_opt(2027, 8, 1).unwrap()),
            pagina: 0,
        },
        RioQuery::AangebodenOpleidingenVanOrganisatie {
            aanbieder: "100A501".parse().unwrap(),
            locatie: None,
            peildatum: None,
            pagina: 999_999,
        },
        RioQuery::AangebodenOpleiding {
            code: Uuid::from_u128(0xabc),
        },
        RioQuery::Onderwijsaanbieder {
            code: "107A781".parse().unwrap(),
        },
        RioQuery::Onderwijslocatie {
            code: "101X591".parse().unwrap(),
        },
    ]
}

#[test]
fn every_request_body_is_valid_against_the_xsd() {
    for q in queries() {
        let body = soap::write_request_body(&header(), &q).unwrap();
        crate::common::assert_valid_against(&body, &crate::common::spec(XSD));
    }
}

#[test]
fn request_envelope_carries_edukoppeling_addressing() {
    let q = &queries()[0];
    let env = soap::write_request_envelope(
        &header(),
        q,
        &Addressing {
            from: "0000000700025BE00000".parse().unwrap(),
            endpoint: "https://vt-webservice.duo.nl:6977/RIO/services/raadplegen4.0".into(),
            to: soap::DUO_OIN.parse().unwrap(),
            message_id: Uuid::from_u128(7),
        },
    )
    .unwrap();
    insta::assert_snapshot!("rio_request_envelope", env);
    // The envelope reads back to the same question.
    assert_eq!(
        soap::parse_request(env.as_bytes()).unwrap(),
        (header(), q.clone())
    );
}

#[test]
fn header_fields_are_checked_before_writing() {
    let mut h = header();
    h.document_id = "has space".into();
    let e = soap::write_request_body(&h, &queries()[2]).unwrap_err();
    assert_eq!(e.field(), Some("identificatiecodeBedrijfsdocument"));
    let mut h = header();
    h.sender = "x".repeat(23);
    let e = soap::write_request_body(&h, &queries()[2]).unwrap_err();
    assert_eq!(e.field(), Some("verzendendeInstantie"));
}

#[test]
fn the_public_wus_example_request_is_read() {
    let x = crate::common::read_spec("rio-edukoppeling-wus-soap-request-example.xml");
    // As published, the file ends with a stray `"` after the envelope (it was cut from a string
    // literal); a strict reader refuses that, so the test trims it and checks the refusal too.
    assert!(soap::parse_request(&x).is_err());
    let text = String::from_utf8(x).unwrap();
    let trimmed = text.trim_end().trim_end_matches('"');
    let (h, q) = soap::parse_request(trimmed.as_bytes()).unwrap();
    assert_eq!(h.sender, "Willem");
    assert_eq!(h.receiver, "DUO");
    assert_eq!(
        q,
        RioQuery::AangebodenOpleidingenVanOrganisatie {
            aanbieder: "107A781".parse().unwrap(),
            locatie: None,
            peildatum: None,
            pagina: 0,
        }
    );
}

/// A response with two opleidingen (one with two cohorts: vast and flexibel), written with the
/// prefixes given (`""` means default namespace). Diacritics and a name at maximum length.
fn response(env: &str, duo: &str) -> String {
    let p = |n: &str| {
        if duo.is_empty() {
            n.to_owned()
        } else {
            format!("{duo}:{n}")
        }
    };
    let xmlns = if duo.is_empty() {
        format!("xmlns=\"{}\"", soap::NS)
    } else {
        format!("xmlns:{duo}=\"{}\"", soap::NS)
    };
    let long_name = "É".repeat(225);
    let body = format!(
        r#"<{r} {xmlns}>
  <{id}>resp-1</{id}><{vi}>DUO</{vi}><{oi}>0000000700025BE00000</{oi}><{dt}>2027-03-01T09:30:01Z</{dt}>
  <{ok}>true</{ok}>
  <{ao}>
    <{aoc}>5f0c4d0e-7e9c-4d47-9a52-6b1f3c0c2a11</{aoc}>
    <{oac}>100A501</{oac}>
    <{oec}>1009O1234</{oec}>
    <{olc}>101X591</{olc}>
    <{bd}>2026-08-01</{bd}>
    <{eid}>2027-08-30</{eid}>
    <{oes}><{os}>MBO</{os}><{oc}>25655</{oc}></{oes}>
    <{aop}><{bd}>2026-08-01</{bd}><{en}>Verzorgende IG — Çelik &amp; van &apos;t Hof</{en}></{aop}>
    <{aop}><{bd}>2027-01-01</{bd}><{en}>Verzorgende-IG (Ñúñez-de Vries)</{en}></{aop}>
    <{aoco}>
      <{cc}>2027-2028-SEPT</{cc}><{cs}>G</{cs}><{baa}>2026-10-01</{baa}>
      <{vim}><{im}>2027-08-30</{im}></{vim}>
      <{eaa}>2027-04-01</{eaa}><{tva}>NEE</{tva}>
    </{aoco}>
    <{aoco}>
      <{cc}>FLEX</{cc}><{cs}>O</{cs}><{baa}>2026-10-01</{baa}>
      <{fi}><{bip}>2027-08-30</{bip}></{fi}>
      <{tva}>JA</{tva}>
    </{aoco}>
    <{lt}>BBL</{lt}><{nv}>MBO-3</{nv}><{te}>NEE</{te}><{tg}>ALL</{tg}>
  </{ao}>
  <{ao}>
    <{aoc}>00000000-0000-0000-0000-000000000002</{aoc}>
    <{oac}>100A501</{oac}>
    <{oec}>1009O0002</{oec}>
    <{bd}>2026-08-01</{bd}>
    <{aop}><{bd}>2026-08-01</{bd}><{en}>{long_name}</{en}></{aop}>
    <{lt}>BOL</{lt}><{te}>JA</{te}><{tg}>SPEC</{tg}>
  </{ao}>
  <{pg}><{pa}>0</{pa}><{ap}>1</{ap}><{ar}>2</{ar}></{pg}>
</{r}>"#,
        r = p("opvragen_aangebodenOpleidingenVanOrganisatie_response"),
        id = p("identificatiecodeBedrijfsdocument"),
        vi = p("verzendendeInstantie"),
        oi = p("ontvangendeInstantie"),
        dt = p("datumTijdBedrijfsdocument"),
        ok = p("requestGoedgekeurd"),
        ao = p("aangebodenMboOpleiding"),
        aoc = p("aangebodenOpleidingCode"),
        oac = p("onderwijsaanbiedercode"),
        oec = p("opleidingseenheidcode"),
        olc = p("onderwijslocatiecode"),
        bd = p("begindatum"),
        eid = p("eersteInstroomDatum"),
        oes = p("opleidingserkenningSleutel"),
        os = p("opleidingsstelsel"),
        oc = p("opleidingscode"),
        aop = p("aangebodenMboOpleidingPeriode"),
        en = p("eigenNaamAangebodenOpleiding"),
        aoco = p("aangebodenMboOpleidingCohort"),
        cc = p("cohortcode"),
        cs = p("cohortstatus"),
        baa = p("beginAanmeldperiode"),
        vim = p("vastInstroommoment"),
        im = p("instroommoment"),
        eaa = p("eindeAanmeldperiode"),
        tva = p("toestemmingVereistVoorAanmelding"),
        fi = p("flexibeleInstroom"),
        bip = p("beginInstroomperiode"),
        lt = p("leertrajectMBO"),
        nv = p("mboNiveau"),
        te = p("toelatingseisen"),
        tg = p("toegankelijkheid"),
        pg = p("paginering"),
        pa = p("pagina"),
        ap = p("aantalPaginas"),
        ar = p("aantalResultaten"),
    );
    if env.is_empty() {
        body
    } else {
        format!(
            r#"<{env}:Envelope xmlns:{env}="{}"><{env}:Header/><{env}:Body>{body}</{env}:Body></{env}:Envelope>"#,
            soap::SOAP_NS
        )
    }
}

#[test]
fn the_response_fixture_is_valid_against_the_xsd() {
    crate::common::assert_valid_against(&response("", "duo"), &crate::common::spec(XSD));
    crate::common::assert_valid_against(&response("", ""), &crate::common::spec(XSD));
}

#[test]
fn response_is_read_the_same_whatever_the_prefixes() {
    let a = soap::parse_response(response("soapenv", "duo").as_bytes()).unwrap();
    let b = soap::parse_response(response("S", "ns2").as_bytes()).unwrap();
    let c = soap::parse_response(response("", "").as_bytes()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    let RioResponse::AangebodenOpleidingen { items, paginering } = &a else {
        panic!("expected a list: {a:?}");
    };
    assert_eq!(items.len(), 2);
    assert_eq!(paginering.unwrap().aantal_resultaten, 2);
    let first = &items[0];
    assert_eq!(first.crebo.as_ref().unwrap().as_str(), "25655");
    assert_eq!(
        first.naam.as_deref(),
        Some("Verzorgende-IG (Ñúñez-de Vries)")
    );
    assert_eq!(first.cohorts.len(), 2);
    assert_eq!(first.cohorts[0].status, CohortStatus::Gepubliceerd);
    assert!(matches!(
        first.cohorts[1].instroom,
        Instroom::Flexibel { eind: None, .. }
    ));
    assert!(first.cohorts[1].toestemming_vereist);
    // Optional fields absent: no locatie, niveau, cohorts, crebo.
    let second = &items[1];
    assert_eq!(
        (second.locatie.is_none(), second.niveau.is_none()),
        (true, true)
    );
    assert_eq!(second.naam.as_ref().unwrap().chars().count(), 225);
    insta::assert_json_snapshot!("rio_response_aangeboden_opleidingen", a);
}

#[test]
fn wrong_namespace_is_refused() {
    let x = response("", "duo").replace(
        soap::NS,
        "http://duo.nl/schema/DUO_RIO_Beheren_OnderwijsOrganisatie_V4",
    );
    let e = soap::parse_response(x.as_bytes()).unwrap_err();
    assert!(
        matches!(e, RioError::Mapping(MappingError::WrongNamespace { .. })),
        "{e:?}"
    );
}

#[test]
fn refusal_becomes_a_typed_error_with_the_foutcodes() {
    let x = format!(
        r#"<S:Envelope xmlns:S="{}"><S:Body><r:opvragen_onderwijslocatie_response xmlns:r="{}">
        <r:identificatiecodeBedrijfsdocument>x</r:identificatiecodeBedrijfsdocument><r:verzendendeInstantie>DUO</r:verzendendeInstantie>
        <r:ontvangendeInstantie>Knooppunt</r:ontvangendeInstantie><r:datumTijdBedrijfsdocument>2027-03-01T09:30:01Z</r:datumTijdBedrijfsdocument>
        <r:requestGoedgekeurd>false</r:requestGoedgekeurd>
        <r:foutmelding><r:foutcode>A01060</r:foutcode><r:fouttekst>Onderwijslocatie onbekend</r:fouttekst>
          <r:sleutelgegeven><r:sleutelnaam>onderwijslocatiecode</r:sleutelnaam><r:sleutelwaarde>999X999</r:sleutelwaarde></r:sleutelgegeven></r:foutmelding>
        <r:foutmelding><r:foutcode>AUT401</r:foutcode><r:fouttekst>Geen autorisatie</r:fouttekst>
          <r:sleutelgegeven><r:sleutelnaam>oin</r:sleutelnaam><r:sleutelwaarde>1</r:sleutelwaarde></r:sleutelgegeven></r:foutmelding>
        </r:opvragen_onderwijslocatie_response></S:Body></S:Envelope>"#,
        soap::SOAP_NS,
        soap::NS
    );
    let e = soap::parse_response(x.as_bytes()).unwrap_err();
    assert_eq!(e.foutcodes(), vec!["A01060", "AUT401"]);
    assert_eq!(
        e.to_string(),
        "RIO refused opvragen_onderwijslocatie: A01060, AUT401"
    );
}

#[test]
fn aanbieder_and_locatie_are_read() {
    let aanbieder = format!(
        r#"<opvragen_onderwijsaanbieder_response xmlns="{}">
        <identificatiecodeBedrijfsdocument>x</identificatiecodeBedrijfsdocument><verzendendeInstantie>DUO</verzendendeInstantie>
        <ontvangendeInstantie>K</ontvangendeInstantie><datumTijdBedrijfsdocument>2027-03-01T09:30:01+01:00</datumTijdBedrijfsdocument>
        <requestGoedgekeurd>true</requestGoedgekeurd>
        <onderwijsaanbieder><onderwijsaanbiedercode>100A501</onderwijsaanbiedercode><inBedrijfdatum>2010-01-01</inBedrijfdatum>
          <onderwijsaanbiederPeriode><begindatum>2010-01-01</begindatum><naam>ROC Oud</naam></onderwijsaanbiederPeriode>
          <onderwijsaanbiederPeriode><begindatum>2020-01-01</begindatum><naam>ROC Çelik-'t Hof</naam></onderwijsaanbiederPeriode>
          <juridischeRelatie><instellingserkenningscode>25BE</instellingserkenningscode><erkenner>OCW</erkenner><begindatum>2010-01-01</begindatum></juridischeRelatie>
          <bijbehorendOnderwijsbestuur><onderwijsbestuurcode>100B490</onderwijsbestuurcode><organisatierelatieBegindatum>2010-01-01</organisatierelatieBegindatum>
            <onderwijsbestuurPeriode><begindatum>2010-01-01</begindatum><naam>Bestuur</naam></onderwijsbestuurPeriode></bijbehorendOnderwijsbestuur>
        </onderwijsaanbieder></opvragen_onderwijsaanbieder_response>"#,
        soap::NS
    );
    let r = soap::parse_response(aanbieder.as_bytes()).unwrap();
    let RioResponse::Onderwijsaanbieder(a) = r else {
        panic!("{r:?}")
    };
    assert_eq!(a.naam.as_deref(), Some("ROC Çelik-'t Hof"));
    assert_eq!(a.brins[0].as_str(), "25BE");
    assert_eq!(a.bevoegd_gezag.as_ref().unwrap().as_str(), "100B490");
    let inst = knooppunt_mappings::rio::reference::to_institution(
        &a,
        knooppunt_registry::reference::Participation::Krd,
    )
    .unwrap();
    assert_eq!(
        (inst.brin.as_str(), inst.oin.as_str(), inst.naam.as_str()),
        ("25BE", "0000000700025BE00000", "ROC Çelik-'t Hof")
    );

    let locatie = format!(
        r#"<x:opvragen_onderwijslocatie_response xmlns:x="{}">
        <x:identificatiecodeBedrijfsdocument>x</x:identificatiecodeBedrijfsdocument><x:verzendendeInstantie>DUO</x:verzendendeInstantie>
        <x:ontvangendeInstantie>K</x:ontvangendeInstantie><x:datumTijdBedrijfsdocument>2027-03-01T09:30:01Z</x:datumTijdBedrijfsdocument>
        <x:requestGoedgekeurd>true</x:requestGoedgekeurd>
        <x:onderwijslocatie><x:onderwijslocatiecode>101X591</x:onderwijslocatiecode><x:postcode>1811JJ</x:postcode><x:huisnummer>66</x:huisnummer>
        <x:plaatsnaam>Alkmaar</x:plaatsnaam></x:onderwijslocatie></x:opvragen_onderwijslocatie_response>"#,
        soap::NS
    );
    crate::common::assert_valid_against(&locatie, &crate::common::spec(XSD));
    let r = soap::parse_response(locatie.as_bytes()).unwrap();
    insta::assert_json_snapshot!("rio_response_onderwijslocatie", r);
}

#[test]
fn bad_input_is_a_typed_error_never_a_panic() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"<r".to_vec(), "malformed"),
        (
            b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x/>".to_vec(),
            "doctype",
        ),
        (b"<x>\xff</x>".to_vec(), "utf8"),
        (vec![b' '; soap::MAX_RESPONSE_BYTES + 1], "size"),
        (
            response("", "duo")
                .replace(
                    "<duo:onderwijsaanbiedercode>100A501",
                    "<duo:onderwijsaanbiedercode>100Q501",
                )
                .into_bytes(),
            "invalid",
        ),
        (
            response("", "duo")
                .replace("<duo:cohortstatus>G</duo:cohortstatus>", "")
                .into_bytes(),
            "missing",
        ),
    ];
    for (input, what) in cases {
        let e = soap::parse_response(&input).unwrap_err();
        let RioError::Mapping(m) = &e else {
            panic!("{what}: {e:?}")
        };
        let ok = match what {
            "malformed" => matches!(m, MappingError::Malformed { .. }),
            "doctype" => matches!(m, MappingError::DoctypeNotAllowed),
            "utf8" => matches!(m, MappingError::InvalidUtf8 { .. }),
            "size" => matches!(m, MappingError::TooLarge { .. }),
            "invalid" => m
                .field()
                .is_some_and(|f| f.ends_with("onderwijsaanbiedercode")),
            "missing" => m.field().is_some_and(|f| f.ends_with("cohortstatus")),
            _ => false,
        };
        assert!(ok, "{what}: {m:?}");
    }
}

fn arb_query() -> impl Strategy<Value = RioQuery> {
    let aanbieder =
        (0u32..1000, 0u32..1000).prop_map(|(a, b)| format!("{a:03}A{b:03}").parse().unwrap());
    let locatie =
        (0u32..1000, 0u32..1000).prop_map(|(a, b)| format!("{a:03}X{b:03}").parse().unwrap());
    let date = (2000i32..2100, 1u32..13, 1u32..29)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap());
    prop_oneof![
        (
            aanbieder.clone(),
            proptest::option::of(locatie.clone()),
            proptest::option::of(date),
            0u32..=999_999
        )
            .prop_map(|(aanbieder, locatie, peildatum, pagina)| {
                RioQuery::AangebodenOpleidingenVanOrganisatie {
                    aanbieder,
                    locatie,
                    peildatum,
                    pagina,
                }
            }),
        any::<u128>().prop_map(|u| RioQuery::AangebodenOpleiding {
            code: Uuid::from_u128(u)
        }),
        aanbieder.prop_map(|code| RioQuery::Onderwijsaanbieder { code }),
        locatie.prop_map(|code| RioQuery::Onderwijslocatie { code }),
    ]
}

proptest! {
    #[test]
    fn request_round_trips(q in arb_query(), id in "[A-Za-z0-9_-]{1,50}", sender in "[A-Za-z0-9 'ÇÉé-]{1,22}", secs in 0i64..4_000_000_000) {
        let h = RequestHeader { document_id: id, sender: sender.clone(), receiver: "DUO".into(), at: Utc.timestamp_opt(secs, 0).unwrap() };
        prop_assume!(sender.trim() == sender);
        let body = soap::write_request_body(&h, &q).unwrap();
        prop_assert_eq!(soap::parse_request(body.as_bytes()).unwrap(), (h, q));
    }
}

mod simulator_side {
    use super::*;
    use knooppunt_mappings::rio::soap::{Foutmelding, Paginering};
    use knooppunt_mappings::rio::{AangebodenOpleiding, Cohort, Onderwijslocatie};

    #[test]
    fn written_responses_are_valid_and_read_back() {
        let parsed = soap::parse_response(response("", "duo").as_bytes()).unwrap();
        let x = soap::write_response(&header(), &parsed).unwrap();
        crate::common::assert_valid_against(&x, &crate::common::spec(XSD));
        assert_eq!(soap::parse_response(x.as_bytes()).unwrap(), parsed);

        // The single-opleiding answer.
        let RioResponse::AangebodenOpleidingen { items, .. } = &parsed else {
            panic!("{parsed:?}")
        };
        let one = RioResponse::AangebodenOpleiding(items[0].clone());
        let x = soap::write_response(&header(), &one).unwrap();
        crate::common::assert_valid_against(&x, &crate::common::spec(XSD));
        assert_eq!(soap::parse_response(x.as_bytes()).unwrap(), one);

        let locatie = RioResponse::Onderwijslocatie(Onderwijslocatie {
            code: "101X591".parse().unwrap(),
            postcode: Some("1811JJ".into()),
            huisnummer: Some(99_999),
            toevoeging: Some("bis".into()),
            plaatsnaam: Some("'s-Hertogenbosch".into()),
        });
        let x = soap::write_response(&header(), &locatie).unwrap();
        crate::common::assert_valid_against(&x, &crate::common::spec(XSD));
        assert_eq!(soap::parse_response(x.as_bytes()).unwrap(), locatie);
    }

    #[test]
    fn written_rejections_are_valid_and_read_back() {
        let f = vec![Foutmelding {
            foutcode: "A01060".into(),
            fouttekst: "Onderwijslocatie onbekend".into(),
            sleutelgegevens: vec![("onderwijslocatiecode".into(), "999X999".into())],
        }];
        let x = soap::write_rejection(&header(), "opvragen_onderwijslocatie", &f).unwrap();
        crate::common::assert_valid_against(&x, &crate::common::spec(XSD));
        match soap::parse_response(x.as_bytes()).unwrap_err() {
            RioError::Rejected {
                operation,
                foutmeldingen,
            } => {
                assert_eq!(operation, "opvragen_onderwijslocatie");
                assert_eq!(foutmeldingen, f);
            }
            other => panic!("{other:?}"),
        }
        assert!(soap::write_rejection(&header(), "opvragen_x", &[]).is_err());
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        (2000i32..2100, 1u32..13, 1u32..29)
            .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    fn cohort() -> impl Strategy<Value = Cohort> {
        (
            "[A-Z0-9-]{1,60}",
            any::<bool>(),
            date(),
            proptest::option::of(date()),
            prop_oneof![
                date().prop_map(|moment| Instroom::Vast { moment }),
                (date(), proptest::option::of(date()))
                    .prop_map(|(begin, eind)| Instroom::Flexibel { begin, eind }),
            ],
            any::<bool>(),
        )
            .prop_map(|(code, g, begin, einde, instroom, toestemming)| Cohort {
                code,
                status: if g {
                    CohortStatus::Gepubliceerd
                } else {
                    CohortStatus::Ontwerp
                },
                begin_aanmeldperiode: begin,
                einde_aanmeldperiode: einde,
                instroom,
                toestemming_vereist: toestemming,
                deelnemersplaatsen: None,
            })
    }

    fn offer() -> impl Strategy<Value = AangebodenOpleiding> {
        (
            any::<u128>(),
            (0u32..1000, 0u32..10_000, proptest::option::of(0u32..1000)),
            (
                date(),
                proptest::option::of(date()),
                proptest::option::of(date()),
            ),
            proptest::option::of("[A-Za-zÇéÑ'&<>()-]{1,10}( [A-Za-zÇéÑ'&<>()-]{1,10}){0,5}"),
            proptest::option::of(10_000u32..99_999),
            prop::sample::select(vec!["BOL", "BBL", "BOL_DT", "OVO", "EX", "ODT"]),
            proptest::option::of(prop::sample::select(vec![
                "MBO-1", "MBO-2", "MBO-3", "MBO-4",
            ])),
            (any::<bool>(), prop::sample::select(vec!["ALL", "SPEC"])),
            proptest::collection::vec(cohort(), 0..4),
        )
            .prop_map(
                |(
                    u,
                    (a, e, l),
                    (begin, eerste, eind),
                    naam,
                    crebo,
                    lt,
                    niveau,
                    (toelating, toegang),
                    cohorts,
                )| AangebodenOpleiding {
                    code: Uuid::from_u128(u),
                    aanbieder: Some(format!("{a:03}A{:03}", a % 1000).parse().unwrap()),
                    opleidingseenheid: Some(format!("{:04}O{e:04}", e % 10_000).parse().unwrap()),
                    locatie: l.map(|l| format!("{l:03}X{l:03}").parse().unwrap()),
                    crebo: crebo.map(|c| c.to_string().parse().unwrap()),
                    begindatum: begin,
                    einddatum: eind,
                    eerste_instroom: eerste,
                    naam,
                    leertraject: Some(lt.to_owned()),
                    niveau: niveau.map(str::to_owned),
                    toelatingseisen: Some(toelating),
                    toegankelijkheid: Some(toegang.to_owned()),
                    cohorts,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn responses_round_trip(items in proptest::collection::vec(offer(), 0..4), pages in proptest::option::of((0u32..999_999, 0u32..1000, 0u32..100_000))) {
            let r = RioResponse::AangebodenOpleidingen {
                items,
                paginering: pages.map(|(pagina, aantal_paginas, aantal_resultaten)| Paginering { pagina, aantal_paginas, aantal_resultaten }),
            };
            let x = soap::write_response(&header(), &r).unwrap();
            prop_assert_eq!(soap::parse_response(x.as_bytes()).unwrap(), r);
        }
    }

    #[test]
    fn some_generated_responses_are_valid_against_the_xsd() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..5 {
            let items = proptest::collection::vec(offer(), 1..4)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let x = soap::write_response(
                &header(),
                &RioResponse::AangebodenOpleidingen {
                    items,
                    paginering: None,
                },
            )
            .unwrap();
            crate::common::assert_valid_against(&x, &crate::common::spec(XSD));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Cut or flip bytes of a valid response: a value or a typed error, never a panic.
    #[test]
    fn response_reader_never_panics_on_mutations(cut in 0usize..4000, flips in proptest::collection::vec((0usize..4000, any::<u8>()), 0..8)) {
        let mut x = response("S", "duo").into_bytes();
        for (i, b) in flips {
            let n = x.len();
            x[i % n] = b;
        }
        x.truncate(cut.max(1));
        let _ = soap::parse_response(&x);
        let _ = soap::parse_request(&x);
    }
}

//! BRON writer and reader: fixtures with snapshots, every emitted message validated against
//! `docs/partners/bron-mbo-v1.xsd` (xmllint), round-trip properties, and typed errors.

use crate::duo_fixtures::*;
use knooppunt_mappings::MappingError;
use knooppunt_mappings::duo::bron::{self, BronInhoud, BronPersoon, Naam};
use knooppunt_mappings::duo::codes::*;
use knooppunt_mappings::duo::records::*;
use proptest::prelude::*;

fn xsd() -> std::path::PathBuf {
    crate::common::doc("partners/bron-mbo-v1.xsd")
}

/// Writes, validates against the XSD, reads back and compares; returns the XML.
fn check(msg: &bron::BronBericht) -> String {
    let xml = bron::write(msg).expect("writes");
    crate::common::assert_valid_against(&xml, &xsd());
    let back = bron::read(xml.as_bytes()).expect("reads back");
    assert_eq!(&back, msg);
    xml
}

#[test]
fn inschrijving_toevoegen_with_periods_and_extra_ondersteuning() {
    let msg = bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Inschrijving(inschrijving()),
    );
    insta::assert_snapshot!("inschrijving_toevoegen", check(&msg));
}

#[test]
fn bpv_toevoegen_for_a_keuzedeel() {
    let msg = bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Bpv(bpv()),
    );
    insta::assert_snapshot!("bpv_toevoegen", check(&msg));
}

#[test]
fn diploma_with_geo_and_kzd() {
    let msg = bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Diploma(diploma()),
    );
    insta::assert_snapshot!("diploma_toevoegen", check(&msg));
}

#[test]
fn uitschrijving_aanpassen() {
    let msg = bericht(
        Mutatiesoort::Aanpassen,
        persoon_bsn(),
        BronInhoud::Uitschrijving(Uitschrijving {
            inschrijvingvolgnummer: vn("C3"),
            datum_uitschrijving_werkelijk: d("2027-01-31"),
            reden_uitschrijving: RedenUitschrijving::parse("t", "08").unwrap(),
        }),
    );
    insta::assert_snapshot!("uitschrijving_aanpassen", check(&msg));
}

#[test]
fn onderwijsnummer_person_with_diacritics_tussenvoegsel_and_partial_birth_date() {
    let persoon = BronPersoon {
        id: onr(ONR),
        geboortedatum: Geboortedatum::parse("t", "2007-00-00").unwrap(),
        geslacht: Geslacht::Onbekend,
        postcodecijfers: Some(Postcodecijfers::parse("t", "0010").unwrap()),
        land: None,
        naam: Some(Naam {
            voornamen: Some("Çelik Ayşe".to_owned()),
            voorvoegsels: Some("van 't".to_owned()),
            geslachtsnaam: "Ñúñez-de Vries & <Hof>".to_owned(),
        }),
    };
    let msg = bericht(Mutatiesoort::Verwijderen, persoon, BronInhoud::Bpv(bpv()));
    let xml = check(&msg);
    assert!(xml.contains("Ñúñez-de Vries &amp; &lt;Hof&gt;"));
    insta::assert_snapshot!("onderwijsnummer_diacritics", xml);
}

#[test]
fn optional_fields_absent() {
    let mut p = persoon_bsn();
    p.postcodecijfers = None;
    p.land = None;
    p.geboortedatum = Geboortedatum::parse("t", "2008-05-00").unwrap();
    let mut i = inschrijving();
    i.perioden.truncate(1);
    i.perioden[0].onderwijsaanbieder = None;
    i.perioden[0].onderwijslocatie = None;
    i.extra_ondersteuning.clear();
    let mut dip = diploma();
    dip.inschrijvingvolgnummer = None;
    dip.onderwijsaanbieder = None;
    dip.generieke_examenonderdelen.clear();
    dip.keuzedelen.clear();
    let mut b = bpv();
    b.code_keuzedeel = None;
    let xml = [
        BronInhoud::Inschrijving(i),
        BronInhoud::Diploma(dip),
        BronInhoud::Bpv(b),
    ]
    .into_iter()
    .map(|inhoud| check(&bericht(Mutatiesoort::Toevoegen, p.clone(), inhoud)))
    .collect::<Vec<_>>()
    .join("\n");
    insta::assert_snapshot!("optional_fields_absent", xml);
}

#[test]
fn fields_at_their_maximum_length() {
    let mut p = persoon_bsn();
    p.naam = Some(Naam {
        voornamen: Some("É".repeat(200)),
        voorvoegsels: Some("v".repeat(20)),
        geslachtsnaam: "ñ".repeat(200),
    });
    let mut i = inschrijving();
    i.inschrijvingvolgnummer = vn(&"Z9".repeat(10));
    for p in &mut i.perioden {
        p.locatiecode_vsv = Some(LocatiecodeVsv::parse("t", "999999999999").unwrap());
    }
    let msg = bericht(Mutatiesoort::Toevoegen, p, BronInhoud::Inschrijving(i));
    check(&msg);
    let mut b = bpv();
    b.omvang = 999_999_999;
    b.bpv_volgnummer = vn(&"9".repeat(20));
    check(&bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Bpv(b),
    ));
}

#[test]
fn writer_refuses_what_the_schema_would_refuse_naming_the_field() {
    let mut p = persoon_bsn();
    p.naam = Some(Naam {
        voornamen: None,
        voorvoegsels: Some("v".repeat(21)),
        geslachtsnaam: "Hof".to_owned(),
    });
    let e = bron::write(&bericht(Mutatiesoort::Toevoegen, p, BronInhoud::Bpv(bpv()))).unwrap_err();
    assert_eq!(e.field(), Some("Mutatiebericht/Persoon/Naam/Voorvoegsels"));

    let mut p = persoon_bsn();
    p.naam = Some(Naam {
        voornamen: Some("Ann\u{0}".to_owned()),
        voorvoegsels: None,
        geslachtsnaam: "Hof".to_owned(),
    });
    let e = bron::write(&bericht(Mutatiesoort::Toevoegen, p, BronInhoud::Bpv(bpv()))).unwrap_err();
    assert_eq!(e.field(), Some("Mutatiebericht/Persoon/Naam/Voornamen"));

    let mut i = inschrijving();
    i.perioden.clear();
    let e = bron::write(&bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Inschrijving(i),
    ))
    .unwrap_err();
    assert_eq!(
        e,
        MappingError::missing("Mutatiebericht/Inschrijving/Inschrijvingsperiode")
    );

    let mut i = inschrijving();
    i.datum_uitschrijving_gepland = d("2020-01-01");
    let e = bron::write(&bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Inschrijving(i),
    ))
    .unwrap_err();
    assert_eq!(
        e.field(),
        Some("Mutatiebericht/Inschrijving/DatumUitschrijvingGepland")
    );

    let mut dip = diploma();
    dip.generieke_examenonderdelen[0].eindcijfer = Some(11);
    let e = bron::write(&bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Diploma(dip),
    ))
    .unwrap_err();
    assert_eq!(
        e.field(),
        Some("Mutatiebericht/Diploma/GeneriekExamenonderdeel[1]/Eindcijfer")
    );
}

fn sample_xml() -> String {
    bron::write(&bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Bpv(bpv()),
    ))
    .unwrap()
}

#[test]
fn reader_errors_are_typed_and_name_the_field() {
    // Invalid BSN.
    let x = sample_xml().replace(BSN, "111222334");
    let e = bron::read(x.as_bytes()).unwrap_err();
    assert_eq!(
        e.field(),
        Some("Mutatiebericht/Persoon/Burgerservicenummer")
    );
    assert!(!e.to_string().contains("111222334"), "no BSN in errors");
    // Missing required field.
    let x = sample_xml().replace("<Omvang>800</Omvang>\n", "");
    assert_eq!(
        bron::read(x.as_bytes()).unwrap_err(),
        MappingError::missing("Mutatiebericht/BPV/Omvang")
    );
    // Wrong namespace.
    let x = sample_xml().replace(bron::NAMESPACE, "urn:other");
    assert!(matches!(
        bron::read(x.as_bytes()).unwrap_err(),
        MappingError::WrongNamespace { .. }
    ));
    // Unknown element.
    let x = sample_xml().replace("<Omvang>", "<Extra>1</Extra><Omvang>");
    assert_eq!(
        bron::read(x.as_bytes()).unwrap_err().field(),
        Some("Mutatiebericht/BPV/Extra")
    );
    // Malformed, entity declaration, invalid UTF-8, too large.
    let x = sample_xml().replace("</BPV>", "");
    assert!(matches!(
        bron::read(x.as_bytes()).unwrap_err(),
        MappingError::Malformed { .. }
    ));
    let x = sample_xml().replace(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY x \"y\">]>",
    );
    assert_eq!(
        bron::read(x.as_bytes()).unwrap_err(),
        MappingError::DoctypeNotAllowed
    );
    let mut b = sample_xml().into_bytes();
    let at = b.len() - 40;
    b[at] = 0xff;
    assert!(matches!(
        bron::read(&b).unwrap_err(),
        MappingError::InvalidUtf8 { .. }
    ));
    let big = vec![b' '; bron::MAX_MESSAGE_BYTES + 1];
    assert!(matches!(
        bron::read(&big).unwrap_err(),
        MappingError::TooLarge { .. }
    ));
    // A bad code.
    let x = sample_xml().replace(
        "<SoortMutatie>T</SoortMutatie>",
        "<SoortMutatie>U</SoortMutatie>",
    );
    assert_eq!(
        bron::read(x.as_bytes()).unwrap_err().field(),
        Some("Mutatiebericht/SoortMutatie")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_is_identity(msg in arb_bericht()) {
        let xml = bron::write(&msg).unwrap();
        prop_assert_eq!(bron::read(xml.as_bytes()).unwrap(), msg);
    }

    #[test]
    fn reader_never_panics_on_mutated_messages(msg in arb_bericht(), cut in 0usize..4000, byte in any::<u8>()) {
        let mut x = bron::write(&msg).unwrap().into_bytes();
        if !x.is_empty() {
            let at = cut % x.len();
            x[at] = byte;
        }
        let _ = bron::read(&x);
    }

    #[test]
    fn envelope_round_trips_and_its_readers_never_panic_on_mutations(
        msg in arb_bericht(),
        cut in 0usize..6000,
        byte in any::<u8>(),
    ) {
        use knooppunt_mappings::rio::soap::{Addressing, DUO_OIN};
        let addressing = Addressing {
            from: msg.brin.oin(),
            endpoint: "https://duo.example/bron/v1/mutaties".to_owned(),
            to: DUO_OIN.parse().unwrap(),
            message_id: msg.bericht_id,
        };
        let xml = bron::soap::write_envelope(&msg, &addressing).unwrap();
        let (_, back) = bron::soap::read_envelope(xml.as_bytes()).unwrap();
        prop_assert_eq!(&back, &msg);
        let mut x = xml.into_bytes();
        let at = cut % x.len();
        x[at] = byte;
        let _ = bron::soap::read_envelope(&x);
        let _ = bron::soap::read_answer(&x);
    }
}

proptest! {
    // Each case spawns xmllint, so fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_written_message_is_schema_valid(msg in arb_bericht()) {
        let xml = bron::write(&msg).unwrap();
        crate::common::assert_valid_against(&xml, &xsd());
    }
}

/// The Edukoppeling/WUS envelope: WS-Addressing with both OINs, the message as its Body, read
/// back strictly; a tampered header is refused naming the field.
#[test]
fn the_soap_envelope_carries_the_message_with_both_oins() {
    use knooppunt_mappings::rio::soap::{Addressing, DUO_OIN};
    let msg = bericht(
        Mutatiesoort::Toevoegen,
        persoon_bsn(),
        BronInhoud::Inschrijving(inschrijving()),
    );
    let addressing = Addressing {
        from: msg.brin.oin(),
        endpoint: "https://duo.example/bron/v1/mutaties".to_owned(),
        to: DUO_OIN.parse().unwrap(),
        message_id: msg.bericht_id,
    };
    let xml = bron::soap::write_envelope(&msg, &addressing).expect("writes");
    let (kop, back) = bron::soap::read_envelope(xml.as_bytes()).expect("reads back");
    assert_eq!(back, msg);
    assert_eq!(kop.from, msg.brin.oin());
    assert_eq!(kop.to.to_string(), DUO_OIN);
    assert_eq!(kop.endpoint, addressing.endpoint);
    assert_eq!(kop.message_id, msg.bericht_id);
    // The Body alone is the message our schema describes.
    let start = xml.find("<Mutatiebericht").unwrap();
    let end = xml.find("</soapenv:Body>").unwrap();
    crate::common::assert_valid_against(&xml[start..end], &xsd());

    let other_action = xml.replace(bron::soap::ACTION, "urn:other");
    let e = bron::soap::read_envelope(other_action.as_bytes()).unwrap_err();
    assert_eq!(e.field(), Some("Envelope/Header/wsa:Action"));
    let no_oin = xml.replace(&format!("?oin={DUO_OIN}"), "");
    let e = bron::soap::read_envelope(no_oin.as_bytes()).unwrap_err();
    assert_eq!(e.field(), Some("Envelope/Header/wsa:To"));
    let bad_body = xml.replace(
        "<SoortMutatie>T</SoortMutatie>",
        "<SoortMutatie>Q</SoortMutatie>",
    );
    assert!(bron::soap::read_envelope(bad_body.as_bytes()).is_err());
}

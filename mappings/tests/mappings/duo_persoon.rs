//! DUO "persoon en vooropleidingen" answers and mutation notifications: fixtures with
//! diacritics, tussenvoegsels, partial birth dates, absent optionals and maximum lengths; the
//! commands they yield; typed errors.

use crate::duo_fixtures::*;
use knooppunt_mappings::MappingError;
use knooppunt_mappings::duo::persoon::{self, MutatieSoort};
use knooppunt_registry::domain::Command;

const ANSWER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<d:PersoonEnVooropleidingen xmlns:d="urn:knooppunt:duo:persoon:v1">
  <d:Persoon>
    <d:Burgerservicenummer>111222333</d:Burgerservicenummer>
    <d:Geboortedatum>2008-07-00</d:Geboortedatum>
    <d:Geslacht>V</d:Geslacht>
    <d:Voornamen>Ayşe Çelik</d:Voornamen>
    <d:Roepnaam>Ayşe</d:Roepnaam>
    <d:Voorvoegsels>van &apos;t</d:Voorvoegsels>
    <d:Geslachtsnaam>Ñúñez-de Vries</d:Geslachtsnaam>
    <d:Postcode>3511 AB</d:Postcode>
    <d:Woongemeente>0344</d:Woongemeente>
    <d:Land>6030</d:Land>
    <d:Startkwalificatie>false</d:Startkwalificatie>
  </d:Persoon>
  <d:Vooropleiding>
    <d:Instelling>12AB</d:Instelling>
    <d:InstellingNaam>Het Çollege</d:InstellingNaam>
    <d:Opleiding>VMBO-KB</d:Opleiding>
    <d:Omschrijving>vmbo kaderberoepsgerichte leerweg</d:Omschrijving>
    <d:Vanaf>2020-08-01</d:Vanaf>
    <d:TotEnMet>2024-07-31</d:TotEnMet>
    <d:DatumUitslag>2024-06-20</d:DatumUitslag>
    <d:DiplomaBehaald>true</d:DiplomaBehaald>
    <d:Eindresultaat>geslaagd</d:Eindresultaat>
    <d:Vak><d:Naam>Nederlands</d:Naam><d:Resultaat>7</d:Resultaat></d:Vak>
    <d:Vak><d:Naam>Wiskunde</d:Naam></d:Vak>
  </d:Vooropleiding>
  <d:Vooropleiding>
    <d:Opleiding>HAVO</d:Opleiding>
    <d:Omschrijving>havo (niet afgerond)</d:Omschrijving>
    <d:DiplomaBehaald>false</d:DiplomaBehaald>
  </d:Vooropleiding>
</d:PersoonEnVooropleidingen>"#;

#[test]
fn lookup_answer_with_diacritics_and_partial_birth_date() {
    let a = persoon::parse_persoon_en_vooropleidingen(ANSWER.as_bytes()).unwrap();
    assert_eq!(a.persoon.voorvoegsels.as_deref(), Some("van 't"));
    assert_eq!(a.persoon.geboortedatum.to_string(), "2008-07-00");
    assert_eq!(a.vooropleidingen.len(), 2);
    let cmds = persoon::lookup_to_commands(&a).unwrap();
    assert_eq!(cmds.len(), 3);
    insta::assert_json_snapshot!("persoon_lookup", (a, cmds));
}

#[test]
fn optional_fields_absent_and_onderwijsnummer() {
    let x = r#"<PersoonEnVooropleidingen xmlns="urn:knooppunt:duo:persoon:v1"><Persoon>
      <Onderwijsnummer>101222331</Onderwijsnummer><Geboortedatum>1999-00-00</Geboortedatum>
      <Geslacht>O</Geslacht><Voornamen>Jan</Voornamen><Geslachtsnaam>Hof</Geslachtsnaam>
    </Persoon></PersoonEnVooropleidingen>"#;
    let a = persoon::parse_persoon_en_vooropleidingen(x.as_bytes()).unwrap();
    assert!(a.vooropleidingen.is_empty());
    assert_eq!(a.persoon.postcode, None);
    let cmds = persoon::lookup_to_commands(&a).unwrap();
    insta::assert_json_snapshot!("persoon_minimal", cmds);
}

#[test]
fn fields_at_their_maximum_length_and_one_over() {
    let x = ANSWER
        .replace("Ayşe Çelik", &"é".repeat(200))
        .replace("Ñúñez-de Vries", &"ñ".repeat(200))
        .replace("van &apos;t", &"v".repeat(20));
    let a = persoon::parse_persoon_en_vooropleidingen(x.as_bytes()).unwrap();
    assert!(persoon::lookup_to_commands(&a).is_ok());
    let over = ANSWER.replace("van &apos;t", &"v".repeat(21));
    let e = persoon::parse_persoon_en_vooropleidingen(over.as_bytes()).unwrap_err();
    assert_eq!(
        e.field(),
        Some("PersoonEnVooropleidingen/Persoon/Voorvoegsels")
    );
}

#[test]
fn mutation_notifications_to_commands() {
    let diploma = r#"<Mutatiemelding xmlns="urn:knooppunt:duo:persoon:v1">
      <MeldingId>0199aaaa-0000-7000-8000-000000000001</MeldingId>
      <DatumTijd>2026-07-01T10:00:00Z</DatumTijd>
      <Soort>DiplomaBehaald</Soort>
      <Burgerservicenummer>111222333</Burgerservicenummer>
      <Vooropleiding><Instelling>12AB</Instelling><Opleiding>VMBO-TL</Opleiding>
        <Omschrijving>vmbo theoretische leerweg</Omschrijving><DatumUitslag>2026-06-30</DatumUitslag>
        <DiplomaBehaald>true</DiplomaBehaald></Vooropleiding>
    </Mutatiemelding>"#;
    let m = persoon::parse_mutatiemelding(diploma.as_bytes()).unwrap();
    assert_eq!(m.soort, MutatieSoort::DiplomaBehaald);
    let c = persoon::melding_to_command(&m).unwrap();
    assert!(
        matches!(&c, Command::RecordVooropleiding { vooropleiding } if vooropleiding.diploma_behaald)
    );

    let personalia = r#"<Mutatiemelding xmlns="urn:knooppunt:duo:persoon:v1">
      <MeldingId>0199aaaa-0000-7000-8000-000000000002</MeldingId>
      <DatumTijd>2026-07-01T10:00:00Z</DatumTijd>
      <Soort>PersoonsgegevensGewijzigd</Soort>
      <Burgerservicenummer>111222333</Burgerservicenummer>
      <Persoon><Burgerservicenummer>111222333</Burgerservicenummer><Geboortedatum>2008-07-14</Geboortedatum>
        <Geslacht>M</Geslacht><Voornamen>Çan</Voornamen><Geslachtsnaam>Öztürk</Geslachtsnaam></Persoon>
    </Mutatiemelding>"#;
    let m = persoon::parse_mutatiemelding(personalia.as_bytes()).unwrap();
    let c = persoon::melding_to_command(&m).unwrap();
    insta::assert_json_snapshot!("persoon_melding", c);

    // A DiplomaBehaald without a diploma, a person that is someone else, a missing payload.
    let e = persoon::parse_mutatiemelding(
        diploma
            .replace("<DiplomaBehaald>true", "<DiplomaBehaald>false")
            .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(
        e.field(),
        Some("Mutatiemelding/Vooropleiding/DiplomaBehaald")
    );
    let other = personalia.replacen(
        "<Persoon><Burgerservicenummer>111222333",
        &format!("<Persoon><Burgerservicenummer>{BSN2}"),
        1,
    );
    let e = persoon::parse_mutatiemelding(other.as_bytes()).unwrap_err();
    assert_eq!(
        e.field(),
        Some("Mutatiemelding/Persoon/Burgerservicenummer")
    );
    let e = persoon::parse_mutatiemelding(
        diploma
            .replace(
                "DiplomaBehaald</Soort>",
                "PersoonsgegevensGewijzigd</Soort>",
            )
            .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e, MappingError::missing("Mutatiemelding/Persoon"));
}

#[test]
fn bad_input_gives_typed_errors() {
    let p = |x: &str| persoon::parse_persoon_en_vooropleidingen(x.as_bytes()).unwrap_err();
    assert_eq!(
        p(&ANSWER.replace("111222333", "111222334")).field(),
        Some("PersoonEnVooropleidingen/Persoon/Burgerservicenummer")
    );
    assert!(
        !p(&ANSWER.replace("111222333", "111222334"))
            .to_string()
            .contains("111222334")
    );
    assert!(matches!(
        p(&ANSWER.replace("urn:knooppunt:duo:persoon:v1", "urn:other")),
        MappingError::WrongNamespace { .. }
    ));
    assert_eq!(
        p(&ANSWER.replace("<d:Geslachtsnaam>Ñúñez-de Vries</d:Geslachtsnaam>", "")),
        MappingError::missing("PersoonEnVooropleidingen/Persoon/Geslachtsnaam")
    );
    assert_eq!(
        p(&ANSWER.replace("2008-07-00", "2008-00-14")).field(),
        Some("PersoonEnVooropleidingen/Persoon/Geboortedatum")
    );
    assert_eq!(
        p(&ANSWER.replace("<d:TotEnMet>2024-07-31", "<d:TotEnMet>2019-07-31")).field(),
        Some("PersoonEnVooropleidingen/Vooropleiding[1]/TotEnMet")
    );
    assert_eq!(
        p(&ANSWER.replace("<d:Roepnaam>", "<d:Bijnaam>x</d:Bijnaam><d:Roepnaam>")).field(),
        Some("PersoonEnVooropleidingen/Persoon/Bijnaam")
    );
    assert_eq!(
        p(&ANSWER.replace("<d:Postcode>3511 AB", "<d:Postcode>0511 AB")).field(),
        Some("PersoonEnVooropleidingen/Persoon/Postcode")
    );
    assert_eq!(
        p(&ANSWER.replace("?>", "?><!DOCTYPE x [<!ENTITY a \"b\">]>")),
        MappingError::DoctypeNotAllowed
    );
    assert!(matches!(
        p(&ANSWER.replace("</d:PersoonEnVooropleidingen>", "")),
        MappingError::Malformed { .. }
    ));
    let mut b = ANSWER.as_bytes().to_vec();
    b[200] = 0xfe;
    assert!(matches!(
        persoon::parse_persoon_en_vooropleidingen(&b).unwrap_err(),
        MappingError::InvalidUtf8 { .. }
    ));
    let big = vec![b' '; persoon::MAX_BYTES + 1];
    assert!(matches!(
        persoon::parse_persoon_en_vooropleidingen(&big).unwrap_err(),
        MappingError::TooLarge { .. }
    ));
    // The registry requires voornamen: a DUO person without them cannot become personalia.
    let a = persoon::parse_persoon_en_vooropleidingen(
        ANSWER
            .replace("<d:Voornamen>Ayşe Çelik</d:Voornamen>", "")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        persoon::lookup_to_commands(&a).unwrap_err(),
        MappingError::missing("PersoonEnVooropleidingen/Persoon/Voornamen")
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsers_never_panic_on_mutations(at in 0usize..4000, byte in any::<u8>()) {
            let mut b = ANSWER.as_bytes().to_vec();
            let n = b.len();
            b[at % n] = byte;
            let _ = persoon::parse_persoon_en_vooropleidingen(&b);
            let _ = persoon::parse_mutatiemelding(&b);
        }

        /// Whatever still parses after a mutation is written back (as the DUO simulator does)
        /// to XML that parses to the same value.
        #[test]
        fn what_parses_is_written_back_to_the_same_value(at in 0usize..4000, byte in any::<u8>()) {
            let mut b = ANSWER.as_bytes().to_vec();
            let n = b.len();
            b[at % n] = byte;
            if let Ok(a) = persoon::parse_persoon_en_vooropleidingen(&b) {
                let written = persoon::write_persoon_en_vooropleidingen(&a);
                prop_assert_eq!(
                    persoon::parse_persoon_en_vooropleidingen(written.as_bytes()).unwrap(),
                    a
                );
            }
        }
    }
}

#[test]
fn debug_output_carries_no_names_or_numbers() {
    let a = persoon::parse_persoon_en_vooropleidingen(ANSWER.as_bytes()).unwrap();
    let d = format!("{a:?}");
    assert!(
        !d.contains("Ñúñez") && !d.contains("111222333") && !d.contains("2008"),
        "{d}"
    );
    let mut p = persoon_bsn();
    p.naam = Some(knooppunt_mappings::duo::bron::Naam {
        voornamen: Some("Ayşe".into()),
        voorvoegsels: None,
        geslachtsnaam: "Hof".into(),
    });
    let d = format!("{p:?}");
    assert!(
        !d.contains("Ayşe") && !d.contains("Hof") && !d.contains(BSN),
        "{d}"
    );
}

#[test]
fn written_answers_and_notifications_read_back_to_the_same_value() {
    // The writers serve the DUO simulator: every fixture survives a round trip, diacritics,
    // apostrophes and partial birth dates included.
    let answer = persoon::parse_persoon_en_vooropleidingen(ANSWER.as_bytes()).unwrap();
    let written = persoon::write_persoon_en_vooropleidingen(&answer);
    assert_eq!(
        persoon::parse_persoon_en_vooropleidingen(written.as_bytes()).unwrap(),
        answer
    );
    let melding = persoon::parse_mutatiemelding(
        format!(
            r#"<Mutatiemelding xmlns="urn:knooppunt:duo:persoon:v1">
            <MeldingId>0b8f6c1e-3f43-4a8e-9d3a-6a4f1d2c9e01</MeldingId>
            <DatumTijd>2027-07-01T09:00:00Z</DatumTijd><Soort>PersoonsgegevensGewijzigd</Soort>
            <Burgerservicenummer>111222333</Burgerservicenummer>{}</Persoon></Mutatiemelding>"#,
            ANSWER[ANSWER.find("<d:Persoon>").unwrap()..ANSWER.find("</d:Persoon>").unwrap()]
                .replace("d:", "")
        )
        .as_bytes(),
    )
    .unwrap();
    let written = persoon::write_mutatiemelding(&melding);
    assert_eq!(
        persoon::parse_mutatiemelding(written.as_bytes()).unwrap(),
        melding
    );
}

#[test]
fn a_lookup_request_round_trips_and_its_address_is_checked() {
    let asked = persoon::Opvraging {
        id: "101222331"
            .parse::<knooppunt_registry::ids::Onderwijsnummer>()
            .map(knooppunt_registry::ids::PersonId::Onderwijsnummer)
            .unwrap(),
        aflever_adres: Some(
            "https://knooppunt.example/duo/persoon/v1/mutatiemeldingen?a=1&b=2".to_owned(),
        ),
    };
    let xml = persoon::write_opvraging(&asked);
    assert!(xml.contains("<Onderwijsnummer>101222331</Onderwijsnummer>"));
    assert!(xml.contains("a=1&amp;b=2"), "escaped: {xml}");
    assert_eq!(persoon::parse_opvraging(xml.as_bytes()).unwrap(), asked);
    let without = persoon::Opvraging {
        aflever_adres: None,
        ..asked
    };
    assert_eq!(
        persoon::parse_opvraging(persoon::write_opvraging(&without).as_bytes()).unwrap(),
        without
    );
    let bad = xml.replace("https://knooppunt.example", "ftp://knooppunt.example");
    assert_eq!(
        persoon::parse_opvraging(bad.as_bytes())
            .unwrap_err()
            .field(),
        Some("Opvraging/Abonneren/AfleverAdres")
    );
    let both = xml.replace(
        "<Onderwijsnummer>",
        "<Burgerservicenummer>111222333</Burgerservicenummer><Onderwijsnummer>",
    );
    assert!(persoon::parse_opvraging(both.as_bytes()).is_err());
}

#[test]
fn one_command_for_a_lookup_answer() {
    let a = persoon::parse_persoon_en_vooropleidingen(ANSWER.as_bytes()).unwrap();
    let Command::RecordPersoonEnVooropleidingen {
        personalia,
        vooropleidingen,
    } = persoon::lookup_to_command(&a).unwrap()
    else {
        panic!("not the lookup command")
    };
    assert_eq!(personalia.achternaam, "Ñúñez-de Vries");
    assert_eq!(vooropleidingen.len(), 2);
    // The same translation as the separate commands.
    let separate = persoon::lookup_to_commands(&a).unwrap();
    assert_eq!(separate[0], Command::RecordPersonalia { personalia });
}

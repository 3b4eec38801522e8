//! TBG-i: the public demo, signals with parameters, commands, and typed errors.

use crate::duo_fixtures::*;
use knooppunt_mappings::MappingError;
use knooppunt_mappings::duo::codes::{StatusBepaling, Volgnummer};
use knooppunt_mappings::duo::tbgi::{self, InschrijvingRef};
use knooppunt_registry::domain::{Command, OokId};
use knooppunt_registry::envelope::DossierKey;
use knooppunt_registry::ids::{Brin, PersonId};

const DEMO: &str = "duo-tbgi-demo_TBGI_25LX_2027_20251124.xml";

fn demo() -> String {
    String::from_utf8(crate::common::read_spec(DEMO)).unwrap()
}

#[test]
fn the_public_demo_has_masked_bsns_which_are_refused_by_field() {
    let e = tbgi::parse(&crate::common::read_spec(DEMO)).unwrap_err();
    assert_eq!(
        e.field(),
        Some("Bekostigingsgrondslagen/Inschrijving[1]/Burgerservicenummer")
    );
    assert!(e.to_string().contains("11-proef"), "{e}");
}

#[test]
fn the_public_demo_parses_with_valid_bsns() {
    let x = demo()
        .replace("100000000", &test_bsn(1))
        .replace("200000000", &test_bsn(2));
    let t = tbgi::parse(x.as_bytes()).unwrap();
    assert_eq!(t.inschrijvingen.len(), 1);
    assert_eq!(t.diplomas.len(), 1);
    let td = &t.inschrijvingen[0].teldata[0];
    assert_eq!(td.status, StatusBepaling::Voorlopig);
    assert!(td.bekostigingsstatus);
    assert!(td.signalen.is_empty(), "an all-nil Signaal is no signal");
    assert_eq!(td.bekostigingsrelevante_bpv, None);
    insta::assert_json_snapshot!("tbgi_demo", t);
}

const WITH_SIGNALS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Bekostigingsgrondslagen xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Inschrijving>
    <BRIN>25LX</BRIN>
    <Burgerservicenummer>111222333</Burgerservicenummer>
    <Onderwijsnummer xsi:nil="true"/>
    <Inschrijvingvolgnummer>C3</Inschrijvingvolgnummer>
    <DatumInschrijving>2025-08-01</DatumInschrijving>
    <DatumUitschrijvingGepland>2028-07-31</DatumUitschrijvingGepland>
    <DatumUitschrijvingWerkelijk xsi:nil="true"/>
    <NiveauHoogstBekostigdeDiploma>MBO-2</NiveauHoogstBekostigdeDiploma>
    <Teldatum>
      <Teldatum>2025-10-01</Teldatum>
      <DatumTijdBepalingBekostigingsgrondslagen>2026-03-01 09:00:00</DatumTijdBepalingBekostigingsgrondslagen>
      <StatusBepalingBekostigingsstatus>D</StatusBepalingBekostigingsstatus>
      <LeeftijdOpEenAugustusStudiejaar>17</LeeftijdOpEenAugustusStudiejaar>
      <Opleidingcode>25655</Opleidingcode>
      <Niveau>MBO-3</Niveau>
      <Leertraject>BBL</Leertraject>
      <Leerroutefase xsi:nil="true"/>
      <IndicatieBekostigbaar>true</IndicatieBekostigbaar>
      <Bekostigingsstatus>false</Bekostigingsstatus>
      <InschrijvingVoorCorrectiefactor>false</InschrijvingVoorCorrectiefactor>
      <BBLBOLFactor>0.8</BBLBOLFactor>
      <PrijsfactorMBO>1.25</PrijsfactorMBO>
      <AantalBekostigdeVerblijfsjarenMBO>1</AantalBekostigdeVerblijfsjarenMBO>
      <Verblijfsjaarfactor>1</Verblijfsjaarfactor>
      <BijdrageInschrijvingAanDeelnemerswaarde>0</BijdrageInschrijvingAanDeelnemerswaarde>
      <BekostigingsrelevanteBPV>
        <Inschrijvingvolgnummer>C3</Inschrijvingvolgnummer>
        <Volgnummer>C1</Volgnummer>
        <Afsluitdatum>2025-07-20</Afsluitdatum>
        <DatumBegin>2025-08-01</DatumBegin>
        <DatumEindGepland>2026-07-31</DatumEindGepland>
        <DatumEindWerkelijk xsi:nil="true"/>
        <Opleidingcode>25655</Opleidingcode>
      </BekostigingsrelevanteBPV>
      <Signaal>
        <Signaalvolgnummer>1</Signaalvolgnummer>
        <Signaalcode>BBL001</Signaalcode>
        <Signaalomschrijving>Geen geldige BPV op teldatum &amp; leerbedrijf niet erkend</Signaalomschrijving>
        <Parameter>
          <Parametervolgnummer>1</Parametervolgnummer>
          <Parameternaam>LeerbedrijfID</Parameternaam>
          <Parameterwaarde>100018965</Parameterwaarde>
        </Parameter>
        <Parameter>
          <Parametervolgnummer>2</Parametervolgnummer>
          <Parameternaam>Peildatum</Parameternaam>
          <Parameterwaarde>2025-10-01</Parameterwaarde>
        </Parameter>
      </Signaal>
    </Teldatum>
    <Teldatum>
      <Teldatum>2026-02-01</Teldatum>
      <DatumTijdBepalingBekostigingsgrondslagen>2026-03-01 09:00:00</DatumTijdBepalingBekostigingsgrondslagen>
      <StatusBepalingBekostigingsstatus>V</StatusBepalingBekostigingsstatus>
      <IndicatieBekostigbaar>true</IndicatieBekostigbaar>
      <Bekostigingsstatus>true</Bekostigingsstatus>
    </Teldatum>
  </Inschrijving>
  <Inschrijving>
    <BRIN>25LX</BRIN>
    <Burgerservicenummer xsi:nil="true"/>
    <Onderwijsnummer>101222331</Onderwijsnummer>
    <Inschrijvingvolgnummer>7</Inschrijvingvolgnummer>
    <DatumInschrijving>2025-08-01</DatumInschrijving>
  </Inschrijving>
  <Diploma>
    <BRIN>25LX</BRIN>
    <Burgerservicenummer>111222333</Burgerservicenummer>
    <Resultaatvolgnummer>8286771</Resultaatvolgnummer>
    <Opleidingcode>25297</Opleidingcode>
    <Inschrijvingvolgnummer>C3</Inschrijvingvolgnummer>
    <DatumBehaald>2025-06-17</DatumBehaald>
    <DatumTijdBepalingBekostigingsgrondslagen>2025-07-07 07:13:15</DatumTijdBepalingBekostigingsgrondslagen>
    <StatusBepalingBekostigingsstatus>D</StatusBepalingBekostigingsstatus>
    <Bekostigingsstatus>true</Bekostigingsstatus>
    <Signaal>
      <Signaalcode>DIP017</Signaalcode>
    </Signaal>
  </Diploma>
</Bekostigingsgrondslagen>"#;

#[test]
fn signals_with_parameters_and_both_statuses() {
    let t = tbgi::parse(WITH_SIGNALS.as_bytes()).unwrap();
    let s = &t.inschrijvingen[0].teldata[0].signalen[0];
    assert_eq!(s.code, "BBL001");
    assert_eq!(s.parameters.len(), 2);
    assert_eq!(
        t.inschrijvingen[0].teldata[1].status,
        StatusBepaling::Voorlopig
    );
    assert!(
        t.inschrijvingen[1].teldata.is_empty(),
        "not fundable: no teldata"
    );
    assert!(matches!(
        t.inschrijvingen[1].persoon,
        PersonId::Onderwijsnummer(_)
    ));
    insta::assert_json_snapshot!("tbgi_signals", t);
}

fn key(n: u128) -> DossierKey {
    DossierKey(uuid::Uuid::from_u128(n))
}

#[test]
fn commands_bekostigingsstatus_and_signals_as_feedback() {
    let t = tbgi::parse(WITH_SIGNALS.as_bytes()).unwrap();
    let lookup = |brin: &Brin, p: &PersonId, v: &Volgnummer| {
        (brin.as_str() == "25LX" && p.digits() == BSN && v.as_str() == "C3").then(|| {
            InschrijvingRef {
                dossier: key(1),
                ook: OokId(uuid::Uuid::from_u128(2)),
                laatste_mutatie: Some(uuid::Uuid::from_u128(3)),
            }
        })
    };
    let out = tbgi::to_commands(&t, &lookup);
    assert_eq!(
        out.commands
            .iter()
            .filter(|(_, c)| matches!(c, Command::RecordBekostigingsstatus { .. }))
            .count(),
        2
    );
    assert_eq!(
        out.commands
            .iter()
            .filter(|(_, c)| matches!(c, Command::RecordDuoFeedback { .. }))
            .count(),
        2
    );
    assert!(out.commands.iter().all(|(k, _)| *k == key(1)));
    assert_eq!(
        out.niet_verwerkt,
        vec![
            (
                "Bekostigingsgrondslagen/Inschrijving[2]".to_owned(),
                "inschrijving unknown to Knooppunt"
            ),
            (
                "Bekostigingsgrondslagen/Diploma[1]".to_owned(),
                "bekostigingsstatus of a diploma has no registry command"
            ),
        ]
    );
    let cmds: Vec<&Command> = out.commands.iter().map(|(_, c)| c).collect();
    insta::assert_json_snapshot!("tbgi_commands", cmds);
}

#[test]
fn bad_input_gives_typed_errors() {
    type Check = Box<dyn Fn(&MappingError) -> bool>;
    let cases: Vec<(String, Check)> = vec![
        (
            WITH_SIGNALS.replace(
                "<Bekostigingsgrondslagen ",
                "<Bekostigingsgrondslagen xmlns=\"urn:x\" ",
            ),
            Box::new(|e| matches!(e, MappingError::WrongNamespace { .. })),
        ),
        (
            WITH_SIGNALS.replace(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
                "<!DOCTYPE b [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
            ),
            Box::new(|e| *e == MappingError::DoctypeNotAllowed),
        ),
        (
            WITH_SIGNALS.replace("</Bekostigingsgrondslagen>", ""),
            Box::new(|e| matches!(e, MappingError::Malformed { .. })),
        ),
        (
            WITH_SIGNALS.replace("<Signaalcode>BBL001</Signaalcode>", ""),
            Box::new(|e| {
                e.field()
                    == Some(
                        "Bekostigingsgrondslagen/Inschrijving[1]/Teldatum[1]/Signaal[1]/Signaalcode",
                    )
            }),
        ),
        (
            WITH_SIGNALS.replace(
                "<StatusBepalingBekostigingsstatus>D",
                "<StatusBepalingBekostigingsstatus>X",
            ),
            Box::new(|e| {
                e.field()
                    == Some(
                        "Bekostigingsgrondslagen/Inschrijving[1]/Teldatum[1]/StatusBepalingBekostigingsstatus",
                    )
            }),
        ),
        (
            WITH_SIGNALS.replace("<Onderwijsnummer>101222331", "<Onderwijsnummer>101222332"),
            Box::new(|e| {
                e.field() == Some("Bekostigingsgrondslagen/Inschrijving[2]/Onderwijsnummer")
            }),
        ),
        (
            WITH_SIGNALS.replace("<BBLBOLFactor>0.8", "<BBLBOLFactor>0,8"),
            Box::new(|e| {
                e.field()
                    == Some("Bekostigingsgrondslagen/Inschrijving[1]/Teldatum[1]/BBLBOLFactor")
            }),
        ),
        (
            WITH_SIGNALS.replace(
                "<Signaalcode>DIP017",
                &format!("<Signaalcode>{}", "X".repeat(21)),
            ),
            Box::new(|e| {
                e.field() == Some("Bekostigingsgrondslagen/Diploma[1]/Signaal[1]/Signaalcode")
            }),
        ),
        (
            WITH_SIGNALS.replace("<DatumBehaald>2025-06-17</DatumBehaald>", ""),
            Box::new(|e| {
                *e == MappingError::missing("Bekostigingsgrondslagen/Diploma[1]/DatumBehaald")
            }),
        ),
        (
            WITH_SIGNALS.replace(
                "<Onderwijsnummer xsi:nil=\"true\"/>",
                "<Onderwijsnummer>101222331</Onderwijsnummer>",
            ),
            Box::new(|e| {
                e.field() == Some("Bekostigingsgrondslagen/Inschrijving[1]/Onderwijsnummer")
            }),
        ),
    ];
    for (i, (x, ok)) in cases.iter().enumerate() {
        let e = tbgi::parse(x.as_bytes()).unwrap_err();
        assert!(ok(&e), "case {i}: {e:?}");
        assert!(!e.to_string().contains("111222333"), "no BSN in errors");
    }
    let mut b = WITH_SIGNALS.as_bytes().to_vec();
    b[300] = 0xc3;
    b[301] = 0x28;
    assert!(matches!(
        tbgi::parse(&b).unwrap_err(),
        MappingError::InvalidUtf8 { .. }
    ));
    let big = vec![b' '; tbgi::MAX_TBGI_BYTES + 1];
    assert!(matches!(
        tbgi::parse(&big).unwrap_err(),
        MappingError::TooLarge { .. }
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parser_never_panics_on_mutations(at in 0usize..6000, byte in any::<u8>(), cut in 0usize..6000) {
            let mut b = WITH_SIGNALS.as_bytes().to_vec();
            let n = b.len();
            b[at % n] = byte;
            b.truncate(n - cut % n);
            let _ = tbgi::parse(&b);
        }
    }
}

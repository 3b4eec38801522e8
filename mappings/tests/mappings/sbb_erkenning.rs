//! SBB natrekken / actualiseren erkenning in Knooppunt's own format (docs/partners/sbb-whitelabel.xsd).

use chrono::{NaiveDate, TimeZone, Utc};
use knooppunt_mappings::MappingError;
use knooppunt_mappings::sbb::{
    self, Antwoord, Bericht, Inkomend, Mutatie, Signaal, Uitkomst, Verzoek,
};
use knooppunt_registry::domain::{BpvDetails, BpvId, BpvOnderdeel, Command, Event, OokId};
use proptest::prelude::*;
use uuid::Uuid;

fn xsd() -> std::path::PathBuf {
    crate::common::doc("partners/sbb-whitelabel.xsd")
}

fn bericht(n: u128) -> Bericht {
    Bericht {
        bericht_id: Uuid::from_u128(n),
        verzender: "0000000700025BE00000".parse().unwrap(),
        ontvanger: "00000003123456780000".parse().unwrap(),
        tijdstip: Utc.with_ymd_and_hms(2027, 8, 20, 8, 0, 0).unwrap(),
    }
}

fn registered() -> Event {
    Event::PraktijkovereenkomstGeregistreerd {
        bpv: BpvId(Uuid::from_u128(77)),
        instelling: "25BE".parse().unwrap(),
        details: BpvDetails {
            ook: OokId(Uuid::from_u128(5)),
            leerbedrijf: "100018965".parse().unwrap(),
            onderdeel: BpvOnderdeel::Crebo("25655".parse().unwrap()),
            begin: NaiveDate::from_ymd_opt(2027, 9, 1).unwrap(),
            gepland_einde: NaiveDate::from_ymd_opt(2028, 6, 30).unwrap(),
            omvang_uren: 800,
            afsluitdatum: NaiveDate::from_ymd_opt(2027, 8, 15).unwrap(),
        },
        crebo: "25655".parse().unwrap(),
    }
}

#[test]
fn the_question_for_a_registered_bpv_is_valid() {
    let v = sbb::verzoek_for(&registered(), bericht(1))
        .unwrap()
        .unwrap();
    let x = sbb::write_verzoek(&v).unwrap();
    crate::common::assert_valid_against(&x, &xsd());
    insta::assert_snapshot!("sbb_verzoek", x);
    assert_eq!(sbb::parse_verzoek(x.as_bytes()).unwrap(), v);
    let keuzedeel = Verzoek {
        onderdeel: BpvOnderdeel::Keuzedeel("K0067".parse().unwrap()),
        ..v
    };
    crate::common::assert_valid_against(&sbb::write_verzoek(&keuzedeel).unwrap(), &xsd());
}

fn antwoord(uitkomst: Uitkomst) -> Antwoord {
    Antwoord {
        bericht: bericht(2),
        in_antwoord_op: Uuid::from_u128(1),
        referentie: BpvId(Uuid::from_u128(77)),
        leerbedrijf: "100018965".parse().unwrap(),
        onderdeel: BpvOnderdeel::Crebo("25655".parse().unwrap()),
        startdatum: NaiveDate::from_ymd_opt(2027, 9, 1).unwrap(),
        uitkomst,
    }
}

#[test]
fn answers_become_record_sbb_check() {
    let erkend = sbb::write_antwoord(&antwoord(Uitkomst::Erkend {
        vanaf: NaiveDate::from_ymd_opt(2015, 1, 1),
        tot: None,
    }))
    .unwrap();
    crate::common::assert_valid_against(&erkend, &xsd());
    let m = sbb::parse(erkend.as_bytes()).unwrap();
    assert_eq!(
        sbb::to_command(&m),
        Command::RecordSbbCheck {
            bpv: BpvId(Uuid::from_u128(77)),
            erkend: true,
            reden: None,
            datum: NaiveDate::from_ymd_opt(2027, 8, 20).unwrap()
        }
    );
    let niet = antwoord(Uitkomst::NietErkend {
        signaal: Signaal::NietGeldigOpStartdatum,
        omschrijving: Some(format!(
            "Erkenning van Bakkerij 't Hof & Çelik vervalt {}",
            "x".repeat(150)
        )),
    });
    let x = sbb::write_antwoord(&niet).unwrap();
    crate::common::assert_valid_against(&x, &xsd());
    let m = sbb::parse(x.as_bytes()).unwrap();
    insta::assert_json_snapshot!("sbb_niet_erkend", (&m, sbb::to_command(&m)));
}

#[test]
fn withdrawal_becomes_withdraw_erkenning() {
    let m = Mutatie {
        bericht: bericht(3),
        leerbedrijf: "100018965".parse().unwrap(),
        onderdeel: None,
        datum_ingang: NaiveDate::from_ymd_opt(2027, 11, 1).unwrap(),
        signaal: Some(Signaal::Ingetrokken),
    };
    let x = sbb::write_mutatie(&m).unwrap();
    crate::common::assert_valid_against(&x, &xsd());
    let read = sbb::parse(x.as_bytes()).unwrap();
    assert_eq!(read, Inkomend::Mutatie(m));
    assert_eq!(
        sbb::to_command(&read),
        Command::WithdrawErkenning {
            leerbedrijf: "100018965".parse().unwrap(),
            datum: NaiveDate::from_ymd_opt(2027, 11, 1).unwrap(),
            onderdeel: None,
        }
    );
}

#[test]
fn read_whatever_the_prefix() {
    let x = sbb::write_antwoord(&antwoord(Uitkomst::Erkend {
        vanaf: None,
        tot: None,
    }))
    .unwrap();
    let prefixed = x
        .replace(
            &format!("xmlns=\"{}\"", sbb::NS),
            &format!("xmlns:s=\"{}\"", sbb::NS),
        )
        .replace("</", "</s:")
        .replace('<', "<s:")
        .replace("<s:/s:", "</s:");
    assert_ne!(prefixed, x);
    crate::common::assert_valid_against(&prefixed, &xsd());
    assert_eq!(
        sbb::parse(prefixed.as_bytes()).unwrap(),
        sbb::parse(x.as_bytes()).unwrap()
    );
}

#[test]
fn bad_input_names_the_field() {
    let ok = sbb::write_antwoord(&antwoord(Uitkomst::Erkend {
        vanaf: None,
        tot: None,
    }))
    .unwrap();
    let cases = [
        (
            ok.replace("100018965", "012345678"),
            "natrekkenErkenningAntwoord/leerbedrijfId",
        ),
        (
            ok.replace("<startdatum>2027-09-01", "<startdatum>2027-13-01"),
            "natrekkenErkenningAntwoord/startdatum",
        ),
        (
            ok.replace("<erkend></erkend>", "<erkend/>")
                .replace("<erkend/>", ""),
            "natrekkenErkenningAntwoord/erkend|nietErkend",
        ),
        (
            ok.replace("<crebo>25655</crebo>", "<crebo>2565A</crebo>"),
            "natrekkenErkenningAntwoord/onderdeel/crebo",
        ),
    ];
    for (x, field) in cases {
        let e = sbb::parse(x.as_bytes()).unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
    }
    let wrong_ns = ok.replace(sbb::NS, "urn:other");
    assert!(matches!(
        sbb::parse(wrong_ns.as_bytes()).unwrap_err(),
        MappingError::WrongNamespace { .. }
    ));
    assert!(matches!(
        sbb::parse(b"<!DOCTYPE x><x/>").unwrap_err(),
        MappingError::DoctypeNotAllowed
    ));
    assert!(matches!(
        sbb::parse(&vec![b' '; sbb::MAX_BYTES + 1]).unwrap_err(),
        MappingError::TooLarge { .. }
    ));
}

proptest! {
    #[test]
    fn answers_round_trip(
        n in any::<u128>(),
        erkend in any::<bool>(),
        sig in prop::sample::select(Signaal::ALL.to_vec()),
        tekst in proptest::option::of("[a-zA-Z0-9 'ÇéÑ&<>-]{1,200}"),
        crebo in 10000u32..99999,
    ) {
        let mut a = antwoord(if erkend {
            Uitkomst::Erkend { vanaf: None, tot: NaiveDate::from_ymd_opt(2030, 1, 1) }
        } else {
            Uitkomst::NietErkend { signaal: sig, omschrijving: tekst.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) }
        });
        a.referentie = BpvId(Uuid::from_u128(n));
        a.onderdeel = BpvOnderdeel::Crebo(crebo.to_string().parse().unwrap());
        let x = sbb::write_antwoord(&a).unwrap();
        prop_assert_eq!(sbb::parse(x.as_bytes()).unwrap(), Inkomend::Antwoord(a));
    }
}

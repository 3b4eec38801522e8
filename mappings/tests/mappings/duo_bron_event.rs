//! Registry events → BRON messages (`bron::event::from_event`), every message validated against
//! the XSD and snapshotted; the journey of one student from signed OOK to diploma.

use std::str::FromStr;

use crate::duo_fixtures::*;
use chrono::{NaiveDate, TimeZone, Utc};
use knooppunt_mappings::MappingError;
use knooppunt_mappings::duo::bron::{self, BronInhoud, event::from_event};
use knooppunt_mappings::duo::codes::Mutatiesoort;
use knooppunt_registry::domain::*;
use knooppunt_registry::envelope::{DossierKey, EventMeta, REGISTRY_SOURCE};
use knooppunt_registry::ids::Brin;
use knooppunt_registry::reference::{Leertraject, Niveau};

fn brin() -> Brin {
    "25LX".parse().unwrap()
}

fn meta(n: u128, seq: u64, e: &Event) -> EventMeta {
    EventMeta {
        id: uuid::Uuid::from_u128(0x1000 + n),
        kind: e.type_name().to_owned(),
        time: Utc.with_ymd_and_hms(2026, 9, 1, 8, 30, 0).unwrap()
            + chrono::Duration::milliseconds(1234),
        source: REGISTRY_SOURCE.to_owned(),
        subject: DossierKey(uuid::Uuid::from_u128(7)),
        institution: e.institution(),
        correlation_id: uuid::Uuid::from_u128(1),
        causation_id: uuid::Uuid::from_u128(2),
        sequence: seq,
    }
}

fn date(s: &str) -> NaiveDate {
    d(s)
}

fn personalia(
    voornamen: &str,
    voorvoegsels: Option<&str>,
    achternaam: &str,
    geboren: &str,
) -> Personalia {
    Personalia {
        voornamen: voornamen.to_owned(),
        voorvoegsels: voorvoegsels.map(str::to_owned),
        achternaam: achternaam.to_owned(),
        geboortedatum: Geboortedatum::from_str(geboren).unwrap(),
        geslacht: Geslacht::V,
        woongemeente: None,
        startkwalificatie: false,
    }
}

/// Applies the events in order; after each, maps it with the dossier as it then stands.
fn journey(
    person: knooppunt_registry::ids::PersonId,
    p: Personalia,
    events: Vec<Event>,
) -> Vec<(String, Vec<bron::BronBericht>)> {
    let mut dossier = Dossier::default();
    let mut all = vec![
        Event::DossierOpened {
            person: Person { id: person },
        },
        Event::PersonaliaVastgelegd { personalia: p },
    ];
    all.extend(events);
    let mut out = Vec::new();
    for (i, e) in all.iter().enumerate() {
        dossier.apply(e);
        let msgs = from_event(&meta(i as u128, dossier.sequence, e), e, &dossier).unwrap();
        out.push((e.type_name().to_owned(), msgs));
    }
    out
}

fn ook() -> OokId {
    OokId(uuid::Uuid::from_u128(
        0xaaaa_0000_0000_4000_8000_0000_0000_0001,
    ))
}

fn bpv_id() -> BpvId {
    BpvId(uuid::Uuid::from_u128(
        0xbbbb_0000_0000_4000_8000_0000_0000_0002,
    ))
}

fn details() -> OokDetails {
    OokDetails {
        aanmelding: None,
        opleiding: None,
        crebo: "25655".parse().unwrap(),
        niveau: Niveau::Mbo3,
        leertraject: Leertraject::Bbl,
        intensiteit: Intensiteit::VT,
        begin: date("2026-08-01"),
        gepland_einde: date("2029-07-31"),
    }
}

fn bpv_details(keuzedeel: bool) -> BpvDetails {
    BpvDetails {
        ook: ook(),
        leerbedrijf: "100018965".parse().unwrap(),
        onderdeel: if keuzedeel {
            BpvOnderdeel::Keuzedeel("K0067".parse().unwrap())
        } else {
            BpvOnderdeel::Crebo("25655".parse().unwrap())
        },
        begin: date("2026-09-01"),
        gepland_einde: date("2027-06-30"),
        omvang_uren: 800,
        afsluitdatum: date("2026-08-20"),
    }
}

fn diploma_journey() -> Vec<Event> {
    let h = Handtekening {
        datum: date("2026-07-15"),
        wijze: Ondertekenwijze::Papier,
    };
    vec![
        Event::OnderwijsovereenkomstAangeboden {
            ook: ook(),
            instelling: brin(),
            details: details(),
            ouder_tekent: false,
        },
        Event::OnderwijsovereenkomstGetekend {
            ook: ook(),
            instelling: brin(),
            ondertekenaar: OokOndertekenaar::Student,
            handtekening: h.clone(),
        },
        Event::OnderwijsovereenkomstOndertekend {
            ook: ook(),
            instelling: brin(),
            datum: date("2026-07-15"),
            details: details(),
        },
        Event::PraktijkovereenkomstGeregistreerd {
            bpv: bpv_id(),
            instelling: brin(),
            details: bpv_details(false),
            crebo: "25655".parse().unwrap(),
        },
        Event::PraktijkovereenkomstOndertekend {
            bpv: bpv_id(),
            instelling: brin(),
            datum: date("2026-08-25"),
            details: bpv_details(false),
        },
        Event::PraktijkovereenkomstBeeindigd {
            bpv: bpv_id(),
            instelling: brin(),
            datum: date("2027-05-31"),
        },
        Event::KeuzedeelGeregistreerd {
            keuzedeel: Keuzedeel {
                code: "K0067".parse().unwrap(),
                ook: ook(),
                instelling: brin(),
                gastinstelling: None,
                resultaat: None,
            },
        },
        Event::KeuzedeelResultaatVastgelegd {
            ook: ook(),
            instelling: brin(),
            code: "K0067".parse().unwrap(),
            resultaat: KeuzedeelResultaat {
                uitslag: KeuzedeelUitslag::Behaald,
                datum: date("2028-03-01"),
                vastgelegd_door: brin(),
            },
        },
        Event::ExamenresultaatVastgelegd {
            instelling: brin(),
            resultaat: Examenresultaat::Generiek {
                ook: ook(),
                vak: GeneriekVak::Nederlands,
                cijfer_ie: Some(Cijfer::from_tenths(74).unwrap()),
                cijfer_ce: Some(Cijfer::from_tenths(51).unwrap()),
                datum: date("2028-05-01"),
            },
        },
        Event::ExamenresultaatVastgelegd {
            instelling: brin(),
            resultaat: Examenresultaat::Generiek {
                ook: ook(),
                vak: GeneriekVak::Rekenen,
                cijfer_ie: None,
                cijfer_ce: Some(Cijfer::from_tenths(100).unwrap()),
                datum: date("2028-05-02"),
            },
        },
        Event::DiplomaUitgereikt {
            diploma: Diploma {
                crebo: "25655".parse().unwrap(),
                datum: date("2029-06-17"),
                ook: ook(),
                instelling: brin(),
            },
        },
    ]
}

fn validate_and_render(steps: &[(String, Vec<bron::BronBericht>)]) -> String {
    let xsd = crate::common::doc("partners/bron-mbo-v1.xsd");
    let mut out = String::new();
    for (kind, msgs) in steps {
        for m in msgs {
            let xml = bron::write(m).unwrap();
            crate::common::assert_valid_against(&xml, &xsd);
            assert_eq!(&bron::read(xml.as_bytes()).unwrap(), m);
            out.push_str(&format!("<!-- {kind} -->\n{xml}"));
        }
    }
    out
}

#[test]
fn signed_ook_to_diploma_yields_the_bron_mutations() {
    let steps = journey(
        bsn(BSN),
        personalia("Ayşe", Some("van 't"), "Hof", "2008-03-14"),
        diploma_journey(),
    );
    let kinds: Vec<(&str, Vec<(Mutatiesoort, &str)>)> = steps
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(k, m)| {
            (
                k.as_str(),
                m.iter().map(|b| (b.mutatie, b.inhoud.element())).collect(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                "nl.knooppunt.onderwijsovereenkomst.ondertekend.v1",
                vec![(Mutatiesoort::Toevoegen, "Inschrijving")]
            ),
            (
                "nl.knooppunt.praktijkovereenkomst.ondertekend.v1",
                vec![(Mutatiesoort::Toevoegen, "BPV")]
            ),
            (
                "nl.knooppunt.praktijkovereenkomst.beeindigd.v1",
                vec![(Mutatiesoort::Aanpassen, "BPV")]
            ),
            (
                "nl.knooppunt.diploma.uitgereikt.v1",
                vec![
                    (Mutatiesoort::Toevoegen, "Diploma"),
                    (Mutatiesoort::Toevoegen, "Uitschrijving")
                ]
            ),
        ]
    );
    // BSN holders are identified by BSN: no names are sent.
    assert!(
        steps
            .iter()
            .flat_map(|(_, m)| m)
            .all(|b| b.persoon.naam.is_none())
    );
    // The same event gives the same message ids (redelivery is idempotent at DUO's side).
    let again = journey(
        bsn(BSN),
        personalia("Ayşe", Some("van 't"), "Hof", "2008-03-14"),
        diploma_journey(),
    );
    assert_eq!(steps, again);
    insta::assert_snapshot!("journey_bsn", validate_and_render(&steps));
}

#[test]
fn onderwijsnummer_student_with_diacritics_partial_birth_date_and_uitschrijving() {
    let events = vec![
        Event::OnderwijsovereenkomstAangeboden {
            ook: ook(),
            instelling: brin(),
            details: details(),
            ouder_tekent: false,
        },
        Event::OnderwijsovereenkomstOndertekend {
            ook: ook(),
            instelling: brin(),
            datum: date("2026-07-15"),
            details: details(),
        },
        Event::PraktijkovereenkomstOndertekend {
            bpv: bpv_id(),
            instelling: brin(),
            datum: date("2026-08-25"),
            details: bpv_details(true),
        },
        Event::OnderwijsovereenkomstBeeindigd {
            ook: ook(),
            instelling: brin(),
            datum: date("2027-01-31"),
            reden: "03".parse().unwrap(),
        },
    ];
    let steps = journey(
        onr(ONR),
        personalia("Çelik", Some("van 't"), "Ñúñez-de Vries", "2007-00-00"),
        events,
    );
    let all: Vec<&bron::BronBericht> = steps.iter().flat_map(|(_, m)| m).collect();
    assert_eq!(all.len(), 3);
    let naam = all[0].persoon.naam.as_ref().unwrap();
    assert_eq!(naam.geslachtsnaam, "Ñúñez-de Vries");
    assert_eq!(all[0].persoon.geboortedatum.to_string(), "2007-00-00");
    let BronInhoud::Bpv(b) = &all[1].inhoud else {
        panic!("a BPV")
    };
    assert_eq!(b.code_keuzedeel.as_ref().map(|k| k.as_str()), Some("K0067"));
    assert_eq!(b.opleidingcode.as_str(), "25655");
    insta::assert_snapshot!("journey_onr", validate_and_render(&steps));
}

#[test]
fn events_that_are_no_bron_concern_give_nothing_and_missing_state_is_a_typed_error() {
    let e = Event::OnderwijsovereenkomstVervallen {
        ook: ook(),
        instelling: brin(),
    };
    assert!(
        from_event(&meta(1, 1, &e), &e, &Dossier::default())
            .unwrap()
            .is_empty()
    );
    let e = Event::OnderwijsovereenkomstOndertekend {
        ook: ook(),
        instelling: brin(),
        datum: date("2026-07-15"),
        details: details(),
    };
    assert_eq!(
        from_event(&meta(1, 1, &e), &e, &Dossier::default()).unwrap_err(),
        MappingError::missing(format!("dossier/onderwijsovereenkomsten/{}", ook()))
    );
    let mut d = Dossier::default();
    d.apply(&Event::DossierOpened {
        person: Person { id: bsn(BSN) },
    });
    d.apply(&Event::OnderwijsovereenkomstAangeboden {
        ook: ook(),
        instelling: brin(),
        details: details(),
        ouder_tekent: false,
    });
    assert_eq!(
        from_event(&meta(1, 1, &e), &e, &d).unwrap_err(),
        MappingError::missing("dossier/personalia")
    );
}

#[test]
fn an_imported_enrolment_and_what_the_import_adds_to_it_go_to_duo_as_nothing_new() {
    let mut d = Dossier::default();
    let mut events = vec![
        Event::DossierOpened {
            person: Person { id: bsn(BSN) },
        },
        Event::PersonaliaVastgelegd {
            personalia: personalia("Anna", None, "Jansen", "2008-07-00"),
        },
        Event::InschrijvingGeimporteerd {
            ook: ook(),
            instelling: brin(),
            details: details(),
            inschrijvingsvolgnummer: "C3".to_owned(),
            ondertekend_op: date("2026-07-15"),
        },
    ];
    // The BPV, results and diploma of the enrolment (as `knooppunt import ro` rebuilds them).
    events.extend(diploma_journey().into_iter().skip(3));
    let mut imported = 0;
    let mut later = 0;
    for (i, e) in events.iter().enumerate() {
        d.apply(e);
        let mut m = meta(i as u128, d.sequence, e);
        // The import's mark: the imported OOK's id as correlation id.
        m.correlation_id = ook().0;
        imported += from_event(&m, e, &d).unwrap().len();
        // The same events as a later user action (another correlation id) are delivered.
        m.correlation_id = uuid::Uuid::from_u128(1);
        later += from_event(&m, e, &d).unwrap().len();
    }
    assert_eq!(imported, 0, "the import's events were delivered to DUO");
    // BPV toevoegen and aanpassen, diploma and uitschrijving.
    assert_eq!(later, 4);
    // The mark counts only for an imported OOK: the same correlation id on a signed (not
    // imported) enrolment is delivered.
    let mut d = Dossier::default();
    let mut n = 0;
    for (i, e) in journey_events().iter().enumerate() {
        d.apply(e);
        let mut m = meta(i as u128, d.sequence, e);
        m.correlation_id = ook().0;
        n += from_event(&m, e, &d).unwrap().len();
    }
    assert!(n >= 5, "a signed enrolment's journey: {n} messages");
}

fn journey_events() -> Vec<Event> {
    let mut all = vec![
        Event::DossierOpened {
            person: Person { id: bsn(BSN) },
        },
        Event::PersonaliaVastgelegd {
            personalia: personalia("Anna", None, "Jansen", "2008-07-00"),
        },
    ];
    all.extend(diploma_journey());
    all
}

//! From registry events to BRON messages (`bron::from_event`).
//!
//! | event | BRON message |
//! | --- | --- |
//! | `OnderwijsovereenkomstOndertekend` | Inschrijving (ISG + one ISP) — toevoegen |
//! | `PraktijkovereenkomstOndertekend` | BPV — toevoegen |
//! | `PraktijkovereenkomstBeeindigd` | BPV with datum einde werkelijk — aanpassen |
//! | `DiplomaUitgereikt` | Diploma (DIP + GEO + KZD) — toevoegen, and Uitschrijving (datum = diploma date, reden `01`) — toevoegen |
//! | `OnderwijsovereenkomstBeeindigd` | Uitschrijving — toevoegen |
//! | anything else (incl. `InschrijvingGeimporteerd`: DUO has it already) | nothing |
//! | any event of a bulk import ([`part_of_import`]: DUO has it already) | nothing |
//!
//! The event carries what it is about; the dossier (as it stands after the event) supplies the
//! person (BSN/ONR, birth date, sex from DUO's personalia), the OOK's inschrijvingsvolgnummer,
//! the BPV details and the exam and keuzedeel results for a diploma.
//!
//! Assumptions (see `docs/partners/duo.md`): indicatie bekostigbaar is `J` (funded
//! institutions); niveau is left out of the ISP (kwalificatie-level enrolments); the names are
//! sent only for a person with an onderwijsnummer (DUO identifies BSN holders by BSN).

use chrono::{DateTime, SubsecRound, Utc};
use knooppunt_registry::domain::{
    Dossier, Event, Examenresultaat, KeuzedeelUitslag, Onderwijsovereenkomst, OokId,
};
use knooppunt_registry::envelope::EventMeta;
use knooppunt_registry::ids::{Brin, PersonId};
use uuid::Uuid;

use super::{BronBericht, BronInhoud, BronPersoon, Naam};
use crate::duo::codes::{GeoCode, KeuzedeelResultaat, Mutatiesoort, RedenUitschrijving};
use crate::duo::convert::{
    bpv_volgnummer, geboortedatum_to_duo, geo_code, geslacht_to_duo, inschrijvingvolgnummer,
    leertraject_to_duo, reden_to_duo, resultaatvolgnummer,
};
use crate::duo::records::{
    Bpv, Diploma, GeneriekExamenonderdeel, Inschrijving, Keuzedeel, Periode, Uitschrijving,
};
use crate::error::MappingError;

/// Namespace of BRON message ids: a message id is derived from the event id and its position,
/// so a redelivered event yields the same message ids.
pub const MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x6b6e_6f6f_7070_5000_8000_6272_6f6e_0001);

/// Whether an event is part of a bulk import (`knooppunt import ro`): the import gives every
/// command about an imported enrolment (its BPV's, results, diploma, end) the imported OOK's id
/// as correlation id, so an event whose correlation id is an imported OOK of this dossier came
/// from DUO's own registratieoverzicht. DUO has it already: it is not delivered again. A later
/// change to an imported enrolment is a user action with a correlation id of its own and is
/// delivered as usual.
pub fn part_of_import(meta: &EventMeta, dossier: &Dossier) -> bool {
    dossier
        .onderwijsovereenkomsten
        .get(&OokId(meta.correlation_id))
        .is_some_and(|o| o.geimporteerd)
}

/// The BRON messages for one registry event (none when the event is no BRON concern).
pub fn from_event(
    meta: &EventMeta,
    event: &Event,
    dossier: &Dossier,
) -> Result<Vec<BronBericht>, MappingError> {
    if part_of_import(meta, dossier) {
        return Ok(Vec::new());
    }
    let mut out: Vec<(Brin, Mutatiesoort, BronInhoud)> = Vec::new();
    match event {
        Event::OnderwijsovereenkomstOndertekend {
            ook,
            instelling,
            details,
            ..
        } => {
            let volg = volgnummer_of(dossier, ook)?;
            out.push((
                instelling.clone(),
                Mutatiesoort::Toevoegen,
                BronInhoud::Inschrijving(Inschrijving {
                    inschrijvingvolgnummer: volg,
                    datum_inschrijving: details.begin,
                    datum_uitschrijving_gepland: details.gepland_einde,
                    datum_uitschrijving_werkelijk: None,
                    reden_uitschrijving: None,
                    perioden: vec![Periode {
                        datum_begin: details.begin,
                        opleidingcode: details.crebo.clone(),
                        leertraject: leertraject_to_duo(details.leertraject),
                        niveau: None,
                        indicatie_bekostigbaar: true,
                        locatiecode_vsv: None,
                        onderwijsaanbieder: None,
                        onderwijslocatie: None,
                        leerroute: None,
                        leerroutefase: None,
                    }],
                    extra_ondersteuning: Vec::new(),
                }),
            ));
        }
        Event::OnderwijsovereenkomstBeeindigd {
            ook,
            instelling,
            datum,
            reden,
        } => out.push((
            instelling.clone(),
            Mutatiesoort::Toevoegen,
            BronInhoud::Uitschrijving(Uitschrijving {
                inschrijvingvolgnummer: volgnummer_of(dossier, ook)?,
                datum_uitschrijving_werkelijk: *datum,
                reden_uitschrijving: reden_to_duo(reden)?,
            }),
        )),
        Event::PraktijkovereenkomstOndertekend {
            bpv,
            instelling,
            details,
            ..
        } => out.push((
            instelling.clone(),
            Mutatiesoort::Toevoegen,
            BronInhoud::Bpv(bpv_record(dossier, bpv, details, None)?),
        )),
        Event::PraktijkovereenkomstBeeindigd {
            bpv,
            instelling,
            datum,
        } => {
            let p = dossier.praktijkovereenkomsten.get(bpv).ok_or_else(|| {
                MappingError::missing(format!("dossier/praktijkovereenkomsten/{bpv}"))
            })?;
            out.push((
                instelling.clone(),
                Mutatiesoort::Aanpassen,
                BronInhoud::Bpv(bpv_record(dossier, bpv, &p.details, Some(*datum))?),
            ));
        }
        Event::DiplomaUitgereikt { diploma } => {
            let volg = volgnummer_of(dossier, &diploma.ook)?;
            let generieke_examenonderdelen = dossier
                .examenresultaten
                .iter()
                .filter(|r| r.ook() == diploma.ook)
                .filter_map(|r| match r {
                    Examenresultaat::Generiek {
                        vak,
                        cijfer_ie,
                        cijfer_ce,
                        ..
                    } => Some((*vak, *cijfer_ie, *cijfer_ce)),
                    Examenresultaat::Instelling { .. } => None,
                })
                .map(|(vak, ie, ce)| {
                    let code = geo_code(vak);
                    Ok(GeneriekExamenonderdeel {
                        resultaatvolgnummer: resultaatvolgnummer(&diploma.ook, &format!("G{code}")),
                        code: GeoCode::parse("GeneriekExamenonderdeel/Code", code)?,
                        eindcijfer: eindcijfer(ie.map(|c| c.tenths()), ce.map(|c| c.tenths())),
                        vrijstelling: None,
                        cijfer_ie: ie.map(|c| u16::from(c.tenths())),
                        vrijstelling_ie: None,
                        cijfer_ce: ce.map(|c| u16::from(c.tenths())),
                        vrijstelling_ce: None,
                    })
                })
                .collect::<Result<Vec<_>, MappingError>>()?;
            let keuzedelen = dossier
                .keuzedelen
                .iter()
                .filter(|k| k.ook == diploma.ook)
                .filter_map(|k| k.resultaat.as_ref().map(|r| (k, r)))
                .map(|(k, r)| Keuzedeel {
                    resultaatvolgnummer: resultaatvolgnummer(&diploma.ook, k.code.as_str()),
                    code: k.code.clone(),
                    resultaat: match r.uitslag {
                        KeuzedeelUitslag::Behaald => KeuzedeelResultaat::Behaald,
                        KeuzedeelUitslag::NietBehaald => KeuzedeelResultaat::NietBehaald,
                    },
                })
                .collect();
            out.push((
                diploma.instelling.clone(),
                Mutatiesoort::Toevoegen,
                BronInhoud::Diploma(Diploma {
                    resultaatvolgnummer: resultaatvolgnummer(&diploma.ook, "D"),
                    opleidingcode: diploma.crebo.clone(),
                    datum_resultaat: diploma.datum,
                    indicatie_bekostigbaar: true,
                    inschrijvingvolgnummer: Some(volg.clone()),
                    onderwijsaanbieder: None,
                    generieke_examenonderdelen,
                    keuzedelen,
                }),
            ));
            // On a diploma the werkelijke datum uitschrijving is the datum kwalificatie behaald
            // (domain.md §1.3), reden 01 geslaagd (the registry ends the OOK so).
            out.push((
                diploma.instelling.clone(),
                Mutatiesoort::Toevoegen,
                BronInhoud::Uitschrijving(Uitschrijving {
                    inschrijvingvolgnummer: volg,
                    datum_uitschrijving_werkelijk: diploma.datum,
                    reden_uitschrijving: RedenUitschrijving::parse("RedenUitschrijving", "01")?,
                }),
            ));
        }
        _ => {}
    }
    if out.is_empty() {
        return Ok(Vec::new());
    }
    let persoon = persoon(dossier)?;
    let aangemaakt: DateTime<Utc> = meta.time.trunc_subsecs(0);
    out.into_iter()
        .enumerate()
        .map(|(i, (brin, mutatie, inhoud))| {
            Ok(BronBericht {
                bericht_id: message_id(meta.id, i),
                aangemaakt,
                brin: brin.instelling(),
                mutatie,
                persoon: persoon.clone(),
                inhoud,
            })
        })
        .collect()
}

/// The id of the `index`-th message for event `event_id`.
pub fn message_id(event_id: Uuid, index: usize) -> Uuid {
    let mut name = event_id.as_bytes().to_vec();
    name.extend_from_slice(&(index as u64).to_be_bytes());
    Uuid::new_v5(&MESSAGE_NAMESPACE, &name)
}

/// Eindcijfer (whole number 1–10) from IE/CE grades in tenths: the average of those present,
/// rounded half up. ASSUMPTION: DUO's own rule per onderdeel is not public.
fn eindcijfer(ie: Option<u8>, ce: Option<u8>) -> Option<u8> {
    let (sum, n) = [ie, ce]
        .into_iter()
        .flatten()
        .fold((0u32, 0u32), |(s, n), t| (s + u32::from(t), n + 1));
    if n == 0 {
        return None;
    }
    let avg_tenths = sum / n;
    Some(((avg_tenths + 5) / 10).clamp(1, 10) as u8)
}

fn ook_of<'a>(
    dossier: &'a Dossier,
    ook: &OokId,
) -> Result<&'a Onderwijsovereenkomst, MappingError> {
    dossier
        .onderwijsovereenkomsten
        .get(ook)
        .ok_or_else(|| MappingError::missing(format!("dossier/onderwijsovereenkomsten/{ook}")))
}

fn volgnummer_of(
    dossier: &Dossier,
    ook: &OokId,
) -> Result<crate::duo::codes::Volgnummer, MappingError> {
    let o = ook_of(dossier, ook)?;
    inschrijvingvolgnummer(ook, o.inschrijvingsvolgnummer.as_deref())
}

fn bpv_record(
    dossier: &Dossier,
    bpv: &knooppunt_registry::domain::BpvId,
    details: &knooppunt_registry::domain::BpvDetails,
    einde_werkelijk: Option<chrono::NaiveDate>,
) -> Result<Bpv, MappingError> {
    use knooppunt_registry::domain::BpvOnderdeel;
    let o = ook_of(dossier, &details.ook)?;
    let (opleidingcode, code_keuzedeel) = match &details.onderdeel {
        BpvOnderdeel::Crebo(c) => (c.clone(), None),
        BpvOnderdeel::Keuzedeel(k) => (o.details.crebo.clone(), Some(k.clone())),
    };
    Ok(Bpv {
        inschrijvingvolgnummer: inschrijvingvolgnummer(
            &details.ook,
            o.inschrijvingsvolgnummer.as_deref(),
        )?,
        bpv_volgnummer: bpv_volgnummer(bpv),
        afsluitdatum: details.afsluitdatum,
        datum_begin: details.begin,
        datum_einde_gepland: details.gepland_einde,
        datum_einde_werkelijk: einde_werkelijk,
        omvang: details.omvang_uren,
        leerbedrijf_id: details.leerbedrijf.clone(),
        opleidingcode,
        code_keuzedeel,
    })
}

fn persoon(dossier: &Dossier) -> Result<BronPersoon, MappingError> {
    let id = dossier
        .person
        .as_ref()
        .map(|p| p.id.clone())
        .ok_or_else(|| MappingError::missing("dossier/person"))?;
    let p = dossier
        .personalia
        .as_ref()
        .ok_or_else(|| MappingError::missing("dossier/personalia"))?;
    let naam = match id {
        PersonId::Onderwijsnummer(_) => Some(Naam {
            voornamen: Some(p.voornamen.trim().to_owned()).filter(|v| !v.is_empty()),
            voorvoegsels: p
                .voorvoegsels
                .as_ref()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            geslachtsnaam: p.achternaam.trim().to_owned(),
        }),
        PersonId::Bsn(_) => None,
    };
    Ok(BronPersoon {
        id,
        geboortedatum: geboortedatum_to_duo("dossier/personalia/geboortedatum", &p.geboortedatum)?,
        geslacht: geslacht_to_duo(p.geslacht),
        postcodecijfers: None,
        land: None,
        naam,
    })
}

//! Applying events to the dossier state. Total: every event applies without failing; an event
//! that refers to a part the dossier lacks (impossible for events this dossier decided) changes
//! nothing beyond the sequence.

use super::Dossier;
use super::event::Event;
use super::parts::{
    BpvStatus, Ondertekenwijze, Onderwijsovereenkomst, OokStatus, Praktijkovereenkomst,
    RedenUitschrijving, SbbCheck, Toestemming,
};

pub(super) fn apply(d: &mut Dossier, event: &Event) {
    match event {
        Event::DossierOpened { person } => d.person = Some(person.clone()),
        Event::PersonaliaVastgelegd { personalia } => d.personalia = Some(personalia.clone()),
        Event::VooropleidingVastgelegd { vooropleiding } => {
            d.vooropleidingen.retain(|v| !v.same_as(vooropleiding));
            d.vooropleidingen.push(vooropleiding.clone());
        }
        Event::AanmeldingIngediend { aanmelding } => {
            d.aanmeldingen.insert(aanmelding.id, aanmelding.clone());
        }
        Event::AanmeldingStatusGewijzigd {
            aanmelding, naar, ..
        } => {
            if let Some(a) = d.aanmeldingen.get_mut(aanmelding) {
                a.status = *naar;
            }
        }
        // A partner's refusal is a message to the institution (kept in the history, published on
        // the bus); it changes no state: the aanmelding keeps its status.
        Event::AanmeldingStatusAfgewezen { .. } => {}
        Event::ToestemmingVerleend {
            instelling,
            scopes,
            op,
        } => {
            d.toestemmingen.insert(
                instelling.clone(),
                Toestemming {
                    instelling: instelling.clone(),
                    scopes: scopes.clone(),
                    verleend_op: *op,
                    ingetrokken_op: None,
                },
            );
        }
        Event::ToestemmingIngetrokken { instelling, op } => {
            if let Some(t) = d.toestemmingen.get_mut(instelling) {
                t.ingetrokken_op = Some(*op);
            }
        }
        Event::OverstapdossierToegevoegd { overstapdossier } => {
            d.overstapdossiers.push(overstapdossier.clone());
        }
        Event::OnderwijsovereenkomstOpgesteld {
            ook,
            instelling,
            details,
        } => {
            d.onderwijsovereenkomsten
                .insert(*ook, new_ook(*ook, instelling, details, OokStatus::Concept));
        }
        Event::OnderwijsovereenkomstAangeboden {
            ook,
            instelling,
            details,
            ..
        } => {
            d.onderwijsovereenkomsten.insert(
                *ook,
                new_ook(*ook, instelling, details, OokStatus::Aangeboden),
            );
        }
        Event::OnderwijsovereenkomstGetekend {
            ook,
            ondertekenaar,
            handtekening,
            ..
        } => {
            if let Some(o) = d.onderwijsovereenkomsten.get_mut(ook) {
                o.handtekeningen.set(*ondertekenaar, handtekening.clone());
            }
        }
        Event::OnderwijsovereenkomstOndertekend { ook, datum, .. } => {
            if let Some(o) = d.onderwijsovereenkomsten.get_mut(ook) {
                o.status = OokStatus::Ondertekend;
                o.ondertekend_op = Some(*datum);
            }
        }
        Event::OnderwijsovereenkomstBeeindigd {
            ook, datum, reden, ..
        } => {
            if let Some(o) = d.onderwijsovereenkomsten.get_mut(ook) {
                o.status = OokStatus::Beeindigd;
                o.werkelijk_einde = Some(*datum);
                o.reden_uitschrijving = Some(reden.clone());
            }
        }
        Event::OnderwijsovereenkomstVervallen { ook, .. } => {
            if let Some(o) = d.onderwijsovereenkomsten.get_mut(ook) {
                o.status = OokStatus::Vervallen;
            }
        }
        Event::PraktijkovereenkomstGeregistreerd {
            bpv,
            instelling,
            details,
            ..
        } => {
            d.praktijkovereenkomsten.insert(
                *bpv,
                Praktijkovereenkomst {
                    id: *bpv,
                    instelling: instelling.clone(),
                    details: details.clone(),
                    sbb: SbbCheck::Pending,
                    handtekeningen: Default::default(),
                    status: BpvStatus::Geregistreerd,
                    werkelijk_einde: None,
                },
            );
        }
        Event::SbbCheckVastgelegd { bpv, uitkomst, .. } => {
            if let Some(b) = d.praktijkovereenkomsten.get_mut(bpv) {
                b.sbb = uitkomst.clone();
            }
        }
        Event::PraktijkovereenkomstGetekend {
            bpv,
            ondertekenaar,
            handtekening,
            ..
        } => {
            if let Some(b) = d.praktijkovereenkomsten.get_mut(bpv) {
                b.handtekeningen.set(*ondertekenaar, handtekening.clone());
            }
        }
        Event::PraktijkovereenkomstOndertekend { bpv, .. } => {
            if let Some(b) = d.praktijkovereenkomsten.get_mut(bpv) {
                b.status = BpvStatus::Ondertekend;
            }
        }
        Event::PraktijkovereenkomstBeeindigd { bpv, datum, .. } => {
            if let Some(b) = d.praktijkovereenkomsten.get_mut(bpv) {
                b.status = BpvStatus::Beeindigd;
                b.werkelijk_einde = Some(*datum);
            }
        }
        Event::ErkenningIngetrokken { bpv, datum, .. } => {
            if let Some(b) = d.praktijkovereenkomsten.get_mut(bpv) {
                b.sbb = SbbCheck::Ingetrokken { datum: *datum };
            }
        }
        Event::KeuzedeelGeregistreerd { keuzedeel } => {
            d.keuzedelen
                .retain(|k| !(k.ook == keuzedeel.ook && k.code == keuzedeel.code));
            d.keuzedelen.push(keuzedeel.clone());
        }
        Event::KeuzedeelResultaatVastgelegd {
            ook,
            code,
            resultaat,
            ..
        } => {
            if let Some(k) = d
                .keuzedelen
                .iter_mut()
                .find(|k| &k.ook == ook && &k.code == code)
            {
                k.resultaat = Some(resultaat.clone());
            }
        }
        Event::ExamenresultaatVastgelegd { resultaat, .. } => {
            d.examenresultaten.retain(|r| !r.same_exam(resultaat));
            d.examenresultaten.push(resultaat.clone());
        }
        Event::DiplomaUitgereikt { diploma } => {
            if let Some(o) = d.onderwijsovereenkomsten.get_mut(&diploma.ook) {
                o.status = OokStatus::Beeindigd;
                o.werkelijk_einde = Some(diploma.datum);
                o.reden_uitschrijving = Some(RedenUitschrijving::geslaagd());
            }
            d.diplomas.push(diploma.clone());
        }
        Event::DuoTerugkoppelingOntvangen { terugkoppeling } => {
            d.duo_terugkoppeling
                .insert(terugkoppeling.mutatie, terugkoppeling.clone());
        }
        Event::BekostigingsstatusVastgelegd { bekostiging } => {
            d.bekostiging
                .retain(|b| !(b.ook == bekostiging.ook && b.teldatum == bekostiging.teldatum));
            d.bekostiging.push(bekostiging.clone());
        }
        Event::OndertekenstatusVastgelegd { transactie } => {
            d.ondertekening
                .insert(transactie.transactie.clone(), transactie.clone());
        }
        Event::InschrijvingGeimporteerd {
            ook,
            instelling,
            details,
            inschrijvingsvolgnummer,
            ondertekend_op,
        } => {
            let mut o = new_ook(*ook, instelling, details, OokStatus::Ondertekend);
            let papier = super::parts::Handtekening {
                datum: *ondertekend_op,
                wijze: Ondertekenwijze::Papier,
            };
            o.handtekeningen.student = Some(papier.clone());
            o.handtekeningen.instelling = Some(papier);
            o.ondertekend_op = Some(*ondertekend_op);
            o.inschrijvingsvolgnummer = Some(inschrijvingsvolgnummer.clone());
            o.geimporteerd = true;
            d.onderwijsovereenkomsten.insert(*ook, o);
        }
    }
}

fn new_ook(
    id: super::parts::OokId,
    instelling: &crate::ids::Brin,
    details: &super::parts::OokDetails,
    status: OokStatus,
) -> Onderwijsovereenkomst {
    Onderwijsovereenkomst {
        id,
        instelling: instelling.clone(),
        details: details.clone(),
        status,
        handtekeningen: Default::default(),
        ondertekend_op: None,
        werkelijk_einde: None,
        reden_uitschrijving: None,
        inschrijvingsvolgnummer: None,
        geimporteerd: false,
    }
}

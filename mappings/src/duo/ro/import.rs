//! Bulk import: an institution moving to level `krd` gets the commands that rebuild each
//! person's dossier from the RO.

use std::collections::BTreeSet;

use knooppunt_registry::domain::{
    BpvDetails, BpvOnderdeel, BpvOndertekenaar, Cijfer, Command as RegCommand, ExamenOnderdeel,
    KeuzedeelUitslag, Ondertekenwijze, OokDetails, Person,
};
use knooppunt_registry::ids::{Crebo, PersonId};
use knooppunt_registry::pseudonym::PersonKey;
use knooppunt_registry::reference;

use super::persons::{RoLosResultaat, RoPersoon};
use super::records::RoVlp;
use crate::duo::codes::KeuzedeelResultaat;
use crate::duo::convert::{
    import_bpv_id, import_ook_id, intensiteit_of, leertraject_from_duo, niveau_from_duo,
    reden_from_duo,
};
use crate::error::MappingError;

/// What the import needs to know besides the file: the niveau of a crebo (the RO's ISP carries
/// it only for dossier-level enrolments; otherwise it comes from the kwalificatiestructuur/RIO).
pub trait ImportContext {
    /// The niveau of a kwalificatie, if known.
    fn niveau(&self, crebo: &Crebo) -> Option<reference::Niveau>;
}

impl<F> ImportContext for F
where
    F: Fn(&Crebo) -> Option<reference::Niveau>,
{
    fn niveau(&self, crebo: &Crebo) -> Option<reference::Niveau> {
        self(crebo)
    }
}

/// The commands that import one person, in the order they must be applied to a fresh dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoImport {
    /// Who (the caller finds or makes the dossier).
    pub persoon: PersonId,
    /// `OpenDossier`, then per inschrijving: `ImportInschrijving`, its BPV's
    /// (`RegisterPraktijkovereenkomst`, `RecordSbbCheck`, `SignPraktijkovereenkomst` on paper,
    /// `EndPraktijkovereenkomst`), its diploma (`RegisterKeuzedeel`,
    /// `RecordKeuzedeelResultaat`, `RecordExamenresultaat`, `AwardDiploma`) or its end
    /// (`TerminateOnderwijsovereenkomst`).
    pub commands: Vec<RegCommand>,
    /// What was not imported, by position (no personal data), with the reason.
    pub overgeslagen: Vec<(String, &'static str)>,
}

/// Builds the import commands for one person of an RO file of institution `vlp.brin`. The ids of
/// the imported records are derived under `key` (the registry's person key), so that they are
/// stable across runs and say nothing about the person without it.
pub fn import_commands(
    vlp: &RoVlp,
    p: &RoPersoon,
    ctx: &impl ImportContext,
    key: &PersonKey,
) -> Result<RoImport, MappingError> {
    let brin = vlp.brin.instelling();
    let mut commands = vec![RegCommand::OpenDossier {
        person: Person {
            id: p.per.persoon.clone(),
        },
    }];
    let mut overgeslagen = Vec::new();
    let mut used_diplomas = vec![false; p.diplomas.len()];
    for (i, ri) in p.inschrijvingen.iter().enumerate() {
        let ins = &ri.inschrijving;
        let at = format!("PER/ISG[{}]", i + 1);
        let Some(last) = ins.perioden.last() else {
            return Err(MappingError::missing(format!("{at}/ISP")));
        };
        if ins
            .perioden
            .iter()
            .any(|q| q.opleidingcode != last.opleidingcode || q.leertraject != last.leertraject)
        {
            overgeslagen.push((
                format!("{at}/ISP"),
                "earlier periods with another opleiding or leertraject (the OOK takes the last)",
            ));
        }
        let niveau = last
            .niveau
            .map(niveau_from_duo)
            .or_else(|| ctx.niveau(&last.opleidingcode))
            .ok_or_else(|| {
                MappingError::invalid(format!("{at}/ISP/Niveau"), "unknown niveau for the crebo")
            })?;
        for (e_i, _) in ins.extra_ondersteuning.iter().enumerate() {
            overgeslagen.push((
                format!("{at}/ISE[{}]", e_i + 1),
                "extra ondersteuning has no registry part",
            ));
        }
        let ook = import_ook_id(key, &brin, &p.per.persoon, &ins.inschrijvingvolgnummer);
        commands.push(RegCommand::ImportInschrijving {
            ook,
            instelling: brin.clone(),
            details: OokDetails {
                aanmelding: None,
                opleiding: None,
                crebo: last.opleidingcode.clone(),
                niveau,
                leertraject: leertraject_from_duo(last.leertraject),
                intensiteit: intensiteit_of(last.leertraject),
                begin: ins.datum_inschrijving,
                gepland_einde: ins.datum_uitschrijving_gepland,
            },
            inschrijvingsvolgnummer: ins.inschrijvingvolgnummer.to_string(),
            ondertekend_op: ins.datum_inschrijving,
        });
        for b in &ri.bpvs {
            let bpv = import_bpv_id(&ook, &b.bpv_volgnummer);
            commands.push(RegCommand::RegisterPraktijkovereenkomst {
                bpv,
                details: BpvDetails {
                    ook,
                    leerbedrijf: b.leerbedrijf_id.clone(),
                    onderdeel: match &b.code_keuzedeel {
                        Some(k) => BpvOnderdeel::Keuzedeel(k.clone()),
                        None => BpvOnderdeel::Crebo(b.opleidingcode.clone()),
                    },
                    begin: b.datum_begin,
                    gepland_einde: b.datum_einde_gepland,
                    omvang_uren: b.omvang,
                    afsluitdatum: b.afsluitdatum,
                },
            });
            // DUO accepted this BPV, so SBB recognised the leerbedrijf (domain.md §1.1: SBB first).
            commands.push(RegCommand::RecordSbbCheck {
                bpv,
                erkend: true,
                reden: None,
                datum: b.afsluitdatum,
            });
            commands.push(RegCommand::SignPraktijkovereenkomst {
                bpv,
                ondertekenaars: BTreeSet::from([
                    BpvOndertekenaar::Student,
                    BpvOndertekenaar::School,
                    BpvOndertekenaar::Leerbedrijf,
                ]),
                wijze: Ondertekenwijze::Papier,
                datum: b.afsluitdatum,
            });
            if let Some(e) = b.datum_einde_werkelijk {
                commands.push(RegCommand::EndPraktijkovereenkomst { bpv, datum: e });
            }
        }
        let mut awarded = false;
        for (j, rd) in p.diplomas.iter().enumerate() {
            let d = &rd.diploma;
            if d.inschrijvingvolgnummer.as_ref() != Some(&ins.inschrijvingvolgnummer) {
                continue;
            }
            let dat = format!("PER/DIP[{}]", j + 1);
            if let Some(u) = used_diplomas.get_mut(j) {
                *u = true;
            }
            if d.opleidingcode != last.opleidingcode {
                overgeslagen.push((dat, "diploma for another crebo than the enrolment"));
                continue;
            }
            for k in &d.keuzedelen {
                commands.push(RegCommand::RegisterKeuzedeel {
                    ook,
                    code: k.code.clone(),
                    gastinstelling: None,
                });
                commands.push(RegCommand::RecordKeuzedeelResultaat {
                    ook,
                    code: k.code.clone(),
                    uitslag: match k.resultaat {
                        KeuzedeelResultaat::Behaald => KeuzedeelUitslag::Behaald,
                        KeuzedeelResultaat::NietBehaald => KeuzedeelUitslag::NietBehaald,
                    },
                    datum: d.datum_resultaat,
                });
            }
            for (g_i, g) in d.generieke_examenonderdelen.iter().enumerate() {
                let gat = format!("{dat}/GEO[{}]", g_i + 1);
                let Some(vak) = crate::duo::convert::geo_vak(g.code.as_str()) else {
                    overgeslagen.push((gat, "GEO code without a registry subject"));
                    continue;
                };
                let cijfer = |c: Option<u16>| -> Result<Option<Cijfer>, ()> {
                    c.map(|t| {
                        u8::try_from(t)
                            .ok()
                            .and_then(|t| Cijfer::from_tenths(t).ok())
                            .ok_or(())
                    })
                    .transpose()
                };
                match (cijfer(g.cijfer_ie), cijfer(g.cijfer_ce)) {
                    (Ok(cijfer_ie), Ok(cijfer_ce)) => {
                        commands.push(RegCommand::RecordExamenresultaat {
                            ook,
                            onderdeel: ExamenOnderdeel::Generiek {
                                vak,
                                cijfer_ie,
                                cijfer_ce,
                            },
                            datum: d.datum_resultaat,
                        })
                    }
                    _ => overgeslagen.push((gat, "grade outside 1.0–10.0")),
                }
            }
            for (a_i, _) in rd.amvb_onderdelen.iter().enumerate() {
                overgeslagen.push((
                    format!("{dat}/AMO[{}]", a_i + 1),
                    "AMvB-onderdelen have no registry part",
                ));
            }
            if !awarded {
                commands.push(RegCommand::AwardDiploma {
                    crebo: d.opleidingcode.clone(),
                    datum: d.datum_resultaat,
                });
                awarded = true;
            }
        }
        if !awarded && let Some(datum) = ins.datum_uitschrijving_werkelijk {
            match &ins.reden_uitschrijving {
                Some(r) => commands.push(RegCommand::TerminateOnderwijsovereenkomst {
                    ook,
                    datum,
                    reden: Some(reden_from_duo(&format!("{at}/RedenUitschrijving"), r)?),
                }),
                None => overgeslagen.push((
                    format!("{at}/RedenUitschrijving"),
                    "uitschrijving without a reden",
                )),
            }
        }
    }
    for (j, used) in used_diplomas.iter().enumerate() {
        if !used {
            overgeslagen.push((
                format!("PER/DIP[{}]", j + 1),
                "diploma without an inschrijving in this file",
            ));
        }
    }
    for (k, l) in p.losse_resultaten.iter().enumerate() {
        let kind = match l {
            RoLosResultaat::Amo(_) => "AMO",
            RoLosResultaat::Geo(_) => "GEO",
            RoLosResultaat::Kzd(_) => "KZD",
        };
        overgeslagen.push((
            format!("PER/los[{}]/{kind}", k + 1),
            "loose results are not imported",
        ));
    }
    Ok(RoImport {
        persoon: p.per.persoon.clone(),
        commands,
        overgeslagen,
    })
}

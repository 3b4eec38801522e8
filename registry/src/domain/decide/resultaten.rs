//! Results: keuzedelen with their results, examenresultaten, and the diploma.

use chrono::NaiveDate;

use super::{Decided, Rules, bad_dates, invalid, not_permitted, same_institution, text};
use crate::domain::command::ExamenOnderdeel;
use crate::domain::event::Event;
use crate::domain::parts::*;
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::ids::{Brin, Crebo};
use crate::policy::{DenyReason, Part};
use crate::reference::{Niveau, Participation};

impl Rules<'_> {
    pub(super) fn register_keuzedeel(
        &self,
        ook: OokId,
        code: &crate::ids::KeuzedeelCode,
        gast: Option<&Brin>,
    ) -> Decided {
        let part = Part::Keuzedelen;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        let o = self.ook(&ook)?;
        self.own_institution(part, &o.instelling)?;
        let inst = self.institution(&o.instelling)?;
        self.level(inst, Participation::Krd)?;
        let o = self.running_ook(&ook)?;
        let gastinstelling = match gast {
            None => None,
            Some(g) => {
                let gi = self.institution(g)?;
                if same_institution(&gi.brin, &o.instelling) {
                    return Err(invalid(
                        "gastinstelling",
                        "it is the enrolling institution itself",
                    ));
                }
                Some(gi.brin.clone())
            }
        };
        if self
            .d
            .keuzedelen
            .iter()
            .any(|k| k.ook == ook && &k.code == code)
        {
            return Err(Rejection::KeuzedeelExists { code: code.clone() });
        }
        Ok(vec![Event::KeuzedeelGeregistreerd {
            keuzedeel: Keuzedeel {
                code: code.clone(),
                ook,
                instelling: o.instelling.clone(),
                gastinstelling,
                resultaat: None,
            },
        }])
    }

    pub(super) fn keuzedeel_resultaat(
        &self,
        ook: OokId,
        code: &crate::ids::KeuzedeelCode,
        uitslag: KeuzedeelUitslag,
        datum: NaiveDate,
    ) -> Decided {
        let part = Part::Keuzedelen;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        let o = self.ook(&ook)?;
        let k = self
            .d
            .keuzedelen
            .iter()
            .find(|k| k.ook == ook && &k.code == code)
            .ok_or_else(|| Rejection::UnknownKeuzedeel { code: code.clone() })?;
        let door = match self.actor {
            Actor::Institution { brin } => {
                let own = same_institution(brin, &k.instelling);
                let guest = k
                    .gastinstelling
                    .as_ref()
                    .is_some_and(|g| same_institution(brin, g));
                if !own && !guest {
                    return Err(not_permitted(part, DenyReason::OtherInstitution));
                }
                brin.instelling()
            }
            _ => k.instelling.clone(),
        };
        if !o.was_signed() {
            return Err(Rejection::OokNotRunning { ook });
        }
        if datum < o.details.begin || datum > self.today {
            return Err(bad_dates(
                "datum",
                "it must lie between the datum inschrijving and today",
            ));
        }
        let resultaat = KeuzedeelResultaat {
            uitslag,
            datum,
            vastgelegd_door: door,
        };
        if k.resultaat.as_ref() == Some(&resultaat) {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::KeuzedeelResultaatVastgelegd {
            ook,
            instelling: k.instelling.clone(),
            code: code.clone(),
            resultaat,
        }])
    }

    pub(super) fn examen(
        &self,
        ook: OokId,
        onderdeel: &ExamenOnderdeel,
        datum: NaiveDate,
    ) -> Decided {
        let part = Part::Examenresultaten;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        let o = self.ook(&ook)?;
        self.own_institution(part, &o.instelling)?;
        let inst = self.institution(&o.instelling)?;
        self.level(inst, Participation::Krd)?;
        let o = self.running_ook(&ook)?;
        if datum < o.details.begin || datum > self.today {
            return Err(bad_dates(
                "datum",
                "it must lie between the datum inschrijving and today",
            ));
        }
        let resultaat = match onderdeel {
            ExamenOnderdeel::Generiek {
                vak,
                cijfer_ie,
                cijfer_ce,
            } => {
                if cijfer_ie.is_none() && cijfer_ce.is_none() {
                    return Err(invalid("cijfer", "give an IE or a CE grade"));
                }
                if *vak == GeneriekVak::Engels && o.details.niveau != Niveau::Mbo4 {
                    return Err(Rejection::ExamenNotApplicable {
                        reason: "Engels is examined at niveau 4 only".to_owned(),
                    });
                }
                Examenresultaat::Generiek {
                    ook,
                    vak: *vak,
                    cijfer_ie: *cijfer_ie,
                    cijfer_ce: *cijfer_ce,
                    datum,
                }
            }
            ExamenOnderdeel::Instelling { onderdeel, cijfer } => {
                text("onderdeel", onderdeel, 20)?;
                Examenresultaat::Instelling {
                    ook,
                    onderdeel: onderdeel.clone(),
                    cijfer: *cijfer,
                    datum,
                }
            }
        };
        if self.d.examenresultaten.contains(&resultaat) {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::ExamenresultaatVastgelegd {
            instelling: o.instelling.clone(),
            resultaat,
        }])
    }

    pub(super) fn diploma(&self, crebo: &Crebo, datum: NaiveDate) -> Decided {
        let part = Part::Diplomas;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        let o = self
            .d
            .onderwijsovereenkomsten
            .values()
            .find(|o| o.status == OokStatus::Ondertekend && &o.details.crebo == crebo)
            .ok_or_else(|| Rejection::NoSignedOok {
                crebo: crebo.clone(),
            })?;
        self.own_institution(part, &o.instelling)?;
        let inst = self.institution(&o.instelling)?;
        self.level(inst, Participation::Krd)?;
        if datum < o.details.begin || datum > self.today {
            return Err(bad_dates(
                "datum",
                "it must lie between the datum inschrijving and today",
            ));
        }
        self.bpvs_fit(o, datum)?;
        Ok(vec![Event::DiplomaUitgereikt {
            diploma: Diploma {
                crebo: crebo.clone(),
                datum,
                ook: o.id,
                instelling: o.instelling.clone(),
            },
        }])
    }
}

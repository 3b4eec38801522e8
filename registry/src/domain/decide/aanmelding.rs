//! Aanmeldingen and their VA status (with the routing of a status change).

use chrono::{Datelike, NaiveDate};

use super::{Decided, Rules, code, invalid, not_permitted, same_institution, transition};
use crate::domain::event::Event;
use crate::domain::parts::*;
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::ids::Brin;
use crate::partner::Partner;
use crate::policy::{DenyReason, Part};
use crate::reference::{AanbodRefusal, Niveau, Participation};

impl Rules<'_> {
    pub(super) fn submit_aanmelding(
        &self,
        id: AanmeldingId,
        instelling: &Brin,
        opleiding: &uuid::Uuid,
        cohort: &str,
        school: &Option<Brin>,
        externe_referentie: &Option<ExterneReferentie>,
    ) -> Decided {
        self.permit(Part::Aanmeldingen)?;
        self.own_institution(Part::Aanmeldingen, instelling)?;
        // The reference data's part of the rule: one function, which the API calls too.
        let aanbod = self
            .ctx
            .reference
            .aanbod(instelling, opleiding, cohort, self.today)
            .map_err(|refusal| match refusal {
                AanbodRefusal::UnknownInstitution => Rejection::UnknownInstitution {
                    brin: instelling.clone(),
                },
                AanbodRefusal::UnknownOpleiding | AanbodRefusal::OtherInstitution => {
                    Rejection::UnknownAangebodenOpleiding {
                        opleiding: *opleiding,
                        instelling: instelling.clone(),
                    }
                }
                AanbodRefusal::UnknownCohort => Rejection::UnknownCohort {
                    cohort: cohort.to_owned(),
                },
                AanbodRefusal::AanmeldperiodeGesloten {
                    begin,
                    einde,
                    datum,
                } => Rejection::AanmeldperiodeGesloten {
                    begin,
                    einde,
                    datum,
                },
            })?;
        let (inst, opl, coh) = (aanbod.institution, aanbod.opleiding, aanbod.cohort);
        // Central aanmelding (student, parent, CAMBO) needs the institution at `aanmelden`;
        // an institution reports its own aanmeldingen at any level.
        if !matches!(self.actor, Actor::Institution { .. } | Actor::System) {
            self.level(inst, Participation::Aanmelden)?;
        }
        if let Some(s) = school
            && self.ctx.reference.vo_school(s).is_none()
        {
            return Err(Rejection::UnknownSchool { brin: s.clone() });
        }
        if self.d.aanmeldingen.contains_key(&id) {
            return Err(Rejection::AanmeldingExists { aanmelding: id });
        }
        if let Some(open) = self
            .d
            .aanmeldingen
            .values()
            .find(|a| &a.opleiding == opleiding && a.cohort == cohort && !a.status.is_final())
        {
            return Err(Rejection::DuplicateAanmelding {
                aanmelding: open.id,
            });
        }
        let deadline = NaiveDate::from_ymd_opt(coh.startdatum.year(), 4, 1);
        let toelatingsrecht =
            opl.niveau != Niveau::Mbo1 && deadline.is_some_and(|d| self.today <= d);
        Ok(vec![Event::AanmeldingIngediend {
            aanmelding: Aanmelding {
                id,
                instelling: inst.brin.clone(),
                opleiding: *opleiding,
                crebo: opl.crebo.clone(),
                cohort: cohort.to_owned(),
                ingediend_op: self.ctx.meta.time,
                toelatingsrecht,
                status: AanmeldStatus::Ontvangen,
                toeleverende_school: school.clone(),
                externe_referentie: externe_referentie.clone(),
            },
        }])
    }

    /// A VA status change, with its routing: the sending school, and the municipality when the
    /// student lives in NL, has no startkwalificatie and may be under 23 (domain.md §2.2).
    pub(super) fn status_event(&self, a: &Aanmelding, naar: AanmeldStatus) -> Event {
        let gemeente = self.d.personalia.as_ref().and_then(|p| {
            let applies =
                !p.startkwalificatie && p.geboortedatum.may_be_younger_than(23, self.today);
            p.woongemeente.clone().filter(|_| applies)
        });
        Event::AanmeldingStatusGewijzigd {
            aanmelding: a.id,
            instelling: a.instelling.clone(),
            crebo: a.crebo.clone(),
            toeleverende_school: a.toeleverende_school.clone(),
            gemeente,
            van: a.status,
            naar,
        }
    }

    pub(super) fn change_status(&self, id: AanmeldingId, status: AanmeldStatus) -> Decided {
        self.permit(Part::VaStatus)?;
        let a = self
            .d
            .aanmeldingen
            .get(&id)
            .ok_or(Rejection::UnknownAanmelding { aanmelding: id })?;
        self.own_institution(Part::VaStatus, &a.instelling)?;
        // Of the partners only CAMBO changes a status (a withdrawal on the student's behalf); the
        // VA partners' change right on the VA status is for reporting a refusal only.
        if matches!(self.actor, Actor::Partner { partner } if *partner != Partner::Cambo) {
            return Err(not_permitted(Part::VaStatus, DenyReason::CommandNotAllowed));
        }
        // The student (and CAMBO on her behalf) may only withdraw.
        if matches!(
            self.actor,
            Actor::Student { .. } | Actor::Parent { .. } | Actor::Partner { .. }
        ) && status != AanmeldStatus::Ingetrokken
        {
            return Err(not_permitted(Part::VaStatus, DenyReason::CommandNotAllowed));
        }
        if !a.status.can_become(status) {
            return Err(transition(Part::VaStatus, &a.status, &status));
        }
        // From level `aanmelden` up the onderwijsovereenkomst lives in Knooppunt, so `ingeschreven`
        // needs a signed one there. An institution at level `va` holds the OOK in its own SIS and
        // reports `ingeschreven` from there (design.md §2, level 1).
        if status == AanmeldStatus::Ingeschreven
            && self.holds_ooks(&a.instelling)
            && !self
                .d
                .onderwijsovereenkomsten
                .values()
                .any(|o| o.was_signed() && same_institution(&o.instelling, &a.instelling))
        {
            return Err(Rejection::NoSignedOokAtInstitution {
                instelling: a.instelling.clone(),
            });
        }
        Ok(vec![self.status_event(a, status)])
    }

    /// Whether Knooppunt holds the onderwijsovereenkomsten of `instelling`: from level `aanmelden`
    /// up. An institution missing from the reference data is held to the stricter rule.
    fn holds_ooks(&self, instelling: &Brin) -> bool {
        self.ctx
            .reference
            .institution(instelling)
            .is_none_or(|i| self.ctx.levels.of(i) >= Participation::Aanmelden)
    }

    /// A VA partner refused a status: told to the institution, nothing else changes.
    pub(super) fn va_afwijzing(&self, id: AanmeldingId, partner: Partner, reden: &str) -> Decided {
        let part = Part::VaStatus;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::System)
                || matches!(a, Actor::Partner { partner } if partner.is_va_recipient())
        })?;
        code("reden", reden)?;
        if !partner.is_va_recipient() {
            return Err(invalid("partner", "it is not a VA partner"));
        }
        // A partner reports its own refusals only.
        if let Actor::Partner { partner: actor } = self.actor
            && *actor != partner
        {
            return Err(invalid("partner", "it differs from the reporting partner"));
        }
        let a = self
            .d
            .aanmeldingen
            .get(&id)
            .ok_or(Rejection::UnknownAanmelding { aanmelding: id })?;
        Ok(vec![Event::AanmeldingStatusAfgewezen {
            aanmelding: id,
            instelling: a.instelling.clone(),
            status: a.status,
            partner,
            reden: reden.to_owned(),
        }])
    }
}

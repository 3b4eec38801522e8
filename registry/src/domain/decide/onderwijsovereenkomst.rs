//! Onderwijsovereenkomsten: draft, offer, signing, ending, and the import of an existing
//! enrolment.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::ondertekening::check_signers;
use super::{
    Decided, Rules, bad_dates, invalid, name, not_permitted, same_institution, text, transition,
};
use crate::domain::event::Event;
use crate::domain::parts::*;
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::ids::Brin;
use crate::partner::Partner;
use crate::policy::{self, DenyReason, Part};
use crate::reference::Participation;

impl Rules<'_> {
    fn check_ook_details(&self, instelling: &Brin, details: &OokDetails) -> Result<(), Rejection> {
        if details.gepland_einde <= details.begin {
            return Err(bad_dates("gepland_einde", "it must lie after begin"));
        }
        if let Some(id) = details.opleiding {
            let opl = self
                .ctx
                .reference
                .opleiding(&id)
                .filter(|o| same_institution(&o.instelling, instelling))
                .ok_or_else(|| Rejection::UnknownAangebodenOpleiding {
                    opleiding: id,
                    instelling: instelling.clone(),
                })?;
            if opl.crebo != details.crebo {
                return Err(invalid(
                    "crebo",
                    "it differs from the aangeboden opleiding's crebo",
                ));
            }
        }
        Ok(())
    }

    pub(super) fn ook_offer(
        &self,
        id: OokId,
        instelling: &Brin,
        details: &OokDetails,
        offer: bool,
    ) -> Decided {
        let part = Part::Onderwijsovereenkomsten;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        self.own_institution(part, instelling)?;
        let inst = self.institution(instelling)?;
        self.level(inst, Participation::Aanmelden)?;
        self.check_ook_details(instelling, details)?;
        let mut events = Vec::new();
        let mut follow_up = None;
        if let Some(aid) = details.aanmelding {
            let a = self
                .d
                .aanmeldingen
                .get(&aid)
                .ok_or(Rejection::UnknownAanmelding { aanmelding: aid })?;
            if !same_institution(&a.instelling, instelling) {
                return Err(not_permitted(part, DenyReason::OtherInstitution));
            }
            if a.crebo != details.crebo {
                return Err(invalid("crebo", "it differs from the aanmelding's crebo"));
            }
            match (offer, a.status) {
                (true, AanmeldStatus::Aangemeld) => {
                    follow_up = Some(self.status_event(a, AanmeldStatus::OokAangeboden));
                }
                (true, AanmeldStatus::OokAangeboden) => {}
                (true, from) => {
                    return Err(transition(
                        Part::VaStatus,
                        &from,
                        &AanmeldStatus::OokAangeboden,
                    ));
                }
                (false, from) if from.is_final() => {
                    return Err(transition(
                        Part::VaStatus,
                        &from,
                        &AanmeldStatus::OokAangeboden,
                    ));
                }
                (false, _) => {}
            }
        }
        match self.d.onderwijsovereenkomsten.get(&id) {
            None => {}
            Some(o)
                if offer
                    && o.status == OokStatus::Concept
                    && same_institution(&o.instelling, instelling) => {}
            Some(_) => return Err(Rejection::OokExists { ook: id }),
        }
        if let Some(active) = self.d.active_ook(&details.crebo)
            && active.id != id
        {
            return Err(Rejection::ActiveOokExists {
                crebo: details.crebo.clone(),
                ook: active.id,
            });
        }
        events.push(if offer {
            Event::OnderwijsovereenkomstAangeboden {
                ook: id,
                instelling: inst.brin.clone(),
                details: details.clone(),
                ouder_tekent: policy::may_be_minor(self.d, self.today),
            }
        } else {
            Event::OnderwijsovereenkomstOpgesteld {
                ook: id,
                instelling: inst.brin.clone(),
                details: details.clone(),
            }
        });
        events.extend(follow_up);
        Ok(events)
    }

    pub(super) fn sign_ook(
        &self,
        id: OokId,
        who: &BTreeSet<OokOndertekenaar>,
        wijze: &Ondertekenwijze,
        datum: NaiveDate,
    ) -> Decided {
        use OokOndertekenaar as W;
        let part = Part::Onderwijsovereenkomsten;
        self.permit(part)?;
        let o = self.ook(&id)?;
        self.own_institution(part, &o.instelling)?;
        if o.status != OokStatus::Aangeboden {
            return Err(transition(part, &o.status, &OokStatus::Ondertekend));
        }
        let papier = check_signers(
            who,
            wijze,
            |w, papier| match self.actor {
                Actor::Student { .. } => w == W::Student && !papier,
                Actor::Parent { .. } => w == W::Ouder && !papier,
                Actor::Institution { .. } => papier || w == W::Instelling,
                Actor::Partner { partner } => *partner == Partner::Signing && !papier,
                Actor::System => true,
                Actor::BevoegdGezag { .. } | Actor::Operator { .. } => false,
            },
            |w| o.handtekeningen.get(w).is_some(),
        )?;
        if datum > self.today {
            return Err(bad_dates("datum", "it lies in the future"));
        }
        let minor = policy::may_be_minor(self.d, datum);
        if who.contains(&W::Ouder) && !minor {
            return Err(Rejection::SignerNotAllowed {
                ondertekenaar: name(&W::Ouder),
            });
        }
        if papier {
            // Paper completes the agreement: every required signer signs on it now, or signed
            // before (digitally, in a transaction that was then rejected, expired or cancelled).
            let has = |w: W| who.contains(&w) || o.handtekeningen.get(w).is_some();
            if minor && !has(W::Ouder) {
                return Err(Rejection::ParentSignatureRequired);
            }
            for required in [W::Student, W::Instelling] {
                if !has(required) {
                    return Err(Rejection::SignatureMissing {
                        ondertekenaar: name(&required),
                    });
                }
            }
        }
        let mut events = Vec::new();
        let mut after = o.handtekeningen.clone();
        for w in who {
            let h = Handtekening {
                datum,
                wijze: wijze.clone(),
            };
            after.set(*w, h.clone());
            events.push(Event::OnderwijsovereenkomstGetekend {
                ook: id,
                instelling: o.instelling.clone(),
                ondertekenaar: *w,
                handtekening: h,
            });
        }
        let complete = after.student.is_some()
            && after.instelling.is_some()
            && (after.ouder.is_some() || !minor);
        if complete {
            events.push(Event::OnderwijsovereenkomstOndertekend {
                ook: id,
                instelling: o.instelling.clone(),
                datum,
                details: o.details.clone(),
            });
            if let Some(a) = o
                .details
                .aanmelding
                .and_then(|aid| self.d.aanmeldingen.get(&aid))
                && a.status.can_become(AanmeldStatus::Ingeschreven)
            {
                events.push(self.status_event(a, AanmeldStatus::Ingeschreven));
            }
        }
        Ok(events)
    }

    pub(super) fn bpvs_fit(
        &self,
        o: &Onderwijsovereenkomst,
        einde: NaiveDate,
    ) -> Result<(), Rejection> {
        for b in self
            .d
            .praktijkovereenkomsten
            .values()
            .filter(|b| b.details.ook == o.id)
        {
            if b.details.begin > einde || b.einde() > einde {
                return Err(Rejection::BpvOutsideEnrolment {
                    bpv: b.id,
                    begin: o.details.begin,
                    einde,
                });
            }
        }
        Ok(())
    }

    pub(super) fn terminate(
        &self,
        id: OokId,
        datum: NaiveDate,
        reden: Option<&RedenUitschrijving>,
    ) -> Decided {
        let part = Part::Onderwijsovereenkomsten;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        let o = self.ook(&id)?;
        self.own_institution(part, &o.instelling)?;
        match o.status {
            OokStatus::Concept | OokStatus::Aangeboden => {
                Ok(vec![Event::OnderwijsovereenkomstVervallen {
                    ook: id,
                    instelling: o.instelling.clone(),
                }])
            }
            OokStatus::Ondertekend => {
                let reden =
                    reden.ok_or_else(|| invalid("reden", "required to end a signed agreement"))?;
                if datum < o.details.begin {
                    return Err(bad_dates("datum", "it lies before the datum inschrijving"));
                }
                self.bpvs_fit(o, datum)?;
                Ok(vec![Event::OnderwijsovereenkomstBeeindigd {
                    ook: id,
                    instelling: o.instelling.clone(),
                    datum,
                    reden: reden.clone(),
                }])
            }
            OokStatus::Beeindigd | OokStatus::Vervallen => {
                Err(transition(part, &o.status, &OokStatus::Beeindigd))
            }
        }
    }

    pub(super) fn import(
        &self,
        id: OokId,
        instelling: &Brin,
        details: &OokDetails,
        volgnummer: &str,
        ondertekend_op: NaiveDate,
    ) -> Decided {
        let part = Part::Onderwijsovereenkomsten;
        self.permit(part)?;
        self.only(part, |a| matches!(a, Actor::System))?;
        let inst = self.institution(instelling)?;
        // The import (`Actor::System`) runs from `aanmelden` up (see `level`); until the move
        // to `krd`, nothing goes to DUO (and nothing imported ever does: it came from DUO).
        self.level(inst, Participation::Krd)?;
        self.check_ook_details(instelling, details)?;
        if details.aanmelding.is_some() {
            return Err(invalid(
                "aanmelding",
                "an imported enrolment has no aanmelding",
            ));
        }
        text("inschrijvingsvolgnummer", volgnummer, 20)?;
        if !volgnummer.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid(
                "inschrijvingsvolgnummer",
                "expected letters and digits",
            ));
        }
        if ondertekend_op > self.today {
            return Err(bad_dates("ondertekend_op", "it lies in the future"));
        }
        if self.d.onderwijsovereenkomsten.contains_key(&id) {
            return Err(Rejection::OokExists { ook: id });
        }
        if let Some(active) = self.d.active_ook(&details.crebo) {
            return Err(Rejection::ActiveOokExists {
                crebo: details.crebo.clone(),
                ook: active.id,
            });
        }
        Ok(vec![Event::InschrijvingGeimporteerd {
            ook: id,
            instelling: inst.brin.clone(),
            details: details.clone(),
            inschrijvingsvolgnummer: volgnummer.to_owned(),
            ondertekend_op,
        }])
    }
}

//! Praktijkovereenkomsten (BPV): registration, SBB's check, signing, ending, and a withdrawn
//! erkenning of the leerbedrijf.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::ondertekening::check_signers;
use super::{Decided, Rules, bad_dates, invalid, text, transition};
use crate::domain::event::Event;
use crate::domain::parts::*;
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::ids::LeerbedrijfId;
use crate::partner::Partner;
use crate::policy::Part;
use crate::reference::Participation;

impl Rules<'_> {
    pub(super) fn register_bpv(&self, id: BpvId, details: &BpvDetails) -> Decided {
        let part = Part::Praktijkovereenkomsten;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        let o = self.ook(&details.ook)?;
        self.own_institution(part, &o.instelling)?;
        let inst = self.institution(&o.instelling)?;
        self.level(inst, Participation::Krd)?;
        let o = self.running_ook(&details.ook)?;
        if self.d.praktijkovereenkomsten.contains_key(&id) {
            return Err(Rejection::BpvExists { bpv: id });
        }
        if details.gepland_einde < details.begin {
            return Err(bad_dates("gepland_einde", "it lies before begin"));
        }
        if details.omvang_uren == 0 || details.omvang_uren > 10_000 {
            return Err(invalid("omvang_uren", "expected 1 to 10000 hours"));
        }
        if details.begin < o.details.begin || details.gepland_einde > o.einde() {
            return Err(Rejection::BpvOutsideEnrolment {
                bpv: id,
                begin: o.details.begin,
                einde: o.einde(),
            });
        }
        let fits = match &details.onderdeel {
            BpvOnderdeel::Crebo(c) => c == &o.details.crebo,
            BpvOnderdeel::Keuzedeel(k) => self
                .d
                .keuzedelen
                .iter()
                .any(|x| x.ook == o.id && &x.code == k),
        };
        if !fits {
            return Err(Rejection::BpvOnderdeelMismatch);
        }
        Ok(vec![Event::PraktijkovereenkomstGeregistreerd {
            bpv: id,
            instelling: o.instelling.clone(),
            details: details.clone(),
            crebo: o.details.crebo.clone(),
        }])
    }

    pub(super) fn sbb_check(
        &self,
        id: BpvId,
        erkend: bool,
        reden: Option<&str>,
        datum: NaiveDate,
    ) -> Decided {
        let part = Part::Praktijkovereenkomsten;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::System)
                || matches!(
                    a,
                    Actor::Partner {
                        partner: Partner::Sbb
                    }
                )
        })?;
        let b = self.bpv(&id)?;
        let uitkomst = if erkend {
            SbbCheck::Erkend { datum }
        } else {
            let reason = reden.unwrap_or_default();
            text("reden", reason, 200)?;
            SbbCheck::NietErkend {
                reason: reason.to_owned(),
            }
        };
        if b.status == BpvStatus::Beeindigd {
            return Err(transition(part, &b.status, &state_name(&uitkomst)));
        }
        match &b.sbb {
            SbbCheck::Pending | SbbCheck::NietErkend { .. } => {}
            from @ (SbbCheck::Erkend { .. } | SbbCheck::Ingetrokken { .. }) => {
                return Err(transition(part, &state_name(from), &state_name(&uitkomst)));
            }
        }
        if b.sbb == uitkomst {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::SbbCheckVastgelegd {
            bpv: id,
            instelling: b.instelling.clone(),
            uitkomst,
        }])
    }

    pub(super) fn sign_bpv(
        &self,
        id: BpvId,
        who: &BTreeSet<BpvOndertekenaar>,
        wijze: &Ondertekenwijze,
        datum: NaiveDate,
    ) -> Decided {
        use BpvOndertekenaar as W;
        let part = Part::Praktijkovereenkomsten;
        self.permit(part)?;
        let b = self.bpv(&id)?;
        self.own_institution(part, &b.instelling)?;
        if b.status != BpvStatus::Geregistreerd {
            return Err(transition(part, &b.status, &BpvStatus::Ondertekend));
        }
        check_signers(
            who,
            wijze,
            |w, papier| match self.actor {
                Actor::Student { .. } => w == W::Student && !papier,
                Actor::Institution { .. } => papier || w == W::School,
                Actor::Partner { partner } => *partner == Partner::Signing && !papier,
                Actor::System => true,
                Actor::Parent { .. } | Actor::BevoegdGezag { .. } | Actor::Operator { .. } => false,
            },
            |w| b.handtekeningen.get(w).is_some(),
        )?;
        if !matches!(b.sbb, SbbCheck::Erkend { .. }) {
            return Err(Rejection::LeerbedrijfNotErkend { bpv: id });
        }
        if datum > self.today {
            return Err(bad_dates("datum", "it lies in the future"));
        }
        let mut after = b.handtekeningen.clone();
        let mut events = Vec::new();
        for w in who {
            let h = Handtekening {
                datum,
                wijze: wijze.clone(),
            };
            after.set(*w, h.clone());
            events.push(Event::PraktijkovereenkomstGetekend {
                bpv: id,
                instelling: b.instelling.clone(),
                ondertekenaar: *w,
                handtekening: h,
            });
        }
        if after.complete() {
            events.push(Event::PraktijkovereenkomstOndertekend {
                bpv: id,
                instelling: b.instelling.clone(),
                datum,
                details: b.details.clone(),
            });
        }
        Ok(events)
    }

    pub(super) fn end_bpv(&self, id: BpvId, datum: NaiveDate) -> Decided {
        let part = Part::Praktijkovereenkomsten;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::Institution { .. } | Actor::System)
        })?;
        let b = self.bpv(&id)?;
        self.own_institution(part, &b.instelling)?;
        if b.status == BpvStatus::Beeindigd {
            return Err(transition(part, &b.status, &BpvStatus::Beeindigd));
        }
        if datum < b.details.begin {
            return Err(bad_dates("datum", "it lies before the BPV's begin"));
        }
        let o = self.ook(&b.details.ook)?;
        if datum > o.einde() {
            return Err(Rejection::BpvOutsideEnrolment {
                bpv: id,
                begin: o.details.begin,
                einde: o.einde(),
            });
        }
        Ok(vec![Event::PraktijkovereenkomstBeeindigd {
            bpv: id,
            instelling: b.instelling.clone(),
            datum,
        }])
    }

    pub(super) fn withdraw_erkenning(
        &self,
        leerbedrijf: &LeerbedrijfId,
        datum: &NaiveDate,
        onderdeel: Option<&BpvOnderdeel>,
    ) -> Decided {
        self.permit(Part::Praktijkovereenkomsten)?;
        self.only(Part::Praktijkovereenkomsten, |a| {
            matches!(a, Actor::System)
                || matches!(
                    a,
                    Actor::Partner {
                        partner: Partner::Sbb
                    }
                )
        })?;
        let events: Vec<Event> = self
            .d
            .praktijkovereenkomsten
            .values()
            .filter(|b| {
                &b.details.leerbedrijf == leerbedrijf
                    && onderdeel.is_none_or(|o| o == &b.details.onderdeel)
                    && b.status != BpvStatus::Beeindigd
                    && !matches!(b.sbb, SbbCheck::Ingetrokken { .. })
            })
            .map(|b| Event::ErkenningIngetrokken {
                bpv: b.id,
                instelling: b.instelling.clone(),
                leerbedrijf: leerbedrijf.clone(),
                datum: *datum,
            })
            .collect();
        if events.is_empty() {
            return Err(Rejection::NoBpvAtLeerbedrijf);
        }
        Ok(events)
    }
}

fn state_name(s: &SbbCheck) -> &'static str {
    match s {
        SbbCheck::Pending => "pending",
        SbbCheck::Erkend { .. } => "erkend",
        SbbCheck::NietErkend { .. } => "niet_erkend",
        SbbCheck::Ingetrokken { .. } => "ingetrokken",
    }
}

//! DUO's terugkoppeling on a delivered mutation, and the bekostigingsstatus of an enrolment.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{Decided, Rules, text, transition};
use crate::domain::event::Event;
use crate::domain::parts::*;
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::ids::Brin;
use crate::partner::Partner;
use crate::policy::Part;

impl Rules<'_> {
    pub(super) fn duo_feedback(
        &self,
        mutatie: &Uuid,
        instelling: &Brin,
        uitkomst: &DuoUitkomst,
    ) -> Decided {
        self.permit(Part::DuoTerugkoppeling)?;
        self.only(Part::DuoTerugkoppeling, |a| {
            matches!(a, Actor::System)
                || matches!(
                    a,
                    Actor::Partner {
                        partner: Partner::Duo
                    }
                )
        })?;
        let signalen = match uitkomst {
            DuoUitkomst::Geaccepteerd => &[][..],
            DuoUitkomst::GeaccepteerdMetSignalen { signalen }
            | DuoUitkomst::Afgekeurd { signalen } => signalen.as_slice(),
        };
        for s in signalen {
            text("signaal.code", &s.code, 20)?;
            text("signaal.omschrijving", &s.omschrijving, 500)?;
            for p in &s.parameters {
                text("signaal.parameter.naam", &p.naam, 100)?;
            }
        }
        if let Some(existing) = self.d.duo_terugkoppeling.get(mutatie)
            && &existing.uitkomst == uitkomst
            && &existing.instelling == instelling
        {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::DuoTerugkoppelingOntvangen {
            terugkoppeling: DuoTerugkoppeling {
                mutatie: *mutatie,
                instelling: instelling.clone(),
                uitkomst: uitkomst.clone(),
                ontvangen_op: self.ctx.meta.time,
            },
        }])
    }

    pub(super) fn bekostigingsstatus(
        &self,
        ook: &OokId,
        teldatum: &NaiveDate,
        status: &BekostigingsStatus,
        bekostigbaar: &bool,
    ) -> Decided {
        self.permit(Part::DuoTerugkoppeling)?;
        let o = self.ook(ook)?;
        if !o.was_signed() {
            return Err(Rejection::OokNotRunning { ook: *ook });
        }
        if let Some(b) = self
            .d
            .bekostiging
            .iter()
            .find(|b| &b.ook == ook && &b.teldatum == teldatum)
        {
            if b.status == *status && b.bekostigbaar == *bekostigbaar {
                return Err(Rejection::Unchanged);
            }
            if b.status == BekostigingsStatus::Definitief {
                return Err(transition(Part::DuoTerugkoppeling, &b.status, status));
            }
        }
        Ok(vec![Event::BekostigingsstatusVastgelegd {
            bekostiging: Bekostiging {
                ook: *ook,
                instelling: o.instelling.clone(),
                teldatum: *teldatum,
                status: *status,
                bekostigbaar: *bekostigbaar,
            },
        }])
    }
}

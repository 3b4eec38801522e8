//! Opening a dossier, and the personal data and prior education DUO delivers.

use super::{Decided, Rules, invalid, not_permitted};
use crate::domain::Person;
use crate::domain::event::Event;
use crate::domain::parts::{Personalia, Vooropleiding};
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::partner::Partner;
use crate::policy::{DenyReason, Part};

impl Rules<'_> {
    pub(super) fn open(&self, person: &Person) -> Decided {
        if self.d.exists() {
            return Err(Rejection::DossierAlreadyOpen);
        }
        let allowed = match self.actor {
            Actor::Student { dossier } => *dossier == self.ctx.meta.dossier,
            Actor::Institution { brin } => self.ctx.reference.institution(brin).is_some(),
            Actor::Partner { partner } => matches!(partner, Partner::Cambo | Partner::Duo),
            Actor::System => true,
            Actor::Parent { .. } | Actor::BevoegdGezag { .. } | Actor::Operator { .. } => false,
        };
        if !allowed {
            return Err(not_permitted(
                Part::Personalia,
                DenyReason::CommandNotAllowed,
            ));
        }
        Ok(vec![Event::DossierOpened {
            person: person.clone(),
        }])
    }

    pub(super) fn record_personalia(&self, personalia: &Personalia) -> Decided {
        self.permit(Part::Personalia)?;
        personalia.validate()?;
        if self.d.personalia.as_ref() == Some(personalia) {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::PersonaliaVastgelegd {
            personalia: personalia.clone(),
        }])
    }

    pub(super) fn record_vooropleiding(&self, vooropleiding: &Vooropleiding) -> Decided {
        self.permit(Part::Vooropleidingen)?;
        vooropleiding.validate()?;
        if self.d.vooropleidingen.contains(vooropleiding) {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::VooropleidingVastgelegd {
            vooropleiding: vooropleiding.clone(),
        }])
    }

    /// DUO's answer to a lookup: the personalia and vooropleidingen that are new or changed.
    pub(super) fn record_persoon(
        &self,
        personalia: &Personalia,
        vooropleidingen: &[Vooropleiding],
    ) -> Decided {
        self.permit(Part::Personalia)?;
        personalia.validate()?;
        if !vooropleidingen.is_empty() {
            self.permit(Part::Vooropleidingen)?;
        }
        if vooropleidingen.len() > MAX_VOOROPLEIDINGEN {
            return Err(invalid(
                "vooropleidingen",
                "there are more than 100 of them",
            ));
        }
        let mut events = Vec::new();
        if self.d.personalia.as_ref() != Some(personalia) {
            events.push(Event::PersonaliaVastgelegd {
                personalia: personalia.clone(),
            });
        }
        for (i, v) in vooropleidingen.iter().enumerate() {
            v.validate()?;
            // The same one twice in the answer is recorded once.
            let repeated = vooropleidingen[..i].contains(v);
            if !repeated && !self.d.vooropleidingen.contains(v) {
                events.push(Event::VooropleidingVastgelegd {
                    vooropleiding: v.clone(),
                });
            }
        }
        if events.is_empty() {
            return Err(Rejection::Unchanged);
        }
        Ok(events)
    }
}

/// The most vooropleidingen one DUO answer may record.
const MAX_VOOROPLEIDINGEN: usize = 100;

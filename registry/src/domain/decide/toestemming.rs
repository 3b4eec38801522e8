//! Consents (toestemmingen) and the overstapdossiers they allow.

use std::collections::BTreeSet;

use super::{Decided, Rules, invalid, same_institution, text};
use crate::domain::event::Event;
use crate::domain::parts::*;
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::ids::Brin;
use crate::policy::Part;

impl Rules<'_> {
    pub(super) fn grant(&self, instelling: &Brin, scopes: &BTreeSet<Part>) -> Decided {
        self.permit(Part::Toestemmingen)?;
        self.only(Part::Toestemmingen, |a| {
            matches!(
                a,
                Actor::Student { .. } | Actor::Parent { .. } | Actor::System
            )
        })?;
        let inst = self.institution(instelling)?;
        if !self
            .d
            .aanmeldingen
            .values()
            .any(|a| same_institution(&a.instelling, &inst.brin))
        {
            return Err(Rejection::NoAanmeldingAtInstitution {
                instelling: inst.brin.clone(),
            });
        }
        if scopes.is_empty() {
            return Err(invalid("scopes", "it is empty"));
        }
        if scopes.contains(&Part::History) || scopes.contains(&Part::Toestemmingen) {
            return Err(invalid(
                "scopes",
                "consent cannot cover the history or the consents themselves",
            ));
        }
        if let Some(t) = self.d.toestemmingen.get(&inst.brin)
            && t.ingetrokken_op.is_none()
            && &t.scopes == scopes
        {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::ToestemmingVerleend {
            instelling: inst.brin.clone(),
            scopes: scopes.clone(),
            op: self.ctx.meta.time,
        }])
    }

    pub(super) fn withdraw_consent(&self, instelling: &Brin) -> Decided {
        self.permit(Part::Toestemmingen)?;
        match self.d.toestemmingen.get(instelling) {
            Some(t) if t.ingetrokken_op.is_none() => Ok(vec![Event::ToestemmingIngetrokken {
                instelling: instelling.clone(),
                op: self.ctx.meta.time,
            }]),
            _ => Err(Rejection::Unchanged),
        }
    }

    pub(super) fn attach_oso(
        &self,
        school: &Brin,
        samenvatting: &OverstapSamenvatting,
        content_hash: &ContentHash,
    ) -> Decided {
        self.permit(Part::Overstapdossier)?;
        if self.ctx.reference.vo_school(school).is_none() {
            return Err(Rejection::UnknownSchool {
                brin: school.clone(),
            });
        }
        if !self
            .d
            .toestemmingen
            .values()
            .any(|t| t.covers(Part::Overstapdossier))
        {
            return Err(Rejection::NoConsent {
                part: Part::Overstapdossier,
            });
        }
        text("soort_overstap", &samenvatting.soort_overstap, 10)?;
        if !samenvatting
            .soort_overstap
            .bytes()
            .all(|b| b.is_ascii_uppercase())
        {
            return Err(invalid(
                "soort_overstap",
                "expected upper-case letters (codelijst 16)",
            ));
        }
        text("gegevensset", &samenvatting.gegevensset, 20)?;
        for b in &samenvatting.blokken {
            text("blokken", b, 50)?;
        }
        if self
            .d
            .overstapdossiers
            .iter()
            .any(|o| &o.content_hash == content_hash)
        {
            return Err(Rejection::Unchanged);
        }
        Ok(vec![Event::OverstapdossierToegevoegd {
            overstapdossier: Overstapdossier {
                school: school.clone(),
                samenvatting: samenvatting.clone(),
                content_hash: content_hash.clone(),
                ontvangen_op: self.ctx.meta.time,
            },
        }])
    }
}

//! Signing: the signing provider's transaction status, and the checks every signing (of an OOK
//! or a BPV) shares.

use std::collections::BTreeSet;

use super::{Decided, Rules, invalid, name, text, transition};
use crate::domain::event::Event;
use crate::domain::parts::*;
use crate::domain::rejection::Rejection;
use crate::envelope::Actor;
use crate::partner::Partner;
use crate::policy::Part;

impl Rules<'_> {
    pub(super) fn signing_status(
        &self,
        transactie: &str,
        subject: &SigningSubject,
        status: SigningStatus,
    ) -> Decided {
        let part = Part::Ondertekening;
        self.permit(part)?;
        self.only(part, |a| {
            matches!(a, Actor::System)
                || matches!(
                    a,
                    Actor::Partner {
                        partner: Partner::Signing
                    }
                )
        })?;
        text("transactie", transactie, 100)?;
        let instelling = match subject {
            SigningSubject::Ook(id) => self.ook(id)?.instelling.clone(),
            SigningSubject::Bpv(id) => self.bpv(id)?.instelling.clone(),
        };
        if let Some(t) = self.d.ondertekening.get(transactie) {
            if &t.subject != subject {
                return Err(invalid(
                    "subject",
                    "the transaction is for another agreement",
                ));
            }
            if t.status == status {
                return Err(Rejection::Unchanged);
            }
            if t.status.is_final() {
                return Err(transition(part, &t.status.code(), &status.code()));
            }
        }
        Ok(vec![Event::OndertekenstatusVastgelegd {
            transactie: SigningTransaction {
                transactie: transactie.to_owned(),
                subject: *subject,
                instelling,
                status,
                bijgewerkt_op: self.ctx.meta.time,
            },
        }])
    }
}

/// The checks every signing shares: at least one signer, a well-formed wijze, each signer allowed
/// for this actor (`allowed(signer, on_paper)`) and not signed before (`signed(signer)`).
/// Returns whether the signing is on paper.
pub(super) fn check_signers<W: Copy + serde::Serialize>(
    who: &BTreeSet<W>,
    wijze: &Ondertekenwijze,
    allowed: impl Fn(W, bool) -> bool,
    signed: impl Fn(W) -> bool,
) -> Result<bool, Rejection> {
    if who.is_empty() {
        return Err(invalid("ondertekenaars", "it is empty"));
    }
    check_wijze(wijze)?;
    let papier = matches!(wijze, Ondertekenwijze::Papier);
    for &w in who {
        if !allowed(w, papier) {
            return Err(Rejection::SignerNotAllowed {
                ondertekenaar: name(&w),
            });
        }
        if signed(w) {
            return Err(Rejection::AlreadySigned {
                ondertekenaar: name(&w),
            });
        }
    }
    Ok(papier)
}

fn check_wijze(wijze: &Ondertekenwijze) -> Result<(), Rejection> {
    if let Ondertekenwijze::Digitaal { transactie } = wijze {
        text("transactie", transactie, 100)?;
    }
    Ok(())
}

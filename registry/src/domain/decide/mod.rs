//! The rules: from a dossier, a command and its context to events or a rejection. Pure.
//!
//! [`decide`] opens a dossier or dispatches a command to the rules of the dossier part it
//! changes. The rules are methods of one private context, `Rules`, whose `impl` blocks live with
//! the part they decide on:
//! - `dossier`: opening a dossier, personalia, vooropleidingen;
//! - `aanmelding`: aanmeldingen and their VA status;
//! - `toestemming`: consents and overstapdossiers;
//! - `onderwijsovereenkomst`: draft, offer, signing, ending and import of an OOK;
//! - `praktijkovereenkomst`: BPV's, SBB's check and erkenning;
//! - `resultaten`: keuzedelen, examenresultaten, diplomas;
//! - `duo`: DUO's terugkoppeling and the bekostigingsstatus;
//! - `ondertekening`: the signing provider's status and the checks every signing shares.
//!
//! This file holds the entry, the context with its shared look-ups and checks (`permit`,
//! `only`, `own_institution`, …) and the rejection helpers (`invalid`, `code`, `not_permitted`,
//! …).

mod aanmelding;
mod dossier;
mod duo;
mod ondertekening;
mod onderwijsovereenkomst;
mod praktijkovereenkomst;
mod resultaten;
mod toestemming;

use chrono::NaiveDate;

use super::command::Command;
use super::event::Event;
use super::parts::*;
use super::rejection::Rejection;
use super::{DecideContext, Dossier};
use crate::envelope::Actor;
use crate::ids::Brin;
use crate::policy::{self, Access, DenyReason, Part, Subject};
use crate::reference::{Institution, Participation};

type Decided = Result<Vec<Event>, Rejection>;

pub(super) fn decide(d: &Dossier, command: &Command, ctx: &DecideContext<'_>) -> Decided {
    let rules = Rules {
        d,
        ctx,
        actor: &ctx.meta.actor,
        today: super::time::local_date(ctx.meta.time),
    };
    if let Command::OpenDossier { person } = command {
        return rules.open(person);
    }
    if !d.exists() {
        return Err(Rejection::DossierNotFound);
    }
    rules.dispatch(command)
}

struct Rules<'a> {
    d: &'a Dossier,
    ctx: &'a DecideContext<'a>,
    actor: &'a Actor,
    today: NaiveDate,
}

fn not_permitted(part: Part, reason: DenyReason) -> Rejection {
    Rejection::NotPermitted {
        part,
        access: Access::Change,
        reason,
    }
}

fn invalid(field: &str, reason: &str) -> Rejection {
    Rejection::InvalidValue {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn bad_dates(field: &str, reason: &str) -> Rejection {
    Rejection::InvalidDates {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::from("?"),
    }
}

fn transition<F: serde::Serialize, T: serde::Serialize>(part: Part, from: &F, to: &T) -> Rejection {
    Rejection::InvalidTransition {
        part,
        from: name(from),
        to: name(to),
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        return Err(invalid(field, "it is empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, "it is too long"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "it contains control characters"));
    }
    Ok(())
}

/// A short bounded code (a reason code): non-empty, at most 64 characters of
/// `[a-z0-9_.-]` without a run of eight or more digits, so it can never carry personal data
/// such as a name or a person number.
fn code(field: &str, value: &str) -> Result<(), Rejection> {
    if value.is_empty() {
        return Err(invalid(field, "it is empty"));
    }
    if value.len() > 64 {
        return Err(invalid(field, "it is longer than 64 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(invalid(
            field,
            "only a-z, 0-9, '_', '.' and '-' are allowed",
        ));
    }
    // A long run of digits may be a person number (BSN, onderwijsnummer).
    let longest_digits = value
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if longest_digits >= 8 {
        return Err(invalid(field, "it holds a number of eight or more digits"));
    }
    Ok(())
}

fn same_institution(a: &Brin, b: &Brin) -> bool {
    a.instelling() == b.instelling()
}

impl<'a> Rules<'a> {
    fn subject(&self) -> Subject<'a> {
        Subject {
            key: self.ctx.meta.dossier,
            dossier: self.d,
            reference: self.ctx.reference,
            on: self.today,
        }
    }

    /// The policy must allow the actor to change `part`.
    fn permit(&self, part: Part) -> Result<(), Rejection> {
        match policy::decide(self.actor, &self.subject(), part, Access::Change) {
            policy::Decision::Allow { .. } => Ok(()),
            policy::Decision::Deny { reason } => Err(not_permitted(part, reason)),
        }
    }

    /// An institution may only change its own items.
    fn own_institution(&self, part: Part, owner: &Brin) -> Result<(), Rejection> {
        match self.actor {
            Actor::Institution { brin } if !same_institution(brin, owner) => {
                Err(not_permitted(part, DenyReason::OtherInstitution))
            }
            _ => Ok(()),
        }
    }

    /// Only these kinds of actor may issue this command.
    fn only(&self, part: Part, allowed: fn(&Actor) -> bool) -> Result<(), Rejection> {
        if allowed(self.actor) {
            Ok(())
        } else {
            Err(not_permitted(part, DenyReason::CommandNotAllowed))
        }
    }

    fn institution(&self, brin: &Brin) -> Result<&'a Institution, Rejection> {
        self.ctx
            .reference
            .institution(brin)
            .ok_or_else(|| Rejection::UnknownInstitution { brin: brin.clone() })
    }

    /// The institution's effective level (the latest recorded change, else the reference
    /// data) must be at least `required`. Knooppunt's own RO import (`Actor::System`) prepares
    /// the move to `krd`, which needs it done: it may write the `krd` parts from `aanmelden` up.
    fn level(&self, inst: &Institution, required: Participation) -> Result<(), Rejection> {
        let level = self.ctx.levels.of(inst);
        let required = match self.actor {
            Actor::System if required == Participation::Krd => Participation::Aanmelden,
            _ => required,
        };
        if level >= required {
            Ok(())
        } else {
            Err(Rejection::ParticipationTooLow {
                instelling: inst.brin.clone(),
                level,
                required,
            })
        }
    }

    fn ook(&self, id: &OokId) -> Result<&'a Onderwijsovereenkomst, Rejection> {
        self.d
            .onderwijsovereenkomsten
            .get(id)
            .ok_or(Rejection::UnknownOok { ook: *id })
    }

    fn running_ook(&self, id: &OokId) -> Result<&'a Onderwijsovereenkomst, Rejection> {
        let o = self.ook(id)?;
        if o.status == OokStatus::Ondertekend {
            Ok(o)
        } else {
            Err(Rejection::OokNotRunning { ook: *id })
        }
    }

    fn bpv(&self, id: &BpvId) -> Result<&'a Praktijkovereenkomst, Rejection> {
        self.d
            .praktijkovereenkomsten
            .get(id)
            .ok_or(Rejection::UnknownBpv { bpv: *id })
    }

    fn dispatch(&self, command: &Command) -> Decided {
        match command {
            Command::OpenDossier { person } => self.open(person),
            Command::RecordPersonalia { personalia } => self.record_personalia(personalia),
            Command::RecordVooropleiding { vooropleiding } => {
                self.record_vooropleiding(vooropleiding)
            }
            Command::RecordPersoonEnVooropleidingen {
                personalia,
                vooropleidingen,
            } => self.record_persoon(personalia, vooropleidingen),
            Command::SubmitAanmelding {
                aanmelding,
                instelling,
                opleiding,
                cohort,
                toeleverende_school,
                externe_referentie,
            } => self.submit_aanmelding(
                *aanmelding,
                instelling,
                opleiding,
                cohort,
                toeleverende_school,
                externe_referentie,
            ),
            Command::ChangeAanmeldingStatus { aanmelding, status } => {
                self.change_status(*aanmelding, *status)
            }
            Command::RecordVaAfwijzing {
                aanmelding,
                partner,
                reden,
            } => self.va_afwijzing(*aanmelding, *partner, reden),
            Command::GrantConsent { instelling, scopes } => self.grant(instelling, scopes),
            Command::WithdrawConsent { instelling } => self.withdraw_consent(instelling),
            Command::AttachOverstapdossier {
                school,
                samenvatting,
                content_hash,
            } => self.attach_oso(school, samenvatting, content_hash),
            Command::DraftOnderwijsovereenkomst {
                ook,
                instelling,
                details,
            } => self.ook_offer(*ook, instelling, details, false),
            Command::OfferOnderwijsovereenkomst {
                ook,
                instelling,
                details,
            } => self.ook_offer(*ook, instelling, details, true),
            Command::SignOnderwijsovereenkomst {
                ook,
                ondertekenaars,
                wijze,
                datum,
            } => self.sign_ook(*ook, ondertekenaars, wijze, *datum),
            Command::TerminateOnderwijsovereenkomst { ook, datum, reden } => {
                self.terminate(*ook, *datum, reden.as_ref())
            }
            Command::RegisterPraktijkovereenkomst { bpv, details } => {
                self.register_bpv(*bpv, details)
            }
            Command::RecordSbbCheck {
                bpv,
                erkend,
                reden,
                datum,
            } => self.sbb_check(*bpv, *erkend, reden.as_deref(), *datum),
            Command::SignPraktijkovereenkomst {
                bpv,
                ondertekenaars,
                wijze,
                datum,
            } => self.sign_bpv(*bpv, ondertekenaars, wijze, *datum),
            Command::EndPraktijkovereenkomst { bpv, datum } => self.end_bpv(*bpv, *datum),
            Command::WithdrawErkenning {
                leerbedrijf,
                datum,
                onderdeel,
            } => self.withdraw_erkenning(leerbedrijf, datum, onderdeel.as_ref()),
            Command::RegisterKeuzedeel {
                ook,
                code,
                gastinstelling,
            } => self.register_keuzedeel(*ook, code, gastinstelling.as_ref()),
            Command::RecordKeuzedeelResultaat {
                ook,
                code,
                uitslag,
                datum,
            } => self.keuzedeel_resultaat(*ook, code, *uitslag, *datum),
            Command::RecordExamenresultaat {
                ook,
                onderdeel,
                datum,
            } => self.examen(*ook, onderdeel, *datum),
            Command::AwardDiploma { crebo, datum } => self.diploma(crebo, *datum),
            Command::RecordDuoFeedback {
                mutatie,
                instelling,
                uitkomst,
            } => self.duo_feedback(mutatie, instelling, uitkomst),
            Command::RecordBekostigingsstatus {
                ook,
                teldatum,
                status,
                bekostigbaar,
            } => self.bekostigingsstatus(ook, teldatum, status, bekostigbaar),
            Command::RecordSigningStatus {
                transactie,
                subject,
                status,
            } => self.signing_status(transactie, subject, *status),
            Command::ImportInschrijving {
                ook,
                instelling,
                details,
                inschrijvingsvolgnummer,
                ondertekend_op,
            } => self.import(
                *ook,
                instelling,
                details,
                inschrijvingsvolgnummer,
                *ondertekend_op,
            ),
        }
    }
}

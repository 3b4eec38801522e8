//! The rules: from a dossier, a command and its context to events or a rejection. Pure.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate};

use super::command::{Command, ExamenOnderdeel};
use super::event::Event;
use super::parts::*;
use super::rejection::Rejection;
use super::{DecideContext, Dossier, Person};
use crate::envelope::Actor;
use crate::ids::{Brin, Crebo};
use crate::partner::Partner;
use crate::policy::{self, Access, DenyReason, Part, Subject};
use crate::reference::{Institution, Niveau, Participation};

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

    fn level(&self, inst: &Institution, required: Participation) -> Result<(), Rejection> {
        if inst.participatie >= required {
            Ok(())
        } else {
            Err(Rejection::ParticipationTooLow {
                instelling: inst.brin.clone(),
                level: inst.participatie,
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

    fn open(&self, person: &Person) -> Decided {
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

    fn dispatch(&self, command: &Command) -> Decided {
        match command {
            Command::OpenDossier { person } => self.open(person),
            Command::RecordPersonalia { personalia } => {
                self.permit(Part::Personalia)?;
                personalia.validate()?;
                if self.d.personalia.as_ref() == Some(personalia) {
                    return Err(Rejection::Unchanged);
                }
                Ok(vec![Event::PersonaliaVastgelegd {
                    personalia: personalia.clone(),
                }])
            }
            Command::RecordVooropleiding { vooropleiding } => {
                self.permit(Part::Vooropleidingen)?;
                vooropleiding.validate()?;
                if self.d.vooropleidingen.contains(vooropleiding) {
                    return Err(Rejection::Unchanged);
                }
                Ok(vec![Event::VooropleidingVastgelegd {
                    vooropleiding: vooropleiding.clone(),
                }])
            }
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
            Command::WithdrawConsent { instelling } => {
                self.permit(Part::Toestemmingen)?;
                match self.d.toestemmingen.get(instelling) {
                    Some(t) if t.ingetrokken_op.is_none() => {
                        Ok(vec![Event::ToestemmingIngetrokken {
                            instelling: instelling.clone(),
                            op: self.ctx.meta.time,
                        }])
                    }
                    _ => Err(Rejection::Unchanged),
                }
            }
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
            Command::WithdrawErkenning { leerbedrijf, datum } => {
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
            } => {
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
            Command::RecordBekostigingsstatus {
                ook,
                teldatum,
                status,
                bekostigbaar,
            } => {
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

    fn submit_aanmelding(
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
        let inst = self.institution(instelling)?;
        let opl = self
            .ctx
            .reference
            .opleiding(opleiding)
            .filter(|o| same_institution(&o.instelling, instelling))
            .ok_or_else(|| Rejection::UnknownAangebodenOpleiding {
                opleiding: *opleiding,
                instelling: instelling.clone(),
            })?;
        let coh = opl.cohort(cohort).ok_or_else(|| Rejection::UnknownCohort {
            cohort: cohort.to_owned(),
        })?;
        if !coh.open_on(self.today) {
            return Err(Rejection::AanmeldperiodeGesloten {
                begin: coh.begin_aanmeldperiode,
                einde: coh.einde_aanmeldperiode,
                datum: self.today,
            });
        }
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
    fn status_event(&self, a: &Aanmelding, naar: AanmeldStatus) -> Event {
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

    fn change_status(&self, id: AanmeldingId, status: AanmeldStatus) -> Decided {
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
        if status == AanmeldStatus::Ingeschreven
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

    /// A VA partner refused a status: told to the institution, nothing else changes.
    fn va_afwijzing(&self, id: AanmeldingId, partner: Partner, reden: &str) -> Decided {
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

    fn grant(&self, instelling: &Brin, scopes: &BTreeSet<Part>) -> Decided {
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

    fn attach_oso(
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

    fn ook_offer(
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

    fn sign_ook(
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
            if minor && !who.contains(&W::Ouder) {
                return Err(Rejection::ParentSignatureRequired);
            }
            for required in [W::Student, W::Instelling] {
                if !who.contains(&required) {
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

    fn bpvs_fit(&self, o: &Onderwijsovereenkomst, einde: NaiveDate) -> Result<(), Rejection> {
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

    fn terminate(
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

    fn register_bpv(&self, id: BpvId, details: &BpvDetails) -> Decided {
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

    fn sbb_check(&self, id: BpvId, erkend: bool, reden: Option<&str>, datum: NaiveDate) -> Decided {
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

    fn sign_bpv(
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

    fn end_bpv(&self, id: BpvId, datum: NaiveDate) -> Decided {
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

    fn register_keuzedeel(
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

    fn keuzedeel_resultaat(
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

    fn examen(&self, ook: OokId, onderdeel: &ExamenOnderdeel, datum: NaiveDate) -> Decided {
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

    fn diploma(&self, crebo: &Crebo, datum: NaiveDate) -> Decided {
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

    fn signing_status(
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

    fn import(
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

/// The checks every signing shares: at least one signer, a well-formed wijze, each signer allowed
/// for this actor (`allowed(signer, on_paper)`) and not signed before (`signed(signer)`).
/// Returns whether the signing is on paper.
fn check_signers<W: Copy + serde::Serialize>(
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

fn state_name(s: &SbbCheck) -> &'static str {
    match s {
        SbbCheck::Pending => "pending",
        SbbCheck::Erkend { .. } => "erkend",
        SbbCheck::NietErkend { .. } => "niet_erkend",
        SbbCheck::Ingetrokken { .. } => "ingetrokken",
    }
}

//! The access policy: may this actor read or change this part of this dossier, and on which
//! legal ground? A pure function of the actor, the dossier, reference data and the date.
//!
//! *Architecture invariant:* every read of personal data and every change goes through
//! [`decide`]; its answer names the ground (for the audit record) or the reason for refusal.
//!
//! Answers are per part. Where a relation is with one institution (an aanmelding, an OOK, a
//! keuzedeel), the caller additionally limits the items to that institution's own: the command
//! rules in [`crate::domain`] do so for changes, the read API for reads.
//!
//! Who gets what (the table in `tests/registry/domain_policy.rs` spells out every pair):
//! - the student: reads everything of their own, changes aanmeldingen, VA status (withdrawal),
//!   consent and signs agreements;
//! - a parent: the same, while the student may be under 18 (unknown birth day or month counts
//!   as the latest possible date);
//! - an institution with a signed OOK (its own student): the enrolment parts, read and change;
//! - an institution with an aanmelding: that aanmelding and its status, and it may offer an OOK;
//!   with consent also the parts in the consent scopes (read);
//! - a guest institution for a keuzedeel: personalia and keuzedelen (read), keuzedelen (change);
//! - a samenwerkingsschool of an enrolling institution, and the enrolling institution's
//!   bevoegd gezag: read the enrolment parts;
//! - the sending VO school: the VA status only;
//! - any mbo institution may report its own aanmeldingen (change aanmeldingen);
//! - an operator: the history's metadata only, no personal data;
//! - a partner adapter: only the parts its task needs;
//! - Knooppunt itself: everything except rewriting history.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::Dossier;
use crate::envelope::{Actor, DossierKey};
use crate::ids::Brin;
use crate::ids::OnderwijsbestuurCode;
use crate::partner::Partner;
use crate::reference::ReferenceData;

/// A part of a dossier, the unit of access and of consent scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Names, birth date, sex, residence (from DUO).
    Personalia,
    /// Prior education (from DUO).
    Vooropleidingen,
    /// Aanmeldingen.
    Aanmeldingen,
    /// The VA statuses of aanmeldingen.
    VaStatus,
    /// Consents.
    Toestemmingen,
    /// The OSO overstapdossier.
    Overstapdossier,
    /// Onderwijsovereenkomsten (enrolments).
    Onderwijsovereenkomsten,
    /// Praktijkovereenkomsten (BPV).
    Praktijkovereenkomsten,
    /// Keuzedelen and their results.
    Keuzedelen,
    /// Exam results.
    Examenresultaten,
    /// Diplomas.
    Diplomas,
    /// DUO feedback and bekostigingsstatus.
    DuoTerugkoppeling,
    /// Signing transactions.
    Ondertekening,
    /// The event history of the dossier.
    History,
}

impl Part {
    /// Every part, in table order.
    pub const ALL: [Part; 14] = [
        Self::Personalia,
        Self::Vooropleidingen,
        Self::Aanmeldingen,
        Self::VaStatus,
        Self::Toestemmingen,
        Self::Overstapdossier,
        Self::Onderwijsovereenkomsten,
        Self::Praktijkovereenkomsten,
        Self::Keuzedelen,
        Self::Examenresultaten,
        Self::Diplomas,
        Self::DuoTerugkoppeling,
        Self::Ondertekening,
        Self::History,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personalia => "personalia",
            Self::Vooropleidingen => "vooropleidingen",
            Self::Aanmeldingen => "aanmeldingen",
            Self::VaStatus => "va_status",
            Self::Toestemmingen => "toestemmingen",
            Self::Overstapdossier => "overstapdossier",
            Self::Onderwijsovereenkomsten => "onderwijsovereenkomsten",
            Self::Praktijkovereenkomsten => "praktijkovereenkomsten",
            Self::Keuzedelen => "keuzedelen",
            Self::Examenresultaten => "examenresultaten",
            Self::Diplomas => "diplomas",
            Self::DuoTerugkoppeling => "duo_terugkoppeling",
            Self::Ondertekening => "ondertekening",
            Self::History => "history",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Read or change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read.
    Read,
    /// Change (issue commands on).
    Change,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Change => "change",
        })
    }
}

/// The legal ground of an allowed access (recorded in the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ground {
    /// The student's own dossier.
    OwnDossier,
    /// Parent or guardian of a student under 18.
    ParentOfMinor,
    /// The institution's own (signed OOK) student.
    OwnStudent,
    /// The student's consent for this part.
    Consent,
    /// The institution handles an aanmelding of the student.
    Aanmelding,
    /// Guest institution for a keuzedeel.
    GuestInstitution,
    /// Samenwerkingsschool of the enrolling institution.
    Samenwerkingsschool,
    /// Bevoegd gezag of the enrolling institution.
    BevoegdGezag,
    /// The sending VO school (VA statuses).
    SendingSchool,
    /// An mbo institution reporting its own records.
    OwnRecords,
    /// A partner adapter doing its task.
    PartnerTask,
    /// Operational metadata (no personal data).
    OperationalMetadata,
    /// Knooppunt itself.
    System,
}

/// Why access is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The student or parent acts on another dossier.
    OtherDossier,
    /// The student is (or may be) 18 or older.
    NoLongerMinor,
    /// The actor has no relation with the student.
    NoRelation,
    /// The actor's relation with the student does not cover this part/access.
    NotForThisRelation,
    /// Operators see no personal data.
    OperatorNoPersonalData,
    /// The partner's task does not need this part.
    PartnerNotConcerned,
    /// The history is append-only.
    AppendOnly,
    /// The item belongs to another institution.
    OtherInstitution,
    /// This actor may not issue this particular command on the part.
    CommandNotAllowed,
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OtherDossier => "another student's dossier",
            Self::NoLongerMinor => "the student is 18 or older",
            Self::NoRelation => "no relation with the student",
            Self::NotForThisRelation => "the relation with the student does not cover this",
            Self::OperatorNoPersonalData => "operators see no personal data",
            Self::PartnerNotConcerned => "the partner's task does not need this",
            Self::AppendOnly => "the history is append-only",
            Self::OtherInstitution => "it belongs to another institution",
            Self::CommandNotAllowed => "this actor may not issue this command",
        })
    }
}

/// The policy's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Allowed, on this ground.
    Allow {
        /// The legal ground.
        ground: Ground,
    },
    /// Refused.
    Deny {
        /// Why.
        reason: DenyReason,
    },
}

impl Decision {
    /// Whether allowed.
    pub fn is_allowed(self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}

/// What the policy looks at besides the actor.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The dossier's key.
    pub key: DossierKey,
    /// The dossier.
    pub dossier: &'a Dossier,
    /// Reference data (institutions, bevoegd gezag, samenwerkingsverbanden).
    pub reference: &'a ReferenceData,
    /// The date the access happens (Dutch local date).
    pub on: NaiveDate,
}

/// What `partner` may read and change: `(reads, changes)`. Exhaustive, so a new partner
/// cannot exist without a decision on its rights.
///
/// The VA partners (`koppelpunt`, `intergrip`, `digidoor`, `voroc`, `gemeenten`) read the VA
/// status to send it; their change right on it is for reporting a refusal
/// (`Command::RecordVaAfwijzing`) only — the command rules refuse every other change by them.
/// RIO (reference data) and DigiD (authentication; the student acts as themself) touch no
/// dossier part.
pub fn partner_rights(partner: Partner) -> (&'static [Part], &'static [Part]) {
    match partner {
        Partner::Duo => (
            &[
                Part::Personalia,
                Part::Onderwijsovereenkomsten,
                Part::Praktijkovereenkomsten,
                Part::Keuzedelen,
                Part::Examenresultaten,
                Part::Diplomas,
                Part::DuoTerugkoppeling,
            ],
            &[
                Part::Personalia,
                Part::Vooropleidingen,
                Part::DuoTerugkoppeling,
            ],
        ),
        Partner::Sbb => (
            &[Part::Praktijkovereenkomsten],
            &[Part::Praktijkovereenkomsten],
        ),
        Partner::Signing => (
            &[
                Part::Onderwijsovereenkomsten,
                Part::Praktijkovereenkomsten,
                Part::Ondertekening,
            ],
            &[
                Part::Onderwijsovereenkomsten,
                Part::Praktijkovereenkomsten,
                Part::Ondertekening,
            ],
        ),
        Partner::Cambo => (
            &[Part::Aanmeldingen, Part::VaStatus],
            &[Part::Aanmeldingen, Part::VaStatus],
        ),
        Partner::Oso => (&[], &[Part::Overstapdossier]),
        Partner::Koppelpunt
        | Partner::Intergrip
        | Partner::Digidoor
        | Partner::Voroc
        | Partner::Gemeenten => (&[Part::VaStatus], &[Part::VaStatus]),
        Partner::Rio | Partner::Digid => (&[], &[]),
    }
}

const STUDENT_CHANGES: [Part; 5] = [
    Part::Aanmeldingen,
    Part::VaStatus,
    Part::Toestemmingen,
    Part::Onderwijsovereenkomsten,
    Part::Praktijkovereenkomsten,
];

const OWN_STUDENT_READS: [Part; 11] = [
    Part::Personalia,
    Part::Vooropleidingen,
    Part::Aanmeldingen,
    Part::VaStatus,
    Part::Onderwijsovereenkomsten,
    Part::Praktijkovereenkomsten,
    Part::Keuzedelen,
    Part::Examenresultaten,
    Part::Diplomas,
    Part::DuoTerugkoppeling,
    Part::Ondertekening,
];

const OWN_STUDENT_CHANGES: [Part; 7] = [
    Part::Aanmeldingen,
    Part::VaStatus,
    Part::Onderwijsovereenkomsten,
    Part::Praktijkovereenkomsten,
    Part::Keuzedelen,
    Part::Examenresultaten,
    Part::Diplomas,
];

const ENROLMENT_READS: [Part; 5] = [
    Part::Personalia,
    Part::Onderwijsovereenkomsten,
    Part::Keuzedelen,
    Part::Examenresultaten,
    Part::Diplomas,
];

const BEVOEGD_GEZAG_READS: [Part; 7] = [
    Part::Personalia,
    Part::Onderwijsovereenkomsten,
    Part::Praktijkovereenkomsten,
    Part::Keuzedelen,
    Part::Examenresultaten,
    Part::Diplomas,
    Part::DuoTerugkoppeling,
];

/// Whether the student may be under 18 on `on`. Unknown birth date: treated as a minor.
pub fn may_be_minor(dossier: &Dossier, on: NaiveDate) -> bool {
    dossier
        .personalia
        .as_ref()
        .is_none_or(|p| p.geboortedatum.may_be_younger_than(18, on))
}

/// Decides whether `actor` may `access` `part` of the subject's dossier.
pub fn decide(actor: &Actor, subject: &Subject<'_>, part: Part, access: Access) -> Decision {
    if part == Part::History && access == Access::Change {
        return deny(DenyReason::AppendOnly);
    }
    match actor {
        Actor::Student { dossier } => {
            if *dossier != subject.key {
                return deny(DenyReason::OtherDossier);
            }
            own(part, access, Ground::OwnDossier)
        }
        Actor::Parent { dossier } => {
            if *dossier != subject.key {
                return deny(DenyReason::OtherDossier);
            }
            if !may_be_minor(subject.dossier, subject.on) {
                return deny(DenyReason::NoLongerMinor);
            }
            own(part, access, Ground::ParentOfMinor)
        }
        Actor::Institution { brin } => institution(&brin.instelling(), subject, part, access),
        Actor::BevoegdGezag { bestuur } => bevoegd_gezag(bestuur, subject, part, access),
        Actor::Partner { partner } => {
            let (reads, changes) = partner_rights(*partner);
            let list = match access {
                Access::Read => reads,
                Access::Change => changes,
            };
            if list.contains(&part) {
                allow(Ground::PartnerTask)
            } else {
                deny(DenyReason::PartnerNotConcerned)
            }
        }
        Actor::Operator { .. } => {
            if part == Part::History && access == Access::Read {
                allow(Ground::OperationalMetadata)
            } else {
                deny(DenyReason::OperatorNoPersonalData)
            }
        }
        Actor::System => allow(Ground::System),
    }
}

fn allow(ground: Ground) -> Decision {
    Decision::Allow { ground }
}

fn deny(reason: DenyReason) -> Decision {
    Decision::Deny { reason }
}

fn own(part: Part, access: Access, ground: Ground) -> Decision {
    match access {
        Access::Read => allow(ground),
        Access::Change if STUDENT_CHANGES.contains(&part) => allow(ground),
        Access::Change => deny(DenyReason::NotForThisRelation),
    }
}

/// The relations an institution has with the student, strongest first.
fn institution(brin: &Brin, subject: &Subject<'_>, part: Part, access: Access) -> Decision {
    let d = subject.dossier;
    let reference = subject.reference;
    let own_student = d
        .onderwijsovereenkomsten
        .values()
        .any(|o| &o.instelling == brin && o.was_signed());
    let aanmelding = d.aanmeldingen.values().any(|a| &a.instelling == brin);
    let consent = d.toestemmingen.get(brin).is_some_and(|t| t.covers(part));
    let consent_any = d
        .toestemmingen
        .get(brin)
        .is_some_and(|t| t.ingetrokken_op.is_none());
    let guest = d
        .keuzedelen
        .iter()
        .any(|k| k.gastinstelling.as_ref() == Some(brin));
    let verband = reference
        .institution(brin)
        .and_then(|i| i.samenwerkingsverband.as_ref());
    let samenwerking = verband.is_some_and(|v| {
        d.onderwijsovereenkomsten.values().any(|o| {
            o.was_signed()
                && &o.instelling != brin
                && reference
                    .institution(&o.instelling)
                    .and_then(|i| i.samenwerkingsverband.as_ref())
                    == Some(v)
        })
    });
    let sending = d.aanmeldingen.values().any(|a| {
        a.toeleverende_school
            .as_ref()
            .map(Brin::instelling)
            .as_ref()
            == Some(brin)
    });
    let mbo = reference.institution(brin).is_some();

    let reads_changes: [(bool, Ground, &[Part], &[Part]); 7] = [
        (
            own_student,
            Ground::OwnStudent,
            &OWN_STUDENT_READS,
            &OWN_STUDENT_CHANGES,
        ),
        (consent, Ground::Consent, &[part], &[]),
        (
            aanmelding,
            Ground::Aanmelding,
            // The agreement it offers the applicant, and its signing, are the institution's
            // own records (it changes them on this ground too).
            &[
                Part::Aanmeldingen,
                Part::VaStatus,
                Part::Onderwijsovereenkomsten,
                Part::Ondertekening,
            ],
            &[
                Part::Aanmeldingen,
                Part::VaStatus,
                Part::Onderwijsovereenkomsten,
            ],
        ),
        (
            guest,
            Ground::GuestInstitution,
            &[Part::Personalia, Part::Keuzedelen],
            &[Part::Keuzedelen],
        ),
        (
            samenwerking,
            Ground::Samenwerkingsschool,
            &ENROLMENT_READS,
            &[],
        ),
        (sending, Ground::SendingSchool, &[Part::VaStatus], &[]),
        (mbo, Ground::OwnRecords, &[], &[Part::Aanmeldingen]),
    ];
    for (holds, ground, reads, changes) in reads_changes {
        let list = match access {
            Access::Read => reads,
            Access::Change => changes,
        };
        if holds && list.contains(&part) {
            return allow(ground);
        }
    }
    let related = own_student || aanmelding || consent_any || guest || samenwerking || sending;
    if related {
        deny(DenyReason::NotForThisRelation)
    } else {
        deny(DenyReason::NoRelation)
    }
}

fn bevoegd_gezag(
    bestuur: &OnderwijsbestuurCode,
    subject: &Subject<'_>,
    part: Part,
    access: Access,
) -> Decision {
    let related = subject.dossier.onderwijsovereenkomsten.values().any(|o| {
        o.was_signed()
            && subject
                .reference
                .institution(&o.instelling)
                .is_some_and(|i| &i.bevoegd_gezag == bestuur)
    });
    if !related {
        return deny(DenyReason::NoRelation);
    }
    if access == Access::Read && BEVOEGD_GEZAG_READS.contains(&part) {
        allow(Ground::BevoegdGezag)
    } else {
        deny(DenyReason::NotForThisRelation)
    }
}

//! Commands: the changes someone asks for. Each yields events or a typed rejection.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::parts::{
    AanmeldStatus, AanmeldingId, BekostigingsStatus, BpvDetails, BpvId, BpvOnderdeel,
    BpvOndertekenaar, Cijfer, DuoUitkomst, ExterneReferentie, GeneriekVak, KeuzedeelUitslag,
    Ondertekenwijze, OokDetails, OokId, OokOndertekenaar, OverstapSamenvatting, Personalia,
    RedenUitschrijving, SigningStatus, SigningSubject, Vooropleiding,
};
use super::{ContentHash, Person};
use crate::ids::{Brin, Crebo, KeuzedeelCode, LeerbedrijfId};
use crate::partner::Partner;
use crate::policy::Part;

/// A change someone asks for. The actor and time come from the command's
/// [`CommandMeta`](crate::envelope::CommandMeta); the rules use that time, never the wall clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Opens the dossier for a person (first DigiD login, first aanmelding, or bulk import).
    OpenDossier {
        /// The person.
        person: Person,
    },
    /// Records (or replaces) the personal data DUO holds (BRP-derived).
    RecordPersonalia {
        /// The personal data.
        personalia: Personalia,
    },
    /// Records (or replaces, same school and opleiding) a prior education from DUO.
    RecordVooropleiding {
        /// The vooropleiding.
        vooropleiding: Vooropleiding,
    },
    /// Records DUO's answer to a person lookup at once: the personalia and every vooropleiding
    /// (one answer per lookup, so one command id and one effect). Yields a
    /// `PersonaliaVastgelegd` and a `VooropleidingVastgelegd` per part that is new or changed;
    /// `Unchanged` when nothing is.
    RecordPersoonEnVooropleidingen {
        /// The personal data.
        personalia: Personalia,
        /// The vooropleidingen (at most 100).
        #[serde(default)]
        vooropleidingen: Vec<Vooropleiding>,
    },
    /// Submits an aanmelding for an aangeboden opleiding (cohort) of an institution.
    SubmitAanmelding {
        /// Id chosen by the submitter.
        aanmelding: AanmeldingId,
        /// The institution.
        instelling: Brin,
        /// RIO id of the aangeboden opleiding.
        opleiding: Uuid,
        /// Cohort code.
        cohort: String,
        /// The sending (va)vo school, if any.
        #[serde(default)]
        toeleverende_school: Option<Brin>,
        /// CAMBO reference, if it came through central aanmelding.
        #[serde(default)]
        externe_referentie: Option<ExterneReferentie>,
    },
    /// Changes the VA status of an aanmelding (the state machine of [`AanmeldStatus`]).
    ChangeAanmeldingStatus {
        /// The aanmelding.
        aanmelding: AanmeldingId,
        /// The new status.
        status: AanmeldStatus,
    },
    /// A VA partner (koppelpunt, regional system, koppelpunt gemeenten) refused an aanmeldstatus;
    /// the refusal is reported back to the institution. `partner` and `reden` are short codes
    /// (`[a-z0-9_.-]`, at most 64 characters), never personal data.
    RecordVaAfwijzing {
        /// The aanmelding whose status was refused.
        aanmelding: AanmeldingId,
        /// The partner that refused it, e.g. [`Partner::Intergrip`] (a VA recipient,
        /// [`Partner::is_va_recipient`]).
        partner: Partner,
        /// The partner's reason code, e.g. `"status_onbekend"`, or `"rejected"`.
        reden: String,
    },
    /// The student grants an institution consent to read some parts of the dossier.
    GrantConsent {
        /// The institution.
        instelling: Brin,
        /// The parts.
        scopes: BTreeSet<Part>,
    },
    /// The student withdraws an institution's consent.
    WithdrawConsent {
        /// The institution.
        instelling: Brin,
    },
    /// Attaches the sending school's OSO overstapdossier (summary and hash).
    AttachOverstapdossier {
        /// The sending school.
        school: Brin,
        /// Summary.
        samenvatting: OverstapSamenvatting,
        /// SHA-256 of the document.
        content_hash: ContentHash,
    },
    /// Drafts an onderwijsovereenkomst (status `concept`).
    DraftOnderwijsovereenkomst {
        /// Id chosen by the institution.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// What it is about.
        details: OokDetails,
    },
    /// Offers an onderwijsovereenkomst to the student (new, or a concept with final details).
    OfferOnderwijsovereenkomst {
        /// Id chosen by the institution.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// What it is about.
        details: OokDetails,
    },
    /// Records signatures on an onderwijsovereenkomst: one signer digitally, or all signers on
    /// paper at once.
    SignOnderwijsovereenkomst {
        /// The OOK.
        ook: OokId,
        /// Who signed.
        ondertekenaars: BTreeSet<OokOndertekenaar>,
        /// How.
        wijze: Ondertekenwijze,
        /// Date of signing.
        datum: NaiveDate,
    },
    /// Ends a signed onderwijsovereenkomst (uitschrijving), or withdraws an unsigned one.
    TerminateOnderwijsovereenkomst {
        /// The OOK.
        ook: OokId,
        /// Werkelijke datum uitschrijving (ignored for an unsigned one).
        datum: NaiveDate,
        /// Reden uitschrijving (required for a signed one).
        #[serde(default)]
        reden: Option<RedenUitschrijving>,
    },
    /// Registers a praktijkovereenkomst within an enrolment; SBB is asked next.
    RegisterPraktijkovereenkomst {
        /// Id chosen by the institution.
        bpv: BpvId,
        /// Dates, leerbedrijf, onderdeel.
        details: BpvDetails,
    },
    /// Records SBB's answer on the recognition of the leerbedrijf.
    RecordSbbCheck {
        /// The BPV.
        bpv: BpvId,
        /// Recognised for the crebo on the start date.
        erkend: bool,
        /// SBB's reason when not recognised.
        #[serde(default)]
        reden: Option<String>,
        /// Date of SBB's answer.
        datum: NaiveDate,
    },
    /// Records signatures on a praktijkovereenkomst.
    SignPraktijkovereenkomst {
        /// The BPV.
        bpv: BpvId,
        /// Who signed.
        ondertekenaars: BTreeSet<BpvOndertekenaar>,
        /// How.
        wijze: Ondertekenwijze,
        /// Date of signing.
        datum: NaiveDate,
    },
    /// Ends a praktijkovereenkomst (datum einde werkelijk).
    EndPraktijkovereenkomst {
        /// The BPV.
        bpv: BpvId,
        /// Datum einde werkelijk.
        datum: NaiveDate,
    },
    /// SBB withdrew the recognition of a leerbedrijf: every running BPV there is affected, or
    /// only those for `onderdeel` when SBB names one.
    WithdrawErkenning {
        /// The leerbedrijf.
        leerbedrijf: LeerbedrijfId,
        /// Date of withdrawal.
        datum: NaiveDate,
        /// The crebo or keuzedeel the withdrawal is for; absent: every one.
        #[serde(default)]
        onderdeel: Option<BpvOnderdeel>,
    },
    /// Registers a keuzedeel within an enrolment, optionally taken at a guest institution.
    RegisterKeuzedeel {
        /// The enrolment.
        ook: OokId,
        /// Keuzedeel code.
        code: KeuzedeelCode,
        /// Guest institution, if taken elsewhere.
        #[serde(default)]
        gastinstelling: Option<Brin>,
    },
    /// Records the result of a keuzedeel (by the enrolling or the guest institution).
    RecordKeuzedeelResultaat {
        /// The enrolment.
        ook: OokId,
        /// Keuzedeel code.
        code: KeuzedeelCode,
        /// Outcome.
        uitslag: KeuzedeelUitslag,
        /// Date.
        datum: NaiveDate,
    },
    /// Records (or replaces) a generic exam result.
    RecordExamenresultaat {
        /// The enrolment.
        ook: OokId,
        /// What was examined.
        onderdeel: ExamenOnderdeel,
        /// Date.
        datum: NaiveDate,
    },
    /// Awards the diploma for a crebo: needs a signed, running OOK for that crebo and ends it.
    AwardDiploma {
        /// Crebo.
        crebo: Crebo,
        /// Datum kwalificatie behaald.
        datum: NaiveDate,
    },
    /// Records DUO's answer on one delivered mutation.
    RecordDuoFeedback {
        /// Id of the delivered event.
        mutatie: Uuid,
        /// The institution it was delivered for.
        instelling: Brin,
        /// Outcome.
        uitkomst: DuoUitkomst,
    },
    /// Records DUO's bekostigingsstatus of an inschrijving for a teldatum.
    RecordBekostigingsstatus {
        /// The enrolment.
        ook: OokId,
        /// Teldatum.
        teldatum: NaiveDate,
        /// Voorlopig or definitief.
        status: BekostigingsStatus,
        /// Whether it is funded.
        bekostigbaar: bool,
    },
    /// Records the signing provider's status of a transaction.
    RecordSigningStatus {
        /// Provider transaction id.
        transactie: String,
        /// What is signed.
        subject: SigningSubject,
        /// Status.
        status: SigningStatus,
    },
    /// Imports an existing enrolment (from DUO's registratieoverzicht) for an institution
    /// moving to `krd`: a signed OOK, recorded as signed on paper.
    ImportInschrijving {
        /// Id for the OOK.
        ook: OokId,
        /// The institution.
        instelling: Brin,
        /// What it is about.
        details: OokDetails,
        /// Inschrijvingsvolgnummer as DUO knows it.
        inschrijvingsvolgnummer: String,
        /// Date the OOK was signed (or the datum inschrijving when unknown).
        ondertekend_op: NaiveDate,
    },
}

/// What an exam result is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "soort", rename_all = "snake_case")]
pub enum ExamenOnderdeel {
    /// A generic exam.
    Generiek {
        /// Subject.
        vak: GeneriekVak,
        /// IE grade.
        #[serde(default)]
        cijfer_ie: Option<Cijfer>,
        /// CE grade.
        #[serde(default)]
        cijfer_ce: Option<Cijfer>,
    },
    /// An institutional exam part.
    Instelling {
        /// The institution's code.
        onderdeel: String,
        /// Grade.
        cijfer: Cijfer,
    },
}

impl Command {
    /// The command's name, for logs and metrics (bounded, no data).
    pub fn name(&self) -> &'static str {
        match self {
            Self::OpenDossier { .. } => "open_dossier",
            Self::RecordPersonalia { .. } => "record_personalia",
            Self::RecordVooropleiding { .. } => "record_vooropleiding",
            Self::RecordPersoonEnVooropleidingen { .. } => "record_persoon_en_vooropleidingen",
            Self::SubmitAanmelding { .. } => "submit_aanmelding",
            Self::ChangeAanmeldingStatus { .. } => "change_aanmelding_status",
            Self::RecordVaAfwijzing { .. } => "record_va_afwijzing",
            Self::GrantConsent { .. } => "grant_consent",
            Self::WithdrawConsent { .. } => "withdraw_consent",
            Self::AttachOverstapdossier { .. } => "attach_overstapdossier",
            Self::DraftOnderwijsovereenkomst { .. } => "draft_onderwijsovereenkomst",
            Self::OfferOnderwijsovereenkomst { .. } => "offer_onderwijsovereenkomst",
            Self::SignOnderwijsovereenkomst { .. } => "sign_onderwijsovereenkomst",
            Self::TerminateOnderwijsovereenkomst { .. } => "terminate_onderwijsovereenkomst",
            Self::RegisterPraktijkovereenkomst { .. } => "register_praktijkovereenkomst",
            Self::RecordSbbCheck { .. } => "record_sbb_check",
            Self::SignPraktijkovereenkomst { .. } => "sign_praktijkovereenkomst",
            Self::EndPraktijkovereenkomst { .. } => "end_praktijkovereenkomst",
            Self::WithdrawErkenning { .. } => "withdraw_erkenning",
            Self::RegisterKeuzedeel { .. } => "register_keuzedeel",
            Self::RecordKeuzedeelResultaat { .. } => "record_keuzedeel_resultaat",
            Self::RecordExamenresultaat { .. } => "record_examenresultaat",
            Self::AwardDiploma { .. } => "award_diploma",
            Self::RecordDuoFeedback { .. } => "record_duo_feedback",
            Self::RecordBekostigingsstatus { .. } => "record_bekostigingsstatus",
            Self::RecordSigningStatus { .. } => "record_signing_status",
            Self::ImportInschrijving { .. } => "import_inschrijving",
        }
    }
}

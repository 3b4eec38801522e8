//! The student dossier and its rules: state, commands, events, rejections.
//!
//! Every change is a [`Command`] that the [`Dossier`] decides on: it yields events or a typed
//! [`Rejection`]. Applying the events is the only way the state changes, so an invalid state
//! cannot be reached.
//!
//! *Architecture invariant:* [`Dossier::decide`] is pure — it reads the dossier, the reference
//! data and the command's metadata (actor, time) and nothing else: no clock, no randomness, no
//! I/O. Ids of new parts are chosen by the caller and carried in the command.
//!
//! Decisions worth knowing (see also `docs/glossary.md`):
//! - An aanmelding becomes `ingeschreven` automatically when its OOK (the one offered for it) is
//!   signed; a manual change to `ingeschreven` is only accepted when the institution has a signed
//!   OOK. Offering an OOK for an `aangemeld` aanmelding moves it to `ook_aangeboden`.
//! - Toelatingsrecht: submitted on or before 1 April (Dutch time) of the cohort's start year,
//!   not for entree (MBO-1).
//! - A parent must sign an OOK when the student may be under 18 on the signing date (an unknown
//!   birth day or month counts as the latest possible date; no birth date at all counts as minor).
//! - A BPV lies within its enrolment; ending or concluding an enrolment earlier than a running
//!   BPV is refused (end the BPV first).
//! - A diploma ends its OOK on the diploma date with reden uitschrijving `01`.

mod apply;
mod command;
mod decide;
mod event;
pub mod institution;
mod parts;
mod rejection;
pub mod time;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::{Command, ExamenOnderdeel};
pub use event::Event;
pub use parts::*;
pub use rejection::Rejection;

use crate::envelope::CommandMeta;
use crate::ids::{Brin, PersonId};
use crate::reference::ReferenceData;

/// Context a decision may use besides the dossier: reference data, the recorded participation
/// levels and the command's metadata.
#[derive(Debug, Clone, Copy)]
pub struct DecideContext<'a> {
    /// Institutions, aangeboden opleidingen, schools, municipalities.
    pub reference: &'a ReferenceData,
    /// The participation levels recorded since the reference data ([`institution`]): an
    /// institution's effective level is `levels.of(institution)`, never its `participatie`.
    pub levels: &'a institution::Levels,
    /// The command's envelope: actor and time.
    pub meta: &'a CommandMeta,
}

/// A person's identifying data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// BSN or onderwijsnummer.
    pub id: PersonId,
}

/// A student's dossier: the formal data Knooppunt keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Dossier {
    /// Sequence of the last applied event (0 for a dossier that does not exist yet).
    pub sequence: u64,
    /// The person, once opened.
    pub person: Option<Person>,
    /// Personal data from DUO.
    #[serde(default)]
    pub personalia: Option<Personalia>,
    /// Prior education from DUO.
    #[serde(default)]
    pub vooropleidingen: Vec<Vooropleiding>,
    /// Aanmeldingen by id.
    #[serde(default)]
    pub aanmeldingen: BTreeMap<AanmeldingId, Aanmelding>,
    /// Consents by institution.
    #[serde(default)]
    pub toestemmingen: BTreeMap<Brin, Toestemming>,
    /// Overstapdossiers received.
    #[serde(default)]
    pub overstapdossiers: Vec<Overstapdossier>,
    /// Onderwijsovereenkomsten by id.
    #[serde(default)]
    pub onderwijsovereenkomsten: BTreeMap<OokId, Onderwijsovereenkomst>,
    /// Praktijkovereenkomsten by id.
    #[serde(default)]
    pub praktijkovereenkomsten: BTreeMap<BpvId, Praktijkovereenkomst>,
    /// Keuzedelen (unique per enrolment and code).
    #[serde(default)]
    pub keuzedelen: Vec<Keuzedeel>,
    /// Exam results (unique per enrolment and exam).
    #[serde(default)]
    pub examenresultaten: Vec<Examenresultaat>,
    /// Diplomas.
    #[serde(default)]
    pub diplomas: Vec<Diploma>,
    /// DUO feedback by delivered event id.
    #[serde(default)]
    pub duo_terugkoppeling: BTreeMap<Uuid, DuoTerugkoppeling>,
    /// Bekostigingsstatus (unique per enrolment and teldatum).
    #[serde(default)]
    pub bekostiging: Vec<Bekostiging>,
    /// Signing transactions by provider transaction id.
    #[serde(default)]
    pub ondertekening: BTreeMap<String, SigningTransaction>,
}

impl Dossier {
    /// Decides on a command: the events it yields, or why not. Pure; never changes `self`.
    pub fn decide(
        &self,
        command: &Command,
        ctx: &DecideContext<'_>,
    ) -> Result<Vec<Event>, Rejection> {
        decide::decide(self, command, ctx)
    }

    /// Applies one event. Only events this dossier decided are ever applied.
    pub fn apply(&mut self, event: &Event) {
        self.sequence += 1;
        apply::apply(self, event);
    }

    /// Whether the dossier has been opened.
    pub fn exists(&self) -> bool {
        self.person.is_some()
    }

    /// The active (concept, aangeboden or ondertekend) OOK for a crebo, if any.
    pub fn active_ook(&self, crebo: &crate::ids::Crebo) -> Option<&Onderwijsovereenkomst> {
        self.onderwijsovereenkomsten
            .values()
            .find(|o| o.status.is_active() && &o.details.crebo == crebo)
    }
}

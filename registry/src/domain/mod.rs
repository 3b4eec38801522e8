//! The student dossier and its rules: state, commands, events, rejections.
//!
//! Every change is a [`Command`] that the [`Dossier`] decides on: it yields events or a typed
//! [`Rejection`]. Applying the events is the only way the state changes, so an invalid state
//! cannot be reached.
//!
//! SKELETON — to be completed by the registry-domain work (see issue 2).

use serde::{Deserialize, Serialize};

use crate::envelope::CommandMeta;
use crate::ids::{Brin, PersonId};
use crate::reference::ReferenceData;

/// Context a decision may use besides the dossier: reference data and the command's metadata.
#[derive(Debug, Clone, Copy)]
pub struct DecideContext<'a> {
    /// Institutions, aangeboden opleidingen, schools, municipalities.
    pub reference: &'a ReferenceData,
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
}

/// A change someone asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Opens the dossier for a person (first DigiD login, first aanmelding, or bulk import).
    OpenDossier {
        /// The person.
        person: Person,
    },
}

/// Something that happened to a dossier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The dossier was opened.
    DossierOpened {
        /// The person.
        person: Person,
    },
}

impl Event {
    /// The versioned CloudEvents type of this event.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::DossierOpened { .. } => "nl.knooppunt.dossier.geopend.v1",
        }
    }

    /// The institution this event concerns, if any (routing and access).
    pub fn institution(&self) -> Option<Brin> {
        match self {
            Self::DossierOpened { .. } => None,
        }
    }
}

/// Why a command was refused. Each variant names what is wrong in terms a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "rejection", rename_all = "snake_case")]
pub enum Rejection {
    /// The dossier is already open.
    #[error("the dossier is already open")]
    DossierAlreadyOpen,
    /// The dossier does not exist (yet).
    #[error("the dossier does not exist")]
    DossierNotFound,
}

impl Dossier {
    /// Decides on a command: the events it yields, or why not. Pure; never changes `self`.
    pub fn decide(
        &self,
        command: &Command,
        _ctx: &DecideContext<'_>,
    ) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::OpenDossier { person } => {
                if self.person.is_some() {
                    return Err(Rejection::DossierAlreadyOpen);
                }
                Ok(vec![Event::DossierOpened {
                    person: person.clone(),
                }])
            }
        }
    }

    /// Applies one event. Only events this dossier decided are ever applied.
    pub fn apply(&mut self, event: &Event) {
        self.sequence += 1;
        match event {
            Event::DossierOpened { person } => self.person = Some(person.clone()),
        }
    }

    /// Whether the dossier has been opened.
    pub fn exists(&self) -> bool {
        self.person.is_some()
    }
}

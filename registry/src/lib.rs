//! Knooppunt's core registry: the *formal* data of every mbo student.
//!
//! - [`ids`]: identifiers of the chain, always valid once parsed.
//! - [`envelope`]: the metadata every command and event carries.
//! - [`domain`]: the dossier, its commands, events and rejections.
//! - [`partner`]: the chain partners, a closed type.
//! - [`policy`]: who may read or change which part of a dossier, on which legal ground.
//! - [`reference`](mod@reference): institutions, opleidingen, schools — what the rules look up.
//! - [`store`]: persistence (PostgreSQL, in-memory) with history and outbox.
//! - [`report`]: sector reports without personal data (the model, small-cell suppression).

pub mod domain;
pub mod envelope;
pub mod ids;
pub mod partner;
pub mod policy;
pub mod pseudonym;
pub mod reference;
pub mod report;
pub mod store;

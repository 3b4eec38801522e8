//! DUO: the mbo side of BRON/ROD and DUO's feedback files (`docs/partners/duo.md`).
//!
//! - [`bron`]: outgoing per-mutation BRON/ROD messages (inschrijving with its periods, BPV,
//!   diploma with its results, uitschrijving), written as XML after DUO's record model, plus a
//!   reader of the same format for tests and the DUO simulator.
//! - [`tbgi`]: incoming TBG-i (terugmelding bekostigingsgrondslagen individueel) XML.
//! - [`ro`]: incoming registratieoverzicht (RO) CSV, streamed record by record, with the SLR
//!   trailer's counts checked; bulk import for an institution moving to level `krd`.
//! - [`grondslag`]: incoming GRONDSLAG IP MBO CSV (pseudonymised, for analysis only).
//! - `lines`: the line reader RO and GRONDSLAG share (size and UTF-8 guards, splitting, field
//!   access naming the field, the VLP/SLR framing errors).
//! - [`persoon`]: incoming "persoon en vooropleidingen" lookup answer and mutation notifications.
//! - [`records`]: DUO's mbo record model (ISG/ISP/ISE/BPV/DIP/GEO/KZD) shared by BRON and RO.
//! - [`codes`]: DUO's code lists and date formats shared by all of the above.
//!
//! *Architecture invariant:* the outgoing BRON format is behind [`bron`] alone (record model,
//! writer, reader, schema namespace), so DUO's real schema can replace it in one place.

pub mod bron;
pub mod codes;
pub mod convert;
pub mod grondslag;
mod lines;
pub mod persoon;
pub mod records;
pub mod ro;
pub mod tbgi;

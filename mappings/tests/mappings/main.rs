//! The mappings' integration tests, one binary (one link on a 2-core machine), a module per
//! partner format; `common` and `duo_fixtures` are shared.

mod cambo_aanmelding;
mod common;
mod digid_assertion;
mod duo_bron;
mod duo_bron_event;
mod duo_fixtures;
mod duo_grondslag;
mod duo_persoon;
mod duo_ro;
mod duo_tbgi;
mod oso_dossier;
mod rio_lod;
mod rio_soap;
mod sbb_erkenning;
mod signing_provider;
mod va_status;

//! RIO (Registratie Instellingen en Opleidingen, DUO): reference data about onderwijsaanbieders,
//! onderwijslocaties and aangeboden opleidingen with their cohorts.
//!
//! Two sources, one model ([`model`]):
//! - [`soap`]: the Edukoppeling/WUS *raadplegen V4* service. Requests are written valid against
//!   `DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4.xsd`; responses are read by namespace URI, so any
//!   prefix the sender picks works. `requestGoedgekeurd=false` becomes [`RioError::Rejected`]
//!   with the foutcodes.
//! - [`lod`]: the public LOD REST API v2 (JSON).
//!
//! Rules and codes: `docs/partners/rio.md`; sources: domain.md §3.

pub mod lod;
pub mod model;
pub mod reference;
pub mod soap;

pub use model::{
    AangebodenOpleiding, Cohort, CohortStatus, Instroom, Onderwijsaanbieder, Onderwijslocatie,
};
pub use soap::{Foutmelding, RequestHeader, RioError, RioQuery, RioResponse};

use chrono::NaiveDate;

use crate::error::MappingError;

/// Parses an ISO date (`YYYY-MM-DD`) at `field`.
pub(crate) fn parse_date(field: &str, s: &str) -> Result<NaiveDate, MappingError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| MappingError::invalid(field, "expected a date as YYYY-MM-DD"))
}

/// Checks a free-text field's length in characters (not bytes).
pub(crate) fn check_len(field: &str, s: &str, max: usize) -> Result<(), MappingError> {
    let n = s.chars().count();
    if n > max {
        Err(MappingError::invalid(
            field,
            format!("at most {max} characters allowed, got {n}"),
        ))
    } else {
        Ok(())
    }
}

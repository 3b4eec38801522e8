//! RIO *raadplegen V4* over Edukoppeling/WUS (SOAP 1.1, document/literal).
//!
//! Requests are written valid against `DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4.xsd` (tests
//! check with xmllint); the envelope carries the WS-Addressing headers with the OINs in the
//! addresses (domain.md §5.2). Signing (WS-Security) is the adapter's job, not done here.
//! Responses are read by namespace URI + local name, so the sender's prefixes do not matter.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use knooppunt_registry::ids::{Crebo, Oin, OnderwijsaanbiederCode, OnderwijslocatieCode};
use quick_xml::escape::escape;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::MappingError;
use crate::rio::model::{
    AangebodenOpleiding, Cohort, CohortStatus, Instroom, Onderwijsaanbieder, Onderwijslocatie,
};
use crate::rio::{check_len, parse_date};
use crate::xml::{self, Element};

/// Namespace of the raadplegen V4 messages.
pub const NS: &str = "http://duo.nl/schema/DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4";
/// Prefix of the WS-Addressing action URIs.
pub const ACTION_BASE: &str = "http://duo.nl/contract/DUO_RIO_Raadplegen_OnderwijsOrganisatie_V4/";
/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Addressing namespace.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// DUO's OIN for the RIO services (domain.md §0).
pub const DUO_OIN: &str = "00000001800866472000";
/// Largest response accepted: 500 aangeboden opleidingen with cohorts fit well within this.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Largest request accepted by [`parse_request`].
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

mod request;
mod response;
mod writer;

pub use request::*;
pub use response::*;
pub use writer::*;

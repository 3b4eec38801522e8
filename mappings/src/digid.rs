//! DigiD (SAML 2.0, artifact binding): the identity in the assertion — NameID
//! `s00000000:<BSN>` and the assurance level from `AuthnContextClassRef` (domain.md §5.1).
//!
//! Reads a bare `Assertion`, a `samlp:Response` or a `samlp:ArtifactResponse` (optionally in a
//! SOAP envelope), by namespace URI. **Signature verification is not done here**: the DigiD
//! adapter verifies the signature (behind its feature) before calling [`parse`].

use chrono::{DateTime, Utc};
use knooppunt_registry::ids::Bsn;
use serde::{Deserialize, Serialize};

use crate::error::MappingError;
use crate::xml::{self, Element};

/// SAML 2.0 assertion namespace.
pub const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 protocol namespace.
pub const SAMLP_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SOAP 1.1 envelope namespace (artifact resolution runs over SOAP).
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The success status code.
pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Largest message accepted.
pub const MAX_BYTES: usize = 256 * 1024;
/// Sector code prefix of a BSN in the NameID.
pub const BSN_SECTOR: &str = "s00000000";

/// DigiD betrouwbaarheidsniveau, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Niveau {
    /// `PasswordProtectedTransport`.
    Basis,
    /// `MobileTwoFactorContract`.
    Midden,
    /// `Smartcard`.
    Substantieel,
    /// `SmartcardPKI`.
    Hoog,
}

impl Niveau {
    /// Every level, lowest first.
    pub const ALL: [Niveau; 4] = [Self::Basis, Self::Midden, Self::Substantieel, Self::Hoog];

    /// The `AuthnContextClassRef` URI.
    pub fn class_ref(self) -> &'static str {
        match self {
            Self::Basis => "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
            Self::Midden => "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
            Self::Substantieel => "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
            Self::Hoog => "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
        }
    }

    /// The level of a class reference.
    pub fn from_class_ref(field: &str, s: &str) -> Result<Self, MappingError> {
        Self::ALL
            .into_iter()
            .find(|n| n.class_ref() == s)
            .ok_or_else(|| MappingError::invalid(field, "not a DigiD assurance class"))
    }
}

/// The identity DigiD asserts. Holds a BSN: `Debug` is redacted by `Bsn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigidIdentity {
    /// The BSN.
    pub bsn: Bsn,
    /// The assurance level.
    pub niveau: Niveau,
    /// The assertion's issuer (entity id).
    pub issuer: String,
    /// Assertion id.
    pub assertion_id: String,
    /// When it was authenticated.
    pub authn_instant: Option<DateTime<Utc>>,
    /// Conditions/@NotOnOrAfter: the adapter refuses the assertion after it.
    pub not_on_or_after: Option<DateTime<Utc>>,
    /// Session index (for logout).
    pub session_index: Option<String>,
}

/// What can go wrong with a DigiD answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigidError {
    /// Not readable.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// DigiD answered with a non-success status (e.g. the user cancelled).
    #[error("DigiD status {status}{}", .sub_status.as_deref().map(|s| format!(" / {s}")).unwrap_or_default())]
    Status {
        /// Top-level status code URI.
        status: String,
        /// Second-level status code URI (e.g. `AuthnFailed`).
        sub_status: Option<String>,
    },
}

fn time(field: &str, s: &str) -> Result<DateTime<Utc>, MappingError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| MappingError::invalid(field, "expected an xsd:dateTime"))
}

fn find<'a>(e: &'a Element, ns: &str, name: &str) -> Option<&'a Element> {
    e.children.iter().find(|c| c.ns == ns && c.name == name)
}

fn check_status(resp: &Element, path: &str) -> Result<(), DigidError> {
    let status = find(resp, SAMLP_NS, "Status")
        .ok_or_else(|| MappingError::missing(format!("{path}/Status")))?;
    let code = find(status, SAMLP_NS, "StatusCode")
        .ok_or_else(|| MappingError::missing(format!("{path}/Status/StatusCode")))?;
    let value = code
        .attr("Value")
        .ok_or_else(|| MappingError::missing(format!("{path}/Status/StatusCode/@Value")))?;
    if value != SUCCESS {
        return Err(DigidError::Status {
            status: value.to_owned(),
            sub_status: find(code, SAMLP_NS, "StatusCode")
                .and_then(|c| c.attr("Value"))
                .map(str::to_owned),
        });
    }
    Ok(())
}

/// Reads the identity from a DigiD assertion, response or artifact response.
pub fn parse(input: &[u8]) -> Result<DigidIdentity, DigidError> {
    let mut el = xml::parse(input, MAX_BYTES)?;
    if el.ns == SOAP_NS && el.name == "Envelope" {
        let body = el
            .children
            .into_iter()
            .find(|c| c.ns == SOAP_NS && c.name == "Body")
            .ok_or_else(|| MappingError::missing("Envelope/Body"))?;
        el = body
            .children
            .into_iter()
            .next()
            .ok_or_else(|| MappingError::missing("Envelope/Body/*"))?;
    }
    if el.ns == SAMLP_NS && el.name == "ArtifactResponse" {
        check_status(&el, "ArtifactResponse")?;
        el = el
            .children
            .into_iter()
            .find(|c| c.ns == SAMLP_NS && c.name == "Response")
            .ok_or_else(|| MappingError::missing("ArtifactResponse/Response"))?;
    }
    if el.ns == SAMLP_NS && el.name == "Response" {
        check_status(&el, "Response")?;
        el = el
            .children
            .into_iter()
            .find(|c| c.ns == SAML_NS && c.name == "Assertion")
            .ok_or_else(|| MappingError::missing("Response/Assertion"))?;
    }
    if el.name != "Assertion" {
        return Err(MappingError::invalid(
            &el.name,
            "expected Assertion, Response or ArtifactResponse",
        )
        .into());
    }
    el.expect_ns(SAML_NS)?;
    Ok(read_assertion(&el)?)
}

fn read_assertion(a: &Element) -> Result<DigidIdentity, MappingError> {
    let issuer = find(a, SAML_NS, "Issuer")
        .map(|i| i.text.clone())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| MappingError::missing("Assertion/Issuer"))?;
    let assertion_id = a
        .attr("ID")
        .ok_or_else(|| MappingError::missing("Assertion/@ID"))?
        .to_owned();
    let subject =
        find(a, SAML_NS, "Subject").ok_or_else(|| MappingError::missing("Assertion/Subject"))?;
    let name_id = find(subject, SAML_NS, "NameID")
        .ok_or_else(|| MappingError::missing("Assertion/Subject/NameID"))?;
    let (sector, number) = name_id.text.split_once(':').ok_or_else(|| {
        MappingError::invalid("Assertion/Subject/NameID", "expected <sector>:<number>")
    })?;
    if sector != BSN_SECTOR {
        return Err(MappingError::invalid(
            "Assertion/Subject/NameID",
            "the sector code is not s00000000 (BSN)",
        ));
    }
    let bsn: Bsn = number
        .parse()
        .map_err(|e| MappingError::id("Assertion/Subject/NameID", e))?;
    let authn = find(a, SAML_NS, "AuthnStatement")
        .ok_or_else(|| MappingError::missing("Assertion/AuthnStatement"))?;
    let class_ref = find(authn, SAML_NS, "AuthnContext")
        .and_then(|c| find(c, SAML_NS, "AuthnContextClassRef"))
        .map(|c| c.text.as_str())
        .ok_or_else(|| {
            MappingError::missing("Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef")
        })?;
    let niveau = Niveau::from_class_ref(
        "Assertion/AuthnStatement/AuthnContext/AuthnContextClassRef",
        class_ref,
    )?;
    let not_on_or_after = find(a, SAML_NS, "Conditions")
        .and_then(|c| c.attr("NotOnOrAfter"))
        .map(|t| time("Assertion/Conditions/@NotOnOrAfter", t))
        .transpose()?;
    Ok(DigidIdentity {
        bsn,
        niveau,
        issuer,
        assertion_id,
        authn_instant: authn
            .attr("AuthnInstant")
            .map(|t| time("Assertion/AuthnStatement/@AuthnInstant", t))
            .transpose()?,
        not_on_or_after,
        session_index: authn.attr("SessionIndex").map(str::to_owned),
    })
}

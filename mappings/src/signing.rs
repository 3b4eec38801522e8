//! Signing provider (Signhost-style REST JSON, domain.md §6): the create-transaction request
//! Knooppunt sends for an OOK or BPVO, and the transaction status / postback (callback) it
//! receives, with status codes 5–70 → `RecordSigningStatus`.
//!
//! The transaction `Reference` carries what is signed (`ook:<uuid>` or `bpv:<uuid>`), so a
//! postback maps to a command without a lookup. Checking the postback's checksum/authenticity is
//! the adapter's job (it holds the shared secret). Rules: `docs/partners/signing.md`.

use chrono::{DateTime, Utc};
use knooppunt_registry::domain::{BpvId, Command, OokId, SigningStatus, SigningSubject};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::MappingError;
use crate::rio::check_len;
use crate::xml::guard;

/// Largest status/postback body accepted.
pub const MAX_BYTES: usize = 256 * 1024;

/// The `Reference` of a transaction for a subject.
pub fn reference(subject: &SigningSubject) -> String {
    match subject {
        SigningSubject::Ook(id) => format!("ook:{}", id.0),
        SigningSubject::Bpv(id) => format!("bpv:{}", id.0),
    }
}

/// The subject of a `Reference`.
pub fn subject_of(field: &str, reference: &str) -> Result<SigningSubject, MappingError> {
    let bad = || MappingError::invalid(field, "expected ook:<uuid> or bpv:<uuid>");
    let (kind, id) = reference.split_once(':').ok_or_else(bad)?;
    if id.len() != 36 {
        return Err(bad());
    }
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    match kind {
        "ook" => Ok(SigningSubject::Ook(OokId(id))),
        "bpv" => Ok(SigningSubject::Bpv(BpvId(id))),
        _ => Err(bad()),
    }
}

/// One signer in a create request. Holds personal data: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// Our id for the signer's role, e.g. `student`, `ouder`, `instelling`, `leerbedrijf`.
    pub rol: String,
    /// E-mail address the provider invites (invite flow). `None`: the direct flow — the provider
    /// sends no invitation and returns a sign URL per signer, which Knooppunt hands to the signer
    /// itself, so it needs no contact data.
    pub email: Option<String>,
    /// Where the provider sends the signer back.
    pub return_url: String,
    /// Whether the signer must identify with iDIN (parents) instead of plain e-mail.
    pub idin: bool,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("rol", &self.rol)
            .finish_non_exhaustive()
    }
}

/// A create-transaction request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTransaction {
    /// What is signed.
    pub subject: SigningSubject,
    /// Where the provider posts status changes.
    pub postback_url: String,
    /// Signers, in signing order.
    pub signers: Vec<Signer>,
    /// Days until the transaction expires (status 50).
    pub days_to_expire: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireCreate<'a> {
    reference: String,
    postback_url: &'a str,
    days_to_expire: u16,
    send_email_notifications: bool,
    signers: Vec<WireSigner<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireSigner<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    return_url: &'a str,
    send_sign_request: bool,
    verifications: Vec<WireVerification>,
}

#[derive(Serialize)]
struct WireVerification {
    #[serde(rename = "Type")]
    soort: &'static str,
}

/// An https URL, or plain http on loopback (the sandbox, where Knooppunt's receiver and the
/// simulator share the machine).
fn check_url(field: &str, url: &str) -> Result<(), MappingError> {
    check_len(field, url, 2048)?;
    let loopback = [
        "http://127.0.0.1:",
        "http://127.0.0.1/",
        "http://localhost:",
    ]
    .iter()
    .any(|p| url.starts_with(p));
    if !(url.starts_with("https://") || loopback)
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(MappingError::invalid(field, "expected an https URL"));
    }
    Ok(())
}

/// Writes the create-transaction request body.
pub fn write_create(t: &CreateTransaction) -> Result<String, MappingError> {
    check_url("PostbackUrl", &t.postback_url)?;
    if t.signers.is_empty() {
        return Err(MappingError::missing("Signers"));
    }
    if !(1..=90).contains(&t.days_to_expire) {
        return Err(MappingError::invalid("DaysToExpire", "1 to 90 days"));
    }
    let mut signers = Vec::new();
    for (i, s) in t.signers.iter().enumerate() {
        let f = |n: &str| format!("Signers[{i}].{n}");
        if s.rol.is_empty() || !s.rol.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(MappingError::invalid(f("Id"), "a role name in lower case"));
        }
        if let Some(email) = &s.email {
            check_len(&f("Email"), email, 254)?;
            let at = email.find('@');
            if at.is_none_or(|p| p == 0 || p + 1 >= email.len())
                || email.contains(char::is_whitespace)
            {
                return Err(MappingError::invalid(f("Email"), "not an e-mail address"));
            }
        }
        check_url(&f("ReturnUrl"), &s.return_url)?;
        signers.push(WireSigner {
            id: &s.rol,
            email: s.email.as_deref(),
            return_url: &s.return_url,
            send_sign_request: s.email.is_some(),
            verifications: vec![WireVerification {
                soort: if s.idin { "iDIN" } else { "Scribble" },
            }],
        });
    }
    let wire = WireCreate {
        reference: reference(&t.subject),
        postback_url: &t.postback_url,
        days_to_expire: t.days_to_expire,
        send_email_notifications: t.signers.iter().any(|s| s.email.is_some()),
        signers,
    };
    serde_json::to_string_pretty(&wire).map_err(|e| MappingError::Unsupported(e.to_string()))
}

/// A transaction as the provider reports it (status answer or postback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionStatus {
    /// Provider transaction id.
    pub transactie: String,
    /// What is signed.
    pub subject: SigningSubject,
    /// Status.
    pub status: SigningStatus,
    /// Signers that signed, by role, with the time.
    pub getekend: Vec<(String, DateTime<Utc>)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireStatus {
    id: Option<String>,
    status: Option<u16>,
    reference: Option<String>,
    #[serde(default)]
    signers: Vec<WireSignerStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireSignerStatus {
    id: Option<String>,
    signed_date_time: Option<DateTime<Utc>>,
}

/// Reads a status answer or a postback body (the same transaction JSON).
pub fn parse_status(input: &[u8]) -> Result<TransactionStatus, MappingError> {
    let text = guard(input, MAX_BYTES)?;
    let w: WireStatus = serde_json::from_str(text).map_err(|e| MappingError::Malformed {
        format: "JSON",
        position: format!("line {} column {}", e.line(), e.column()),
        reason: e.to_string(),
    })?;
    let transactie =
        w.id.filter(|s| !s.trim().is_empty())
            .ok_or_else(|| MappingError::missing("Id"))?;
    check_len("Id", &transactie, 64)?;
    if !transactie
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(MappingError::invalid("Id", "letters, digits and '-' only"));
    }
    let code = w.status.ok_or_else(|| MappingError::missing("Status"))?;
    let status =
        SigningStatus::try_from(code).map_err(|e| MappingError::invalid("Status", e.reason))?;
    let subject = subject_of(
        "Reference",
        &w.reference
            .ok_or_else(|| MappingError::missing("Reference"))?,
    )?;
    let mut getekend = Vec::new();
    for (i, s) in w.signers.into_iter().enumerate() {
        if let Some(t) = s.signed_date_time {
            let rol =
                s.id.ok_or_else(|| MappingError::missing(format!("Signers[{i}].Id")))?;
            check_len(&format!("Signers[{i}].Id"), &rol, 64)?;
            getekend.push((rol, t));
        }
    }
    Ok(TransactionStatus {
        transactie,
        subject,
        status,
        getekend,
    })
}

/// The registry command.
pub fn to_command(s: &TransactionStatus) -> Command {
    Command::RecordSigningStatus {
        transactie: s.transactie.clone(),
        subject: s.subject,
        status: s.status,
    }
}

//! The chain partners Knooppunt exchanges with, as a closed type.
//!
//! *Architecture invariant:* a partner is a [`Partner`], never a free string. Rules compare
//! variants, so a misspelt partner fails to compile instead of silently denying; a name from
//! outside (a configuration key, a stored actor) is parsed once, with [`Partner::from_str`] or
//! serde, and an unknown name is refused there. What each partner may read and change is the
//! access policy's business ([`crate::policy::partner_rights`]): an adapter cannot grant itself
//! access.
//!
//! The wire name ([`Partner::as_str`]) is what queues, metric labels, audit records, the
//! configuration (`[partners.<name>]`) and stored actors use; it never changes for a partner.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A chain partner of Knooppunt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partner {
    /// DUO: persons (BRP/ROD), BRON deliveries and their feedback.
    Duo,
    /// SBB: recognition of leerbedrijven.
    Sbb,
    /// RIO: the register of institutions and opleidingen (reference data; no dossier access).
    Rio,
    /// The digital-signing provider.
    Signing,
    /// DigiD: authentication of students and parents (no dossier access of its own).
    Digid,
    /// Central aanmelding (CAMBO).
    Cambo,
    /// OSO: the overstapdossier from the sending school.
    Oso,
    /// The mbo koppelpunt of the VVA (VA statuses).
    Koppelpunt,
    /// The regional overstapsysteem Intergrip (VA statuses).
    Intergrip,
    /// The regional overstapsysteem Digidoor (VA statuses).
    Digidoor,
    /// The regional overstapsysteem Voroc (VA statuses).
    Voroc,
    /// The koppelpunt gemeenten (VA statuses for the municipality).
    Gemeenten,
}

impl Partner {
    /// Every partner, in declaration order.
    pub const ALL: [Partner; 12] = [
        Self::Duo,
        Self::Sbb,
        Self::Rio,
        Self::Signing,
        Self::Digid,
        Self::Cambo,
        Self::Oso,
        Self::Koppelpunt,
        Self::Intergrip,
        Self::Digidoor,
        Self::Voroc,
        Self::Gemeenten,
    ];

    /// The wire name: lowercase, e.g. `"duo"`, `"intergrip"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duo => "duo",
            Self::Sbb => "sbb",
            Self::Rio => "rio",
            Self::Signing => "signing",
            Self::Digid => "digid",
            Self::Cambo => "cambo",
            Self::Oso => "oso",
            Self::Koppelpunt => "koppelpunt",
            Self::Intergrip => "intergrip",
            Self::Digidoor => "digidoor",
            Self::Voroc => "voroc",
            Self::Gemeenten => "gemeenten",
        }
    }

    /// Whether the partner receives VA aanmeldstatussen (and may report a refused one,
    /// `Command::RecordVaAfwijzing`).
    pub fn is_va_recipient(self) -> bool {
        match self {
            Self::Koppelpunt | Self::Intergrip | Self::Digidoor | Self::Voroc | Self::Gemeenten => {
                true
            }
            Self::Duo
            | Self::Sbb
            | Self::Rio
            | Self::Signing
            | Self::Digid
            | Self::Cambo
            | Self::Oso => false,
        }
    }
}

impl fmt::Display for Partner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that widths such as `{:<11}` apply.
        f.pad(self.as_str())
    }
}

/// A name that is not one of [`Partner::ALL`]. It does not repeat the name (it may come from
/// anywhere); it lists the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a known partner (one of: {})", known())]
pub struct UnknownPartner;

fn known() -> String {
    Partner::ALL.map(Partner::as_str).join(", ")
}

impl FromStr for Partner {
    type Err = UnknownPartner;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(UnknownPartner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_through_str_and_serde() {
        for p in Partner::ALL {
            assert_eq!(p.as_str().parse::<Partner>(), Ok(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Partner>(&json).unwrap(), p);
        }
    }

    #[test]
    fn unknown_names_are_refused_without_echoing_them() {
        for name in ["facebook", "", "DUO", " duo", "koppelpunt-gemeenten"] {
            let err = name.parse::<Partner>().unwrap_err();
            let text = err.to_string();
            assert!(text.contains("duo, sbb"), "{text}");
            assert!(serde_json::from_str::<Partner>(&format!("\"{name}\"")).is_err());
        }
    }

    #[test]
    fn an_unknown_name_is_not_repeated_in_the_error() {
        let text = "facebook".parse::<Partner>().unwrap_err().to_string();
        assert!(!text.contains("facebook"), "{text}");
    }

    #[test]
    fn the_va_recipients_are_the_five_of_level_va() {
        let va: Vec<_> = Partner::ALL
            .into_iter()
            .filter(|p| p.is_va_recipient())
            .map(Partner::as_str)
            .collect();
        assert_eq!(
            va,
            ["koppelpunt", "intergrip", "digidoor", "voroc", "gemeenten"]
        );
    }
}

//! OSO overstapdossier (Edustandaard OSO gegevensset 2019.1, namespace [`NS`]) from the sending
//! school → the dossier's doorstroom part: `AttachOverstapdossier` with a summary and the
//! SHA-256 of the document. The document itself is not kept (it holds much personal data and
//! stays with the sender / the institution that was granted consent).
//!
//! What is read: `metadata/overstap` (codelijst 16 soort overstap), `metadata/standaardversie`,
//! `huidigeschool/brincode`, `huidigeschool/leerling/bsn` (so the adapter can check the dossier belongs to the
//! student it is attached to) and which blocks are present. Rules: `docs/partners/oso.md`.

use std::collections::BTreeSet;

use knooppunt_registry::domain::{Command, ContentHash, OverstapSamenvatting};
use knooppunt_registry::ids::{Brin, Bsn};
use serde::{Deserialize, Serialize};

use crate::error::MappingError;
use crate::xml::{self, Element};

/// Namespace of the OSO gegevensset 2019.
pub const NS: &str = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier";
/// Largest dossier accepted (dossiers may carry base64 attachments).
pub const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Containers inside `leerling` that are details of the student, not blocks of the dossier.
const NOT_BLOCKS: [&str; 4] = ["adreslijst", "communicatielijst", "gba", "metadata"];

/// A read overstapdossier. Holds a BSN: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsoDossier {
    /// The sending school (instelling BRIN).
    pub school: Brin,
    /// The student's BSN, when the dossier carries one.
    pub bsn: Option<Bsn>,
    /// Summary for the registry.
    pub samenvatting: OverstapSamenvatting,
    /// SHA-256 of the document as received.
    pub content_hash: ContentHash,
}

impl std::fmt::Debug for OsoDossier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsoDossier")
            .field("school", &self.school)
            .field("samenvatting", &self.samenvatting)
            .field("content_hash", &self.content_hash)
            .finish_non_exhaustive()
    }
}

fn complex_children(e: &Element, out: &mut BTreeSet<String>) {
    for c in &e.children {
        if !c.children.is_empty() && !NOT_BLOCKS.contains(&c.name.as_str()) {
            out.insert(c.name.clone());
        }
    }
}

/// Reads an overstapdossier. The structure must be namespace-correct; full schema validation
/// (xmllint against the 2019.1 XSD) is the adapter's optional extra step.
pub fn parse(input: &[u8]) -> Result<OsoDossier, MappingError> {
    let root = xml::parse(input, MAX_BYTES)?;
    root.expect_ns(NS)?;
    if root.name != "dossier" {
        return Err(MappingError::invalid(
            &root.name,
            "expected the element dossier",
        ));
    }
    let meta = root
        .child("metadata")
        .ok_or_else(|| MappingError::missing("dossier/metadata"))?;
    meta.expect_ns(NS)?;
    let soort_overstap = meta.require("dossier/metadata", "overstap")?;
    if soort_overstap.len() > 10 || !soort_overstap.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(MappingError::invalid(
            "dossier/metadata/overstap",
            "expected a code of codelijst 16 (e.g. VOMBO)",
        ));
    }
    let gegevensset = meta.require("dossier/metadata", "standaardversie")?;
    if gegevensset.len() > 20 {
        return Err(MappingError::invalid(
            "dossier/metadata/standaardversie",
            "too long",
        ));
    }
    let school_el = root
        .child("huidigeschool")
        .ok_or_else(|| MappingError::missing("dossier/huidigeschool"))?;
    school_el.expect_ns(NS)?;
    let school: Brin = school_el
        .require("dossier/huidigeschool", "brincode")?
        .parse()
        .map_err(|e| MappingError::id("dossier/huidigeschool/brincode", e))?;
    let mut blokken = BTreeSet::new();
    complex_children(&root, &mut blokken);
    complex_children(school_el, &mut blokken);
    let mut bsn = None;
    // In 2019.1 the leerling sits inside huidigeschool.
    if let Some(l) = school_el
        .child("leerling")
        .or_else(|| root.child("leerling"))
    {
        l.expect_ns(NS)?;
        complex_children(l, &mut blokken);
        if let Some(b) = l.text_of("bsn") {
            bsn = Some(
                b.parse::<Bsn>()
                    .map_err(|e| MappingError::id("dossier/huidigeschool/leerling/bsn", e))?,
            );
        }
    }
    Ok(OsoDossier {
        school: school.instelling(),
        bsn,
        samenvatting: OverstapSamenvatting {
            soort_overstap: soort_overstap.to_owned(),
            gegevensset: gegevensset.to_owned(),
            blokken,
        },
        content_hash: ContentHash::of(input),
    })
}

/// The registry command.
pub fn to_command(d: &OsoDossier) -> Command {
    Command::AttachOverstapdossier {
        school: d.school.clone(),
        samenvatting: d.samenvatting.clone(),
        content_hash: d.content_hash.clone(),
    }
}

//! Reference data the registry's rules look up: institutions, aangeboden opleidingen with their
//! cohorts (from RIO), sending schools with their regional system, municipalities.
//!
//! SKELETON — to be completed by the registry-domain work (see issue 2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::Brin;

/// A snapshot of reference data. Small (hundreds of institutions, thousands of opleidingen), so
/// the registry holds it in memory and the store persists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceData {
    /// Institutions by BRIN (instelling level).
    pub institutions: BTreeMap<Brin, serde_json::Value>,
}

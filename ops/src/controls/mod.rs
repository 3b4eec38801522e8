//! Runtime controls: what operators change about a partner's delivery while Knooppunt runs —
//! maintenance windows, shadow mode (partner-wide and per institution) and the rate limit. The
//! configuration gives the start state; operator *overrides* go on top of it
//! ([`ConfiguredControls::with`]), are stored ([`ControlStore`]: memory or PostgreSQL, where
//! every node of a deployment reads them) and every change is audited with the operator's name,
//! role and reason in the same step ([`RuntimeControls`]).
//!
//! *Invariant:* controls hold partner (consumer) names, BRINs (institution codes), times and
//! rates only — no personal data; the operator's reason follows the audit trail's rules (no
//! BSN).

mod memory;
mod pg;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use knooppunt_registry::ids::Brin;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::OpsError;
use crate::audit::{AuditEntry, Hop};

pub use memory::MemoryControlStore;
pub use pg::PgControlStore;

/// At most this many operator maintenance windows per partner (ended ones are dropped).
pub const MAX_WINDOWS: usize = 50;
/// At most this many institutions with a shadow override per partner.
pub const MAX_INSTITUTIONS: usize = 500;
/// The largest rate limit an operator may set (attempts per second) and the largest burst.
pub const MAX_RATE: f64 = 10_000.0;

/// A token-bucket rate limit: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Sustained attempts per second (> 0).
    pub per_second: f64,
    /// Attempts that may go at once after a quiet period (≥ 1).
    pub burst: u32,
}

/// A maintenance window an operator added: `[start, end)` in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorWindow {
    /// The window's id (to remove it).
    pub id: Uuid,
    /// First moment of the window.
    pub start: DateTime<Utc>,
    /// First moment after the window.
    pub end: DateTime<Utc>,
    /// The operator who added it.
    pub added_by: String,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}

/// One partner's operator overrides. Empty: the configuration holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartnerOverrides {
    /// Maintenance windows added at runtime (on top of the configured ones).
    pub windows: Vec<OperatorWindow>,
    /// Partner-wide shadow mode: `Some` overrides the configured flag.
    pub shadow: Option<bool>,
    /// Per institution (BRIN, instelling level): `true` shadows the partner's messages about
    /// that institution, `false` sends them although the configuration shadows them.
    pub shadow_institutions: BTreeMap<Brin, bool>,
    /// The rate limit: `Some` replaces the configured one.
    pub rate_limit: Option<Rate>,
}

impl PartnerOverrides {
    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Drops operator windows that ended before `now`.
    fn forget_ended(&mut self, now: DateTime<Utc>) {
        self.windows.retain(|w| w.end > now);
    }
}

/// What the configuration says about a partner's controls (the start state).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfiguredControls {
    /// Configured maintenance windows (`start`, `end`).
    pub windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Configured shadow mode.
    pub shadow: bool,
    /// Configured shadowed institutions (BRIN, instelling level).
    pub shadow_institutions: BTreeSet<Brin>,
    /// Configured rate limit.
    pub rate_limit: Option<Rate>,
}

/// Where a control's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The configuration file.
    Configuration,
    /// An operator, at runtime.
    Operator,
}

/// A maintenance window in force (configured or added by an operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveWindow {
    /// The operator window's id (`None` for a configured window, which cannot be removed at
    /// runtime).
    pub id: Option<Uuid>,
    /// First moment of the window.
    pub start: DateTime<Utc>,
    /// First moment after the window.
    pub end: DateTime<Utc>,
    /// Where it comes from.
    pub source: Source,
    /// The operator who added it.
    pub added_by: Option<String>,
}

/// An institution whose messages the partner gets in shadow mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowedInstitution {
    /// The BRIN (instelling level).
    pub brin: Brin,
    /// Where it comes from.
    pub source: Source,
}

/// The controls in force for one partner, and where each comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectiveControls {
    /// Maintenance windows, by start.
    pub maintenance: Vec<EffectiveWindow>,
    /// Partner-wide shadow mode.
    pub shadow: bool,
    /// Where `shadow` comes from.
    pub shadow_source: Source,
    /// Institutions in shadow mode (besides a partner-wide shadow).
    pub shadow_institutions: Vec<ShadowedInstitution>,
    /// Institutions the configuration shadows but an operator set live.
    pub live_institutions: Vec<Brin>,
    /// The rate limit, `None` for none.
    pub rate_limit: Option<Rate>,
    /// Where `rate_limit` comes from.
    pub rate_limit_source: Source,
}

impl EffectiveControls {
    /// Whether messages about `institution` are sent in shadow mode.
    pub fn shadows(&self, institution: Option<&Brin>) -> bool {
        self.shadow
            || institution.is_some_and(|b| {
                let b = b.instelling();
                self.shadow_institutions.iter().any(|s| s.brin == b)
            })
    }
}

impl ConfiguredControls {
    /// The controls in force: these with `overrides` on top.
    pub fn with(&self, overrides: &PartnerOverrides) -> EffectiveControls {
        let mut maintenance: Vec<EffectiveWindow> = self
            .windows
            .iter()
            .map(|(start, end)| EffectiveWindow {
                id: None,
                start: *start,
                end: *end,
                source: Source::Configuration,
                added_by: None,
            })
            .chain(overrides.windows.iter().map(|w| EffectiveWindow {
                id: Some(w.id),
                start: w.start,
                end: w.end,
                source: Source::Operator,
                added_by: Some(w.added_by.clone()),
            }))
            .collect();
        maintenance.sort_by_key(|w| (w.start, w.end));
        let mut institutions: BTreeMap<Brin, Source> = self
            .shadow_institutions
            .iter()
            .map(|b| (b.instelling(), Source::Configuration))
            .collect();
        let mut live = Vec::new();
        for (brin, on) in &overrides.shadow_institutions {
            if *on {
                institutions.insert(brin.clone(), Source::Operator);
            } else if institutions.remove(brin).is_some() {
                live.push(brin.clone());
            }
        }
        EffectiveControls {
            maintenance,
            shadow: overrides.shadow.unwrap_or(self.shadow),
            shadow_source: source_of(overrides.shadow.is_some()),
            shadow_institutions: institutions
                .into_iter()
                .map(|(brin, source)| ShadowedInstitution { brin, source })
                .collect(),
            live_institutions: live,
            rate_limit: overrides.rate_limit.or(self.rate_limit),
            rate_limit_source: source_of(overrides.rate_limit.is_some()),
        }
    }
}

fn source_of(overridden: bool) -> Source {
    if overridden {
        Source::Operator
    } else {
        Source::Configuration
    }
}

/// One change an operator asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ControlChange {
    /// Adds a maintenance window.
    AddWindow {
        /// The new window's id.
        id: Uuid,
        /// First moment.
        start: DateTime<Utc>,
        /// First moment after.
        end: DateTime<Utc>,
    },
    /// Removes an operator's maintenance window (a configured one cannot be removed).
    RemoveWindow {
        /// The window's id.
        id: Uuid,
    },
    /// Sets partner-wide shadow mode on or off, overriding the configuration.
    SetShadow {
        /// On or off.
        on: bool,
    },
    /// Back to the configured partner-wide shadow mode.
    ClearShadow,
    /// Sets shadow mode for one institution's messages on or off.
    SetInstitutionShadow {
        /// The institution (BRIN; kept at instelling level).
        brin: Brin,
        /// On or off.
        on: bool,
    },
    /// Back to the configured shadow mode for one institution.
    ClearInstitutionShadow {
        /// The institution.
        brin: Brin,
    },
    /// Sets the rate limit, overriding the configuration.
    SetRateLimit {
        /// The limit.
        rate: Rate,
    },
    /// Back to the configured rate limit.
    ClearRateLimit,
}

impl ControlChange {
    /// The action's code in the audit trail (`status`, before the role).
    pub fn code(&self) -> &'static str {
        match self {
            Self::AddWindow { .. } => "maintenance.add",
            Self::RemoveWindow { .. } => "maintenance.remove",
            Self::SetShadow { on: true } => "shadow.on",
            Self::SetShadow { on: false } => "shadow.off",
            Self::ClearShadow => "shadow.clear",
            Self::SetInstitutionShadow { on: true, .. } => "shadow.institution.on",
            Self::SetInstitutionShadow { on: false, .. } => "shadow.institution.off",
            Self::ClearInstitutionShadow { .. } => "shadow.institution.clear",
            Self::SetRateLimit { .. } => "rate_limit.set",
            Self::ClearRateLimit => "rate_limit.clear",
        }
    }

    /// Checks the change's own values at `now`; the error names the field.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), OpsError> {
        match self {
            Self::AddWindow { start, end, .. } => {
                if end <= start {
                    return Err(invalid("end", "must be after start"));
                }
                if *end <= now {
                    return Err(invalid("end", "must be in the future"));
                }
            }
            Self::SetRateLimit { rate } => {
                if !rate.per_second.is_finite()
                    || rate.per_second <= 0.0
                    || rate.per_second > MAX_RATE
                {
                    return Err(invalid(
                        "per_second",
                        "must be a number above 0, at most 10000",
                    ));
                }
                if rate.burst == 0 || f64::from(rate.burst) > MAX_RATE {
                    return Err(invalid("burst", "must be 1–10000"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies the change to `o` at `now`, by `actor`. `false` when the change concerns
    /// something that does not exist (an unknown window id): nothing changed.
    pub fn apply(
        &self,
        o: &mut PartnerOverrides,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, OpsError> {
        o.forget_ended(now);
        match self {
            Self::AddWindow { id, start, end } => {
                if o.windows.len() >= MAX_WINDOWS {
                    return Err(invalid(
                        "maintenance",
                        "too many operator windows (at most 50)",
                    ));
                }
                o.windows.push(OperatorWindow {
                    id: *id,
                    start: *start,
                    end: *end,
                    added_by: actor.to_owned(),
                    added_at: now,
                });
            }
            Self::RemoveWindow { id } => {
                let before = o.windows.len();
                o.windows.retain(|w| w.id != *id);
                if o.windows.len() == before {
                    return Ok(false);
                }
            }
            Self::SetShadow { on } => o.shadow = Some(*on),
            Self::ClearShadow => o.shadow = None,
            Self::SetInstitutionShadow { brin, on } => {
                let brin = brin.instelling();
                if !o.shadow_institutions.contains_key(&brin)
                    && o.shadow_institutions.len() >= MAX_INSTITUTIONS
                {
                    return Err(invalid(
                        "brin",
                        "too many institution overrides (at most 500)",
                    ));
                }
                o.shadow_institutions.insert(brin, *on);
            }
            Self::ClearInstitutionShadow { brin } => {
                o.shadow_institutions.remove(&brin.instelling());
            }
            Self::SetRateLimit { rate } => o.rate_limit = Some(*rate),
            Self::ClearRateLimit => o.rate_limit = None,
        }
        Ok(true)
    }
}

fn invalid(field: &'static str, reason: &'static str) -> OpsError {
    OpsError::Invalid { field, reason }
}

/// Where operator overrides are kept; memory ([`MemoryControlStore`]) and PostgreSQL
/// ([`PgControlStore`], shared by every node on the database) behave the same.
#[async_trait]
pub trait ControlStore: Send + Sync {
    /// Every partner's overrides (partners without any are left out).
    async fn all(&self) -> Result<BTreeMap<String, PartnerOverrides>, OpsError>;
    /// One step, all or nothing: reads `partner`'s overrides, applies `change` (by `actor` at
    /// `now`), stores the result and appends `entry` (already validated) to the audit trail.
    /// `None` when the change concerns something that does not exist (nothing is stored or
    /// audited).
    async fn update(
        &self,
        partner: &str,
        change: &ControlChange,
        actor: &str,
        now: DateTime<Utc>,
        entry: AuditEntry,
    ) -> Result<Option<PartnerOverrides>, OpsError>;
}

/// Who changes a control: the operator's name and role, and why. All three go into the audit
/// trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlActor {
    /// The operator's name.
    pub name: String,
    /// The operator's role (`operator`, `admin`).
    pub role: String,
    /// Why (at most 500 characters, no BSN).
    pub reason: String,
}

/// Changes runtime controls: checks the change and the actor, then stores it with its audit
/// record in one step.
#[derive(Clone)]
pub struct RuntimeControls {
    store: Arc<dyn ControlStore>,
}

impl std::fmt::Debug for RuntimeControls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeControls").finish_non_exhaustive()
    }
}

impl RuntimeControls {
    /// The service over `store`.
    pub fn new(store: Arc<dyn ControlStore>) -> Self {
        Self { store }
    }

    /// Every partner's overrides.
    pub async fn all(&self) -> Result<BTreeMap<String, PartnerOverrides>, OpsError> {
        self.store.all().await
    }

    /// The audit record of `change` to `partner` by `who`: chain `control:<partner>`, hop
    /// `control_changed`, the actor, `status` = `<action>:<role>`, the reason, and the SHA-256 of
    /// the change's JSON as `payload_hash`.
    pub fn entry(partner: &str, change: &ControlChange, who: &ControlActor) -> AuditEntry {
        let json = serde_json::to_vec(change).unwrap_or_default();
        AuditEntry::new(format!("control:{partner}"), Hop::ControlChanged)
            .partner(partner.to_owned())
            .actor(who.name.clone())
            .status(format!("{}:{}", change.code(), who.role))
            .reason(who.reason.clone())
            .payload(&json)
    }

    /// Checks `change` and `who`, then applies it to `partner`'s overrides and audits it, in one
    /// step. `None` when the change concerns something that does not exist.
    pub async fn change(
        &self,
        partner: &str,
        change: &ControlChange,
        who: &ControlActor,
    ) -> Result<Option<PartnerOverrides>, OpsError> {
        let now = Utc::now();
        if who.name.trim().is_empty() {
            return Err(invalid("actor", "an operator name is required"));
        }
        if who.reason.trim().is_empty() {
            return Err(invalid("reason", "a reason is required"));
        }
        change.validate(now)?;
        let entry = Self::entry(partner, change, who);
        entry.validate()?;
        let changed = self
            .store
            .update(partner, change, &who.name, now, entry)
            .await?;
        if changed.is_some() {
            tracing::info!(partner, action = change.code(), actor = %who.name, "runtime control changed");
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests;

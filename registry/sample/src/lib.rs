//! Sample data, for the sandbox, the demos and the tests; none of it is real.
//!
//! - [`reference`]: reference data (institutions, opleidingen, cohorts, VO schools, gemeenten,
//!   regional systems) and the RIO ids of the sample opleidingen.
//! - [`journey`]: one student's journey through memo steps a–f as registry commands, runnable on
//!   any store (`knooppunt demo registry`), and a one-screen summary of a dossier.
//! - [`students`]: the sandbox's students, whose personal data the sandbox records as DUO would.
//! - [`reports`]: a known set of dossiers for the tests of the sector reports.
//!
//! The BSNs are from the test range (`999990019`) or the textbook 11-proef example
//! (`111222333`); names, BRIN and RIO codes are invented. A production node depends on this crate
//! only through the binary's `sandbox` feature, and never uses it with a configured store
//! (`docs/ARCHITECTURE.md`).

pub mod journey;
pub mod reference;
pub mod reports;
pub mod students;

pub use journey::{
    AANMELDING, BPV, DemoError, DemoReport, DemoStep, OOK, StepReport, demo_person, journey, run,
    summary,
};
pub use reference::{
    DIERVERZORGING, ENTREE, MEDIAVORMGEVER, SOFTWARE_DEVELOPER, TIMMERMAN, VERZORGENDE_IG,
    reference_data,
};
pub use reports::{ReportFixture, seed_report_students};
pub use students::{SampleStudent, seed_students};

//! DUO's registratieoverzicht (RO): a multi-record CSV of every inschrijving and diploma of an
//! institution in a selection period (`domain.md` §1.4; demo
//! `shared/specs/duo-ro-demo_RO_27DV_20240731_20260324.csv`; column layouts from
//! cedanl/mbo-bekostiging-bestanden `docs/recordtypes/*.md`). Used for the bulk import of an
//! institution moving to level `krd` (`design.md` §2).
//!
//! The file can be large (tens of thousands of persons), so it is read as a stream:
//! [`RoReader`] yields one typed record per line from any [`BufRead`](std::io::BufRead), and
//! [`RoPersonen`] groups them per person. Checks: the first record is `VLP`, the separator is
//! `|` (PvE) or `;` (seen in practice), every record type has its exact column count, every line
//! is UTF-8 and at most [`MAX_LINE_BYTES`], child records belong to the preceding
//! `PER`/`ISG`/`DIP`, and the `SLR` trailer's counts equal the records read (a mismatch is an
//! error naming the count).
//!
//! Parts: `records` (the record types and the line writer), `reader` (the line reader, on the
//! DUO line reader it shares with GRONDSLAG: `duo::lines`), `persons` (grouping per person)
//! and `import` (the bulk-import commands).

mod import;
mod persons;
mod reader;
mod records;

pub use import::{ImportContext, RoImport, import_commands};
pub use persons::{RoDiploma, RoInschrijving, RoLosResultaat, RoPersonen, RoPersoon, open};
pub use reader::{MAX_LINE_BYTES, RoReader, parse_ro_date};
pub use records::{
    DiplomaRef, LosResultaat, RoAmo, RoBpv, RoCounts, RoDip, RoGeo, RoIse, RoIsg, RoIsp, RoKzd,
    RoPer, RoRecord, RoVlp,
};

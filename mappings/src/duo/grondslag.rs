//! GRONDSLAG IP MBO: DUO's pseudonymised funding-basis file (`domain.md` §1.4; demo
//! `shared/specs/duo-grondslag-ip-mbo-demo_27DV_20251119_2025.csv`; layouts from
//! cedanl/mbo-bekostiging-bestanden `docs/recordtypes/*.md`, GRONDSLAG variants).
//!
//! `;`-separated, dates `ccyymmdd`, a pseudonym (PGN) instead of the BSN, so nothing here can be
//! linked to a dossier: it is read for analysis and reconciliation only, and yields no commands.
//! Records are checked for their column count, BRIN and date fields; the `SLR` trailer's eleven
//! counts are checked against the records read. `BII` and `BID` records (not in the demo, layout
//! not public) are accepted with any column count of at least three. Lines are read and split by
//! the DUO line reader the RO uses too (`super::lines`); fields are named by position.

use std::io::BufRead;

use chrono::NaiveDate;
use knooppunt_registry::ids::Brin;
use serde::{Deserialize, Serialize};

use super::codes::{parse_date_compact, parse_uint};
use super::lines::{self, Bom, Columns, Fields, LineReader};
use crate::error::MappingError;

/// Longest line accepted.
pub const MAX_LINE_BYTES: usize = 4096;

/// Record types in SLR order.
pub const KINDS: [&str; 11] = [
    "PER", "ISG", "ISP", "ISE", "BPV", "BII", "DIP", "BID", "AMO", "GEO", "KZD",
];

/// The header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrondslagVlp {
    /// The institution.
    pub brin: Brin,
    /// Bekostigingsjaar.
    pub bekostigingsjaar: u32,
    /// When DUO made the file.
    pub aanmaakdatum: NaiveDate,
    /// Status of the file as DUO writes it (e.g. `V`).
    pub status: String,
}

/// One data record: its type, the pseudonym, and its fields (after the PGN) as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrondslagRecord {
    /// Record type (`PER`, `ISG`, …).
    pub kind: String,
    /// Line number.
    pub line: u64,
    /// Pseudonymised person number.
    pub pgn: String,
    /// The remaining fields.
    pub fields: Vec<String>,
}

/// What one line is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrondslagLine {
    /// The header.
    Vlp(GrondslagVlp),
    /// A data record.
    Record(GrondslagRecord),
    /// The trailer with its (checked) counts in [`KINDS`] order.
    Slr([u64; 11]),
}

/// Column count (including the record type) and the 0-based positions (after the record type)
/// of date fields and of the BRIN.
fn layout(kind: &str) -> Option<(Option<usize>, &'static [usize], Option<usize>)> {
    Some(match kind {
        "PER" => (Some(22), &[7, 8, 9], None),
        "ISG" => (Some(8), &[3, 4, 5], Some(1)),
        "ISP" => (Some(15), &[3, 4], Some(1)),
        "ISE" => (Some(6), &[3, 4], Some(1)),
        "BPV" => (Some(13), &[4, 5, 6, 7], Some(1)),
        "DIP" => (Some(9), &[4], Some(1)),
        "AMO" => (Some(10), &[6], Some(1)),
        "GEO" => (Some(15), &[11], Some(1)),
        "KZD" => (Some(11), &[7], Some(1)),
        "BII" | "BID" => (None, &[], Some(1)),
        _ => return None,
    })
}

/// Streams a GRONDSLAG file line by line; stops after the first error.
#[derive(Debug)]
pub struct GrondslagReader<R> {
    lines: LineReader<R>,
    frame: Frame,
    done: bool,
}

/// What the reader has seen so far: the header, the counts per kind, the trailer.
#[derive(Debug, Default)]
struct Frame {
    counts: [u64; 11],
    vlp: bool,
    slr: bool,
}

impl<R: BufRead> GrondslagReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        Self {
            // `;` only; a byte-order mark is not stripped, so a file starting with one is refused
            // (its first record type is not `VLP`).
            lines: LineReader::new(input, MAX_LINE_BYTES, Bom::Keep),
            frame: Frame::default(),
            done: false,
        }
    }

    fn next_line(&mut self) -> Result<Option<GrondslagLine>, MappingError> {
        let Some((line, text)) = self.lines.next_line()? else {
            return if self.frame.slr {
                Ok(None)
            } else {
                Err(MappingError::missing(format!(
                    "line {}/SLR",
                    self.lines.line() + 1
                )))
            };
        };
        if self.frame.slr {
            return Err(lines::after_trailer(line));
        }
        self.frame.parse(line, text).map(Some)
    }
}

impl Frame {
    fn parse(&mut self, line: u64, text: &str) -> Result<GrondslagLine, MappingError> {
        let (kind, fields) = lines::split(text, ';');
        // Column counts include the record type.
        let columns = fields.len() + 1;
        let f = Fields::new(line, kind, Columns::Numbered, fields);
        let count_err = |want: usize| lines::column_count(line, kind, want, columns);
        if !self.vlp {
            if kind != "VLP" {
                return Err(lines::not_vlp_first(line));
            }
            if columns != 5 {
                return Err(count_err(5));
            }
            self.vlp = true;
            return Ok(GrondslagLine::Vlp(GrondslagVlp {
                brin: f
                    .get(0)
                    .parse()
                    .map_err(|e| MappingError::id(f.path(0), e))?,
                bekostigingsjaar: parse_uint(&f.path(1), f.get(1), 4)?,
                aanmaakdatum: parse_date_compact(&f.path(2), f.get(2))?,
                status: f
                    .get(3)
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(4)
                    .collect(),
            }));
        }
        if kind == "SLR" {
            if columns != 12 {
                return Err(count_err(12));
            }
            let mut declared = [0u64; 11];
            for (i, d) in declared.iter_mut().enumerate() {
                *d = u64::from(parse_uint(&f.path(i), f.get(i), 10)?);
            }
            lines::check_trailer(line, &declared, &self.counts, &KINDS, |i| {
                format!("Aantal {}-records", KINDS[i])
            })?;
            self.slr = true;
            return Ok(GrondslagLine::Slr(declared));
        }
        let (cols, dates, brin) = layout(kind).ok_or_else(|| {
            MappingError::invalid(format!("line {line}/Recordsoort"), "unknown record type")
        })?;
        match cols {
            Some(c) if columns != c => return Err(count_err(c)),
            None if columns < 3 => return Err(count_err(3)),
            _ => {}
        }
        let pgn = f.get(0);
        if pgn.is_empty() || pgn.len() > 9 || !pgn.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(MappingError::invalid(
                f.path(0),
                "PGN must be 1 to 9 letters or digits",
            ));
        }
        if let Some(b) = brin {
            f.get(b)
                .parse::<Brin>()
                .map_err(|e| MappingError::id(f.path(b), e))?;
        }
        for &d in dates {
            let v = f.get(d);
            if !v.is_empty() {
                parse_date_compact(&f.path(d), v)?;
            }
        }
        if let Some(i) = KINDS.iter().position(|k| *k == kind) {
            self.counts[i] += 1;
        }
        Ok(GrondslagLine::Record(GrondslagRecord {
            kind: kind.to_owned(),
            line,
            pgn: pgn.to_owned(),
            fields: f.all().iter().skip(1).map(|s| (*s).to_owned()).collect(),
        }))
    }
}

impl<R: BufRead> Iterator for GrondslagReader<R> {
    type Item = Result<GrondslagLine, MappingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_line();
        crate::error::fuse(&mut self.done, next)
    }
}

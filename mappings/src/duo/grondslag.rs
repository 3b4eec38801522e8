//! GRONDSLAG IP MBO: DUO's pseudonymised funding-basis file (`domain.md` §1.4; demo
//! `shared/specs/duo-grondslag-ip-mbo-demo_27DV_20251119_2025.csv`; layouts from
//! cedanl/mbo-bekostiging-bestanden `docs/recordtypes/*.md`, GRONDSLAG variants).
//!
//! `;`-separated, dates `ccyymmdd`, a pseudonym (PGN) instead of the BSN, so nothing here can be
//! linked to a dossier: it is read for analysis and reconciliation only, and yields no commands.
//! Records are checked for their column count, BRIN and date fields; the `SLR` trailer's eleven
//! counts are checked against the records read. `BII` and `BID` records (not in the demo, layout
//! not public) are accepted with any column count of at least three.

use std::io::BufRead;

use chrono::NaiveDate;
use knooppunt_registry::ids::Brin;
use serde::{Deserialize, Serialize};

use super::codes::{parse_date_compact, parse_uint};
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
    input: R,
    buf: Vec<u8>,
    line: u64,
    offset: usize,
    counts: [u64; 11],
    vlp: bool,
    slr: bool,
    done: bool,
}

impl<R: BufRead> GrondslagReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::with_capacity(256),
            line: 0,
            offset: 0,
            counts: [0; 11],
            vlp: false,
            slr: false,
            done: false,
        }
    }

    fn next_line(&mut self) -> Result<Option<GrondslagLine>, MappingError> {
        loop {
            self.buf.clear();
            let limit = (MAX_LINE_BYTES + 2) as u64;
            let n = std::io::Read::take(&mut self.input, limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| MappingError::Malformed {
                    format: "CSV",
                    position: format!("line {}", self.line + 1),
                    reason: e.kind().to_string(),
                })?;
            if n == 0 {
                return if self.slr {
                    Ok(None)
                } else {
                    Err(MappingError::missing(format!("line {}/SLR", self.line + 1)))
                };
            }
            self.line += 1;
            let start = self.offset;
            self.offset += n;
            let mut bytes = &self.buf[..];
            let had_newline = bytes.ends_with(b"\n");
            if let Some(b) = bytes.strip_suffix(b"\n") {
                bytes = b;
            }
            if let Some(b) = bytes.strip_suffix(b"\r") {
                bytes = b;
            }
            if bytes.len() > MAX_LINE_BYTES || (!had_newline && n as u64 == limit) {
                return Err(MappingError::invalid(
                    format!("line {}", self.line),
                    format!("longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            let text = std::str::from_utf8(bytes).map_err(|e| MappingError::InvalidUtf8 {
                offset: start + e.valid_up_to(),
            })?;
            if text.is_empty() {
                continue;
            }
            if self.slr {
                return Err(MappingError::invalid(
                    format!("line {}", self.line),
                    "records after the SLR sluitrecord",
                ));
            }
            let text = text.to_owned();
            return self.parse(&text).map(Some);
        }
    }

    fn parse(&mut self, text: &str) -> Result<GrondslagLine, MappingError> {
        let line = self.line;
        let f: Vec<&str> = text.split(';').collect();
        let kind = f.first().copied().unwrap_or_default();
        let path = |i: usize| format!("line {line}/{kind}/field {}", i + 2);
        let count_err = |want: usize| {
            MappingError::invalid(
                format!("line {line}/{kind}"),
                format!(
                    "wrong column count: expected {want} columns, got {}",
                    f.len()
                ),
            )
        };
        if !self.vlp {
            if kind != "VLP" {
                return Err(MappingError::invalid(
                    format!("line {line}/Recordsoort"),
                    "the file must start with a VLP record",
                ));
            }
            if f.len() != 5 {
                return Err(count_err(5));
            }
            self.vlp = true;
            let get = |i: usize| f.get(i + 1).copied().unwrap_or_default();
            return Ok(GrondslagLine::Vlp(GrondslagVlp {
                brin: get(0).parse().map_err(|e| MappingError::id(path(0), e))?,
                bekostigingsjaar: parse_uint(&path(1), get(1), 4)?,
                aanmaakdatum: parse_date_compact(&path(2), get(2))?,
                status: get(3)
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(4)
                    .collect(),
            }));
        }
        if kind == "SLR" {
            if f.len() != 12 {
                return Err(count_err(12));
            }
            let mut declared = [0u64; 11];
            for (i, d) in declared.iter_mut().enumerate() {
                *d = u64::from(parse_uint(
                    &path(i),
                    f.get(i + 1).copied().unwrap_or_default(),
                    10,
                )?);
            }
            for i in 0..11 {
                if declared[i] != self.counts[i] {
                    return Err(MappingError::invalid(
                        format!("line {line}/SLR/Aantal {}-records", KINDS[i]),
                        format!(
                            "declares {} {} records, the file has {}",
                            declared[i], KINDS[i], self.counts[i]
                        ),
                    ));
                }
            }
            self.slr = true;
            return Ok(GrondslagLine::Slr(declared));
        }
        let (cols, dates, brin) = layout(kind).ok_or_else(|| {
            MappingError::invalid(format!("line {line}/Recordsoort"), "unknown record type")
        })?;
        match cols {
            Some(c) if f.len() != c => return Err(count_err(c)),
            None if f.len() < 3 => return Err(count_err(3)),
            _ => {}
        }
        let fields: Vec<&str> = f.iter().skip(1).copied().collect();
        let pgn = fields.first().copied().unwrap_or_default();
        if pgn.is_empty() || pgn.len() > 9 || !pgn.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(MappingError::invalid(
                path(0),
                "PGN must be 1 to 9 letters or digits",
            ));
        }
        if let Some(b) = brin {
            let v = fields.get(b).copied().unwrap_or_default();
            v.parse::<Brin>()
                .map_err(|e| MappingError::id(path(b), e))?;
        }
        for &d in dates {
            let v = fields.get(d).copied().unwrap_or_default();
            if !v.is_empty() {
                parse_date_compact(&path(d), v)?;
            }
        }
        if let Some(i) = KINDS.iter().position(|k| *k == kind) {
            self.counts[i] += 1;
        }
        Ok(GrondslagLine::Record(GrondslagRecord {
            kind: kind.to_owned(),
            line,
            pgn: pgn.to_owned(),
            fields: fields.iter().skip(1).map(|s| (*s).to_owned()).collect(),
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

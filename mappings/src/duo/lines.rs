//! The one reader of DUO's delimited line files: the registratieoverzicht ([`super::ro`]) and
//! GRONDSLAG IP MBO ([`super::grondslag`]).
//!
//! Both are streams of `VLP` header, data records and an `SLR` trailer with counts, one record a
//! line, fields separated by a single character. What they share lives here: reading a line with
//! its size and UTF-8 guards ([`LineReader`]), splitting it into record type and fields
//! ([`split`]), typed field access whose errors name the line, record type and field
//! ([`Fields`]), and the framing errors (column count, trailer counts, records after the
//! trailer).
//!
//! What differs stays with each format, which chooses it explicitly:
//! - the RO accepts `|` or `;` (detected on the first line) and a byte-order mark at the start of
//!   a line ([`Bom::Strip`]); GRONDSLAG is `;` only and takes a byte-order mark as data
//!   ([`Bom::Keep`]);
//! - the RO names its columns ([`Columns::Named`]: `line 3/ISG/DatumInschrijving`); GRONDSLAG's
//!   layouts are not public, so its fields are numbered from the record type on
//!   ([`Columns::Numbered`]: `line 3/ISG/field 5`).
//!
//! The BRON reader (`bron::reader`) is not one of these: BRON messages are XML and are read with
//! [`crate::xml`], which has its own size and UTF-8 guards and field paths.
//!
//! Pure: the reader only pulls from the [`BufRead`] it is given.

use std::io::BufRead;

use knooppunt_registry::ids::IdError;

use crate::error::MappingError;

/// Whether a byte-order mark at the start of a line is dropped or kept as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bom {
    /// Drop it (and a line that held only the mark is empty, so skipped).
    Strip,
    /// Keep it: it is part of the first field.
    Keep,
}

/// Reads non-empty lines, one at a time, from a [`BufRead`]: at most `max_bytes` a line (without
/// its `\n` or `\r\n`), valid UTF-8 (an error gives the byte offset in the stream). Never reads
/// more than `max_bytes + 2` bytes into memory for a line.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    line: u64,
    offset: usize,
    max_bytes: usize,
    bom: Bom,
}

impl<R: BufRead> LineReader<R> {
    /// A reader over `input` with the given line limit.
    pub(crate) fn new(input: R, max_bytes: usize, bom: Bom) -> Self {
        Self {
            input,
            buf: Vec::with_capacity(256),
            line: 0,
            offset: 0,
            max_bytes,
            bom,
        }
    }

    /// Number of the last line read (1-based; 0 before the first).
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// The next non-empty line with its number, or `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &str)>, MappingError> {
        let max = self.max_bytes;
        // The line's bytes are `buf[..end]`, its text starts after a stripped byte-order mark.
        let (start, end, bom) = loop {
            self.buf.clear();
            let limit = (max + 2) as u64;
            let n = std::io::Read::take(&mut self.input, limit)
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| MappingError::Malformed {
                    format: "CSV",
                    position: format!("line {}", self.line + 1),
                    reason: e.kind().to_string(),
                })?;
            if n == 0 {
                return Ok(None);
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
            if bytes.len() > max || (!had_newline && n as u64 == limit) {
                return Err(MappingError::invalid(
                    format!("line {}", self.line),
                    format!("longer than {max} bytes"),
                ));
            }
            let bom = match self.bom {
                Bom::Strip if bytes.starts_with(BOM) => BOM.len(),
                Bom::Strip | Bom::Keep => 0,
            };
            // An empty line (or one holding only a stripped mark) is skipped.
            if bytes.len() > bom {
                break (start, bytes.len(), bom);
            }
        };
        let text =
            std::str::from_utf8(&self.buf[..end]).map_err(|e| MappingError::InvalidUtf8 {
                offset: start + e.valid_up_to(),
            })?;
        // The mark is one 3-byte character, so `bom` is a character boundary.
        Ok(Some((self.line, &text[bom..])))
    }
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// Splits a line at `sep` into its record type (the first field) and the fields after it.
pub(crate) fn split(text: &str, sep: char) -> (&str, Vec<&str>) {
    let mut it = text.split(sep);
    let kind = it.next().unwrap_or_default();
    (kind, it.collect())
}

/// How the fields of a record are named in error paths.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Columns {
    /// By column name (the names after the record type): `line 3/ISG/DatumInschrijving`.
    Named(&'static [&'static str]),
    /// By position, the record type being field 1: `line 3/ISG/field 5`.
    Numbered,
}

/// The fields of one record (after its record type), for typed access with errors naming the
/// line, the record type and the field, never the value.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    line: u64,
    kind: &'a str,
    columns: Columns,
    fields: Vec<&'a str>,
}

impl<'a> Fields<'a> {
    /// The fields `fields` of a `kind` record on line `line`.
    pub(crate) fn new(line: u64, kind: &'a str, columns: Columns, fields: Vec<&'a str>) -> Self {
        Self {
            line,
            kind,
            columns,
            fields,
        }
    }

    /// All fields, as written.
    pub(crate) fn all(&self) -> &[&'a str] {
        &self.fields
    }

    /// The path of field `i` (0-based, after the record type).
    pub(crate) fn path(&self, i: usize) -> String {
        match self.columns {
            Columns::Named(names) => format!(
                "line {}/{}/{}",
                self.line,
                self.kind,
                names.get(i).copied().unwrap_or("?")
            ),
            Columns::Numbered => format!("line {}/{}/field {}", self.line, self.kind, i + 2),
        }
    }

    /// Field `i` as written (empty when absent).
    pub(crate) fn get(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or_default()
    }

    /// Field `i`, `None` when empty or absent.
    pub(crate) fn opt(&self, i: usize) -> Option<&'a str> {
        self.fields.get(i).copied().filter(|s| !s.is_empty())
    }

    /// Field `i`, an error when empty or absent.
    pub(crate) fn req(&self, i: usize) -> Result<&'a str, MappingError> {
        self.opt(i)
            .ok_or_else(|| MappingError::missing(self.path(i)))
    }

    /// Required field `i` parsed by `f(path, value)`.
    pub(crate) fn with<T>(
        &self,
        i: usize,
        f: impl Fn(&str, &str) -> Result<T, MappingError>,
    ) -> Result<T, MappingError> {
        f(&self.path(i), self.req(i)?)
    }

    /// Optional field `i` parsed by `f(path, value)`.
    pub(crate) fn opt_with<T>(
        &self,
        i: usize,
        f: impl Fn(&str, &str) -> Result<T, MappingError>,
    ) -> Result<Option<T>, MappingError> {
        self.opt(i).map(|v| f(&self.path(i), v)).transpose()
    }

    /// Required identifier in field `i`.
    pub(crate) fn id<T: std::str::FromStr<Err = IdError>>(
        &self,
        i: usize,
    ) -> Result<T, MappingError> {
        self.req(i)?
            .parse()
            .map_err(|e| MappingError::id(self.path(i), e))
    }

    /// Optional identifier in field `i`.
    pub(crate) fn opt_id<T: std::str::FromStr<Err = IdError>>(
        &self,
        i: usize,
    ) -> Result<Option<T>, MappingError> {
        self.opt(i)
            .map(|v| v.parse().map_err(|e| MappingError::id(self.path(i), e)))
            .transpose()
    }
}

/// A record with the wrong number of columns; both counts include the record type.
pub(crate) fn column_count(line: u64, kind: &str, expected: usize, got: usize) -> MappingError {
    MappingError::invalid(
        format!("line {line}/{kind}"),
        format!("wrong column count: expected {expected} columns, got {got}"),
    )
}

/// A first record that is not the `VLP` header.
pub(crate) fn not_vlp_first(line: u64) -> MappingError {
    MappingError::invalid(
        format!("line {line}/Recordsoort"),
        "the file must start with a VLP record",
    )
}

/// A non-empty line after the `SLR` trailer.
pub(crate) fn after_trailer(line: u64) -> MappingError {
    MappingError::invalid(format!("line {line}"), "records after the SLR sluitrecord")
}

/// Checks the `SLR` trailer on line `line`: `declared[i]` must equal `counted[i]`, the count of
/// `kinds[i]` records read; a mismatch names the trailer's field `field(i)`.
pub(crate) fn check_trailer(
    line: u64,
    declared: &[u64],
    counted: &[u64],
    kinds: &[&str],
    field: impl Fn(usize) -> String,
) -> Result<(), MappingError> {
    for (i, (want, got)) in declared.iter().zip(counted).enumerate() {
        if want != got {
            return Err(MappingError::invalid(
                format!("line {line}/SLR/{}", field(i)),
                format!(
                    "declares {want} {} records, the file has {got}",
                    kinds.get(i).copied().unwrap_or("?")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize, bom: Bom) -> Vec<Result<(u64, String), MappingError>> {
        let mut r = LineReader::new(input, max, bom);
        let mut out = Vec::new();
        loop {
            match r.next_line() {
                Ok(Some((n, t))) => out.push(Ok((n, t.to_owned()))),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn lines_skip_empty_ones_and_strip_their_terminators() {
        let got = lines(b"a|b\r\n\r\n\nc\n\xef\xbb\xbf\nd", 16, Bom::Strip);
        assert_eq!(
            got,
            vec![
                Ok((1, "a|b".to_owned())),
                Ok((4, "c".to_owned())),
                Ok((6, "d".to_owned()))
            ]
        );
        let kept = lines(b"\xef\xbb\xbfVLP;x\n", 16, Bom::Keep);
        assert_eq!(kept, vec![Ok((1, "\u{feff}VLP;x".to_owned()))]);
    }

    #[test]
    fn a_long_line_and_invalid_utf8_are_typed_errors() {
        let long = lines(b"ok\n0123456789\n", 8, Bom::Keep);
        assert_eq!(long[0], Ok((1, "ok".to_owned())));
        assert_eq!(
            long[1],
            Err(MappingError::invalid("line 2", "longer than 8 bytes"))
        );
        // Exactly the limit, with or without a terminator, is fine.
        assert_eq!(
            lines(b"01234567\r\n01234567", 8, Bom::Keep).len(),
            2,
            "two lines of 8 bytes"
        );
        let bad = lines(b"ok\nx\xffy\n", 8, Bom::Keep);
        assert_eq!(bad[1], Err(MappingError::InvalidUtf8 { offset: 4 }));
    }

    #[test]
    fn fields_name_the_line_record_and_column() {
        let (kind, f) = split("ISG|1||x", '|');
        assert_eq!((kind, f.len()), ("ISG", 3));
        let named = Fields::new(3, kind, Columns::Named(&["A", "B"]), f.clone());
        assert_eq!(named.path(1), "line 3/ISG/B");
        assert_eq!(named.path(2), "line 3/ISG/?");
        assert_eq!(named.req(1), Err(MappingError::missing("line 3/ISG/B")));
        assert_eq!(named.opt(2), Some("x"));
        let numbered = Fields::new(3, kind, Columns::Numbered, f);
        assert_eq!(numbered.path(0), "line 3/ISG/field 2");
        assert_eq!(numbered.get(7), "");
    }
}

//! DUO's code lists, short codes and date formats, shared by the BRON, TBG-i, RO and persoon
//! mappings. Sources: `domain.md` §1.3–1.5 and §7 (value lists), cedanl/mbo-bekostiging-bestanden
//! record docs (field formats). Every parser takes the field path for its error.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::error::MappingError;

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident, $kind:literal { $($(#[$vm:meta])* $var:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $code)] $var),+
        }

        impl $name {
            /// Every value, in code-list order.
            pub const ALL: &'static [Self] = &[$(Self::$var),+];

            /// The code as DUO writes it.
            pub fn code(self) -> &'static str {
                match self {
                    $(Self::$var => $code),+
                }
            }

            /// Parses the code; `field` names the field in the error.
            pub fn parse(field: &str, s: &str) -> Result<Self, MappingError> {
                match s {
                    $($code => Ok(Self::$var),)+
                    _ => Err(MappingError::invalid(
                        field,
                        concat!("not a known ", $kind, " code (expected one of:", $(" ", $code,)+ ")"),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

code_enum!(
    /// Geslacht in DUO's PER record (`domain.md` §1.4, §7.11).
    Geslacht, "geslacht" {
        /// Man.
        Man = "M",
        /// Vrouw.
        Vrouw = "V",
        /// Vastgesteld onbekend.
        Onbekend = "O",
    }
);

code_enum!(
    /// Leertraject of an ISP period (`domain.md` §1.4, §7.11). `BOL_DT` only until 2023-07-31.
    Leertraject, "leertraject" {
        /// Beroepsopleidende leerweg.
        Bol = "BOL",
        /// Beroepsbegeleidende leerweg.
        Bbl = "BBL",
        /// BOL deeltijd (until 31-07-2023).
        BolDeeltijd = "BOL_DT",
        /// Derde leerweg: overige onderwijsvormen.
        Ovo = "OVO",
        /// Examendeelnemer.
        Examendeelnemer = "EX",
        /// Opleiding deeltijd (since 2019).
        Odt = "ODT",
    }
);

code_enum!(
    /// Niveau of an mbo opleiding (`domain.md` §1.4).
    Niveau, "niveau" {
        /// Entree.
        Mbo1 = "MBO-1",
        /// Basisberoepsopleiding.
        Mbo2 = "MBO-2",
        /// Vakopleiding.
        Mbo3 = "MBO-3",
        /// Middenkader-/specialistenopleiding.
        Mbo4 = "MBO-4",
    }
);

code_enum!(
    /// Soort mutatie of a BRON message (`domain.md` §1.2: Toevoeging, Aanpassing, Verwijdering;
    /// the VO letters T/A/V).
    Mutatiesoort, "soort mutatie" {
        /// A new record.
        Toevoegen = "T",
        /// A correction of a record delivered before.
        Aanpassen = "A",
        /// Removal of a record delivered before (e.g. the student never started).
        Verwijderen = "V",
    }
);

code_enum!(
    /// Leerroute of an ISP period (`domain.md` §1.4).
    Leerroute, "leerroute" {
        /// Doorlopende leerroute vmbo–mbo.
        Doorlopend = "DLP",
    }
);

code_enum!(
    /// Leerroutefase of an ISP period in a doorlopende leerroute (`domain.md` §1.4).
    Leerroutefase, "leerroutefase" {
        /// The VO phase.
        Vo = "VO",
        /// The mbo phase.
        Mbo = "MBO",
    }
);

code_enum!(
    /// Result of a keuzedeel in the RO and BRON (`Behaald` / `Niet behaald`, `domain.md` §1.4).
    KeuzedeelResultaat, "keuzedeel resultaat" {
        /// Passed.
        Behaald = "Behaald",
        /// Not passed.
        NietBehaald = "Niet behaald",
    }
);

code_enum!(
    /// Whether DUO's bekostigingsstatus is provisional or final (TBG-i
    /// `StatusBepalingBekostigingsstatus`, `domain.md` §1.5).
    StatusBepaling, "status bepaling bekostigingsstatus" {
        /// Voorlopig.
        Voorlopig = "V",
        /// Definitief.
        Definitief = "D",
    }
);

/// Parses DUO's J/N indicator.
pub fn parse_jn(field: &str, s: &str) -> Result<bool, MappingError> {
    match s {
        "J" => Ok(true),
        "N" => Ok(false),
        _ => Err(MappingError::invalid(field, "expected J or N")),
    }
}

/// DUO's J/N indicator.
pub fn jn(b: bool) -> &'static str {
    if b { "J" } else { "N" }
}

/// Parses an `xsd:boolean` (`true`, `false`, `1`, `0`).
pub fn parse_bool(field: &str, s: &str) -> Result<bool, MappingError> {
    match s {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(MappingError::invalid(field, "expected true or false")),
    }
}

fn digits_at(b: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
    let mut v: u32 = 0;
    for i in range {
        let d = *b.get(i)?;
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(d - b'0');
    }
    Some(v)
}

/// Parses `ccyy-mm-dd` (current DUO files and our BRON format).
pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate, MappingError> {
    let b = s.as_bytes();
    let bad = || MappingError::invalid(field, "expected a date ccyy-mm-dd");
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (
        digits_at(b, 0..4).ok_or_else(bad)?,
        digits_at(b, 5..7).ok_or_else(bad)?,
        digits_at(b, 8..10).ok_or_else(bad)?,
    );
    NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| MappingError::invalid(field, "not an existing calendar date"))
}

/// Parses `ccyymmdd` (GRONDSLAG files).
pub fn parse_date_compact(field: &str, s: &str) -> Result<NaiveDate, MappingError> {
    let b = s.as_bytes();
    let bad = || MappingError::invalid(field, "expected a date ccyymmdd");
    if b.len() != 8 {
        return Err(bad());
    }
    let (y, m, d) = (
        digits_at(b, 0..4).ok_or_else(bad)?,
        digits_at(b, 4..6).ok_or_else(bad)?,
        digits_at(b, 6..8).ok_or_else(bad)?,
    );
    NaiveDate::from_ymd_opt(y as i32, m, d)
        .ok_or_else(|| MappingError::invalid(field, "not an existing calendar date"))
}

/// Parses TBG-i's `ccyy-mm-dd hh:mm:ss`.
pub fn parse_datetime(field: &str, s: &str) -> Result<NaiveDateTime, MappingError> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| MappingError::invalid(field, "expected ccyy-mm-dd hh:mm:ss"))
}

fn push_2(out: &mut String, v: u32) {
    out.push(char::from(b'0' + (v / 10 % 10) as u8));
    out.push(char::from(b'0' + (v % 10) as u8));
}

fn push_4(out: &mut String, v: u32) {
    push_2(out, v / 100);
    push_2(out, v % 100);
}

/// Appends `ccyy-mm-dd` (fast; no formatter machinery).
pub fn push_date(out: &mut String, d: NaiveDate) {
    push_4(out, d.year().clamp(0, 9999) as u32);
    out.push('-');
    push_2(out, d.month());
    out.push('-');
    push_2(out, d.day());
}

/// `ccyy-mm-dd` as a new string.
pub fn fmt_date(d: NaiveDate) -> String {
    let mut s = String::with_capacity(10);
    push_date(&mut s, d);
    s
}

/// A birth date as DUO knows it: the day, or the day and the month, may be unknown (`00`)
/// (`domain.md` §1.4, PER: "dag of dag+maand kan onbekend zijn").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Geboortedatum {
    year: u16,
    month: u8,
    day: u8,
}

impl fmt::Debug for Geboortedatum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: only the year is shown.
        write!(f, "Geboortedatum({}-**-**)", self.year)
    }
}

impl Geboortedatum {
    /// A checked partial date: `month` 0 means unknown month (and then the day must be 0 too),
    /// `day` 0 means unknown day; a known day must exist in that month.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        if !(1000..=9999).contains(&year) || month > 12 {
            return None;
        }
        if month == 0 && day != 0 {
            return None;
        }
        if day != 0
            && NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day)).is_none()
        {
            return None;
        }
        Some(Self { year, month, day })
    }

    /// A fully known date.
    pub fn from_date(d: NaiveDate) -> Self {
        Self {
            year: d.year().clamp(1000, 9999) as u16,
            month: d.month() as u8,
            day: d.day() as u8,
        }
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month, when known.
    pub fn month(&self) -> Option<u8> {
        (self.month != 0).then_some(self.month)
    }

    /// The day, when known.
    pub fn day(&self) -> Option<u8> {
        (self.day != 0).then_some(self.day)
    }

    /// The full date, when day and month are known.
    pub fn to_date(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(
            i32::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )
    }

    /// Parses `ccyy-mm-dd` with `00` allowed for the day, or for day and month.
    pub fn parse(field: &str, s: &str) -> Result<Self, MappingError> {
        let b = s.as_bytes();
        let bad = || {
            MappingError::invalid(
                field,
                "expected a date ccyy-mm-dd (day or day and month may be 00)",
            )
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let y = digits_at(b, 0..4).ok_or_else(bad)?;
        let m = digits_at(b, 5..7).ok_or_else(bad)?;
        let d = digits_at(b, 8..10).ok_or_else(bad)?;
        Self::new(y as u16, m as u8, d as u8).ok_or_else(|| {
            MappingError::invalid(
                field,
                "not an existing date (a known day needs a known month)",
            )
        })
    }

    /// Appends `ccyy-mm-dd` with `00` for unknown parts.
    pub fn push(&self, out: &mut String) {
        push_4(out, u32::from(self.year));
        out.push('-');
        push_2(out, u32::from(self.month));
        out.push('-');
        push_2(out, u32::from(self.day));
    }
}

impl fmt::Display for Geboortedatum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(10);
        self.push(&mut s);
        f.write_str(&s)
    }
}

impl Serialize for Geboortedatum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Geboortedatum {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse("geboortedatum", &s).map_err(serde::de::Error::custom)
    }
}

macro_rules! short_code {
    ($(#[$m:meta])* $name:ident, $what:literal, $min:literal, $max:literal, $ok:expr) => {
        short_code!($(#[$m])* $name, $what, $min, $max, $ok, |_| true);
    };
    ($(#[$m:meta])* $name:ident, $what:literal, $min:literal, $max:literal, $ok:expr, $whole:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and checks the value; `field` names the field in the error.
            pub fn parse(field: &str, s: &str) -> Result<Self, MappingError> {
                let n = s.chars().count();
                if !($min..=$max).contains(&n) {
                    return Err(MappingError::invalid(
                        field,
                        format!(concat!($what, " must be {} to {} characters, got {}"), $min, $max, n),
                    ));
                }
                let ok: fn(char) -> bool = $ok;
                if !s.chars().all(ok) {
                    return Err(MappingError::invalid(
                        field,
                        concat!($what, " contains a character that is not allowed"),
                    ));
                }
                let whole: fn(&str) -> bool = $whole;
                if !whole(s) {
                    return Err(MappingError::invalid(field, concat!($what, " is not an allowed value")));
                }
                Ok(Self(s.to_owned()))
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = MappingError;
            fn try_from(s: String) -> Result<Self, MappingError> {
                Self::parse(stringify!($name), &s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn upper_alnum(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

fn digit(c: char) -> bool {
    c.is_ascii_digit()
}

short_code!(
    /// A volgnummer assigned by the institution or DUO (inschrijvings-, BPV-, resultaatvolgnummer):
    /// AN1..20, letters and digits (`C3`, `1`, `002`, `8286771`).
    Volgnummer, "volgnummer", 1, 20, alnum
);

short_code!(
    /// Reden uitschrijving: two digits (`01` geslaagd … `10`; authoritative list is DUO's).
    RedenUitschrijving, "reden uitschrijving", 2, 2, digit
);

short_code!(
    /// Code of a generiek examenonderdeel (AN4, e.g. `3005` Nederlands lezen).
    GeoCode, "code generiek examenonderdeel", 4, 4, upper_alnum
);

short_code!(
    /// Code of an AMvB-onderdeel (AN5, e.g. `C0004`).
    AmoCode, "code AMvB-onderdeel", 5, 5, upper_alnum
);

short_code!(
    /// A vrijstelling ground of a generiek examenonderdeel or its IE/CE (AN1..4: `MBO`, `HBO`,
    /// `VWO`, `KZDL`, …).
    Vrijstelling, "vrijstelling", 1, 4, upper_alnum
);

short_code!(
    /// Locatiecode VSV: the NHR (KvK) vestigingsnummer, 12 digits.
    LocatiecodeVsv, "locatiecode VSV", 12, 12, digit
);

short_code!(
    /// The four digits of a postcode as DUO keeps them; `0010` België, `0020` Duitsland, `0030`
    /// another country, `0040` no fixed abode.
    Postcodecijfers, "postcodecijfers", 4, 4, digit,
    |s| !s.starts_with('0') || matches!(s, "0010" | "0020" | "0030" | "0040")
);

short_code!(
    /// A 4-digit GBA/BRP land code (`6030` Nederland).
    Landcode, "landcode", 4, 4, digit
);

/// Parses an unsigned number of at most `max_digits` digits.
pub fn parse_uint(field: &str, s: &str, max_digits: usize) -> Result<u32, MappingError> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MappingError::invalid(
            field,
            format!("expected a whole number of 1 to {max_digits} digits"),
        ));
    }
    s.parse()
        .map_err(|_| MappingError::invalid(field, "number out of range"))
}

/// Checks a decimal as DUO writes factors and amounts (`1`, `0.8`, `1.25`): digits, optionally a
/// point and more digits; returned as written (no float rounding).
pub fn parse_decimal(field: &str, s: &str) -> Result<String, MappingError> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let ok = !int.is_empty()
        && int.len() <= 12
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| {
            !f.is_empty() && f.len() <= 12 && f.bytes().all(|b| b.is_ascii_digit())
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(MappingError::invalid(
            field,
            "expected a decimal number like 1 or 0.75",
        ))
    }
}

/// Checks a free text field: at most `max` characters, no control characters (XML 1.0 cannot
/// carry them). The text itself is never put in the error.
pub fn check_text(field: &str, s: &str, max: usize) -> Result<(), MappingError> {
    let n = s.chars().count();
    if n > max {
        return Err(MappingError::invalid(
            field,
            format!("longer than {max} characters ({n})"),
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(MappingError::invalid(field, "contains a control character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_birth_dates() {
        let g = Geboortedatum::parse("f", "2008-00-00").unwrap();
        assert_eq!((g.year(), g.month(), g.day()), (2008, None, None));
        assert_eq!(g.to_string(), "2008-00-00");
        let g = Geboortedatum::parse("f", "2008-07-00").unwrap();
        assert_eq!(g.month(), Some(7));
        assert_eq!(g.to_date(), None);
        assert!(Geboortedatum::parse("f", "2008-00-12").is_err());
        assert!(Geboortedatum::parse("f", "2008-02-30").is_err());
        assert!(Geboortedatum::parse("f", "2008-13-01").is_err());
        assert!(!format!("{g:?}").contains("07"));
    }

    #[test]
    fn dates_and_codes() {
        assert_eq!(
            fmt_date(parse_date("f", "2024-02-29").unwrap()),
            "2024-02-29"
        );
        assert!(parse_date("f", "2023-02-29").is_err());
        assert!(parse_date("f", "2023-2-01").is_err());
        assert_eq!(
            parse_date_compact("f", "20230130").unwrap(),
            parse_date("f", "2023-01-30").unwrap()
        );
        assert_eq!(
            Leertraject::parse("f", "BOL_DT").unwrap(),
            Leertraject::BolDeeltijd
        );
        let e = Leertraject::parse("x/Leertraject", "BXL").unwrap_err();
        assert_eq!(e.field(), Some("x/Leertraject"));
        assert!(Volgnummer::parse("f", "C3").is_ok());
        assert!(Volgnummer::parse("f", "").is_err());
        assert!(Volgnummer::parse("f", "123456789012345678901").is_err());
        assert!(parse_decimal("f", "0.75").is_ok());
        assert!(parse_decimal("f", "1.").is_err());
        assert!(parse_decimal("f", "-1").is_err());
    }
}

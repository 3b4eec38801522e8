//! Identifiers of the mbo chain, each parsed from a string with a typed error that says what is
//! wrong, displayed and serialised as its canonical string.
//!
//! Rules and examples: `../shared/docs/domain.md` §0 and §7.
//!
//! *Architecture invariant:* a value of one of these types is always valid. There is no way to
//! build one without going through [`FromStr`] (or a constructor that checks the same rule), and
//! deserialisation goes through the same parser.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier did not parse. `kind` names the identifier, `reason` says what is wrong in
/// words a SIS developer understands. The offending value itself is *not* kept: it may be a BSN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct IdError {
    /// Which identifier, e.g. `"BSN"`.
    pub kind: &'static str,
    /// What is wrong with it.
    pub reason: IdErrorReason,
}

/// The ways an identifier can be wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdErrorReason {
    /// Empty after removing separators.
    #[error("it is empty")]
    Empty,
    /// Wrong number of characters.
    #[error("expected {expected} characters, got {got}")]
    Length {
        /// What the format takes, in words (e.g. "9", "4 or 6").
        expected: &'static str,
        /// How many characters were given.
        got: usize,
    },
    /// A character that is not allowed at that place.
    #[error("expected {expected} at position {position}")]
    Character {
        /// 1-based position in the canonical form.
        position: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// The check digit (11-proef or similar) fails.
    #[error("the check digit does not match ({rule})")]
    Checksum {
        /// The rule that failed, e.g. "11-proef".
        rule: &'static str,
    },
    /// Structurally right but a value the rule excludes.
    #[error("{0}")]
    NotAllowed(&'static str),
}

fn err(kind: &'static str, reason: IdErrorReason) -> IdError {
    IdError { kind, reason }
}

/// Removes the separators people type (spaces, dots, dashes) and upper-cases.
fn clean(input: &str) -> String {
    input
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\t'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// Checks `s` against a pattern of classes: `9` digit, `@` upper-case letter, `*` letter or digit,
/// any other character literally.
fn check_pattern(kind: &'static str, s: &str, pattern: &'static str) -> Result<(), IdError> {
    let got = s.chars().count();
    if got == 0 {
        return Err(err(kind, IdErrorReason::Empty));
    }
    if got != pattern.len() {
        return Err(err(
            kind,
            IdErrorReason::Length {
                expected: pattern_len_words(pattern),
                got,
            },
        ));
    }
    for (i, (c, p)) in s.chars().zip(pattern.chars()).enumerate() {
        let (ok, expected) = match p {
            '9' => (c.is_ascii_digit(), "a digit"),
            '@' => (c.is_ascii_uppercase(), "a letter"),
            '*' => (c.is_ascii_alphanumeric(), "a letter or digit"),
            lit => (c == lit, literal_words(lit)),
        };
        if !ok {
            return Err(err(
                kind,
                IdErrorReason::Character {
                    position: i + 1,
                    expected,
                },
            ));
        }
    }
    Ok(())
}

fn pattern_len_words(pattern: &'static str) -> &'static str {
    match pattern.len() {
        4 => "4",
        5 => "5",
        6 => "6",
        7 => "7",
        9 => "9",
        12 => "12",
        20 => "20",
        _ => "a fixed number of",
    }
}

fn literal_words(c: char) -> &'static str {
    match c {
        'A' => "the letter A",
        'B' => "the letter B",
        'O' => "the letter O",
        'K' => "the letter K",
        'X' => "the letter X",
        ':' => "':'",
        _ => "a fixed character",
    }
}

/// Weighted sum of the 9-digit Dutch "elfproef" family: weights 9..2 and −1 on the last digit.
fn elfproef_sum(digits: &[u8; 9]) -> i64 {
    let mut sum: i64 = 0;
    for (i, d) in digits.iter().take(8).enumerate() {
        sum += i64::from(*d) * (9 - i as i64);
    }
    sum - i64::from(digits[8])
}

fn nine_digits(kind: &'static str, s: &str) -> Result<[u8; 9], IdError> {
    check_pattern(kind, s, "999999999")?;
    let mut out = [0u8; 9];
    for (o, b) in out.iter_mut().zip(s.bytes()) {
        *o = b - b'0';
    }
    Ok(out)
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The canonical string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! debug_plain {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

string_id!(
    /// Burgerservicenummer: 9 digits passing the 11-proef (weights 9..2, −1; sum mod 11 == 0,
    /// value > 0). Shorter input is left-padded with zeros, separators are removed.
    ///
    /// Personal data: its `Debug` output is redacted, so a BSN never reaches a log through `{:?}`.
    Bsn
);

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsn(***)")
    }
}

impl FromStr for Bsn {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "BSN";
        let s = clean(input);
        if s.is_empty() {
            return Err(err(KIND, IdErrorReason::Empty));
        }
        if s.len() > 9 {
            return Err(err(
                KIND,
                IdErrorReason::Length {
                    expected: "9",
                    got: s.chars().count(),
                },
            ));
        }
        let s = format!("{s:0>9}");
        let digits = nine_digits(KIND, &s)?;
        if digits.iter().all(|d| *d == 0) {
            return Err(err(
                KIND,
                IdErrorReason::NotAllowed("it must be greater than zero"),
            ));
        }
        if elfproef_sum(&digits).rem_euclid(11) != 0 {
            return Err(err(KIND, IdErrorReason::Checksum { rule: "11-proef" }));
        }
        Ok(Self(s))
    }
}

string_id!(
    /// Onderwijsnummer: 9 digits starting with `10`, weighted sum (as BSN) mod 11 == 5. Issued by
    /// DUO to a student without a BSN. Personal data, redacted in `Debug`.
    Onderwijsnummer
);

impl fmt::Debug for Onderwijsnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Onderwijsnummer(***)")
    }
}

impl FromStr for Onderwijsnummer {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "onderwijsnummer";
        let s = clean(input);
        let digits = nine_digits(KIND, &s)?;
        if !s.starts_with("10") {
            return Err(err(
                KIND,
                IdErrorReason::NotAllowed("it must start with 10"),
            ));
        }
        if elfproef_sum(&digits).rem_euclid(11) != 5 {
            return Err(err(
                KIND,
                IdErrorReason::Checksum {
                    rule: "weighted sum mod 11 must be 5",
                },
            ));
        }
        Ok(Self(s))
    }
}

/// The person number of a student: exactly one of BSN or onderwijsnummer ("ofwel BSN ofwel ONR").
/// Serialised as `{"bsn": "…"}` or `{"onderwijsnummer": "…"}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum PersonId {
    /// Burgerservicenummer.
    Bsn(Bsn),
    /// Onderwijsnummer, for a student without a BSN.
    Onderwijsnummer(Onderwijsnummer),
}

impl PersonId {
    /// The 9 digits, whichever kind.
    pub fn digits(&self) -> &str {
        match self {
            Self::Bsn(b) => b.as_str(),
            Self::Onderwijsnummer(o) => o.as_str(),
        }
    }

    /// Parses a 9-digit number as either kind: a valid BSN is a BSN, otherwise a valid
    /// onderwijsnummer. The error is the BSN error when neither fits.
    pub fn parse_either(input: &str) -> Result<Self, IdError> {
        match input.parse::<Bsn>() {
            Ok(b) => Ok(Self::Bsn(b)),
            Err(bsn_err) => input
                .parse::<Onderwijsnummer>()
                .map(Self::Onderwijsnummer)
                .map_err(|_| bsn_err),
        }
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bsn(_) => f.write_str("PersonId::Bsn(***)"),
            Self::Onderwijsnummer(_) => f.write_str("PersonId::Onderwijsnummer(***)"),
        }
    }
}

string_id!(
    /// BRIN (instellingscode): 2 digits and 2 letters, optionally followed by 2 vestiging digits,
    /// e.g. `25LX` or `25LX01`.
    Brin
);
debug_plain!(Brin);

impl Brin {
    /// The institution part (first 4 characters), without vestiging.
    pub fn instelling(&self) -> Brin {
        Brin(self.0[..4].to_owned())
    }

    /// The vestiging digits, when present.
    pub fn vestiging(&self) -> Option<&str> {
        (self.0.len() == 6).then(|| &self.0[4..])
    }

    /// The institution's OIN: `00000007000` + BRIN + `00000` (domain.md §0).
    pub fn oin(&self) -> Oin {
        Oin(format!("00000007000{}00000", &self.0[..4]))
    }
}

impl FromStr for Brin {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "BRIN";
        let s = clean(input);
        match s.len() {
            6 => check_pattern(KIND, &s, "99@@99")?,
            4 => check_pattern(KIND, &s, "99@@")?,
            0 => return Err(err(KIND, IdErrorReason::Empty)),
            got => {
                return Err(err(
                    KIND,
                    IdErrorReason::Length {
                        expected: "4 or 6",
                        got,
                    },
                ));
            }
        }
        Ok(Self(s))
    }
}

string_id!(
    /// Crebo (opleidingscode mbo): 5 characters, digits in practice; leading zeros are kept.
    Crebo
);
debug_plain!(Crebo);

impl FromStr for Crebo {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        let s = input.trim().to_owned();
        check_pattern("crebo", &s, "99999")?;
        Ok(Self(s))
    }
}

string_id!(
    /// Keuzedeel code: `K` followed by 4 digits, e.g. `K0067`.
    KeuzedeelCode
);
debug_plain!(KeuzedeelCode);

impl FromStr for KeuzedeelCode {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        let s = clean(input);
        check_pattern("keuzedeel code", &s, "K9999")?;
        Ok(Self(s))
    }
}

string_id!(
    /// RIO code of an onderwijsaanbieder: `nnnAnnn`, e.g. `100A501`.
    OnderwijsaanbiederCode
);
debug_plain!(OnderwijsaanbiederCode);

impl FromStr for OnderwijsaanbiederCode {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        let s = clean(input);
        check_pattern("onderwijsaanbiedercode", &s, "999A999")?;
        Ok(Self(s))
    }
}

string_id!(
    /// RIO code of an onderwijsbestuur (bevoegd gezag): `nnnBnnn`, e.g. `100B490`.
    OnderwijsbestuurCode
);
debug_plain!(OnderwijsbestuurCode);

impl FromStr for OnderwijsbestuurCode {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        let s = clean(input);
        check_pattern("onderwijsbestuurcode", &s, "999B999")?;
        Ok(Self(s))
    }
}

string_id!(
    /// RIO onderwijslocatiecode: `nnnXnnn`, e.g. `101X591`.
    OnderwijslocatieCode
);
debug_plain!(OnderwijslocatieCode);

impl FromStr for OnderwijslocatieCode {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        let s = clean(input);
        check_pattern("onderwijslocatiecode", &s, "999X999")?;
        Ok(Self(s))
    }
}

string_id!(
    /// RIO opleidingseenheidcode: `nnnnOnnnn`, e.g. `1009O1234`.
    OpleidingseenheidCode
);
debug_plain!(OpleidingseenheidCode);

impl FromStr for OpleidingseenheidCode {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        let s = clean(input);
        check_pattern("opleidingseenheidcode", &s, "9999O9999")?;
        Ok(Self(s))
    }
}

string_id!(
    /// Organisatie-identificatienummer: 20 digits, prefix (8) + number + suffix. Prefixes
    /// `00000001`–`00000009` and `00000099` (test) are issued.
    Oin
);
debug_plain!(Oin);

impl Oin {
    /// The BRIN embedded in an education OIN (`00000007000` + BRIN + `00000`), if this is one.
    pub fn brin(&self) -> Option<Brin> {
        if self.0.starts_with("00000007000") && self.0.ends_with("00000") {
            self.0[11..15].parse().ok()
        } else {
            None
        }
    }
}

impl FromStr for Oin {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "OIN";
        let s = clean(input);
        // An education OIN carries a BRIN, so letters are allowed after the 8-digit prefix.
        check_pattern(KIND, &s, "99999999************")?;
        let prefix = &s[..8];
        let known = matches!(
            prefix,
            "00000001"
                | "00000002"
                | "00000003"
                | "00000004"
                | "00000005"
                | "00000006"
                | "00000007"
                | "00000008"
                | "00000009"
                | "00000099"
        );
        if !known {
            return Err(err(
                KIND,
                IdErrorReason::NotAllowed("the prefix must be 00000001–00000009 or 00000099"),
            ));
        }
        Ok(Self(s))
    }
}

string_id!(
    /// Dutch postcode: 4 digits (first not 0) and 2 letters, `SA`, `SD` and `SS` are not issued.
    /// Canonical form without a space: `1234AB`. Personal data in combination: redacted in `Debug`.
    Postcode
);

impl fmt::Debug for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Postcode({}**)", &self.0[..4])
    }
}

impl Postcode {
    /// The 4 digits DUO's PER record carries.
    pub fn digits(&self) -> &str {
        &self.0[..4]
    }
}

impl FromStr for Postcode {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "postcode";
        let s = clean(input);
        check_pattern(KIND, &s, "9999@@")?;
        if s.starts_with('0') {
            return Err(err(
                KIND,
                IdErrorReason::Character {
                    position: 1,
                    expected: "a digit 1–9",
                },
            ));
        }
        if matches!(&s[4..], "SA" | "SD" | "SS") {
            return Err(err(
                KIND,
                IdErrorReason::NotAllowed("the letters SA, SD and SS are not issued"),
            ));
        }
        Ok(Self(s))
    }
}

string_id!(
    /// SBB leerbedrijf-ID: 9 digits, 100000000–999999999, e.g. `100018965`.
    LeerbedrijfId
);
debug_plain!(LeerbedrijfId);

impl FromStr for LeerbedrijfId {
    type Err = IdError;
    fn from_str(input: &str) -> Result<Self, IdError> {
        const KIND: &str = "leerbedrijf-ID";
        let s = clean(input);
        check_pattern(KIND, &s, "999999999")?;
        if s.starts_with('0') {
            return Err(err(
                KIND,
                IdErrorReason::NotAllowed("it must be between 100000000 and 999999999"),
            ));
        }
        Ok(Self(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason<T: FromStr<Err = IdError>>(s: &str) -> IdErrorReason {
        match s.parse::<T>() {
            Ok(_) => panic!("{s:?} parsed but should not"),
            Err(e) => e.reason,
        }
    }

    #[test]
    fn bsn_accepts_valid_and_normalises() {
        assert_eq!("111222333".parse::<Bsn>().unwrap().as_str(), "111222333");
        assert_eq!("1112.22.333".parse::<Bsn>().unwrap().as_str(), "111222333");
        // 8 digits get a leading zero: 0·9 + 1·8 + … must still pass.
        let padded = "12345672".parse::<Bsn>().unwrap();
        assert_eq!(padded.as_str(), "012345672");
    }

    #[test]
    fn bsn_rejections_say_why() {
        assert_eq!(
            reason::<Bsn>("111222334"),
            IdErrorReason::Checksum { rule: "11-proef" }
        );
        assert_eq!(
            reason::<Bsn>("1112223330"),
            IdErrorReason::Length {
                expected: "9",
                got: 10
            }
        );
        assert_eq!(reason::<Bsn>(""), IdErrorReason::Empty);
        assert_eq!(
            reason::<Bsn>("000000000"),
            IdErrorReason::NotAllowed("it must be greater than zero")
        );
        assert_eq!(
            reason::<Bsn>("11122233a"),
            IdErrorReason::Character {
                position: 9,
                expected: "a digit"
            }
        );
    }

    #[test]
    fn bsn_debug_is_redacted_and_display_is_not() {
        let b: Bsn = "111222333".parse().unwrap();
        assert_eq!(format!("{b:?}"), "Bsn(***)");
        assert_eq!(b.to_string(), "111222333");
        let p = PersonId::Bsn(b);
        assert!(!format!("{p:?}").contains("111"));
    }

    #[test]
    fn onderwijsnummer_rule() {
        assert!("101222331".parse::<Onderwijsnummer>().is_ok());
        assert_eq!(
            reason::<Onderwijsnummer>("111222333"),
            IdErrorReason::NotAllowed("it must start with 10")
        );
        assert!(matches!(
            reason::<Onderwijsnummer>("101222332"),
            IdErrorReason::Checksum { .. }
        ));
        // A valid BSN is not an onderwijsnummer and vice versa.
        assert!("101222331".parse::<Bsn>().is_err());
    }

    #[test]
    fn person_id_either() {
        assert!(matches!(
            PersonId::parse_either("111222333").unwrap(),
            PersonId::Bsn(_)
        ));
        assert!(matches!(
            PersonId::parse_either("101222331").unwrap(),
            PersonId::Onderwijsnummer(_)
        ));
        assert_eq!(PersonId::parse_either("123").unwrap_err().kind, "BSN");
        let json = serde_json::to_string(&PersonId::parse_either("111222333").unwrap()).unwrap();
        assert_eq!(json, r#"{"bsn":"111222333"}"#);
        let back: PersonId = serde_json::from_str(&json).unwrap();
        assert_eq!(back.digits(), "111222333");
        assert!(serde_json::from_str::<PersonId>(r#"{"bsn":"111222334"}"#).is_err());
    }

    #[test]
    fn brin_with_and_without_vestiging() {
        let b: Brin = "25lx".parse().unwrap();
        assert_eq!(b.as_str(), "25LX");
        assert_eq!(b.vestiging(), None);
        let v: Brin = "25LX01".parse().unwrap();
        assert_eq!(v.vestiging(), Some("01"));
        assert_eq!(v.instelling(), b);
        assert_eq!(b.oin().as_str(), "0000000700025LX00000");
        assert_eq!(b.oin().brin(), Some(b.clone()));
        assert!(matches!(
            reason::<Brin>("25L"),
            IdErrorReason::Length { .. }
        ));
        assert_eq!(
            reason::<Brin>("2XLX"),
            IdErrorReason::Character {
                position: 2,
                expected: "a digit"
            }
        );
    }

    #[test]
    fn crebo_keeps_leading_zeros() {
        assert_eq!("01234".parse::<Crebo>().unwrap().as_str(), "01234");
        assert!("1234".parse::<Crebo>().is_err());
        assert!("2565A".parse::<Crebo>().is_err());
        let c: Crebo = serde_json::from_str("\"25655\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"25655\"");
    }

    #[test]
    fn keuzedeel_and_rio_codes() {
        assert!("K0067".parse::<KeuzedeelCode>().is_ok());
        assert!("k0067".parse::<KeuzedeelCode>().is_ok());
        assert!("X0067".parse::<KeuzedeelCode>().is_err());
        assert!("100A501".parse::<OnderwijsaanbiederCode>().is_ok());
        assert!("100B501".parse::<OnderwijsaanbiederCode>().is_err());
        assert!("100B490".parse::<OnderwijsbestuurCode>().is_ok());
        assert!("101X591".parse::<OnderwijslocatieCode>().is_ok());
        assert!("101A591".parse::<OnderwijslocatieCode>().is_err());
        assert!("1009O1234".parse::<OpleidingseenheidCode>().is_ok());
        assert!("1009Q1234".parse::<OpleidingseenheidCode>().is_err());
    }

    #[test]
    fn oin_rules() {
        assert!("00000001800866472000".parse::<Oin>().is_ok());
        assert!("0000000700025BE00000".parse::<Oin>().is_ok());
        assert!(matches!(
            reason::<Oin>("12345678901234567890"),
            IdErrorReason::NotAllowed(_)
        ));
        assert!(matches!(
            reason::<Oin>("0000000180086647200"),
            IdErrorReason::Length { .. }
        ));
        assert_eq!("00000001800866472000".parse::<Oin>().unwrap().brin(), None);
    }

    #[test]
    fn postcode_rules() {
        assert_eq!("1234 ab".parse::<Postcode>().unwrap().as_str(), "1234AB");
        assert_eq!("1234AB".parse::<Postcode>().unwrap().digits(), "1234");
        assert!("0123AB".parse::<Postcode>().is_err());
        assert!(matches!(
            reason::<Postcode>("1234SS"),
            IdErrorReason::NotAllowed(_)
        ));
        assert!("1234A".parse::<Postcode>().is_err());
    }

    #[test]
    fn leerbedrijf_id_range() {
        assert!("100018965".parse::<LeerbedrijfId>().is_ok());
        assert!("012345678".parse::<LeerbedrijfId>().is_err());
        assert!("10001896".parse::<LeerbedrijfId>().is_err());
    }

    #[test]
    fn error_messages_read_well() {
        let e = "111222334".parse::<Bsn>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid BSN: the check digit does not match (11-proef)"
        );
        let e = "25L".parse::<Brin>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid BRIN: expected 4 or 6 characters, got 3"
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        /// Builds a valid BSN from 8 random digits by choosing the ninth.
        fn valid_bsn() -> impl Strategy<Value = String> {
            proptest::collection::vec(0u8..10, 8).prop_filter_map("no check digit fits", |d| {
                let mut sum: i64 = 0;
                for (i, x) in d.iter().enumerate() {
                    sum += i64::from(*x) * (9 - i as i64);
                }
                let last = sum.rem_euclid(11);
                if last > 9 || (d.iter().all(|x| *x == 0) && last == 0) {
                    return None;
                }
                let mut s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
                s.push(char::from(b'0' + last as u8));
                Some(s)
            })
        }

        proptest! {
            #[test]
            fn every_constructed_bsn_parses_and_round_trips(s in valid_bsn()) {
                let b: Bsn = s.parse().unwrap();
                prop_assert_eq!(b.as_str(), s.as_str());
                let json = serde_json::to_string(&b).unwrap();
                let back: Bsn = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back, b);
            }

            #[test]
            fn changing_one_digit_breaks_the_bsn(s in valid_bsn(), pos in 0usize..9, delta in 1u8..10) {
                let mut bytes = s.into_bytes();
                bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert!(changed.parse::<Bsn>().is_err());
            }

            #[test]
            fn parsers_never_panic(s in "\\PC{0,30}") {
                let _ = s.parse::<Bsn>();
                let _ = s.parse::<Onderwijsnummer>();
                let _ = s.parse::<Brin>();
                let _ = s.parse::<Crebo>();
                let _ = s.parse::<Oin>();
                let _ = s.parse::<Postcode>();
                let _ = s.parse::<LeerbedrijfId>();
                let _ = s.parse::<OnderwijslocatieCode>();
            }
        }
    }
}

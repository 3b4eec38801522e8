//! The closed set of error codes (`problem::ErrorCode`): every variant is listed in `ALL`, its
//! wire code is its serde name, and `docs/api.md` lists exactly these codes with their status.

use std::collections::BTreeSet;

use knooppunt_api::Problem;
use knooppunt_api::problem::ErrorCode;
use serde::de::{self, Visitor};

/// A deserializer that only records the variant names serde's derive gives for an enum — the
/// complete list, whatever `ALL` says.
struct Variants(Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for &mut Variants {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not an enum"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(variants);
        Err(de::Error::custom("recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

fn serde_variants() -> Vec<&'static str> {
    let mut v = Variants(None);
    let _ = <ErrorCode as serde::Deserialize>::deserialize(&mut v);
    v.0.expect("ErrorCode deserializes as an enum").to_vec()
}

#[test]
fn all_lists_every_variant_once_with_its_serde_name() {
    let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(all, serde_variants(), "ErrorCode::ALL and the enum differ");
    let unique: BTreeSet<&str> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a wire code twice");
    for code in ErrorCode::ALL {
        assert_eq!(serde_json::to_value(code).expect("json"), code.as_str());
        assert_eq!(code.to_string(), code.as_str());
        let p = Problem::new(code);
        let body = serde_json::to_value(&p).expect("json");
        assert_eq!(body["code"], code.as_str());
        assert_eq!(body["status"], code.status().as_u16());
        assert_eq!(body["title"], code.title());
        assert_eq!(
            body["type"],
            format!("https://knooppunt.nl/problems/{}", code.as_str())
        );
        assert!(
            code.status().is_client_error() || code.status().is_server_error(),
            "{code}"
        );
    }
}

/// `(status, code)` of every row of the table in `docs/api.md` § Errors.
fn documented() -> BTreeSet<(u16, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
    let doc = std::fs::read_to_string(path).expect("docs/api.md");
    let section = doc
        .split("\n## Errors")
        .nth(1)
        .expect("an Errors section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, status, codes, ..] = cells.as_slice() else {
            continue;
        };
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        for code in codes.split('`').skip(1).step_by(2) {
            out.insert((status, code.to_owned()));
        }
    }
    out
}

#[test]
fn docs_list_every_error_code_with_its_status_and_no_other() {
    let enumerated: BTreeSet<(u16, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.status().as_u16(), c.as_str().to_owned()))
        .collect();
    let documented = documented();
    let missing: Vec<_> = enumerated.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&enumerated).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/api.md § Errors lacks {missing:?} and lists {unknown:?}, which ErrorCode does not have"
    );
}

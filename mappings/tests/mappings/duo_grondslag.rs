//! GRONDSLAG IP MBO: the public demo (whose SLR is that of the full file), a recounted copy,
//! and typed errors.

use std::io::BufReader;

use knooppunt_mappings::MappingError;
use knooppunt_mappings::duo::grondslag::{GrondslagLine, GrondslagReader};

const DEMO: &str = "duo-grondslag-ip-mbo-demo_27DV_20251119_2025.csv";

fn demo() -> String {
    String::from_utf8(crate::common::read_spec(DEMO)).unwrap()
}

fn recounted() -> String {
    demo().replace(
        "SLR;14027;15415;23093;1;21410;0;3238;0;86;7302;7622",
        "SLR;10;11;19;0;21;0;2;0;0;5;3",
    )
}

fn lines(text: &str) -> Vec<Result<GrondslagLine, MappingError>> {
    GrondslagReader::new(BufReader::new(text.as_bytes())).collect()
}

#[test]
fn the_public_demo_streams_and_its_slr_mismatch_is_reported() {
    let all = lines(&demo());
    let ok = all.iter().filter(|l| l.is_ok()).count();
    assert_eq!(ok, 72, "VLP and 71 records");
    let e = all.last().unwrap().as_ref().unwrap_err();
    assert_eq!(e.field(), Some("line 73/SLR/Aantal PER-records"));
    assert!(
        e.to_string()
            .contains("declares 14027 PER records, the file has 10")
    );
}

#[test]
fn the_recounted_demo_parses() {
    let all: Vec<GrondslagLine> = lines(&recounted())
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all.len(), 73);
    let GrondslagLine::Vlp(v) = &all[0] else {
        panic!("VLP first")
    };
    assert_eq!((v.brin.as_str(), v.bekostigingsjaar), ("27DV", 2025));
    insta::assert_json_snapshot!("grondslag_demo_head", &all[..6]);
}

#[test]
fn bad_input_gives_typed_errors() {
    let base = recounted();
    let cases = [
        (
            base.replacen(
                "ISG;BSN1;27DV;C3;20230130;20250129;20250116;08",
                "ISG;BSN1;27DV;C3;20230130;20250129;20250116",
                1,
            ),
            "line 3/ISG",
        ),
        (
            base.replacen("ISG;BSN1;27DV;C3;20230130", "ISG;BSN1;27DV;C3;20230230", 1),
            "line 3/ISG/field 5",
        ),
        (
            base.replacen("ISG;BSN1;27DV", "ISG;BSN1;2XDV", 1),
            "line 3/ISG/field 3",
        ),
        (
            base.replacen("ISG;BSN1;", "XXX;BSN1;", 1),
            "line 3/Recordsoort",
        ),
        (
            base.replace(
                "SLR;10;11;19;0;21;0;2;0;0;5;3",
                "SLR;10;11;19;0;21;0;2;0;0;5;4",
            ),
            "line 73/SLR/Aantal KZD-records",
        ),
        (base.replacen("VLP;", "PER;", 1), "line 1/Recordsoort"),
    ];
    for (text, field) in &cases {
        let e = lines(text)
            .into_iter()
            .find_map(Result::err)
            .expect("an error");
        assert_eq!(e.field(), Some(*field), "{e}");
    }
    let cut = base.replace("SLR;10;11;19;0;21;0;2;0;0;5;3\r\n", "");
    assert!(matches!(
        lines(&cut).into_iter().find_map(Result::err),
        Some(MappingError::Missing { .. })
    ));
    let mut b = base.into_bytes();
    b[60] = 0xff;
    let e = GrondslagReader::new(BufReader::new(&b[..]))
        .find_map(Result::err)
        .unwrap();
    assert_eq!(e, MappingError::InvalidUtf8 { offset: 60 });
}

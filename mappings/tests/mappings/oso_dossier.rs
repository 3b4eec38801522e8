//! OSO overstapdossier → AttachOverstapdossier (summary + content hash).

use knooppunt_mappings::MappingError;
use knooppunt_mappings::oso;
use knooppunt_registry::domain::{Command, ContentHash};

const EXAMPLE: &str = "oso-voorbeelddossier-OV_VOVO_opt_out.xml";

#[test]
fn the_public_example_is_valid_and_read() {
    let raw = crate::common::read_spec(EXAMPLE);
    crate::common::assert_valid_against(
        std::str::from_utf8(&raw).unwrap(),
        &crate::common::spec("oso-gegevensset-2019.1.xsd"),
    );
    let d = oso::parse(&raw).unwrap();
    assert_eq!(d.school.as_str(), "00YY");
    assert_eq!(d.samenvatting.soort_overstap, "VOVO");
    assert_eq!(d.samenvatting.gegevensset, "2019.1");
    assert_eq!(d.content_hash, ContentHash::of(&raw));
    assert_eq!(d.bsn.as_ref().unwrap().as_str(), "210191879");
    insta::assert_json_snapshot!("oso_example_command", oso::to_command(&d));
    assert!(!format!("{d:?}").contains("210191879"), "Debug is redacted");
}

#[test]
fn a_vombo_dossier_with_prefixes_and_optional_blocks_absent() {
    let raw = String::from_utf8(crate::common::read_spec(EXAMPLE)).unwrap();
    // Same dossier, prefixed, as a VO→MBO transfer, without the leerling block.
    let start = raw.find("<leerling>").unwrap();
    let end = raw.find("</leerling>").unwrap() + "</leerling>".len();
    let small = format!("{}{}", &raw[..start], &raw[end..])
        .replace("<overstap>VOVO</overstap>", "<overstap>VOMBO</overstap>");
    let prefixed = small
        .replace("<dossier xmlns=", "<o:dossier xmlns:o=")
        .replace("</", "</o:")
        .replace('<', "<o:")
        .replace("<o:/o:", "</o:")
        .replace("<o:?xml", "<?xml")
        .replace("<o:o:dossier", "<o:dossier");
    let d = oso::parse(prefixed.as_bytes()).unwrap();
    assert_eq!(d.samenvatting.soort_overstap, "VOMBO");
    assert!(d.bsn.is_none());
    assert!(!d.samenvatting.blokken.contains("leerling"));
    let Command::AttachOverstapdossier { content_hash, .. } = oso::to_command(&d) else {
        panic!()
    };
    assert_eq!(
        content_hash,
        ContentHash::of(prefixed.as_bytes()),
        "the hash is of the bytes received"
    );
}

#[test]
fn bad_input_names_the_field() {
    let raw = String::from_utf8(crate::common::read_spec(EXAMPLE)).unwrap();
    let cases = [
        (
            raw.replace("<bsn>210191879</bsn>", "<bsn>210191878</bsn>"),
            "dossier/huidigeschool/leerling/bsn",
        ),
        (
            raw.replacen("<brincode>00YY</brincode>", "<brincode>0YY</brincode>", 1),
            "dossier/huidigeschool/brincode",
        ),
        (
            raw.replace("<overstap>VOVO</overstap>", ""),
            "dossier/metadata/overstap",
        ),
        (
            raw.replace("<overstap>VOVO</overstap>", "<overstap>vo-mbo</overstap>"),
            "dossier/metadata/overstap",
        ),
    ];
    for (x, field) in cases {
        let e = oso::parse(x.as_bytes()).unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(!e.to_string().contains("210191878"));
    }
    let wrong = raw.replace(
        oso::NS,
        "http://www.edustandaard.nl/oso_gegevensset/2016/dossier",
    );
    assert!(matches!(
        oso::parse(wrong.as_bytes()).unwrap_err(),
        MappingError::WrongNamespace { .. }
    ));
    let entity = raw.replacen(
        "<dossier",
        "<!DOCTYPE dossier [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><dossier",
        1,
    );
    assert!(matches!(
        oso::parse(entity.as_bytes()).unwrap_err(),
        MappingError::DoctypeNotAllowed
    ));
    assert!(matches!(
        oso::parse(b"<dossier").unwrap_err(),
        MappingError::Malformed { .. }
    ));
}

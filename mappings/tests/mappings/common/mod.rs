//! Test helpers shared by the mapping tests: XSD validation through libxml2's `xmllint`
//! (installed by `scripts/services.sh`), and paths to the public specs in `../shared/specs/`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

/// `../shared/specs/<name>` relative to the workspace root.
pub fn spec(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/specs")
        .join(name)
}

/// Reads a spec file.
pub fn read_spec(name: &str) -> Vec<u8> {
    let p = spec(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// A path under the repository's `docs/` folder.
pub fn doc(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(rel)
}

/// Validates `xml` against the XSD at `xsd` with `xmllint --schema`. Panics with xmllint's
/// message when invalid, so a failing test shows what the schema says.
pub fn assert_valid_against(xml: &str, xsd: &std::path::Path) {
    let mut file = tempfile_in_target("xsd-check.xml");
    file.1.write_all(xml.as_bytes()).unwrap();
    drop(file.1);
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(xsd)
        .arg(&file.0)
        .output()
        .expect("xmllint must be installed (scripts/services.sh installs libxml2-utils)");
    let _ = std::fs::remove_file(&file.0);
    assert!(
        out.status.success(),
        "XML is not valid against {}:\n{}\n--- document ---\n{}",
        xsd.display(),
        String::from_utf8_lossy(&out.stderr),
        xml
    );
}

fn tempfile_in_target(name: &str) -> (PathBuf, std::fs::File) {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join("knooppunt-mapping-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{n}-{name}", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    (path, f)
}

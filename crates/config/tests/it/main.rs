//! The shipped target configs parse; broken ones fail located, with a fix.

use std::path::Path;

#[test]
fn every_shipped_target_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/targets");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            config::load(&path).unwrap_or_else(|error| panic!("{error}"));
            seen += 1;
        }
    }
    assert!(seen >= 1, "no target configs in {}", dir.display());
}

#[test]
fn bad_repo_is_located_with_a_fix() {
    let text = "[release]\nrepo = \"kgateway\"\n[install]\ngateway_class = \"x\"\n";
    let error = config::parse(Path::new("t.toml"), text).unwrap_err();
    assert_eq!(error.line_col, Some((2, 9)), "{error}");
    assert!(error.message.contains("OWNER/NAME"), "{error}");
}

#[test]
fn unknown_key_is_located() {
    let text =
        "[release]\nrepo = \"a/b\"\nrepository = \"a/b\"\n[install]\ngateway_class = \"x\"\n";
    let error = config::parse(Path::new("t.toml"), text).unwrap_err();
    assert_eq!(error.line_col, Some((3, 1)), "{error}");
}

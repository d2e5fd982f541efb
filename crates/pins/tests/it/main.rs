//! The real pin file parses, and broken ones fail with file:line:col and a fix.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn real_text() -> String {
    std::fs::read_to_string(workspace_root().join(pins::PIN_FILE)).unwrap()
}

#[test]
fn the_real_pin_file_parses() {
    let pins = pins::load(&workspace_root().join(pins::PIN_FILE)).unwrap();
    assert!(pins.node_image.reference.starts_with("kindest/node:v"));
    assert_eq!(pins.node_image.repository, "kindest/node");
    assert!(
        pins.gateway_api
            .crds_url()
            .contains(&pins.gateway_api.version.to_string())
    );
    let platform = pins::Platform {
        os: "linux".into(),
        arch: "amd64".into(),
    };
    for tool in [
        pins::ToolName::Kind,
        pins::ToolName::Kubectl,
        pins::ToolName::Helm,
    ] {
        let pin = pins.tool(tool).unwrap();
        assert!(
            pin.sha256_for(&platform).is_some(),
            "{tool} has no linux-amd64 checksum"
        );
        let url = pin.url_for(&pin.version, &platform);
        assert!(
            url.contains(&pin.version.to_string())
                && url.contains("linux")
                && url.contains("amd64"),
            "{url}"
        );
    }
}

fn error_for(text: &str) -> pins::PinError {
    pins::parse(Path::new("hack/versions.toml"), text).unwrap_err()
}

#[test]
fn unknown_key_names_line_and_column() {
    let text = real_text().replace("[docker]\n", "[docker]\nmaximum = \"1.0.0\"\n");
    let error = error_for(&text);
    let line = text.lines().position(|l| l.starts_with("maximum")).unwrap() + 1;
    assert_eq!(error.line_col, Some((line, 1)), "{error}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("hack/versions.toml:{line}:1: ")),
        "{error}"
    );
    assert!(error.message.contains("maximum"), "{error}");
}

#[test]
fn wrong_type_and_bad_version_are_located() {
    let text = real_text().replace("minimum = \"20.10.0\"", "minimum = 20");
    let error = error_for(&text);
    let line = text
        .lines()
        .position(|l| l.starts_with("minimum = 20"))
        .unwrap()
        + 1;
    assert_eq!(error.line_col.map(|(l, _)| l), Some(line), "{error}");

    let text = real_text().replace("go = \"", "go = \"latest-");
    let error = error_for(&text);
    assert!(error.message.contains("is not a version"), "{error}");
    let line = text.lines().position(|l| l.starts_with("go = ")).unwrap() + 1;
    assert_eq!(error.line_col.map(|(l, _)| l), Some(line), "{error}");
}

#[test]
fn missing_section_and_undigested_node_image_fail() {
    let text = real_text().replace("[docker]\nminimum = \"20.10.0\"\n", "");
    assert!(
        error_for(&text).message.contains("docker"),
        "{}",
        error_for(&text)
    );

    let real = real_text();
    let image_line = real
        .lines()
        .find(|l| l.starts_with("image = \"kindest/node"))
        .unwrap();
    let without_digest = image_line.split('@').next().unwrap().to_owned() + "\"";
    let error = error_for(&real.replace(image_line, &without_digest));
    assert!(error.message.contains("no @sha256 digest"), "{error}");
    assert!(error.message.contains("kind release notes"), "{error}");
}

#[test]
fn unreadable_file_says_how_to_restore_it() {
    let error = pins::load(Path::new("/nonexistent/versions.toml")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("git checkout -- hack/versions.toml"),
        "{error}"
    );
}

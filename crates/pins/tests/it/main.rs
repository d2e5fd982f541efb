//! The real pin file parses, and broken ones fail with file:line:col and a fix.

use std::path::{Path, PathBuf};

mod kubernetes;

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
fn incomplete_versions_are_refused_naming_file_and_line() {
    let real = real_text();
    // Every versioned pin: the tools, the CRDs, the toolchains and the engine floor.
    let lines: Vec<&str> = real
        .lines()
        .filter(|line| {
            ["version = \"", "go = \"", "rust = \"", "minimum = \""]
                .iter()
                .any(|key| line.starts_with(key))
        })
        .collect();
    assert_eq!(lines.len(), 8, "{lines:?}");
    for line in lines {
        let (key, value) = line.split_once(" = ").unwrap();
        let version: pins::Version = value.trim_matches('"').parse().unwrap();
        let shortened = format!(
            "{key} = \"{}{}.{}\"",
            if version.v_prefix { "v" } else { "" },
            version.major,
            version.minor
        );
        let text = real.replacen(line, &shortened, 1);
        let error = error_for(&text);
        let number = text.lines().position(|l| l == shortened).unwrap() + 1;
        assert_eq!(error.line_col.map(|(l, _)| l), Some(number), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("hack/versions.toml:{number}:")),
            "{error}"
        );
        assert!(
            error.message.contains("is not a complete version"),
            "{error}"
        );
    }
    let image_line = real
        .lines()
        .find(|l| l.starts_with("image = \"kindest/node"))
        .unwrap();
    let (name, digest) = image_line.split_once('@').unwrap();
    let (repository, tag) = name.rsplit_once(':').unwrap();
    let minor_only = tag.rsplit_once('.').unwrap().0;
    let error =
        error_for(&real.replace(image_line, &format!("{repository}:{minor_only}@{digest}")));
    assert!(
        error.message.contains("is not a complete version"),
        "{error}"
    );
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

fn real_pins() -> pins::Pins {
    pins::load(&workspace_root().join(pins::PIN_FILE)).unwrap()
}

fn env(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn linux_amd64() -> pins::Platform {
    "linux-amd64".parse().unwrap()
}

#[test]
fn no_overrides_changes_nothing() {
    let pins = real_pins();
    let (same, used) = pins.with_overrides(&env(&[]), &linux_amd64()).unwrap();
    assert!(used.is_empty());
    assert_eq!(same.build_args(), pins.build_args());
    // Setting a variable to the pinned value is not an override worth shouting about.
    let pinned = pins.kind.version.to_string();
    let (_, used) = pins
        .with_overrides(&env(&[("KIND_VERSION", &pinned)]), &linux_amd64())
        .unwrap();
    assert!(used.is_empty(), "{used:?}");
}

#[test]
fn version_overrides_replace_the_pin_and_are_reported() {
    let pins = real_pins();
    let (overridden, used) = pins
        .with_overrides(
            &env(&[("KIND_VERSION", "0.29.0"), ("GO_VERSION", "v1.24.2")]),
            &linux_amd64(),
        )
        .unwrap();
    assert_eq!(overridden.kind.version.to_string(), "v0.29.0");
    assert_eq!(overridden.build_arg("GO_VERSION").unwrap(), "1.24.2");
    // The pinned checksum belongs to the pinned version: it must not survive the override.
    assert!(overridden.kind.sha256_for(&linux_amd64()).is_none());
    let names: Vec<&str> = used.iter().map(|o| o.variable.as_str()).collect();
    assert_eq!(names, ["KIND_VERSION", "GO_VERSION"]);
    assert!(used[0].to_string().contains(&pins.kind.version.to_string()));

    let sha = "a".repeat(64);
    let (with_sum, _) = pins
        .with_overrides(
            &env(&[("KIND_VERSION", "v0.29.0"), ("KIND_SHA256", &sha)]),
            &linux_amd64(),
        )
        .unwrap();
    assert_eq!(
        with_sum.kind.sha256_for(&linux_amd64()).unwrap().as_hex(),
        sha
    );
}

#[test]
fn overrides_that_are_not_versions_are_errors() {
    let pins = real_pins();
    for (variable, value) in [
        ("KUBECTL_VERSION", "latest"),
        ("HELM_VERSION", "3"),
        ("RUST_VERSION", "stable"),
        ("KIND_NODE_IMAGE", "kindest/node:v1.34.0"),
        ("HELM_SHA256", "xyz"),
    ] {
        let error = pins
            .with_overrides(&env(&[(variable, value)]), &linux_amd64())
            .unwrap_err();
        assert_eq!(error.variable, variable);
        assert!(
            error
                .to_string()
                .starts_with(&format!("{variable}={value}: ")),
            "{error}"
        );
    }
    let error = pins
        .with_overrides(&env(&[("GATEWAY_API_VERSION", "v1.5.0")]), &linux_amd64())
        .unwrap_err();
    assert!(error.message.contains("GATEWAY_API_SHA256"), "{error}");
    assert!(
        error.message.contains("v1.5.0/standard-install.yaml"),
        "{error}"
    );
}

#[test]
fn kubectl_too_far_from_the_node_image_is_refused() {
    let real = real_text();
    let pinned = real_pins().kubectl.version.to_string();
    let text = real.replace(&format!("version = \"{pinned}\""), "version = \"v1.30.0\"");
    let error = error_for(&text);
    assert!(
        error
            .message
            .contains("no pinned kubectl (v1.30.0, v1.35.8) is within one minor version"),
        "{error}"
    );
    // Located at the node image left without a kubectl: the default, 1.37.
    let image = &real_pins().node_image.reference;
    let line = text
        .lines()
        .position(|l| l.contains(image.as_str()))
        .unwrap()
        + 1;
    assert_eq!(error.line_col.map(|(l, _)| l), Some(line), "{error}");
}

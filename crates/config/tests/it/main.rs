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
    assert_eq!(error.line_col, Some((2, 8)), "{error}");
    assert!(error.message.contains("OWNER/NAME"), "{error}");
}

#[test]
fn unknown_key_is_located() {
    let text =
        "[release]\nrepo = \"a/b\"\nrepository = \"a/b\"\n[install]\ngateway_class = \"x\"\n";
    let error = config::parse(Path::new("t.toml"), text).unwrap_err();
    assert_eq!(error.line_col, Some((3, 1)), "{error}");
}

/// The keys a section accepts, read from the parser itself: the error for an unknown key lists
/// them. `section` is the text that opens it; [release] and [install] are already open.
fn accepted_keys(section: &str) -> Vec<String> {
    let release = "[release]\nrepo = \"a/b\"\n";
    let install = "[install]\ngateway_class = \"x\"\n";
    let unknown = "zz_unknown_key = 1\n";
    let text = match section {
        "[release]" => format!("{release}{unknown}{install}"),
        "[install]" => format!("{release}{install}{unknown}"),
        other => format!("{release}{install}{other}\n{unknown}"),
    };
    let error = config::parse(Path::new("t.toml"), &text).unwrap_err();
    error
        .message
        .split_once("expected one of ")
        .or_else(|| error.message.split_once("expected "))
        .unwrap_or_else(|| panic!("no key list in: {error}"))
        .1
        .split(';')
        .next()
        .unwrap()
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The default target config is what the config errors call it: a complete, commented example
/// in which every key of every section is set or shown commented out with its default.
#[test]
fn the_default_target_shows_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(config::DEFAULT_TARGET);
    let text = std::fs::read_to_string(&path).unwrap();
    // `key =` set, or commented out (`# key =`); a table key may be shown as its table header.
    let shown = |key: &str| {
        text.lines().any(|line| {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
                || line == format!("[install.{key}]")
                || line == format!("[[install.{key}]]")
        })
    };
    let sections = [
        "[release]",
        "[install]",
        "[artifacts]",
        "[install.timeouts]",
        "[install.node_port]\nnode_port = 1\nhost_port = 2",
        "[[install.charts]]\nname = \"n\"\nchart = \"c\"\nversion = \"1.0.0\"\nnamespace = \"x\"",
        "[conformance]",
    ];
    let mut missing = Vec::new();
    for section in sections {
        let keys = accepted_keys(section);
        assert!(keys.len() >= 2, "{section}: {keys:?}");
        let header = section.lines().next().unwrap();
        missing.extend(
            keys.into_iter()
                .filter(|key| !shown(key))
                .map(|key| format!("{header} {key}")),
        );
    }
    assert!(
        missing.is_empty(),
        "{} does not show these keys (set them, or show them commented out with their default): {missing:?}",
        config::DEFAULT_TARGET
    );
}

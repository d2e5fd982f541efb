//! `cargo xtask versions check`: the real repository has no drift (so drift fails `cargo
//! test`), and on a scratch tree a changed ARG default is found, diffed and fixed.

use std::path::Path;

fn xtask(args: &[&str]) -> exec::Output {
    let cmd = crate::context::isolated("run xtask under test").args(args);
    exec::Shell::new().run_unchecked(&cmd).unwrap()
}

fn pins() -> pins::Pins {
    pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap()
}

fn the_repository_states_no_version_that_differs_from_the_pins() {
    let root = testkit::workspace_root();
    let output = xtask(&["versions", "check", "--root", root.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "pinned versions drifted; run `cargo xtask versions check --write`:\n{}\n{}",
        output.stdout_str(),
        output.stderr_str()
    );
}

/// A scratch tree with the real pin file, a Dockerfile and a workflow.
fn scratch(go_default: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("hack/echo")).unwrap();
    std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
    std::fs::copy(
        testkit::workspace_root().join(pins::PIN_FILE),
        root.join(pins::PIN_FILE),
    )
    .unwrap();
    write_dockerfile(root, go_default);
    let pins = pins();
    std::fs::write(
        root.join(".github/workflows/ci.yml"),
        format!(
            "jobs:\n  test:\n    steps:\n      - uses: actions/setup-go@v5\n        with:\n          go-version: \"{}\"\n      - run: kind create cluster --image {}\n",
            pins.build.go, pins.node_image.reference
        ),
    )
    .unwrap();
    dir
}

fn write_dockerfile(root: &Path, go_default: &str) {
    std::fs::write(
        root.join("hack/echo/Dockerfile"),
        format!("ARG GO_VERSION={go_default}\nFROM scratch\nARG GO_VERSION\nLABEL go.version=$GO_VERSION\n"),
    )
    .unwrap();
}

fn a_changed_arg_default_is_reported_with_a_diff_and_fixed_by_write() {
    let pinned = pins().build.go.to_string();
    let dir = scratch(&pinned);
    let root = dir.path().to_str().unwrap();
    let clean = xtask(&["versions", "check", "--root", root]);
    assert!(clean.status.success(), "{}", clean.stderr_str());

    write_dockerfile(dir.path(), "1.20.3");
    let drift = xtask(&["versions", "check", "--root", root]);
    assert_eq!(drift.status.code(), Some(1), "{}", drift.stderr_str());
    let diff = drift.stdout_str();
    assert!(diff.contains("--- a/hack/echo/Dockerfile"), "{diff}");
    assert!(diff.contains("+++ b/hack/echo/Dockerfile"), "{diff}");
    assert!(diff.contains("-ARG GO_VERSION=1.20.3"), "{diff}");
    assert!(
        diff.contains(&format!("+ARG GO_VERSION={pinned}")),
        "{diff}"
    );
    assert!(
        drift
            .stderr_str()
            .contains("hack/echo/Dockerfile:1: GO_VERSION states `1.20.3`"),
        "{}",
        drift.stderr_str()
    );
    // Checking changes nothing on disk.
    let text = std::fs::read_to_string(dir.path().join("hack/echo/Dockerfile")).unwrap();
    assert!(text.starts_with("ARG GO_VERSION=1.20.3\n"));

    let write = xtask(&["versions", "check", "--write", "--root", root]);
    assert!(write.status.success(), "{}", write.stderr_str());
    let text = std::fs::read_to_string(dir.path().join("hack/echo/Dockerfile")).unwrap();
    assert!(
        text.starts_with(&format!("ARG GO_VERSION={pinned}\n")),
        "{text}"
    );
    let again = xtask(&["versions", "check", "--root", root]);
    assert!(again.status.success(), "{}", again.stderr_str());
}

fn a_workflow_node_image_without_its_digest_is_drift() {
    let pins = pins();
    let dir = scratch(&pins.build.go.to_string());
    let workflow = dir.path().join(".github/workflows/ci.yml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    let tag_only = pins
        .node_image
        .reference
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(
        &workflow,
        text.replace(&pins.node_image.reference, &tag_only),
    )
    .unwrap();
    let drift = xtask(&["versions", "check", "--root", dir.path().to_str().unwrap()]);
    assert_eq!(drift.status.code(), Some(1));
    assert!(
        drift.stdout_str().contains(&format!(
            "+      - run: kind create cluster --image {}",
            pins.node_image.reference
        )),
        "{}",
        drift.stdout_str()
    );
}

fn a_broken_pin_file_is_bad_input_and_nothing_is_written() {
    let dir = scratch("1.20.3");
    let pin_file = dir.path().join(pins::PIN_FILE);
    let text = std::fs::read_to_string(&pin_file).unwrap();
    std::fs::write(
        &pin_file,
        text.replace("[docker]\n", "[docker]\nmaximum = \"1\"\n"),
    )
    .unwrap();
    let output = xtask(&[
        "versions",
        "check",
        "--write",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", output.stderr_str());
    assert!(
        output.stderr_str().contains("hack/versions.toml:"),
        "{}",
        output.stderr_str()
    );
    assert!(
        output.stderr_str().contains("maximum"),
        "{}",
        output.stderr_str()
    );
    let dockerfile = std::fs::read_to_string(dir.path().join("hack/echo/Dockerfile")).unwrap();
    assert!(dockerfile.starts_with("ARG GO_VERSION=1.20.3\n"));
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        the_repository_states_no_version_that_differs_from_the_pins,
        a_changed_arg_default_is_reported_with_a_diff_and_fixed_by_write,
        a_workflow_node_image_without_its_digest_is_drift,
        a_broken_pin_file_is_bad_input_and_nothing_is_written,
    ]
}

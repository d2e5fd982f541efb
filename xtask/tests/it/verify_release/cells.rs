//! A run over several Kubernetes minors end to end: a cell (its own kind cluster, kubeconfig,
//! folder and reports) per minor, every cell in front of a real Envoy; a cell that fails a case
//! fails the release and is named in every report; a cell whose cluster cannot be created could
//! not run while the others pass.

use fake_tools::Rule;

use super::*;

const RUN_ID: &str = "cells01";

/// A gate whose target supports Kubernetes 1.36 and 1.35 (two cells), with one kubectl within
/// one minor of both (the fake reports one version).
fn two_cell_gate(name: &str) -> Gate {
    let mut gate = Gate::new(name, None);
    std::fs::write(
        &gate.config,
        format!(
            "{}\n[kubernetes]\nminors = [\"1.36\", \"1.35\"]\n",
            target_config("none", &[])
        ),
    )
    .unwrap();
    gate.fakes.set_version("kubectl", "v1.36.0").unwrap();
    gate.extra_env
        .push(("KUBECTL_VERSION".to_owned(), "v1.36.0".to_owned()));
    gate.extra_env
        .push(("XTASK_RUN_ID".to_owned(), RUN_ID.to_owned()));
    gate
}

/// The backends of one cell's cluster: its own six replicas behind its own Envoy (or the broken
/// `variant`), reached through that cell's kubeconfig only. Real clusters do not share their
/// pods: two cells flipping one replica's health at once would judge each other.
struct OwnBackends {
    _replicas: LocalFixture,
    _envoy: Gateway,
    _dir: tempfile::TempDir,
}

fn own_backends(gate: &Gate, minor: &str, variant: Option<&str>) -> OwnBackends {
    let replicas = LocalFixture::start(&[0; 6]).unwrap();
    let (envoy, dir) = start_envoy(&replicas, variant);
    let kubeconfig = gate
        .artifacts_dir()
        .join("cells")
        .join(minor)
        .join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();
    let address = |url: String| -> std::net::SocketAddr {
        url.trim_start_matches("http://").parse().unwrap()
    };
    let v1 = replicas
        .replicas
        .iter()
        .find(|replica| replica.backend == conformance::fixture::V1)
        .unwrap();
    prepend_rules(
        &gate.fakes,
        vec![
            Rule::new(
                "kubectl",
                &[
                    kubeconfig,
                    "port-forward",
                    "service/conformance-gateway",
                    ":80",
                ],
            )
            .relay(address(envoy.url())),
            Rule::new(
                "kubectl",
                &[
                    kubeconfig,
                    "port-forward",
                    "service/conformance-gateway",
                    ":8080",
                ],
            )
            .relay(address(envoy.ports.second_listener_url())),
            Rule::new(
                "kubectl",
                &[
                    kubeconfig,
                    "port-forward",
                    &format!("pod/{}", v1.server.pod()),
                ],
            )
            .relay(v1.server.local_addr()),
        ],
    );
    OwnBackends {
        _replicas: replicas,
        _envoy: envoy,
        _dir: dir,
    }
}

fn cluster_of(minor: &str) -> String {
    format!("release-gate-run-{RUN_ID}-k{}", minor.replace('.', ""))
}

fn run_json(gate: &Gate) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(gate.artifacts_dir().join("run.json")).unwrap())
        .unwrap()
}

fn cell<'j>(json: &'j serde_json::Value, label: &str) -> &'j serde_json::Value {
    json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cell| cell["label"] == label)
        .unwrap_or_else(|| panic!("no cell {label} in {json}"))
}

/// Nothing of any cell is left: clusters, owner records, kubeconfigs, fake processes.
fn assert_no_cell_leaked(gate: &Gate, output: &exec::Output) {
    gate.assert_nothing_leaked(output);
    for minor in ["1.36", "1.35"] {
        let kubeconfig = gate
            .artifacts_dir()
            .join("cells")
            .join(minor)
            .join("kubeconfig");
        assert!(!kubeconfig.exists(), "{} was left", kubeconfig.display());
    }
}

fn two_cells_each_pass_on_their_own_cluster_and_every_report_says_so() {
    if !components() {
        return;
    }
    let gate = two_cell_gate("cells-pass");
    let _backends = own_backends(&gate, "1.35", None);
    let output = gate.run(&["--parallel", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let json = run_json(&gate);
    assert_eq!(json["verdict"], "passed");
    assert_eq!(
        json["kubernetes"]["minors"],
        serde_json::json!(["1.36", "1.35"])
    );
    for minor in ["1.36", "1.35"] {
        let cell = cell(&json, minor);
        assert_eq!(cell["verdict"], "passed", "{cell}");
        assert_eq!(cell["cluster"], cluster_of(minor), "{cell}");
        assert_eq!(cell["fate"], "deleted", "{cell}");
        assert_eq!(cell["kubectl"], "v1.36.0", "{cell}");
        assert_eq!(cell["conformance"]["failed"], 0, "{cell}");
        // Each cell's own reports in its own folder.
        let dir = gate.artifacts_dir().join("cells").join(minor);
        for file in [
            "conformance/conformance-report.yaml",
            "conformance/junit.xml",
        ] {
            assert!(dir.join(file).is_file(), "{minor}: {file} missing");
        }
        // Its own cluster, from its own minor's node image, with the recorded images loaded.
        let calls = gate.fakes.calls_of("kind");
        let create = calls
            .iter()
            .find(|call| call.has(&["create", "cluster", "--name", &cluster_of(minor)]))
            .unwrap_or_else(|| panic!("no create for {minor}"));
        assert!(
            create
                .flag("--image")
                .is_some_and(|image| image.starts_with(&format!("kindest/node:v{minor}."))),
            "{}",
            create.line()
        );
        assert!(
            calls.iter().any(|call| call.has(&["load", "image-archive"])
                && call.flag("--name") == Some(cluster_of(minor).as_str())),
            "no images loaded into {minor}"
        );
    }
    // summary.md starts with the matrix: a row per case, a column per cell.
    let summary = std::fs::read_to_string(gate.artifacts_dir().join("summary.md")).unwrap();
    let matrix_at = summary
        .find("| | Kubernetes 1.36 | Kubernetes 1.35 |")
        .unwrap();
    assert!(matrix_at < summary.find("- Verdict:").unwrap(), "{summary}");
    assert!(
        summary.contains("| `weighted-split` | pass | pass |"),
        "{summary}"
    );
    assert!(
        summary.contains("| Verdict | **passed** | **passed** |"),
        "{summary}"
    );
    // The JUnit: the run's own suite and one per cell.
    let junit = std::fs::read_to_string(gate.artifacts_dir().join("junit-pipeline.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");
    assert!(junit.contains("name=\"conformance@1.35\""), "{junit}");
    assert_no_cell_leaked(&gate, &output);
}

fn a_cell_that_fails_a_case_fails_the_release_and_is_named_everywhere() {
    if !components() {
        return;
    }
    let gate = two_cell_gate("cells-fail");
    // The 1.35 cell's gateway is a broken Envoy: its weights are 50/50.
    let _backends = own_backends(&gate, "1.35", Some("weights-50-50"));
    let output = gate.run(&["--parallel", "2"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let all = text(&output);
    assert!(all.contains("failing cases: weighted-split@1.35"), "{all}");
    assert!(all.contains("cell Kubernetes 1.35: failed"), "{all}");
    let json = run_json(&gate);
    assert_eq!(json["verdict"], "failed");
    assert_eq!(cell(&json, "1.36")["verdict"], "passed");
    assert_eq!(cell(&json, "1.35")["verdict"], "failed");
    assert_eq!(
        cell(&json, "1.35")["failing_cases"],
        serde_json::json!(["weighted-split"])
    );
    let summary = std::fs::read_to_string(gate.artifacts_dir().join("summary.md")).unwrap();
    assert!(
        summary.contains("| `weighted-split` | pass | **FAIL** |"),
        "{summary}"
    );
    // Only the failed cell was diagnosed.
    assert!(gate.artifacts_dir().join("cells/1.35/diagnostics").is_dir());
    assert!(!gate.artifacts_dir().join("cells/1.36/diagnostics").exists());
    assert_no_cell_leaked(&gate, &output);
}

fn a_cell_whose_cluster_cannot_be_created_could_not_run_and_the_other_passes() {
    if !components() {
        return;
    }
    let gate = two_cell_gate("cells-create");
    prepend_rules(
        &gate.fakes,
        vec![
            Rule::new("kind", &["create", "cluster", "--name", &cluster_of("1.35")])
                .stderr("ERROR: failed to create cluster: could not find a log line that matches \"Reached target .*Multi-User System.*\"\n")
                .exit(1),
        ],
    );
    let output = gate.run(&["--parallel", "2", "--keep-cluster"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let json = run_json(&gate);
    assert_eq!(json["verdict"], "could-not-run");
    assert_eq!(cell(&json, "1.36")["verdict"], "passed", "{json}");
    assert_eq!(cell(&json, "1.36")["conformance"]["failed"], 0, "{json}");
    assert_eq!(cell(&json, "1.35")["verdict"], "could-not-run", "{json}");
    assert_eq!(cell(&json, "1.35")["fate"], "never-created", "{json}");
    assert!(
        text(&output).contains("cell Kubernetes 1.35: could-not-run (cluster@1.35: "),
        "{}",
        text(&output)
    );
    // --keep-cluster kept the cluster that exists, and says where its own kubeconfig is.
    let kubeconfig = gate.artifacts_dir().join("cells/1.36/kubeconfig");
    assert!(
        output.stdout_str().contains(&format!(
            "cluster {} is kept: kubectl --kubeconfig {} get pods -A",
            cluster_of("1.36"),
            kubeconfig.display()
        )),
        "{}",
        text(&output)
    );
    assert!(kubeconfig.is_file());
    assert_eq!(gate.fakes.clusters(), [cluster_of("1.36")]);
    assert!(
        gate.owner_records().is_empty(),
        "a kept cluster is no longer owned"
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        two_cells_each_pass_on_their_own_cluster_and_every_report_says_so,
        a_cell_that_fails_a_case_fails_the_release_and_is_named_everywhere,
        a_cell_whose_cluster_cannot_be_created_could_not_run_and_the_other_passes,
    ]
}

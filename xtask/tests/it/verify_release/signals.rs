//! Signals: SIGINT and SIGTERM during each step in turn, and a run killed outright whose
//! cluster the next run (or `kind-down --stale`) deletes.

use std::time::Duration;

use fake_tools::Rule;
use testkit::http::Reply;

use super::*;

/// Holds `step` running (a command that never returns, a server that answers late) so a
/// signal arrives during it.
fn hold(gate: &mut Gate, step: &str) {
    let hang = |tool: &str, words: &[&str]| gate.fakes.rule(Rule::new(tool, words).hang()).unwrap();
    let late = Reply::status(503).delay(Duration::from_secs(8));
    match step {
        "tools" => hang("kind", &["version"]),
        "resolve" => gate
            .server
            .route(&format!("repos/{REPO}/releases/tags/{TAG}"), late),
        "crd-bundle" => gate.server.route(&gate.bundle_route.clone(), late),
        "assets" => gate
            .server
            .route(&format!("download/{TAG}/images.tar"), late),
        "images" => {
            gate.set_config("none", &["release-gate-test/pull-me:{version}"]);
            gate.hang_docker("pull");
        }
        "record" => gate.hang_docker("load"),
        "cluster" => gate
            .fakes
            .rule(Rule::new("kind", &["create", "cluster"]).builtin().hang())
            .unwrap(),
        "echo-image" => gate.hang_docker("build"),
        "load-balancer" => {
            gate.set_config("cloud-provider-kind", &[]);
            gate.hang_docker("run");
        }
        "load-images" => hang("kind", &["load", "image-archive"]),
        "crds" => hang("kubectl", &["wait", "--for=condition=Established"]),
        "charts" => hang("helm", &["upgrade", "--install"]),
        "fixture" => {
            let fixture = gate.artifacts_dir().join("fixture.yaml");
            hang("kubectl", &["apply", "-f", fixture.to_str().unwrap()]);
        }
        "gateway" => hang("kubectl", &["port-forward"]),
        // The suite runs for seconds against Envoy: long enough by itself.
        "conformance" => {}
        other => panic!("no way to hold step {other}"),
    }
}

/// SIGINT and SIGTERM, alternating, during each step in turn: the run stops with 128 + the
/// signal, after cleanup, and leaves no cluster, no owner record, no kubeconfig and no child.
fn a_signal_during_any_step_cleans_up_and_exits_128_plus_the_signal() {
    if !components() {
        return;
    }
    let steps = [
        "tools",
        "resolve",
        "crd-bundle",
        "assets",
        "images",
        "record",
        "cluster",
        "echo-image",
        "load-balancer",
        "load-images",
        "crds",
        "charts",
        "fixture",
        "gateway",
        "conformance",
    ];
    for (index, step) in steps.into_iter().enumerate() {
        let (signal, code) = if index % 2 == 0 {
            ("INT", 130)
        } else {
            ("TERM", 143)
        };
        let mut gate = Gate::new(&format!("signal-{step}"), None);
        hold(&mut gate, step);
        let (exit, stderr) = gate.interrupt_during(&gate.artifacts_dir(), step, signal);
        assert_eq!(exit, Some(code), "SIG{signal} during {step}:\n{stderr}");
        let output = exec::Output {
            status: std::os::unix::process::ExitStatusExt::from_raw(0),
            stdout: Vec::new(),
            stderr: stderr.clone().into_bytes(),
        };
        gate.assert_nothing_leaked(&output);
        let run: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(gate.artifacts_dir().join("run.json")).unwrap_or_else(
                |error| panic!("no run.json after SIG{signal} during {step}: {error}\n{stderr}"),
            ),
        )
        .unwrap();
        assert_eq!(run["verdict"], "interrupted", "during {step}");
        assert_eq!(run["exit_code"], code, "during {step}");
        let cleanup = run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "cleanup")
            .unwrap()
            .clone();
        assert_eq!(cleanup["status"], "succeeded", "during {step}: {cleanup}");
    }
}

/// A run killed outright (SIGKILL) cannot clean up: its cluster stays, with its owner record.
/// Returns the gate and the leaked cluster's name; a cluster someone else made is beside it.
fn killed_run() -> (Gate, String) {
    let gate = Gate::new("killed", None);
    gate.fakes
        .rule(Rule::new("helm", &["upgrade", "--install"]).hang().times(1))
        .unwrap();
    gate.fakes.add_clusters(&["someone-elses"]).unwrap();
    let (exit, stderr) = gate.interrupt_during(&gate.artifacts_dir(), "charts", "KILL");
    assert_eq!(exit, None, "SIGKILL did not kill xtask:\n{stderr}");
    // The hanging helm outlived its parent (its own process group): a runner crash would take
    // it too.
    for pid in gate.fakes.pids() {
        let _ = exec::Shell::new().run_unchecked(
            &exec::Cmd::new("kill", "stop the orphan").args(["-KILL", &pid.to_string()]),
        );
    }
    let clusters = gate.fakes.clusters();
    let leaked: Vec<&String> = clusters
        .iter()
        .filter(|name| name.starts_with(cluster::owner::CLUSTER_PREFIX))
        .collect();
    assert_eq!(leaked.len(), 1, "{clusters:?}");
    assert_eq!(gate.owner_records().len(), 1);
    let leaked = leaked[0].clone();
    (gate, leaked)
}

fn the_next_run_deletes_a_killed_runs_cluster_and_nothing_else() {
    if !components() {
        return;
    }
    let (gate, leaked) = killed_run();
    let second = gate.work.path().join("second");
    let output = gate
        .fakes
        .shell()
        .run_unchecked(&gate.cmd_in(&second, &[]))
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        output
            .stderr_str()
            .contains(&format!("delete stale cluster {leaked}")),
        "{}",
        text(&output)
    );
    assert_eq!(
        gate.fakes.clusters(),
        ["someone-elses"],
        "{}",
        text(&output)
    );
    assert!(
        gate.owner_records().is_empty(),
        "{:?}",
        gate.owner_records()
    );
}

fn kind_down_stale_deletes_only_clusters_of_killed_runs() {
    if !components() {
        return;
    }
    let (gate, leaked) = killed_run();
    let down = |extra: &[&str]| {
        let cmd = crate::context::isolated("run kind-down --stale")
            .args(["kind-down", "--stale"])
            .args(extra);
        gate.fakes
            .shell()
            .run_unchecked(&gate.with_env(cmd))
            .unwrap()
    };
    let plan = down(&["--dry-run"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(
        plan.stdout_str()
            .contains(&format!("delete cluster --name {leaked}")),
        "{}",
        text(&plan)
    );
    assert!(
        !plan.stdout_str().contains("someone-elses"),
        "{}",
        text(&plan)
    );
    assert_eq!(
        gate.fakes.clusters().len(),
        2,
        "the dry run deleted something"
    );
    let output = down(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        output
            .stdout_str()
            .contains(&format!("deleted stale clusters: {leaked}")),
        "{}",
        text(&output)
    );
    assert_eq!(gate.fakes.clusters(), ["someone-elses"]);
    assert!(gate.owner_records().is_empty());
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        a_signal_during_any_step_cleans_up_and_exits_128_plus_the_signal,
        the_next_run_deletes_a_killed_runs_cluster_and_nothing_else,
        kind_down_stale_deletes_only_clusters_of_killed_runs,
    ]
}

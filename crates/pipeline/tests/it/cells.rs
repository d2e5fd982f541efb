//! A run over several Kubernetes minors, in process: a cell (a cluster, its own names and
//! folder) per minor; a cell that fails does not stop the others; a signal deletes every
//! cell's cluster.

use super::*;

const THREE: &[&str] = &["1.36", "1.35", "1.34"];

/// A run over `minors` with one kubectl for all of them: v1.35.8 is within one minor of 1.34,
/// 1.35 and 1.36 (the fake reports one version, so the cells cannot each get their own).
fn cells_run(minors: &'static [&'static str]) -> Run {
    let mut run = Run::new();
    run.minors = minors;
    run.fakes.set_version("kubectl", "v1.35.8").unwrap();
    run.env.push(("KUBECTL_VERSION", "v1.35.8".to_owned()));
    run
}

fn kind_creates(fakes: &FakeTools) -> Vec<String> {
    fakes
        .calls_of("kind")
        .iter()
        .filter(|call| call.has(&["create", "cluster"]))
        .filter_map(|call| call.flag("--name").map(str::to_owned))
        .collect()
}

fn step<'j>(json: &'j serde_json::Value, name: &str) -> &'j serde_json::Value {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {json}"))
}

#[test]
fn a_signal_while_three_clusters_exist_deletes_every_one_of_them() {
    let mut run = cells_run(THREE);
    // The release resolves late (and the client waits for it); every cell gets its cluster
    // and then hangs applying the CRDs.
    run.request_timeout_secs = 60;
    // (A read blocked on a silent server ends only when the server answers: 8 s here.)
    run.server.route(
        &format!("/repos/{REPO}/releases/tags/{TAG}"),
        Reply::status(404).delay(Duration::from_secs(8)),
    );
    run.fakes
        .rule(Rule::new("kubectl", &["apply"]).hang())
        .unwrap();
    let started = Instant::now();
    let (outcome, _) = run.run(|token, fakes| {
        while fakes.clusters().len() < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the three clusters never existed: {:?}; calls: {:?}",
                fakes.clusters(),
                fakes
                    .calls()
                    .iter()
                    .map(|call| call.line())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        token.cancel(cancel::Reason::Signal(2));
    });
    assert_eq!(outcome.verdict, Verdict::Interrupted(2));
    assert_eq!(outcome.verdict.exit_code(), 130);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the run waited for more than the API's answer"
    );
    assert!(
        run.fakes.clusters().is_empty(),
        "{:?}",
        run.fakes.clusters()
    );
    // Each cell had its own cluster, named after the run and its minor, and its own folder.
    let mut created = kind_creates(&run.fakes);
    created.sort();
    assert_eq!(
        created,
        [
            "release-gate-run-pipeline-it-k134",
            "release-gate-run-pipeline-it-k135",
            "release-gate-run-pipeline-it-k136"
        ]
    );
    let json = run.run_json();
    for minor in THREE {
        assert_eq!(
            step(&json, &format!("cleanup@{minor}"))["status"],
            "succeeded"
        );
        assert!(
            matches!(
                step(&json, &format!("diagnostics@{minor}"))["status"].as_str(),
                Some("skipped")
            ),
            "no diagnostics after a signal"
        );
        let cell_dir = run.work.path().join("run/cells").join(minor);
        assert!(cell_dir.is_dir(), "{minor} has no folder");
        assert!(
            !cell_dir.join("kubeconfig").exists(),
            "{minor}'s kubeconfig was left"
        );
    }
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    assert_eq!(cells[0]["label"], "1.36");
    assert_eq!(cells[2]["fate"], "deleted");
    // No owner record is left for the sweep of a later run.
    assert!(
        std::fs::read_dir(run.work.path().join("verify/owners"))
            .map(|entries| entries.count() == 0)
            .unwrap_or(true)
    );
}

#[test]
fn a_cell_whose_cluster_cannot_be_created_does_not_stop_the_others() {
    let run = cells_run(THREE);
    run.server.route(
        &format!("/repos/{REPO}/releases/tags/{TAG}"),
        Reply::status(404).delay(Duration::from_secs(2)),
    );
    run.fakes
        .rule(
            Rule::new(
                "kind",
                &[
                    "create",
                    "cluster",
                    "--name",
                    "release-gate-run-pipeline-it-k135",
                ],
            )
            .stderr("ERROR: failed to create cluster: kubeadm init failed\n")
            .exit(1),
        )
        .unwrap();
    // The other cells' CRDs take a while: they are still applying when the 1.35 cell fails.
    run.fakes
        .rule(
            Rule::new("kubectl", &["apply"])
                .builtin()
                .delay(Duration::from_millis(700)),
        )
        .unwrap();
    let (outcome, _) = run.run(|_, _| {});
    let json = run.run_json();
    assert_eq!(step(&json, "cluster@1.35")["status"], "failed", "{json}");
    // The other cells went on: their clusters came up and their CRDs were applied after the
    // 1.35 cell had failed (only the release's absence, later, stopped them).
    for minor in ["1.36", "1.34"] {
        assert_eq!(
            step(&json, &format!("crds@{minor}"))["status"],
            "succeeded",
            "{json}"
        );
        assert!(
            step(&json, &format!("crds@{minor}"))["finished_ms"].as_u64()
                > step(&json, "cluster@1.35")["finished_ms"].as_u64(),
            "{json}"
        );
    }
    // The 1.35 cell was diagnosed (nothing to diagnose: no cluster) and cleaned up at once.
    assert_eq!(step(&json, "cleanup@1.35")["status"], "succeeded");
    // The release the API does not know decides: bad input, named.
    assert_eq!(
        outcome.verdict,
        Verdict::BadInput,
        "{:?}",
        outcome.failing_step
    );
    assert_eq!(failing_step(&outcome), Some(Stage::Resolve));
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells[1]["verdict"], "could-not-run", "{json}");
    assert!(
        cells[1]["failing_step"]["message"]
            .as_str()
            .unwrap()
            .contains("kubeadm init failed"),
        "{json}"
    );
    assert!(
        run.fakes.clusters().is_empty(),
        "{:?}",
        run.fakes.clusters()
    );
    // The JUnit has the run's own suite and one per cell.
    let junit = std::fs::read_to_string(run.work.path().join("run/junit-pipeline.xml")).unwrap();
    for minor in THREE {
        assert!(
            junit.contains(&format!(
                "verify-release example-gateway {TAG} kubernetes {minor}\""
            )),
            "{junit}"
        );
    }
    assert!(
        junit.contains("<property name=\"kubernetes.minors\" value=\"1.36,1.35,1.34\"/>"),
        "{junit}"
    );
}

#[test]
fn parallel_one_holds_one_cluster_at_a_time() {
    let mut run = cells_run(&["1.36", "1.35"]);
    run.parallel = Some(1);
    run.server.route(
        &format!("/repos/{REPO}/releases/tags/{TAG}"),
        Reply::status(404).delay(Duration::from_millis(2500)),
    );
    let (outcome, _) = run.run(|_, _| {});
    assert_eq!(outcome.verdict, Verdict::BadInput);
    let json = run.run_json();
    // The second cell's cluster came only after the first cell's cleanup.
    let second = step(&json, "cluster@1.35");
    let first_cleanup = step(&json, "cleanup@1.36");
    match second["started_ms"].as_u64() {
        Some(started) => assert!(
            started >= first_cleanup["finished_ms"].as_u64().unwrap(),
            "{json}"
        ),
        // Or it never started: the run had failed by then.
        None => assert_eq!(second["status"], "skipped", "{json}"),
    }
    assert!(run.fakes.clusters().is_empty());
}

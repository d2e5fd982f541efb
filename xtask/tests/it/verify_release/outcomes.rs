//! Verdicts and what each leaves: a correct gateway, a broken one, a cluster that cannot be
//! created, a kept cluster, the LoadBalancer provider, the dry-run plan, GitHub Actions output.

use fake_tools::{FakeTools, Rule};

use super::*;

fn a_correct_gateway_passes_with_every_report_and_nothing_left_behind() {
    if !components() {
        return;
    }
    let gate = Gate::new("passes", None);
    let output = gate.run(&[]);
    // Shown with --nocapture: what a release manager sees.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{}", text(&output));
    }
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let dir = gate.artifacts_dir();
    for file in [
        "commands.log",
        "artifacts.json",
        "run.json",
        "summary.md",
        "junit-pipeline.xml",
        "conformance/junit.xml",
        "conformance/conformance-report.yaml",
        "conformance/summary.md",
        "conformance/conformance.json",
        "logs/kind-version.txt",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{file} is missing\n{}",
            text(&output)
        );
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["verdict"], "passed");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["release"]["tag"], TAG);
    // Every step is timed, and the independent ones overlapped.
    let steps = run["steps"].as_array().unwrap();
    let step = |name: &str| steps.iter().find(|s| s["name"] == name).unwrap().clone();
    for name in [
        "tools",
        "resolve",
        "assets",
        "record",
        "cluster",
        "echo-image",
        "load-images",
        "crds",
        "charts",
        "fixture",
        "gateway",
        "conformance",
        "cleanup",
    ] {
        assert_eq!(step(name)["status"], "succeeded", "{name}: {}", step(name));
    }
    assert_eq!(step("diagnostics")["status"], "skipped");
    // Every case ran and passed but the gateway health endpoint, which the config lists none of.
    let suite: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("conformance/conformance.json")).unwrap(),
    )
    .unwrap();
    let skipped: Vec<&str> = suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["outcome"]["status"] != "passed")
        .filter_map(|case| case["name"].as_str())
        .collect();
    assert_eq!(skipped, ["gateway-health-endpoints"], "{suite}");
    let (cluster, echo) = (step("cluster"), step("echo-image"));
    assert!(
        cluster["started_ms"].as_u64() < echo["finished_ms"].as_u64()
            && echo["started_ms"].as_u64() < cluster["finished_ms"].as_u64(),
        "cluster and echo-image did not overlap: {cluster} {echo}"
    );
    // The release's image and the echo image were loaded from archives, by the recorded ID.
    let record = artifact::record::read(&dir).unwrap();
    assert_eq!(record.images.len(), 1);
    assert_eq!(record.images[0].reference, gate.release_image);
    let loads = gate
        .fakes
        .calls_of("kind")
        .into_iter()
        .filter(|call| call.has(&["load", "image-archive"]))
        .count();
    assert_eq!(loads, 2);
    // commands.log: every command with its step, exit code and duration.
    let log = std::fs::read_to_string(dir.join("commands.log")).unwrap();
    assert!(log.contains("[cluster] start "), "{log}");
    assert!(
        log.lines()
            .any(|line| line.contains("[charts] exit 0 after ")
                && line.contains("upgrade --install")),
        "{log}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("verified, every case passed"), "{summary}");
    assert!(summary.contains("```text"), "no timeline: {summary}");
    // The last lines name the verdict and where the reports are.
    let stdout = output.stdout_str();
    assert!(
        stdout.contains("verify-release: example-gateway v2.1.0: verified"),
        "{}",
        text(&output)
    );
    assert!(
        stdout.contains(&format!("reports: {}", dir.display())),
        "{}",
        text(&output)
    );
    gate.assert_nothing_leaked(&output);
}

fn a_gateway_with_wrong_weights_fails_naming_the_case_with_diagnostics() {
    if !components() {
        return;
    }
    let gate = Gate::new("weights", Some("weights-50-50"));
    let output = gate.run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = output.stdout_str();
    let tail: Vec<&str> = stdout.lines().rev().take(6).collect();
    assert!(
        tail.iter()
            .any(|line| line.starts_with("failing cases:") && line.contains("weighted-split")),
        "the last lines do not name weighted-split:\n{}",
        text(&output)
    );
    let diagnostics = gate.artifacts_dir().join("diagnostics");
    for file in [
        "events.txt",
        "gateways.txt",
        "index.txt",
        "helm-status-example-gateway.txt",
        "helm-history-example-gateway.txt",
    ] {
        assert!(
            diagnostics.join(file).is_file(),
            "{file} missing\n{}",
            text(&output)
        );
    }
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(gate.artifacts_dir().join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run["verdict"], "failed");
    assert_eq!(run["failing_cases"], serde_json::json!(["weighted-split"]));
    gate.assert_nothing_leaked(&output);
}

fn a_failing_kind_create_could_not_run_and_leaks_nothing() {
    if !components() {
        return;
    }
    let gate = Gate::new("create-fails", None);
    gate.fakes
        .rule(
            Rule::new("kind", &["create", "cluster"])
                .builtin()
                .stderr("ERROR: failed to create cluster: failed to init node with kubeadm\n")
                .exit(1),
        )
        .unwrap();
    let output = gate.run(&[]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(
        output.stdout_str().contains("failing step: cluster"),
        "{}",
        text(&output)
    );
    gate.assert_nothing_leaked(&output);
}

fn cloud_provider_kind_gives_the_gateway_an_address_and_an_unroutable_one_falls_back() {
    if !components() {
        return;
    }
    let mut gate = Gate::new("provider", None);
    gate.set_config("cloud-provider-kind", &[]);
    gate.stub_provider();
    give_the_gateway_an_address(&gate.fakes);
    let output = gate.run(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let provider_log = std::fs::read_to_string(gate.work.path().join("provider.log")).unwrap();
    let lines: Vec<&str> = provider_log.lines().collect();
    assert_eq!(lines.len(), 2, "{provider_log}");
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    assert!(
        lines[0].starts_with("run --detach --name release-gate-cloud-provider-kind ")
            && lines[0].contains(&format!(
                "--network host --volume /var/run/docker.sock:/var/run/docker.sock {} --gateway-channel=disabled",
                pins.images.cloud_provider_kind.reference
            )),
        "{provider_log}"
    );
    assert!(
        lines[1] == "rm --force release-gate-cloud-provider-kind",
        "{provider_log}"
    );
    let stderr = output.stderr_str();
    assert!(
        stderr.contains("has the address 127.0.0.2"),
        "{}",
        text(&output)
    );
    assert!(
        stderr.contains(
            "through a port-forward: the host cannot reach the Gateway's address 127.0.0.2:80"
        ),
        "{}",
        text(&output)
    );
    gate.assert_nothing_leaked(&output);
}

fn keep_cluster_leaves_it_with_its_kubeconfig_and_says_how_to_delete_it() {
    if !components() {
        return;
    }
    let gate = Gate::new("keep", None);
    let output = gate.run(&["--keep-cluster"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let clusters = gate.fakes.clusters();
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    let kubeconfig = gate.artifacts_dir().join("kubeconfig");
    assert!(kubeconfig.is_file());
    let stdout = output.stdout_str();
    assert!(
        stdout.contains(&format!(
            "cluster {} is kept: kubectl --kubeconfig {} get pods -A; delete it with `kind delete cluster --name {}`",
            clusters[0],
            kubeconfig.display(),
            clusters[0]
        )),
        "{}",
        text(&output)
    );
    // The user owns it now: a later run's sweep must not take it away.
    assert!(gate.owner_records().is_empty());
    assert!(
        !gate
            .fakes
            .calls_of("kind")
            .iter()
            .any(|call| call.has(&["delete", "cluster"]))
    );
}

/// `verify-release --dry-run --config <dir>/target.toml --artifacts-dir <dir>/run` with
/// `config` as the target and `extra` arguments: no docker, no network, no installed tool.
fn dry_run(dir: &Path, fakes: &FakeTools, config: &str, extra: &[&str]) -> exec::Output {
    let path = dir.join("target.toml");
    std::fs::write(&path, config).unwrap();
    let cmd = crate::context::isolated("plan verify-release")
        .args(["verify-release", "--dry-run", "--config"])
        .arg(&path)
        .arg("--artifacts-dir")
        .arg(dir.join("run"))
        .args(extra)
        .env("KIND", fakes.program("kind"))
        .env("KUBECTL", fakes.program("kubectl"))
        .env("HELM", fakes.program("helm"))
        .env("DOCKER", dir.join("no-docker-here"))
        .env("XTASK_TOOLS_DIR", dir.join("tools"))
        .env("XTASK_VERIFY_DIR", dir.join("verify"))
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .env_remove("GITHUB_ACTIONS");
    fakes.shell().run_unchecked(&cmd).unwrap()
}

/// A target that lists its supported Kubernetes minors is verified on each of them with a pinned
/// node image (a cell, a cluster each), never on one it does not claim; the others are named as
/// not verified, and why. `--kubernetes` narrows to listed minors; an unlisted one, a repeated
/// one, `--parallel 0`, or any of them on a cluster you bring, is exit 2.
fn every_supported_minor_with_an_image_is_a_cell_and_the_plan_names_the_others() {
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = FakeTools::new().unwrap();
    let config = format!(
        "{}\n[kubernetes]\nminors = [\"1.36\", \"1.35\", \"1.33\"]\n",
        target_config("cloud-provider-kind", &["registry.example/gw:{version}"])
    );
    let output = dry_run(gate_dir.path(), &fakes, &config, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan = output.stdout_str();
    for expected in [
        "# Kubernetes 1.36, 1.35 (the target's supported minors with a pinned node image); not verified in this run: 1.33 (no pinned node image: kind v0.33.0 publishes none for it)",
        "# 2 cells, a kind cluster each; ",
        "#   Kubernetes 1.35: cluster release-gate-run-",
        ", kubectl v1.35.8, folder ",
        "## cluster@1.36 (needs tools): ",
        "## conformance@1.35 (needs gateway@1.35): ",
        "-k136 --image kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed ",
        "-k135 --image kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0 ",
        "/cells/1.35/kubeconfig",
    ] {
        assert!(
            plan.contains(expected),
            "the plan lacks `{expected}`:\n{plan}"
        );
    }

    let output = dry_run(gate_dir.path(), &fakes, &config, &["--kubernetes", "1.35"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan = output.stdout_str();
    for expected in [
        "# Kubernetes 1.35 (--kubernetes 1.35); not verified in this run: 1.36 (not among this run's minors: verify it with --kubernetes 1.36), 1.33 (",
        "--image kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0 ",
        "## cluster (needs tools): ",
    ] {
        assert!(
            plan.contains(expected),
            "the plan lacks `{expected}`:\n{plan}"
        );
    }
    // One cell: the run's own names and folder, no cells.
    assert!(!plan.contains("cells/"), "{plan}");

    // One cluster at a time: the second cell's cluster waits for the first's cleanup.
    let output = dry_run(
        gate_dir.path(),
        &fakes,
        &config,
        &["--kubernetes", "all", "--parallel", "1"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan = output.stdout_str();
    for expected in [
        "# Kubernetes 1.36, 1.35 (--kubernetes all: every supported minor with a pinned node image)",
        "1 of 2 cell(s) at once",
        "## cluster@1.35 (needs tools) (and waits for cleanup@1.36: at most 1 clusters at once): ",
    ] {
        assert!(
            plan.contains(expected),
            "the plan lacks `{expected}`:\n{plan}"
        );
    }

    for (extra, expected) in [
        (
            &["--kubernetes", "1.37"][..],
            "does not list Kubernetes 1.37 as supported ([kubernetes] minors = [1.36, 1.35, 1.33])",
        ),
        (
            &["--kubernetes", "1.35,1.36,1.35"],
            "Kubernetes 1.35 is named twice",
        ),
        (
            &["--parallel", "0"],
            "--parallel 0: at least one cell must run",
        ),
        (
            &["--kubernetes", "1.33"],
            "the pin file has no node image for Kubernetes 1.33; the pinned minors are 1.37, 1.36, 1.35, 1.34",
        ),
        (
            &[
                "--kubernetes",
                "1.35",
                "--cluster",
                "existing",
                "--context",
                "kind-x",
            ],
            "a cluster you bring (--cluster existing) runs its own version: drop --kubernetes",
        ),
    ] {
        let output = dry_run(gate_dir.path(), &fakes, &config, extra);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{extra:?}: {}",
            text(&output)
        );
        assert!(
            output.stderr_str().contains(expected),
            "{extra:?}: {}",
            text(&output)
        );
    }
    assert!(calls_but_version_probes(&fakes).is_empty());
}

fn dry_run_prints_the_whole_plan_for_another_target_and_runs_nothing() {
    // No docker, no network and no installed tool are needed: nothing runs.
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = FakeTools::new().unwrap();
    let artifacts = gate_dir.path().join("run");
    let output = dry_run(
        gate_dir.path(),
        &fakes,
        &target_config("cloud-provider-kind", &["registry.example/gw:{version}"]),
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan = output.stdout_str();
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    for expected in [
        "#   wave 1: tools ‖ resolve ‖ crd-bundle",
        "# the run's folder: ",
        "; downloads are cached in ",
        "#   wave 2: assets ‖ images ‖ cluster ‖ echo-image",
        &format!("# GET http://127.0.0.1:9/repos/{REPO}/releases/latest"),
        "docker pull --quiet 'registry.example/gw:<resolved tag>'",
        " create cluster --name release-gate-run-",
        "--gateway-channel=disabled",
        " load image-archive ",
        "helm upgrade --install example-gateway oci://registry.example/charts/example-gateway --version '<resolved tag>'",
        " port-forward ",
        &format!(
            "cargo +{} build --release --locked -p echo",
            pins.build.rust
        ),
        &format!(
            "/hack/echo/Dockerfile --tag {} --build-arg RUST_VERSION={}",
            pins.images.echo, pins.build.rust
        ),
        "## cleanup: ",
        " delete cluster --name release-gate-run-",
    ] {
        assert!(
            plan.contains(expected),
            "the plan lacks `{expected}`:\n{plan}"
        );
    }
    // Nothing ran: not one call of a fake, no folder created.
    let calls = calls_but_version_probes(&fakes);
    assert!(calls.is_empty(), "{calls:?}");
    assert!(
        !artifacts.exists(),
        "the dry run created the artifacts folder"
    );
}

/// Nothing of a dry run happened: no tool was called (but for version probes), no folder made.
fn assert_nothing_ran(dir: &Path, fakes: &FakeTools, output: &exec::Output) {
    let calls = calls_but_version_probes(fakes);
    assert!(calls.is_empty(), "{calls:?}: {}", text(output));
    assert!(!dir.join("run").exists(), "{}", text(output));
}

fn a_typo_in_the_conformance_section_is_bad_input_naming_its_line_before_any_work() {
    let base = target_config("none", &[]);
    for (entry, typo, says) in [
        (
            r#"skip = ["route-header", "route-hedaer"]"#,
            r#""route-hedaer""#,
            "[conformance] skip: there is no case `route-hedaer`; fix the name or remove it (the cases are: listener-connectivity, ",
        ),
        (
            r#"unsupported_features = ["HealthChek"]"#,
            r#""HealthChek""#,
            "[conformance] unsupported_features: there is no feature `HealthChek`; fix the name or remove it (the features are: Gateway, ",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fakes = FakeTools::new().unwrap();
        let config = format!("{base}{entry}\n");
        let output = dry_run(dir.path(), &fakes, &config, &[]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let at = format!(
            "{}:{}:{}: ",
            dir.path().join("target.toml").display(),
            config.lines().count(),
            entry.find(typo).unwrap() + 1
        );
        assert!(
            output.stderr_str().contains(&format!("{at}{says}")),
            "{}",
            text(&output)
        );
        assert_nothing_ran(dir.path(), &fakes, &output);
    }
}

fn a_bad_tag_is_located_in_the_config_and_a_bad_flag_is_named_as_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = FakeTools::new().unwrap();
    let config =
        target_config("none", &[]).replacen("[release]\n", "[release]\ntag = \"2.1/0\"\n", 1);
    let output = dry_run(dir.path(), &fakes, &config, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = output.stderr_str();
    assert!(
        stderr.contains(&format!(
            "{}:2:7: [release] tag: \"2.1/0\" is not a release tag we can verify: it contains '/'",
            dir.path().join("target.toml").display()
        )) && !stderr.contains("--tag"),
        "{}",
        text(&output)
    );
    assert_nothing_ran(dir.path(), &fakes, &output);

    let output = dry_run(
        dir.path(),
        &fakes,
        &target_config("none", &[]),
        &["--tag", "2.1/0"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        output
            .stderr_str()
            .contains("--tag: \"2.1/0\" is not a release tag we can verify: it contains '/'"),
        "{}",
        text(&output)
    );
    assert_nothing_ran(dir.path(), &fakes, &output);
}

fn a_tag_without_a_v_is_planned_as_it_is() {
    let with_tag = target_config("none", &["registry.example/gw:{version}"]).replacen(
        "[release]\n",
        "[release]\ntag = \"2.1.0\"\n",
        1,
    );
    for (config, extra) in [
        (
            target_config("none", &["registry.example/gw:{version}"]),
            &["--tag", "2.1.0"][..],
        ),
        (with_tag, &[][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fakes = FakeTools::new().unwrap();
        let output = dry_run(dir.path(), &fakes, &config, extra);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{extra:?}: {}",
            text(&output)
        );
        let plan = output.stdout_str();
        for expected in [
            &format!("# GET http://127.0.0.1:9/repos/{REPO}/releases/tags/2.1.0"),
            "helm upgrade --install example-gateway oci://registry.example/charts/example-gateway --version 2.1.0 ",
        ] {
            assert!(
                plan.contains(expected),
                "{extra:?}: the plan lacks `{expected}`:\n{plan}"
            );
        }
    }
}

fn under_github_actions_each_step_is_one_group_and_the_summary_is_appended() {
    if !components() {
        return;
    }
    let gate = Gate::new("actions", Some("weights-50-50"));
    let step_summary = gate.work.path().join("step-summary.md");
    std::fs::write(&step_summary, "earlier steps wrote this\n").unwrap();
    let step_outputs = gate.work.path().join("outputs");
    let cmd = gate
        .cmd(&[])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .env("GITHUB_OUTPUT", &step_outputs);
    let output = gate.fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = output.stderr_str();
    // Overlapping steps cannot share the log, so each step's lines come as one group when it ends.
    for step in [
        "tools",
        "resolve",
        "assets",
        "cluster",
        "echo-image",
        "charts",
        "conformance",
        "diagnostics",
        "cleanup",
    ] {
        assert_eq!(
            stderr.matches(&format!("::group::{step} — ")).count(),
            1,
            "{step}:\n{stderr}"
        );
    }
    assert_eq!(
        stderr.matches("::group::").count(),
        stderr.matches("::endgroup::").count(),
        "{stderr}"
    );
    // The failing case is annotated once, by name; nothing else is an error.
    let stdout = output.stdout_str();
    let errors: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| line.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("weighted-split"), "{errors:?}");
    let outputs = std::fs::read_to_string(&step_outputs).unwrap();
    assert_eq!(
        outputs,
        format!(
            "verdict=failed\nartifacts-dir={}\nexit-code=1\n",
            gate.artifacts_dir().display()
        )
    );
    assert!(
        !stderr
            .lines()
            .any(|line| line.starts_with("[conformance] ")),
        "plain-line prefixes under Actions:\n{stderr}"
    );
    let summary = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        summary.starts_with("earlier steps wrote this\n"),
        "{summary}"
    );
    assert!(
        summary.contains("# verify-release: example-gateway v2.1.0: FAILED, the release is broken"),
        "{summary}"
    );
    assert!(
        summary.contains("| `weighted-split` | **failed**"),
        "{summary}"
    );
}

fn without_a_docker_engine_the_verification_could_not_run() {
    if !components() {
        return;
    }
    let mut gate = Gate::new("no-engine", None);
    // A docker CLI whose engine does not answer, as when the daemon is stopped.
    let cli = gate.work.path().join("docker-down");
    std::fs::write(
        &cli,
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&cli, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    gate.docker = cli;
    let output = gate.run(&[]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(
        output.stdout_str().contains("failing step: tools"),
        "{}",
        text(&output)
    );
    gate.assert_nothing_leaked(&output);
}

/// A run that never got to create its cluster says so: the summary's cluster line is what the
/// cluster's owner reported, never "deleted" by default.
fn a_cluster_that_was_never_created_is_not_reported_deleted() {
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = FakeTools::new().unwrap();
    let run = gate_dir.path().join("run");
    let cmd = crate::context::xtask("verify-release with no kind", gate_dir.path())
        .args(["verify-release", "--artifacts-dir"])
        .arg(&run)
        .env("KIND", gate_dir.path().join("no-such-kind"))
        .env("KUBECTL", fakes.program("kubectl"))
        .env("HELM", fakes.program("helm"))
        .env("DOCKER", gate_dir.path().join("no-docker-here"))
        .env("GITHUB_API_URL", "http://127.0.0.1:9");
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    let line = summary
        .lines()
        .find(|line| line.starts_with("- Cluster:"))
        .unwrap_or_else(|| panic!("no cluster line in {summary}"));
    assert!(line.ends_with("(never created)"), "{line}");
    assert!(!summary.contains("(deleted)"), "{summary}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["cluster"]["fate"], "never-created", "{json}");
    assert!(
        fakes.calls_of("kind").is_empty(),
        "{:?}",
        fakes.calls_of("kind")
    );
}

/// A first run offline with the engine down learns everything it lacks at once, each with its
/// next step, not only whichever failure came first.
fn a_first_run_offline_says_everything_it_lacks_at_once() {
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = FakeTools::new().unwrap();
    fakes
        .rule(
            Rule::new("docker", &["version"])
                .stdout(
                    "{\"Client\":{\"Version\":\"28.2.2\",\"ApiVersion\":\"1.41\"},\"Server\":null}\n",
                )
                .stderr("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
                .exit(1),
        )
        .unwrap();
    let empty = gate_dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let run = gate_dir.path().join("run");
    let cmd = crate::context::xtask("verify-release offline", gate_dir.path())
        .args(["verify-release", "--artifacts-dir"])
        .arg(&run)
        .env("PATH", &empty)
        .env("DOCKER", fakes.program("docker"))
        .env("XTASK_TOOLS_MIRROR", "http://127.0.0.1:9")
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .timeout(std::time::Duration::from_secs(300));
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = output.stdout_str();
    let lacks = stdout
        .split_once("what this run lacks, all of it:")
        .unwrap_or_else(|| panic!("no list of what is missing: {}", text(&output)))
        .1;
    for expected in [
        "kind ",
        "kubectl ",
        "helm ",
        "the docker engine does not answer",
        "start the docker engine",
        "XTASK_TOOLS_MIRROR",
        // Whichever network step failed first (the others were cancelled by it).
        "could not reach its host: ",
        "127.0.0.1:9",
    ] {
        assert!(
            lacks.contains(expected),
            "{expected:?} missing from:\n{lacks}"
        );
    }
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(summary.contains("- What this run lacks:"), "{summary}");
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        a_cluster_that_was_never_created_is_not_reported_deleted,
        a_first_run_offline_says_everything_it_lacks_at_once,
        a_correct_gateway_passes_with_every_report_and_nothing_left_behind,
        a_gateway_with_wrong_weights_fails_naming_the_case_with_diagnostics,
        a_failing_kind_create_could_not_run_and_leaks_nothing,
        cloud_provider_kind_gives_the_gateway_an_address_and_an_unroutable_one_falls_back,
        keep_cluster_leaves_it_with_its_kubeconfig_and_says_how_to_delete_it,
        dry_run_prints_the_whole_plan_for_another_target_and_runs_nothing,
        every_supported_minor_with_an_image_is_a_cell_and_the_plan_names_the_others,
        a_typo_in_the_conformance_section_is_bad_input_naming_its_line_before_any_work,
        a_bad_tag_is_located_in_the_config_and_a_bad_flag_is_named_as_the_flag,
        a_tag_without_a_v_is_planned_as_it_is,
        under_github_actions_each_step_is_one_group_and_the_summary_is_appended,
        without_a_docker_engine_the_verification_could_not_run,
    ]
}

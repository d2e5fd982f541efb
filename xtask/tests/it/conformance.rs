//! `cargo xtask conformance`: bad usage exits 2 with a fix, and local mode against a real
//! HAProxy exits 0 on the good config and 1 on a broken one, writing the reports either way.

use std::path::Path;
use std::time::Duration;

use conformance::gateways::{self, Gateway, Kind, Ports};

fn all_cases() -> usize {
    conformance::cases::CASES.len()
}

fn xtask(args: &[&str]) -> exec::Output {
    let cmd = crate::context::isolated("run cargo xtask conformance")
        .arg("conformance")
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .timeout(Duration::from_secs(300));
    exec::Shell::new().run_unchecked(&cmd).expect("xtask runs")
}

fn bad_usage_exits_2_and_says_how_to_fix_it() {
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "--local",
                "--gateway-url",
                "http://127.0.0.1:1",
                "--skip",
                "route-typo",
            ],
            "the cases are: listener-connectivity",
        ),
        (
            &["--local", "--gateway-url", "https://127.0.0.1:1"],
            "plain HTTP",
        ),
        (
            &[
                "--local",
                "--gateway-url",
                "http://127.0.0.1:1",
                "--replica-ports",
                "1,2",
            ],
            "six ports",
        ),
        (
            &[
                "--local",
                "--gateway-url",
                "http://127.0.0.1:1",
                "--replica-ports",
                "1,1,2,3,4,5",
            ],
            "six different",
        ),
        (
            &[
                "--gateway-url",
                "http://127.0.0.1:1",
                "--replica-control",
                "nonsense",
            ],
            "POD=URL",
        ),
        (
            &[
                "--gateway-url",
                "http://127.0.0.1:1",
                "--replica-control",
                "infra-backend-v2-a-b=http://127.0.0.1:2",
            ],
            "not an infra-backend-v1 replica",
        ),
    ];
    let more: [(&[&str], &str); 3] = [
        (
            &["--local", "--start-gateway", "caddy"],
            "use haproxy, nginx or envoy",
        ),
        (
            &["--local", "--start-gateway", "envoy", "--variant", "nope"],
            "envoy has the variants weights-50-50",
        ),
        (&["--start-gateway", "envoy"], "--local"),
    ];
    for (args, fix) in cases.into_iter().chain(more) {
        let output = xtask(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            output.stderr_str()
        );
        assert!(
            output.stderr_str().contains(fix),
            "{args:?}: {}",
            output.stderr_str()
        );
    }
    // clap's own usage errors are exit 2 too.
    assert_eq!(xtask(&["--local"]).status.code(), Some(2));
}

fn a_variant_without_start_gateway_is_refused_not_ignored() {
    // clap waives `requires` here because --gateway-url conflicts with --start-gateway.
    let output = xtask(&[
        "--local",
        "--gateway-url",
        "http://127.0.0.1:1",
        "--deadline",
        "1",
        "--variant",
        "header-route-missing",
    ]);
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--variant needs --start-gateway KIND"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("conformance cases"),
        "a case ran: {stderr}"
    );
}

fn a_typo_in_the_config_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("target.toml");
    std::fs::write(
        &config,
        "# unsupported_features = [\"HealthChek\"] is a typo\n[release]\nrepo = \"a/b\"\n[install]\ngateway_class = \"k\"\n[conformance]\nunsupported_features = [\"HealthChek\"]\n",
    )
    .unwrap();
    let output = xtask(&[
        "--gateway-url",
        "http://127.0.0.1:1",
        "--config",
        config.to_str().unwrap(),
    ]);
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:7:25: [conformance] unsupported_features: there is no feature `HealthChek`; fix the name or remove it (the features are: Gateway, ",
            config.display()
        )),
        "{stderr}"
    );
}

/// A "gateway" that is just replica v1-0 fails most cases: exit 1, and in GitHub Actions at most
/// ten annotations plus the summary appended to the step summary file. Needs no gateway binary.
fn failing_run_in_github_actions_annotates_and_appends_the_step_summary() {
    let ports: [u16; 6] = gateways::free_ports(&[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step output\n").unwrap();
    let replica_list = ports.map(|port| port.to_string()).join(",");
    let cmd = crate::context::isolated("run cargo xtask conformance")
        .arg("conformance")
        .args([
            "--local",
            "--deadline",
            "1",
            "--replica-ports",
            &replica_list,
        ])
        .args(["--gateway-url", &format!("http://127.0.0.1:{}", ports[0])])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .timeout(Duration::from_secs(300));
    let output = exec::Shell::new().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", output.stderr_str());
    let stdout = output.stdout_str();
    let annotations: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("::error"))
        .collect();
    assert!(
        !annotations.is_empty() && annotations.len() <= 10,
        "{stdout}"
    );
    assert!(
        annotations
            .iter()
            .any(|line| line.contains("route-no-match")),
        "{stdout}"
    );
    let appended = std::fs::read_to_string(&summary).unwrap();
    assert!(
        appended.starts_with("earlier step output\n"),
        "appends, never truncates"
    );
    assert!(appended.contains("route-no-match"), "{appended}");
    assert!(
        output.stderr_str().contains("::group::"),
        "cases run inside a foldable group"
    );
}

fn haproxy() -> Option<std::path::PathBuf> {
    let found = testkit::find_program("haproxy", "HAPROXY");
    let usable = testkit::require("haproxy", || {
        let path = found.clone().ok_or("haproxy is not installed")?;
        exec::Shell::new()
            .run(&exec::Cmd::new(&path, "probe haproxy").arg("-v"))
            .map(drop)
            .map_err(|error| error.to_string())
    });
    usable.then(|| found.expect("probed"))
}

/// Runs local mode against HAProxy started with `config`, replicas on free ports.
fn local_run(
    program: &Path,
    config: &str,
    report_dir: &Path,
    extra: &[&str],
) -> (exec::Output, Gateway) {
    let replica_ports: [u16; 6] = gateways::free_ports(&[]).unwrap();
    let ports = Ports::free(replica_ports).unwrap();
    let run_dir = report_dir.join("gateway");
    std::fs::create_dir_all(&run_dir).unwrap();
    let rendered = gateways::render(config, &ports, &run_dir).unwrap();
    let gateway = Gateway::start(
        Kind::Haproxy,
        program,
        &rendered,
        ports.clone(),
        &run_dir,
        Duration::from_secs(60),
    )
    .unwrap();
    let replica_list = replica_ports.map(|port| port.to_string()).join(",");
    let gateway_url = gateway.url();
    let health_url = Kind::Haproxy.health_url(&ports);
    let second_listener = ports.second_listener_url();
    let mut args = vec![
        "--local",
        "--gateway-url",
        &gateway_url,
        "--second-listener",
        &second_listener,
        "--replica-ports",
        &replica_list,
        "--health-url",
        &health_url,
        "--report-dir",
        report_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (xtask(&args), gateway)
}

fn local_mode_against_haproxy_exits_0_when_good_and_1_when_broken_with_reports() {
    let Some(program) = haproxy() else { return };
    let good = std::fs::read_to_string(
        gateways::templates_dir(&testkit::workspace_root()).join("haproxy.cfg"),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (output, gateway) = local_run(&program, &good, dir.path(), &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}\ngateway:\n{}",
        output.stdout_str(),
        output.stderr_str(),
        gateway.stderr_tail()
    );
    assert!(
        output
            .stdout_str()
            .contains(&format!("{} passed, 0 failed, 0 skipped", all_cases())),
        "{}",
        output.stdout_str()
    );
    let json = std::fs::read_to_string(dir.path().join("conformance.json")).unwrap();
    let results: conformance::SuiteResults = serde_json::from_str(&json).unwrap();
    assert!(results.success());
    assert_eq!(results.implementation.version, "local");
    for file in ["junit.xml", "conformance-report.yaml", "summary.md"] {
        assert!(dir.path().join(file).is_file(), "{file} written");
    }
    drop(gateway);

    let broken = good.replace(
        "    use_backend v2 if path_headers header_version_two\n",
        "",
    );
    assert_ne!(broken, good);
    let dir = tempfile::tempdir().unwrap();
    let (output, _gateway) = local_run(
        &program,
        &broken,
        dir.path(),
        &["--deadline", "5", "--skip", "health-eviction"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", output.stderr_str());
    let stdout = output.stdout_str();
    assert!(
        stdout.contains(&format!("{} passed, 1 failed, 1 skipped", all_cases() - 2)),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL  route-header"), "{stdout}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("route-header") && junit.contains("<failure"),
        "{junit}"
    );
}

fn docker_usable() -> bool {
    testkit::require("docker engine", || {
        exec::Shell::new()
            .run(
                &exec::Cmd::new("docker", "ask whether a docker engine answers")
                    .args(["info", "--format", "{{.ServerVersion}}"])
                    .timeout(Duration::from_secs(20)),
            )
            .map(drop)
            .map_err(|error| error.to_string())
    })
}

/// The echo image is built FROM scratch with the pins shown, and serves the contract.
fn echo_image_builds_from_scratch_and_serves_the_contract() {
    if !docker_usable() {
        return;
    }
    let tag = format!("release-gate/echo:test-{}", std::process::id());
    let output = exec::Shell::new()
        .run_unchecked(
            &crate::context::isolated("build the echo image")
                .args(["echo-image", "--tag", &tag])
                .timeout(Duration::from_secs(600)),
        )
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr_str());
    let sh = exec::Shell::new();
    let port = gateways::free_port().unwrap();
    let name = format!("release-gate-echo-test-{}", std::process::id());
    let run = exec::Cmd::new("docker", "run the echo image")
        .args(["run", "--rm", "--name", &name, "--network", "host"])
        .args([
            "-e",
            &format!("HTTP_PORT={port}"),
            "-e",
            "ECHO_BIND_ADDRESS=127.0.0.1",
        ])
        .args([
            "-e",
            "POD_NAME=infra-backend-v2-abc-xyz",
            "-e",
            "NAMESPACE=gateway-conformance-infra",
        ])
        .arg(&tag);
    let mut container = sh.spawn(&run).unwrap();
    container
        .wait_for_line(Duration::from_secs(60), |line| {
            line.contains("listening on port").then_some(())
        })
        .unwrap_or_else(|error| panic!("the echo container starts: {error}"));
    let client = conformance::client::Client::new(
        conformance::client::BaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        Duration::from_secs(10),
    );
    let response = client
        .send(&conformance::client::Request::get("/x?y=1"))
        .unwrap();
    let body = response
        .echo()
        .expect("an echo body with Content-Type application/json");
    assert_eq!(
        (body.path.as_str(), body.pod.as_str()),
        ("/x?y=1", "infra-backend-v2-abc-xyz")
    );
    assert_eq!(
        conformance::fixture::backend_of(&body.pod),
        Some("infra-backend-v2")
    );
    let health = client
        .send(&conformance::client::Request::get("/health"))
        .unwrap();
    assert_eq!((health.status, health.body.as_slice()), (200, &b"OK"[..]));
    let _ = sh.run(&exec::Cmd::new("docker", "stop the echo container").args(["rm", "-f", &name]));
    drop(container);
    let inspect = sh
        .run(&exec::Cmd::new("docker", "inspect the echo image").args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}} {{.Config.User}}",
            &tag,
        ]))
        .unwrap()
        .stdout_str();
    let pins = pins::load(&testkit::workspace_root().join("hack/versions.toml")).unwrap();
    let rust_label = format!(
        "\"org.release-gate.rust-version\":\"{}\"",
        pins.build.rust.without_v()
    );
    assert!(inspect.contains(&rust_label), "{inspect}");
    assert!(
        inspect.trim_end().ends_with("65534:65534"),
        "runs as nobody: {inspect}"
    );
    let _ = sh
        .run(&exec::Cmd::new("docker", "remove the test image").args(["image", "rm", "-f", &tag]));
}

/// `--start-gateway` with a broken variant: the suite names exactly the broken case.
fn start_gateway_with_a_variant_fails_exactly_its_case() {
    let found = testkit::find_program("envoy", "ENVOY");
    let usable = testkit::require("envoy", || {
        let path = found.clone().ok_or("envoy is not installed")?;
        exec::Shell::new()
            .run(
                &exec::Cmd::new(&path, "probe envoy")
                    .arg("--version")
                    .timeout(Duration::from_secs(30)),
            )
            .map(drop)
            .map_err(|error| error.to_string())
    });
    if !usable {
        return;
    }
    let ports: [u16; 6] = gateways::free_ports(&[]).unwrap();
    let replica_list = ports.map(|port| port.to_string()).join(",");
    let envoy = found.unwrap();
    let cmd = crate::context::isolated("run cargo xtask conformance")
        .arg("conformance")
        .args([
            "--local",
            "--start-gateway",
            "envoy",
            "--variant",
            "v2-string-prefix",
        ])
        .args(["--replica-ports", &replica_list, "--deadline", "5"])
        .env("ENVOY", &envoy)
        .env_remove("GITHUB_ACTIONS")
        .timeout(Duration::from_secs(300));
    let output = exec::Shell::new().run_unchecked(&cmd).unwrap();
    let stdout = output.stdout_str();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        output.stderr_str()
    );
    assert!(
        stdout.contains(&format!("{} passed, 1 failed, 0 skipped", all_cases() - 1)),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL  route-prefix-segment"), "{stdout}");
    assert!(
        stdout.contains("GET /v2example answered 200 from infra-backend-v2"),
        "{stdout}"
    );
}

/// Ctrl-C (SIGINT) during a run: the case in progress ends as interrupted, xtask exits 130 and
/// the gateway it started is gone.
fn an_interrupted_local_run_stops_its_gateway_and_exits_130() {
    let Some(program) = haproxy() else { return };
    let ports: [u16; 6] = gateways::free_ports(&[]).unwrap();
    let replica_list = ports.map(|port| port.to_string()).join(",");
    let reports = tempfile::tempdir().unwrap();
    let cmd = crate::context::isolated("run cargo xtask conformance")
        .arg("conformance")
        .args([
            "--local",
            "--start-gateway",
            "haproxy",
            "--variant",
            "health-checks-off",
        ])
        .args(["--replica-ports", &replica_list, "--deadline", "120"])
        .arg("--report-dir")
        .arg(reports.path())
        .env("HAPROXY", &program)
        .env_remove("GITHUB_ACTIONS");
    let mut xtask = exec::Shell::new().spawn(&cmd).unwrap();
    // health-eviction cannot pass with checks off: interrupt once it is the case in progress,
    // noting the gateway's URL before later output pushes it out of the stderr tail.
    let mut gateway_url = None;
    let (code, stderr) = crate::interrupt_when(
        &mut xtask,
        "health-eviction",
        Duration::from_secs(180),
        |xtask| {
            let stderr = xtask.stderr_tail();
            if gateway_url.is_none() {
                gateway_url = stderr
                    .lines()
                    .find_map(|line| line.strip_prefix("haproxy listening at "))
                    .map(str::to_owned);
            }
            stderr.contains("PASS  weighted-split")
        },
    );
    assert_eq!(code, Some(130), "{stderr}");
    let gateway_url = gateway_url.expect("xtask names the gateway URL");
    let address = gateway_url.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "the gateway at {address} is still listening after xtask exited"
    );
    // The reports say the run was interrupted, and call nothing unsupported that was not
    // declared (HAProxy declares nothing).
    let json = std::fs::read_to_string(reports.path().join("conformance.json")).unwrap();
    let results: conformance::SuiteResults = serde_json::from_str(&json).unwrap();
    assert!(results.interrupted, "{json}");
    let summary = std::fs::read_to_string(reports.path().join("summary.md")).unwrap();
    assert!(
        summary.lines().next().unwrap().ends_with("interrupted"),
        "{summary}"
    );
    let yaml = std::fs::read_to_string(reports.path().join("conformance-report.yaml")).unwrap();
    assert!(
        yaml.contains("result: interrupted") && !yaml.contains("unsupportedFeatures"),
        "{yaml}"
    );
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<property name="interrupted" value="true"/>"#),
        "{junit}"
    );
}

fn list_prints_every_case_and_needs_no_gateway() {
    let output = xtask(&["--list"]);
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr_str());
    let stdout = output.stdout_str();
    for case in &conformance::cases::CASES {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(case.name))
            .unwrap_or_else(|| panic!("{} missing from\n{stdout}", case.name));
        for upstream in case.upstream {
            assert!(line.contains(upstream), "{line}");
        }
        assert!(
            line.contains(case.feature) && line.contains(case.support.as_str()),
            "{line}"
        );
    }
    assert!(
        stdout.contains("route-path-order") && stdout.contains("HTTPRoutePathMatchOrder"),
        "{stdout}"
    );
    assert_eq!(
        xtask(&["--list", "--local"]).status.code(),
        Some(2),
        "--list takes nothing else"
    );
}

fn an_unwritable_report_dir_is_bad_input_before_any_case_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let report_dir = file.join("reports");
    let port = gateways::free_port().unwrap();
    let output = xtask(&[
        "--gateway-url",
        &format!("http://127.0.0.1:{port}"),
        "--report-dir",
        report_dir.to_str().unwrap(),
    ]);
    let stderr = output.stderr_str();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--report-dir") && stderr.contains("cannot create it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("conformance cases"),
        "no case ran: {stderr}"
    );

    // A missing directory is created.
    let created = dir.path().join("new/reports");
    let output = xtask(&[
        "--gateway-url",
        &format!("http://127.0.0.1:{port}"),
        "--deadline",
        "1",
        "--report-dir",
        created.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", output.stderr_str());
    assert!(created.join("conformance.json").is_file());
}

/// Two local runs at once, each starting its own replicas and HAProxy on ports the system
/// picks: neither collides with the other, both pass.
fn two_local_runs_at_once_both_pass() {
    let Some(program) = haproxy() else { return };
    let run = || {
        let cmd = crate::context::isolated("run cargo xtask conformance")
            .arg("conformance")
            .args(["--local", "--start-gateway", "haproxy"])
            .env("HAPROXY", &program)
            .env_remove("GITHUB_ACTIONS")
            .timeout(Duration::from_secs(300));
        exec::Shell::new().run_unchecked(&cmd).unwrap()
    };
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(run);
        let second = scope.spawn(run);
        (first.join().unwrap(), second.join().unwrap())
    });
    for (name, output) in [("first", first), ("second", second)] {
        assert_eq!(
            output.status.code(),
            Some(0),
            "the {name} run failed:\n{}\n{}",
            output.stdout_str(),
            output.stderr_str()
        );
    }
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        bad_usage_exits_2_and_says_how_to_fix_it,
        a_variant_without_start_gateway_is_refused_not_ignored,
        a_typo_in_the_config_names_its_file_and_line,
        failing_run_in_github_actions_annotates_and_appends_the_step_summary,
        local_mode_against_haproxy_exits_0_when_good_and_1_when_broken_with_reports,
        echo_image_builds_from_scratch_and_serves_the_contract,
        start_gateway_with_a_variant_fails_exactly_its_case,
        an_interrupted_local_run_stops_its_gateway_and_exits_130,
        list_prints_every_case_and_needs_no_gateway,
        an_unwritable_report_dir_is_bad_input_before_any_case_runs,
        two_local_runs_at_once_both_pass,
    ]
}

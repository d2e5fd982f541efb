//! `cargo xtask conformance`: bad usage exits 2 with a fix, and local mode against a real
//! HAProxy exits 0 on the good config and 1 on a broken one, writing the reports either way.

use std::path::Path;
use std::time::Duration;

use conformance::gateways::{self, Gateway, Kind, Ports};

fn xtask(args: &[&str]) -> exec::Output {
    let cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), "run cargo xtask conformance")
        .arg("conformance")
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .timeout(Duration::from_secs(300));
    exec::Shell::new().run_unchecked(&cmd).expect("xtask runs")
}

#[test]
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
    for (args, fix) in cases {
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
    let replica_ports: [u16; 6] = std::array::from_fn(|_| gateways::free_port().unwrap());
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
    let mut args = vec![
        "--local",
        "--gateway-url",
        &gateway_url,
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

#[test]
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
            .contains("11 passed, 0 failed, 0 skipped"),
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
    assert!(stdout.contains("9 passed, 1 failed, 1 skipped"), "{stdout}");
    assert!(stdout.contains("FAIL  route-header"), "{stdout}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("route-header") && junit.contains("<failure"),
        "{junit}"
    );
}

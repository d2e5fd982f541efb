//! The fake itself: what it records, how rules are chosen, and that its built-in answers follow
//! the real tools' documented output (kind's messages on stderr, kubectl's ready line).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use exec::Cmd;
use fake_tools::{FakeTools, Rule, TOOLS};

fn run(fakes: &FakeTools, tool: &str, args: &[&str]) -> exec::Output {
    fakes
        .shell()
        .run_unchecked(&Cmd::new(tool, "run a fake").args(args))
        .unwrap()
}

#[test]
fn records_argv_exactly_with_the_environment_it_saw() {
    let fakes = FakeTools::new().unwrap();
    for tool in TOOLS {
        run(&fakes, tool, &["version"]);
    }
    let awkward = "tab\there\nnewline \\ backslash";
    run(
        &fakes,
        "kubectl",
        &["--kubeconfig", "/run/kubeconfig", "get", awkward],
    );
    let calls = fakes.calls();
    assert_eq!(calls.len(), TOOLS.len() + 1);
    let last = calls.last().unwrap();
    assert_eq!(last.tool, "kubectl");
    assert_eq!(
        last.args,
        ["--kubeconfig", "/run/kubeconfig", "get", awkward]
    );
    assert_eq!(last.flag("--kubeconfig"), Some("/run/kubeconfig"));
    assert_eq!(
        last.kubeconfig_env.as_deref(),
        fakes.user_kubeconfig().to_str()
    );
    assert_eq!(last.home.as_deref(), fakes.home().to_str());
}

#[test]
fn kind_keeps_a_cluster_list_with_kinds_messages() {
    let fakes = FakeTools::new().unwrap();
    let empty = run(&fakes, "kind", &["get", "clusters"]);
    assert_eq!(
        (empty.stdout_str().as_str(), empty.stderr_str().as_str()),
        ("", "No kind clusters found.\n")
    );
    let kubeconfig = fakes.root().join("run/kubeconfig");
    let created = run(
        &fakes,
        "kind",
        &[
            "create",
            "cluster",
            "--name",
            "a",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    );
    assert!(created.status.success(), "{}", created.stderr_str());
    assert!(
        created
            .stderr_str()
            .starts_with("Creating cluster \"a\" ...")
    );
    assert!(kubeconfig.is_file());
    let again = run(&fakes, "kind", &["create", "cluster", "--name", "a"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        again
            .stderr_str()
            .contains("node(s) already exist for a cluster with the name \"a\"")
    );
    // Without --name, kind's default name is `kind`; without --kubeconfig it writes $KUBECONFIG.
    run(&fakes, "kind", &["create", "cluster"]);
    assert!(
        fakes.user_kubeconfig().is_file(),
        "the fake must behave like kind here, so tests can catch it"
    );
    assert_eq!(
        run(&fakes, "kind", &["get", "clusters"]).stdout_str(),
        "a\nkind\n"
    );
    run(&fakes, "kind", &["delete", "cluster", "--name", "kind"]);
    assert_eq!(fakes.clusters(), ["a"]);
    let unknown = run(&fakes, "kind", &["export", "logs", "/tmp/x", "--name", "b"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stderr_str().contains("unknown cluster \"b\""));
}

#[test]
fn rules_apply_in_order_and_times_runs_out() {
    let fakes = FakeTools::new().unwrap();
    fakes
        .rule(
            Rule::new("kubectl", &["get", "pods"])
                .stdout("first\n")
                .times(2),
        )
        .unwrap();
    fakes
        .rule(
            Rule::new("kubectl", &["get", "pods"])
                .stderr("boom\n")
                .exit(3),
        )
        .unwrap();
    let outputs: Vec<(String, Option<i32>)> = (0..3)
        .map(|_| {
            let output = run(
                &fakes,
                "kubectl",
                &["--kubeconfig", "k", "get", "pods", "-o", "json"],
            );
            (
                output.stdout_str() + &output.stderr_str(),
                output.status.code(),
            )
        })
        .collect();
    assert_eq!(
        outputs,
        [
            ("first\n".to_owned(), Some(0)),
            ("first\n".to_owned(), Some(0)),
            ("boom\n".to_owned(), Some(3))
        ]
    );
    // Words must appear in order: `pods get` does not match `get pods`.
    let other = run(&fakes, "kubectl", &["pods", "get"]);
    assert_eq!(other.status.code(), Some(0));
    assert_eq!(other.stdout_str(), "");
}

#[test]
fn port_forward_prints_kubectls_ready_line_and_relays() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in upstream.incoming() {
            let mut stream = stream.unwrap();
            let mut buffer = [0u8; 5];
            stream.read_exact(&mut buffer).unwrap();
            stream
                .write_all(&buffer.map(|b| b.to_ascii_uppercase()))
                .unwrap();
        }
    });
    let fakes = FakeTools::new().unwrap();
    fakes
        .rule(Rule::new("kubectl", &["port-forward"]).relay(address))
        .unwrap();
    let sh = fakes.shell();
    let mut child = sh
        .spawn(&Cmd::new("kubectl", "forward").args([
            "port-forward",
            "service/x",
            ":8080",
            "--namespace",
            "n",
        ]))
        .unwrap();
    let stdout = child.take_stdout().unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut line).unwrap();
    let port: u16 = line
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|rest| rest.strip_suffix(" -> 8080\n"))
        .unwrap_or_else(|| panic!("not kubectl's ready line: {line:?}"))
        .parse()
        .unwrap();
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.write_all(b"hello").unwrap();
    let mut answer = [0u8; 5];
    client.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HELLO");
    let mut handling = String::new();
    reader.read_line(&mut handling).unwrap();
    assert_eq!(handling, format!("Handling connection for {port}\n"));
    let pid = child.id().unwrap();
    drop(child);
    assert!(!fake_tools::process_alive(pid));
}

#[test]
fn versions_are_scriptable() {
    let fakes = FakeTools::new().unwrap();
    fakes.set_version("helm", "v3.19.0").unwrap();
    fakes.set_version("helm", "v4.3.0").unwrap();
    assert_eq!(
        run(&fakes, "helm", &["version", "--template", "{{.Version}}"]).stdout_str(),
        "v4.3.0"
    );
    assert_eq!(
        run(&fakes, "kind", &["version"]).stdout_str(),
        "kind v0.33.0 go1.25.5 linux/amd64\n"
    );
}

#[test]
fn docker_holds_added_and_pulled_images() {
    let fakes = FakeTools::new().unwrap();
    fakes.add_images(&["release-gate/echo:v0.1.0"]).unwrap();
    let inspect = |reference: &str| {
        run(
            &fakes,
            "docker",
            &["image", "inspect", "--format", "{{json .}}", reference],
        )
    };
    let found = inspect("release-gate/echo:v0.1.0");
    assert!(found.status.success());
    assert!(
        found.stdout_str().contains("\"Id\":\"sha256:"),
        "{}",
        found.stdout_str()
    );
    let missing = inspect("cr.example/x:v1");
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        missing
            .stderr_str()
            .contains("No such image: cr.example/x:v1")
    );
    assert!(
        run(&fakes, "docker", &["pull", "--quiet", "cr.example/x:v1"])
            .status
            .success()
    );
    assert!(inspect("cr.example/x:v1").status.success());
    assert_eq!(
        fakes.images(),
        ["release-gate/echo:v0.1.0", "cr.example/x:v1"]
    );
}

#[test]
fn docker_builds_saves_and_runs_like_the_cli() {
    let fakes = FakeTools::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let built = run(
        &fakes,
        "docker",
        &[
            "build",
            "--file",
            "Dockerfile",
            "--tag",
            "t/echo:v1",
            "--build-arg",
            "A=1",
            "ctx",
        ],
    );
    assert!(built.status.success(), "{}", built.stderr_str());
    assert!(built.stdout_str().contains("Successfully tagged t/echo:v1"));
    assert_eq!(fakes.images(), ["t/echo:v1"]);
    let archive = dir.path().join("echo.tar");
    let archive_arg = archive.to_str().unwrap();
    let saved = run(
        &fakes,
        "docker",
        &[
            "save",
            "--platform",
            "linux/amd64",
            "--output",
            archive_arg,
            "t/echo:v1",
        ],
    );
    assert!(saved.status.success(), "{}", saved.stderr_str());
    assert_eq!(
        std::fs::read_to_string(&archive).unwrap(),
        "fake docker save of t/echo:v1\n"
    );
    let unknown = run(
        &fakes,
        "docker",
        &["save", "--output", archive_arg, "t/other:v1"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    let started = run(
        &fakes,
        "docker",
        &[
            "run",
            "--detach",
            "--name",
            "c-lb",
            "--network",
            "host",
            "img@sha256:ab",
        ],
    );
    assert!(started.status.success());
    assert_eq!(fakes.containers(), ["c-lb"]);
    let inspect = [
        "container",
        "inspect",
        "--format",
        "{{.State.Running}}",
        "c-lb",
    ];
    assert_eq!(run(&fakes, "docker", &inspect).stdout_str(), "true\n");
    // A second container of that name is the engine's conflict, as the real one says it.
    let again = run(
        &fakes,
        "docker",
        &["run", "--detach", "--name", "c-lb", "img@sha256:ab"],
    );
    assert_eq!(again.status.code(), Some(125));
    assert!(
        again.stderr_str().contains("is already in use"),
        "{}",
        again.stderr_str()
    );
    assert_eq!(
        run(&fakes, "docker", &["rm", "--force", "c-lb"]).stdout_str(),
        "c-lb\n"
    );
    assert!(fakes.containers().is_empty());
    let gone = run(&fakes, "docker", &inspect);
    assert_eq!(gone.status.code(), Some(1));
    assert!(gone.stderr_str().contains("No such container: c-lb"));
}

#[test]
fn a_delayed_rule_answers_no_sooner_than_its_delay() {
    let fakes = FakeTools::new().unwrap();
    fakes
        .rule(
            Rule::new("helm", &["upgrade"])
                .builtin()
                .delay(std::time::Duration::from_millis(300)),
        )
        .unwrap();
    let started = std::time::Instant::now();
    let output = run(&fakes, "helm", &["upgrade", "--install", "r", "oci://x/c"]);
    assert!(output.status.success());
    assert!(output.stdout_str().contains("STATUS: deployed"));
    // A lower bound only: the delay is a floor, whatever the machine's load.
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

//! `cargo xtask verify-release` end to end, as a release manager runs it, on this machine:
//! the fake kind, kubectl and helm (crates/fake-tools) stand in for the cluster, a local server
//! speaks the GitHub releases API and mirrors the CRD bundle, the real Docker engine builds and
//! saves the echo image and loads the release's image archive, six real echo replicas serve
//! behind a real Envoy configured with the fixture's route table, and the fake
//! `kubectl port-forward` relays the suite to that Envoy and to one replica's health toggle.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::fixture::LocalFixture;
use conformance::gateways::{self, Gateway, Kind, Ports};
use fake_tools::{FakeTools, Rule};
use testkit::http::{Reply, Server};

const REPO: &str = "example/gateway";
const TAG: &str = "v2.1.0";
/// The Gateway API version the tests install: only a bundle whose checksum the test knows can
/// be served (the real one cannot be downloaded here).
const TEST_GATEWAY_API: &str = "v9.9.9";

fn docker_program() -> Option<PathBuf> {
    testkit::find_program("docker", "DOCKER")
}

/// Whether the real components these tests need are here (skip locally, fail under CI=true).
fn components() -> bool {
    testkit::require("dockerd", || {
        let docker = docker_program().ok_or("no docker CLI")?;
        exec::Shell::new()
            .run(&exec::Cmd::new(docker, "ask the engine").args([
                "info",
                "--format",
                "{{.ServerVersion}}",
            ]))
            .map(|_| ())
            .map_err(|error| error.to_string())
    }) && testkit::require("envoy", || {
        testkit::find_program("envoy", "ENVOY")
            .map(|_| ())
            .ok_or_else(|| "no envoy binary".to_owned())
    })
}

/// One gate under test: its fakes, its release server, its gateway and replicas, its folders.
struct Gate {
    fakes: FakeTools,
    server: Server,
    work: tempfile::TempDir,
    config: PathBuf,
    _replicas: LocalFixture,
    _envoy: Gateway,
    _envoy_dir: tempfile::TempDir,
    release_image: String,
    extra_env: Vec<(String, String)>,
    docker: PathBuf,
    /// Where the mirror serves the CRD bundle.
    bundle_route: String,
}

impl Gate {
    /// A release of `REPO` at `TAG` carrying one image archive, and an Envoy serving the
    /// fixture's route table (or the broken `variant`).
    fn new(name: &str, variant: Option<&str>) -> Gate {
        let work = tempfile::tempdir().unwrap();
        let fakes = FakeTools::new().unwrap();
        let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
        for (tool, version) in [
            ("kind", pins.kind.version.to_string()),
            ("kubectl", pins.kubectl.version.to_string()),
            ("helm", pins.helm.version.to_string()),
        ] {
            fakes.set_version(tool, &version).unwrap();
        }
        let server = Server::start();
        let release_image = format!("release-gate-test/{name}:{TAG}");
        let archive = build_release_archive(work.path(), &release_image);
        publish(&server, &archive);
        // The CRD bundle, where XTASK_TOOLS_MIRROR maps the pinned URL.
        let bundle = b"# a stand-in for the Gateway API standard-install.yaml\n".to_vec();
        let url = pins
            .gateway_api
            .crds_url
            .replace("{version}", TEST_GATEWAY_API)
            .replace("{channel}", pins.gateway_api.channel.as_str());
        let bundle_route = format!("/{}", url.split_once("://").unwrap().1);
        server.route(&bundle_route, Reply::ok(bundle.clone()));
        use sha2::Digest as _;
        let bundle_sha = download::hex(&sha2::Sha256::digest(&bundle));

        let replicas = LocalFixture::start(&[0; 6]).unwrap();
        let (envoy, envoy_dir) = start_envoy(&replicas, variant);
        let fixture = cluster::fixture::Fixture::load(
            &testkit::workspace_root().join(cluster::fixture::FIXTURE_DIR),
            "envoy-test",
        )
        .unwrap();
        script_cluster(&fakes, &fixture, &replicas, &envoy);

        let config = work.path().join("target.toml");
        std::fs::write(&config, target_config("none", &[])).unwrap();
        let gate = Gate {
            fakes,
            server,
            config,
            _replicas: replicas,
            _envoy: envoy,
            _envoy_dir: envoy_dir,
            release_image,
            extra_env: vec![("GATEWAY_API_SHA256".to_owned(), bundle_sha)],
            docker: docker_program().unwrap(),
            bundle_route,
            work,
        };
        std::fs::create_dir_all(gate.verify_dir()).unwrap();
        gate
    }

    /// A docker that is the real one, except that `run` and `rm --force *-lb` (cloud-provider-
    /// kind's start and stop) only record their argv in `provider.log`: no image can be pulled
    /// here.
    fn stub_provider(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let wrapper = self.work.path().join("docker-provider");
        let script = format!(
            "#!/bin/sh\ncase \"$1:$3\" in run:*|rm:*-lb) echo \"$@\" >> '{log}'; exit 0 ;; esac\nexec '{docker}' \"$@\"\n",
            log = self.work.path().join("provider.log").display(),
            docker = docker_program().unwrap().display(),
        );
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.docker = wrapper;
    }

    /// A docker that is the real one, except that the subcommand named in the file
    /// `hang-docker` (say `build`) never returns; its pid goes where the fakes note theirs.
    fn hang_docker(&mut self, subcommand: &str) {
        use std::os::unix::fs::PermissionsExt;
        let wrapper = self.work.path().join("docker-wrapper");
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = {subcommand} ]; then echo $$ >> '{pids}'; exec sleep 3600; fi\nexec '{docker}' \"$@\"\n",
            pids = self.fakes.state_dir().join("pids").display(),
            docker = docker_program().unwrap().display(),
        );
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.docker = wrapper;
    }

    fn set_config(&self, provider: &str, images: &[&str]) {
        std::fs::write(&self.config, target_config(provider, images)).unwrap();
    }

    fn verify_dir(&self) -> PathBuf {
        self.work.path().join("verify")
    }

    fn artifacts_dir(&self) -> PathBuf {
        self.work.path().join("run")
    }

    fn cmd(&self, extra: &[&str]) -> exec::Cmd {
        self.cmd_in(&self.artifacts_dir(), extra)
    }

    fn cmd_in(&self, artifacts_dir: &Path, extra: &[&str]) -> exec::Cmd {
        let cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), "run verify-release under test")
            .args(["verify-release", "--repo", REPO, "--tag", TAG, "--config"])
            .arg(&self.config)
            .arg("--artifacts-dir")
            .arg(artifacts_dir)
            .args(extra);
        self.with_env(cmd)
    }

    /// The environment every xtask call of this gate gets: the fakes, the real (or wrapped)
    /// docker, the local release server and mirror, private tool and run folders.
    fn with_env(&self, cmd: exec::Cmd) -> exec::Cmd {
        let mut cmd = cmd
            .env("KIND", self.fakes.program("kind"))
            .env("KUBECTL", self.fakes.program("kubectl"))
            .env("HELM", self.fakes.program("helm"))
            .env("DOCKER", &self.docker)
            .env("XTASK_TOOLS_DIR", self.work.path().join("tools"))
            .env("XTASK_VERIFY_DIR", self.verify_dir())
            .env("XTASK_ARTIFACT_CACHE", self.work.path().join("cache"))
            .env("XTASK_TOOLS_MIRROR", self.server.base_url())
            .env("GITHUB_API_URL", self.server.base_url())
            .env("GATEWAY_API_VERSION", TEST_GATEWAY_API)
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("XTASK_FORCE_HOST_TOOLS")
            .timeout(Duration::from_secs(600));
        for name in pins::OVERRIDE_VARIABLES {
            if name != "GATEWAY_API_VERSION" {
                cmd = cmd.env_remove(name);
            }
        }
        for (key, value) in &self.extra_env {
            cmd = cmd.env(key, value);
        }
        cmd
    }

    fn run(&self, extra: &[&str]) -> exec::Output {
        self.fakes.shell().run_unchecked(&self.cmd(extra)).unwrap()
    }

    /// Starts verify-release in `artifacts_dir`, waits until `step` has started, sends
    /// `signal` and returns the exit code and the tail of stderr.
    fn interrupt_during(
        &self,
        artifacts_dir: &Path,
        step: &str,
        signal: &str,
    ) -> (Option<i32>, String) {
        let mut xtask = self
            .fakes
            .shell()
            .spawn(&self.cmd_in(artifacts_dir, &[]))
            .unwrap();
        let started = format!("[{step}] started");
        crate::signal_when(
            &mut xtask,
            signal,
            &format!("verify-release's {step} step"),
            Duration::from_secs(120),
            |xtask| xtask.stderr_tail().contains(&started),
        )
    }

    fn owner_records(&self) -> Vec<String> {
        std::fs::read_dir(self.verify_dir().join("owners"))
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Nothing of the run is left: no cluster, no owner record, no kubeconfig, no port-forward.
    fn assert_nothing_leaked(&self, output: &exec::Output) {
        assert!(
            self.fakes.clusters().is_empty(),
            "clusters left: {:?}\n{}",
            self.fakes.clusters(),
            text(output)
        );
        assert!(
            self.owner_records().is_empty(),
            "owner records left: {:?}",
            self.owner_records()
        );
        assert!(
            !self.artifacts_dir().join("kubeconfig").exists(),
            "the kubeconfig was left behind"
        );
        let alive: Vec<u32> = self
            .fakes
            .pids()
            .into_iter()
            .filter(|pid| fake_tools::process_alive(*pid))
            .collect();
        assert!(alive.is_empty(), "fake tool processes still run: {alive:?}");
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(docker) = docker_program() {
            let _ = exec::Shell::new().run_unchecked(
                &exec::Cmd::new(docker, "remove the test release image").args([
                    "image",
                    "rm",
                    "--force",
                    &self.release_image,
                ]),
            );
        }
    }
}

fn text(output: &exec::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        output.stdout_str(),
        output.stderr_str()
    )
}

/// A FROM scratch image saved with `docker save`: the release's image archive asset.
fn build_release_archive(dir: &Path, tag: &str) -> Vec<u8> {
    let docker = docker_program().unwrap();
    let context = dir.join("release-image");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("marker"), format!("{tag}\n")).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY marker /marker\n",
    )
    .unwrap();
    let sh = exec::Shell::new();
    sh.run(
        &exec::Cmd::new(&docker, "build the test release image")
            .args(["build", "--quiet", "--tag", tag])
            .arg(&context),
    )
    .unwrap();
    let archive = dir.join("images.tar");
    sh.run(
        &exec::Cmd::new(&docker, "save the test release image")
            .args(["save", "--output"])
            .arg(&archive)
            .arg(tag),
    )
    .unwrap();
    std::fs::read(archive).unwrap()
}

/// The release as GitHub's API shows it: the archive and a checksum list proving it.
fn publish(server: &Server, archive: &[u8]) {
    use sha2::Digest as _;
    let sums = format!(
        "{}  images.tar\n",
        download::hex(&sha2::Sha256::digest(archive))
    );
    let assets = [
        ("images.tar", archive.to_vec()),
        ("checksums.txt", sums.into_bytes()),
    ];
    let listed: Vec<serde_json::Value> = assets
        .iter()
        .map(|(name, body)| {
            serde_json::json!({
                "name": name,
                "size": body.len(),
                "browser_download_url": server.url(&format!("download/{TAG}/{name}")),
            })
        })
        .collect();
    let release = serde_json::json!({
        "tag_name": TAG, "draft": false, "prerelease": false,
        "html_url": format!("https://github.com/{REPO}/releases/tag/{TAG}"), "assets": listed,
    });
    server.route(
        &format!("repos/{REPO}/releases/tags/{TAG}"),
        Reply::json(release.to_string()),
    );
    for (name, body) in assets {
        server.route(&format!("download/{TAG}/{name}"), Reply::ok(body).ranges());
    }
}

fn start_envoy(replicas: &LocalFixture, variant: Option<&str>) -> (Gateway, tempfile::TempDir) {
    let dir = gateways::templates_dir(&testkit::workspace_root());
    let good = std::fs::read_to_string(dir.join(Kind::Envoy.template_file())).unwrap();
    let config = match variant {
        None => good,
        Some(name) => {
            let variants = gateways::parse_variants(
                &std::fs::read_to_string(dir.join("variants.toml")).unwrap(),
            )
            .unwrap();
            variants
                .iter()
                .find(|v| v.gateway == Kind::Envoy && v.name == name)
                .unwrap()
                .apply(&good)
                .unwrap()
        }
    };
    let ports: Vec<u16> = replicas.addresses().iter().map(|a| a.port()).collect();
    let ports = Ports::free(ports.try_into().unwrap()).unwrap();
    let run_dir = tempfile::tempdir().unwrap();
    let rendered = gateways::render(&config, &ports, run_dir.path()).unwrap();
    let envoy = Gateway::start(
        Kind::Envoy,
        &testkit::find_program("envoy", "ENVOY").unwrap(),
        &rendered,
        ports,
        run_dir.path(),
        Duration::from_secs(60),
    )
    .unwrap();
    (envoy, run_dir)
}

/// The fixture's Gateway with an address, as cloud-provider-kind gives it: 127.0.0.2, where
/// nothing listens on the listener port, so the run must fall back to the port-forward.
fn give_the_gateway_an_address(fakes: &FakeTools) {
    let fixture = cluster::fixture::Fixture::load(
        &testkit::workspace_root().join(cluster::fixture::FIXTURE_DIR),
        "envoy-test",
    )
    .unwrap();
    let gateway = fixture.gateway();
    let condition = |kind: &str| {
        format!(r#"{{"type":"{kind}","status":"True","reason":"{kind}","observedGeneration":1}}"#)
    };
    // Ahead of the rule script_cluster added: rules are tried in order, so this one is put
    // first by writing it before the others are read again.
    let json = format!(
        r#"{{"metadata":{{"name":"{}","namespace":"{}","generation":1}},"spec":{{"listeners":[{{"name":"http","port":80}}]}},"status":{{"addresses":[{{"type":"IPAddress","value":"127.0.0.2"}}],"conditions":[{},{}],"listeners":[{{"name":"http","conditions":[{}]}}]}}}}"#,
        gateway.name,
        gateway.namespace,
        condition("Accepted"),
        condition("Programmed"),
        condition("Programmed")
    );
    let rules = fakes.state_dir().join("rules");
    let existing = std::fs::read_to_string(&rules).unwrap_or_default();
    std::fs::write(&rules, "").unwrap();
    fakes
        .rule(
            Rule::new(
                "kubectl",
                &["get", "gateways.gateway.networking.k8s.io", &gateway.name],
            )
            .stdout(json),
        )
        .unwrap();
    let mut text = std::fs::read_to_string(&rules).unwrap();
    text.push_str(&existing);
    std::fs::write(&rules, text).unwrap();
}

/// The cluster as a controller that works would leave it: the fixture's Gateway programmed,
/// its routes accepted, its pods Ready (the v1 pods named as the local replicas, so the health
/// toggle reaches one of them), the gateway Service labelled; port-forwards relay to Envoy and
/// to the first v1 replica.
fn script_cluster(
    fakes: &FakeTools,
    fixture: &cluster::fixture::Fixture,
    replicas: &LocalFixture,
    envoy: &Gateway,
) {
    let gateway = fixture.gateway().clone();
    let condition = |kind: &str| {
        format!(
            r#"{{"type":"{kind}","status":"True","reason":"{kind}","message":"","observedGeneration":1}}"#
        )
    };
    let gateway_json = format!(
        r#"{{"metadata":{{"name":"{}","namespace":"{}","generation":1}},"spec":{{"gatewayClassName":"envoy-test","listeners":[{{"name":"http","port":80}}]}},"status":{{"conditions":[{},{}],"listeners":[{{"name":"http","conditions":[{}]}}]}}}}"#,
        gateway.name,
        gateway.namespace,
        condition("Accepted"),
        condition("Programmed"),
        condition("Programmed")
    );
    fakes
        .rule(
            Rule::new(
                "kubectl",
                &["get", "gateways.gateway.networking.k8s.io", &gateway.name],
            )
            .stdout(gateway_json),
        )
        .unwrap();
    for route in &fixture.routes {
        let route_json = format!(
            r#"{{"metadata":{{"name":"{}","namespace":"{}","generation":1}},"status":{{"parents":[{{"controllerName":"example.com/gateway","parentRef":{{"name":"{}","namespace":"{}"}},"conditions":[{},{}]}}]}}}}"#,
            route.name,
            route.namespace,
            gateway.name,
            gateway.namespace,
            condition("Accepted"),
            condition("ResolvedRefs")
        );
        fakes
            .rule(
                Rule::new(
                    "kubectl",
                    &["get", "httproutes.gateway.networking.k8s.io", &route.name],
                )
                .stdout(route_json),
            )
            .unwrap();
    }
    let pod = |name: &str| {
        format!(
            r#"{{"metadata":{{"name":"{name}","namespace":"{}"}},"status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"True"}}]}}}}"#,
            conformance::fixture::NAMESPACE
        )
    };
    let v1: Vec<&conformance::fixture::LocalReplica> = replicas
        .replicas
        .iter()
        .filter(|r| r.backend == conformance::fixture::V1)
        .collect();
    let v1_pods: Vec<String> = v1.iter().map(|r| pod(r.server.pod())).collect();
    fakes
        .rule(
            Rule::new(
                "kubectl",
                &["get", "pods", "--selector", "app=infra-backend-v1"],
            )
            .stdout(format!(r#"{{"items":[{}]}}"#, v1_pods.join(","))),
        )
        .unwrap();
    fakes
        .rule(Rule::new("kubectl", &["get", "pods"]).stdout(format!(
            r#"{{"items":[{},{}]}}"#,
            pod("other-a-b"),
            pod("other-c-d")
        )))
        .unwrap();
    let service = format!(
        r#"{{"items":[{{"metadata":{{"name":"{}","namespace":"{}","labels":{{"gateway.networking.k8s.io/gateway-name":"{}"}}}},"spec":{{"type":"LoadBalancer","ports":[{{"name":"http","port":80}}]}}}}]}}"#,
        gateway.name, gateway.namespace, gateway.name
    );
    fakes
        .rule(Rule::new("kubectl", &["get", "services"]).stdout(service))
        .unwrap();
    let first_v1 = v1[0];
    fakes
        .rule(
            Rule::new(
                "kubectl",
                &["port-forward", &format!("pod/{}", first_v1.server.pod())],
            )
            .relay(first_v1.server.local_addr()),
        )
        .unwrap();
    let listen: std::net::SocketAddr = envoy.url().trim_start_matches("http://").parse().unwrap();
    fakes.set_relay(listen).unwrap();
}

/// A target config for "another implementation": its release carries an image archive, one
/// chart, the given LoadBalancer provider and images to pull, short deadlines.
fn target_config(provider: &str, images: &[&str]) -> String {
    let images: Vec<String> = images.iter().map(|image| format!("{image:?}")).collect();
    let images = images.join(", ");
    format!(
        r#"[release]
repo = "{REPO}"
project = "example-gateway"

[artifacts]
patterns = ["images.tar"]
image_archives = ["images.tar"]
images = [{images}]
images_from_manifests = false
request_timeout_secs = 3
total_timeout_secs = 60
retries = 1

[install]
gateway_class = "envoy-test"

[[install.charts]]
name = "example-gateway"
chart = "oci://registry.example/charts/example-gateway"
version = "{{version}}"
namespace = "example-system"

[install.timeouts]
cluster_create_secs = 60
crds_secs = 30
helm_secs = 60
gateway_secs = 20
routes_secs = 20
pods_secs = 20

[load_balancer]
provider = "{provider}"

[diagnostics]
pods = [{{ namespace = "example-system", selector = "app=example-gateway" }}]

[conformance]
deadline_seconds = 20
"#
    )
}

#[test]
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

#[test]
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

#[test]
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
#[test]
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

#[test]
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

#[test]
fn kind_down_stale_deletes_only_clusters_of_killed_runs() {
    if !components() {
        return;
    }
    let (gate, leaked) = killed_run();
    let down = |extra: &[&str]| {
        let cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), "run kind-down --stale")
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

#[test]
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
        lines[0].starts_with("run --detach --name release-gate-run-")
            && lines[0].contains(&format!(
                "--network host --volume /var/run/docker.sock:/var/run/docker.sock {} --gateway-channel=disabled",
                pins.images.cloud_provider_kind.reference
            )),
        "{provider_log}"
    );
    assert!(
        lines[1].starts_with("rm --force release-gate-run-") && lines[1].ends_with("-lb"),
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

#[test]
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

#[test]
fn dry_run_prints_the_whole_plan_for_another_target_and_runs_nothing() {
    // No docker, no network and no installed tool are needed: nothing runs.
    let gate_dir = tempfile::tempdir().unwrap();
    let config = gate_dir.path().join("target.toml");
    std::fs::write(
        &config,
        target_config("cloud-provider-kind", &["registry.example/gw:{version}"]),
    )
    .unwrap();
    let fakes = FakeTools::new().unwrap();
    let artifacts = gate_dir.path().join("run");
    let cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), "plan verify-release")
        .args(["verify-release", "--dry-run", "--config"])
        .arg(&config)
        .arg("--artifacts-dir")
        .arg(&artifacts)
        .env("KIND", fakes.program("kind"))
        .env("KUBECTL", fakes.program("kubectl"))
        .env("HELM", fakes.program("helm"))
        .env("DOCKER", gate_dir.path().join("no-docker-here"))
        .env("XTASK_TOOLS_DIR", gate_dir.path().join("tools"))
        .env("XTASK_VERIFY_DIR", gate_dir.path().join("verify"))
        .env("GITHUB_API_URL", "http://127.0.0.1:9")
        .env_remove("GITHUB_ACTIONS");
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan = output.stdout_str();
    for expected in [
        "#   wave 1: tools ‖ resolve ‖ crd-bundle",
        "#   wave 2: assets ‖ images ‖ cluster ‖ echo-image",
        &format!("# GET http://127.0.0.1:9/repos/{REPO}/releases/latest"),
        "docker pull --quiet 'registry.example/gw:<resolved tag>'",
        " create cluster --name release-gate-run-",
        "--gateway-channel=disabled",
        " load image-archive ",
        "helm upgrade --install example-gateway oci://registry.example/charts/example-gateway --version '<resolved tag>'",
        " port-forward ",
        "## cleanup: ",
        " delete cluster --name release-gate-run-",
    ] {
        assert!(
            plan.contains(expected),
            "the plan lacks `{expected}`:\n{plan}"
        );
    }
    // Nothing ran: not one call of a fake, no folder created.
    let calls: Vec<String> = fakes
        .calls()
        .into_iter()
        .filter(|call| call.args.first().map(String::as_str) != Some("version"))
        .map(|call| call.line())
        .collect();
    assert!(calls.is_empty(), "{calls:?}");
    assert!(
        !artifacts.exists(),
        "the dry run created the artifacts folder"
    );
}

#[test]
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

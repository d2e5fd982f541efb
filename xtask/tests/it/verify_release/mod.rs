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
use fake_tools::{FakeTools, Rule, k8s};
use testkit::http::{Reply, Server};

mod cells;
mod existing;
mod notify;
mod outcomes;
mod signals;
mod skew;

pub(crate) const REPO: &str = "example/gateway";
pub(crate) const TAG: &str = "v2.1.0";
/// The Gateway API version the tests install: only a bundle whose checksum the test knows can
/// be served (the real one cannot be downloaded here).
const TEST_GATEWAY_API: &str = "v9.9.9";

pub(crate) fn docker_program() -> Option<PathBuf> {
    testkit::find_program("docker", "DOCKER")
}

/// Whether the real components these tests need are here (skip locally, fail under CI=true).
pub(crate) fn components() -> bool {
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
pub(crate) struct Gate {
    pub(crate) fakes: FakeTools,
    pub(crate) server: Server,
    pub(crate) work: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) _replicas: LocalFixture,
    pub(crate) _envoy: Gateway,
    pub(crate) _envoy_dir: tempfile::TempDir,
    pub(crate) release_image: String,
    pub(crate) extra_env: Vec<(String, String)>,
    pub(crate) docker: PathBuf,
    /// Where the mirror serves the CRD bundle.
    pub(crate) bundle_route: String,
}

impl Gate {
    /// A release of `REPO` at `TAG` carrying one image archive, and an Envoy serving the
    /// fixture's route table (or the broken `variant`).
    pub(crate) fn new(name: &str, variant: Option<&str>) -> Gate {
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

    /// A docker that is the real one, except that `run` and `rm --force *cloud-provider-kind`
    /// (the engine's shared cloud-provider-kind's start and stop) only record their argv in
    /// `provider.log`: no image can be pulled here. (`container inspect` reaches the real engine,
    /// which has no such container: the run starts one.)
    pub(crate) fn stub_provider(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let wrapper = self.work.path().join("docker-provider");
        let script = format!(
            "#!/bin/sh\ncase \"$1:$3\" in run:*|rm:*cloud-provider-kind) echo \"$@\" >> '{log}'; exit 0 ;; esac\nexec '{docker}' \"$@\"\n",
            log = self.work.path().join("provider.log").display(),
            docker = docker_program().unwrap().display(),
        );
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.docker = wrapper;
    }

    /// A docker that is the real one, except that the subcommand named in the file
    /// `hang-docker` (say `build`) never returns; its pid goes where the fakes note theirs.
    pub(crate) fn hang_docker(&mut self, subcommand: &str) {
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

    pub(crate) fn set_config(&self, provider: &str, images: &[&str]) {
        std::fs::write(&self.config, target_config(provider, images)).unwrap();
    }

    /// Replaces the gateway: Envoy with the good route table, or with the broken `variant`.
    pub(crate) fn restart_envoy(&mut self, variant: Option<&str>) {
        let (envoy, dir) = start_envoy(&self._replicas, variant);
        let listen: std::net::SocketAddr =
            envoy.url().trim_start_matches("http://").parse().unwrap();
        relay_second_listener(&self.fakes, "conformance-gateway", &envoy);
        self._envoy = envoy;
        self._envoy_dir = dir;
        self.fakes.set_relay(listen).unwrap();
    }

    pub(crate) fn verify_dir(&self) -> PathBuf {
        self.work.path().join("verify")
    }

    pub(crate) fn artifacts_dir(&self) -> PathBuf {
        self.work.path().join("run")
    }

    pub(crate) fn cmd(&self, extra: &[&str]) -> exec::Cmd {
        self.cmd_in(&self.artifacts_dir(), extra)
    }

    pub(crate) fn cmd_in(&self, artifacts_dir: &Path, extra: &[&str]) -> exec::Cmd {
        let cmd = crate::context::isolated("run verify-release under test")
            .args(["verify-release", "--repo", REPO, "--tag", TAG, "--config"])
            .arg(&self.config)
            .arg("--artifacts-dir")
            .arg(artifacts_dir)
            .args(extra);
        self.with_env(cmd)
    }

    /// The environment every xtask call of this gate gets: the fakes, the real (or wrapped)
    /// docker, the local release server and mirror, private tool and run folders.
    pub(crate) fn with_env(&self, cmd: exec::Cmd) -> exec::Cmd {
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

    pub(crate) fn run(&self, extra: &[&str]) -> exec::Output {
        self.fakes.shell().run_unchecked(&self.cmd(extra)).unwrap()
    }

    /// Starts verify-release in `artifacts_dir`, waits until `step` has started, sends
    /// `signal` and returns the exit code and the tail of stderr.
    pub(crate) fn interrupt_during(
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

    pub(crate) fn owner_records(&self) -> Vec<String> {
        std::fs::read_dir(self.verify_dir().join("owners"))
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Nothing of the run is left: no cluster, no owner record, no kubeconfig, no port-forward.
    pub(crate) fn assert_nothing_leaked(&self, output: &exec::Output) {
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

/// Every call of a fake but the version probes tool resolution makes: what a dry run or a refused
/// start must leave empty.
pub(crate) fn calls_but_version_probes(fakes: &FakeTools) -> Vec<String> {
    fakes
        .calls()
        .into_iter()
        .filter(|call| call.args.first().map(String::as_str) != Some("version"))
        .map(|call| call.line())
        .collect()
}

pub(crate) fn text(output: &exec::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        output.stdout_str(),
        output.stderr_str()
    )
}

/// A FROM scratch image saved with `docker save`: the release's image archive asset.
pub(crate) fn build_release_archive(dir: &Path, tag: &str) -> Vec<u8> {
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
pub(crate) fn publish(server: &Server, archive: &[u8]) {
    use sha2::Digest as _;
    let sums = format!(
        "{}  images.tar\n",
        download::hex(&sha2::Sha256::digest(archive))
    );
    testkit::github::serve_release(
        server,
        REPO,
        TAG,
        &[
            ("images.tar".to_owned(), archive.to_vec()),
            ("checksums.txt".to_owned(), sums.into_bytes()),
        ],
    );
}

pub(crate) fn start_envoy(
    replicas: &LocalFixture,
    variant: Option<&str>,
) -> (Gateway, tempfile::TempDir) {
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
pub(crate) fn give_the_gateway_an_address(fakes: &FakeTools) {
    let fixture = cluster::fixture::Fixture::load(
        &testkit::workspace_root().join(cluster::fixture::FIXTURE_DIR),
        "envoy-test",
    )
    .unwrap();
    let gateway = fixture.gateway();
    let json = k8s::Gateway {
        name: &gateway.name,
        namespace: &gateway.namespace,
        class: "envoy-test",
        listeners: &[("http", 80)],
        address: Some("127.0.0.2"),
    }
    .programmed();
    prepend_rules(
        fakes,
        vec![
            Rule::new(
                "kubectl",
                &["get", "gateways.gateway.networking.k8s.io", &gateway.name],
            )
            .stdout(json),
        ],
    );
}

/// Puts `rules` ahead of those already scripted (rules are tried in order, first match wins).
pub(crate) fn prepend_rules(fakes: &FakeTools, rules: Vec<Rule>) {
    let path = fakes.state_dir().join("rules");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, "").unwrap();
    for rule in rules {
        fakes.rule(rule).unwrap();
    }
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&existing);
    std::fs::write(&path, text).unwrap();
}

/// The cluster as a controller that works would leave it: the fixture's Gateway programmed,
/// its routes accepted, its pods Ready (the v1 pods named as the local replicas, so the health
/// toggle reaches one of them), the gateway Service labelled; port-forwards relay to Envoy and
/// to the first v1 replica.
pub(crate) fn script_cluster(
    fakes: &FakeTools,
    fixture: &cluster::fixture::Fixture,
    replicas: &LocalFixture,
    envoy: &Gateway,
) {
    let gateway = fixture.gateway().clone();
    let gateway_json = k8s::Gateway {
        name: &gateway.name,
        namespace: &gateway.namespace,
        class: "envoy-test",
        listeners: &[("http", 80)],
        address: None,
    }
    .programmed();
    fakes
        .rule(
            Rule::new(
                "kubectl",
                &["get", "gateways.gateway.networking.k8s.io", &gateway.name],
            )
            .stdout(gateway_json),
        )
        .unwrap();
    for route in fixture.routes.iter().chain(&fixture.accepted_only) {
        fakes
            .rule(
                Rule::new(
                    "kubectl",
                    &["get", "httproutes.gateway.networking.k8s.io", &route.name],
                )
                .stdout(k8s::route_accepted(
                    &route.name,
                    &route.namespace,
                    "example.com/gateway",
                    (&gateway.name, &gateway.namespace),
                )),
            )
            .unwrap();
    }
    let pod = |name: &str| k8s::pod_ready(name, conformance::fixture::NAMESPACE);
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
            .stdout(k8s::list(&v1_pods)),
        )
        .unwrap();
    fakes
        .rule(
            Rule::new("kubectl", &["get", "pods"])
                .stdout(k8s::list(&[pod("other-a-b"), pod("other-c-d")])),
        )
        .unwrap();
    let service = k8s::gateway_service(
        &gateway.name,
        &gateway.namespace,
        &gateway.name,
        &[("http", 80), ("http-8080", 8080)],
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
    relay_second_listener(fakes, &gateway.name, envoy);
}

/// The port-forward to the gateway Service's second listener (8080) relays to Envoy's second
/// listener; put ahead of older rules, so a restarted Envoy is reached.
pub(crate) fn relay_second_listener(fakes: &FakeTools, service: &str, envoy: &Gateway) {
    let second: std::net::SocketAddr = envoy
        .ports
        .second_listener_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    prepend_rules(
        fakes,
        vec![
            Rule::new(
                "kubectl",
                &["port-forward", &format!("service/{service}"), ":8080"],
            )
            .relay(second),
        ],
    );
}

/// A target config for "another implementation": its release carries an image archive, one
/// chart, the given LoadBalancer provider and images to pull, short deadlines.
pub(crate) fn target_config(provider: &str, images: &[&str]) -> String {
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
controller = {{ namespace = "example-system", deployment = "example-gateway" }}

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

[existing]
echo_image = "registry.example/echo:v1"

[conformance]
deadline_seconds = 20
"#
    )
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        ;
        cells,
        existing,
        notify,
        outcomes,
        signals,
        skew,
    ]
}

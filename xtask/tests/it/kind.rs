//! `cargo xtask kind-up` / `kind-down` as a user runs them, against the fake kind, kubectl and
//! helm ($KIND, $KUBECTL, $HELM point at them): idempotent up, down empties kind's list, bad
//! input exits 2 before any cluster call, and the dry run runs nothing.

use std::path::Path;

use fake_tools::{FakeTools, Rule, k8s};
use testkit::http::{Reply, Server};

struct Run {
    fakes: FakeTools,
    dir: tempfile::TempDir,
    cache: tempfile::TempDir,
    /// Serves the CRD bundle the way XTASK_TOOLS_MIRROR mirrors every pinned URL.
    mirror: Server,
    bundle_sha256: String,
}

/// The Gateway API version the tests install: an override, because only a bundle whose checksum
/// the test knows can be served (the real bundle cannot be downloaded here).
const TEST_GATEWAY_API: &str = "v9.9.9";

impl Run {
    fn new() -> Run {
        let fakes = FakeTools::new().unwrap();
        let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
        // The fakes report the pinned versions, so tool resolution accepts them as they are.
        fakes
            .set_version("kind", &pins.kind.version.to_string())
            .unwrap();
        fakes
            .set_version("kubectl", &pins.kubectl.version.to_string())
            .unwrap();
        fakes
            .set_version("helm", &pins.helm.version.to_string())
            .unwrap();
        // A reused cluster runs the pinned node image's Kubernetes.
        let nodes = k8s::nodes("release-gate", &pins.node_image.kubernetes.to_string());
        fakes
            .rule(Rule::new("kubectl", &["get", "nodes"]).stdout(nodes))
            .unwrap();
        let bundle = b"# a stand-in for the Gateway API standard-install.yaml\napiVersion: v1\nkind: List\nitems: []\n";
        let mirror = Server::start();
        let url = pins
            .gateway_api
            .crds_url
            .replace("{version}", TEST_GATEWAY_API)
            .replace("{channel}", pins.gateway_api.channel.as_str());
        let path = url.split_once("://").unwrap().1;
        mirror.route(&format!("/{path}"), Reply::ok(bundle.to_vec()));
        use sha2::Digest as _;
        let bundle_sha256 = download::hex(&sha2::Sha256::digest(bundle));
        Run {
            fakes,
            dir: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
            mirror,
            bundle_sha256,
        }
    }

    fn run_dir(&self) -> &Path {
        self.dir.path()
    }

    fn xtask(&self, args: &[&str]) -> exec::Output {
        self.xtask_with(args, &[])
    }

    fn xtask_with(&self, args: &[&str], extra: &[(&str, &str)]) -> exec::Output {
        let cmd = self.xtask_cmd(args, extra);
        self.fakes.shell().run_unchecked(&cmd).unwrap()
    }

    fn xtask_cmd(&self, args: &[&str], extra: &[(&str, &str)]) -> exec::Cmd {
        let mut cmd = crate::context::xtask("run xtask under test", self.cache.path())
            .args(args)
            .env("KIND", self.fakes.program("kind"))
            .env("KUBECTL", self.fakes.program("kubectl"))
            .env("HELM", self.fakes.program("helm"))
            .env("XTASK_TOOLS_DIR", self.cache.path());
        cmd = cmd
            .env("XTASK_TOOLS_MIRROR", self.mirror.base_url())
            .env("GATEWAY_API_VERSION", TEST_GATEWAY_API)
            .env("GATEWAY_API_SHA256", &self.bundle_sha256);
        for (key, value) in extra {
            cmd = cmd.env(key, value);
        }
        cmd
    }

    /// Calls other than the version probes tool resolution makes.
    fn cluster_calls(&self) -> Vec<fake_tools::Call> {
        self.fakes
            .calls()
            .into_iter()
            .filter(|call| call.args.first().map(String::as_str) != Some("version"))
            .collect()
    }

    fn crds_installed(&self) {
        let crd = format!(
            r#"{{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{{"name":"gateways.gateway.networking.k8s.io","annotations":{{"gateway.networking.k8s.io/bundle-version":"{}","gateway.networking.k8s.io/channel":"standard"}}}}}}"#,
            TEST_GATEWAY_API
        );
        self.fakes
            .rule(Rule::new("kubectl", &["get", "customresourcedefinitions"]).stdout(crd))
            .unwrap();
    }
}

fn text(output: &exec::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        output.stdout_str(),
        output.stderr_str()
    )
}

fn kind_up_twice_creates_once_and_kind_down_empties_the_list() {
    let run = Run::new();
    let dir = run.run_dir().to_str().unwrap();
    let first = run.xtask(&["kind-up", "--dir", dir]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(
        first.stdout_str().contains("cluster release-gate is ready"),
        "{}",
        text(&first)
    );
    let kubeconfig = run.run_dir().join("kubeconfig");
    assert!(
        first
            .stdout_str()
            .contains(&format!("kubeconfig: {}", kubeconfig.display())),
        "{}",
        text(&first)
    );
    assert!(
        first
            .stdout_str()
            .contains("cargo xtask kind-down --name release-gate"),
        "{}",
        text(&first)
    );
    assert!(kubeconfig.is_file());
    assert_eq!(run.fakes.clusters(), ["release-gate"]);
    let bundle = run.run_dir().join(format!(
        "gateway-api-{TEST_GATEWAY_API}-standard-install.yaml"
    ));
    assert!(
        bundle.is_file(),
        "the verified CRD bundle is not in the run directory"
    );
    let apply = run
        .cluster_calls()
        .into_iter()
        .find(|call| call.has(&["apply", "--server-side"]))
        .unwrap();
    assert_eq!(apply.flag("-f"), Some(bundle.to_str().unwrap()));

    run.crds_installed();
    let second = run.xtask(&["kind-up", "--dir", dir]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        second.stdout_str().contains("nothing changed"),
        "{}",
        text(&second)
    );
    let creates = run
        .cluster_calls()
        .iter()
        .filter(|call| call.has(&["create", "cluster"]))
        .count();
    assert_eq!(creates, 1);
    assert!(
        run.run_dir().join("commands.log").is_file(),
        "no command log"
    );

    let down = run.xtask(&["kind-down", "--dir", dir]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    assert!(
        run.fakes.clusters().is_empty(),
        "{:?}",
        run.fakes.clusters()
    );
    assert!(
        run.run_dir().join("logs").is_dir(),
        "logs were not exported before the delete"
    );
    let again = run.xtask(&["kind-down", "--dir", dir]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        again.stdout_str().contains("nothing to delete"),
        "{}",
        text(&again)
    );
    assert!(
        !run.fakes.user_kubeconfig().exists(),
        "the user's kubeconfig was written"
    );
}

fn a_cluster_with_a_longer_name_is_not_reused_or_deleted() {
    let run = Run::new();
    run.fakes.add_clusters(&["release-gate-2"]).unwrap();
    let dir = run.run_dir().to_str().unwrap();
    let up = run.xtask(&["kind-up", "--dir", dir]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    assert_eq!(run.fakes.clusters(), ["release-gate-2", "release-gate"]);
    let down = run.xtask(&["kind-down", "--dir", dir]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    assert_eq!(run.fakes.clusters(), ["release-gate-2"]);
}

fn dry_run_prints_the_plan_and_runs_nothing() {
    let run = Run::new();
    let dir = run.run_dir().join("plan");
    let output = run.xtask(&[
        "kind-up",
        "--dry-run",
        "--name",
        "dev",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = output.stdout_str();
    let kind = run.fakes.program("kind");
    let kubectl = run.fakes.program("kubectl");
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    let expected = [
        format!("{} get clusters", kind.display()),
        format!(
            "{} create cluster --name dev --image {} --config {}/kind-config.yaml --kubeconfig {}/kubeconfig --wait 300s",
            kind.display(),
            pins.node_image.reference,
            dir.display(),
            dir.display()
        ),
        format!(
            "{} --kubeconfig {}/kubeconfig apply --server-side --field-manager=release-gate --force-conflicts -f {}/gateway-api-{TEST_GATEWAY_API}-standard-install.yaml",
            kubectl.display(),
            dir.display(),
            dir.display()
        ),
    ];
    for line in expected {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing `{line}` in\n{stdout}"
        );
    }
    assert!(
        stdout.contains("apiVersion: kind.x-k8s.io/v1alpha4"),
        "{stdout}"
    );
    assert!(
        run.cluster_calls().is_empty(),
        "the dry run ran {:?}",
        run.cluster_calls()
    );
    assert!(!dir.exists(), "the dry run wrote files");

    let down = run.xtask(&[
        "kind-down",
        "--dry-run",
        "--name",
        "dev",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
    assert!(
        down.stdout_str()
            .contains(&format!("{} delete cluster --name dev", kind.display())),
        "{}",
        text(&down)
    );
    assert!(run.cluster_calls().is_empty());
}

fn a_failing_create_exits_1_and_leaves_no_cluster() {
    let run = Run::new();
    run.fakes
        .rule(
            Rule::new("kind", &["create", "cluster"])
                .builtin()
                .stderr("ERROR: failed to create cluster: failed to init node with kubeadm\n")
                .exit(1),
        )
        .unwrap();
    let output = run.xtask(&["kind-up", "--dir", run.run_dir().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        output
            .stderr_str()
            .contains("failed to init node with kubeadm"),
        "{}",
        text(&output)
    );
    assert!(
        run.fakes.clusters().is_empty(),
        "{:?}",
        run.fakes.clusters()
    );
}

fn ctrl_c_during_create_stops_kind_deletes_the_cluster_and_exits_130() {
    let run = Run::new();
    // kind has created the node container and hangs in kubeadm when the user presses Ctrl-C.
    run.fakes
        .rule(Rule::new("kind", &["create", "cluster"]).builtin().hang())
        .unwrap();
    let cmd = run.xtask_cmd(&["kind-up", "--dir", run.run_dir().to_str().unwrap()], &[]);
    let mut xtask = run.fakes.shell().spawn(&cmd).unwrap();
    let mut clusters_when_interrupted = Vec::new();
    let (code, stderr) = crate::interrupt_when(
        &mut xtask,
        "kind create",
        std::time::Duration::from_secs(240),
        |_| {
            clusters_when_interrupted = run.fakes.clusters();
            !run.fakes.pids().is_empty()
        },
    );
    assert_eq!(clusters_when_interrupted, ["release-gate"]);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let hanging_kind = run.fakes.pids()[0];
    assert!(
        !fake_tools::process_alive(hanging_kind),
        "kind create survived the interrupt"
    );
    assert!(
        run.fakes.clusters().is_empty(),
        "left behind: {:?}",
        run.fakes.clusters()
    );
    let last = run.fakes.calls_of("kind").pop().unwrap();
    assert!(last.has(&["delete", "cluster"]), "{}", last.line());
}

/// `--kubernetes MINOR` takes that minor's pinned node image (and the pinned kubectl within
/// skew of it); a minor the pin file has no image for, or one beside `KIND_NODE_IMAGE`, is
/// exit 2 before any cluster call.
fn kubernetes_picks_the_pinned_image_of_that_minor() {
    let run = Run::new();
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    let narrowed = pins.for_kubernetes("1.35").unwrap();
    run.fakes
        .set_version("kubectl", &narrowed.kubectl.version.to_string())
        .unwrap();
    let dir = run.run_dir().join("plan");
    let output = run.xtask(&[
        "kind-up",
        "--dry-run",
        "--kubernetes",
        "1.35",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let create = format!(
        "{} create cluster --name release-gate --image kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0 ",
        run.fakes.program("kind").display()
    );
    assert!(
        output.stdout_str().lines().any(|l| l.starts_with(&create)),
        "missing `{create}` in {}",
        text(&output)
    );
    assert!(run.cluster_calls().is_empty());

    let dir = dir.to_str().unwrap().to_owned();
    bad_input(
        &run,
        &[
            "kind-up",
            "--dry-run",
            "--dir",
            &dir,
            "--kubernetes",
            "1.32",
        ],
        "the pin file has no node image for Kubernetes 1.32; the pinned minors are 1.37, 1.36, 1.35, 1.34",
    );
    let output = run.xtask_with(
        &[
            "kind-up",
            "--dry-run",
            "--dir",
            &dir,
            "--kubernetes",
            "1.36",
        ],
        &[("KIND_NODE_IMAGE", &pins.node_image.reference)],
    );
    // The pinned default named explicitly is no override: 1.36 is still picked.
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let other = "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5";
    let output = run.xtask_with(
        &[
            "kind-up",
            "--dry-run",
            "--dir",
            &dir,
            "--kubernetes",
            "1.35",
        ],
        &[("KIND_NODE_IMAGE", other)],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        output
            .stderr_str()
            .contains("KIND_NODE_IMAGE names one image"),
        "{}",
        text(&output)
    );
    assert!(run.cluster_calls().is_empty());
}

fn bad_input(run: &Run, args: &[&str], expected: &str) {
    let output = run.xtask(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output));
    assert!(
        output.stderr_str().contains(expected),
        "{args:?}: {}",
        text(&output)
    );
    assert!(
        run.cluster_calls().is_empty(),
        "{args:?} reached kind: {:?}",
        run.cluster_calls()
    );
    assert!(run.fakes.clusters().is_empty());
}

fn bad_input_exits_2_before_any_cluster_call() {
    let run = Run::new();
    let dir = run.run_dir().to_str().unwrap().to_owned();
    bad_input(
        &run,
        &["kind-up", "--dir", &dir, "--release", "latest"],
        "not a release tag",
    );
    bad_input(
        &run,
        &["kind-up", "--dir", &dir, "--release", "2.1/0"],
        "it contains '/'",
    );
    bad_input(
        &run,
        &["kind-up", "--dir", &dir, "--release=-v2.1.0"],
        "option",
    );
    bad_input(
        &run,
        &["kind-up", "--dir", &dir, "--name", "Release_Gate"],
        "not a usable kind cluster name",
    );
    bad_input(
        &run,
        &["kind-down", "--dir", &dir, "--name", "a b"],
        "not a usable kind cluster name",
    );

    let config = run.run_dir().join("target.toml");
    std::fs::write(
        &config,
        "[release]\nrepo = \"a/b\"\n[install]\ngateway_class = \"Not_A_Label\"\n",
    )
    .unwrap();
    bad_input(
        &run,
        &[
            "kind-up",
            "--dir",
            &dir,
            "--config",
            config.to_str().unwrap(),
        ],
        "not a DNS label",
    );

    std::fs::write(
        &config,
        "[release]\nrepo = \"a/b\"\n[install]\ngateway_class = \"kgateway\"\n[[install.charts]]\nname = \"kgateway\"\nchart = \"oci://cr.kgateway.dev/kgateway-dev/charts/kgateway\"\nnamespace = \"kgateway-system\"\n",
    )
    .unwrap();
    bad_input(
        &run,
        &[
            "kind-up",
            "--dir",
            &dir,
            "--config",
            config.to_str().unwrap(),
        ],
        "has no version",
    );

    // The conformance crate's names, checked with the file: the line of the typo, the cases.
    std::fs::write(
        &config,
        "# skip = [\"route-hedaer\"] would be a typo\n[release]\nrepo = \"a/b\"\n[install]\ngateway_class = \"kgateway\"\n[conformance]\nskip = [\"route-hedaer\"]\n",
    )
    .unwrap();
    for args in [
        &["kind-up", "--dir", &dir][..],
        &["kind-up", "--dry-run", "--dir", &dir],
    ] {
        let mut args = args.to_vec();
        args.extend(["--config", config.to_str().unwrap()]);
        bad_input(
            &run,
            &args,
            &format!(
                "{}:7:9: [conformance] skip: there is no case `route-hedaer`; fix the name or remove it (the cases are: listener-connectivity,",
                config.display()
            ),
        );
    }
}

fn a_crd_bundle_with_the_wrong_checksum_is_refused_before_any_cluster() {
    let run = Run::new();
    let output = run.xtask_with(
        &["kind-up", "--dir", run.run_dir().to_str().unwrap()],
        &[("GATEWAY_API_SHA256", &"0".repeat(64))],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        output.stderr_str().contains("Gateway API CRDs"),
        "{}",
        text(&output)
    );
    assert!(run.cluster_calls().is_empty(), "{:?}", run.cluster_calls());
    assert!(
        !run.run_dir()
            .join(format!(
                "gateway-api-{TEST_GATEWAY_API}-standard-install.yaml"
            ))
            .exists(),
        "an unverified bundle was left in place"
    );
}

/// Recorded-shape answers for the shipped fixture: its Gateway programmed, each HTTPRoute
/// accepted for that Gateway, every backend's pods Ready, the gateway Service labelled.
fn script_a_healthy_release(run: &Run) -> cluster::fixture::Fixture {
    let fixture = cluster::fixture::Fixture::load(
        &testkit::workspace_root().join(cluster::fixture::FIXTURE_DIR),
        "kgateway",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let gateway = fixture.gateway().clone();
    run.fakes
        .rule(
            Rule::new(
                "kubectl",
                &["get", "gateways.gateway.networking.k8s.io", &gateway.name],
            )
            .stdout(
                k8s::Gateway {
                    name: &gateway.name,
                    namespace: &gateway.namespace,
                    class: "kgateway",
                    listeners: &[("http", 80)],
                    address: None,
                }
                .programmed(),
            ),
        )
        .unwrap();
    for route in fixture.routes.iter().chain(&fixture.accepted_only) {
        run.fakes
            .rule(
                Rule::new(
                    "kubectl",
                    &["get", "httproutes.gateway.networking.k8s.io", &route.name],
                )
                .stdout(k8s::route_accepted(
                    &route.name,
                    &route.namespace,
                    "kgateway.dev/kgateway",
                    (&gateway.name, &gateway.namespace),
                )),
            )
            .unwrap();
    }
    let replicas = fixture
        .backends
        .iter()
        .map(|b| b.replicas)
        .max()
        .unwrap_or(1);
    let pods: Vec<String> = (0..replicas)
        .map(|index| k8s::pod_ready(&format!("pod-{index}"), &gateway.namespace))
        .collect();
    run.fakes
        .rule(Rule::new("kubectl", &["get", "pods"]).stdout(k8s::list(&pods)))
        .unwrap();
    run.fakes
        .rule(
            Rule::new("kubectl", &["get", "services"]).stdout(k8s::gateway_service(
                &gateway.name,
                &gateway.namespace,
                &gateway.name,
                &[("http", 80)],
            )),
        )
        .unwrap();
    fixture
}

/// The release's images in the fake engine, and an artifacts.json recording each by the image
/// ID the engine reports (what `cargo xtask artifacts fetch` leaves behind). Returns its folder.
fn record_release(run: &Run, images: &[&str]) -> tempfile::TempDir {
    run.fakes.add_images(images).unwrap();
    let sh = run.fakes.shell();
    let docker = docker::Docker::new(run.fakes.program("docker"));
    let recorded: Vec<artifact::record::ImageRecord> = images
        .iter()
        .map(|reference| {
            let output = sh.run(&docker.image_inspect(reference)).unwrap();
            let info = docker::parse_image_inspect(&output.stdout_str()).unwrap();
            artifact::record::ImageRecord {
                reference: (*reference).to_owned(),
                digest: None,
                id: info.id,
                source: artifact::record::ImageSource::Config,
                published_digest: None,
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    artifact::record::write(
        dir.path(),
        &artifact::record::Record {
            schema: artifact::record::SCHEMA,
            repo: "kgateway-dev/kgateway".into(),
            tag: "v2.1.0".into(),
            prerelease: false,
            release_url: "https://github.com/kgateway-dev/kgateway/releases/tag/v2.1.0".into(),
            assets: Vec::new(),
            images: recorded,
        },
    )
    .unwrap();
    dir
}

const RELEASE_IMAGES: [&str; 3] = [
    "cr.kgateway.dev/kgateway-dev/kgateway:v2.1.0",
    "cr.kgateway.dev/kgateway-dev/sds:v2.1.0",
    "cr.kgateway.dev/kgateway-dev/envoy-wrapper:v2.1.0",
];

fn kind_up_with_a_release_installs_charts_images_and_the_fixture_once() {
    let run = Run::new();
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    run.fakes.add_images(&[&pins.images.echo]).unwrap();
    let artifacts = record_release(&run, &RELEASE_IMAGES);
    let artifacts = artifacts.path().to_str().unwrap().to_owned();
    let fixture = script_a_healthy_release(&run);
    let dir = run.run_dir().to_str().unwrap().to_owned();
    let up = [
        "kind-up",
        "--dir",
        &dir,
        "--release",
        "v2.1.0",
        "--artifacts",
        &artifacts,
    ];
    let first = run.xtask(&up);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));

    let upgrades: Vec<fake_tools::Call> = run
        .cluster_calls()
        .into_iter()
        .filter(|call| call.has(&["upgrade", "--install"]))
        .collect();
    let names: Vec<&str> = upgrades.iter().map(|call| call.args[2].as_str()).collect();
    assert_eq!(
        names,
        ["kgateway-crds", "kgateway"],
        "charts in config order"
    );
    let kubeconfig = run.run_dir().join("kubeconfig");
    for call in &upgrades {
        assert_eq!(call.flag("--version"), Some("v2.1.0"), "{}", call.line());
        assert_eq!(call.flag("--namespace"), Some("kgateway-system"));
        assert!(
            call.has(&["--create-namespace", "--wait"]),
            "{}",
            call.line()
        );
        assert_eq!(
            call.flag("--kubeconfig"),
            Some(kubeconfig.to_str().unwrap())
        );
    }
    // Exactly the recorded images, each saved to an archive and loaded from it; none pulled.
    let saved: Vec<String> = run
        .cluster_calls()
        .into_iter()
        .filter(|call| call.tool == "docker" && call.has(&["save"]))
        .map(|call| call.args.last().unwrap().clone())
        .collect();
    let mut expected: Vec<&str> = RELEASE_IMAGES.to_vec();
    expected.push(pins.images.echo.as_str());
    assert_eq!(saved, expected);
    let archives = run
        .cluster_calls()
        .into_iter()
        .filter(|call| call.has(&["load", "image-archive"]))
        .count();
    assert_eq!(archives, 4);
    assert!(
        !run.cluster_calls()
            .iter()
            .any(|call| call.has(&["pull"]) || call.has(&["load", "docker-image"])),
        "an image was pulled or loaded by tag"
    );
    let applied = std::fs::read_to_string(run.run_dir().join("fixture.yaml")).unwrap();
    assert_eq!(
        applied.matches("gatewayClassName: kgateway").count(),
        fixture.gateways.len(),
        "{applied}"
    );
    let gateway = fixture.gateway();
    let forward = format!(
        "{} --kubeconfig {} port-forward service/{} :80 --namespace {} --address 127.0.0.1",
        run.fakes.program("kubectl").display(),
        kubeconfig.display(),
        gateway.name,
        gateway.namespace
    );
    assert!(
        first.stdout_str().contains(&forward),
        "missing `{forward}`:\n{}",
        text(&first)
    );

    // Second run: helm reports both releases deployed at the version, the CRDs are installed.
    run.crds_installed();
    for chart in ["kgateway-crds", "kgateway"] {
        let filter = format!("^{chart}$");
        run.fakes
            .rule(Rule::new("helm", &["list", &filter]).stdout(format!(
                r#"[{{"name":"{chart}","namespace":"kgateway-system","revision":"1","status":"deployed","chart":"{chart}-v2.1.0","app_version":"v2.1.0"}}]"#
            )))
            .unwrap();
    }
    let second = run.xtask(&up);

    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        second.stdout_str().contains("nothing changed"),
        "{}",
        text(&second)
    );
    let upgrades = run
        .cluster_calls()
        .iter()
        .filter(|call| call.has(&["upgrade", "--install"]))
        .count();
    assert_eq!(upgrades, 2, "the second run reinstalled a chart");
}

fn an_image_retagged_since_it_was_recorded_is_refused() {
    let run = Run::new();
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    run.fakes.add_images(&[&pins.images.echo]).unwrap();
    let artifacts = record_release(&run, &RELEASE_IMAGES[..1]);
    // Someone re-tags the image after the fetch: the record says another ID.
    let record_path = artifacts.path().join("artifacts.json");
    let record = std::fs::read_to_string(&record_path).unwrap();
    let id = record
        .split("\"id\": \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(
        &record_path,
        record.replace(&id, &format!("sha256:{}", "e".repeat(64))),
    )
    .unwrap();
    script_a_healthy_release(&run);
    let output = run.xtask(&[
        "kind-up",
        "--dir",
        run.run_dir().to_str().unwrap(),
        "--release",
        "v2.1.0",
        "--artifacts",
        artifacts.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        output
            .stderr_str()
            .contains("refusing to load an image nobody verified"),
        "{}",
        text(&output)
    );
    assert!(
        !run.cluster_calls()
            .iter()
            .any(|call| call.has(&["load", "image-archive"])),
        "the re-tagged image was loaded"
    );
}

fn a_missing_echo_image_names_the_command_that_builds_it() {
    let run = Run::new();
    script_a_healthy_release(&run);
    let output = run.xtask(&[
        "kind-up",
        "--dir",
        run.run_dir().to_str().unwrap(),
        "--release",
        "v2.1.0",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        output.stderr_str().contains("cargo xtask echo-image --tag"),
        "{}",
        text(&output)
    );
}

fn a_release_dry_run_needs_no_docker_engine_and_no_network() {
    // A tag with or without a `v` is planned the same way.
    for tag in ["v2.1.0", "2.1.0"] {
        let run = Run::new();
        let dir = run.run_dir().join("plan");
        // A docker that cannot answer: the engine is down (or there is none).
        let output = run.xtask_with(
            &[
                "kind-up",
                "--dry-run",
                "--release",
                tag,
                "--dir",
                dir.to_str().unwrap(),
            ],
            &[
                ("DOCKER", "/nonexistent/docker"),
                ("GITHUB_API_URL", "http://127.0.0.1:9"),
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        let stdout = output.stdout_str();
        assert!(
            stdout.contains(&format!("# fetch kgateway-dev/kgateway {tag} into")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "upgrade --install kgateway-crds oci://cr.kgateway.dev/kgateway-dev/charts/kgateway-crds --version {tag} "
            )),
            "{stdout}"
        );
        assert!(run.cluster_calls().is_empty(), "{:?}", run.cluster_calls());
        assert!(
            run.mirror.requests().is_empty(),
            "the dry run downloaded something"
        );
    }
}

fn kind_down_uses_any_kind_there_is_and_never_downloads_one() {
    let run = Run::new();
    // Only another kind version, on PATH: no $KIND, nothing in the cache.
    run.fakes.set_version("kind", "v0.20.0").unwrap();
    let cmd = run
        .xtask_cmd(
            &["kind-down", "--dir", run.run_dir().to_str().unwrap()],
            &[],
        )
        .env_remove("KIND");
    let output = run.fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        output.stdout_str().contains("nothing to delete"),
        "{}",
        text(&output)
    );
    assert!(
        output
            .stderr_str()
            .contains("deleting does not depend on the version"),
        "{}",
        text(&output)
    );
    assert!(
        run.mirror.requests().is_empty(),
        "kind-down downloaded a tool"
    );

    run.fakes.add_clusters(&["release-gate"]).unwrap();
    let output = run.fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(run.fakes.clusters().is_empty());
}

/// No kind binary anywhere: kind-down asks the engine for kind's node containers instead of
/// failing a cleanup script that has nothing to delete.
fn kind_down_without_kind_asks_the_engine_for_node_containers() {
    let run = Run::new();
    let no_tools = tempfile::tempdir().unwrap();
    let down = |args: &[&str], docker: bool| {
        let mut all = vec!["kind-down"];
        if args != ["--stale"] {
            all.extend(["--dir", run.run_dir().to_str().unwrap()]);
        }
        all.extend_from_slice(args);
        let mut cmd = run
            .xtask_cmd(&all, &[])
            .env_remove("KIND")
            .env("PATH", no_tools.path());
        cmd = if docker {
            cmd.env("DOCKER", run.fakes.program("docker"))
        } else {
            cmd.env_remove("DOCKER")
        };
        run.fakes.shell().run_unchecked(&cmd).unwrap()
    };

    let output = down(&[], true);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("nothing to delete"),
        "{}",
        text(&output)
    );
    let ps = run.fakes.calls_of("docker");
    assert!(
        ps.iter().any(|call| call.has(&["ps", "--all", "--filter"])
            && call
                .args
                .iter()
                .any(|arg| arg == "label=io.x-k8s.kind.cluster")),
        "{ps:?}"
    );

    run.fakes
        .add_clusters(&["release-gate", "release-gate-run-0badc0de"])
        .unwrap();
    let output = down(&[], true);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("release-gate")
            && text(&output).contains("cargo xtask tools install kind"),
        "{}",
        text(&output)
    );
    let output = down(&["--name", "someone-else"], true);
    assert_eq!(
        output.status.code(),
        Some(0),
        "another name has nothing to delete: {}",
        text(&output)
    );
    let output = down(&["--stale"], true);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("release-gate-run-0badc0de"),
        "{}",
        text(&output)
    );
    assert_eq!(
        run.fakes.clusters(),
        ["release-gate", "release-gate-run-0badc0de"],
        "nothing is deleted without kind"
    );

    run.fakes
        .rule(
            Rule::new("docker", &["ps"])
                .stderr("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
                .exit(1),
        )
        .unwrap();
    let output = down(&[], true);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("cannot be listed"),
        "{}",
        text(&output)
    );

    let output = down(&[], false);
    assert_eq!(
        output.status.code(),
        Some(0),
        "no docker CLI either: {}",
        text(&output)
    );
    assert!(
        text(&output).contains("nothing to delete"),
        "{}",
        text(&output)
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        kind_up_twice_creates_once_and_kind_down_empties_the_list,
        a_cluster_with_a_longer_name_is_not_reused_or_deleted,
        dry_run_prints_the_plan_and_runs_nothing,
        kubernetes_picks_the_pinned_image_of_that_minor,
        a_failing_create_exits_1_and_leaves_no_cluster,
        ctrl_c_during_create_stops_kind_deletes_the_cluster_and_exits_130,
        bad_input_exits_2_before_any_cluster_call,
        a_crd_bundle_with_the_wrong_checksum_is_refused_before_any_cluster,
        kind_up_with_a_release_installs_charts_images_and_the_fixture_once,
        an_image_retagged_since_it_was_recorded_is_refused,
        a_missing_echo_image_names_the_command_that_builds_it,
        a_release_dry_run_needs_no_docker_engine_and_no_network,
        kind_down_uses_any_kind_there_is_and_never_downloads_one,
        kind_down_without_kind_asks_the_engine_for_node_containers,
    ]
}

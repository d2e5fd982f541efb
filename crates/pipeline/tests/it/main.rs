//! `pipeline::run` in process, with no docker and no gateway: the fake kind, kubectl, helm and
//! docker (crates/fake-tools, run by path) stand in for the tools and the testkit server for the
//! GitHub API and the CRD mirror. What these pin down is the run's own logic: how a failure is
//! classified into a verdict, that a cancellation stops the run as interrupted, and that
//! cleanup deletes the cluster on every one of those paths.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fake_tools::{FakeTools, Rule};
use pipeline::{Event, Outcome, Stage, Verdict};
use testkit::http::{Reply, Server};

mod cells;

const REPO: &str = "example/gateway";
const TAG: &str = "v2.1.0";
/// Only a bundle whose checksum the test knows can be served.
const TEST_GATEWAY_API: &str = "v9.9.9";

struct Run {
    fakes: FakeTools,
    server: Server,
    work: tempfile::TempDir,
    /// The kernel's inotify limits the run sees (instances, watches): the host's own would
    /// make the tests depend on the machine.
    inotify: (u64, u64),
    /// The target's `[kubernetes] minors` (a cell each), none when empty.
    minors: &'static [&'static str],
    /// `--parallel`.
    parallel: Option<usize>,
    /// More of the environment snapshot.
    env: Vec<(&'static str, String)>,
    /// `[artifacts] request_timeout_secs`: short, so a late API fails the run soon.
    request_timeout_secs: u64,
}

impl Run {
    fn new() -> Run {
        let fakes = FakeTools::new().unwrap();
        let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
        for (tool, version) in [
            ("kind", pins.kind.version.to_string()),
            ("kubectl", pins.kubectl.version.to_string()),
            ("helm", pins.helm.version.to_string()),
            ("docker", pins.docker.minimum.to_string()),
        ] {
            fakes.set_version(tool, &version).unwrap();
        }
        // The echo image step asks the engine its platform: slow, so the failure a test makes
        // (or its cancellation) always comes first and the echo step is one it cancels.
        fakes
            .rule(Rule::new("docker", &["info"]).delay(Duration::from_secs(20)))
            .unwrap();
        Run {
            fakes,
            server: Server::start(),
            work: tempfile::tempdir().unwrap(),
            inotify: (8192, 1_048_576),
            minors: &[],
            parallel: None,
            env: Vec::new(),
            request_timeout_secs: 3,
        }
    }

    /// A `/proc/sys` with the run's inotify limits.
    fn proc_sys(&self) -> PathBuf {
        let root = self.work.path().join("proc-sys");
        let inotify = root.join("fs/inotify");
        std::fs::create_dir_all(&inotify).unwrap();
        let (instances, watches) = self.inotify;
        std::fs::write(inotify.join("max_user_instances"), format!("{instances}\n")).unwrap();
        std::fs::write(inotify.join("max_user_watches"), format!("{watches}\n")).unwrap();
        root
    }

    fn config(&self) -> PathBuf {
        let path = self.work.path().join("target.toml");
        std::fs::write(
            &path,
            format!(
                r#"[release]
repo = "{REPO}"
project = "example-gateway"

[artifacts]
patterns = ["images.tar"]
image_archives = ["images.tar"]
images_from_manifests = false
request_timeout_secs = {}
total_timeout_secs = {}
retries = 0

[install]
gateway_class = "example"

[[install.charts]]
name = "example-gateway"
chart = "oci://registry.example/charts/example-gateway"
version = "{{version}}"
namespace = "example-system"

[load_balancer]
provider = "none"
{}"#,
                self.request_timeout_secs,
                self.request_timeout_secs.max(20),
                if self.minors.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n[kubernetes]\nminors = [{}]\n",
                        self.minors
                            .iter()
                            .map(|minor| format!("{minor:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        )
        .unwrap();
        path
    }

    fn bundle(&self) -> String {
        let bundle = b"apiVersion: v1\nkind: List\nitems: []\n".to_vec();
        let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
        let url = pins
            .gateway_api
            .crds_url
            .replace("{version}", TEST_GATEWAY_API)
            .replace("{channel}", pins.gateway_api.channel.as_str());
        let path = url.split_once("://").unwrap().1;
        use sha2::Digest as _;
        let sha = download::hex(&sha2::Sha256::digest(&bundle));
        self.server.route(&format!("/{path}"), Reply::ok(bundle));
        sha
    }

    fn inputs(&self) -> pipeline::Inputs {
        let work = self.work.path();
        let sha = self.bundle();
        let env = settings::Env::new(
            [
                ("KIND", self.fakes.program("kind")),
                ("KUBECTL", self.fakes.program("kubectl")),
                ("HELM", self.fakes.program("helm")),
                ("DOCKER", self.fakes.program("docker")),
                ("PATH", PathBuf::from("/usr/bin:/bin")),
                ("HOME", work.join("home")),
                ("XTASK_TOOLS_DIR", work.join("tools")),
                ("XTASK_ARTIFACT_CACHE", work.join("cache")),
                ("XTASK_VERIFY_DIR", work.join("verify")),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.display().to_string()))
            .chain(
                [
                    ("GITHUB_API_URL", self.server.base_url()),
                    ("XTASK_TOOLS_MIRROR", self.server.base_url()),
                    ("GATEWAY_API_VERSION", TEST_GATEWAY_API.to_owned()),
                    ("GATEWAY_API_SHA256", sha),
                    ("XTASK_RUN_ID", "pipeline-it".to_owned()),
                ]
                .into_iter()
                .chain(self.env.iter().cloned())
                .map(|(key, value)| (key.to_owned(), value)),
            ),
        );
        let mut settings = settings::Settings::load(
            &settings::Request {
                root: testkit::workspace_root(),
                config: Some(self.config()),
            },
            env,
        )
        .unwrap_or_else(|error| panic!("settings: {error}"));
        settings.host.proc_sys = self.proc_sys();
        // The machine's own memory and cores would make the cells' parallelism depend on it.
        settings.host.memory_available = Some(64 << 30);
        settings.host.cores = 8;
        pipeline::inputs::load(
            &pipeline::Request {
                repo: Some(REPO.to_owned()),
                tag: Some(TAG.to_owned()),
                artifacts_dir: Some(work.join("run")),
                parallel: self.parallel,
                ..pipeline::Request::default()
            },
            settings,
        )
        .unwrap_or_else(|error| panic!("inputs: {error}"))
    }

    /// Runs the gate; `during` gets the token and the fakes while it runs.
    fn run(&self, during: impl FnOnce(&cancel::Token, &FakeTools) + Send) -> (Outcome, Vec<Event>) {
        let inputs = self.inputs();
        let token = cancel::Token::new();
        let events = Mutex::new(Vec::new());
        let outcome = std::thread::scope(|scope| {
            scope.spawn(|| during(&token, &self.fakes));
            pipeline::run(&inputs, &token, &|event| {
                stdx::lock(&events).push(event);
            })
        });
        (outcome, events.into_inner().unwrap())
    }

    fn run_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.work.path().join("run/run.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn step_status(&self, name: &str) -> String {
        let json = self.run_json();
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| step["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}"))["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn failing_step(outcome: &Outcome) -> Option<Stage> {
    outcome.failing_step.as_ref().map(|(step, _)| step.stage)
}

#[test]
fn a_release_the_api_does_not_know_is_bad_input_and_leaves_no_cluster() {
    let run = Run::new();
    // Nothing is served for the release: the API answers 404.
    let (outcome, _) = run.run(|_, _| {});
    assert_eq!(
        outcome.verdict,
        Verdict::BadInput,
        "{:?}",
        outcome.failing_step
    );
    assert_eq!(outcome.verdict.exit_code(), 2);
    assert_eq!(failing_step(&outcome), Some(Stage::Resolve));
    assert!(
        outcome.failing_step.as_ref().unwrap().1.contains(REPO),
        "the message names the repository: {:?}",
        outcome.failing_step
    );
    assert!(
        run.fakes.clusters().is_empty(),
        "{:?}",
        run.fakes.clusters()
    );
    assert!(matches!(
        outcome.cluster,
        Some(cluster::run_cluster::Fate::NeverCreated | cluster::run_cluster::Fate::Deleted)
    ));
    assert_eq!(run.step_status("cleanup"), "succeeded");
    assert_eq!(run.run_json()["verdict"], "bad-input");
    // Every report says which Kubernetes the run used and why (this target lists no minors).
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    let default = pins.node_image.kubernetes.minor_pair();
    let minor = format!("{}.{}", default.0, default.1);
    let kubernetes = &run.run_json()["kubernetes"];
    assert_eq!(kubernetes["minor"], minor.as_str(), "{kubernetes}");
    assert_eq!(
        kubernetes["why"],
        "the pin file's default node image; the target lists no [kubernetes] minors"
    );
    assert_eq!(kubernetes["not_verified"], serde_json::json!([]));
    let report =
        |name: &str| std::fs::read_to_string(run.work.path().join("run").join(name)).unwrap();
    assert!(
        report("summary.md").contains(&format!("- Kubernetes {minor} (the pin file's default")),
        "{}",
        report("summary.md")
    );
    assert!(
        report("junit-pipeline.xml").contains(&format!(
            "<property name=\"kubernetes.minor\" value=\"{minor}\"/>"
        )),
        "{}",
        report("junit-pipeline.xml")
    );
}

fn inotify_warnings(events: &[Event]) -> Vec<(usize, Vec<cluster::host::Shortfall>)> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            pipeline::EventKind::Cluster(cluster::Event::InotifyLow {
                clusters,
                shortfalls,
            }) if event.step == Stage::Tools => Some((*clusters, shortfalls.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_tools_step_warns_when_the_hosts_inotify_limits_do_not_fit_its_clusters() {
    // The release resolves late (and is not there), so the tools step finishes first.
    let late = |run: &Run| {
        run.server.route(
            &format!("/repos/{REPO}/releases/tags/{TAG}"),
            Reply::status(404).delay(Duration::from_secs(2)),
        );
    };
    // Generous limits: nothing said.
    let run = Run::new();
    late(&run);
    let (_, events) = run.run(|_, _| {});
    assert_eq!(run.step_status("tools"), "succeeded");
    assert!(inotify_warnings(&events).is_empty());
    // The kernel's default instances (128) fit this run's one cluster, not it beside a
    // developer's cluster already on the engine: both limits, the need and the fix.
    let mut run = Run::new();
    run.inotify = (128, 200_000);
    run.fakes.add_clusters(&["release-gate"]).unwrap();
    late(&run);
    let (_, events) = run.run(|_, _| {});
    let warnings = inotify_warnings(&events);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let (clusters, shortfalls) = &warnings[0];
    assert_eq!(*clusters, 2);
    let found: Vec<(&str, u64, u64)> = shortfalls
        .iter()
        .map(|short| (short.setting, short.value, short.needed))
        .collect();
    assert_eq!(
        found,
        [
            ("fs.inotify.max_user_instances", 128, 256),
            ("fs.inotify.max_user_watches", 200_000, 262_144)
        ]
    );
}

#[test]
fn a_cluster_that_cannot_be_created_could_not_run_and_cleanup_still_runs() {
    let run = Run::new();
    // The release is slow to resolve, so the cluster's failure comes first and cancels it.
    run.server.route(
        &format!("/repos/{REPO}/releases/tags/{TAG}"),
        Reply::status(404).delay(Duration::from_secs(10)),
    );
    run.fakes
        .rule(
            Rule::new("kind", &["create", "cluster"])
                .stderr("ERROR: failed to create cluster: kubeadm init failed\n")
                .exit(1),
        )
        .unwrap();
    let started = Instant::now();
    let (outcome, events) = run.run(|_, _| {});
    assert_eq!(
        outcome.verdict,
        Verdict::CouldNotRun,
        "{:?}",
        outcome.failing_step
    );
    assert_eq!(outcome.verdict.exit_code(), 3);
    assert_eq!(failing_step(&outcome), Some(Stage::Cluster));
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the slow siblings were cancelled, not waited for"
    );
    assert_eq!(run.step_status("resolve"), "cancelled");
    assert_eq!(run.step_status("echo-image"), "cancelled");
    assert_eq!(run.step_status("diagnostics"), "succeeded");
    assert_eq!(run.step_status("cleanup"), "succeeded");
    assert!(run.fakes.clusters().is_empty());
    assert_eq!(
        outcome.cluster,
        Some(cluster::run_cluster::Fate::NeverCreated),
        "kind deleted what it left; nothing is reported deleted that never was"
    );
    assert!(
        events.iter().any(|event| event.step == Stage::Diagnostics
            && matches!(
                &event.kind,
                pipeline::EventKind::Note(pipeline::Note::NothingToDiagnose)
            )),
        "diagnostics says there was nothing to diagnose"
    );
}

#[test]
fn a_signal_during_create_interrupts_the_run_and_deletes_the_cluster() {
    let run = Run::new();
    run.server.route(
        &format!("/repos/{REPO}/releases/tags/{TAG}"),
        Reply::status(404).delay(Duration::from_secs(20)),
    );
    run.fakes
        .rule(
            Rule::new("kind", &["create", "cluster"])
                .builtin()
                .delay(Duration::from_secs(20)),
        )
        .unwrap();
    let started = Instant::now();
    let (outcome, _) = run.run(|token, fakes| {
        while !fakes
            .calls_of("kind")
            .iter()
            .any(|call| call.has(&["create", "cluster"]))
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "kind create never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        token.cancel(cancel::Reason::Signal(15));
    });
    assert_eq!(outcome.verdict, Verdict::Interrupted(15));
    assert_eq!(outcome.verdict.exit_code(), 143);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the cancelled create was killed, not waited for"
    );
    assert_eq!(run.step_status("cleanup"), "succeeded");
    assert!(
        run.fakes.clusters().is_empty(),
        "{:?}",
        run.fakes.clusters()
    );
    let deletes = run
        .fakes
        .calls_of("kind")
        .iter()
        .filter(|call| call.has(&["delete", "cluster"]))
        .count();
    assert!(deletes >= 1, "cleanup deleted the half-created cluster");
    assert_eq!(run.run_json()["verdict"], "interrupted");
}

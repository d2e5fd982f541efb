//! bench pipeline: how close the scheduler gets to the step graph's lower bound. verify-release
//! runs (this very binary, as a user runs it) against fake kind, kubectl, helm and docker whose
//! slow commands take fixed times (cluster create 3 s, image pull 2 s, chart install 2 s, …), a
//! local release server whose asset takes 3 s, and the real engine for the echo image (its
//! build gets 2 s on top of the real one, so it is really built and proven). Reported: the wall
//! time, the critical path of the graph over the steps' measured durations (the least any
//! scheduler could take with those steps), their ratio (goal ≤ 1.10), and the sequential sum a
//! straight script would take. With `--cells N` the target supports N Kubernetes minors, so one
//! run holds N clusters at once: reported beside the ratio to its critical path is the ratio of
//! its wall time to a one-cell run's (goal ≤ 1.3 for three cells in parallel) and the sum of N
//! separate one-cell runs. Figures are printed, never asserted.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fake_tools::{FakeTools, Rule, k8s};
use pipeline::graph::{Span, When, critical_path};
use testkit::http::{Reply, Server};

use crate::ui;

#[derive(clap::Args)]
pub struct Args {
    /// Measured runs (after one warm-up run that builds the echo binary if needed)
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Kubernetes minors of the target (a cluster each, all at once), from 1 to 3
    #[arg(long, default_value_t = 1)]
    pub cells: usize,
}

/// The pinned minors a several-cell bench runs (each has a node image; kubectl v1.35.8 is
/// within one minor of all three).
const MINORS: [&str; 3] = ["1.36", "1.35", "1.34"];

const REPO: &str = "bench/gateway";
const TAG: &str = "v1.0.0";

/// The fixed cost of each slow fake command, in milliseconds.
const COSTS: [(&str, &[&str], u64); 8] = [
    ("kind", &["create", "cluster"], 3000),
    ("kind", &["load", "image-archive"], 500),
    ("kind", &["export", "logs"], 500),
    ("kind", &["delete", "cluster"], 1000),
    ("docker", &["pull"], 2000),
    ("helm", &["upgrade", "--install"], 2000),
    ("kubectl", &["apply"], 300),
    ("kubectl", &["wait"], 300),
];

/// The asset download's fixed cost.
const ASSET_DELAY: Duration = Duration::from_secs(3);

struct Bench {
    fakes: FakeTools,
    server: Server,
    work: stdx::temp::TempDir,
    bundle_sha: String,
    docker: std::path::PathBuf,
}

/// The echo image is really built (and its binary proven) by the real engine; everything else
/// docker does in the run (pulls, saves of pulled images, the provider) is the fake's, so the
/// fixed costs hold. The wrapper sends each subcommand where it belongs.
fn docker_wrapper(dir: &Path, real: &Path, fake: &Path) -> anyhow::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("docker");
    let script = format!(
        "#!/bin/sh\n\
         real='{real}'; fake='{fake}'\n\
         case \"$1\" in\n\
         \x20 build) sleep {build}; exec \"$real\" \"$@\" ;;\n\
         \x20 info|create|export) exec \"$real\" \"$@\" ;;\n\
         \x20 rm) case \"$*\" in *cloud-provider-kind*) exec \"$fake\" \"$@\" ;; *) exec \"$real\" \"$@\" ;; esac ;;\n\
         \x20 image|save) case \"$*\" in *release-gate/echo*|*\" rust:\"*) exec \"$real\" \"$@\" ;; *) exec \"$fake\" \"$@\" ;; esac ;;\n\
         \x20 *) exec \"$fake\" \"$@\" ;;\n\
         esac\n",
        real = real.display(),
        fake = fake.display(),
        build = ECHO_BUILD_SECONDS,
    );
    std::fs::write(&path, script)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// The echo image build's fixed cost, on top of the (cached) compile and the real build.
const ECHO_BUILD_SECONDS: u64 = 2;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.runs == 0 {
        return Err(crate::bad_input("--runs must be at least 1"));
    }
    if !(1..=MINORS.len()).contains(&args.cells) {
        return Err(crate::bad_input(format!(
            "--cells {}: give 1 to {} (the pinned minors {})",
            args.cells,
            MINORS.len(),
            MINORS.join(", ")
        )));
    }
    let bench = setup().context("setting up the fake cluster and the release server")?;
    // With several cells, every run (the one-cell ones beside them too) lists its minors and
    // uses one kubectl within one minor of each: the fake reports one version.
    let several = args.cells > 1;
    if several {
        bench.fakes.set_version("kubectl", SEVERAL_KUBECTL)?;
    }
    let measure = |index: usize, cells: usize| measure(&bench, index, cells, several);
    ui::info("warm-up run (builds the echo binary if it is not built yet)");
    measure(0, args.cells)?;
    let mut rows = Vec::new();
    let mut singles = Vec::new();
    for index in 1..=args.runs {
        if args.cells > 1 {
            // A one-cell run beside each several-cell run, on the same warm machine.
            let single = measure(1000 + index, 1)?;
            ui::info(&format!(
                "run {index}: one cell: wall {:.2} s",
                single.wall.as_secs_f64()
            ));
            singles.push(single.wall);
        }
        let row = measure(index, args.cells)?;
        ui::info(&format!(
            "run {index}: wall {:.2} s (graph {:.2} s), critical path {:.2} s, ratio {:.3}, sequential {:.2} s",
            row.wall.as_secs_f64(),
            row.graph.as_secs_f64(),
            row.critical.as_secs_f64(),
            row.ratio(),
            row.sequential.as_secs_f64()
        ));
        rows.push(row);
    }
    let mut ratios: Vec<f64> = rows.iter().map(Row::ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    let best = rows
        .iter()
        .min_by(|a, b| a.ratio().total_cmp(&b.ratio()))
        .expect("at least one run");
    ui::out(&format!(
        "bench pipeline: verify-release against fake tools with fixed costs, {} cell(s)",
        args.cells
    ));
    ui::out(&format!(
        "  {:<34} {:>9} {:>9} {:>9}",
        "", "best", "median", "goal"
    ));
    ui::out(&format!(
        "  {:<34} {:>9.3} {:>9.3} {:>9}",
        "wall / critical path",
        best.ratio(),
        median,
        "<= 1.10"
    ));
    let mut walls: Vec<f64> = rows.iter().map(|r| r.wall.as_secs_f64()).collect();
    walls.sort_by(f64::total_cmp);
    ui::out(&format!(
        "  {:<34} {:>8.2}s {:>8.2}s",
        "wall time (process)",
        walls[0],
        walls[walls.len() / 2]
    ));
    ui::out(&format!(
        "  {:<34} {:>8.2}s",
        "critical path (measured steps)",
        best.critical.as_secs_f64()
    ));
    ui::out(&format!(
        "  {:<34} {:>8.2}s  (a straight script: {:.1}x the wall time)",
        "sequential sum of the steps",
        best.sequential.as_secs_f64(),
        best.sequential.as_secs_f64() / best.wall.as_secs_f64()
    ));
    ui::out(&format!(
        "  goal {}: median ratio {median:.3}",
        if median <= 1.10 { "met" } else { "NOT met" }
    ));
    if args.cells > 1 {
        singles.sort();
        let single = singles[singles.len() / 2].as_secs_f64();
        let over_single = walls[walls.len() / 2] / single.max(1e-9);
        ui::out(&format!(
            "  {:<34} {:>8.2}s  ({} separate runs: {:.2}s)",
            "one-cell run (median)",
            single,
            args.cells,
            single * args.cells as f64
        ));
        ui::out(&format!(
            "  {:<34} {:>9.3} {:>9} {:>9}",
            "wall / one-cell wall (median)", over_single, "", "<= 1.30"
        ));
        ui::out(&format!(
            "  goal {}: {} cells in {over_single:.3}x one cell's time",
            if over_single <= 1.30 {
                "met"
            } else {
                "NOT met"
            },
            args.cells
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The one kubectl of a several-cell bench: within one minor of each of [`MINORS`].
const SEVERAL_KUBECTL: &str = "v1.35.8";

struct Row {
    wall: Duration,
    graph: Duration,
    critical: Duration,
    sequential: Duration,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.critical.as_secs_f64().max(1e-9)
    }
}

fn setup() -> anyhow::Result<Bench> {
    let fakes = FakeTools::new()?;
    let root = crate::workspace_root();
    let pins = pins::load(&root.join(pins::PIN_FILE)).map_err(|e| anyhow::anyhow!("{e}"))?;
    for (tool, version) in [
        ("kind", pins.kind.version.to_string()),
        ("kubectl", pins.kubectl.version.to_string()),
        ("helm", pins.helm.version.to_string()),
    ] {
        fakes.set_version(tool, &version)?;
    }
    fakes.set_version("docker", &pins.docker.minimum.to_string())?;
    for (tool, words, millis) in COSTS {
        fakes.rule(
            Rule::new(tool, words)
                .builtin()
                .delay(Duration::from_millis(millis)),
        )?;
    }
    script_ready_cluster(&fakes, &root)?;
    let server = Server::start();
    let payload = vec![7u8; 1 << 20];
    use sha2::Digest as _;
    let sums = format!(
        "{}  payload.tar.gz\n",
        download::hex(&sha2::Sha256::digest(&payload))
    );
    testkit::github::serve_release(
        &server,
        REPO,
        TAG,
        &[
            ("payload.tar.gz".to_owned(), payload.clone()),
            ("checksums.txt".to_owned(), sums.into_bytes()),
        ],
    );
    // The asset's fixed cost: it answers after ASSET_DELAY.
    server.route(
        &format!("download/{TAG}/payload.tar.gz"),
        Reply::ok(payload).delay(ASSET_DELAY),
    );
    let bundle = b"# the bench's CRD bundle\n".to_vec();
    let url = pins
        .gateway_api
        .crds_url
        .replace("{version}", "v9.9.9")
        .replace("{channel}", pins.gateway_api.channel.as_str());
    let (_, path) = url
        .split_once("://")
        .context("the pinned CRD URL has no scheme")?;
    server.route(&format!("/{path}"), Reply::ok(bundle.clone()));
    let bundle_sha = download::hex(&sha2::Sha256::digest(&bundle));
    let work = stdx::temp::TempDir::new("bench-pipeline-")?;
    std::fs::write(work.path().join("target.toml"), config(0))?;
    for cells in 1..=MINORS.len() {
        std::fs::write(
            work.path().join(format!("target-{cells}.toml")),
            config(cells),
        )?;
    }
    let real = testkit::find_program("docker", "DOCKER").context(
        "bench pipeline builds the echo image with the real docker engine: install docker",
    )?;
    let docker = docker_wrapper(work.path(), &real, &fakes.program("docker"))?;
    Ok(Bench {
        fakes,
        server,
        work,
        bundle_sha,
        docker,
    })
}

/// The cluster a working controller leaves: Gateway programmed with an address nobody listens
/// on (so the port-forward is used), routes accepted, pods Ready, the gateway Service.
fn script_ready_cluster(fakes: &FakeTools, root: &Path) -> anyhow::Result<()> {
    let fixture =
        cluster::fixture::Fixture::load(&root.join(cluster::fixture::FIXTURE_DIR), "bench")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let gateway = fixture.gateway();
    fakes.rule(
        Rule::new("kubectl", &["get", "gateways.gateway.networking.k8s.io"]).stdout(
            k8s::Gateway {
                name: &gateway.name,
                namespace: &gateway.namespace,
                class: "bench",
                listeners: &[("http", 80)],
                address: Some("127.0.0.2"),
            }
            .programmed(),
        ),
    )?;
    for route in fixture.routes.iter().chain(&fixture.accepted_only) {
        fakes.rule(
            Rule::new(
                "kubectl",
                &["get", "httproutes.gateway.networking.k8s.io", &route.name],
            )
            .stdout(k8s::route_accepted(
                &route.name,
                &route.namespace,
                "bench.example/gateway",
                (&gateway.name, &gateway.namespace),
            )),
        )?;
    }
    fakes.rule(Rule::new("kubectl", &["get", "pods"]).stdout(k8s::list(&[
        k8s::pod_ready("infra-backend-v1-a-b", &gateway.namespace),
        k8s::pod_ready("infra-backend-v1-c-d", &gateway.namespace),
    ])))?;
    fakes.rule(
        Rule::new("kubectl", &["get", "services"]).stdout(k8s::gateway_service(
            &gateway.name,
            &gateway.namespace,
            &gateway.name,
            &[("http", 80)],
        )),
    )?;
    Ok(())
}

/// Every case skipped: the bench measures the pipeline around the suite, not the suite. The
/// target lists `cells` of the minors (none: the pin file's default image).
fn config(cells: usize) -> String {
    let kubernetes = if cells > 0 {
        format!(
            "\n[kubernetes]\nminors = [{}]\n",
            MINORS[..cells]
                .iter()
                .map(|minor| format!("{minor:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        String::new()
    };
    let skip: Vec<String> = conformance::cases::names()
        .iter()
        .map(|name| format!("{name:?}"))
        .collect();
    format!(
        r#"[release]
repo = "{REPO}"

[artifacts]
patterns = ["payload.tar.gz"]
images = ["bench.example/gateway:{{version}}"]
images_from_manifests = false

[install]
gateway_class = "bench"

[[install.charts]]
name = "gateway"
chart = "oci://bench.example/charts/gateway"
version = "{{version}}"
namespace = "gateway-system"

[load_balancer]
provider = "cloud-provider-kind"

[conformance]
skip = [{}]
{kubernetes}"#,
        skip.join(", ")
    )
}

fn measure(bench: &Bench, index: usize, cells: usize, several: bool) -> anyhow::Result<Row> {
    let work = bench.work.path();
    let target = if several {
        format!("target-{cells}.toml")
    } else {
        "target.toml".to_owned()
    };
    let artifacts = work.join(format!("run-{index}"));
    let mut cmd = exec::Cmd::new(
        std::env::current_exe().context("finding this xtask binary")?,
        "run verify-release against the fakes",
    )
    .args(["verify-release", "--repo", REPO, "--tag", TAG, "--config"])
    .arg(work.join(target))
    .arg("--artifacts-dir")
    .arg(&artifacts)
    .arg("--parallel")
    .arg(cells.to_string())
    .env("KIND", bench.fakes.program("kind"))
    .env("KUBECTL", bench.fakes.program("kubectl"))
    .env("HELM", bench.fakes.program("helm"))
    .env("DOCKER", &bench.docker)
    .env("XTASK_TOOLS_DIR", work.join("tools"))
    .env("XTASK_VERIFY_DIR", work.join("verify"))
    .env("XTASK_ARTIFACT_CACHE", work.join(format!("cache-{index}")))
    .env("XTASK_TOOLS_MIRROR", bench.server.base_url())
    .env("GITHUB_API_URL", bench.server.base_url())
    .env("GATEWAY_API_VERSION", "v9.9.9")
    .env("GATEWAY_API_SHA256", &bench.bundle_sha)
    .env_remove("GITHUB_ACTIONS")
    .env_remove("GITHUB_TOKEN")
    .timeout(Duration::from_secs(300));
    for name in pins::OVERRIDE_VARIABLES {
        if !name.starts_with("GATEWAY_API") {
            cmd = cmd.env_remove(name);
        }
    }
    if several {
        cmd = cmd.env("KUBECTL_VERSION", SEVERAL_KUBECTL);
    }
    let started = Instant::now();
    // The fakes are named by path; the real docker and the toolchains the echo build uses keep
    // the user's HOME (a fake HOME would hide rustup's toolchains from the host build).
    let output = bench
        .fakes
        .shell_for_real_tools()
        .run_unchecked(&cmd)
        .context("running verify-release")?;
    let wall = started.elapsed();
    if !output.status.success() {
        bail!(
            "verify-release failed against the fakes ({}):\n{}",
            output.status,
            output.stderr_str()
        );
    }
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(artifacts.join("run.json")).context("reading run.json")?,
    )
    .context("parsing run.json")?;
    let steps = run["steps"].as_array().context("run.json has no steps")?;
    Ok(bounds(steps, wall))
}

/// The graph's bounds over the measured steps: its critical path (the pipeline's own lower
/// bound) and the sequential sum a straight script would take.
fn bounds(steps: &[serde_json::Value], wall: Duration) -> Row {
    let millis = |step: &serde_json::Value, key: &str| step[key].as_u64();
    let duration = |step: &serde_json::Value| {
        Duration::from_millis(
            match (millis(step, "started_ms"), millis(step, "finished_ms")) {
                (Some(start), Some(end)) => end.saturating_sub(start),
                _ => 0,
            },
        )
    };
    let spans: Vec<Span<'_>> = steps
        .iter()
        .map(|step| Span {
            name: step["name"].as_str().unwrap_or_default(),
            needs: step["needs"]
                .as_array()
                .map(|needs| needs.iter().filter_map(serde_json::Value::as_str).collect())
                .unwrap_or_default(),
            when: step["when"]
                .as_str()
                .and_then(When::parse)
                .unwrap_or(When::Normal),
            duration: duration(step),
        })
        .collect();
    let graph = steps
        .iter()
        .filter_map(|step| millis(step, "finished_ms"))
        .max()
        .unwrap_or(0);
    Row {
        wall,
        graph: Duration::from_millis(graph),
        critical: critical_path(&spans),
        sequential: spans.iter().map(|span| span.duration).sum(),
    }
}

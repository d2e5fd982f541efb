//! kind-up / kind-down: the pinned developer cluster. kind-up creates (or reuses, by exact name)
//! a cluster from the digest-pinned node image, installs the pinned Gateway API CRDs and, with
//! `--release`, the release's images and charts and the conformance fixture; a second run changes
//! nothing and says so. kind-down exports logs, then deletes. `--dry-run` prints the exact plan.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cluster::dev::{self, ReleaseInstall, RunDir, Tools, UpSpec};
use cluster::fixture::{Deadlines, Fixture};
use cluster::kind::Kind;
use cluster::kubectl::{Kubectl, Target};
use cluster::{ClusterError, Event, helm};
use exec::{Shell, quote_for_display};
use pins::ToolName;

use crate::ui;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Cluster name (matched exactly: `release-gate-2` is not `release-gate`)
    #[arg(long, default_value = "release-gate")]
    pub name: String,
    /// Delete the cluster first (after exporting its logs) and create it anew
    #[arg(long)]
    pub recreate: bool,
    /// Install this release (a tag like v2.1.0) and the conformance fixture
    #[arg(long, value_name = "TAG")]
    pub release: Option<String>,
    /// Target config (default: hack/targets/kgateway.toml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the kubeconfig, kind config, fixture, logs and command log go
    /// (default: target/kind/NAME)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the exact commands without running any of them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::Args)]
pub struct DownArgs {
    /// Cluster name (matched exactly)
    #[arg(long, default_value = "release-gate")]
    pub name: String,
    /// The directory kind-up used (default: target/kind/NAME); logs are exported into it
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the exact commands without running any of them
    #[arg(long)]
    pub dry_run: bool,
}

fn run_dir(dir: Option<PathBuf>, name: &str) -> RunDir {
    RunDir(dir.unwrap_or_else(|| crate::workspace_root().join("target/kind").join(name)))
}

/// A library error as xtask reports it: bad input exits 2, everything else 1.
fn report(error: ClusterError) -> anyhow::Error {
    if error.is_bad_input() {
        crate::bad_input(error.to_string())
    } else {
        anyhow::Error::new(error)
    }
}

/// The program for `tool`. A real run installs the pinned version when it is missing; a dry run
/// never downloads: it names the binary the real run would use.
fn program(context: &tools::Context, tool: ToolName, dry_run: bool) -> anyhow::Result<PathBuf> {
    let probe = Shell::new();
    if !dry_run {
        return crate::tools::ensure(&probe, context, tool);
    }
    let resolution = tools::resolve(&probe, context, tool);
    for notice in &resolution.notices {
        ui::warn(notice);
    }
    match resolution.program() {
        Ok(path) => Ok(path.to_owned()),
        Err(error) => {
            ui::warn(&format!("{error}; the real run installs it first"));
            let wanted = context
                .wanted(tool)
                .cloned()
                .with_context(|| format!("no pinned version of {tool}"))?;
            Ok(context.cached_path(tool, &wanted))
        }
    }
}

/// The pinned Gateway API CRD bundle, downloaded and checked against the pinned sha256 into the
/// run directory (kept there: a second run with the file in place downloads nothing), so kubectl
/// applies exactly the bytes the pin names. `XTASK_TOOLS_MIRROR` serves it like the tools.
fn crds_bundle(
    context: &tools::Context,
    run_dir: &RunDir,
    dry_run: bool,
) -> anyhow::Result<PathBuf> {
    let pin = &context.pins.gateway_api;
    let dest = run_dir.0.join(format!(
        "gateway-api-{}-{}-install.yaml",
        pin.version.with_v(),
        pin.channel.as_str()
    ));
    let url = pin.crds_url();
    let url = match (&context.mirror, url.split_once("://")) {
        (Some(mirror), Some((_, host_and_path))) => format!("{mirror}/{host_and_path}"),
        _ => url,
    };
    if dry_run {
        ui::out(&format!(
            "# download {url} to {} and check its sha256 is {}",
            dest.display(),
            pin.sha256
        ));
        return Ok(dest);
    }
    if let Ok(bytes) = std::fs::read(&dest) {
        use sha2::Digest as _;
        if download::hex(&sha2::Sha256::digest(&bytes)) == pin.sha256.as_hex() {
            return Ok(dest);
        }
    }
    ui::info(&format!(
        "-> download the Gateway API CRDs {} from {url}",
        pin.version.with_v()
    ));
    let client = download::Client::new(download::Options::default());
    client
        .fetch(
            &download::Request::new(url.clone()).sha256(pin.sha256.as_hex()),
            &dest,
            &mut |_| {},
        )
        .with_context(|| {
            format!(
                "downloading the Gateway API CRDs from {url} (pinned sha256 {} in {})",
                pin.sha256,
                pins::PIN_FILE
            )
        })?;
    Ok(dest)
}

/// Shows a library event; in a dry run steps are only intentions.
fn event(dry_run: bool) -> impl FnMut(Event) {
    move |event| show_event(event, dry_run)
}

fn show_event(event: Event, dry_run: bool) {
    match event {
        Event::Step(step) if dry_run => ui::info(&format!("-> would {step}")),
        Event::Step(step) => ui::info(&format!("-> {step}")),
        Event::Unchanged(what) => ui::info(&format!("unchanged: {what}")),
        Event::Warning(warning) => ui::warn(&warning),
    }
}

fn shell(run_dir: &RunDir, dry_run: bool) -> anyhow::Result<Shell> {
    let sh = Shell::new().with_dry_run(dry_run);
    if dry_run {
        return Ok(sh);
    }
    std::fs::create_dir_all(&run_dir.0)
        .with_context(|| format!("creating the run directory {}", run_dir.0.display()))?;
    sh.with_log(&run_dir.command_log())
        .with_context(|| format!("opening {}", run_dir.command_log().display()))
}

fn print_plan(sh: &Shell) {
    ui::out("# plan: nothing below has run");
    for cmd in sh.planned() {
        ui::out(&format!("# {}", cmd.purpose()));
        ui::out(&cmd.to_string());
    }
}

pub fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    // Every input is checked before any tool runs: bad input never leaves a cluster behind.
    cluster::kind::validate_cluster_name(&args.name).map_err(crate::bad_input)?;
    if let Some(tag) = &args.release {
        config::install::validate_release_tag(tag).map_err(crate::bad_input)?;
    }
    let root = crate::workspace_root();
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| root.join(config::DEFAULT_TARGET));
    let target = config::load(&config_path).map_err(|error| crate::bad_input(error.to_string()))?;
    let install = &target.install;
    let fixture = match &args.release {
        Some(_) => Some(
            Fixture::load(
                &root.join(cluster::fixture::FIXTURE_DIR),
                &install.gateway_class,
            )
            .map_err(report)?,
        ),
        None => None,
    };
    let context = crate::tools::context()?;
    let pins = context.pins.clone();
    let run_dir = run_dir(args.dir.clone(), &args.name);
    let tools = Tools {
        kind: program(&context, ToolName::Kind, args.dry_run)?,
        kubectl: program(&context, ToolName::Kubectl, args.dry_run)?,
        helm: if args.release.is_some() {
            program(&context, ToolName::Helm, args.dry_run)?
        } else {
            PathBuf::from("helm")
        },
        docker: if args.release.is_some() {
            program(&context, ToolName::Docker, args.dry_run)?
        } else {
            PathBuf::from("docker")
        },
    };
    let timeouts = install.timeouts;
    let release = args.release.as_ref().map(|tag| ReleaseInstall {
        tag: tag.clone(),
        charts: install
            .charts
            .iter()
            .map(|chart| helm::Release {
                name: chart.name.clone(),
                chart: chart.chart.clone(),
                version: chart.version_for(tag),
                namespace: chart.namespace.clone(),
                set: chart
                    .set
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            })
            .collect(),
        images: install.images_for(tag),
        helm_timeout: timeouts.helm(),
    });
    let spec = UpSpec {
        name: args.name.clone(),
        run_dir: run_dir.clone(),
        node_image: pins.node_image.reference.clone(),
        node_port_mapping: install
            .node_port
            .map(|mapping| (mapping.node_port, mapping.host_port)),
        create_wait: timeouts.cluster_create(),
        crds_source: crds_bundle(&context, &run_dir, args.dry_run)?
            .to_string_lossy()
            .into_owned(),
        crds_version: pins.gateway_api.version.to_string(),
        crds_timeout: timeouts.crds(),
        recreate: args.recreate,
        release,
        fixture_images: if fixture.is_some() {
            vec![pins.images.echo.clone()]
        } else {
            Vec::new()
        },
        fixture,
        deadlines: Deadlines {
            gateway: timeouts.gateway(),
            routes: timeouts.routes(),
            pods: timeouts.pods(),
            poll: std::time::Duration::from_secs(1),
        },
    };

    let sh = shell(&run_dir, args.dry_run)?;
    let outcome = dev::up(&sh, &tools, &spec, &mut event(args.dry_run));
    if args.dry_run {
        print_plan(&sh);
        ui::out("# the kind config written before `kind create cluster`:");
        for line in cluster::kind_config::KindConfig::new(&spec.name, spec.node_port_mapping)
            .to_yaml()
            .lines()
        {
            ui::out(&format!("#   {line}"));
        }
        outcome.map_err(report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let up_report = match outcome {
        Ok(up_report) => up_report,
        Err(error) => {
            if !error.is_bad_input() {
                // A failed create was already deleted; a later failure leaves the cluster up on
                // purpose, for a developer to look at.
                ui::info(&format!(
                    "note: if kind created cluster {name}, it is kept for debugging (kubeconfig: {}); `cargo xtask kind-down --name {name}` exports its logs and deletes it",
                    run_dir.kubeconfig().display(),
                    name = spec.name
                ));
            }
            return Err(report(error));
        }
    };
    if up_report.unchanged() {
        ui::out(&format!(
            "cluster {} is up to date: nothing changed",
            spec.name
        ));
    } else {
        ui::out(&format!("cluster {} is ready", spec.name));
    }
    print_usage(
        &sh,
        &spec,
        install.gateway_port,
        &tools.kubectl,
        &up_report.kubeconfig,
    );
    Ok(ExitCode::SUCCESS)
}

/// The kubeconfig, the exact command that gives a gateway URL, and how to tear down.
fn print_usage(sh: &Shell, spec: &UpSpec, gateway_port: u16, kubectl: &Path, kubeconfig: &Path) {
    ui::out(&format!(
        "kubeconfig: {}",
        quote_for_display(&kubeconfig.to_string_lossy())
    ));
    match &spec.fixture {
        Some(fixture) => {
            let gateway = fixture.gateway();
            let driver = Kubectl::new(kubectl, kubeconfig);
            // The Service name is the implementation's choice: look it up by the Gateway API label.
            match cluster::port_forward::find_gateway_service(
                sh,
                &driver,
                &gateway.namespace,
                &gateway.name,
                gateway_port,
            ) {
                Ok((service, port)) => {
                    let object = format!("service/{service}");
                    let forward = driver.port_forward(
                        &Target {
                            object: &object,
                            namespace: &gateway.namespace,
                        },
                        port,
                    );
                    ui::out(&format!(
                        "gateway URL: run `{forward}`, then use http://127.0.0.1:PORT from its `Forwarding from 127.0.0.1:PORT` line"
                    ));
                }
                Err(error) => ui::warn(&format!(
                    "could not find the gateway Service of {gateway} by its {} label: {error}",
                    cluster::port_forward::GATEWAY_NAME_LABEL
                )),
            }
        }
        None => ui::out(
            "gateway URL: no release installed; rerun with --release TAG to install one and the conformance fixture",
        ),
    }
    ui::out(&format!(
        "tear down: cargo xtask kind-down --name {}",
        spec.name
    ));
}

pub fn down(args: DownArgs) -> anyhow::Result<ExitCode> {
    cluster::kind::validate_cluster_name(&args.name).map_err(crate::bad_input)?;
    let context = crate::tools::context()?;
    let kind = Kind::new(program(&context, ToolName::Kind, args.dry_run)?);
    let run_dir = run_dir(args.dir.clone(), &args.name);
    let sh = shell(&run_dir, args.dry_run)?;
    let outcome = dev::teardown(
        &sh,
        &kind,
        &args.name,
        &run_dir.kubeconfig(),
        &run_dir.logs(),
        &mut event(args.dry_run),
    );
    if args.dry_run {
        print_plan(&sh);
        outcome.map_err(report)?;
        return Ok(ExitCode::SUCCESS);
    }
    if outcome.map_err(report)? {
        ui::out(&format!(
            "deleted cluster {}; its logs are in {}",
            args.name,
            run_dir.logs().display()
        ));
    } else {
        ui::out(&format!(
            "no kind cluster is named exactly {}: nothing to delete",
            args.name
        ));
    }
    Ok(ExitCode::SUCCESS)
}

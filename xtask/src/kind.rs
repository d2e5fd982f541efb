//! kind-up / kind-down: the pinned developer cluster. kind-up creates (or reuses, by exact name)
//! a cluster from the digest-pinned node image, installs the pinned Gateway API CRDs and, with
//! `--release`, the release's images and charts and the conformance fixture; a second run changes
//! nothing and says so. kind-down exports logs, then deletes. `--dry-run` prints the exact plan.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cluster::dev::{self, ReleaseInstall, Tools, UpSpec};
use cluster::fixture::{Deadlines, Fixture};
use cluster::images::RecordedImage;
use cluster::kind::Kind;
use cluster::kubectl::{Kubectl, Target};
use cluster::stages::{self, RunDir};
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
    /// With --release: the folder holding the release's artifacts.json (from `cargo xtask
    /// artifacts fetch` or a verify-release run); without it the release is fetched into
    /// the run directory first. Exactly the images it records are loaded, by image ID
    #[arg(long, value_name = "DIR", requires = "release")]
    pub artifacts: Option<PathBuf>,
    /// Target config (default: hack/targets/kgateway.toml)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the kubeconfig, kind config, fixture, logs and command log go
    /// (default: target/kind/NAME)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The Kubernetes minor of the cluster, e.g. 1.35: its node image and a kubectl within
    /// one minor of it, both from the pin file (default: the pin file's default image)
    #[arg(long, value_name = "MINOR")]
    pub kubernetes: Option<String>,
    /// Print the exact commands without running any of them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::Args)]
pub struct DownArgs {
    /// Cluster name (matched exactly)
    #[arg(long, default_value = "release-gate")]
    pub name: String,
    /// Instead: delete the clusters verify-release runs created and could not delete because
    /// they were killed (their owner record names a process that is gone); never any other
    #[arg(long, conflicts_with_all = ["name", "dir"])]
    pub stale: bool,
    /// The directory kind-up used (default: target/kind/NAME); logs are exported into it
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the exact commands without running any of them
    #[arg(long)]
    pub dry_run: bool,
}

fn run_dir(settings: &settings::Settings, dir: Option<&Path>, name: &str) -> RunDir {
    RunDir(settings.dev_cluster_dir(name, dir))
}

/// A library error as xtask reports it: bad input exits 2, everything else 1.
fn report(error: ClusterError) -> anyhow::Error {
    crate::lib_error(error)
}

/// The program for `tool`. A real run installs the pinned version when it is missing; a dry run
/// never downloads: it names the binary the real run would use.
fn program(
    sh: &Shell,
    settings: &settings::Settings,
    tool: ToolName,
    dry_run: bool,
) -> anyhow::Result<PathBuf> {
    let context = &settings.tools;
    if !dry_run {
        return crate::tools::ensure(sh, settings, tool);
    }
    let resolution = tools::resolve(&Shell::new(), context, tool);
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

/// A kind for deleting: whatever kind there is, any version (deleting needs no pinned
/// behaviour, and a teardown must never wait on a download). None when there is no kind at all.
fn any_kind(context: &tools::Context) -> Option<PathBuf> {
    let resolution = tools::resolve(&Shell::new(), context, ToolName::Kind);
    if let Ok(path) = resolution.program() {
        return Some(path.to_owned());
    }
    let other = resolution.path.clone().or_else(|| {
        // Any cached version, newest name last.
        let mut cached: Vec<PathBuf> = std::fs::read_dir(context.cache_root.join("kind"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("kind"))
            .filter(|path| path.is_file())
            .collect();
        cached.sort();
        cached.pop()
    })?;
    ui::warn(&format!(
        "using {} to delete (not the pinned kind {}): deleting does not depend on the version",
        other.display(),
        context
            .wanted(ToolName::Kind)
            .map(ToString::to_string)
            .unwrap_or_default()
    ));
    Some(other)
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
        Event::InotifyLow {
            clusters,
            shortfalls,
        } => ui::warn(&crate::render::inotify_low(clusters, &shortfalls)),
    }
}

fn shell(run_dir: &RunDir, dry_run: bool, token: &cancel::Token) -> anyhow::Result<Shell> {
    let sh = Shell::new()
        .with_dry_run(dry_run)
        .with_cancel(token.clone());
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

pub fn up(
    args: UpArgs,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    // Every input is checked before any tool runs: bad input never leaves a cluster behind.
    cluster::kind::validate_cluster_name(&args.name).map_err(crate::bad_input)?;
    let narrowed;
    let settings = match &args.kubernetes {
        Some(minor) => {
            narrowed = settings.for_kubernetes(minor).map_err(anyhow::Error::new)?;
            &narrowed
        }
        None => settings,
    };
    if let Some(tag) = &args.release {
        config::install::validate_release_tag(tag).map_err(crate::bad_input)?;
    }
    let root = &settings.root;
    let target = &settings.target;
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
    let pins = settings.pins.clone();
    let needed: &[ToolName] = if args.release.is_some() {
        &[ToolName::Kind, ToolName::Kubectl, ToolName::Helm]
    } else {
        &[ToolName::Kind, ToolName::Kubectl]
    };
    for &tool in needed {
        tools::check_obtainable(&Shell::new(), &settings.tools, tool).map_err(crate::bad_input)?;
    }
    let run_dir = run_dir(settings, args.dir.as_deref(), &args.name);
    let sh = shell(&run_dir, args.dry_run, token)?;
    if args.dry_run {
        ui::out(&format!(
            "# cluster folder {}; verified downloads cached in {}",
            run_dir.0.display(),
            settings.artifact_cache.display()
        ));
    }
    let tools = Tools {
        kind: program(&sh, settings, ToolName::Kind, args.dry_run)?,
        kubectl: program(&sh, settings, ToolName::Kubectl, args.dry_run)?,
        helm: if args.release.is_some() {
            program(&sh, settings, ToolName::Helm, args.dry_run)?
        } else {
            PathBuf::from("helm")
        },
        docker: if args.release.is_some() {
            docker_program(&sh, settings, args.dry_run)?
        } else {
            PathBuf::from("docker")
        },
    };
    let timeouts = install.timeouts;
    // The local echo image first: it needs no network, and without it nothing else is worth it.
    let fixture_images = match &fixture {
        Some(_) => vec![local_image(&sh, &tools.docker, &pins.images.echo)?],
        None => Vec::new(),
    };
    let release = match &args.release {
        Some(tag) => Some(ReleaseInstall {
            tag: tag.clone(),
            charts: install
                .charts
                .iter()
                .map(|chart| helm::Release::for_chart(chart, tag))
                .collect(),
            images: release_images(&args, settings, &run_dir, &sh, token)?,
            helm_timeout: timeouts.helm(),
            save_platform: None,
        }),
        None => None,
    };
    let crds_source = if args.dry_run {
        ui::out(&format!(
            "# download {} to {} and check its sha256 is {}",
            cluster::crds::bundle_url(&pins, settings.tools.mirror.as_deref()),
            cluster::crds::bundle_path(&pins, &run_dir.0).display(),
            pins.gateway_api.sha256
        ));
        cluster::crds::bundle_path(&pins, &run_dir.0)
    } else {
        ui::info(&format!(
            "-> download the Gateway API CRDs {}",
            pins.gateway_api.version.with_v()
        ));
        cluster::crds::fetch_bundle(
            &pins,
            settings.tools.mirror.as_deref(),
            &run_dir.0,
            settings.download_options(token),
        )
        .map_err(anyhow::Error::msg)?
        .0
    };
    let spec = UpSpec {
        name: args.name.clone(),
        run_dir: run_dir.clone(),
        node_image: pins.node_image.reference.clone(),
        node_port_mapping: install
            .node_port
            .map(|mapping| (mapping.node_port, mapping.host_port)),
        create_wait: timeouts.cluster_create(),
        crds_source: crds_source.to_string_lossy().into_owned(),
        crds_version: pins.gateway_api.version.to_string(),
        crds_timeout: timeouts.crds(),
        recreate: args.recreate,
        release,
        fixture_images,
        fixture,
        deadlines: Deadlines {
            gateway: timeouts.gateway(),
            routes: timeouts.routes(),
            pods: timeouts.pods(),
            poll: std::time::Duration::from_secs(1),
        },
    };

    let mut show = event(args.dry_run);
    if let Some(warning) = cluster::host::check(
        &sh,
        &cluster::kind::Kind::new(&tools.kind),
        &settings.host.proc_sys,
        std::slice::from_ref(&spec.name),
    ) {
        show(warning);
    }
    let outcome = dev::up(&sh, &tools, &spec, &mut show);
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

pub fn down(
    args: DownArgs,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    cluster::kind::validate_cluster_name(&args.name).map_err(crate::bad_input)?;
    let context = &settings.tools;
    let Some(kind) = any_kind(context).map(Kind::new) else {
        return down_without_kind(&args, settings, token);
    };
    if args.stale {
        return down_stale(&kind, settings, args.dry_run, token);
    }
    let run_dir = run_dir(settings, args.dir.as_deref(), &args.name);
    let sh = shell(&run_dir, args.dry_run, token)?;
    let outcome = stages::teardown(
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

/// No kind binary anywhere: the engine's node containers say whether there is anything to
/// delete. None: nothing to do (exit 0). Some: kind is needed to delete them (exit 1, with the
/// install command). An engine that cannot be asked: exit 1, because its stopped clusters come
/// back with it.
fn down_without_kind(
    args: &DownArgs,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    let install = "install kind with `cargo xtask tools install kind`, then run this again";
    let docker = settings.docker.as_ref().map(docker::Docker::new);
    let wanted = if args.stale {
        dev::Wanted::Stale
    } else {
        dev::Wanted::Named(&args.name)
    };
    let sh = Shell::new().with_cancel(token.clone());
    match dev::without_kind(&sh, docker.as_ref(), wanted) {
        dev::WithoutKind::NoEngineCli => {
            ui::out(
                "no kind binary and no docker CLI: nothing on this machine can have created a kind cluster; nothing to delete",
            );
            Ok(ExitCode::SUCCESS)
        }
        dev::WithoutKind::Nothing => {
            ui::out(&match wanted {
                dev::Wanted::Stale => "no kind binary, and the engine has no verify-release cluster's nodes: nothing to delete".to_owned(),
                dev::Wanted::Named(name) => format!(
                    "no kind binary, and the engine has no node of a kind cluster named {name}: nothing to delete"
                ),
            });
            Ok(ExitCode::SUCCESS)
        }
        dev::WithoutKind::Nodes(names) => {
            ui::error(&format!(
                "the engine has the nodes of kind cluster(s) {} but there is no kind binary to delete them: {install}",
                names.join(", ")
            ));
            Ok(ExitCode::from(1))
        }
        dev::WithoutKind::Unreachable(error) => {
            ui::error(&format!(
                "no kind binary, and the docker engine cannot list kind's node containers ({:#}): the clusters cannot be listed; start the engine (stopped clusters come back with it) or {install}",
                anyhow::Error::new(error)
            ));
            Ok(ExitCode::from(1))
        }
    }
}

/// `kind-down --stale`: the clusters of verify-release runs that were killed.
fn down_stale(
    kind: &Kind,
    settings: &settings::Settings,
    dry_run: bool,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    let owners = settings.owners_dir();
    let sh = Shell::new()
        .with_dry_run(dry_run)
        .with_cancel(token.clone());
    let deleted = cluster::owner::sweep(&sh, kind, &owners, &mut event(dry_run)).map_err(report)?;
    if dry_run {
        print_plan(&sh);
    } else if deleted.is_empty() {
        ui::out("no stale verify-release cluster: nothing to delete");
    } else {
        ui::out(&format!("deleted stale clusters: {}", deleted.join(", ")));
    }
    Ok(ExitCode::SUCCESS)
}

/// docker for a release install. A dry run needs no engine: it names `docker` from PATH.
fn docker_program(
    sh: &Shell,
    settings: &settings::Settings,
    dry_run: bool,
) -> anyhow::Result<PathBuf> {
    if !dry_run {
        return crate::tools::ensure(sh, settings, ToolName::Docker);
    }
    let resolution = tools::resolve(&Shell::new(), &settings.tools, ToolName::Docker);
    Ok(resolution
        .program()
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| PathBuf::from("docker")))
}

/// The images the release's artifacts.json records: read from `--artifacts` (its files checked
/// against their recorded sha256), or fetched into the run directory now.
fn release_images(
    args: &UpArgs,
    settings: &settings::Settings,
    run_dir: &RunDir,
    sh: &Shell,
    token: &cancel::Token,
) -> anyhow::Result<Vec<RecordedImage>> {
    let target = &settings.target;
    let Some(tag) = &args.release else {
        return Ok(Vec::new());
    };
    let record = match &args.artifacts {
        Some(dir) => {
            let record =
                artifact::record::read(dir).map_err(|error| crate::bad_input(error.to_string()))?;
            if record.tag != *tag {
                return Err(crate::bad_input(format!(
                    "--artifacts {} records release {}, not {tag}; pass the folder of release {tag}",
                    dir.display(),
                    record.tag
                )));
            }
            artifact::record::verify_files(dir, &record)
                .with_context(|| format!("checking the files recorded in {}", dir.display()))?;
            record
        }
        None if args.dry_run => {
            ui::out(&format!(
                "# fetch {} {tag} into {} (assets verified, images pulled and recorded in artifacts.json)",
                target.release.repo,
                run_dir.0.join("release").display()
            ));
            return Ok(Vec::new());
        }
        None => {
            let dest = run_dir.0.join("release");
            let plan =
                artifact::Plan::from_config(&target.release.repo, tag, &dest, &target.artifacts);
            let env = settings.artifact_env(token);
            ui::info(&format!(
                "-> fetch {} {tag} into {}",
                target.release.repo,
                dest.display()
            ));
            artifact::fetch(&plan, &env, sh, &|_| {})
                .with_context(|| format!("fetching {} {tag}", target.release.repo))?
                .record
        }
    };
    Ok(record
        .images
        .into_iter()
        .map(|image| RecordedImage {
            reference: image.reference,
            id: image.id,
        })
        .collect())
}

/// A locally built image (the echo backend) as the engine holds it now.
fn local_image(sh: &Shell, docker: &Path, reference: &str) -> anyhow::Result<RecordedImage> {
    if sh.is_dry_run() {
        return Ok(RecordedImage {
            reference: reference.to_owned(),
            id: "<its local image ID>".to_owned(),
        });
    }
    match cluster::images::inspect(sh, &docker::Docker::new(docker), reference).map_err(report)? {
        Some(found) => Ok(RecordedImage {
            reference: reference.to_owned(),
            id: found.id,
        }),
        None => Err(anyhow::anyhow!(
            "the local docker engine has no {reference}: build it with `cargo xtask echo-image --tag {reference}`"
        )),
    }
}

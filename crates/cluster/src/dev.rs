//! kind-up's cluster: create (or reuse by exact name) with the pinned node image, install the
//! pinned Gateway API CRDs, optionally the release and the fixture, each part skipped when it is
//! in place already, so a second run changes nothing. Built from the same [`crate::stages`]
//! verify-release composes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use exec::{Cmd, Shell};

use crate::fixture::{self, Deadlines, Fixture};
use crate::helm::{self, Helm};
use crate::images::RecordedImage;
use crate::kind::Kind;
use crate::kubectl::{Get, Kubectl};
use crate::run_cluster::{Lifetime, RunCluster, RunClusterSpec};
use crate::stages::{CrdBundle, RunDir, deploy_fixture, install_charts, install_crds};
use crate::status::{self, Gateway};
use crate::{ClusterError, Event};

/// The resolved programs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub kind: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    pub docker: PathBuf,
}

/// The release part of an `up`: charts with resolved versions, and the images the artifact
/// step recorded (loaded by image ID, never pulled by tag).
#[derive(Debug, Clone)]
pub struct ReleaseInstall {
    pub tag: String,
    pub charts: Vec<helm::Release>,
    pub images: Vec<RecordedImage>,
    pub helm_timeout: Duration,
    /// `docker save --platform` value, when the engine supports it.
    pub save_platform: Option<String>,
}

/// Everything `up` needs, resolved from pins and config by the caller.
#[derive(Debug, Clone)]
pub struct UpSpec {
    pub name: String,
    pub run_dir: RunDir,
    pub node_image: String,
    /// `(node_port, host_port)` to publish the gateway's NodePort on loopback.
    pub node_port_mapping: Option<(u16, u16)>,
    pub create_wait: Duration,
    /// The CRD bundle to apply (URL or local file) and the version it carries.
    pub crds_source: String,
    pub crds_version: String,
    pub crds_timeout: Duration,
    pub recreate: bool,
    pub release: Option<ReleaseInstall>,
    /// Applied (and waited on) only with a release: without a controller nothing programs it.
    pub fixture: Option<Fixture>,
    /// Locally built images the fixture runs (the echo backend), loaded into kind before it is
    /// applied. Never pulled: they exist only where this run (or `cargo xtask echo-image`)
    /// built them.
    pub fixture_images: Vec<RecordedImage>,
    pub deadlines: Deadlines,
}

/// What `up` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpReport {
    pub created: bool,
    pub deleted_first: bool,
    pub crds_applied: bool,
    pub charts_installed: Vec<String>,
    pub images_loaded: Vec<String>,
    pub fixture_applied: bool,
    pub kubeconfig: PathBuf,
}

impl UpReport {
    /// Whether this run changed nothing (the idempotent second run).
    pub fn unchanged(&self) -> bool {
        !self.created
            && !self.deleted_first
            && !self.crds_applied
            && self.charts_installed.is_empty()
            && self.images_loaded.is_empty()
            && !self.fixture_applied
    }
}

/// The idempotent bring-up. Each step first checks whether its result is already there.
pub fn up(
    sh: &Shell,
    tools: &Tools,
    spec: &UpSpec,
    events: &mut dyn FnMut(Event),
) -> Result<UpReport, ClusterError> {
    let kind = Kind::new(&tools.kind);
    let kubeconfig = spec.run_dir.kubeconfig();
    let kubectl = Kubectl::new(&tools.kubectl, &kubeconfig);
    let mut report = UpReport {
        kubeconfig: kubeconfig.clone(),
        ..UpReport::default()
    };
    // The developer cluster's owner: reused by exact name, recreated, or created. It stays up
    // when this returns (kind-down deletes it).
    let owner = RunCluster::new(
        RunClusterSpec {
            name: spec.name.clone(),
            run_dir: spec.run_dir.clone(),
            node_image: spec.node_image.clone(),
            node_port_mapping: spec.node_port_mapping,
            create_wait: spec.create_wait,
            lifetime: Lifetime::Developer {
                recreate: spec.recreate,
            },
        },
        kind.clone(),
        sh,
        "kind-up",
    );
    let up = owner.up(sh, events)?;
    report.created = up.created;
    report.deleted_first = up.recreated;
    if up.reused {
        check_node_version(sh, &kubectl, spec, events)?;
    }

    // Gateway API CRDs: skip when the installed bundle is the pinned one.
    report.crds_applied = install_crds(
        sh,
        &kubectl,
        &CrdBundle {
            source: spec.crds_source.clone(),
            version: spec.crds_version.clone(),
            timeout: spec.crds_timeout,
        },
        !report.created,
        events,
    )?;

    if let Some(release) = &spec.release {
        install_release(
            sh,
            tools,
            &kind,
            &spec.name,
            &kubeconfig,
            release,
            &mut report,
            events,
        )?;
        if let Some(fixture) = &spec.fixture {
            if fixture_current(sh, &kubectl, &spec.run_dir, fixture)? {
                events(Event::Unchanged(format!(
                    "fixture already applied and {} is programmed",
                    fixture.gateway()
                )));
                return Ok(report);
            }
            load_fixture_images(
                sh,
                tools,
                &kind,
                &spec.name,
                &spec.fixture_images,
                &spec.run_dir.image_archives(),
                events,
            )?;
            report.fixture_applied = true;
            let deployed = deploy_fixture(
                sh,
                &kubectl,
                &spec.run_dir,
                fixture,
                &spec.deadlines,
                events,
            );
            if deployed.is_err() {
                let dir = spec.run_dir.diagnostics();
                let written = crate::diagnostics::collect(
                    sh,
                    &kubectl,
                    None,
                    &crate::diagnostics::Scope {
                        fixture: Some(fixture),
                        ..crate::diagnostics::Scope::default()
                    },
                    &dir,
                );
                events(Event::Warning(format!(
                    "the fixture did not become ready; {} diagnostics written to {}",
                    written.len(),
                    dir.display()
                )));
            }
            deployed?;
        }
    }
    Ok(report)
}

/// The Kubernetes version a node image runs: its tag (`kindest/node:v1.37.0@sha256:…`).
pub fn node_image_kubernetes(node_image: &str) -> Option<&str> {
    let name = node_image.split('@').next()?;
    let (_, tag) = name.rsplit_once(':')?;
    (!tag.contains('/')).then_some(tag)
}

/// A reused cluster must run the pinned node image's Kubernetes; otherwise reuse would test the
/// release on a cluster nobody pinned.
fn check_node_version(
    sh: &Shell,
    kubectl: &Kubectl,
    spec: &UpSpec,
    events: &mut dyn FnMut(Event),
) -> Result<(), ClusterError> {
    let step = format!("read the nodes of {}", spec.name);
    let output = sh
        .run(&kubectl.get_json(&Get {
            resource: "nodes",
            ..Get::default()
        }))
        .map_err(ClusterError::infra(step.clone()))?;
    if sh.is_dry_run() {
        return Ok(());
    }
    let nodes: status::List<status::Node> =
        status::parse("nodes", &output.stdout_str()).map_err(|message| {
            ClusterError::Unexpected {
                step: step.clone(),
                message,
            }
        })?;
    let Some(wanted) = node_image_kubernetes(&spec.node_image) else {
        return Ok(());
    };
    if nodes.items.is_empty() {
        events(Event::Warning(format!(
            "cluster {} reports no nodes; if later steps fail, run with --recreate",
            spec.name
        )));
    }
    for node in &nodes.items {
        let running = &node.status.node_info.kubelet_version;
        if running != wanted {
            return Err(ClusterError::Unexpected {
                step,
                message: format!(
                    "node {} of cluster {} runs Kubernetes {running}, but the pinned node image is {}: recreate it with `cargo xtask kind-up --name {} --recreate`",
                    node.metadata.name, spec.name, spec.node_image, spec.name
                ),
            });
        }
    }
    Ok(())
}

/// One entry of `helm list --output json`.
#[derive(Debug, Clone, serde::Deserialize)]
struct HelmListEntry {
    name: String,
    chart: String,
    #[serde(default)]
    status: String,
}

fn helm_list(tools: &Tools, kubeconfig: &Path, release: &helm::Release) -> Cmd {
    Cmd::new(
        &tools.helm,
        format!("check whether {} is installed", release.name),
    )
    .args(["list", "--namespace", &release.namespace])
    .arg("--filter")
    .arg(format!("^{}$", release.name))
    .args(["--output", "json", "--kubeconfig"])
    .arg(kubeconfig)
    .timeout(Duration::from_secs(60))
}

/// Whether `helm list` shows `release` deployed from the same chart at the same version
/// (helm's `chart` column is `<chart name>-<chart version>`).
fn release_current(
    sh: &Shell,
    tools: &Tools,
    kubeconfig: &Path,
    release: &helm::Release,
) -> Result<bool, ClusterError> {
    let output = sh
        .run(&helm_list(tools, kubeconfig, release))
        .map_err(ClusterError::infra(format!(
            "list helm release {}",
            release.name
        )))?;
    if sh.is_dry_run() {
        return Ok(false);
    }
    let entries: Vec<HelmListEntry> =
        serde_json::from_str(output.stdout_str().trim()).map_err(|error| {
            ClusterError::Unexpected {
                step: format!("list helm release {}", release.name),
                message: format!("cannot read helm's JSON: {error}"),
            }
        })?;
    let chart_name = release.chart.rsplit('/').next().unwrap_or(&release.chart);
    let wanted = format!("{chart_name}-{}", release.version);
    Ok(entries.iter().any(|entry| {
        entry.name == release.name && entry.chart == wanted && entry.status == "deployed"
    }))
}

#[allow(clippy::too_many_arguments)] // one call site; a struct for it would only rename these
fn install_release(
    sh: &Shell,
    tools: &Tools,
    kind: &Kind,
    name: &str,
    kubeconfig: &Path,
    release: &ReleaseInstall,
    report: &mut UpReport,
    events: &mut dyn FnMut(Event),
) -> Result<(), ClusterError> {
    let images_dir = kubeconfig.parent().unwrap_or(Path::new(".")).join("images");
    let mut pending = Vec::new();
    for chart in &release.charts {
        if release_current(sh, tools, kubeconfig, chart)? {
            events(Event::Unchanged(format!(
                "{} {} already installed",
                chart.name, chart.version
            )));
        } else {
            pending.push(chart.clone());
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    // Images first, so the charts' pods start from the release's own images.
    events(Event::Step(format!(
        "load {} recorded images into {name}",
        release.images.len()
    )));
    report.images_loaded.extend(crate::images::load_recorded(
        sh,
        &docker::Docker::new(&tools.docker),
        kind,
        name,
        &release.images,
        &images_dir,
        release.save_platform.as_deref(),
    )?);
    report.charts_installed.extend(install_charts(
        sh,
        &Helm::new(&tools.helm, kubeconfig),
        &pending,
        release.helm_timeout,
        events,
    )?);
    Ok(())
}

fn load_fixture_images(
    sh: &Shell,
    tools: &Tools,
    kind: &Kind,
    name: &str,
    images: &[RecordedImage],
    dir: &Path,
    events: &mut dyn FnMut(Event),
) -> Result<(), ClusterError> {
    if images.is_empty() {
        return Ok(());
    }
    events(Event::Step(format!(
        "load fixture images {} into {name}",
        images
            .iter()
            .map(|image| image.reference.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )));
    crate::images::load_recorded(
        sh,
        &docker::Docker::new(&tools.docker),
        kind,
        name,
        images,
        dir,
        None,
    )?;
    Ok(())
}

/// The same fixture was applied before (its substituted text is in the run directory) and its
/// Gateway is programmed now: nothing to do.
fn fixture_current(
    sh: &Shell,
    kubectl: &Kubectl,
    run_dir: &RunDir,
    fixture: &Fixture,
) -> Result<bool, ClusterError> {
    if sh.is_dry_run() {
        return Ok(false);
    }
    let on_disk = std::fs::read_to_string(run_dir.fixture()).unwrap_or_default();
    if on_disk != fixture.to_yaml() {
        return Ok(false);
    }
    gateway_ready(sh, kubectl, fixture.gateway())
}

fn gateway_ready(
    sh: &Shell,
    kubectl: &Kubectl,
    gateway: &fixture::ObjectRef,
) -> Result<bool, ClusterError> {
    let output = sh
        .run_unchecked(&kubectl.get_json(&Get {
            resource: "gateways.gateway.networking.k8s.io",
            name: Some(&gateway.name),
            namespace: Some(&gateway.namespace),
            selector: None,
        }))
        .map_err(ClusterError::infra(format!("read {gateway}")))?;
    if !output.status.success() {
        return Ok(false);
    }
    Ok(status::parse::<Gateway>("a Gateway", &output.stdout_str())
        .map(|parsed| parsed.readiness().is_ok())
        .unwrap_or(false))
}

/// Which clusters `kind-down` is after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted<'a> {
    /// The cluster of exactly this name.
    Named(&'a str),
    /// The clusters of verify-release runs (`release-gate-run-…`).
    Stale,
}

/// What there is to delete when no kind binary exists, from the engine's node containers.
#[derive(Debug)]
pub enum WithoutKind {
    /// No docker CLI either: nothing here can have created a kind cluster.
    NoEngineCli,
    /// The engine has no node of a wanted cluster: nothing to delete.
    Nothing,
    /// The engine has nodes of these wanted clusters: kind is needed to delete them.
    Nodes(Vec<String>),
    /// The engine could not be asked; its stopped clusters come back with it.
    Unreachable(ClusterError),
}

/// `kind-down` without a kind binary: asks the engine (if there is a docker CLI) for kind's
/// node containers and keeps the wanted clusters' names. Deletes nothing.
pub fn without_kind(
    sh: &Shell,
    docker: Option<&docker::Docker>,
    wanted: Wanted<'_>,
) -> WithoutKind {
    let Some(docker) = docker else {
        return WithoutKind::NoEngineCli;
    };
    match crate::stages::engine_clusters(sh, docker) {
        Err(error) => WithoutKind::Unreachable(error),
        Ok(clusters) => {
            let found: Vec<String> = clusters
                .into_iter()
                .filter(|name| match wanted {
                    Wanted::Named(wanted) => name == wanted,
                    Wanted::Stale => name.starts_with(crate::owner::CLUSTER_PREFIX),
                })
                .collect();
            if found.is_empty() {
                WithoutKind::Nothing
            } else {
                WithoutKind::Nodes(found)
            }
        }
    }
}

//! The cluster lifecycle: create (or reuse by exact name) with the pinned node image, install the
//! pinned Gateway API CRDs, optionally the release and the fixture; and teardown that always
//! exports logs before it deletes and proves the cluster is gone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use exec::{Cmd, Shell};

use crate::fixture::{self, Deadlines, Fixture};
use crate::helm::{self, Helm};
use crate::kind::{self, CreateSpec, Kind};
use crate::kind_config::KindConfig;
use crate::kubectl::{Get, Kubectl};
use crate::status::{self, BUNDLE_VERSION_ANNOTATION, Gateway, Object};
use crate::{ClusterError, Event};

/// The CRDs the fixture needs; waited on until Established after install.
pub const GATEWAY_API_CRDS: [&str; 3] = [
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
];

/// The resolved programs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub kind: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    pub docker: PathBuf,
}

/// Where one cluster's files live: the kubeconfig, the kind config, the fixture, logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn kubeconfig(&self) -> PathBuf {
        self.0.join("kubeconfig")
    }
    pub fn kind_config(&self) -> PathBuf {
        self.0.join("kind-config.yaml")
    }
    pub fn fixture(&self) -> PathBuf {
        self.0.join("fixture.yaml")
    }
    pub fn logs(&self) -> PathBuf {
        self.0.join("logs")
    }
    pub fn command_log(&self) -> PathBuf {
        self.0.join("commands.log")
    }
}

/// The release part of an `up`: charts with resolved versions, images to load.
#[derive(Debug, Clone)]
pub struct ReleaseInstall {
    pub tag: String,
    pub charts: Vec<helm::Release>,
    pub images: Vec<String>,
    pub helm_timeout: Duration,
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
    /// applied. Never pulled: they exist only where `cargo xtask docker-build` made them.
    pub fixture_images: Vec<String>,
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

/// `kind get clusters`, exact names.
pub fn list_clusters(sh: &Shell, kind: &Kind) -> Result<Vec<String>, ClusterError> {
    let output = sh
        .run(&kind.get_clusters())
        .map_err(ClusterError::infra("list kind clusters"))?;
    Ok(kind::parse_clusters(&output.stdout_str()))
}

/// Creates the cluster. If create fails, the cluster is deleted anyway (a half-created cluster
/// must not survive) and the create error is returned as an infrastructure error.
pub fn create_cluster(
    sh: &Shell,
    kind: &Kind,
    spec: &CreateSpec,
    events: &mut dyn FnMut(Event),
) -> Result<(), ClusterError> {
    let create = sh.run(&kind.create_cluster(spec));
    if let Err(error) = create {
        if let Err(cleanup) = sh.run(&kind.delete_cluster(&spec.name, &spec.kubeconfig)) {
            events(Event::Warning(format!(
                "cleanup after the failed create also failed: {cleanup}; run `kind delete cluster --name {}`",
                spec.name
            )));
        }
        return Err(ClusterError::Infra {
            step: format!("create kind cluster {}", spec.name),
            source: error,
        });
    }
    Ok(())
}

/// Exports the cluster's logs into `logs_dir` (a failure is a warning: deleting matters more),
/// deletes it, and checks `kind get clusters` no longer lists it. Returns whether it existed.
pub fn teardown(
    sh: &Shell,
    kind: &Kind,
    name: &str,
    kubeconfig: &Path,
    logs_dir: &Path,
    events: &mut dyn FnMut(Event),
) -> Result<bool, ClusterError> {
    let existed = kind::has_cluster(&list_clusters(sh, kind)?, name);
    if !existed && !sh.is_dry_run() {
        return Ok(false);
    }
    events(Event::Step(format!(
        "export logs of {name} to {}",
        logs_dir.display()
    )));
    if let Err(error) = sh.run(&kind.export_logs(name, logs_dir)) {
        events(Event::Warning(format!(
            "could not export logs before deleting {name}: {error}"
        )));
    }
    events(Event::Step(format!("delete cluster {name}")));
    sh.run(&kind.delete_cluster(name, kubeconfig))
        .map_err(ClusterError::infra(format!("delete kind cluster {name}")))?;
    if !sh.is_dry_run() && kind::has_cluster(&list_clusters(sh, kind)?, name) {
        return Err(ClusterError::Unexpected {
            step: format!("delete kind cluster {name}"),
            message: format!(
                "kind still lists {name} after deleting it; remove it with `kind delete cluster --name {name}` and check `docker ps`"
            ),
        });
    }
    Ok(true)
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
    if !sh.is_dry_run() {
        std::fs::create_dir_all(&spec.run_dir.0).map_err(ClusterError::io(format!(
            "create the run directory {}",
            spec.run_dir.0.display()
        )))?;
    }

    let mut exists = kind::has_cluster(&list_clusters(sh, &kind)?, &spec.name);
    // A dry run cannot know whether the cluster exists, so its plan shows the teardown too.
    if (exists || sh.is_dry_run()) && spec.recreate {
        teardown(
            sh,
            &kind,
            &spec.name,
            &kubeconfig,
            &spec.run_dir.logs(),
            events,
        )?;
        report.deleted_first = true;
        exists = false;
    }
    if exists {
        events(Event::Unchanged(format!(
            "cluster {} exists (exact name); reusing it",
            spec.name
        )));
        // Always rewritten: a cluster recreated elsewhere under the same name has new
        // credentials, and a stale kubeconfig would fail every later step.
        sh.run(&export_kubeconfig(&kind, &spec.name, &kubeconfig))
            .map_err(ClusterError::infra(format!(
                "write the kubeconfig of {}",
                spec.name
            )))?;
        check_node_version(sh, &kubectl, spec, events)?;
    } else {
        let config = KindConfig::new(&spec.name, spec.node_port_mapping);
        if !sh.is_dry_run() {
            std::fs::write(spec.run_dir.kind_config(), config.to_yaml()).map_err(
                ClusterError::io(format!("write {}", spec.run_dir.kind_config().display())),
            )?;
        }
        events(Event::Step(format!(
            "create cluster {} from {}",
            spec.name, spec.node_image
        )));
        create_cluster(
            sh,
            &kind,
            &CreateSpec {
                name: spec.name.clone(),
                node_image: spec.node_image.clone(),
                config: spec.run_dir.kind_config(),
                kubeconfig: kubeconfig.clone(),
                wait: spec.create_wait,
                timeout: CreateSpec::default_timeout(spec.create_wait),
            },
            events,
        )?;
        report.created = true;
    }

    // Gateway API CRDs: skip when the installed bundle is the pinned one.
    let installed = if report.created {
        None
    } else {
        installed_crd_version(sh, &kubectl)?
    };
    if installed.as_deref() == Some(spec.crds_version.as_str()) {
        events(Event::Unchanged(format!(
            "Gateway API CRDs {} already installed",
            spec.crds_version
        )));
    } else {
        events(Event::Step(format!(
            "install Gateway API CRDs {}",
            spec.crds_version
        )));
        sh.run(&kubectl.apply_server_side(&spec.crds_source))
            .map_err(ClusterError::infra("install the Gateway API CRDs"))?;
        sh.run(
            &kubectl.wait_condition(
                &GATEWAY_API_CRDS
                    .map(|crd| format!("crd/{crd}"))
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
                None,
                "Established",
                spec.crds_timeout,
            ),
        )
        .map_err(ClusterError::infra("wait for the Gateway API CRDs"))?;
        report.crds_applied = true;
    }

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
            load_fixture_images(sh, tools, &kind, &spec.name, &spec.fixture_images, events)?;
            deploy_fixture(
                sh,
                &kubectl,
                &spec.run_dir,
                fixture,
                &spec.deadlines,
                &mut report,
                events,
            )?;
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

/// `kind export kubeconfig --name N --kubeconfig FILE`, for a reused cluster whose run directory
/// lost its kubeconfig.
pub fn export_kubeconfig(kind: &Kind, name: &str, kubeconfig: &Path) -> Cmd {
    Cmd::new(
        kind.program(),
        format!("write the kubeconfig of kind cluster {name}"),
    )
    .args(["export", "kubeconfig", "--name", name])
    .arg("--kubeconfig")
    .arg(kubeconfig)
    .timeout(Duration::from_secs(60))
}

/// The bundle version of the installed Gateway API CRDs, None when absent.
fn installed_crd_version(sh: &Shell, kubectl: &Kubectl) -> Result<Option<String>, ClusterError> {
    let output = sh
        .run_unchecked(&kubectl.get_json(&Get {
            resource: "customresourcedefinitions",
            name: Some(GATEWAY_API_CRDS[1]),
            namespace: None,
            selector: None,
        }))
        .map_err(ClusterError::infra("read the installed Gateway API CRDs"))?;
    if sh.is_dry_run() || !output.status.success() {
        return Ok(None);
    }
    let crd: Object =
        status::parse("a CustomResourceDefinition", &output.stdout_str()).map_err(|message| {
            ClusterError::Unexpected {
                step: "read the installed Gateway API CRDs".to_owned(),
                message,
            }
        })?;
    Ok(crd
        .metadata
        .annotations
        .get(BUNDLE_VERSION_ANNOTATION)
        .cloned())
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
    let mut pending = Vec::new();
    for chart in &release.charts {
        if release_current(sh, tools, kubeconfig, chart)? {
            events(Event::Unchanged(format!(
                "{} {} already installed",
                chart.name, chart.version
            )));
        } else {
            pending.push(chart);
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    // Images first, so the charts' pods start from the release's own images.
    let docker = docker::Docker::new(&tools.docker);
    for image in &release.images {
        events(Event::Step(format!("load image {image} into {name}")));
        crate::images::ensure_local(sh, &docker, image)?;
        crate::images::load_into_cluster(sh, kind, name, std::slice::from_ref(image))?;
        report.images_loaded.push(image.clone());
    }
    let helm = Helm::new(&tools.helm, kubeconfig);
    for chart in pending {
        events(Event::Step(format!(
            "helm upgrade --install {} {}",
            chart.name, chart.version
        )));
        sh.run(&helm.upgrade_install(chart, release.helm_timeout))
            .map_err(ClusterError::infra(format!(
                "install chart {} {}",
                chart.chart, chart.version
            )))?;
        report.charts_installed.push(chart.name.clone());
    }
    Ok(())
}

fn load_fixture_images(
    sh: &Shell,
    tools: &Tools,
    kind: &Kind,
    name: &str,
    images: &[String],
    events: &mut dyn FnMut(Event),
) -> Result<(), ClusterError> {
    let docker = docker::Docker::new(&tools.docker);
    for image in images {
        if !sh.is_dry_run() && crate::images::inspect(sh, &docker, image)?.is_none() {
            return Err(ClusterError::Unexpected {
                step: format!("load the fixture image {image}"),
                message: format!(
                    "the local docker engine has no {image}: build it with `cargo xtask echo-image --tag {image}`"
                ),
            });
        }
        events(Event::Step(format!(
            "load fixture image {image} into {name}"
        )));
        crate::images::load_into_cluster(sh, kind, name, std::slice::from_ref(image))?;
    }
    Ok(())
}

fn deploy_fixture(
    sh: &Shell,
    kubectl: &Kubectl,
    run_dir: &RunDir,
    fixture: &Fixture,
    deadlines: &Deadlines,
    report: &mut UpReport,
    events: &mut dyn FnMut(Event),
) -> Result<(), ClusterError> {
    if !sh.is_dry_run() {
        std::fs::write(run_dir.fixture(), fixture.to_yaml()).map_err(ClusterError::io(format!(
            "write {}",
            run_dir.fixture().display()
        )))?;
    }
    events(Event::Step(format!(
        "apply the conformance fixture ({} objects to wait for)",
        fixture.gateways.len() + fixture.routes.len() + fixture.backends.len()
    )));
    sh.run(&kubectl.apply_server_side(&run_dir.fixture().to_string_lossy()))
        .map_err(ClusterError::infra("apply the conformance fixture"))?;
    report.fixture_applied = true;
    let waited = fixture::wait_ready(sh, kubectl, fixture, deadlines);
    if waited.is_err() {
        let dir = run_dir.0.join("diagnostics");
        let written = collect_diagnostics(sh, kubectl, fixture, &dir);
        events(Event::Warning(format!(
            "the fixture did not become ready; {} diagnostics written to {}",
            written,
            dir.display()
        )));
    }
    waited
}

/// Best effort, after a failure: events sorted by time, `describe` of the Gateway API objects
/// and pods, and the logs of every namespace's deployments that the fixture or the release
/// uses. Returns how many files were written; a diagnostic that fails is skipped.
pub fn collect_diagnostics(sh: &Shell, kubectl: &Kubectl, fixture: &Fixture, dir: &Path) -> usize {
    if sh.is_dry_run() || std::fs::create_dir_all(dir).is_err() {
        return 0;
    }
    let mut commands = vec![
        ("events.txt".to_owned(), kubectl.events()),
        (
            "gatewayclasses.txt".to_owned(),
            kubectl.describe("gatewayclasses", None),
        ),
        (
            "gateways.txt".to_owned(),
            kubectl.describe("gateways", None),
        ),
        (
            "httproutes.txt".to_owned(),
            kubectl.describe("httproutes", None),
        ),
        ("pods.txt".to_owned(), kubectl.describe("pods", None)),
    ];
    for backend in &fixture.backends {
        let object = format!("deployment/{}", backend.deployment.name);
        commands.push((
            format!("logs-{}.txt", backend.deployment.name),
            kubectl.logs(
                &crate::kubectl::Target {
                    object: &object,
                    namespace: &backend.deployment.namespace,
                },
                500,
            ),
        ));
    }
    let mut written = 0;
    for (file, cmd) in commands {
        let Ok(output) = sh.run_unchecked(&cmd) else {
            continue;
        };
        // stdout only: kubectl's warnings on stderr are kept apart, after a marker.
        let mut text = output.stdout;
        if !output.stderr.is_empty() {
            text.extend_from_slice(b"\n--- stderr ---\n");
            text.extend_from_slice(&output.stderr);
        }
        if std::fs::write(dir.join(file), text).is_ok() {
            written += 1;
        }
    }
    written
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

/// A cluster that exists only for one run (verify-release): created fresh, and torn down —
/// logs exported, then deleted — when [`ThrowawayCluster::teardown`] is called or, failing
/// that, when the value is dropped (an early return, an error, a panic unwinding).
pub struct ThrowawayCluster<'a> {
    sh: &'a Shell,
    kind: Kind,
    name: String,
    run_dir: RunDir,
    armed: bool,
}

impl std::fmt::Debug for ThrowawayCluster<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrowawayCluster")
            .field("name", &self.name)
            .field("run_dir", &self.run_dir)
            .finish_non_exhaustive()
    }
}

impl<'a> ThrowawayCluster<'a> {
    /// Creates the cluster and installs what `spec` asks for. A cluster of that exact name must
    /// not exist yet (a throwaway never adopts someone's cluster, and never deletes it). If any
    /// step fails, the half-built cluster is torn down before the error is returned.
    pub fn up(
        sh: &'a Shell,
        tools: &Tools,
        spec: &UpSpec,
        events: &mut dyn FnMut(Event),
    ) -> Result<(ThrowawayCluster<'a>, UpReport), ClusterError> {
        let kind = Kind::new(&tools.kind);
        if kind::has_cluster(&list_clusters(sh, &kind)?, &spec.name) {
            return Err(ClusterError::BadInput(format!(
                "a kind cluster named {} already exists; a throwaway run needs a fresh name (or delete it with `kind delete cluster --name {}`)",
                spec.name, spec.name
            )));
        }
        let mut guard = ThrowawayCluster {
            sh,
            kind,
            name: spec.name.clone(),
            run_dir: spec.run_dir.clone(),
            armed: true,
        };
        let fresh = UpSpec {
            recreate: false,
            ..spec.clone()
        };
        match up(sh, tools, &fresh, events) {
            Ok(report) => Ok((guard, report)),
            Err(error) => {
                // Tear down now, so the logs of the failed bring-up are exported before delete.
                if let Err(cleanup) = guard.teardown_inner(events) {
                    events(Event::Warning(format!(
                        "tearing down {} after the failure also failed: {cleanup}",
                        guard.name
                    )));
                }
                Err(error)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.run_dir.kubeconfig()
    }

    pub fn run_dir(&self) -> &RunDir {
        &self.run_dir
    }

    /// Exports logs into the run directory, deletes the cluster and checks it is gone.
    pub fn teardown(mut self, events: &mut dyn FnMut(Event)) -> Result<(), ClusterError> {
        self.teardown_inner(events)
    }

    fn teardown_inner(&mut self, events: &mut dyn FnMut(Event)) -> Result<(), ClusterError> {
        self.armed = false;
        teardown(
            self.sh,
            &self.kind,
            &self.name,
            &self.run_dir.kubeconfig(),
            &self.run_dir.logs(),
            events,
        )
        .map(|_| ())
    }
}

impl Drop for ThrowawayCluster<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Nobody is left to tell: the cluster must still go.
            let _ = self.teardown_inner(&mut |_| {});
        }
    }
}

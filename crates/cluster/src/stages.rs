//! The stages a cluster is brought up and torn down with, which kind-up ([`crate::dev::up`])
//! and verify-release (the pipeline crate) both compose: list, create and tear down a kind
//! cluster (logs first), install the pinned Gateway API CRDs, install charts in order, deploy
//! the fixture and wait for it. Each takes a shell (with the run's token) and values, and
//! returns typed results.

use std::path::{Path, PathBuf};
use std::time::Duration;

use exec::{Cmd, Shell};

use crate::fixture::{self, Deadlines, Fixture};
use crate::helm::{self, Helm};
use crate::kind::{self, CreateSpec, Kind};
use crate::kubectl::{Get, Kubectl};
use crate::status::{self, BUNDLE_VERSION_ANNOTATION, Object};
use crate::{ClusterError, Event};

/// The CRDs the fixture needs; waited on until Established after install.
pub const GATEWAY_API_CRDS: [&str; 3] = [
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
];

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
    /// Where images are saved for `kind load image-archive` (emptied as they load).
    pub fn image_archives(&self) -> PathBuf {
        self.0.join("images")
    }
    pub fn diagnostics(&self) -> PathBuf {
        self.0.join("diagnostics")
    }
}

/// `kind get clusters`, exact names.
/// The label kind puts on every node container, valued with the cluster's name.
pub const NODE_LABEL: &str = "io.x-k8s.kind.cluster";

/// The kind clusters the engine has node containers of (running or stopped), without a kind
/// binary: what `kind get clusters` would say, from the node containers' label. Sorted, each
/// once. An engine that cannot be reached is an infra error.
pub fn engine_clusters(sh: &Shell, docker: &docker::Docker) -> Result<Vec<String>, ClusterError> {
    let output = sh
        .run(&docker.containers_labelled(NODE_LABEL))
        .map_err(ClusterError::infra(
            "list kind's node containers through the docker engine",
        ))?;
    let mut clusters: Vec<String> = output
        .stdout_str()
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    clusters.sort();
    clusters.dedup();
    Ok(clusters)
}

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
        // Even after Ctrl-C: a half-created cluster must go, so the delete runs on a live token.
        if let Err(cleanup) = sh
            .for_cleanup()
            .run(&kind.delete_cluster(&spec.name, &spec.kubeconfig))
        {
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
/// Runs on a live token of its own: teardown is what a cancelled run does on its way out.
pub fn teardown(
    sh: &Shell,
    kind: &Kind,
    name: &str,
    kubeconfig: &Path,
    logs_dir: &Path,
    events: &mut dyn FnMut(Event),
) -> Result<bool, ClusterError> {
    let sh = &sh.for_cleanup();
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

/// The pinned Gateway API CRD bundle: a verified local file (or URL) and the version it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdBundle {
    pub source: String,
    pub version: String,
    pub timeout: Duration,
}

/// Stage: applies the Gateway API CRDs and waits until they are Established. With
/// `check_installed`, a cluster already carrying this bundle version is left alone. Returns
/// whether it applied anything.
pub fn install_crds(
    sh: &Shell,
    kubectl: &Kubectl,
    bundle: &CrdBundle,
    check_installed: bool,
    events: &mut dyn FnMut(Event),
) -> Result<bool, ClusterError> {
    let installed = if check_installed {
        installed_crd_version(sh, kubectl)?
    } else {
        None
    };
    if installed.as_deref() == Some(bundle.version.as_str()) {
        events(Event::Unchanged(format!(
            "Gateway API CRDs {} already installed",
            bundle.version
        )));
        return Ok(false);
    }
    events(Event::Step(format!(
        "install Gateway API CRDs {}",
        bundle.version
    )));
    sh.run(&kubectl.apply_server_side(&bundle.source))
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
            bundle.timeout,
        ),
    )
    .map_err(ClusterError::infra("wait for the Gateway API CRDs"))?;
    Ok(true)
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

/// Stage: `helm upgrade --install --wait` for each chart, in order. Returns the release names
/// installed. A chart that fails to install is the release's failure, named with its chart.
pub fn install_charts(
    sh: &Shell,
    helm: &Helm,
    charts: &[helm::Release],
    timeout: Duration,
    events: &mut dyn FnMut(Event),
) -> Result<Vec<String>, ClusterError> {
    let mut installed = Vec::new();
    for chart in charts {
        events(Event::Step(format!(
            "helm upgrade --install {} {}",
            chart.name, chart.version
        )));
        sh.run(&helm.upgrade_install(chart, timeout))
            .map_err(ClusterError::infra(format!(
                "install chart {} {}",
                chart.chart, chart.version
            )))?;
        installed.push(chart.name.clone());
    }
    Ok(installed)
}

/// Stage: writes the substituted fixture into the run directory, applies it and waits until
/// its Gateways, HTTPRoutes and backend pods are ready (naming what is stuck).
pub fn deploy_fixture(
    sh: &Shell,
    kubectl: &Kubectl,
    run_dir: &RunDir,
    fixture: &Fixture,
    deadlines: &Deadlines,
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
    fixture::wait_ready(sh, kubectl, fixture, deadlines)
}

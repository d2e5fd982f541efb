//! The one owner of a kind cluster's lifetime, in the kubetest2 deployer's verbs: [`RunCluster::up`]
//! (for a throwaway cluster: sweep the clusters of killed runs, write the owner record, create;
//! for kind-up's developer cluster: create or reuse by exact name), the LoadBalancer provider
//! beside it, [`RunCluster::reach_gateway`], [`RunCluster::dump`] (diagnostics while everything
//! exists) and an idempotent [`RunCluster::down`] that stops the forwards and the provider,
//! exports logs, deletes the cluster and removes the owner record, kubeconfig and image
//! archives, returning typed problems. Whoever makes the value owns the cluster; it keeps a
//! cleanup shell of its own (a live token), so a cancelled run still tears down, and a
//! throwaway cluster is torn down when the value is dropped without `down`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use docker::Docker;
use exec::{ExecError, Shell};

use crate::access::{self, AccessRequest, Forwards, GatewayAccess};
use crate::diagnostics::{self, Scope};
use crate::helm::Helm;
use crate::kind::{self, CreateSpec, Kind};
use crate::kind_config::KindConfig;
use crate::kubectl::Kubectl;
use crate::stages::{self, RunDir};
use crate::{ClusterError, Event, owner, provider};

/// Whose cluster it is, and so what `up` and `down` may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifetime {
    /// verify-release's: a fresh name that must not exist yet, an owner record in `owners_dir`
    /// written before `kind create`, deleted by `down` (or when dropped).
    Throwaway { owners_dir: PathBuf },
    /// kind-up's: reused when it exists (by exact name), recreated with `recreate`, deleted
    /// only by an explicit `down` (kind-down), never when dropped.
    Developer { recreate: bool },
}

/// Everything the owner needs, decided by the caller.
#[derive(Debug, Clone)]
pub struct RunClusterSpec {
    pub name: String,
    pub run_dir: RunDir,
    pub node_image: String,
    /// `(node_port, host_port)` to publish a NodePort on loopback.
    pub node_port_mapping: Option<(u16, u16)>,
    pub create_wait: Duration,
    pub lifetime: Lifetime,
}

/// What `up` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpReport {
    /// Clusters of killed runs deleted first (throwaway only).
    pub swept: Vec<String>,
    pub created: bool,
    /// A developer cluster deleted first (`recreate`).
    pub recreated: bool,
    pub reused: bool,
}

/// What became of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// `up` never created it (it failed first, or never ran).
    NeverCreated,
    Deleted,
    /// Left running on purpose (`--keep-cluster`, or a developer cluster).
    Kept,
    /// `down` tried and failed: it may still exist.
    MayExist,
}

impl Fate {
    /// The name run.json records (`cluster.fate`).
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::NeverCreated => "never-created",
            Fate::Deleted => "deleted",
            Fate::Kept => "kept",
            Fate::MayExist => "may-exist",
        }
    }
}

/// A part of `down` that failed; the others still ran.
#[derive(Debug)]
pub enum DownProblem {
    StopProvider(ExecError),
    DeleteCluster(ClusterError),
    RemoveFile {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl std::fmt::Display for DownProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownProblem::StopProvider(error) => write!(f, "stopping cloud-provider-kind: {error}"),
            DownProblem::DeleteCluster(error) => write!(f, "deleting the cluster: {error}"),
            DownProblem::RemoveFile { path, error } => {
                write!(f, "removing {}: {error}", path.display())
            }
        }
    }
}

/// What `down` did.
#[derive(Debug)]
pub struct DownReport {
    pub fate: Fate,
    /// Port-forwards stopped.
    pub forwards_stopped: usize,
    pub provider_stopped: bool,
    pub problems: Vec<DownProblem>,
}

impl DownReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Debug, Default)]
struct Lifecycle {
    owner_written: bool,
    /// `kind create` ran (or the cluster was reused): `down` has something to delete.
    exists: bool,
    provider: Option<Docker>,
    keep: bool,
    /// Set by the first `down`; later calls return what it did.
    fate: Option<Fate>,
}

/// One kind cluster and everything that lives beside it for a run.
pub struct RunCluster {
    spec: RunClusterSpec,
    kind: Kind,
    cleanup: Shell,
    forwards: Forwards,
    state: Mutex<Lifecycle>,
}

impl std::fmt::Debug for RunCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunCluster")
            .field("name", &self.spec.name)
            .field("lifetime", &self.spec.lifetime)
            .finish_non_exhaustive()
    }
}

impl RunCluster {
    /// The owner of cluster `spec.name`; nothing runs yet. `sh` is the creator's shell: the
    /// owner keeps a cleanup shell made from it (same log and plan, a live token), labelled
    /// `cleanup_step`, for `down`.
    pub fn new(spec: RunClusterSpec, kind: Kind, sh: &Shell, cleanup_step: &str) -> RunCluster {
        RunCluster {
            cleanup: sh.for_step(cleanup_step).for_cleanup(),
            spec,
            kind,
            forwards: Forwards::default(),
            state: Mutex::new(Lifecycle::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn run_dir(&self) -> &RunDir {
        &self.spec.run_dir
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.spec.run_dir.kubeconfig()
    }

    /// Whether the cluster exists by this owner's doing (created or reused).
    pub fn exists(&self) -> bool {
        self.lock().exists
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        stdx::lock(&self.state)
    }

    /// Brings the cluster up. A throwaway one: clusters of killed runs deleted first, the
    /// owner record written, then `kind create` (a taken name is bad input: a throwaway never
    /// adopts or deletes a cluster it did not create). A developer one: reused by exact name
    /// (its kubeconfig rewritten), or recreated, or created. A failed create leaves no cluster.
    pub fn up(&self, sh: &Shell, events: &mut dyn FnMut(Event)) -> Result<UpReport, ClusterError> {
        let spec = &self.spec;
        let mut report = UpReport::default();
        if !sh.is_dry_run() {
            std::fs::create_dir_all(&spec.run_dir.0).map_err(ClusterError::io(format!(
                "create the run directory {}",
                spec.run_dir.0.display()
            )))?;
        }
        match &spec.lifetime {
            Lifetime::Throwaway { owners_dir } => {
                report.swept = owner::sweep(sh, &self.kind, owners_dir, events)?;
                if kind::has_cluster(&stages::list_clusters(sh, &self.kind)?, &spec.name) {
                    return Err(ClusterError::BadInput(format!(
                        "a kind cluster named {} already exists; a throwaway run needs a fresh name (or delete it with `kind delete cluster --name {}`)",
                        spec.name, spec.name
                    )));
                }
                if !sh.is_dry_run() {
                    owner::write(
                        owners_dir,
                        &owner::this_process(&spec.name, &spec.run_dir.0),
                    )
                    .map_err(ClusterError::io(format!(
                        "write the owner record of {} into {}",
                        spec.name,
                        owners_dir.display()
                    )))?;
                    self.lock().owner_written = true;
                }
            }
            Lifetime::Developer { recreate } => {
                let exists = kind::has_cluster(&stages::list_clusters(sh, &self.kind)?, &spec.name);
                // A dry run cannot know whether the cluster exists, so its plan shows the
                // teardown too.
                if (exists || sh.is_dry_run()) && *recreate {
                    stages::teardown(
                        sh,
                        &self.kind,
                        &spec.name,
                        &self.kubeconfig(),
                        &spec.run_dir.logs(),
                        events,
                    )?;
                    report.recreated = true;
                } else if exists {
                    events(Event::Unchanged(format!(
                        "cluster {} exists (exact name); reusing it",
                        spec.name
                    )));
                    // Always rewritten: a cluster recreated elsewhere under the same name has
                    // new credentials, and a stale kubeconfig would fail every later step.
                    sh.run(&stages::export_kubeconfig(
                        &self.kind,
                        &spec.name,
                        &self.kubeconfig(),
                    ))
                    .map_err(ClusterError::infra(format!(
                        "write the kubeconfig of {}",
                        spec.name
                    )))?;
                    self.lock().exists = true;
                    report.reused = true;
                    return Ok(report);
                }
            }
        }
        if !sh.is_dry_run() {
            std::fs::write(
                spec.run_dir.kind_config(),
                KindConfig::new(&spec.name, spec.node_port_mapping).to_yaml(),
            )
            .map_err(ClusterError::io(format!(
                "write {}",
                spec.run_dir.kind_config().display()
            )))?;
        }
        events(Event::Step(format!(
            "create cluster {} from {}",
            spec.name, spec.node_image
        )));
        // Marked before kind runs: a create killed halfway still has something to delete.
        self.lock().exists = true;
        let created = stages::create_cluster(
            sh,
            &self.kind,
            &CreateSpec {
                name: spec.name.clone(),
                node_image: spec.node_image.clone(),
                config: spec.run_dir.kind_config(),
                kubeconfig: self.kubeconfig(),
                wait: spec.create_wait,
                timeout: CreateSpec::default_timeout(spec.create_wait),
            },
            events,
        );
        if let Err(error) = created {
            // create_cluster already deleted what kind left.
            self.lock().exists = false;
            return Err(error);
        }
        report.created = true;
        Ok(report)
    }

    /// Makes sure the engine's one cloud-provider-kind runs for this cluster (marked before it
    /// starts: `down` releases a provider that half-started too). Returns its container name and
    /// whether this call started it.
    pub fn start_load_balancer(
        &self,
        sh: &Shell,
        docker: &Docker,
        image: &str,
        port_mapping: bool,
    ) -> Result<(String, provider::Acquired), ClusterError> {
        self.lock().provider = Some(docker.clone());
        let acquired = provider::acquire(sh, docker, image, port_mapping)?;
        Ok((provider::CONTAINER.to_owned(), acquired))
    }

    /// How the suite reaches the gateway; the forwards it needs live until `down`.
    pub fn reach_gateway(
        &self,
        sh: &Shell,
        kubectl: &Kubectl,
        request: &AccessRequest<'_>,
    ) -> Result<GatewayAccess, ClusterError> {
        access::reach(sh, kubectl, request, &self.forwards)
    }

    /// Diagnostics while everything still exists: the files written into `dir`. Nothing when
    /// the cluster was never created.
    pub fn dump(
        &self,
        sh: &Shell,
        kubectl: &Kubectl,
        helm: Option<&Helm>,
        scope: &Scope<'_>,
        dir: &Path,
    ) -> Option<Vec<PathBuf>> {
        self.exists()
            .then(|| diagnostics::collect(sh, kubectl, helm, scope, dir))
    }

    /// Leaves the cluster running when `down` comes (`--keep-cluster`).
    pub fn keep(&self) {
        self.lock().keep = true;
    }

    /// Stops the forwards and the provider, exports the logs and deletes the cluster (unless
    /// kept), removes the kubeconfig, the image archives and the owner record. Every part runs
    /// even when an earlier one failed; a second call does nothing and reports the same fate.
    pub fn down(&self, events: &mut dyn FnMut(Event)) -> DownReport {
        let sh = &self.cleanup;
        let mut report = DownReport {
            fate: Fate::NeverCreated,
            forwards_stopped: self.forwards.stop_all(),
            provider_stopped: false,
            problems: Vec::new(),
        };
        let (provider, exists, keep, owner_written, done) = {
            let mut state = self.lock();
            let done = state.fate;
            (
                state.provider.take(),
                state.exists,
                state.keep,
                state.owner_written,
                done,
            )
        };
        if let Some(fate) = done {
            report.fate = fate;
            return report;
        }
        let developer = matches!(self.spec.lifetime, Lifetime::Developer { .. });
        // A cluster that never came up has nothing to keep (`--keep-cluster` or not).
        report.fate = if !exists && !developer {
            Fate::NeverCreated
        } else if keep {
            Fate::Kept
        } else {
            match stages::teardown(
                sh,
                &self.kind,
                &self.spec.name,
                &self.kubeconfig(),
                &self.spec.run_dir.logs(),
                events,
            ) {
                Ok(true) => Fate::Deleted,
                Ok(false) => Fate::NeverCreated,
                Err(error) => {
                    report.problems.push(DownProblem::DeleteCluster(error));
                    Fate::MayExist
                }
            }
        };
        // The shared provider, once this cluster is gone: stopped unless a cluster still needs
        // it (a kept one among them).
        if let Some(docker) = provider {
            match provider::release(sh, &docker, &self.kind) {
                Ok(provider::Released::Stopped) => report.provider_stopped = true,
                Ok(provider::Released::StillNeeded(_)) => {}
                Err(error) => report.problems.push(DownProblem::StopProvider(error)),
            }
        }
        if report.fate != Fate::Kept && !sh.is_dry_run() {
            let kubeconfig = self.kubeconfig();
            match std::fs::remove_file(&kubeconfig) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    report.problems.push(DownProblem::RemoveFile {
                        path: kubeconfig,
                        error,
                    });
                }
                _ => {}
            }
            let _ = std::fs::remove_dir_all(self.spec.run_dir.image_archives());
        }
        // Once the cluster is gone (or the user took it over), nobody owns it any more; one
        // that may still exist keeps its record, so the next run's sweep finds it.
        if let Lifetime::Throwaway { owners_dir } = &self.spec.lifetime
            && owner_written
            && report.fate != Fate::MayExist
            && let Err(error) = owner::remove(owners_dir, &self.spec.name)
        {
            report.problems.push(DownProblem::RemoveFile {
                path: owners_dir.join(&self.spec.name),
                error,
            });
        }
        self.lock().fate = Some(report.fate);
        report
    }
}

impl Drop for RunCluster {
    fn drop(&mut self) {
        // Nobody is left to tell: a throwaway cluster must still go. A developer cluster stays.
        if matches!(self.spec.lifetime, Lifetime::Throwaway { .. }) && self.lock().fate.is_none() {
            let _ = self.down(&mut |_| {});
        }
    }
}

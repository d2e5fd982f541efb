//! A cluster that exists only for one run (verify-release): created fresh under a name nobody
//! else uses, and torn down (logs exported, then deleted) when [`ThrowawayCluster::teardown`]
//! is called or, failing that, when the value is dropped (an early return, a panic unwinding).
//! It owns only the cluster's lifetime: what is installed on it is the caller's stages.

use std::path::PathBuf;

use exec::Shell;

use crate::kind::{self, CreateSpec, Kind};
use crate::stages::{self, RunDir};
use crate::{ClusterError, Event};

pub struct ThrowawayCluster {
    sh: Shell,
    kind: Kind,
    name: String,
    run_dir: RunDir,
    armed: bool,
}

impl std::fmt::Debug for ThrowawayCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrowawayCluster")
            .field("name", &self.name)
            .field("run_dir", &self.run_dir)
            .finish_non_exhaustive()
    }
}

impl ThrowawayCluster {
    /// Creates the cluster `spec.name`, which must not exist yet (a throwaway never adopts
    /// someone's cluster, and never deletes it). A failed or cancelled create leaves nothing.
    pub fn create(
        sh: &Shell,
        kind: &Kind,
        spec: &CreateSpec,
        run_dir: &RunDir,
        events: &mut dyn FnMut(Event),
    ) -> Result<ThrowawayCluster, ClusterError> {
        if kind::has_cluster(&stages::list_clusters(sh, kind)?, &spec.name) {
            return Err(ClusterError::BadInput(format!(
                "a kind cluster named {} already exists; a throwaway run needs a fresh name (or delete it with `kind delete cluster --name {}`)",
                spec.name, spec.name
            )));
        }
        if !sh.is_dry_run() {
            std::fs::create_dir_all(&run_dir.0).map_err(ClusterError::io(format!(
                "create the run directory {}",
                run_dir.0.display()
            )))?;
            std::fs::write(
                &spec.config,
                crate::kind_config::KindConfig::new(&spec.name, None).to_yaml(),
            )
            .map_err(ClusterError::io(format!("write {}", spec.config.display())))?;
        }
        events(Event::Step(format!(
            "create cluster {} from {}",
            spec.name, spec.node_image
        )));
        stages::create_cluster(sh, kind, spec, events)?;
        Ok(ThrowawayCluster {
            sh: sh.clone(),
            kind: kind.clone(),
            name: spec.name.clone(),
            run_dir: run_dir.clone(),
            armed: true,
        })
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

    /// Leaves the cluster running (`--keep-cluster`): dropping the value no longer deletes it.
    pub fn keep(mut self) -> String {
        self.armed = false;
        self.name.clone()
    }

    /// Exports logs into the run directory, deletes the cluster and checks it is gone.
    pub fn teardown(mut self, events: &mut dyn FnMut(Event)) -> Result<(), ClusterError> {
        self.teardown_inner(events)
    }

    fn teardown_inner(&mut self, events: &mut dyn FnMut(Event)) -> Result<(), ClusterError> {
        self.armed = false;
        stages::teardown(
            &self.sh,
            &self.kind,
            &self.name,
            &self.run_dir.kubeconfig(),
            &self.run_dir.logs(),
            events,
        )
        .map(|_| ())
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        if self.armed {
            // Nobody is left to tell: the cluster must still go.
            let _ = self.teardown_inner(&mut |_| {});
        }
    }
}

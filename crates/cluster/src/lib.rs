//! cluster: kind, kubectl, helm and docker driven exactly, for a throwaway cluster that nobody
//! hand-tuned: the pinned kind node image, the pinned Gateway API CRDs, the release's own charts
//! and images, and the conformance fixture waited on until it is really programmed.
//!
//! Every invocation is an [`exec::Cmd`] built by a driver ([`kind::Kind`], [`kubectl::Kubectl`],
//! [`helm::Helm`], the `docker` crate) and run through the caller's [`exec::Shell`], so it can be
//! planned (`--dry-run`), asserted in unit tests and logged. Every kubectl and helm call names
//! the run's kubeconfig; nothing reads or writes `~/.kube/config`. This crate never prints and
//! never reads the process environment: it reports through return values and [`Event`]s.
//!
//! Entry points: the stages a run composes ([`stages::create_cluster`], [`stages::install_crds`],
//! [`images::load_recorded`], [`stages::install_charts`], [`stages::deploy_fixture`],
//! [`diagnostics::collect`], [`stages::teardown`]); [`dev::up`], the idempotent developer cluster
//! behind `cargo xtask kind-up` built from the same stages; [`run_cluster::RunCluster`], the one
//! owner of a cluster's lifetime (up, the LoadBalancer provider, reaching the gateway through
//! [`access`], dump, an idempotent down with typed problems) that the pipeline and `dev::up`
//! both compose; [`owner`] (who created which throwaway cluster, so a killed run's cluster is
//! found and deleted later); [`crds`] (the pinned CRD bundle, fetched and checked); and
//! [`port_forward`] (port-forwards and a replica's health toggle).

pub mod access;
pub mod crds;
pub mod dev;
pub mod diagnostics;
pub mod fixture;
pub mod helm;
pub mod host;
pub mod images;
pub mod kind;
pub mod kind_config;
pub mod kubectl;
pub mod load_balancer;
pub mod owner;
pub mod port_forward;
pub mod provider;
pub mod run_cluster;
pub mod stages;
pub mod status;

mod error;

pub use error::ClusterError;

/// This tool's name as Kubernetes sees it: the server-side-apply field manager.
pub const FIELD_MANAGER: &str = "release-gate";

/// Progress the caller may show; the crate itself never prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step starts (`create cluster release-gate`).
    Step(String),
    /// A step was skipped because its result is already in place, and why.
    Unchanged(String),
    /// Something worth a warning (a cleanup that failed after the real error).
    Warning(String),
    /// The host's inotify limits are below what `clusters` kind clusters at once need.
    InotifyLow {
        clusters: usize,
        shortfalls: Vec<host::Shortfall>,
    },
}

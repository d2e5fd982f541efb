//! cluster's integration tests: one binary. Behaviour is tested against the fake kind, kubectl
//! and helm from the fake-tools crate (first on the PATH of the Shell the code runs with); the
//! docker driver against the real engine when one is usable.

mod docker;
mod fixture;
mod kubectl_cli;
mod lifecycle;
mod port_forward;
mod run_cluster;
mod snapshots;
mod support;

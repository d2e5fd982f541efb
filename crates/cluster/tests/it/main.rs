//! cluster's integration tests: one binary. Behaviour is tested against the fake kind, kubectl
//! and helm from the fake-tools crate (first on the PATH of the Shell the code runs with); the
//! docker driver against the real engine when one is usable.

mod docker;
mod fake_objects;
mod fixture;
mod kubectl_cli;
mod lifecycle;
mod port_forward;
mod run_cluster;
mod snapshots;
mod support;

/// The tests of this binary, run by the workspace's test runner (a test whose component is
/// missing is reported as ignored, with why).
fn main() -> std::process::ExitCode {
    test_harness::run(tests())
}

fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        ;
        docker,
        fake_objects,
        fixture,
        kubectl_cli,
        lifecycle,
        port_forward,
        run_cluster,
        snapshots,
    ]
}

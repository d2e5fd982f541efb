//! conformance's integration tests: one binary, one module per area.

mod client;
mod gateways;
mod manifests;
mod report;
mod suite;

/// The tests of this binary, run by the workspace's test runner (a test whose component is
/// missing is reported as ignored, with why).
fn main() -> std::process::ExitCode {
    test_harness::run(tests())
}

fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        ;
        client,
        gateways,
        manifests,
        report,
        suite,
    ]
}

//! tools: resolution order, verdicts and floors against fake tools; parsers against the real
//! kubectl and docker binaries on this machine; installs against a local HTTP server.

mod fakes;
mod install;
mod real;
mod resolve;

/// The tests of this binary, run by the workspace's test runner (a test whose component is
/// missing is reported as ignored, with why).
fn main() -> std::process::ExitCode {
    test_harness::run(tests())
}

fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        ;
        install,
        real,
        resolve,
    ]
}

//! xtask's integration tests: one binary, one module per subcommand area.

mod artifacts;
mod conformance;
mod context;
mod docker_build;
mod echo_image;
mod kind;
mod tidy;
mod tools;
mod verify_release;
mod versions;
mod workflows;

use std::time::{Duration, Instant};

/// Ctrl-C the way a terminal delivers it: waits until `started` says the work is under way
/// (failing if xtask ends first or `patience` runs out), sends SIGINT to xtask alone (its
/// children run in their own process groups), then waits for xtask to stop after its cleanup.
/// Returns the exit code (None when a signal killed it) and the tail of stderr.
fn interrupt_when(
    xtask: &mut exec::ChildGuard,
    what: &str,
    patience: Duration,
    started: impl FnMut(&exec::ChildGuard) -> bool,
) -> (Option<i32>, String) {
    signal_when(xtask, "INT", what, patience, started)
}

/// [`interrupt_when`] with any signal (`INT`, `TERM`, `KILL`).
fn signal_when(
    xtask: &mut exec::ChildGuard,
    signal: &str,
    what: &str,
    patience: Duration,
    mut started: impl FnMut(&exec::ChildGuard) -> bool,
) -> (Option<i32>, String) {
    let begun = Instant::now();
    while !started(xtask) {
        assert!(
            xtask.try_status().is_none() && begun.elapsed() < patience,
            "{what} never started: {}",
            xtask.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = xtask.id().expect("a running xtask").to_string();
    exec::Shell::new()
        .run(
            &exec::Cmd::new("kill", format!("send SIG{signal} to xtask"))
                .args([&format!("-{signal}"), &pid]),
        )
        .unwrap();
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = xtask.try_status() {
            break status;
        }
        assert!(
            stopping.elapsed() < patience,
            "xtask did not stop after SIG{signal}: {}",
            xtask.stderr_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), xtask.stderr_tail())
}

/// The tests of this binary, run by the workspace's test runner (a test whose component is
/// missing is reported as ignored, with why).
fn main() -> std::process::ExitCode {
    test_harness::run(tests())
}

fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        ;
        artifacts,
        conformance,
        docker_build,
        echo_image,
        kind,
        tidy,
        tools,
        verify_release,
        versions,
        workflows,
    ]
}

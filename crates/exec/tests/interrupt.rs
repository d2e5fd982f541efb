//! Interrupts in their own test binary: the interrupt count is process-wide, so running this
//! beside other tests would interrupt their commands too.

use std::time::Duration;

use exec::{Cmd, ExecError, Shell};

fn sh_c(script: &str) -> Cmd {
    Cmd::new("/bin/sh", "run a test script")
        .arg("-c")
        .arg(script)
}

/// One test covers interrupts: the counter is process-wide, so a second test touching it could
/// interrupt another test's command.
#[test]
fn interrupt_kills_running_commands_and_spares_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("grandchild-survived");
    let script = format!("(sleep 1.5; touch '{}') & sleep 30", marker.display());
    let running = std::thread::spawn(move || Shell::new().run(&sh_c(&script)));
    let mut guard = Shell::new().spawn(&sh_c("sleep 30")).unwrap();
    // Give both children time to start before the interrupt arrives.
    std::thread::sleep(Duration::from_millis(300));
    exec::interrupt();
    let error = running.join().unwrap().unwrap_err();
    assert!(matches!(error, ExecError::Interrupted { .. }), "{error}");
    let error = guard
        .wait_for_line(Duration::from_secs(30), |_| Some(()))
        .unwrap_err();
    assert!(matches!(error, ExecError::Interrupted { .. }), "{error}");
    assert!(exec::was_interrupted());
    // Cleanup after an interrupt still runs.
    let output = Shell::new().run(&sh_c("echo cleaning up")).unwrap();
    assert_eq!(output.stdout_str(), "cleaning up\n");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !marker.exists(),
        "an interrupted command's grandchild survived"
    );
}

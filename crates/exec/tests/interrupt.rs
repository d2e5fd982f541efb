//! Cancellation: a cancelled token kills running commands (with their grandchildren) and
//! stops waits on guarded children, refuses new commands, and leaves a cleanup shell working.

use std::time::Duration;

use cancel::{Reason, Token};
use exec::{Cmd, ExecError, Shell};

fn sh_c(script: &str) -> Cmd {
    Cmd::new("/bin/sh", "run a test script")
        .arg("-c")
        .arg(script)
}

#[test]
fn cancelling_kills_running_commands_and_spares_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("grandchild-survived");
    let token = Token::new();
    let sh = Shell::new().with_cancel(token.clone());
    let script = format!("(sleep 1.5; touch '{}') & sleep 30", marker.display());
    let running = {
        let sh = sh.clone();
        std::thread::spawn(move || sh.run(&sh_c(&script)))
    };
    let mut guard = sh.spawn(&sh_c("sleep 30")).unwrap();
    // Give both children time to start before the cancellation arrives.
    std::thread::sleep(Duration::from_millis(300));
    token.cancel(Reason::Signal(2));
    let error = running.join().unwrap().unwrap_err();
    assert_eq!(error.cancelled(), Some(&Reason::Signal(2)), "{error}");
    assert!(
        error.to_string().contains("interrupted (SIGINT)"),
        "{error}"
    );
    let error = guard
        .wait_for_line(Duration::from_secs(30), |_| Some(()))
        .unwrap_err();
    assert!(matches!(error, ExecError::Cancelled { .. }), "{error}");
    // A cancelled shell starts nothing new.
    let refused = sh.run(&sh_c("echo should not run")).unwrap_err();
    assert!(refused.cancelled().is_some(), "{refused}");
    // Cleanup after a cancellation still runs.
    let output = sh.for_cleanup().run(&sh_c("echo cleaning up")).unwrap();
    assert_eq!(output.stdout_str(), "cleaning up\n");
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !marker.exists(),
        "a cancelled command's grandchild survived"
    );
}

#[test]
fn a_sibling_failure_is_not_an_interrupt() {
    let token = Token::new();
    let branch = token.child();
    let sh = Shell::new().with_cancel(branch.clone());
    branch.cancel(Reason::SiblingFailed("assets".into()));
    let error = sh.run(&sh_c("true")).unwrap_err();
    assert_eq!(
        error.cancelled(),
        Some(&Reason::SiblingFailed("assets".into()))
    );
    assert!(
        error.to_string().contains("because assets failed"),
        "{error}"
    );
    assert!(!token.is_cancelled(), "the run itself was cancelled");
}

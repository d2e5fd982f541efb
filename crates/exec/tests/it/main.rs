//! Behaviour of running real processes: exit codes, stderr in errors, timeouts, dry-run, guards.

use std::time::{Duration, Instant};

use exec::{Cmd, ExecError, Shell};

fn sh_c(script: &str) -> Cmd {
    Cmd::new("/bin/sh", "run a test script")
        .arg("-c")
        .arg(script)
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let output = Shell::new()
        .run(&sh_c("echo out; echo warning >&2"))
        .unwrap();
    assert_eq!(output.stdout_str(), "out\n");
    assert_eq!(output.stderr_str(), "warning\n");
}

#[test]
fn failure_names_command_status_and_stderr() {
    let error = Shell::new()
        .run(&sh_c("echo boom >&2; exit 3"))
        .unwrap_err();
    assert_eq!(error.exit_code(), Some(3));
    let message = error.to_string();
    assert!(message.contains("/bin/sh -c"), "{message}");
    assert!(message.contains("run a test script"), "{message}");
    assert!(message.contains("boom"), "{message}");
}

#[test]
fn missing_program_is_a_spawn_error() {
    let error = Shell::new()
        .run(&Cmd::new("/nonexistent/kind", "list clusters"))
        .unwrap_err();
    assert!(matches!(error, ExecError::Spawn { .. }), "{error}");
}

#[test]
fn timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("grandchild-survived");
    // The grandchild would write the marker after 1.5 s if it were not killed with the group.
    let script = format!("(sleep 1.5; touch '{}') & sleep 30", marker.display());
    let started = Instant::now();
    let error = Shell::new()
        .run(&sh_c(&script).timeout(Duration::from_millis(300)))
        .unwrap_err();
    assert!(matches!(error, ExecError::TimedOut { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!marker.exists(), "a grandchild outlived the timeout");
}

#[test]
fn dry_run_records_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let shell = Shell::new().with_dry_run(true);
    let cmd = Cmd::new("touch", "create a marker").arg(&marker);
    shell.run(&cmd).unwrap();
    assert!(!marker.exists());
    assert_eq!(shell.planned(), vec![cmd]);
}

#[test]
fn shell_env_reaches_the_child_and_command_env_wins() {
    let shell = Shell::new().with_env("A", "shell").with_env("B", "shell");
    let output = shell.run(&sh_c("echo $A $B").env("B", "command")).unwrap();
    assert_eq!(output.stdout_str(), "shell command\n");
}

#[test]
fn stdin_is_delivered() {
    let output = Shell::new()
        .run(&Cmd::new("cat", "echo stdin").stdin_bytes("hello"))
        .unwrap();
    assert_eq!(output.stdout_str(), "hello");
}

#[test]
fn log_file_gets_each_command_with_step_exit_code_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("commands.log");
    let shell = Shell::new().with_log(&log).unwrap();
    shell
        .for_step("cluster")
        .run(&Cmd::new("true", "do nothing").arg("x y"))
        .unwrap();
    let _ = shell.run(&sh_c("exit 3"));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    // `HH:MM:SS.mmm [step] …`: the clock, then the step (or `-`), then what happened.
    let rest = |line: &str| {
        line.split_once(' ').map(|(clock, rest)| {
            assert_eq!(clock.len(), 12, "{line}");
            rest.to_owned()
        })
    };
    assert_eq!(
        rest(lines[0]).unwrap(),
        "[cluster] start true 'x y'   # do nothing"
    );
    let end = rest(lines[1]).unwrap();
    assert!(end.starts_with("[cluster] exit 0 after "), "{end}");
    assert!(end.ends_with("s: true 'x y'"), "{end}");
    assert!(
        rest(lines[2]).unwrap().starts_with("[-] start /bin/sh -c"),
        "{text}"
    );
    assert!(
        rest(lines[3]).unwrap().starts_with("[-] exit 3 after "),
        "{text}"
    );
}

#[test]
fn clones_share_the_plan_and_label_it_by_step() {
    let shell = Shell::new().with_dry_run(true);
    shell
        .for_step("assets")
        .run(&Cmd::new("curl", "fetch"))
        .unwrap();
    shell.run(&Cmd::new("kind", "list")).unwrap();
    let plan = shell.plan_by_step();
    assert_eq!(plan.len(), 2);
    assert_eq!(plan[0].step.as_deref(), Some("assets"));
    assert_eq!(plan[1].step, None);
}

#[test]
fn guard_reports_ready_line_and_kills_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("still-running");
    let script = format!(
        "echo starting; echo 'Forwarding from 127.0.0.1:4321 -> 80'; sleep 1.5; touch '{}'; sleep 30",
        marker.display()
    );
    let mut guard = Shell::new().spawn(&sh_c(&script)).unwrap();
    let port: u16 = guard
        .wait_for_line(Duration::from_secs(10), |line| {
            line.strip_prefix("Forwarding from 127.0.0.1:")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|port| port.parse().ok())
        })
        .unwrap();
    assert_eq!(port, 4321);
    let pid = guard.id().unwrap();
    drop(guard);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !marker.exists(),
        "child kept running after its guard dropped"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "child {pid} was not reaped"
    );
}

#[test]
fn guard_ready_line_timeout_kills_child() {
    let mut guard = Shell::new().spawn(&sh_c("sleep 30")).unwrap();
    let pid = guard.id().expect("a running child");
    let error = guard
        .wait_for_line(Duration::from_millis(200), |_| Some(()))
        .unwrap_err();
    assert!(matches!(error, ExecError::TimedOut { .. }), "{error}");
    // Killed and reaped: the guard holds no child, and the process is gone (not a zombie).
    assert!(guard.id().is_none(), "the guard still holds the child");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} still exists after the timeout"
    );
}

#[test]
fn child_exiting_before_ready_line_is_a_failure_with_stderr() {
    let mut guard = Shell::new()
        .spawn(&sh_c("echo 'error: pod not found' >&2; exit 1"))
        .unwrap();
    let error = guard
        .wait_for_line(Duration::from_secs(10), |_| None::<()>)
        .unwrap_err();
    assert!(error.to_string().contains("pod not found"), "{error}");
}

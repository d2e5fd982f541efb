//! Running commands: the per-run environment, dry-run planning, the command log, timeouts.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use cancel::Token;

use crate::child::{ChildGuard, kill_process_group};
use crate::cmd::Cmd;
use crate::error::{ExecError, tail};

/// What a finished command printed, stdout and stderr kept apart.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn success_placeholder() -> Output {
        use std::os::unix::process::ExitStatusExt;
        Output {
            status: ExitStatus::from_raw(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }
}

/// Runs commands for one run of a tool. Holds environment applied to every command (before the
/// command's own), whether to only plan, where to log each command, the step the commands
/// belong to, and the run's cancellation token. Cloning is cheap and shares the log and the
/// plan: the pipeline gives each step its own clone ([`Shell::for_step`]).
#[derive(Clone, Default)]
pub struct Shell {
    env: Vec<(OsString, OsString)>,
    dry_run: bool,
    log: Option<Arc<Mutex<File>>>,
    plan: Arc<Mutex<Vec<Planned>>>,
    step: Option<Arc<str>>,
    cancel: Token,
}

/// A command recorded by a shell, with the step it ran for.
#[derive(Debug, Clone)]
pub struct Planned {
    pub step: Option<String>,
    pub cmd: Cmd,
}

impl fmt::Debug for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shell")
            .field("env", &self.env)
            .field("dry_run", &self.dry_run)
            .field("step", &self.step)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

impl Shell {
    pub fn new() -> Shell {
        Shell::default()
    }

    /// Sets `key` for every command this shell runs (tests use it for a PATH with fakes first).
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Shell {
        self.env.push((key.into(), value.into()));
        self
    }

    /// In dry-run mode nothing runs: commands are recorded in the plan and succeed empty.
    pub fn with_dry_run(mut self, dry_run: bool) -> Shell {
        self.dry_run = dry_run;
        self
    }

    /// Appends every command (step, purpose, command line, then its exit status and duration)
    /// to `path`.
    pub fn with_log(mut self, path: &Path) -> io::Result<Shell> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        self.log = Some(Arc::new(Mutex::new(file)));
        Ok(self)
    }

    /// Commands observe `token`: none starts once it is cancelled, and a running one is killed
    /// with its process group.
    pub fn with_cancel(mut self, token: Token) -> Shell {
        self.cancel = token;
        self
    }

    /// The same shell (log, plan, env, token) labelling its commands with `step`.
    pub fn for_step(&self, step: &str) -> Shell {
        let mut shell = self.clone();
        shell.step = Some(Arc::from(step));
        shell
    }

    /// The same shell with a live token of its own: for cleanup that must run after the run
    /// was cancelled (deleting a cluster after Ctrl-C). Its commands still time out.
    pub fn for_cleanup(&self) -> Shell {
        let mut shell = self.clone();
        shell.cancel = Token::new();
        shell
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The token this shell's commands observe; waits between commands sleep on it.
    pub fn cancel(&self) -> &Token {
        &self.cancel
    }

    /// The step this shell's commands are labelled with.
    pub fn step(&self) -> Option<&str> {
        self.step.as_deref()
    }

    /// Every command recorded so far (in dry-run mode: the plan; otherwise what ran).
    pub fn planned(&self) -> Vec<Cmd> {
        self.plan_by_step().into_iter().map(|p| p.cmd).collect()
    }

    /// Every command recorded so far, with the step it belongs to.
    pub fn plan_by_step(&self) -> Vec<Planned> {
        stdx::lock(&self.plan).clone()
    }

    fn record(&self, cmd: &Cmd) {
        stdx::lock(&self.plan).push(Planned {
            step: self.step.as_deref().map(str::to_owned),
            cmd: cmd.clone(),
        });
        if !self.dry_run {
            self.log_line(&format!("start {cmd}   # {}", cmd.purpose));
        }
    }

    /// How a command ended, in the log: exit status (or why it did not finish) and duration.
    fn log_end(&self, cmd: &Cmd, outcome: &str, elapsed: Duration) {
        self.log_line(&format!(
            "{outcome} after {:.3}s: {}",
            elapsed.as_secs_f64(),
            cmd.argv()
                .iter()
                .map(|word| crate::cmd::quote_for_display(word))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }

    fn log_line(&self, text: &str) {
        if let Some(log) = &self.log {
            let mut file = stdx::lock(log);
            // A log write failure must not stop the run; the command itself still reports errors.
            let _ = writeln!(
                file,
                "{} [{}] {text}",
                // The date is in the run's folder name.
                stdx::time::clock_millis(SystemTime::now()),
                self.step.as_deref().unwrap_or("-")
            );
        }
    }

    pub(crate) fn build(&self, cmd: &Cmd) -> Command {
        let mut command = Command::new(&cmd.program);
        command.args(&cmd.args);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for (key, value) in &cmd.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(dir) = &cmd.cwd {
            command.current_dir(dir);
        }
        // Its own process group: a timeout kills grandchildren too, and a terminal's Ctrl-C
        // reaches only us, so cleanup runs in order instead of racing the children.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command
    }

    /// Runs `cmd`, and fails unless it exits 0.
    pub fn run(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        let output = self.run_unchecked(cmd)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(ExecError::Failed {
                cmd: cmd.to_string(),
                purpose: cmd.purpose.clone(),
                status: output.status,
                stderr_tail: tail(&output.stderr),
            })
        }
    }

    /// Runs `cmd` and returns its output whatever its exit status; errors only when it could
    /// not be run or timed out.
    pub fn run_unchecked(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        self.record(cmd);
        if self.dry_run {
            return Ok(Output::success_placeholder());
        }
        let started = Instant::now();
        let result = self.execute(cmd);
        let outcome = match &result {
            Ok(output) => match output.status.code() {
                Some(code) => format!("exit {code}"),
                None => format!("{}", output.status),
            },
            Err(ExecError::Cancelled { reason, .. }) => format!("cancelled ({reason})"),
            Err(ExecError::TimedOut { .. }) => "timed out".to_owned(),
            Err(ExecError::Spawn { source, .. }) => format!("not started ({source})"),
            Err(error) => format!("failed ({error})"),
        };
        self.log_end(cmd, &outcome, started.elapsed());
        result
    }

    fn execute(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        if let Some(reason) = self.cancel.reason() {
            return Err(ExecError::Cancelled {
                cmd: cmd.to_string(),
                purpose: cmd.purpose.clone(),
                reason,
            });
        }
        let io_error = |source| ExecError::Io {
            cmd: cmd.to_string(),
            purpose: cmd.purpose.clone(),
            source,
        };
        let mut command = self.build(cmd);
        command
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| ExecError::Spawn {
            cmd: cmd.to_string(),
            purpose: cmd.purpose.clone(),
            source,
        })?;
        let pid = child.id();
        let stdin_writer = match (cmd.stdin.clone(), child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => Some(thread::spawn(move || pipe.write_all(&bytes))),
            _ => None,
        };
        let stdout_reader = spawn_reader(child.stdout.take());
        let stderr_reader = spawn_reader(child.stderr.take());

        let started = Instant::now();
        let status = loop {
            match child.try_wait().map_err(io_error)? {
                Some(status) => break status,
                None => {
                    if let Some(reason) = self.cancel.reason() {
                        kill_process_group(pid);
                        let _ = child.wait();
                        let _ = stderr_reader.join();
                        let _ = stdout_reader.join();
                        return Err(ExecError::Cancelled {
                            cmd: cmd.to_string(),
                            purpose: cmd.purpose.clone(),
                            reason,
                        });
                    }
                    if let Some(limit) = cmd.timeout
                        && started.elapsed() >= limit
                    {
                        kill_process_group(pid);
                        let _ = child.wait();
                        let stderr = stderr_reader.join().unwrap_or_default();
                        let _ = stdout_reader.join();
                        return Err(ExecError::TimedOut {
                            cmd: cmd.to_string(),
                            purpose: cmd.purpose.clone(),
                            after: limit,
                            stderr_tail: tail(&stderr),
                        });
                    }
                    thread::sleep(poll_interval(started.elapsed()));
                }
            }
        };
        // Grandchildren that kept the pipes open would block the readers forever.
        kill_process_group(pid);
        let stdout = stdout_reader.join().unwrap_or_default();
        let stderr = stderr_reader.join().unwrap_or_default();
        if let Some(writer) = stdin_writer {
            // A child that exits without reading all its stdin is not an error of ours.
            let _ = writer.join();
        }
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Starts a long-running child whose stdout the caller reads; stderr is kept (the last
    /// part) for error messages. The guard kills and reaps the child's group on drop.
    pub fn spawn(&self, cmd: &Cmd) -> Result<ChildGuard, ExecError> {
        self.record(cmd);
        if self.dry_run {
            return Ok(ChildGuard::planned(cmd, self.cancel.clone()));
        }
        if let Some(reason) = self.cancel.reason() {
            return Err(ExecError::Cancelled {
                cmd: cmd.to_string(),
                purpose: cmd.purpose.clone(),
                reason,
            });
        }
        ChildGuard::start(self.build(cmd), cmd, self.cancel.clone())
    }
}

/// Polls quickly at first (most tool calls are short) and backs off for long ones.
fn poll_interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_millis(100) {
        Duration::from_millis(2)
    } else if elapsed < Duration::from_secs(2) {
        Duration::from_millis(10)
    } else {
        Duration::from_millis(50)
    }
}

fn spawn_reader<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buffer);
        }
        buffer
    })
}

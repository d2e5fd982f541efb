//! Running commands: the per-run environment, dry-run planning, the command log, timeouts.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{ChildGuard, kill_process_group};
use crate::cmd::Cmd;

/// How much of a failing command's stderr an error quotes.
const STDERR_TAIL_BYTES: usize = 2048;

/// How many interrupts (Ctrl-C, SIGTERM) the process has received.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Marks every command running right now as interrupted: each is killed with its process group
/// and returns [`ExecError::Interrupted`]. Commands started afterwards run normally, so the
/// cleanup that the interrupted caller does on its way out (exporting logs, deleting a cluster)
/// still happens. Called from the binary's signal handler; safe from any thread.
pub fn interrupt() {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

/// Whether [`interrupt`] was ever called in this process.
pub fn was_interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
}

pub(crate) fn interrupt_generation() -> u64 {
    INTERRUPTS.load(Ordering::SeqCst)
}

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

/// Why a command did not succeed. Every variant names the command and its purpose.
#[derive(Debug)]
pub enum ExecError {
    /// The program could not be started at all (not found, not executable).
    Spawn {
        cmd: String,
        purpose: String,
        source: io::Error,
    },
    /// It ran and exited unsuccessfully.
    Failed {
        cmd: String,
        purpose: String,
        status: ExitStatus,
        stderr_tail: String,
    },
    /// It ran longer than its timeout and was killed with its process group.
    TimedOut {
        cmd: String,
        purpose: String,
        after: Duration,
        stderr_tail: String,
    },
    /// Talking to it failed (writing stdin, reading pipes).
    Io {
        cmd: String,
        purpose: String,
        source: io::Error,
    },
    /// The process was interrupted (Ctrl-C) while it ran, and it was killed with its group.
    Interrupted { cmd: String, purpose: String },
}

impl ExecError {
    /// The exit code, when the command ran and exited with one.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExecError::Failed { status, .. } => status.code(),
            _ => None,
        }
    }

    pub fn stderr_tail(&self) -> &str {
        match self {
            ExecError::Failed { stderr_tail, .. } | ExecError::TimedOut { stderr_tail, .. } => {
                stderr_tail
            }
            _ => "",
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Spawn {
                cmd,
                purpose,
                source,
            } => {
                write!(f, "could not start `{cmd}` ({purpose}): {source}")
            }
            ExecError::Failed {
                cmd,
                purpose,
                status,
                stderr_tail,
            } => {
                write!(f, "`{cmd}` ({purpose}) failed with {status}")?;
                if !stderr_tail.trim().is_empty() {
                    write!(f, "; stderr ends with:\n{}", stderr_tail.trim_end())?;
                }
                Ok(())
            }
            ExecError::TimedOut {
                cmd,
                purpose,
                after,
                stderr_tail,
            } => {
                write!(f, "`{cmd}` ({purpose}) was killed after {after:?} timeout")?;
                if !stderr_tail.trim().is_empty() {
                    write!(f, "; stderr ends with:\n{}", stderr_tail.trim_end())?;
                }
                Ok(())
            }
            ExecError::Io {
                cmd,
                purpose,
                source,
            } => {
                write!(f, "talking to `{cmd}` ({purpose}) failed: {source}")
            }
            ExecError::Interrupted { cmd, purpose } => {
                write!(f, "`{cmd}` ({purpose}) was stopped by an interrupt")
            }
        }
    }
}

impl std::error::Error for ExecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecError::Spawn { source, .. } | ExecError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Runs commands for one run of a tool. Holds environment applied to every command (before the
/// command's own), whether to only plan, and where to log each command line.
#[derive(Default)]
pub struct Shell {
    env: Vec<(OsString, OsString)>,
    dry_run: bool,
    log: Option<Mutex<File>>,
    plan: Mutex<Vec<Cmd>>,
}

impl fmt::Debug for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shell")
            .field("env", &self.env)
            .field("dry_run", &self.dry_run)
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

    /// Appends every command line (with its purpose) to `path` before it runs.
    pub fn with_log(mut self, path: &Path) -> io::Result<Shell> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        self.log = Some(Mutex::new(file));
        Ok(self)
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The value this shell gives `key` (its own env first, then the process env).
    pub fn var(&self, key: &str) -> Option<OsString> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var_os(key))
    }

    /// Every command recorded so far (in dry-run mode: the plan; otherwise what ran).
    pub fn planned(&self) -> Vec<Cmd> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, cmd: &Cmd) {
        self.plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(cmd.clone());
        if let Some(log) = &self.log {
            let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
            // A log write failure must not stop the run; the command itself still reports errors.
            let _ = writeln!(file, "# {}\n{}", cmd.purpose, cmd);
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
        let generation = interrupt_generation();
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
                    if interrupt_generation() != generation {
                        kill_process_group(pid);
                        let _ = child.wait();
                        let _ = stderr_reader.join();
                        let _ = stdout_reader.join();
                        return Err(ExecError::Interrupted {
                            cmd: cmd.to_string(),
                            purpose: cmd.purpose.clone(),
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
            return Ok(ChildGuard::planned(cmd));
        }
        ChildGuard::start(self, cmd)
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

/// The last part of a stderr, on a character boundary.
pub(crate) fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= STDERR_TAIL_BYTES {
        return text.into_owned();
    }
    let mut start = text.len() - STDERR_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

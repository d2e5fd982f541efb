//! Long-running children (port-forwards, servers) owned by a guard that kills and reaps them.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::cmd::Cmd;
use crate::error::{ExecError, tail};

/// A running child process. Dropping the guard kills the child's whole process group with
/// SIGKILL and waits for it, so no child outlives its owner's scope.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    stdout: Option<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
    display: String,
    purpose: String,
    /// The run's token: cancelling it stops waits on the child (and kills it).
    cancel: cancel::Token,
}

impl ChildGuard {
    pub(crate) fn planned(cmd: &Cmd, cancel: cancel::Token) -> ChildGuard {
        ChildGuard {
            child: None,
            stdout: None,
            stderr: Arc::default(),
            display: cmd.to_string(),
            purpose: cmd.purpose().to_owned(),
            cancel,
        }
    }

    /// Starts `command` (the shell built it from `cmd`, with its environment).
    pub(crate) fn start(
        mut command: std::process::Command,
        cmd: &Cmd,
        cancel: cancel::Token,
    ) -> Result<ChildGuard, ExecError> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| ExecError::Spawn {
            cmd: cmd.to_string(),
            purpose: cmd.purpose().to_owned(),
            source,
        })?;
        let stderr_buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr_buffer);
            thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let mut buffer = stdx::lock(&sink);
                    buffer.extend_from_slice(&chunk[..n]);
                    // Keep memory bounded for children that chatter for hours.
                    if buffer.len() > 64 * 1024 {
                        let excess = buffer.len() - 32 * 1024;
                        buffer.drain(..excess);
                    }
                }
            });
        }
        Ok(ChildGuard {
            stdout: child.stdout.take(),
            child: Some(child),
            stderr: stderr_buffer,
            display: cmd.to_string(),
            purpose: cmd.purpose().to_owned(),
            cancel,
        })
    }

    /// The child's process id (None for a dry-run placeholder).
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Takes the child's stdout for the caller to read.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Reads stdout line by line until `accept` returns a value, the child exits or `timeout`
    /// passes. Lines read are handed to `accept` in order. On success, the rest of stdout keeps
    /// being drained in the background so the child never blocks on a full pipe.
    pub fn wait_for_line<T: Send + 'static>(
        &mut self,
        timeout: Duration,
        accept: impl FnMut(&str) -> Option<T> + Send + 'static,
    ) -> Result<T, ExecError> {
        let Some(stdout) = self.stdout.take() else {
            return Err(self.io_error(std::io::Error::other("stdout already taken")));
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut accept = accept;
            let mut found = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !found && let Some(value) = accept(&line) {
                    found = true;
                    let _ = sender.send(Some(value));
                }
            }
            if !found {
                let _ = sender.send(None);
            }
        });
        // Wait in slices so a cancellation stops the wait (and the child) promptly.
        let deadline = Instant::now() + timeout;
        let received = loop {
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match receiver.recv_timeout(slice) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(reason) = self.cancel.reason() {
                        self.kill();
                        return Err(ExecError::Cancelled {
                            cmd: self.display.clone(),
                            purpose: self.purpose.clone(),
                            reason,
                        });
                    }
                }
                other => break other,
            }
        };
        match received {
            Ok(Some(value)) => Ok(value),
            Ok(None) => {
                let status = self.wait_briefly();
                Err(ExecError::Failed {
                    cmd: self.display.clone(),
                    purpose: self.purpose.clone(),
                    status: status.unwrap_or_else(|| {
                        use std::os::unix::process::ExitStatusExt;
                        ExitStatus::from_raw(0)
                    }),
                    stderr_tail: self.stderr_tail(),
                })
            }
            Err(_) => {
                self.kill();
                Err(ExecError::TimedOut {
                    cmd: self.display.clone(),
                    purpose: self.purpose.clone(),
                    after: timeout,
                    stderr_tail: self.stderr_tail(),
                })
            }
        }
    }

    /// Whether the child has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten())
    }

    fn wait_briefly(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// What the child has written to stderr lately.
    pub fn stderr_tail(&self) -> String {
        tail(&stdx::lock(&self.stderr))
    }

    /// Kills the child's process group and reaps the child. Safe to call twice.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_process_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn io_error(&self, source: std::io::Error) -> ExecError {
        ExecError::Io {
            cmd: self.display.clone(),
            purpose: self.purpose.clone(),
            source,
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL to the process group led by `pid` (every child is started as a group leader).
pub(crate) fn kill_process_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    #[allow(unsafe_code)]
    // SAFETY: kill(2) takes plain integers and has no memory effects; a stale group id at worst
    // yields ESRCH, which we ignore.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

//! Why a command did not succeed ([`ExecError`]): every variant names the command and its
//! purpose, and a failing command's error quotes the tail of its stderr.

use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use cancel::Reason;

/// How much of a failing command's stderr an error quotes.
const STDERR_TAIL_BYTES: usize = 2048;

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
    /// The run's cancellation token was cancelled (Ctrl-C, SIGTERM, a failed sibling step)
    /// before or while it ran; a running child was killed with its group.
    Cancelled {
        cmd: String,
        purpose: String,
        reason: Reason,
    },
}

impl ExecError {
    /// Why the command was cancelled, when it was.
    pub fn cancelled(&self) -> Option<&Reason> {
        match self {
            ExecError::Cancelled { reason, .. } => Some(reason),
            _ => None,
        }
    }

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
            ExecError::Cancelled {
                cmd,
                purpose,
                reason,
            } => {
                write!(f, "`{cmd}` ({purpose}) was {reason}")
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

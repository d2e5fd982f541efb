//! The error callers branch on: infrastructure broke, an object got stuck, or the input was bad.

use std::fmt;
use std::time::Duration;

use exec::ExecError;

#[derive(Debug)]
pub enum ClusterError {
    /// A tool failed, timed out or could not be started: the environment is broken, not the
    /// release (exit 1, and the cluster is cleaned up).
    Infra { step: String, source: ExecError },
    /// An object did not reach the wanted state before its deadline; `last` says where it was.
    Stuck {
        object: String,
        wanted: String,
        waited: Duration,
        last: String,
    },
    /// The user's input cannot work (a tag, a name, a config value); the message says how to fix
    /// it. Nothing was created.
    BadInput(String),
    /// A tool answered, but not in the shape its documentation promises.
    Unexpected { step: String, message: String },
    /// The run was cancelled (a signal, a failed sibling step) while this waited.
    Cancelled {
        step: String,
        reason: cancel::Reason,
    },
    /// Reading or writing a local file failed.
    Io {
        step: String,
        source: std::io::Error,
    },
}

impl ClusterError {
    pub(crate) fn infra(step: impl Into<String>) -> impl FnOnce(ExecError) -> ClusterError {
        let step = step.into();
        move |source| ClusterError::Infra { step, source }
    }

    pub(crate) fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
        let step = step.into();
        move |source| ClusterError::Io { step, source }
    }

    /// Why the work was cancelled, when it was (a wait, or a command killed by the token).
    pub fn cancelled(&self) -> Option<&cancel::Reason> {
        match self {
            ClusterError::Cancelled { reason, .. } => Some(reason),
            ClusterError::Infra { source, .. } => source.cancelled(),
            _ => None,
        }
    }

    /// Whether the caller should exit 2 (the user must change something) rather than 1.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ClusterError::BadInput(_))
    }
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Infra { step, .. } | ClusterError::Io { step, .. } => f.write_str(step),
            ClusterError::Stuck {
                object,
                wanted,
                waited,
                last,
            } => write!(
                f,
                "{object} was not {wanted} after {}s; last seen: {last}",
                waited.as_secs()
            ),
            ClusterError::BadInput(message) => f.write_str(message),
            ClusterError::Unexpected { step, message } => write!(f, "{step}: {message}"),
            ClusterError::Cancelled { step, reason } => write!(f, "{step}: {reason}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Infra { source, .. } => Some(source),
            ClusterError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl stdx::MaybeBadInput for ClusterError {
    fn bad_input(&self) -> Option<stdx::BadInput> {
        match self {
            ClusterError::BadInput(message) => Some(stdx::BadInput::new(message.clone())),
            _ => None,
        }
    }
}

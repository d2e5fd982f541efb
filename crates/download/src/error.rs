//! Why a fetch failed ([`DownloadError`]), said without ever naming a token.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::{MAX_REDIRECTS, Origin};

/// Why a fetch failed. Callers branch on `Http { status: 404, .. }`, `RateLimited`, ….
#[derive(Debug)]
pub enum DownloadError {
    BadUrl {
        url: String,
        reason: String,
    },
    /// Plain http to a host that is not loopback.
    InsecureUrl {
        url: String,
    },
    /// The expected checksum given by the caller is not 64 hex digits.
    BadChecksum {
        value: String,
    },
    /// A status that retrying cannot fix (404, 401, 403 without rate limiting, …).
    Http {
        url: String,
        status: u16,
        detail: String,
    },
    /// 403/429 with `x-ratelimit-remaining: 0`, or a `Retry-After` too long to wait for.
    RateLimited {
        url: String,
        status: u16,
        /// Epoch seconds from `x-ratelimit-reset`.
        reset_at: Option<u64>,
        retry_after: Option<Duration>,
    },
    /// Every attempt failed with something retryable; `last` says what.
    GaveUp {
        url: String,
        attempts: u32,
        last: String,
    },
    TimedOut {
        url: String,
        after: Duration,
    },
    TooManyRedirects {
        url: String,
    },
    /// The body is (or declares itself) larger than allowed.
    TooLarge {
        url: String,
        limit: u64,
        size: u64,
    },
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
    },
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    /// Stopped on request (a signal, a failed sibling step: `reason` says which); nothing was
    /// kept.
    Cancelled {
        url: String,
        reason: cancel::Reason,
    },
    /// A transport failure retrying cannot fix (TLS certificate, …).
    Transport {
        url: String,
        reason: String,
    },
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

impl DownloadError {
    /// The cancellation's reason, when this error is one (as `ExecError::cancelled` and
    /// `ClusterError::cancelled` say it).
    pub fn cancelled(&self) -> Option<&cancel::Reason> {
        match self {
            DownloadError::Cancelled { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadError::BadUrl { url, reason } => write!(f, "cannot download {url}: {reason}"),
            DownloadError::InsecureUrl { url } => write!(
                f,
                "refusing plain http for {url}: use https (http is only accepted for loopback hosts)"
            ),
            DownloadError::BadChecksum { value } => {
                write!(f, "expected sha256 {value:?} is not 64 hex digits")
            }
            DownloadError::Http {
                url,
                status,
                detail,
            } => {
                write!(f, "GET {url} answered HTTP {status}")?;
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            DownloadError::RateLimited {
                url,
                status,
                reset_at,
                retry_after,
            } => {
                write!(f, "rate limited by {} (HTTP {status})", host_of(url))?;
                if let Some(reset_at) = reset_at {
                    let now = stdx::time::unix_seconds(SystemTime::now());
                    write!(
                        f,
                        "; the limit resets at {}",
                        stdx::time::reset_time(*reset_at, now)
                    )?;
                }
                if let Some(retry_after) = retry_after {
                    write!(
                        f,
                        "; the server asks to retry after {} s",
                        retry_after.as_secs()
                    )?;
                }
                Ok(())
            }
            DownloadError::GaveUp {
                url,
                attempts,
                last,
            } => {
                write!(f, "GET {url} failed {attempts} times; last: {last}")
            }
            DownloadError::TimedOut { url, after } => {
                write!(
                    f,
                    "GET {url} did not finish within the total timeout of {after:?}"
                )
            }
            DownloadError::TooManyRedirects { url } => {
                write!(f, "GET {url} redirected more than {MAX_REDIRECTS} times")
            }
            DownloadError::TooLarge { url, limit, size } => write!(
                f,
                "refusing {url}: its body is at least {size} bytes, more than the {limit} allowed"
            ),
            DownloadError::SizeMismatch {
                url,
                expected,
                actual,
            } => write!(
                f,
                "{url} is {actual} bytes but {expected} were published; the file was discarded"
            ),
            DownloadError::ChecksumMismatch {
                url,
                expected,
                actual,
            } => write!(
                f,
                "{url} has sha256 {actual} but {expected} was published; the file was discarded"
            ),
            DownloadError::Transport { url, reason } => write!(f, "GET {url} failed: {reason}"),
            DownloadError::Cancelled { url, reason } => {
                write!(
                    f,
                    "GET {url} was interrupted ({reason}); nothing of it was kept"
                )
            }
            DownloadError::Io {
                path,
                action,
                source,
            } => {
                write!(f, "cannot {action} {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for DownloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DownloadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn host_of(url: &str) -> String {
    Origin::of(url).map_or_else(|_| url.to_owned(), |origin| origin.host)
}

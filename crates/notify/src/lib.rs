//! notify: tells people how a verification went, through a webhook (a Slack-compatible JSON
//! message, [`post_webhook`]) and a GitHub issue per release that is opened on failure,
//! commented on by later failures and closed by a passing run ([`sync_github_issue`]).
//!
//! All HTTP goes through `download` (retries, the loopback-only rule for plain `http://`, a
//! bearer token bound to the API origin). This crate never prints and never reads the process
//! environment: values come in, typed results go out. The webhook URL and the token are
//! [`download::Secret`]s: no error, `Debug` output or returned value contains them.

mod github;
mod message;
mod webhook;

use std::fmt;
use std::time::{Duration, SystemTime};

pub use github::{GithubOptions, IssueAction, issue_title, sync_github_issue};
pub use message::{Message, run_url};
pub use webhook::{Delivery, WebhookOptions, post_webhook, webhook_payload};

/// Why a notification did not happen. None of them carries the webhook URL or the token.
#[derive(Debug)]
pub enum NotifyError {
    /// Unusable input (a webhook URL that is not https, a repository that is not
    /// `OWNER/NAME`); nothing was sent.
    BadInput { reason: String },
    /// The webhook did not take the message: every attempt failed or the time bound ran out.
    Undelivered { attempts: u32, reason: String },
    /// GitHub refused for want of a permission: the job needs `issues: write`.
    MissingPermission {
        action: String,
        status: u16,
        detail: String,
    },
    /// GitHub's rate limit: nothing more can be done before the reset.
    RateLimited {
        action: String,
        status: u16,
        /// Epoch seconds from `x-ratelimit-reset`.
        reset_at: Option<u64>,
        retry_after: Option<Duration>,
    },
    /// Any other GitHub failure (an unexpected status, no answer, an answer we cannot read).
    Github { action: String, reason: String },
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::BadInput { reason } => f.write_str(reason),
            NotifyError::Undelivered { attempts, reason } => {
                let tries = if *attempts == 1 { "try" } else { "tries" };
                write!(
                    f,
                    "the webhook message was not delivered ({attempts} {tries}): {reason}"
                )
            }
            NotifyError::MissingPermission {
                action,
                status,
                detail,
            } => {
                write!(f, "GitHub refused to {action} (HTTP {status}")?;
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                write!(
                    f,
                    "): the token lacks the `issues: write` permission; add `permissions: issues: write` to the job that runs verify-release"
                )
            }
            NotifyError::RateLimited {
                action,
                status,
                reset_at,
                retry_after,
            } => {
                write!(
                    f,
                    "GitHub's rate limit stopped the request to {action} (HTTP {status})"
                )?;
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
                        "; GitHub asks to retry after {} s",
                        retry_after.as_secs()
                    )?;
                }
                Ok(())
            }
            NotifyError::Github { action, reason } => {
                write!(f, "could not {action} on GitHub: {reason}")
            }
        }
    }
}

impl std::error::Error for NotifyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let secret = download::Secret::new("https://hooks.example/T0/B0/XYZ");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert_eq!(secret.expose(), "https://hooks.example/T0/B0/XYZ");
    }

    #[test]
    fn permission_errors_name_the_permission() {
        let error = NotifyError::MissingPermission {
            action: "open an issue in o/r".to_owned(),
            status: 403,
            detail: "Resource not accessible by integration".to_owned(),
        };
        let text = error.to_string();
        assert!(text.contains("issues: write"), "{text}");
        assert!(text.contains("permissions: issues: write"), "{text}");
    }
}

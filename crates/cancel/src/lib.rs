//! cancel: the run-scoped cancellation token. One [`Token`] is made per run and handed to
//! whoever may block: commands (`exec`), downloads, waits on the cluster, the conformance suite
//! and the pipeline's scheduler. Cancelling it wakes every waiter at once.
//!
//! A token says *why* it was cancelled ([`Reason`]): a signal (Ctrl-C, SIGTERM) or a failing
//! sibling step. The second must never look like the first: the run's exit code and its last
//! lines depend on it. A [`Token::child`] is cancelled with its parent but can also be
//! cancelled alone (one branch of a run), so a failure stops its siblings without stopping the
//! cleanup that runs under the parent.
//!
//! This crate holds no process-global state, never spawns, never prints.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// Why a token was cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The process received a signal: 2 is SIGINT (Ctrl-C), 15 SIGTERM, 1 SIGHUP.
    Signal(i32),
    /// Another step of the run failed (named), so the work in flight is pointless.
    SiblingFailed(String),
}

impl Reason {
    /// The exit code a process stopped for this reason reports: 128 + the signal number.
    pub fn signal_exit_code(&self) -> Option<u8> {
        match self {
            Reason::Signal(signal) => u8::try_from(128 + signal).ok(),
            _ => None,
        }
    }

    pub fn is_signal(&self) -> bool {
        matches!(self, Reason::Signal(_))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Signal(2) => f.write_str("interrupted (SIGINT)"),
            Reason::Signal(15) => f.write_str("terminated (SIGTERM)"),
            Reason::Signal(1) => f.write_str("hung up (SIGHUP)"),
            Reason::Signal(other) => write!(f, "stopped by signal {other}"),
            Reason::SiblingFailed(step) => write!(f, "stopped because {step} failed"),
        }
    }
}

struct Inner {
    reason: Mutex<Option<Reason>>,
    woken: Condvar,
    /// Tokens made by [`Token::child`]; cancelled with this one.
    children: Mutex<Vec<Weak<Inner>>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Option<Reason>> {
        stdx::lock(&self.reason)
    }

    fn cancel(&self, reason: Reason) -> bool {
        {
            let mut current = self.lock();
            if current.is_some() {
                return false;
            }
            *current = Some(reason.clone());
        }
        self.woken.notify_all();
        let children: Vec<Weak<Inner>> = stdx::lock(&self.children).drain(..).collect();
        for child in children.iter().filter_map(Weak::upgrade) {
            child.cancel(reason.clone());
        }
        true
    }
}

/// A cancellation token: a shared flag with a reason, and a condition variable that wakes
/// waiters. Cloning gives another handle to the same token.
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

impl Default for Token {
    fn default() -> Token {
        Token::new()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "Token(cancelled: {reason})"),
            None => f.write_str("Token(live)"),
        }
    }
}

impl Token {
    /// A live token.
    pub fn new() -> Token {
        Token {
            inner: Arc::new(Inner {
                reason: Mutex::new(None),
                woken: Condvar::new(),
                children: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A token cancelled whenever this one is (with the same reason), which can also be
    /// cancelled on its own without touching this one.
    pub fn child(&self) -> Token {
        let child = Token::new();
        let mut children = stdx::lock(&self.inner.children);
        // Checked under the children lock: a parent cancelled concurrently either sees the
        // child in its list or is seen cancelled here.
        if let Some(reason) = self.reason() {
            child.cancel(reason);
        } else {
            children.retain(|weak| weak.strong_count() > 0);
            children.push(Arc::downgrade(&child.inner));
        }
        child
    }

    /// Cancels the token (and its children). The first reason wins; returns whether this call
    /// was the one that cancelled it.
    pub fn cancel(&self, reason: Reason) -> bool {
        self.inner.cancel(reason)
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.lock().is_some()
    }

    /// Why it was cancelled, if it was.
    pub fn reason(&self) -> Option<Reason> {
        self.inner.lock().clone()
    }

    /// Sleeps for `duration` or until the token is cancelled, whichever comes first. Returns
    /// true when it was cancelled: the caller should stop.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut reason = self.inner.lock();
        loop {
            if reason.is_some() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            reason = stdx::sync::wait_timeout(&self.inner.woken, reason, left);
        }
    }

    /// Blocks until the token is cancelled; returns the reason.
    pub fn wait(&self) -> Reason {
        let mut reason = self.inner.lock();
        loop {
            if let Some(reason) = reason.as_ref() {
                return reason.clone();
            }
            reason = stdx::sync::wait(&self.inner.woken, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn sleep_returns_early_when_cancelled_from_another_thread() {
        let token = Token::new();
        let other = token.clone();
        let started = Instant::now();
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            other.cancel(Reason::Signal(2))
        });
        assert!(token.sleep(Duration::from_secs(30)), "sleep was not woken");
        assert!(started.elapsed() < Duration::from_secs(20));
        assert!(canceller.join().unwrap());
        assert_eq!(token.reason(), Some(Reason::Signal(2)));
    }

    #[test]
    fn sleep_runs_out_when_nobody_cancels() {
        let token = Token::new();
        assert!(!token.sleep(Duration::from_millis(5)));
        assert!(!token.is_cancelled());
    }

    #[test]
    fn the_first_reason_wins() {
        let token = Token::new();
        assert!(token.cancel(Reason::SiblingFailed("cluster".into())));
        assert!(!token.cancel(Reason::Signal(15)));
        assert_eq!(
            token.reason(),
            Some(Reason::SiblingFailed("cluster".into()))
        );
        assert_eq!(token.wait(), Reason::SiblingFailed("cluster".into()));
    }

    #[test]
    fn children_follow_their_parent_but_not_the_other_way() {
        let parent = Token::new();
        let branch = parent.child();
        let sibling = parent.child();
        branch.cancel(Reason::SiblingFailed("assets".into()));
        assert!(branch.is_cancelled());
        assert!(!parent.is_cancelled() && !sibling.is_cancelled());
        parent.cancel(Reason::Signal(15));
        assert_eq!(sibling.reason(), Some(Reason::Signal(15)));
        // A child made after the parent was cancelled is born cancelled.
        assert_eq!(parent.child().reason(), Some(Reason::Signal(15)));
        // The branch keeps its own, earlier reason.
        assert_eq!(
            branch.reason(),
            Some(Reason::SiblingFailed("assets".into()))
        );
    }

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(Reason::Signal(2).signal_exit_code(), Some(130));
        assert_eq!(Reason::Signal(15).signal_exit_code(), Some(143));
        assert_eq!(Reason::SiblingFailed("x".into()).signal_exit_code(), None);
        assert!(!Reason::SiblingFailed("x".into()).is_signal());
    }
}

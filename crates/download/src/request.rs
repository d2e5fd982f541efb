//! The values a caller hands a client and gets back: its options (timeouts, retries, size
//! ceiling, cache, cancellation), the bearer token bound to an origin, a request, what a fetch
//! produced, a page of an API answer, the method of a write, and the events a fetch reports.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::{DownloadError, Origin, Secret};

/// How patient and how strict a client is.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connecting, waiting for response headers, and any single wait for body bytes (a
    /// stall). Not the whole body: a large file on a slow link is fine while bytes flow.
    pub request_timeout: Duration,
    /// The whole fetch: every attempt, redirect and wait between retries.
    pub total_timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff delay; doubles per retry, with jitter. Tests use milliseconds.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is reported instead of waited for.
    pub max_retry_after: Duration,
    /// No body may be larger, whatever the server or the caller says.
    pub max_size: u64,
    /// Where verified files are kept by sha256; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    pub user_agent: String,
    /// The run's cancellation token, checked between chunks and woken while waiting to retry:
    /// cancelled stops the fetch (Ctrl-C, a failed sibling step). A read blocked on a silent
    /// server notices within `request_timeout`.
    pub cancel: cancel::Token,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            request_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(30 * 60),
            retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            max_size: 2 * 1024 * 1024 * 1024,
            cache_dir: None,
            user_agent: concat!("release-gate/", env!("CARGO_PKG_VERSION")).to_owned(),
            cancel: cancel::Token::new(),
        }
    }
}

/// A bearer token bound to the one origin allowed to receive it.
#[derive(Clone)]
pub struct Bearer {
    pub(crate) token: Secret,
    pub(crate) origin: Origin,
}

impl Bearer {
    /// `origin_url` is any URL on the origin (for GitHub: the API base URL).
    pub fn new(token: impl Into<String>, origin_url: &str) -> Result<Bearer, DownloadError> {
        Ok(Bearer {
            token: Secret::new(token),
            origin: Origin::of(origin_url)?,
        })
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Bearer(***, for {}://{}:{})",
            self.origin.scheme, self.origin.host, self.origin.port
        )
    }
}

/// What to get and what it must turn out to be.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    /// Lower-case hex; the file is refused unless its sha256 is this.
    pub expected_sha256: Option<String>,
    /// The size the publisher stated; a larger body is refused as soon as it shows.
    pub expected_size: Option<u64>,
    pub bearer: Option<Bearer>,
    /// Extra request headers (never put a secret here: use `bearer`).
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn new(url: impl Into<String>) -> Request {
        Request {
            url: url.into(),
            expected_sha256: None,
            expected_size: None,
            bearer: None,
            headers: Vec::new(),
        }
    }

    pub fn sha256(mut self, sha256: impl Into<String>) -> Request {
        self.expected_sha256 = Some(sha256.into());
        self
    }

    pub fn size(mut self, size: u64) -> Request {
        self.expected_size = Some(size);
        self
    }

    pub fn bearer(mut self, bearer: Option<Bearer>) -> Request {
        self.bearer = bearer;
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A verified file in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Copied out of the cache: nothing was downloaded.
    pub from_cache: bool,
    /// Attempts made (1 when nothing failed; 0 for a cache hit).
    pub attempts: u32,
}

/// A small answer held in memory (an API response).
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The URL that finally answered, after redirects.
    pub url: String,
    /// Attempts made (1 when nothing failed).
    pub attempts: u32,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        stdx::http::header(&self.headers, name)
    }
}

/// The writes [`Client::send`] makes. A write is retried like a GET (the caller sets
/// `retries: 0` when a repeated write would do harm) and follows only the redirects that keep
/// its method and body (307, 308).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

/// What happens during a fetch, for progress displays and logs. Never carries a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A response body starts (again, at `offset`, after a resume).
    Started {
        url: String,
        total: Option<u64>,
        offset: u64,
    },
    Progress {
        done: u64,
        total: Option<u64>,
    },
    /// Waiting `delay` before retry number `attempt`.
    Retrying {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// A verified copy came from the cache.
    CacheHit {
        sha256: String,
    },
}

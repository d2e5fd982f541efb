//! download: HTTP GETs that survive faults and never leave an unverified file behind.
//!
//! [`Client::fetch`] streams a body to `DEST.part` while hashing it, retries connect errors,
//! timeouts, 5xx and 429 with exponential backoff and jitter (honouring `Retry-After`), resumes
//! with `Range` after a dropped connection, refuses bodies over a size ceiling, verifies size and
//! sha256, and only then renames the file into place. On failure the `.part` is removed.
//! [`Client::get`] is the same machinery for small API answers kept in memory, and
//! [`Client::send`] for the few writes the gate makes (a POST or PATCH with a JSON body).
//!
//! A bearer token is sent only to the origin (scheme, host, port) it was given for, on every
//! hop: a redirect to another host never carries it. Plain `http://` is refused except to
//! loopback hosts. This crate never prints, never reads the process environment and never
//! puts a token into an error, an event or a file.

mod cache;
mod hasher;
mod retry;
mod secret;
mod url;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use hasher::BackgroundHasher;

pub use cache::Cache;
pub use retry::{backoff, parse_retry_after};
pub use secret::Secret;
pub use url::{Origin, check_transport, resolve};

/// Redirect hops followed before giving up (GitHub asset downloads take one or two).
const MAX_REDIRECTS: u32 = 10;
/// Bodies are read and hashed in chunks of this size; memory use does not grow with the file.
const CHUNK: usize = 256 * 1024;
/// Ceiling for [`Client::get`] bodies (API answers), whatever `max_size` says.
const MAX_PAGE: u64 = 32 * 1024 * 1024;

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
    token: Secret,
    origin: Origin,
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
                    let minutes = reset_at.saturating_sub(now).div_ceil(60);
                    write!(
                        f,
                        "; the limit resets at {} (in about {minutes} min)",
                        stdx::time::readable(*reset_at)
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

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Whether `text` is a sha256 in lower-case hex.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `DEST.part`, next to the destination (same filesystem, so the final rename is atomic).
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// Why one attempt did not finish.
enum Failure {
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Fatal(DownloadError),
}

impl From<DownloadError> for Failure {
    fn from(error: DownloadError) -> Failure {
        Failure::Fatal(error)
    }
}

/// One try at a request, given the overall deadline and the event sink.
type Attempt<'a> = dyn FnMut(Instant, &mut dyn FnMut(Event)) -> Result<(), Failure> + 'a;

/// The state of a body being written: kept across attempts so a resume continues it.
struct Sink<'a> {
    file: File,
    path: &'a Path,
    hasher: BackgroundHasher,
    written: u64,
}

impl Sink<'_> {
    fn restart(&mut self) -> Result<(), DownloadError> {
        let io = |source| DownloadError::Io {
            path: self.path.to_owned(),
            action: "truncate",
            source,
        };
        self.file.set_len(0).map_err(io)?;
        self.file.rewind().map_err(|source| DownloadError::Io {
            path: self.path.to_owned(),
            action: "rewind",
            source,
        })?;
        self.hasher = BackgroundHasher::new(CHUNK);
        self.written = 0;
        Ok(())
    }
}

/// An HTTP client with a retry policy, a size ceiling and an optional cache.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    options: Options,
}

impl Client {
    pub fn new(options: Options) -> Client {
        // ureq never picks native-tls by itself; the system's roots are the ones users trust.
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            // Redirects are followed here, hop by hop, so each hop's host decides the token.
            .max_redirects(0)
            .user_agent(options.user_agent.as_str())
            .timeout_connect(Some(options.request_timeout))
            .timeout_recv_response(Some(options.request_timeout))
            .timeout_per_read(Some(options.request_timeout))
            .build();
        Client {
            agent: config.new_agent(),
            options,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Downloads `request` to `dest`, verified. See the crate docs for the guarantees.
    pub fn fetch(
        &self,
        request: &Request,
        dest: &Path,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Fetched, DownloadError> {
        check_transport(&request.url)?;
        if let Some(expected) = &request.expected_sha256
            && !is_sha256_hex(expected)
        {
            return Err(DownloadError::BadChecksum {
                value: expected.clone(),
            });
        }
        let part = part_path(dest);
        if let Some(parent) = dest.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent).map_err(|source| DownloadError::Io {
                path: parent.to_owned(),
                action: "create the folder",
                source,
            })?;
        }
        let cache = self.options.cache_dir.as_ref().map(Cache::new);
        if let (Some(cache), Some(expected)) = (&cache, &request.expected_sha256) {
            let restored = cache
                .restore(expected, request.expected_size, &part)
                .map_err(|source| {
                    let _ = fs::remove_file(&part);
                    DownloadError::Io {
                        path: cache.entry(expected),
                        action: "read the cache entry",
                        source,
                    }
                })?;
            if restored {
                let size = fs::metadata(&part).map(|m| m.len()).unwrap_or_default();
                fs::rename(&part, dest).map_err(|source| {
                    let _ = fs::remove_file(&part);
                    DownloadError::Io {
                        path: dest.to_owned(),
                        action: "move into place",
                        source,
                    }
                })?;
                on_event(Event::CacheHit {
                    sha256: expected.clone(),
                });
                return Ok(Fetched {
                    path: dest.to_owned(),
                    sha256: expected.clone(),
                    size,
                    from_cache: true,
                    attempts: 0,
                });
            }
        }
        let result =
            self.download(request, &part, on_event)
                .and_then(|(sha256, size, attempts)| {
                    verify(request, &sha256, size)?;
                    fs::rename(&part, dest).map_err(|source| DownloadError::Io {
                        path: dest.to_owned(),
                        action: "move into place",
                        source,
                    })?;
                    Ok(Fetched {
                        path: dest.to_owned(),
                        sha256,
                        size,
                        from_cache: false,
                        attempts,
                    })
                });
        match result {
            Ok(fetched) => {
                if let Some(cache) = &cache {
                    // A cache that cannot be written only costs a later download.
                    let _ = cache.store(dest, &fetched.sha256);
                }
                Ok(fetched)
            }
            Err(error) => {
                let _ = fs::remove_file(&part);
                Err(error)
            }
        }
    }

    /// Downloads into `part`, retrying and resuming; returns (sha256, size, attempts).
    fn download(
        &self,
        request: &Request,
        part: &Path,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(String, u64, u32), DownloadError> {
        let file = File::create(part).map_err(|source| DownloadError::Io {
            path: part.to_owned(),
            action: "create",
            source,
        })?;
        let mut sink = Sink {
            file,
            path: part,
            hasher: BackgroundHasher::new(CHUNK),
            written: 0,
        };
        let limit = request.expected_size.map_or(self.options.max_size, |size| {
            size.min(self.options.max_size)
        });
        let attempts = self.with_retries(&request.url, on_event, &mut |deadline, on_event| {
            self.attempt_body(request, &mut sink, limit, deadline, on_event)
        })?;
        let Sink {
            hasher, written, ..
        } = sink;
        Ok((hasher.finish(), written, attempts))
    }

    /// Runs `attempt` until it succeeds, fails fatally, runs out of retries or of time.
    fn with_retries(
        &self,
        url: &str,
        on_event: &mut dyn FnMut(Event),
        attempt: &mut Attempt<'_>,
    ) -> Result<u32, DownloadError> {
        let started = Instant::now();
        let deadline = started + self.options.total_timeout;
        let mut failures = 0;
        loop {
            if let Some(reason) = self.options.cancel.reason() {
                return Err(DownloadError::Cancelled {
                    url: url.to_owned(),
                    reason,
                });
            }
            match attempt(deadline, on_event) {
                Ok(()) => return Ok(failures + 1),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retry {
                    reason,
                    retry_after,
                }) => {
                    if failures >= self.options.retries {
                        return Err(DownloadError::GaveUp {
                            url: url.to_owned(),
                            attempts: failures + 1,
                            last: reason,
                        });
                    }
                    let delay = retry_after.unwrap_or_else(|| {
                        backoff(
                            self.options.backoff_base,
                            self.options.backoff_max,
                            failures,
                        )
                    });
                    if Instant::now() + delay >= deadline {
                        return Err(DownloadError::TimedOut {
                            url: url.to_owned(),
                            after: self.options.total_timeout,
                        });
                    }
                    failures += 1;
                    on_event(Event::Retrying {
                        attempt: failures,
                        delay,
                        reason,
                    });
                    self.wait(url, delay)?;
                }
            }
        }
    }

    /// Sleeps `delay` on the cancellation token, so a cancel does not wait out a long
    /// `Retry-After`.
    fn wait(&self, url: &str, delay: Duration) -> Result<(), DownloadError> {
        // A token's reason is set before it wakes sleepers: a sleep cut short has one.
        if self.options.cancel.sleep(delay)
            && let Some(reason) = self.options.cancel.reason()
        {
            return Err(DownloadError::Cancelled {
                url: url.to_owned(),
                reason,
            });
        }
        Ok(())
    }

    /// One GET whose body goes into `sink`, continuing at `sink.written` with `Range`.
    fn attempt_body(
        &self,
        request: &Request,
        sink: &mut Sink<'_>,
        limit: u64,
        deadline: Instant,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), Failure> {
        let offset = sink.written;
        let range = (offset > 0).then_some(offset);
        let (response, url) = self.exchange(request, range, deadline)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let content_length: Option<u64> =
            header("content-length").and_then(|v| v.trim().parse().ok());
        match status {
            200 if offset > 0 => {
                // The server ignored our Range: start over rather than append a second copy.
                sink.restart()?;
            }
            200 => {}
            206 => {
                let start = header("content-range").and_then(content_range_start);
                if start != Some(offset) {
                    sink.restart()?;
                    return Err(Failure::Retry {
                        reason: format!("the server resumed at {start:?}, not at byte {offset}"),
                        retry_after: None,
                    });
                }
            }
            416 if offset > 0 => {
                sink.restart()?;
                return Err(Failure::Retry {
                    reason: format!("the server cannot resume at byte {offset} (HTTP 416)"),
                    retry_after: None,
                });
            }
            _ => return Err(self.classify_status(&url, status, &headers, "")),
        }
        let total = content_length.map(|length| sink.written + length);
        if let Some(total) = total
            && total > limit
        {
            return Err(Failure::Fatal(DownloadError::TooLarge {
                url,
                limit,
                size: total,
            }));
        }
        on_event(Event::Started {
            url: url.clone(),
            total,
            offset: sink.written,
        });
        let mut reader = response.into_body().into_reader();
        loop {
            // Whatever one read returns is written at once: waiting to fill a whole chunk
            // stalls the socket and measured three times slower on loopback.
            let mut buffer = sink.hasher.buffer();
            let mut broke = None;
            let mut ended = false;
            let filled = loop {
                match reader.read(&mut buffer) {
                    Ok(0) => {
                        ended = true;
                        break 0;
                    }
                    Ok(read) => break read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        broke = Some(error);
                        break 0;
                    }
                }
            };
            if filled > 0 {
                if sink.written + filled as u64 > limit {
                    return Err(Failure::Fatal(DownloadError::TooLarge {
                        url,
                        limit,
                        size: sink.written + filled as u64,
                    }));
                }
                sink.file
                    .write_all(&buffer[..filled])
                    .map_err(|source| DownloadError::Io {
                        path: sink.path.to_owned(),
                        action: "write",
                        source,
                    })?;
                sink.hasher.update(buffer, filled);
                sink.written += filled as u64;
                on_event(Event::Progress {
                    done: sink.written,
                    total,
                });
            }
            if let Some(error) = broke {
                // What arrived is kept: the next attempt asks for the rest with Range.
                return Err(Failure::Retry {
                    reason: format!("the body broke off after {} bytes: {error}", sink.written),
                    retry_after: None,
                });
            }
            if let Some(reason) = self.options.cancel.reason() {
                return Err(Failure::Fatal(DownloadError::Cancelled { url, reason }));
            }
            if ended {
                break;
            }
        }
        if let Some(total) = total
            && sink.written < total
        {
            return Err(Failure::Retry {
                reason: format!("the body ended after {} of {total} bytes", sink.written),
                retry_after: None,
            });
        }
        Ok(())
    }

    /// GETs a small document (an API answer) into memory, with the same retries, redirect and
    /// token rules as [`Client::fetch`]. Any final status other than 2xx is an error.
    pub fn get(
        &self,
        request: &Request,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Page, DownloadError> {
        self.answer(None, request, on_event)
    }

    /// Sends `body` with `method` (set its `Content-Type` in `request.headers`) and reads the
    /// answer into memory, with the retry, transport and token rules of [`Client::get`].
    /// Any final status other than 2xx is an error.
    pub fn send(
        &self,
        method: Method,
        request: &Request,
        body: &[u8],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Page, DownloadError> {
        self.answer(Some((method, body)), request, on_event)
    }

    /// A GET (`write` is `None`) or a write, its answer kept in memory.
    fn answer(
        &self,
        write: Option<(Method, &[u8])>,
        request: &Request,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Page, DownloadError> {
        check_transport(&request.url)?;
        let mut page = None;
        let attempts = self.with_retries(&request.url, on_event, &mut |deadline, _| {
            let (response, url) = self.exchange_with(request, write, None, deadline)?;
            let status = response.status().as_u16();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let raw_headers = response.headers().clone();
            let limit = MAX_PAGE.min(self.options.max_size);
            let mut body = Vec::new();
            let read = response
                .into_body()
                .into_with_config()
                .limit(limit)
                .reader()
                .read_to_end(&mut body);
            if let Err(error) = read {
                if body.len() as u64 >= limit {
                    return Err(Failure::Fatal(DownloadError::TooLarge {
                        url,
                        limit,
                        size: body.len() as u64,
                    }));
                }
                return Err(Failure::Retry {
                    reason: format!("reading the answer failed: {error}"),
                    retry_after: None,
                });
            }
            if !(200..300).contains(&status) {
                let detail = String::from_utf8_lossy(&body[..body.len().min(300)])
                    .trim()
                    .to_owned();
                return Err(self.classify_status(&url, status, &raw_headers, &detail));
            }
            page = Some(Page {
                status,
                headers,
                body,
                url,
                attempts: 0,
            });
            Ok(())
        })?;
        page.map(|page| Page { attempts, ..page })
            .ok_or_else(|| DownloadError::Transport {
                url: request.url.clone(),
                reason: "no answer".to_owned(),
            })
    }

    /// Sends the GET, following redirects hop by hop. Every hop must pass the transport rule;
    /// the bearer token goes only to its own origin.
    fn exchange(
        &self,
        request: &Request,
        range: Option<u64>,
        deadline: Instant,
    ) -> Result<(ureq::http::Response<ureq::Body>, String), Failure> {
        self.exchange_with(request, None, range, deadline)
    }

    /// [`Client::exchange`] for a GET or a write. A write follows only 307 and 308, which
    /// repeat it with the same method and body; any other redirect is its final answer.
    fn exchange_with(
        &self,
        request: &Request,
        write: Option<(Method, &[u8])>,
        range: Option<u64>,
        deadline: Instant,
    ) -> Result<(ureq::http::Response<ureq::Body>, String), Failure> {
        let mut url = request.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let origin = check_transport(&url)?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Failure::Fatal(DownloadError::TimedOut {
                    url,
                    after: self.options.total_timeout,
                }));
            }
            let mut headers: Vec<(&str, String)> = request
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.clone()))
                .collect();
            if let Some(bearer) = &request.bearer
                && bearer.origin == origin
            {
                headers.push(("Authorization", format!("Bearer {}", bearer.token.expose())));
            }
            if let Some(offset) = range {
                headers.push(("Range", format!("bytes={offset}-")));
            }
            let sent = match write {
                None => {
                    let mut builder = self
                        .agent
                        .get(&url)
                        .config()
                        .timeout_global(Some(remaining))
                        .build();
                    for (name, value) in &headers {
                        builder = builder.header(*name, value.as_str());
                    }
                    builder.call()
                }
                Some((method, body)) => {
                    let builder = match method {
                        Method::Post => self.agent.post(&url),
                        Method::Patch => self.agent.patch(&url),
                    };
                    let mut builder = builder.config().timeout_global(Some(remaining)).build();
                    for (name, value) in &headers {
                        builder = builder.header(*name, value.as_str());
                    }
                    builder.send(body)
                }
            };
            let response = sent.map_err(|error| transport_failure(&url, error))?;
            let status = response.status().as_u16();
            let redirects: &[u16] = match write {
                None => &[301, 302, 303, 307, 308],
                Some(_) => &[307, 308],
            };
            if redirects.contains(&status) {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|value| value.to_str().ok())
                    .ok_or_else(|| DownloadError::Transport {
                        url: url.clone(),
                        reason: format!("HTTP {status} without a Location header"),
                    })?;
                url = resolve(&url, location);
                continue;
            }
            return Ok((response, url));
        }
        Err(Failure::Fatal(DownloadError::TooManyRedirects {
            url: request.url.clone(),
        }))
    }

    /// Decides what a non-success status means: retry (408, 429, 5xx, and 403 with a short
    /// `Retry-After`), a rate limit to report, or a final answer.
    fn classify_status(
        &self,
        url: &str,
        status: u16,
        headers: &ureq::http::HeaderMap,
        detail: &str,
    ) -> Failure {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let retry_after =
            header("retry-after").and_then(|value| parse_retry_after(value, SystemTime::now()));
        let exhausted = header("x-ratelimit-remaining").is_some_and(|value| value.trim() == "0");
        let reset_at = header("x-ratelimit-reset").and_then(|value| value.trim().parse().ok());
        let rate_limited = matches!(status, 403 | 429) && (exhausted || retry_after.is_some());
        if rate_limited {
            return match retry_after {
                Some(wait) if wait <= self.options.max_retry_after => Failure::Retry {
                    reason: format!(
                        "HTTP {status}, rate limited; waiting {} s as asked",
                        wait.as_secs()
                    ),
                    retry_after: Some(wait),
                },
                _ => Failure::Fatal(DownloadError::RateLimited {
                    url: url.to_owned(),
                    status,
                    reset_at,
                    retry_after,
                }),
            };
        }
        if status == 408 || status == 429 || (500..600).contains(&status) {
            return Failure::Retry {
                reason: format!("HTTP {status}"),
                retry_after: retry_after.filter(|wait| *wait <= self.options.max_retry_after),
            };
        }
        Failure::Fatal(DownloadError::Http {
            url: url.to_owned(),
            status,
            detail: detail.to_owned(),
        })
    }
}

/// Transport errors: connection trouble and timeouts are worth another try; a bad URL or a
/// TLS verification failure is not.
fn transport_failure(url: &str, error: ureq::Error) -> Failure {
    match error {
        ureq::Error::Timeout(_)
        | ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => Failure::Retry {
            reason: error.to_string(),
            retry_after: None,
        },
        other => Failure::Fatal(DownloadError::Transport {
            url: url.to_owned(),
            reason: other.to_string(),
        }),
    }
}

/// `bytes START-END/TOTAL` → START.
fn content_range_start(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn verify(request: &Request, sha256: &str, size: u64) -> Result<(), DownloadError> {
    if let Some(expected) = request.expected_size
        && expected != size
    {
        return Err(DownloadError::SizeMismatch {
            url: request.url.clone(),
            expected,
            actual: size,
        });
    }
    if let Some(expected) = &request.expected_sha256
        && expected != sha256
    {
        return Err(DownloadError::ChecksumMismatch {
            url: request.url.clone(),
            expected: expected.clone(),
            actual: sha256.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_path_sits_next_to_dest() {
        assert_eq!(part_path(Path::new("/d/a.tgz")), Path::new("/d/a.tgz.part"));
    }

    #[test]
    fn bearer_debug_hides_the_token() {
        let bearer = Bearer::new("s3cr3t", "https://api.github.com").unwrap();
        assert!(!format!("{bearer:?}").contains("s3cr3t"));
    }

    #[test]
    fn content_range_start_parses() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
    }
}

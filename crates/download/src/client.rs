//! The client: its agent and options, the retry loop every request goes through (backoff,
//! `Retry-After`, the total deadline, cancellation), and the in-memory exchanges ([`Client::get`]
//! for API answers, [`Client::send`] for the few writes) with their redirect and token rules.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use crate::{
    DownloadError, Event, MAX_PAGE, MAX_REDIRECTS, Method, Options, Page, Request, backoff,
    check_transport, parse_retry_after, resolve,
};

/// Why one attempt did not finish.
pub(crate) enum Failure {
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
pub(crate) type Attempt<'a> = dyn FnMut(Instant, &mut dyn FnMut(Event)) -> Result<(), Failure> + 'a;

/// An HTTP client with a retry policy, a size ceiling and an optional cache.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) agent: ureq::Agent,
    pub(crate) options: Options,
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
}

impl Client {
    /// Runs `attempt` until it succeeds, fails fatally, runs out of retries or of time.
    pub(crate) fn with_retries(
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
    pub(crate) fn wait(&self, url: &str, delay: Duration) -> Result<(), DownloadError> {
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
    pub(crate) fn answer(
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
    pub(crate) fn exchange(
        &self,
        request: &Request,
        range: Option<u64>,
        deadline: Instant,
    ) -> Result<(ureq::http::Response<ureq::Body>, String), Failure> {
        self.exchange_with(request, None, range, deadline)
    }

    /// [`Client::exchange`] for a GET or a write. A write follows only 307 and 308, which
    /// repeat it with the same method and body; any other redirect is its final answer.
    pub(crate) fn exchange_with(
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
    pub(crate) fn classify_status(
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
pub(crate) fn transport_failure(url: &str, error: ureq::Error) -> Failure {
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

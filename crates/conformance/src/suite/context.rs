//! One case being run: the suite's client and request count, sending with the suite's
//! timeouts, the eventually-consistent retry loop, and the connectivity family (listeners,
//! the second listener, health endpoints).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::cases::{self, CaseInfo, Expect, Probe};
use crate::client::{BaseUrl, Client, Request, Response};
use crate::fixture::V1;
use crate::results::ObservedSplit;

use super::matching::check;
use super::{Failure, SuiteConfig, failed, is_cancelled, split_url};

pub(super) struct Context<'a> {
    pub(super) config: &'a SuiteConfig,
    pub(super) client: Client,
    pub(super) requests: AtomicU64,
}

impl Context<'_> {
    pub(super) fn new(config: &SuiteConfig) -> Context<'_> {
        let base = BaseUrl::parse(&config.gateway_url).expect("validated before any case runs");
        Context {
            config,
            client: Client::new(base, config.request_timeout),
            requests: AtomicU64::new(0),
        }
    }

    pub(super) fn send_with(&self, client: &Client, request: &Request) -> Result<Response, String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        client.send(request).map_err(|error| error.to_string())
    }

    pub(super) fn send(&self, request: &Request) -> Result<Response, String> {
        self.send_with(&self.client, request)
    }

    /// The split tests' plan: responses can be counted out of the gateway's order by as many
    /// as are in flight at once, which the block rule's tolerance allows for.
    pub(super) fn plan(&self) -> stats::Plan {
        stats::Plan {
            reorder: self.config.plan.reorder.max(self.config.concurrency),
            ..self.config.plan
        }
    }

    pub(super) fn cancelled(&self) -> bool {
        is_cancelled(self.config)
    }

    pub(super) fn run(
        &self,
        case: &CaseInfo,
        split: &mut Option<ObservedSplit>,
        decision: &mut Option<String>,
    ) -> Result<(), Failure> {
        if let Some(probes) = cases::routing_probes(case.name) {
            return self.eventually(|| self.check_probes(&self.client, &probes));
        }
        match case.name {
            cases::LISTENER_CONNECTIVITY => self.listeners(),
            cases::GATEWAY_HEALTH_ENDPOINTS => self.health_endpoints(),
            cases::LISTENER_SECOND_PORT => self.second_listener(),
            cases::LB_EVENNESS => self.evenness(split, decision),
            cases::WEIGHTED_SPLIT => self.weighted(split, decision),
            cases::HEALTH_EVICTION => self.eviction(),
            other => unreachable!("case {other} has no runner"),
        }
    }

    /// Repeats `attempt` until it succeeds `successes` times in a row; fails at the deadline
    /// with the last mismatch.
    pub(super) fn eventually(
        &self,
        mut attempt: impl FnMut() -> Result<(), String>,
    ) -> Result<(), Failure> {
        let consistency = self.config.consistency;
        let started = Instant::now();
        let mut in_a_row = 0;
        let mut attempts = 0u64;
        let mut failures = 0u64;
        let mut recent: Vec<String> = Vec::new();
        loop {
            if self.cancelled() {
                return Err(failed(
                    "interrupted before the case could pass",
                    format!("{attempts} attempts over {:.1?}", started.elapsed()),
                ));
            }
            attempts += 1;
            match attempt() {
                Ok(()) => {
                    in_a_row += 1;
                    if in_a_row >= consistency.successes {
                        return Ok(());
                    }
                }
                Err(mismatch) => {
                    in_a_row = 0;
                    failures += 1;
                    if recent.last() != Some(&mismatch) {
                        recent.push(mismatch);
                        if recent.len() > 5 {
                            recent.remove(0);
                        }
                    }
                }
            }
            let elapsed = started.elapsed();
            if elapsed >= consistency.deadline {
                let last = recent.last().cloned().unwrap_or_else(|| {
                    "the last attempts succeeded, but not enough of them in a row".to_owned()
                });
                return Err(failed(
                    format!(
                        "{last} (still failing at the {:.0?} deadline; a pass needs {} good attempts in a row)",
                        consistency.deadline, consistency.successes
                    ),
                    format!(
                        "{attempts} attempts, {failures} failed, over {elapsed:.1?}; most recent mismatches, oldest first:\n{}",
                        recent.join("\n")
                    ),
                ));
            }
            if in_a_row == 0 {
                let left = consistency.deadline.saturating_sub(elapsed);
                self.config.cancel.sleep(consistency.poll.min(left));
            }
        }
    }

    pub(super) fn check_probes(&self, client: &Client, probes: &[Probe]) -> Result<(), String> {
        for probe in probes {
            let response = self.send_with(client, &probe.request)?;
            check(&probe.request, &response, &probe.expect)
                .map_err(|mismatch| format!("{mismatch}: {}", probe.rule))?;
        }
        Ok(())
    }
}

impl Context<'_> {
    pub(super) fn listeners(&self) -> Result<(), Failure> {
        let urls = if self.config.listeners.is_empty() {
            vec![self.config.gateway_url.clone()]
        } else {
            self.config.listeners.clone()
        };
        let clients: Vec<Client> = urls
            .iter()
            .map(|url| {
                Client::new(
                    BaseUrl::parse(url).expect("validated"),
                    self.config.request_timeout,
                )
            })
            .collect();
        self.eventually(|| {
            for (url, client) in urls.iter().zip(&clients) {
                client
                    .probe_tcp()
                    .map_err(|error| format!("listener {url} refuses TCP connections: {error}"))?;
                let request = Request::get("/");
                let response = self.send_with(client, &request)?;
                check(&request, &response, &Expect::Backend(V1))
                    .map_err(|mismatch| format!("listener {url}: {mismatch}"))?;
            }
            Ok(())
        })
    }

    pub(super) fn second_listener(&self) -> Result<(), Failure> {
        let Some(url) = &self.config.second_listener else {
            return Err(Failure::Skipped(
                "no URL for the Gateway's second listener was given (--second-listener; on a cluster, a port-forward to port 8080)"
                    .to_owned(),
            ));
        };
        let client = Client::new(
            BaseUrl::parse(url).expect("validated"),
            self.config.request_timeout,
        );
        let probes = cases::second_listener_probes();
        self.eventually(|| {
            client
                .probe_tcp()
                .map_err(|error| format!("listener {url} refuses TCP connections: {error}"))?;
            self.check_probes(&client, &probes)
                .map_err(|mismatch| format!("listener {url}: {mismatch}"))
        })
    }

    pub(super) fn health_endpoints(&self) -> Result<(), Failure> {
        if self.config.health_urls.is_empty() {
            return Err(Failure::Skipped(
                "no gateway health endpoint is configured ([conformance] health_urls or --health-url)"
                    .to_owned(),
            ));
        }
        let endpoints: Vec<(Client, String, &String)> = self
            .config
            .health_urls
            .iter()
            .map(|url| {
                let (base, path) = split_url(url).expect("validated");
                (Client::new(base, self.config.request_timeout), path, url)
            })
            .collect();
        self.eventually(|| {
            for (client, path, url) in &endpoints {
                let response = self.send_with(client, &Request::get(path))?;
                if !(200..300).contains(&response.status) {
                    return Err(format!(
                        "health endpoint {url} answered {}, want 2xx",
                        response.status
                    ));
                }
            }
            Ok(())
        })
    }
}

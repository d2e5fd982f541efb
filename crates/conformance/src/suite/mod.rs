//! Running the cases: the suite configuration, the eventually-consistent loop, the statistical
//! cases driven through `stats`, the health-eviction dance, and the results they produce.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

mod context;
mod matching;
mod split;

use context::Context;
pub use matching::check;

use crate::cases::{self, CaseInfo};
use crate::client::BaseUrl;
use crate::results::{CaseResult, GatewayApi, Implementation, Mode, Outcome, SuiteResults};

/// How to reach one replica's health toggle (`POST {url}/_echo/health/fail|ok`): directly in
/// local mode, through a port-forward to the pod on a cluster, never through the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaControl {
    /// The replica's pod name, as its echo body reports it.
    pub pod: String,
    /// `http://HOST:PORT` of the replica itself.
    pub url: String,
}

/// "Eventually consistent": a case passes after `successes` consecutive good attempts, waits
/// `poll` after a bad one, and fails when `deadline` has passed since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consistency {
    pub successes: u32,
    pub poll: Duration,
    pub deadline: Duration,
}

impl Default for Consistency {
    fn default() -> Consistency {
        Consistency {
            successes: 3,
            poll: Duration::from_millis(100),
            deadline: Duration::from_secs(30),
        }
    }
}

/// A case not to run, and why (the report shows the reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub case: String,
    pub reason: String,
}

/// Everything a run needs, passed in by the caller (the xtask reads flags and config).
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    pub gateway_url: String,
    /// Listener URLs the connectivity case checks; empty means just `gateway_url`.
    pub listeners: Vec<String>,
    /// The URL of the Gateway's second listener (port 8080 on a cluster), which has a route of
    /// its own; None skips listener-second-port.
    pub second_listener: Option<String>,
    /// Gateway health endpoints (full URLs) that must answer 2xx; none skips that case.
    pub health_urls: Vec<String>,
    /// Health toggles of the v1 replicas; the first is the one the eviction case flips.
    pub replica_controls: Vec<ReplicaControl>,
    pub skip: Vec<Skip>,
    /// Features the gateway does not support: their cases are skipped, named in the report.
    pub unsupported_features: Vec<String>,
    pub consistency: Consistency,
    pub request_timeout: Duration,
    /// Requests in flight at once in the statistical cases.
    pub concurrency: usize,
    pub plan: stats::Plan,
    pub implementation: Implementation,
    pub gateway_api: GatewayApi,
    pub mode: Mode,
    /// The run's cancellation token, checked between attempts and requests (and woken during
    /// polls): once cancelled, the case in progress fails as interrupted and the rest are
    /// skipped, so guards can clean up.
    pub cancel: cancel::Token,
}

impl SuiteConfig {
    /// A configuration with the documented defaults for everything but the gateway URL.
    pub fn new(gateway_url: &str, mode: Mode) -> SuiteConfig {
        SuiteConfig {
            gateway_url: gateway_url.to_owned(),
            listeners: Vec::new(),
            second_listener: None,
            health_urls: Vec::new(),
            replica_controls: Vec::new(),
            skip: Vec::new(),
            unsupported_features: Vec::new(),
            consistency: Consistency::default(),
            request_timeout: Duration::from_secs(10),
            concurrency: 10,
            plan: stats::Plan::default(),
            implementation: Implementation::default(),
            gateway_api: GatewayApi::default(),
            mode,
            cancel: cancel::Token::new(),
        }
    }

    /// Checks what the user gave: URLs, case names in skips, known features. The error says
    /// how to fix it; callers treat it as bad input.
    pub fn validate(&self) -> Result<(), String> {
        BaseUrl::parse(&self.gateway_url)?;
        for url in self.listeners.iter().chain(&self.second_listener) {
            BaseUrl::parse(url)?;
        }
        for url in &self.health_urls {
            split_url(url)?;
        }
        for control in &self.replica_controls {
            BaseUrl::parse(&control.url)?;
        }
        for skip in &self.skip {
            if cases::info(&skip.case).is_none() {
                return Err(format!(
                    "unknown case `{}` to skip; the cases are: {}",
                    skip.case,
                    cases::names().join(", ")
                ));
            }
        }
        let features = cases::features();
        for feature in &self.unsupported_features {
            if !features.contains(&feature.as_str()) {
                return Err(format!(
                    "unknown feature `{feature}` in unsupported features; the features are: {}",
                    features.join(", ")
                ));
            }
        }
        if self.consistency.successes == 0 || self.concurrency == 0 {
            return Err("consecutive successes and concurrency must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Splits `http://host:port/path` into its base URL and path (`/` when none).
fn split_url(url: &str) -> Result<(BaseUrl, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("`{url}` is not an http:// URL; write it like http://127.0.0.1:8082/healthz")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    Ok((
        BaseUrl::parse(&format!("http://{authority}"))?,
        path.to_owned(),
    ))
}

/// Progress of a run, for the caller to render.
#[derive(Debug)]
pub enum Event<'a> {
    Started(&'a CaseInfo),
    Finished(&'a CaseResult),
}

/// Runs every case in order and returns the results. Fails only on a config `validate` rejects.
pub fn run(
    config: &SuiteConfig,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<SuiteResults, String> {
    config.validate()?;
    let started = Instant::now();
    let started_unix_seconds = stdx::time::unix_seconds(SystemTime::now());
    let mut results: Vec<CaseResult> = Vec::new();
    for case in &cases::CASES {
        on_event(Event::Started(case));
        let unreachable = results
            .iter()
            .any(|done| done.name == cases::LISTENER_CONNECTIVITY && done.outcome.is_failed());
        let result = if is_cancelled(config) {
            skipped_result(case, "not run: the run was interrupted")
        } else if unreachable
            && case.name != cases::GATEWAY_HEALTH_ENDPOINTS
            && case.name != cases::LISTENER_SECOND_PORT
        {
            // Every other case talks to the listener: waiting out each deadline would only
            // repeat the connectivity failure, and the run is red already.
            skipped_result(
                case,
                "not run: the gateway's listener failed listener-connectivity, so nothing behind it can be judged",
            )
        } else {
            run_case(config, case)
        };
        on_event(Event::Finished(&result));
        results.push(result);
    }
    Ok(SuiteResults {
        implementation: config.implementation.clone(),
        gateway_api: config.gateway_api.clone(),
        mode: config.mode,
        gateway_url: config.gateway_url.clone(),
        started_unix_seconds,
        duration: started.elapsed(),
        cases: results,
        unsupported_features: config.unsupported_features.clone(),
        interrupted: is_cancelled(config),
    })
}

/// Whether the run was asked to stop: the one place that reads `SuiteConfig::cancelled`.
fn is_cancelled(config: &SuiteConfig) -> bool {
    config.cancel.is_cancelled()
}

/// Runs one case (skips included) and records how it went.
pub fn run_case(config: &SuiteConfig, case: &CaseInfo) -> CaseResult {
    let started = Instant::now();
    let context = Context::new(config);
    let mut split = None;
    let mut decision = None;
    let outcome = if let Some(reason) = skip_reason(config, case) {
        Outcome::Skipped { reason }
    } else {
        match context.run(case, &mut split, &mut decision) {
            Ok(()) => Outcome::Passed,
            Err(Failure::Failed { message, detail }) => Outcome::Failed { message, detail },
            Err(Failure::Skipped(reason)) => Outcome::Skipped { reason },
        }
    };
    CaseResult {
        duration: started.elapsed(),
        requests: context.requests.load(Ordering::Relaxed),
        split,
        decision,
        ..result_of(case, outcome)
    }
}

fn skipped_result(case: &CaseInfo, reason: &str) -> CaseResult {
    result_of(
        case,
        Outcome::Skipped {
            reason: reason.to_owned(),
        },
    )
}

/// The case's own facts with `outcome`, no requests and no time.
fn result_of(case: &CaseInfo, outcome: Outcome) -> CaseResult {
    CaseResult {
        name: case.name.to_owned(),
        feature: case.feature.to_owned(),
        support: case.support,
        description: case.description.to_owned(),
        upstream: case
            .upstream
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
        outcome,
        duration: Duration::ZERO,
        requests: 0,
        split: None,
        decision: None,
    }
}

fn skip_reason(config: &SuiteConfig, case: &CaseInfo) -> Option<String> {
    if let Some(skip) = config.skip.iter().find(|skip| skip.case == case.name) {
        return Some(skip.reason.clone());
    }
    config
        .unsupported_features
        .iter()
        .any(|feature| feature == case.feature)
        .then(|| {
            format!(
                "the gateway does not support {} (declared unsupported for this run)",
                case.feature
            )
        })
}

enum Failure {
    Failed {
        message: String,
        detail: String,
    },
    /// Decided at run time: the case cannot run with what was given.
    Skipped(String),
}

fn failed(message: impl Into<String>, detail: impl Into<String>) -> Failure {
    Failure::Failed {
        message: message.into(),
        detail: detail.into(),
    }
}

/// How many /v1 requests one eviction attempt sends: with two replicas behind a random balancer,
/// all of them avoiding a healthy replica by chance has probability 2^-20 per attempt.
/// The pod that answered, when the response is a 200 from an echo replica.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_fix() {
        let mut config = SuiteConfig::new("http://127.0.0.1:1", Mode::Local);
        assert!(config.validate().is_ok());
        config.skip.push(Skip {
            case: "route-typo".into(),
            reason: "".into(),
        });
        let error = config.validate().unwrap_err();
        assert!(
            error.contains("route-typo") && error.contains("route-header"),
            "{error}"
        );
        config.skip.clear();
        config.unsupported_features.push("Teleport".into());
        assert!(config.validate().unwrap_err().contains("HealthCheck"));
        config.unsupported_features.clear();
        config.health_urls.push("ftp://x".into());
        assert!(config.validate().is_err());
    }

    #[test]
    fn locations_split_into_host_and_path() {
        assert_eq!(
            matching::location_host_and_path("http://redirect.example.com:8080/redirect/x?y=1"),
            Some(("redirect.example.com", "/redirect/x?y=1"))
        );
        assert_eq!(
            matching::location_host_and_path("https://redirect.example.com"),
            Some(("redirect.example.com", "/"))
        );
        assert_eq!(matching::location_host_and_path("/relative"), None);
    }

    #[test]
    fn health_urls_split_into_base_and_path() {
        let (base, path) = split_url("http://127.0.0.1:9901/ready").unwrap();
        assert_eq!((base.address.port(), path.as_str()), (9901, "/ready"));
        assert_eq!(split_url("http://127.0.0.1:9901").unwrap().1, "/");
    }
}

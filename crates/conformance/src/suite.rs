//! Running the cases: the suite configuration, the eventually-consistent loop, the statistical
//! cases driven through `stats`, the health-eviction dance, and the results they produce.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::cases::{self, CaseInfo, Expect, Probe};
use crate::client::{self, BaseUrl, Client, Request, Response};
use crate::fixture::{self, BACKENDS, V1, WEIGHTS};
use crate::results::{
    BackendShare, CaseResult, GatewayApi, Implementation, Mode, ObservedSplit, Outcome,
    SuiteResults,
};

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
        duration: started.elapsed(),
        requests: context.requests.load(Ordering::Relaxed),
        split,
        decision,
    }
}

fn skipped_result(case: &CaseInfo, reason: &str) -> CaseResult {
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
        outcome: Outcome::Skipped {
            reason: reason.to_owned(),
        },
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
const EVICTION_BATCH: usize = 20;

/// Requests per attempt while waiting for every replica to be in rotation (replicas seen are
/// accumulated over all attempts).
const ROTATION_BATCH: usize = 20;

/// What one split test sent and received (responses after the verdict are received but not
/// counted by the test, except a weight-0 hit).
struct SplitRun {
    target: String,
    sent: u64,
    responses: u64,
}

/// The evidence of a split decision: the decision with its rule and rates, and why the
/// requests sent, the responses received and the responses counted can differ.
fn evidence(test: &stats::SplitTest, run: &SplitRun) -> String {
    let counted = test.requests() as u64;
    let mut text = test.describe().to_string();
    text.push_str(&format!(
        "\n{} requests sent to {}, {} answered, {counted} counted by the split test",
        run.sent, run.target, run.responses
    ));
    if run.responses > counted {
        text.push_str(&format!(
            " (the {} others answered after the verdict, while requests already in flight completed or until every replica had answered; they are not counted, except that a response from a weight-0 backend fails the case)",
            run.responses - counted
        ));
    }
    if run.sent > run.responses {
        text.push_str(&format!(
            "; {} requests were sent but their responses were not read because the case had stopped",
            run.sent - run.responses
        ));
    }
    text
}

struct Context<'a> {
    config: &'a SuiteConfig,
    client: Client,
    requests: AtomicU64,
}

impl Context<'_> {
    fn new(config: &SuiteConfig) -> Context<'_> {
        let base = BaseUrl::parse(&config.gateway_url).expect("validated before any case runs");
        Context {
            config,
            client: Client::new(base, config.request_timeout),
            requests: AtomicU64::new(0),
        }
    }

    fn send_with(&self, client: &Client, request: &Request) -> Result<Response, String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        client.send(request).map_err(|error| error.to_string())
    }

    fn send(&self, request: &Request) -> Result<Response, String> {
        self.send_with(&self.client, request)
    }

    /// The split tests' plan: responses can be counted out of the gateway's order by as many
    /// as are in flight at once, which the block rule's tolerance allows for.
    fn plan(&self) -> stats::Plan {
        stats::Plan {
            reorder: self.config.plan.reorder.max(self.config.concurrency),
            ..self.config.plan
        }
    }

    fn cancelled(&self) -> bool {
        is_cancelled(self.config)
    }

    fn run(
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
    fn eventually(&self, mut attempt: impl FnMut() -> Result<(), String>) -> Result<(), Failure> {
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

    fn check_probes(&self, client: &Client, probes: &[Probe]) -> Result<(), String> {
        for probe in probes {
            let response = self.send_with(client, &probe.request)?;
            check(&probe.request, &response, &probe.expect)
                .map_err(|mismatch| format!("{mismatch}: {}", probe.rule))?;
        }
        Ok(())
    }

    fn listeners(&self) -> Result<(), Failure> {
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

    fn second_listener(&self) -> Result<(), Failure> {
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

    fn health_endpoints(&self) -> Result<(), Failure> {
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

    /// Runs a split test on `target`: `attribute` turns each answering pod into the test's
    /// backend index (or says why the response does not belong). Sending goes on after the
    /// verdict until every pod `covered` requires has answered, up to the plan's maximum:
    /// replica coverage is judged over the whole sample, never over a short window.
    fn split_test(
        &self,
        target: &str,
        test: &mut stats::SplitTest,
        attribute: &mut (dyn FnMut(&str, &mut stats::SplitTest) -> Result<usize, String> + Send),
        covered: &(dyn Fn(&BTreeSet<String>) -> Option<String> + Sync),
    ) -> (Result<(), String>, SplitRun) {
        let request = Request::get(target);
        let mut problem: Option<String> = None;
        let mut pods: BTreeSet<String> = BTreeSet::new();
        let mut responses = 0u64;
        let max_requests = test.plan().max_requests as u64;
        let limit = max_requests + self.config.concurrency as u64;
        let sent = client::drive(
            &self.client,
            self.config.concurrency,
            limit,
            |_| request.clone(),
            |result| {
                if self.cancelled() {
                    problem = Some("interrupted before the split was decided".to_owned());
                    return false;
                }
                responses += 1;
                let attributed = match result {
                    Err(error) => Err(error.to_string()),
                    Ok(response) => match attributed_pod(&response) {
                        None => Err(format!(
                            "{} answered {} without an echo body",
                            request.describe(),
                            response.status
                        )),
                        Some(pod) => {
                            let index = attribute(&pod, test);
                            pods.insert(pod);
                            index
                        }
                    },
                };
                // Responses still in flight after the decision are recorded too: the split
                // test ignores them unless one proves a weight-0 backend was used.
                let decided = test.verdict().is_decided() || problem.is_some();
                match attributed {
                    Err(why) => {
                        if !decided {
                            problem = Some(why);
                        }
                        false
                    }
                    Ok(backend) => {
                        let verdict = test.record(backend);
                        let keep_going = match verdict {
                            stats::Verdict::Undecided => true,
                            stats::Verdict::Pass => covered(&pods).is_some(),
                            stats::Verdict::Fail(_) => false,
                        };
                        keep_going && responses < max_requests
                    }
                }
            },
        );
        self.requests.fetch_add(sent, Ordering::Relaxed);
        let run = SplitRun {
            target: target.to_owned(),
            sent,
            responses,
        };
        if let Some(problem) = problem {
            return (Err(problem), run);
        }
        let result = match test.verdict() {
            stats::Verdict::Pass => match covered(&pods) {
                None => Ok(()),
                Some(missing) => Err(format!(
                    "{missing} in {responses} responses to {target}; every replica must receive traffic"
                )),
            },
            stats::Verdict::Fail(why) => Err(why.clone()),
            stats::Verdict::Undecided => Err(format!(
                "undecided after {} requests (the engine stopped early)",
                test.requests()
            )),
        };
        (result, run)
    }

    fn observed(test: &stats::SplitTest) -> ObservedSplit {
        ObservedSplit {
            backends: test
                .labels()
                .iter()
                .zip(test.counts())
                .zip(test.expected())
                .map(|((label, count), expected)| BackendShare {
                    backend: label.clone(),
                    count: *count,
                    expected: *expected,
                })
                .collect(),
        }
    }

    /// Waits until every replica of `backends` has answered `target` at least once, counting
    /// every response since the case started (never a short window, which a balancer serving
    /// long blocks would fail): the split is judged on a gateway with every replica in
    /// rotation, not one still bringing replicas up. Every response must come from `backends`.
    fn in_rotation(&self, target: &str, backends: &[&str]) -> Result<(), Failure> {
        let request = Request::get(target);
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut sent = 0u64;
        self.eventually(|| {
            for _ in 0..ROTATION_BATCH {
                sent += 1;
                let response = self.send(&request)?;
                match attributed_pod(&response) {
                    Some(pod)
                        if fixture::backend_of(&pod).is_some_and(|b| backends.contains(&b)) =>
                    {
                        seen.insert(pod);
                    }
                    Some(pod) => {
                        return Err(format!(
                            "{} was answered by pod {pod}, want {}",
                            request.describe(),
                            backends.join(" or ")
                        ));
                    }
                    None => {
                        return Err(format!(
                            "{} answered {}, want 200 from {}",
                            request.describe(),
                            response.status,
                            backends.join(" or ")
                        ));
                    }
                }
            }
            for backend in backends {
                let replicas: Vec<&str> = seen
                    .iter()
                    .filter(|pod| fixture::backend_of(pod) == Some(*backend))
                    .map(String::as_str)
                    .collect();
                if replicas.len() < fixture::REPLICAS {
                    return Err(format!(
                        "the {sent} requests to {target} so far reached {} of the {} {backend} replicas ({}); every replica must receive traffic",
                        replicas.len(),
                        fixture::REPLICAS,
                        replicas.join(", ")
                    ));
                }
            }
            Ok(())
        })
    }

    fn evenness(
        &self,
        split: &mut Option<ObservedSplit>,
        decision: &mut Option<String>,
    ) -> Result<(), Failure> {
        self.in_rotation("/v1", &[V1])?;
        // Replicas are named in the order they first answer: the test is symmetric, so which
        // one is "first" does not change its rates.
        let mut test = stats::SplitTest::new(&[0.5, 0.5], self.plan())
            .and_then(|test| test.with_labels(["first v1 replica", "second v1 replica"]))
            .map_err(|e| failed(format!("cannot set up the split test: {e}"), ""))?;
        let mut replicas: Vec<String> = Vec::new();
        let mut attribute = |pod: &str, test: &mut stats::SplitTest| {
            if fixture::backend_of(pod) != Some(V1) {
                return Err(format!(
                    "GET /v1 was answered by pod {pod}, which is not an infra-backend-v1 replica"
                ));
            }
            if let Some(index) = replicas.iter().position(|known| known == pod) {
                return Ok(index);
            }
            if replicas.len() == fixture::REPLICAS {
                return Err(format!(
                    "/v1 was answered by {} infra-backend-v1 pods ({}, {pod}); the fixture has {}",
                    replicas.len() + 1,
                    replicas.join(", "),
                    fixture::REPLICAS
                ));
            }
            test.set_label(replicas.len(), pod);
            replicas.push(pod.to_owned());
            Ok(replicas.len() - 1)
        };
        let covered = |pods: &BTreeSet<String>| {
            (pods.len() < fixture::REPLICAS).then(|| {
                format!(
                    "only {} of the {} infra-backend-v1 replicas answered",
                    pods.len(),
                    fixture::REPLICAS
                )
            })
        };
        let (result, run) = self.split_test("/v1", &mut test, &mut attribute, &covered);
        *split = Some(Self::observed(&test));
        *decision = Some(evidence(&test, &run));
        result.map_err(|why| {
            failed(
                format!("/v1 is not spread evenly over the infra-backend-v1 replicas: {why}"),
                evidence(&test, &run),
            )
        })
    }

    fn weighted(
        &self,
        split: &mut Option<ObservedSplit>,
        decision: &mut Option<String>,
    ) -> Result<(), Failure> {
        // v3 has weight 0: only v1 and v2 replicas may answer, and all four must be in rotation.
        self.in_rotation("/weighted", &[BACKENDS[0], BACKENDS[1]])
            .map_err(|failure| match failure {
                Failure::Failed { message, detail } => failed(
                    format!("/weighted does not split 70/30/0 over v1/v2/v3: {message}"),
                    detail,
                ),
                skipped => skipped,
            })?;
        let mut test = stats::SplitTest::new(&WEIGHTS, self.plan())
            .and_then(|test| test.with_labels(BACKENDS))
            .map_err(|e| failed(format!("cannot set up the split test: {e}"), ""))?;
        let mut attribute = |pod: &str, _: &mut stats::SplitTest| {
            fixture::backend_index(pod).ok_or_else(|| {
                format!("GET /weighted was answered by pod {pod}, which does not belong here")
            })
        };
        let covered = |pods: &BTreeSet<String>| {
            BACKENDS[..2].iter().find_map(|backend| {
                let replicas: Vec<&str> = pods
                    .iter()
                    .filter(|pod| fixture::backend_of(pod) == Some(*backend))
                    .map(String::as_str)
                    .collect();
                (replicas.len() < fixture::REPLICAS).then(|| {
                    format!(
                        "only {} of the {} {backend} replicas answered ({})",
                        replicas.len(),
                        fixture::REPLICAS,
                        replicas.join(", ")
                    )
                })
            })
        };
        let (result, run) = self.split_test("/weighted", &mut test, &mut attribute, &covered);
        *split = Some(Self::observed(&test));
        *decision = Some(evidence(&test, &run));
        result.map_err(|why| {
            failed(
                format!("/weighted does not split 70/30/0 over v1/v2/v3: {why}"),
                evidence(&test, &run),
            )
        })
    }

    fn toggle(&self, control: &ReplicaControl, healthy: bool) -> Result<(), String> {
        let base = BaseUrl::parse(&control.url)?;
        let client = Client::new(base, self.config.request_timeout);
        let path = if healthy {
            "/_echo/health/ok"
        } else {
            "/_echo/health/fail"
        };
        let response = client.send(&Request::post(path)).map_err(|error| {
            format!("cannot reach the health toggle of {}: {error}", control.pod)
        })?;
        if response.status != 200 {
            return Err(format!(
                "the health toggle of {} at {} answered {}",
                control.pod, control.url, response.status
            ));
        }
        Ok(())
    }

    /// Sends a batch of /v1 requests and returns the pods that answered, or why one failed.
    fn v1_batch(&self) -> Result<Vec<String>, String> {
        let request = Request::get("/v1");
        (0..EVICTION_BATCH)
            .map(|_| {
                let response = self.send(&request)?;
                let pod = attributed_pod(&response)
                    .filter(|pod| fixture::backend_of(pod) == Some(V1))
                    .ok_or_else(|| {
                        format!(
                            "GET /v1 answered {}, want 200 from infra-backend-v1",
                            response.status
                        )
                    })?;
                Ok(pod)
            })
            .collect()
    }

    fn eviction(&self) -> Result<(), Failure> {
        let Some(victim) = self.config.replica_controls.first() else {
            return Err(Failure::Skipped(
                "no replica health control was given, so no replica can be marked unhealthy"
                    .to_owned(),
            ));
        };
        // Both replicas must be in rotation first, or "evicted" would prove nothing.
        self.eventually(|| {
            let pods = self.v1_batch()?;
            if pods.contains(&victim.pod) {
                Ok(())
            } else {
                Err(format!("{EVICTION_BATCH} requests to /v1 never reached {} before it was marked unhealthy", victim.pod))
            }
        })?;
        self.toggle(victim, false).map_err(|e| failed(e, ""))?;
        let evicted = self.eventually(|| {
            let pods = self.v1_batch()?;
            let hits = pods.iter().filter(|pod| **pod == victim.pod).count();
            if hits == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{hits} of {EVICTION_BATCH} requests to /v1 still reached {}, which fails /health: the gateway did not evict it",
                    victim.pod
                ))
            }
        });
        // Always restore the replica, whatever happened, so later runs start healthy.
        let restored = self.toggle(victim, true);
        evicted?;
        restored.map_err(|e| failed(e, ""))?;
        self.eventually(|| {
            let pods = self.v1_batch()?;
            if pods.contains(&victim.pod) {
                Ok(())
            } else {
                Err(format!(
                    "{EVICTION_BATCH} requests to /v1 never reached {} after it became healthy again: the gateway did not bring it back",
                    victim.pod
                ))
            }
        })
    }
}

/// The pod that answered, when the response is a 200 from an echo replica.
fn attributed_pod(response: &Response) -> Option<String> {
    if response.status != 200 {
        return None;
    }
    response.echo().map(|body| body.pod)
}

/// Whether a response meets an expectation, and if not, what happened instead.
pub fn check(request: &Request, response: &Response, expect: &Expect) -> Result<(), String> {
    let answered = match response.echo() {
        Some(body) => format!(
            "{} from {} (pod {})",
            response.status,
            fixture::backend_of(&body.pod).unwrap_or("an unknown backend"),
            body.pod
        ),
        None => match response.header("Location") {
            Some(location) => format!("{} with Location {location}", response.status),
            None => format!("{} without an echo body", response.status),
        },
    };
    let from_backend = |backend: &str| {
        attributed_pod(response).is_some_and(|pod| fixture::backend_of(&pod) == Some(backend))
    };
    let ok = match expect {
        Expect::Backend(backend) => from_backend(backend),
        Expect::Status(status) => response.status == *status,
        Expect::EchoHeaders(backend, headers) => {
            if !from_backend(backend) {
                false
            } else {
                let body = response
                    .echo()
                    .expect("attributed responses have an echo body");
                for (name, want) in headers {
                    let seen = echoed_header(&body, name);
                    if seen.as_deref() != *want {
                        return Err(format!(
                            "{} reached {backend}, which saw {}, want {}",
                            request.describe(),
                            seen.map_or(format!("no {name} header"), |value| format!(
                                "{name}: {value}"
                            )),
                            want.map_or(format!("no {name} header"), |value| format!(
                                "{name}: {value}"
                            ))
                        ));
                    }
                }
                true
            }
        }
        Expect::Redirect(status, host) => {
            response.status == *status
                && response
                    .header("Location")
                    .and_then(location_host_and_path)
                    .is_some_and(|(location_host, path)| {
                        location_host.eq_ignore_ascii_case(host) && path == request.target
                    })
        }
    };
    if ok {
        return Ok(());
    }
    let want = match expect {
        Expect::Backend(backend) | Expect::EchoHeaders(backend, _) => {
            format!("200 from {backend}")
        }
        Expect::Status(status) => status.to_string(),
        Expect::Redirect(status, host) => format!(
            "{status} with Location http://{host}{} (any port)",
            request.target
        ),
    };
    Err(format!(
        "{} answered {answered}, want {want}",
        request.describe()
    ))
}

/// The values an echo replica saw for one request header, joined with `,` (one header sent
/// twice and one header with two comma-separated values read the same), or None.
fn echoed_header(body: &echo::EchoBody, name: &str) -> Option<String> {
    body.headers
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, values)| values.join(","))
}

/// `http://host:port/path?q` → (`host`, `/path?q`); a relative Location has no host.
fn location_host_and_path(location: &str) -> Option<(&str, &str)> {
    let rest = location
        .strip_prefix("http://")
        .or_else(|| location.strip_prefix("https://"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|byte| byte.is_ascii_digit()))
        .map_or(authority, |(host, _)| host);
    Some((host, path))
}

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
            location_host_and_path("http://redirect.example.com:8080/redirect/x?y=1"),
            Some(("redirect.example.com", "/redirect/x?y=1"))
        );
        assert_eq!(
            location_host_and_path("https://redirect.example.com"),
            Some(("redirect.example.com", "/"))
        );
        assert_eq!(location_host_and_path("/relative"), None);
    }

    #[test]
    fn health_urls_split_into_base_and_path() {
        let (base, path) = split_url("http://127.0.0.1:9901/ready").unwrap();
        assert_eq!((base.address.port(), path.as_str()), (9901, "/ready"));
        assert_eq!(split_url("http://127.0.0.1:9901").unwrap().1, "/");
    }
}

//! The traffic-split family: evenness and weights decided by the sequential split test with
//! its evidence, every replica in rotation, and health eviction through the replicas' toggles.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use crate::client::{self, BaseUrl, Client, Request};
use crate::fixture::{self, BACKENDS, V1, WEIGHTS};
use crate::results::{BackendShare, ObservedSplit};

use super::context::Context;
use super::matching::attributed_pod;
use super::{Failure, ReplicaControl, failed};

const EVICTION_BATCH: usize = 20;

/// Requests per attempt while waiting for every replica to be in rotation (replicas seen are
/// accumulated over all attempts).
const ROTATION_BATCH: usize = 20;

/// What one split test sent and received (responses after the verdict are received but not
/// counted by the test, except a weight-0 hit).
pub(super) struct SplitRun {
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

impl Context<'_> {
    /// Runs a split test on `target`: `attribute` turns each answering pod into the test's
    /// backend index (or says why the response does not belong). Sending goes on after the
    /// verdict until every pod `covered` requires has answered, up to the plan's maximum:
    /// replica coverage is judged over the whole sample, never over a short window.
    pub(super) fn split_test(
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

    pub(super) fn observed(test: &stats::SplitTest) -> ObservedSplit {
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
    pub(super) fn in_rotation(&self, target: &str, backends: &[&str]) -> Result<(), Failure> {
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

    pub(super) fn evenness(
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

    pub(super) fn weighted(
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

    pub(super) fn toggle(&self, control: &ReplicaControl, healthy: bool) -> Result<(), String> {
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
    pub(super) fn v1_batch(&self) -> Result<Vec<String>, String> {
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

    pub(super) fn eviction(&self) -> Result<(), Failure> {
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

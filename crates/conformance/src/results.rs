//! The typed results of one suite run: what the report writers read and what
//! `conformance.json` is serialized from. Nothing here renders or judges; it only records.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything one run of the suite found out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteResults {
    pub implementation: Implementation,
    pub gateway_api: GatewayApi,
    pub mode: Mode,
    /// The gateway URL the cases sent their requests to.
    pub gateway_url: String,
    /// When the run started, in seconds since the Unix epoch.
    pub started_unix_seconds: u64,
    /// Wall time of the whole run.
    #[serde(rename = "duration_seconds", with = "seconds")]
    pub duration: Duration,
    /// In the order the cases ran.
    pub cases: Vec<CaseResult>,
    /// Features the run's configuration declared unsupported (their cases are skipped): the
    /// only features a report may call unsupported.
    #[serde(default)]
    pub unsupported_features: Vec<String>,
    /// True when the run was interrupted (Ctrl-C): the case in progress failed as interrupted
    /// and the rest were skipped, so the results are incomplete.
    #[serde(default)]
    pub interrupted: bool,
}

/// Who made the gateway under test (the ConformanceReport's `implementation` block).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Implementation {
    /// Project name, e.g. `kgateway`.
    pub project: String,
    /// The version under test, e.g. a release tag; `local` for a hand-started gateway.
    pub version: String,
    /// Where the project lives, e.g. `https://github.com/kgateway-dev/kgateway`.
    pub url: String,
    /// Maintainers' handles or a URL.
    pub contact: Vec<String>,
    /// The organization behind the project, e.g. `kgateway-dev`.
    pub organization: String,
}

/// The Gateway API release the fixture is written against (from the pin file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayApi {
    /// e.g. `v1.6.3`.
    pub version: String,
    /// `standard` or `experimental`.
    pub channel: String,
}

/// Where the fixture ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Echo replicas on loopback, a gateway process started by hand or by a test.
    Local,
    /// The fixture deployed on a Kubernetes cluster.
    Cluster,
}

impl Mode {
    /// The name reports use (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Local => "local",
            Mode::Cluster => "cluster",
        }
    }
}

/// Gateway API support levels, as the ConformanceReport groups results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SupportLevel {
    Core,
    Extended,
}

impl SupportLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportLevel::Core => "core",
            SupportLevel::Extended => "extended",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Stable short name, e.g. `route-header`: what `--skip` takes and reports show.
    pub name: String,
    /// The feature the case covers, e.g. `HTTPRouteHeaderMatching`.
    pub feature: String,
    pub support: SupportLevel,
    /// One sentence saying what the case checks.
    pub description: String,
    /// The Gateway API conformance suite's tests this case corresponds to (empty for checks
    /// upstream has none for).
    #[serde(default)]
    pub upstream: Vec<String>,
    pub outcome: Outcome,
    #[serde(rename = "duration_seconds", with = "seconds")]
    pub duration: Duration,
    /// Requests the case sent to the gateway (health toggles to replicas not counted).
    pub requests: u64,
    /// For the load-balancing and weighted cases: what the gateway did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<ObservedSplit>,
    /// For the load-balancing and weighted cases: which rule decided and on what evidence
    /// (the decision, its rates, and requests sent versus responses counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    /// `message` is one line naming the broken behaviour; `detail` holds evidence (the last
    /// mismatching responses, counts) for the report's failure body.
    Failed {
        message: String,
        detail: String,
    },
    /// Not run: skipped by the user or because the gateway does not support the feature.
    Skipped {
        reason: String,
    },
}

impl Outcome {
    pub fn is_passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }

    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    pub fn is_skipped(&self) -> bool {
        matches!(self, Outcome::Skipped { .. })
    }

    /// `passed`, `failed` or `skipped`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed { .. } => "failed",
            Outcome::Skipped { .. } => "skipped",
        }
    }
}

/// The traffic split a gateway produced, per backend (or per replica for evenness).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedSplit {
    /// In the fixture's order (v1, v2, v3; or replica 0, replica 1).
    pub backends: Vec<BackendShare>,
}

impl ObservedSplit {
    pub fn total(&self) -> u64 {
        self.backends.iter().map(|share| share.count).sum()
    }

    /// Backend name → count, for quick lookups in reports and tests.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.backends
            .iter()
            .map(|share| (share.backend.clone(), share.count))
            .collect()
    }
}

/// One backend's part of an observed split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendShare {
    /// Backend (`infra-backend-v1`) or replica (pod name) the responses were attributed to.
    pub backend: String,
    /// Responses attributed to it.
    pub count: u64,
    /// The share the fixture asks for, 0.0 ..= 1.0.
    pub expected: f64,
}

impl BackendShare {
    /// The observed share of `total` responses.
    pub fn observed(&self, total: u64) -> f64 {
        if total == 0 {
            0.0
        } else {
            self.count as f64 / total as f64
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl SuiteResults {
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for case in &self.cases {
            match case.outcome {
                Outcome::Passed => tally.passed += 1,
                Outcome::Failed { .. } => tally.failed += 1,
                Outcome::Skipped { .. } => tally.skipped += 1,
            }
        }
        tally
    }

    /// True when no case failed (skipped cases do not make a run red).
    pub fn success(&self) -> bool {
        self.cases.iter().all(|case| !case.outcome.is_failed())
    }

    pub fn case(&self, name: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|case| case.name == name)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("suite results always serialize")
    }
}

/// Durations as fractional seconds in JSON, the unit JUnit and people read.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SuiteResults {
        SuiteResults {
            implementation: Implementation {
                project: "kgateway".into(),
                version: "v2.1.0".into(),
                url: "https://github.com/kgateway-dev/kgateway".into(),
                contact: vec!["@kgateway-dev/maintainers".into()],
                organization: "kgateway-dev".into(),
            },
            gateway_api: GatewayApi {
                version: "v1.6.3".into(),
                channel: "standard".into(),
            },
            mode: Mode::Local,
            gateway_url: "http://127.0.0.1:8080".into(),
            started_unix_seconds: 1_700_000_000,
            duration: Duration::from_millis(2500),
            cases: vec![
                CaseResult {
                    name: "weighted-split".into(),
                    feature: "HTTPRouteWeight".into(),
                    support: SupportLevel::Core,
                    description: "splits /weighted 70/30/0".into(),
                    upstream: vec!["HTTPRouteWeight".into()],
                    outcome: Outcome::Failed {
                        message: "split 50/50/0, want 70/30/0".into(),
                        detail: "counts".into(),
                    },
                    duration: Duration::from_millis(1250),
                    requests: 200,
                    split: Some(ObservedSplit {
                        backends: vec![
                            BackendShare {
                                backend: "infra-backend-v1".into(),
                                count: 100,
                                expected: 0.7,
                            },
                            BackendShare {
                                backend: "infra-backend-v2".into(),
                                count: 100,
                                expected: 0.3,
                            },
                        ],
                    }),
                    decision: None,
                },
                CaseResult {
                    name: "health-eviction".into(),
                    feature: "HealthCheck".into(),
                    support: SupportLevel::Extended,
                    description: "evicts an unhealthy replica".into(),
                    upstream: Vec::new(),
                    outcome: Outcome::Skipped {
                        reason: "unsupported".into(),
                    },
                    duration: Duration::ZERO,
                    requests: 0,
                    split: None,
                    decision: None,
                },
            ],
            unsupported_features: vec!["HealthCheck".into()],
            interrupted: false,
        }
    }

    #[test]
    fn json_round_trips_and_names_outcomes() {
        let results = sample();
        let json = results.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["cases"][0]["outcome"]["status"], "failed");
        assert_eq!(value["cases"][1]["outcome"]["status"], "skipped");
        assert_eq!(value["cases"][0]["duration_seconds"], 1.25);
        assert_eq!(value["mode"], "local");
        assert!(value["cases"][1].get("split").is_none());
        let back: SuiteResults = serde_json::from_str(&json).unwrap();
        assert_eq!(back, results);
    }

    #[test]
    fn tally_and_success_ignore_skips() {
        let mut results = sample();
        assert_eq!(
            results.tally(),
            Tally {
                passed: 0,
                failed: 1,
                skipped: 1
            }
        );
        assert!(!results.success());
        results.cases.remove(0);
        assert!(results.success());
        let split = sample().cases[0].split.clone().unwrap();
        assert_eq!(split.total(), 200);
        assert_eq!(split.backends[0].observed(split.total()), 0.5);
    }
}

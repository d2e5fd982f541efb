//! gateway_api: the run as a Gateway API `ConformanceReport` (apiVersion
//! `gateway.networking.k8s.io/v1`), the shape of upstream's `conformance/apis/v1`: an
//! implementation block, the Gateway API version and channel, and one profile whose core and
//! extended results carry `Passed`/`Skipped`/`Failed` statistics and the skipped and failed
//! test names. Tests are named as upstream names them (a case stands for the upstream tests in
//! `CaseInfo::upstream`; a check upstream has no test for keeps its own name), so a maintainer
//! can compare the report with the upstream suite's. Keys are emitted in the order upstream's published reports list them.

use serde::Serialize;

use crate::results::{CaseResult, Outcome, SuiteResults, SupportLevel};

/// The profile our cases belong to: HTTP routing through a Gateway.
pub const PROFILE: &str = "GATEWAY-HTTP";

/// The result of every profile status of an interrupted run (beside upstream's `success`,
/// `partial` and `failure`): incomplete results must not read as a verdict on the gateway.
pub const INTERRUPTED: &str = "interrupted";

#[derive(Serialize)]
struct ConformanceReport<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    date: String,
    #[serde(rename = "gatewayAPIChannel")]
    gateway_api_channel: &'a str,
    #[serde(rename = "gatewayAPIVersion")]
    gateway_api_version: &'a str,
    implementation: Implementation<'a>,
    mode: &'static str,
    profiles: Vec<Profile>,
}

#[derive(Serialize)]
struct Implementation<'a> {
    contact: &'a [String],
    organization: &'a str,
    project: &'a str,
    url: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct Profile {
    core: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    extended: Option<ExtendedStatus>,
    name: &'static str,
    summary: String,
}

#[derive(Serialize)]
struct Status {
    #[serde(rename = "failedTests", skip_serializing_if = "Vec::is_empty")]
    failed_tests: Vec<String>,
    result: &'static str,
    #[serde(rename = "skippedTests", skip_serializing_if = "Vec::is_empty")]
    skipped_tests: Vec<String>,
    statistics: Statistics,
}

#[derive(Serialize)]
struct ExtendedStatus {
    #[serde(flatten)]
    status: Status,
    #[serde(rename = "supportedFeatures", skip_serializing_if = "Vec::is_empty")]
    supported_features: Vec<String>,
    #[serde(rename = "unsupportedFeatures", skip_serializing_if = "Vec::is_empty")]
    unsupported_features: Vec<String>,
}

#[derive(Serialize)]
struct Statistics {
    #[serde(rename = "Failed")]
    failed: usize,
    #[serde(rename = "Passed")]
    passed: usize,
    #[serde(rename = "Skipped")]
    skipped: usize,
}

/// Renders the ConformanceReport YAML.
pub fn conformance_report_yaml(results: &SuiteResults) -> String {
    let level = |support: SupportLevel| -> Vec<&CaseResult> {
        results
            .cases
            .iter()
            .filter(|case| case.support == support)
            .collect()
    };
    let core_cases = level(SupportLevel::Core);
    let extended_cases = level(SupportLevel::Extended);
    let mut core = status(&core_cases);
    let extended = (!extended_cases.is_empty()).then(|| {
        // Only what the run's configuration declared is unsupported. A case skipped for any
        // other reason (an interrupt, a dead listener, a missing replica control) says nothing
        // about the gateway's support: its feature is listed as supported and the case as
        // skipped.
        let mut unsupported: Vec<String> = results.unsupported_features.clone();
        unsupported.sort();
        unsupported.dedup();
        let mut supported: Vec<String> = Vec::new();
        for case in &extended_cases {
            if !unsupported.contains(&case.feature) && !supported.contains(&case.feature) {
                supported.push(case.feature.clone());
            }
        }
        supported.sort();
        ExtendedStatus {
            status: status(&extended_cases),
            supported_features: supported,
            unsupported_features: unsupported,
        }
    });
    let mut extended = extended;
    if results.interrupted {
        core.result = INTERRUPTED;
        if let Some(extended) = &mut extended {
            extended.status.result = INTERRUPTED;
        }
    }
    let mut summary = summary(&core, extended.as_ref().map(|extended| &extended.status));
    if results.interrupted {
        summary = format!(
            "Interrupted: the run was stopped before every test ran, so these results are incomplete. {summary}"
        );
    }
    let report = ConformanceReport {
        api_version: "gateway.networking.k8s.io/v1",
        kind: "ConformanceReport",
        date: stdx::time::rfc3339(results.started_unix_seconds),
        gateway_api_channel: &results.gateway_api.channel,
        gateway_api_version: &results.gateway_api.version,
        implementation: Implementation {
            contact: &results.implementation.contact,
            organization: &results.implementation.organization,
            project: &results.implementation.project,
            url: &results.implementation.url,
            version: &results.implementation.version,
        },
        // Upstream's mode is the implementation's operating mode; ours runs it as installed.
        mode: "default",
        profiles: vec![Profile {
            core,
            extended,
            name: PROFILE,
            summary,
        }],
    };
    let date = report.date.clone();
    let yaml = serde_yaml_ng::to_string(&report).expect("the report model always serializes");
    // Upstream reports quote the date: unquoted, YAML 1.1 readers take it for a timestamp
    // instead of the string the schema declares. The serializer has no per-field quoting, and
    // the line is ours, so quote it here.
    yaml.replacen(
        &format!("\ndate: {date}\n"),
        &format!("\ndate: \"{date}\"\n"),
        1,
    )
}

/// How one reported test name fared over the cases that stand for it.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Passed,
    Failed,
    Skipped,
}

/// The test names a case is reported under: the upstream conformance tests it corresponds to,
/// or its own name when upstream has no such test.
fn reported_names(case: &CaseResult) -> Vec<String> {
    if case.upstream.is_empty() {
        vec![case.name.clone()]
    } else {
        case.upstream.clone()
    }
}

fn status(cases: &[&CaseResult]) -> Status {
    // Several cases can stand for one upstream test (HTTPRouteMatching): it failed if any of
    // them failed, was skipped if any was skipped, and passed only if all passed.
    let mut fates: Vec<(String, Fate)> = Vec::new();
    for case in cases {
        let fate = match case.outcome {
            Outcome::Passed => Fate::Passed,
            Outcome::Failed { .. } => Fate::Failed,
            Outcome::Skipped { .. } => Fate::Skipped,
        };
        for name in reported_names(case) {
            match fates.iter_mut().find(|(known, _)| *known == name) {
                Some((_, known)) => {
                    if fate == Fate::Failed || (fate == Fate::Skipped && *known == Fate::Passed) {
                        *known = fate;
                    }
                }
                None => fates.push((name, fate)),
            }
        }
    }
    let names = |keep: Fate| -> Vec<String> {
        fates
            .iter()
            .filter(|(_, fate)| *fate == keep)
            .map(|(name, _)| name.clone())
            .collect()
    };
    let failed_tests = names(Fate::Failed);
    let skipped_tests = names(Fate::Skipped);
    let statistics = Statistics {
        failed: failed_tests.len(),
        passed: names(Fate::Passed).len(),
        skipped: skipped_tests.len(),
    };
    // Upstream's rule: any failure is a failure; no failure but skips is partial.
    let result = if statistics.failed > 0 {
        "failure"
    } else if statistics.skipped > 0 {
        "partial"
    } else {
        "success"
    };
    Status {
        failed_tests,
        result,
        skipped_tests,
        statistics,
    }
}

fn summary(core: &Status, extended: Option<&Status>) -> String {
    let mut parts = vec![format!("Core tests {}.", describe(core))];
    if let Some(extended) = extended {
        parts.push(format!("Extended tests {}.", describe(extended)));
    }
    parts.join(" ")
}

fn describe(status: &Status) -> String {
    let plural =
        |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
    match status.result {
        INTERRUPTED => format!(
            "were interrupted after {} passed, {} failed and {} skipped",
            status.statistics.passed, status.statistics.failed, status.statistics.skipped
        ),
        "failure" if status.statistics.skipped > 0 => format!(
            "failed with {} and {}",
            plural(status.statistics.failed, "test failure"),
            plural(status.statistics.skipped, "test skip")
        ),
        "failure" => format!(
            "failed with {}",
            plural(status.statistics.failed, "test failure")
        ),
        "partial" => format!(
            "partially succeeded with {}",
            plural(status.statistics.skipped, "test skip")
        ),
        _ => "succeeded".into(),
    }
}

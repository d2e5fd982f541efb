//! junit: the suite as JUnit XML (the Jenkins dialect every CI reads), written with quick-junit.
//! One `<testsuite>` for the run, one `<testcase>` per case: failures carry the one-line message
//! as the `message` attribute and the evidence as the element's text; skips carry the reason.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::markdown::split_lines;
use crate::results::{Outcome, SuiteResults};

/// Renders the JUnit XML document.
pub fn junit_xml(results: &SuiteResults) -> String {
    let implementation = &results.implementation;
    let mut suite = TestSuite::new(format!(
        "conformance: {} {}{}",
        implementation.project,
        implementation.version,
        if results.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    ));
    suite.set_time(results.duration);
    // quick-junit takes a chrono timestamp; the attribute is plain text, so pass our own.
    suite.extra.insert(
        "timestamp".into(),
        stdx::time::rfc3339(results.started_unix_seconds).into(),
    );
    // quick-junit counts skips as `disabled`; many readers (GitLab, Jenkins plugins) look for
    // `skipped` on the suite, so state it too.
    suite
        .extra
        .insert("skipped".into(), results.tally().skipped.to_string().into());
    if results.interrupted {
        suite.add_property(Property::new("interrupted", "true"));
    }
    suite.add_properties([
        Property::new("implementation.project", implementation.project.as_str()),
        Property::new("implementation.version", implementation.version.as_str()),
        Property::new("gateway.url", results.gateway_url.as_str()),
        Property::new("mode", results.mode.as_str()),
        Property::new("gatewayAPI.version", results.gateway_api.version.as_str()),
        Property::new("gatewayAPI.channel", results.gateway_api.channel.as_str()),
    ]);
    for case in &results.cases {
        let status = match &case.outcome {
            Outcome::Passed => TestCaseStatus::success(),
            Outcome::Failed { message, detail } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(message.as_str()).set_type("failure");
                let mut body = detail.clone();
                if let Some(split) = &case.split {
                    if !body.is_empty() {
                        body.push_str("\n\n");
                    }
                    body.push_str("observed split:\n");
                    body.push_str(&split_lines(split).join("\n"));
                }
                if !body.is_empty() {
                    status.set_description(body);
                }
                status
            }
            Outcome::Skipped { reason } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.as_str());
                status
            }
        };
        let mut test_case = TestCase::new(case.name.as_str(), status);
        test_case
            .set_classname(format!("conformance.{}", case.support.as_str()))
            .set_time(case.duration);
        if !case.upstream.is_empty() {
            test_case.add_property(Property::new("upstream", case.upstream.join(", ")));
        }
        test_case.add_properties([
            Property::new("feature", case.feature.as_str()),
            Property::new("support", case.support.as_str()),
            Property::new("requests", case.requests.to_string()),
        ]);
        if let Some(split) = &case.split {
            for share in &split.backends {
                test_case.add_property(Property::new(
                    format!("split.{}", share.backend),
                    format!("{} (expected {:.1}%)", share.count, share.expected * 100.0),
                ));
            }
        }
        let system_out: Vec<&str> = [Some(case.description.as_str()), case.decision.as_deref()]
            .into_iter()
            .flatten()
            .filter(|text| !text.is_empty())
            .collect();
        if !system_out.is_empty() {
            test_case.set_system_out(system_out.join("\n"));
        }
        suite.add_test_case(test_case);
    }
    let mut report = Report::new("gateway-conformance");
    report.set_time(results.duration);
    report.add_test_suite(suite);
    report
        .to_string()
        .expect("quick-junit serializes to memory without I/O errors")
}

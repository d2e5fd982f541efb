//! junit: the suite as JUnit XML (the Jenkins dialect every CI reads), built as a
//! `stdx::junit` document. One `<testsuite>` for the run, one `<testcase>` per case: failures
//! carry the one-line message as the `message` attribute and the evidence as the element's
//! text; skips carry the reason.

use stdx::junit::{Case, Report, Status, Suite};

use super::markdown::split_lines;
use crate::results::{Outcome, SuiteResults};

/// Renders the JUnit XML document.
pub fn junit_xml(results: &SuiteResults) -> String {
    let implementation = &results.implementation;
    let mut properties = Vec::new();
    if results.interrupted {
        properties.push(("interrupted".to_owned(), "true".to_owned()));
    }
    for (name, value) in [
        ("implementation.project", &implementation.project),
        ("implementation.version", &implementation.version),
        ("gateway.url", &results.gateway_url),
        ("mode", &results.mode.as_str().to_owned()),
        ("gatewayAPI.version", &results.gateway_api.version),
        ("gatewayAPI.channel", &results.gateway_api.channel),
    ] {
        properties.push((name.to_owned(), value.clone()));
    }
    let suite = Suite {
        name: format!(
            "conformance: {} {}{}",
            implementation.project,
            implementation.version,
            if results.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        ),
        time: Some(results.duration),
        timestamp: Some(stdx::time::rfc3339(results.started_unix_seconds)),
        properties,
        cases: results.cases.iter().map(case).collect(),
    };
    Report {
        name: "gateway-conformance".into(),
        time: Some(results.duration),
        suites: vec![suite],
    }
    .to_xml()
}

fn case(case: &crate::results::CaseResult) -> Case {
    let status = match &case.outcome {
        Outcome::Passed => Status::Passed,
        Outcome::Failed { message, detail } => {
            let mut description = detail.clone();
            if let Some(split) = &case.split {
                if !description.is_empty() {
                    description.push_str("\n\n");
                }
                description.push_str("observed split:\n");
                description.push_str(&split_lines(split).join("\n"));
            }
            Status::Failed {
                message: message.clone(),
                kind: "failure".into(),
                description,
            }
        }
        Outcome::Skipped { reason } => Status::Skipped {
            message: reason.clone(),
        },
    };
    let mut properties = Vec::new();
    if !case.upstream.is_empty() {
        properties.push(("upstream".to_owned(), case.upstream.join(", ")));
    }
    properties.push(("feature".to_owned(), case.feature.clone()));
    properties.push(("support".to_owned(), case.support.as_str().to_owned()));
    properties.push(("requests".to_owned(), case.requests.to_string()));
    if let Some(split) = &case.split {
        for share in &split.backends {
            properties.push((
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
    Case {
        name: case.name.clone(),
        classname: Some(format!("conformance.{}", case.support.as_str())),
        time: Some(case.duration),
        properties,
        status,
        system_out: (!system_out.is_empty()).then(|| system_out.join("\n")),
    }
}

//! The run's own reports, written at the end into its folder: `run.json` (machine-readable:
//! verdict, release, pins, images, steps with times), `summary.md` (for people and
//! `$GITHUB_STEP_SUMMARY`: the verdict first, the pins, the image digests, a timeline of the
//! steps that shows what overlapped, the case results) and `junit-pipeline.xml` (one testcase
//! per step, like kubetest2's `junit_runner.xml`). Each is written atomically
//! (`stdx::fs::write_atomic`): a reader never sees half a report.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::graph::{Status, Timing, When};
use crate::inputs::Inputs;
use crate::{Outcome, Verdict};
use cluster::run_cluster::Fate;
use stdx::junit;

mod cells;

pub const RUN_JSON: &str = "run.json";
pub const SUMMARY_MD: &str = "summary.md";
pub const PIPELINE_JUNIT: &str = "junit-pipeline.xml";

/// Bumped when a field of run.json changes meaning.
pub const RUN_SCHEMA: u32 = 1;

/// Writes the three reports; returns their paths.
pub fn write_all(inputs: &Inputs, outcome: &Outcome) -> io::Result<Vec<PathBuf>> {
    let dir = &inputs.artifacts_dir;
    std::fs::create_dir_all(dir)?;
    let files = [
        (RUN_JSON, run_json(inputs, outcome)),
        (SUMMARY_MD, summary(inputs, outcome)),
        (PIPELINE_JUNIT, junit(inputs, outcome)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        stdx::fs::write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

fn millis(duration: Option<Duration>) -> serde_json::Value {
    duration.map_or(serde_json::Value::Null, |d| json!(d.as_millis() as u64))
}

fn status_parts(status: &Status) -> (&'static str, String) {
    match status {
        Status::Succeeded => ("succeeded", String::new()),
        Status::Failed(failure) if failure.is_cancelled() => ("cancelled", failure.message.clone()),
        Status::Failed(failure) => ("failed", failure.message.clone()),
        Status::Skipped(why) => ("skipped", why.clone()),
    }
}

/// The pins in force, as (name, value) rows.
pub fn pin_rows(inputs: &Inputs) -> Vec<(&'static str, String)> {
    let pins = &inputs.settings.pins;
    vec![
        ("kind", pins.kind.version.with_v()),
        ("kind node image", pins.node_image.reference.clone()),
        ("kubectl", pins.kubectl.version.with_v()),
        ("helm", pins.helm.version.with_v()),
        (
            "Gateway API CRDs",
            format!(
                "{} {} (sha256 {})",
                pins.gateway_api.version.with_v(),
                pins.gateway_api.channel.as_str(),
                pins.gateway_api.sha256
            ),
        ),
        ("echo image", pins.images.echo.clone()),
        (
            "cloud-provider-kind",
            pins.images.cloud_provider_kind.reference.clone(),
        ),
        ("Go (container builds)", pins.build.go.to_string()),
        ("Rust (container builds)", pins.build.rust.to_string()),
    ]
}

pub fn run_json(inputs: &Inputs, outcome: &Outcome) -> String {
    let steps: Vec<serde_json::Value> = outcome
        .timings
        .iter()
        .map(|timing| {
            let (status, message) = status_parts(&timing.status);
            json!({
                "name": timing.id.to_string(),
                "needs": timing.needs.iter().map(|need| need.to_string()).collect::<Vec<_>>(),
                "when": timing.when.as_str(),
                "status": status,
                "message": message,
                "started_ms": millis(timing.started),
                "finished_ms": millis(timing.finished),
            })
        })
        .collect();
    let images: Vec<serde_json::Value> = outcome
        .record
        .iter()
        .flat_map(|record| &record.images)
        .map(|image| json!({"reference": image.reference, "digest": image.digest, "id": image.id}))
        .collect();
    let pins: serde_json::Map<String, serde_json::Value> = pin_rows(inputs)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    let value = json!({
        "schema": RUN_SCHEMA,
        "verdict": outcome.verdict.as_str(),
        "exit_code": outcome.verdict.exit_code(),
        "release": {
            "repo": inputs.repo,
            "requested_tag": inputs.tag,
            "tag": outcome.tag,
            "url": outcome.record.as_ref().map(|r| r.release_url.clone()),
        },
        "project": inputs.project(),
        "config": inputs.settings.config_path,
        "failing_step": outcome.failing_step.as_ref().map(|(step, message)| json!({"step": step.to_string(), "message": message})),
        "failing_cases": outcome.failing_cases,
        "kubernetes": inputs.kubernetes.to_json(),
        "cluster": match &inputs.target_cluster {
            crate::inputs::Target::Kind => json!({"mode": "kind", "name": inputs.cluster_name, "kept": outcome.kept_cluster.is_some(), "fate": outcome.cluster.map(|fate| fate.as_str())}),
            crate::inputs::Target::Existing { context, namespace, run_id, .. } => json!({"mode": "existing", "context": context, "namespace": namespace, "run_label": format!("{}={run_id}", crate::inputs::RUN_LABEL)}),
        },
        "artifacts_dir": inputs.artifacts_dir,
        "pins": pins,
        "overrides": inputs.overrides(),
        "images": images,
        "steps": steps,
        "cells": cells::json(outcome),
        "notifications": outcome.notifications.iter().map(|n| json!({
            "channel": n.channel, "delivered": n.delivered, "detail": n.detail,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// The headline: what happened, in one line.
pub fn headline(inputs: &Inputs, outcome: &Outcome) -> String {
    let what = format!("{} {}", inputs.project(), outcome.tag);
    match &outcome.verdict {
        Verdict::Passed => format!("{what}: verified, every case passed"),
        Verdict::ReleaseFailed => format!("{what}: FAILED, the release is broken"),
        Verdict::CouldNotRun => format!("{what}: COULD NOT RUN the verification"),
        Verdict::BadInput => format!("{what}: bad input"),
        Verdict::Interrupted(_) => format!("{what}: INTERRUPTED before a verdict"),
    }
}

/// The timeline: one row per step that ran, a bar from its start to its end on a shared scale.
pub fn timeline(timings: &[Timing], width: usize) -> String {
    let end = timings
        .iter()
        .filter_map(|timing| timing.finished)
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        .max(0.001);
    let mut text = String::new();
    for timing in timings {
        let (Some(start), Some(finish)) = (timing.started, timing.finished) else {
            let (status, _) = status_parts(&timing.status);
            let _ = writeln!(
                text,
                "{:<14} {:>7} {:>7}  {:<width$}  {status}",
                timing.id, "-", "-", ""
            );
            continue;
        };
        let from = ((start.as_secs_f64() / end) * width as f64).floor() as usize;
        let to =
            (((finish.as_secs_f64() / end) * width as f64).ceil() as usize).clamp(from + 1, width);
        let bar: String = (0..width)
            .map(|column| {
                if column >= from && column < to {
                    '█'
                } else {
                    '·'
                }
            })
            .collect();
        let (status, _) = status_parts(&timing.status);
        let _ = writeln!(
            text,
            "{:<14} {:>6.1}s {:>6.1}s  {bar}  {status}",
            timing.id,
            start.as_secs_f64(),
            finish.saturating_sub(start).as_secs_f64()
        );
    }
    text
}

/// One thing the run lacks, said.
pub fn need_text(need: &crate::needs::Need) -> String {
    use crate::needs::Need;
    match need {
        Need::Tool { found, .. } => found.clone(),
        Need::Engine { why } => format!("the docker engine does not answer: {why}"),
        Need::Network { step, why } => format!("{step} could not reach its host: {why}"),
    }
}

/// What became of the cluster, as the owner reported it (never assumed from the flags).
pub fn cluster_line(inputs: &Inputs, outcome: &Outcome) -> String {
    match &inputs.target_cluster {
        crate::inputs::Target::Existing {
            context, namespace, ..
        } => format!(
            "the user's cluster (context `{context}`); the run's namespace `{namespace}` and labelled objects are removed, nothing else is touched"
        ),
        crate::inputs::Target::Kind if outcome.cells.len() > 1 => outcome
            .cells
            .iter()
            .map(|cell| fate_words(&cell.cluster_name, cell.cluster))
            .collect::<Vec<_>>()
            .join(", "),
        crate::inputs::Target::Kind => fate_words(&inputs.cluster_name, outcome.cluster),
    }
}

/// A cluster and what became of it, for people.
fn fate_words(name: &str, fate: Option<Fate>) -> String {
    match fate {
        None | Some(Fate::NeverCreated) => format!("`{name}` (never created)"),
        Some(Fate::Deleted) => format!("`{name}` (deleted)"),
        Some(Fate::Kept) => format!(
            "`{name}` (kept with --keep-cluster; delete it with `kind delete cluster --name {name}`)"
        ),
        Some(Fate::MayExist) => format!(
            "`{name}` (MAY STILL EXIST: the delete failed; delete it with `kind delete cluster --name {name}`)"
        ),
    }
}

pub fn summary(inputs: &Inputs, outcome: &Outcome) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# verify-release: {}\n", headline(inputs, outcome));
    if outcome.cells.len() > 1 {
        md.push_str(&cells::matrix(outcome));
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "- Verdict: **{}** (exit {})",
        outcome.verdict.as_str(),
        outcome.verdict.exit_code()
    );
    if let Some((step, message)) = &outcome.failing_step {
        let _ = writeln!(
            md,
            "- Failing step: `{step}`: {}",
            message.replace('\n', " ")
        );
    }
    if !outcome.failing_cases.is_empty() {
        let _ = writeln!(
            md,
            "- Failing cases: {}",
            outcome
                .failing_cases
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        md,
        "- Release: {} {} (asked for `{}`){}",
        inputs.repo,
        outcome.tag,
        inputs.tag,
        outcome
            .record
            .as_ref()
            .map(|record| format!(", {}", record.release_url))
            .unwrap_or_default()
    );
    let _ = writeln!(md, "- {}", inputs.kubernetes.line());
    let _ = writeln!(md, "- Cluster: {}", cluster_line(inputs, outcome));
    if !outcome.missing.is_empty() {
        let _ = writeln!(md, "- What this run lacks:");
        for need in &outcome.missing {
            let _ = writeln!(
                md,
                "  - {}; next: {}",
                need_text(need).replace('\n', " "),
                need.next_step(inputs)
            );
        }
    }
    let _ = writeln!(md, "- Artifacts: `{}`\n", inputs.artifacts_dir.display());
    let _ = writeln!(md, "## Pins\n\n| Pin | Value |\n|---|---|");
    for (name, value) in pin_rows(inputs) {
        let _ = writeln!(md, "| {name} | `{value}` |");
    }
    for used in &inputs.overrides() {
        let _ = writeln!(md, "\n> Override in force: {used}");
    }
    if let Some(record) = &outcome.record {
        let _ = writeln!(
            md,
            "\n## Release artifacts\n\n| Asset | Bytes | sha256 |\n|---|---|---|"
        );
        for asset in &record.assets {
            let _ = writeln!(
                md,
                "| {} | {} | `{}` |",
                asset.name, asset.size, asset.sha256
            );
        }
        let _ = writeln!(md, "\n| Image | Digest | Image ID |\n|---|---|---|");
        for image in &record.images {
            let _ = writeln!(
                md,
                "| {} | `{}` | `{}` |",
                image.reference,
                image
                    .digest
                    .as_deref()
                    .unwrap_or("(loaded from an archive)"),
                image.id
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Steps\n\nTime runs left to right; bars on the same columns ran at the same time.\n\n```text"
    );
    md.push_str(&timeline(&outcome.timings, 50));
    let _ = writeln!(md, "```");
    for timing in &outcome.timings {
        if let Status::Failed(failure) = &timing.status {
            let _ = writeln!(md, "\n**{}**: {}", timing.id, failure.message);
        }
    }
    if let Some(results) = &outcome.suite {
        let tally = results.tally();
        let _ = writeln!(
            md,
            "\n## Conformance\n\n{} passed, {} failed, {} skipped (reports in `conformance/`).\n\n| Case | Result |\n|---|---|",
            tally.passed, tally.failed, tally.skipped
        );
        for case in &results.cases {
            let result = match &case.outcome {
                conformance::results::Outcome::Passed => "passed".to_owned(),
                conformance::results::Outcome::Failed { message, .. } => {
                    format!(
                        "**failed**: {}",
                        message.replace('|', "\\|").replace('\n', " ")
                    )
                }
                conformance::results::Outcome::Skipped { reason } => {
                    format!("skipped: {}", reason.replace('|', "\\|"))
                }
            };
            let _ = writeln!(md, "| `{}` | {result} |", case.name);
        }
    }
    md
}

pub fn junit(inputs: &Inputs, outcome: &Outcome) -> String {
    let total = outcome
        .timings
        .iter()
        .filter_map(|timing| timing.finished)
        .max()
        .unwrap_or_default();
    let case_of = |timing: &Timing| {
        let status = match &timing.status {
            Status::Succeeded => junit::Status::Passed,
            Status::Failed(failure) => junit::Status::Failed {
                message: failure.message.clone(),
                kind: if failure.is_cancelled() {
                    "cancelled"
                } else {
                    "failure"
                }
                .into(),
                description: String::new(),
            },
            Status::Skipped(why) => junit::Status::Skipped {
                message: why.clone(),
            },
        };
        let mut case = junit::Case::new(timing.id.to_string(), status);
        case.classname = Some(
            match timing.when {
                When::Normal => "verify-release.step",
                When::OnFailure => "verify-release.diagnostics",
                When::Always => "verify-release.cleanup",
            }
            .into(),
        );
        case.time = Some(timing.duration());
        case
    };
    let suite_name = format!("verify-release {} {}", inputs.project(), outcome.tag);
    let mut suites = vec![junit::Suite {
        name: suite_name.clone(),
        time: Some(total),
        properties: kubernetes_properties(&inputs.kubernetes),
        cases: cells::timings_of(&outcome.timings, None)
            .map(case_of)
            .collect(),
        ..junit::Suite::default()
    }];
    // A run over several cells: a testsuite per cell, named by its Kubernetes.
    for cell in inputs.cells.iter().filter(|cell| cell.cell.is_some()) {
        let cases: Vec<junit::Case> = cells::timings_of(&outcome.timings, cell.cell)
            .map(case_of)
            .collect();
        let time = cells::timings_of(&outcome.timings, cell.cell)
            .map(Timing::duration)
            .sum();
        suites.push(junit::Suite {
            name: format!("{suite_name} kubernetes {}", cell.label),
            time: Some(time),
            properties: vec![
                ("kubernetes.minor".to_owned(), cell.label.clone()),
                (
                    "kubernetes.node_image".to_owned(),
                    cell.settings.pins.node_image.reference.clone(),
                ),
                ("cluster".to_owned(), cell.cluster_name.clone()),
            ],
            cases,
            ..junit::Suite::default()
        });
    }
    junit::Report {
        name: "verify-release".into(),
        time: None,
        suites,
    }
    .to_xml()
}

/// The run's Kubernetes minor and the supported minors it did not verify, as JUnit properties.
fn kubernetes_properties(choice: &crate::kubernetes::Choice) -> Vec<(String, String)> {
    let mut properties = vec![
        (
            "kubernetes.minor".to_owned(),
            choice.minor().unwrap_or("the cluster's own").to_owned(),
        ),
        ("kubernetes.why".to_owned(), choice.why.clone()),
    ];
    if choice.minors.len() > 1 {
        properties.push(("kubernetes.minors".to_owned(), choice.minors.join(",")));
    }
    for skipped in &choice.not_verified {
        properties.push((
            format!("kubernetes.not_verified.{}", skipped.minor),
            skipped.reason.clone(),
        ));
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Failure;

    fn timing(name: &'static str, when: When, span: Option<(u64, u64)>, status: Status) -> Timing {
        Timing {
            id: crate::event::Stage::parse(name)
                .expect("a step name")
                .into(),
            needs: Vec::new(),
            when,
            status,
            started: span.map(|(start, _)| Duration::from_secs(start)),
            finished: span.map(|(_, end)| Duration::from_secs(end)),
        }
    }

    #[test]
    fn the_timeline_shows_overlap_on_shared_columns() {
        let timings = [
            timing("cluster", When::Normal, Some((0, 5)), Status::Succeeded),
            timing("assets", When::Normal, Some((0, 5)), Status::Succeeded),
            timing(
                "charts",
                When::Normal,
                Some((5, 10)),
                Status::Failed(Failure::release("x")),
            ),
            timing(
                "fixture",
                When::Normal,
                None,
                Status::Skipped("not run".into()),
            ),
        ];
        let text = timeline(&timings, 10);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].contains("█████·····  succeeded"), "{text}");
        assert!(lines[1].contains("█████·····  succeeded"), "{text}");
        assert!(lines[2].contains("·····█████  failed"), "{text}");
        assert!(
            lines[2].starts_with("charts            5.0s    5.0s"),
            "{text}"
        );
        assert!(lines[3].ends_with("skipped"), "{text}");
    }
}

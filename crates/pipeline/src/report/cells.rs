//! The reports of a run over several cells: each cell's line in `run.json`, the matrix table
//! `summary.md` starts with (a row per case, a column per cell), and a JUnit testsuite per cell.

use std::fmt::Write as _;

use serde_json::json;

use crate::Outcome;
use crate::cell_outcome::CellOutcome;
use crate::graph::Timing;
use conformance::results::Outcome as CaseOutcome;

/// `run.json` `cells`: one entry per cell (one in a run over one cluster).
pub fn json(outcome: &Outcome) -> serde_json::Value {
    json!(
        outcome
            .cells
            .iter()
            .map(|cell| {
                let tally = cell.suite.as_ref().map(|results| {
                    let tally = results.tally();
                    json!({"passed": tally.passed, "failed": tally.failed, "skipped": tally.skipped})
                });
                json!({
                    "label": cell.label,
                    "kubernetes": cell.minor,
                    "node_image": cell.node_image,
                    "kubectl": cell.kubectl,
                    "cluster": cell.cluster_name,
                    "fate": cell.cluster.map(|fate| fate.as_str()),
                    "dir": cell.dir,
                    "verdict": cell.verdict.as_str(),
                    "failing_step": cell.failing_step.as_ref().map(|(step, message)| json!({"step": step.to_string(), "message": message})),
                    "failing_cases": cell.failing_cases,
                    "conformance": tally,
                })
            })
            .collect::<Vec<_>>()
    )
}

/// What one cell's case came to, in a table cell.
fn mark(cell: &CellOutcome, case: &str) -> &'static str {
    match cell
        .suite
        .as_ref()
        .and_then(|results| results.cases.iter().find(|result| result.name == case))
        .map(|result| &result.outcome)
    {
        Some(CaseOutcome::Passed) => "pass",
        Some(CaseOutcome::Failed { .. }) => "**FAIL**",
        Some(CaseOutcome::Skipped { .. }) => "skip",
        None => "not run",
    }
}

/// The matrix `summary.md` starts with in a run over several cells: each cell's verdict, then
/// a row per case and a column per cell.
pub fn matrix(outcome: &Outcome) -> String {
    let mut md = String::new();
    let header: Vec<String> = outcome
        .cells
        .iter()
        .map(|cell| format!("Kubernetes {}", cell.label))
        .collect();
    let _ = writeln!(md, "| | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(header.len()));
    let verdicts: Vec<String> = outcome
        .cells
        .iter()
        .map(|cell| format!("**{}**", cell.verdict.as_str()))
        .collect();
    let _ = writeln!(md, "| Verdict | {} |", verdicts.join(" | "));
    for case in conformance::cases::names() {
        let marks: Vec<&str> = outcome.cells.iter().map(|cell| mark(cell, case)).collect();
        let _ = writeln!(md, "| `{case}` | {} |", marks.join(" | "));
    }
    md.push('\n');
    for cell in &outcome.cells {
        let _ = write!(
            md,
            "- Kubernetes {}: **{}**, cluster `{}` ({}), node image `{}`, kubectl {}, reports in `{}`",
            cell.label,
            cell.verdict.as_str(),
            cell.cluster_name,
            cell.cluster.map_or("-", |fate| fate.as_str()),
            cell.node_image,
            cell.kubectl,
            cell.dir.display()
        );
        if let Some((step, message)) = &cell.failing_step {
            let _ = write!(
                md,
                "; failing step `{step}`: {}",
                message.replace('\n', " ")
            );
        }
        md.push('\n');
    }
    md
}

/// The timings of one testsuite: the run's own steps (`cell` None), or one cell's.
pub fn timings_of(
    timings: &[Timing],
    cell: Option<crate::event::Cell>,
) -> impl Iterator<Item = &Timing> {
    timings.iter().filter(move |timing| timing.id.cell == cell)
}

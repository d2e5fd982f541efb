//! markdown: the human summary of a run, for the report directory and GitHub's step summary.
//! A headline with the verdict, one table row per case, a text bar chart of the observed split
//! for the load-balancing and weight cases, and each failure's evidence folded under
//! `<details>`. Evidence is capped per case so one noisy failure cannot crowd out the rest.

use std::fmt::Write;

use crate::results::{ObservedSplit, Outcome, SuiteResults};

/// Width of a 100% bar, in characters.
const BAR_WIDTH: usize = 40;
/// Most bytes of one failure's detail shown in the summary; the full text is in the JUnit and
/// JSON reports.
pub const DETAIL_LIMIT: usize = 4096;

/// Renders the Markdown summary.
pub fn markdown(results: &SuiteResults) -> String {
    let tally = results.tally();
    let implementation = &results.implementation;
    let mut out = String::new();
    let verdict = if results.interrupted {
        "⏹️ interrupted"
    } else if results.success() {
        "✅ passed"
    } else {
        "❌ failed"
    };
    let _ = writeln!(
        out,
        "## Conformance: {} {} {verdict}\n",
        implementation.project, implementation.version
    );
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped in {} · {} mode · gateway `{}` · Gateway API {} ({})\n",
        tally.passed,
        tally.failed,
        tally.skipped,
        seconds(results.duration),
        results.mode.as_str(),
        results.gateway_url,
        results.gateway_api.version,
        results.gateway_api.channel
    );
    if results.interrupted {
        out.push_str("The run was interrupted before every case ran: the results below are incomplete, and cases not run are skipped.\n\n");
    }
    out.push_str(
        "| Case | Upstream test | Feature | Support | Result | Requests | Time | Note |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for case in &results.cases {
        let (result, note) = match &case.outcome {
            Outcome::Passed => ("✅ passed", String::new()),
            Outcome::Failed { message, .. } => ("❌ failed", message.clone()),
            Outcome::Skipped { reason } => ("⏭️ skipped", reason.clone()),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {result} | {} | {} | {} |",
            case.name,
            if case.upstream.is_empty() {
                "-".to_owned()
            } else {
                cell(&case.upstream.join(", "))
            },
            cell(&case.feature),
            case.support.as_str(),
            case.requests,
            seconds(case.duration),
            cell(&note)
        );
    }
    out.push_str(
        "\n_Requests_ counts every request a case sent, including attempts while waiting for the gateway to become consistent; an observed split counts only the responses its test judged (the decision under it says how many were sent, answered and counted).\n",
    );
    let splits: Vec<_> = results
        .cases
        .iter()
        .filter_map(|case| case.split.as_ref().map(|split| (case, split)))
        .collect();
    if !splits.is_empty() {
        out.push_str("\n### Observed splits\n");
        for (case, split) in splits {
            let _ = writeln!(
                out,
                "\n`{}` ({}, {} responses):\n\n```text\n{}\n```",
                case.name,
                case.outcome.label(),
                split.total(),
                split_lines(split).join("\n")
            );
            if let Some(decision) = &case.decision {
                let _ = writeln!(out, "\n{}", decision.replace('\n', "  \n"));
            }
        }
    }
    let failures: Vec<_> = results
        .cases
        .iter()
        .filter_map(|case| match &case.outcome {
            Outcome::Failed { message, detail } => Some((case, message, detail)),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        out.push_str("\n### Failures\n");
        for (case, message, detail) in failures {
            let _ = writeln!(
                out,
                "\n#### `{}` ({})\n\n{}",
                case.name,
                cell(&case.feature),
                message
            );
            if !detail.is_empty() {
                let evidence = cap(detail, DETAIL_LIMIT);
                let fence = fence_for(&evidence);
                let _ = writeln!(
                    out,
                    "\n<details><summary>Evidence</summary>\n\n{fence}text\n{evidence}\n{fence}\n\n</details>"
                );
            }
        }
    }
    out
}

/// One line per backend: name, bar of the observed share, observed and expected percent, count.
/// A `|` marks where the expected share ends, so a skew shows as a bar that misses its mark.
pub(crate) fn split_lines(split: &ObservedSplit) -> Vec<String> {
    let total = split.total();
    let name_width = split
        .backends
        .iter()
        .map(|share| share.backend.chars().count())
        .max()
        .unwrap_or(0);
    split
        .backends
        .iter()
        .map(|share| {
            let observed = share.observed(total);
            format!(
                "{:<name_width$}  {}  {:>5.1}%  expected {:>5.1}%  ({})",
                share.backend,
                bar(observed, share.expected),
                observed * 100.0,
                share.expected * 100.0,
                share.count
            )
        })
        .collect()
}

/// `observed` as filled cells, the expected end as `|` (or `┃` where the bar reaches it).
fn bar(observed: f64, expected: f64) -> String {
    let cells = |share: f64| ((share.clamp(0.0, 1.0) * BAR_WIDTH as f64).round()) as usize;
    let filled = cells(observed);
    let mark = (expected > 0.0).then(|| cells(expected).clamp(1, BAR_WIDTH) - 1);
    (0..BAR_WIDTH)
        .map(|cell| match (cell < filled, Some(cell) == mark) {
            (true, true) => '┃',
            (false, true) => '|',
            (true, false) => '█',
            (false, false) => '·',
        })
        .collect()
}

fn seconds(duration: std::time::Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// A table cell: one line, no column breaks.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// At most `limit` bytes of `text`, cut at a character boundary, saying how much was left out.
fn cap(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… {} more bytes in junit.xml and conformance.json",
        &text[..end],
        text.len() - end
    )
}

/// A code fence longer than any backtick run in `text` (CommonMark closes a fence only with
/// one at least as long), so evidence that contains fences cannot end ours early.
fn fence_for(text: &str) -> String {
    let longest = text
        .split(|character| character != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

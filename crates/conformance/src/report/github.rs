//! github: what a run shows in GitHub Actions, as strings for the xtask to print or append.
//! At most [`MAX_ANNOTATIONS`] `::error` workflow commands (GitHub shows no more than 10 error
//! annotations per step), and the Markdown summary cut to fit `$GITHUB_STEP_SUMMARY`'s 1 MiB
//! per-step limit (a larger file makes GitHub drop the whole summary with an error).

use crate::results::{Outcome, SuiteResults};

/// GitHub displays at most 10 error annotations per step.
pub const MAX_ANNOTATIONS: usize = 10;
/// GitHub rejects a step summary larger than 1 MiB.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// One `::error title=…::…` line per failed case, in run order. When more cases failed than
/// fit, the last line names the remaining ones instead, so no failure goes unmentioned.
pub fn annotations(results: &SuiteResults) -> Vec<String> {
    annotations_titled(results, "conformance")
}

/// [`annotations`] with each title starting `prefix` (`conformance (Kubernetes 1.35)`), for a
/// run whose several suites must each say which one failed.
pub fn annotations_titled(results: &SuiteResults, prefix: &str) -> Vec<String> {
    let failed: Vec<(&str, &str)> = results
        .cases
        .iter()
        .filter_map(|case| match &case.outcome {
            Outcome::Failed { message, .. } => Some((case.name.as_str(), message.as_str())),
            _ => None,
        })
        .collect();
    let shown = if failed.len() > MAX_ANNOTATIONS {
        MAX_ANNOTATIONS - 1
    } else {
        failed.len()
    };
    let mut lines: Vec<String> = failed[..shown]
        .iter()
        .map(|(name, message)| error_command(&format!("{prefix}: {name} failed"), message))
        .collect();
    if shown < failed.len() {
        let rest: Vec<&str> = failed[shown..].iter().map(|(name, _)| *name).collect();
        lines.push(error_command(
            &format!("{prefix}: {} more cases failed", rest.len()),
            &format!(
                "{} (see the step summary and the report directory)",
                rest.join(", ")
            ),
        ));
    }
    lines
}

/// `markdown` if it fits in `available` bytes; otherwise its longest prefix of whole lines that
/// fits together with a note saying it was cut, with any open code fence or `<details>` block
/// closed so the rest of the page renders. `available` is what is left of
/// [`STEP_SUMMARY_LIMIT`] after what the step already wrote to the summary file.
pub fn bounded_step_summary(markdown: &str, available: usize) -> String {
    if markdown.len() <= available {
        return markdown.to_owned();
    }
    const NOTE: &str = "\n_The summary was cut to fit GitHub's 1 MiB step-summary limit; \
                        the full report is summary.md in the report directory._\n";
    // Room for the note and for closing one fence (as long as any we could be inside) and one
    // details block.
    let longest_fence = markdown
        .lines()
        .map(|line| backtick_run(line.trim_start()))
        .max()
        .unwrap_or(0);
    let closers = longest_fence + "\n</details>\n".len() + 1;
    let Some(budget) = available.checked_sub(NOTE.len() + closers) else {
        return String::new();
    };
    let mut end = 0;
    for (index, _) in markdown.match_indices('\n') {
        if index + 1 > budget {
            break;
        }
        end = index + 1;
    }
    let kept = &markdown[..end];
    let mut out = kept.to_owned();
    if let Some(fence) = open_fence(kept) {
        out.push_str(&"`".repeat(fence));
        out.push('\n');
    }
    if kept.matches("<details>").count() > kept.matches("</details>").count() {
        out.push_str("</details>\n");
    }
    out.push_str(NOTE);
    out
}

/// Backticks at the start of `line`.
fn backtick_run(line: &str) -> usize {
    line.bytes().take_while(|byte| *byte == b'`').count()
}

/// The length of the code fence still open at the end of `text`, if any (CommonMark: a fence
/// opens with 3 or more backticks and closes with a bare run at least as long).
fn open_fence(text: &str) -> Option<usize> {
    let mut open: Option<usize> = None;
    for line in text.lines() {
        let line = line.trim_start();
        let run = backtick_run(line);
        match open {
            None if run >= 3 => open = Some(run),
            Some(length) if run >= length && line[run..].trim().is_empty() => open = None,
            _ => {}
        }
    }
    open
}

/// A workflow command: properties escape `%`, CR, LF, `:` and `,`; data escapes `%`, CR, LF.
fn error_command(title: &str, message: &str) -> String {
    let data = escape_data(message);
    let title = escape_data(title).replace(':', "%3A").replace(',', "%2C");
    format!("::error title={title}::{data}")
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

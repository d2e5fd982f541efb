//! What a notification says: the [`Message`] the caller fills in, the short one-paragraph text
//! every channel shares, the capped Markdown body, and where the run can be seen
//! ([`run_url`]).

use std::collections::BTreeMap;
use std::path::Path;

/// GitHub refuses issue and comment bodies over 65 536 characters; ours stay well under.
pub(crate) const MAX_BODY_CHARS: usize = 60_000;
/// Failing cases named in the one-paragraph text; the rest are counted.
const CASES_IN_TEXT: usize = 5;
/// A failing step's reason is cut to this in the one-paragraph text.
const REASON_IN_TEXT: usize = 200;

/// One verification's outcome, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub project: String,
    pub tag: String,
    /// As the pipeline names it (`passed`, `failed`, `could not run`, …).
    pub verdict: String,
    pub exit_code: u8,
    /// The failing step and why it failed.
    pub failing_step: Option<(String, String)>,
    pub failing_cases: Vec<String>,
    /// In a run over several Kubernetes minors, each cell that did not pass and how it ended
    /// (`Kubernetes 1.35: failed`).
    pub failing_cells: Vec<String>,
    /// A link to the run ([`run_url`]).
    pub run_url: String,
    /// The run's `summary.md`.
    pub summary_markdown: String,
}

impl Message {
    /// `PROJECT TAG`.
    pub fn release(&self) -> String {
        format!("{} {}", self.project, self.tag)
    }

    /// One short paragraph: the release, the verdict, the failing step or cases, the link.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{}: verification {} (exit code {}).",
            self.release(),
            self.verdict,
            self.exit_code
        );
        if let Some((step, reason)) = &self.failing_step {
            let reason = shorten(reason.lines().next().unwrap_or(""), REASON_IN_TEXT);
            text.push_str(&format!(" Failing step: {step}"));
            if !reason.is_empty() {
                text.push_str(&format!(" ({reason})"));
            }
            text.push('.');
        }
        if !self.failing_cases.is_empty() {
            let shown: Vec<&str> = self
                .failing_cases
                .iter()
                .take(CASES_IN_TEXT)
                .map(String::as_str)
                .collect();
            text.push_str(&format!(" Failing cases: {}", shown.join(", ")));
            let more = self.failing_cases.len().saturating_sub(CASES_IN_TEXT);
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            text.push('.');
        }
        if !self.failing_cells.is_empty() {
            text.push_str(&format!(
                " Failing cells: {}.",
                self.failing_cells.join(", ")
            ));
        }
        text.push_str(&format!(" Run: {}", self.run_url));
        text
    }

    /// The Markdown for an issue or a comment: a first line with the verdict and the link,
    /// then the summary, cut (with a note) to stay under GitHub's body limit.
    pub(crate) fn markdown(&self, headline: &str) -> String {
        let head = format!("{headline}\n\nRun: {}\n\n", self.run_url);
        let room = MAX_BODY_CHARS.saturating_sub(head.chars().count() + 200);
        let summary = &self.summary_markdown;
        let total = summary.chars().count();
        if total <= room {
            return format!("{head}{summary}");
        }
        let kept: String = summary.chars().take(room).collect();
        format!(
            "{head}{kept}\n\n*(summary truncated: {room} of {total} characters shown; the whole summary.md is in the run's artifacts)*"
        )
    }
}

fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit).collect();
    cut.push('…');
    cut
}

/// Where the run can be seen: `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`
/// when all three are set (under GitHub Actions), else the local artifacts folder.
pub fn run_url(env: &BTreeMap<String, String>, artifacts_dir: &Path) -> String {
    let value = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    match (
        value("GITHUB_SERVER_URL"),
        value("GITHUB_REPOSITORY"),
        value("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repository), Some(run_id)) => format!(
            "{}/{}/actions/runs/{run_id}",
            server.trim_end_matches('/'),
            repository.trim_matches('/')
        ),
        _ => artifacts_dir.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            project: "kgateway".to_owned(),
            tag: "v2.1.0".to_owned(),
            verdict: "failed".to_owned(),
            exit_code: 1,
            failing_step: Some(("conformance".to_owned(), "2 cases failed\nmore".to_owned())),
            failing_cases: (1..=7).map(|i| format!("case-{i}")).collect(),
            failing_cells: Vec::new(),
            run_url: "https://github.com/o/r/actions/runs/9".to_owned(),
            summary_markdown: "# Summary".to_owned(),
        }
    }

    #[test]
    fn text_is_one_short_paragraph() {
        assert_eq!(
            message().text(),
            "kgateway v2.1.0: verification failed (exit code 1). Failing step: conformance \
             (2 cases failed). Failing cases: case-1, case-2, case-3, case-4, case-5 and 2 more. \
             Run: https://github.com/o/r/actions/runs/9"
        );
        let mut cells = message();
        cells.failing_cases = vec!["weighted-split@1.35".to_owned()];
        cells.failing_cells = vec![
            "Kubernetes 1.35: failed".to_owned(),
            "Kubernetes 1.34: could-not-run".to_owned(),
        ];
        assert!(
            cells.text().ends_with(
                "Failing cases: weighted-split@1.35. Failing cells: Kubernetes 1.35: failed, \
                 Kubernetes 1.34: could-not-run. Run: https://github.com/o/r/actions/runs/9"
            ),
            "{}",
            cells.text()
        );
    }

    #[test]
    fn long_summaries_are_cut_with_a_note() {
        let mut long = message();
        long.summary_markdown = "é".repeat(100_000);
        let body = long.markdown("headline");
        assert!(body.chars().count() < MAX_BODY_CHARS);
        assert!(
            body.contains("summary truncated"),
            "{}",
            &body[body.len() - 200..]
        );
        assert!(message().markdown("h").ends_with("# Summary"));
    }

    #[test]
    fn run_url_needs_all_three_variables() {
        let mut env = BTreeMap::new();
        let dir = Path::new("target/verify-release/v1-x");
        env.insert(
            "GITHUB_SERVER_URL".to_owned(),
            "https://github.com/".to_owned(),
        );
        env.insert("GITHUB_REPOSITORY".to_owned(), "o/r".to_owned());
        assert_eq!(run_url(&env, dir), "target/verify-release/v1-x");
        env.insert("GITHUB_RUN_ID".to_owned(), "42".to_owned());
        assert_eq!(run_url(&env, dir), "https://github.com/o/r/actions/runs/42");
    }
}

//! notify against local servers: a webhook that records posts and fails on cue, and a stand-in
//! for the GitHub issues API that keeps its issues in memory.

mod github;
mod webhook;

use notify::Message;

/// A failed run of kgateway v2.1.0.
pub fn failed() -> Message {
    Message {
        project: "kgateway".to_owned(),
        tag: "v2.1.0".to_owned(),
        verdict: "failed".to_owned(),
        exit_code: 1,
        failing_step: Some(("conformance".to_owned(), "2 of 14 cases failed".to_owned())),
        failing_cases: vec!["weighted-split".to_owned(), "health-eviction".to_owned()],
        failing_cells: Vec::new(),
        run_url: "https://github.com/o/r/actions/runs/7".to_owned(),
        summary_markdown: "# kgateway v2.1.0: failed\n\n| case | result |\n".to_owned(),
    }
}

/// The same release, verified.
pub fn passed() -> Message {
    Message {
        verdict: "passed".to_owned(),
        exit_code: 0,
        failing_step: None,
        failing_cases: Vec::new(),
        run_url: "https://github.com/o/r/actions/runs/8".to_owned(),
        summary_markdown: "# kgateway v2.1.0: passed\n".to_owned(),
        ..failed()
    }
}

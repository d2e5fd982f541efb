//! ui: everything xtask shows a person. Libraries never print; they return values and events
//! that these functions render: plain lines in CI, progress bars on a terminal, and GitHub
//! Actions workflow commands (`::group::`, `::warning::`, `::error::`) when running there.
#![allow(clippy::print_stderr, clippy::print_stdout)] // this module is where output happens

use std::io::IsTerminal;

pub fn github_actions() -> bool {
    std::env::var_os("GITHUB_ACTIONS").is_some_and(|value| value == "true")
}

/// A line of normal output, on stdout (tables, summaries, plans).
pub fn out(line: &str) {
    println!("{line}");
}

/// Progress and information, on stderr.
pub fn info(line: &str) {
    eprintln!("{line}");
}

/// Something the user must notice: overrides in use, forced host tools.
pub fn warn(message: &str) {
    if github_actions() {
        eprintln!("::warning::{}", escape_workflow_data(message));
    } else {
        eprintln!("WARNING: {message}");
    }
}

pub fn error(message: &str) {
    if github_actions() {
        eprintln!("::error::{}", escape_workflow_data(message));
    } else {
        eprintln!("error: {message}");
    }
}

/// Runs `body` inside a foldable group in GitHub Actions, or under a heading elsewhere.
pub fn group<T>(title: &str, body: impl FnOnce() -> T) -> T {
    if github_actions() {
        eprintln!("::group::{title}");
        let result = body();
        eprintln!("::endgroup::");
        result
    } else {
        eprintln!("== {title}");
        body()
    }
}

/// Workflow commands end at a newline and treat `%` specially: escape as the runner expects.
pub fn escape_workflow_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A byte-progress display: a bar on a terminal, one line at start and end otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: String,
}

impl Progress {
    pub fn bytes(label: &str, total: Option<u64>) -> Progress {
        if std::io::stderr().is_terminal() && !github_actions() {
            let bar = match total {
                Some(total) => indicatif::ProgressBar::new(total),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(label.to_owned());
            Progress {
                bar: Some(bar),
                label: label.to_owned(),
            }
        } else {
            match total {
                Some(total) => info(&format!("{label}: {total} bytes")),
                None => info(&format!("{label}: starting")),
            }
            Progress {
                bar: None,
                label: label.to_owned(),
            }
        }
    }

    pub fn set_position(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    pub fn finish(self, outcome: &str) {
        match self.bar {
            Some(bar) => bar.finish_with_message(format!("{} {outcome}", self.label)),
            None => info(&format!("{}: {outcome}", self.label)),
        }
    }
}

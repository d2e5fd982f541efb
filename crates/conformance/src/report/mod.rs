//! report: renders suite results as JUnit XML, a Gateway API ConformanceReport, a Markdown
//! summary and conformance.json, and writes them into a report directory atomically. Also
//! returns the GitHub Actions strings (`::error` annotations, a step summary bounded to GitHub's
//! limit) for the xtask to print and append: this module never prints and never reads the
//! environment.
//!
//! Every renderer is a pure function of [`SuiteResults`], so the same run always gives the same
//! bytes; [`write_reports`] only adds the file handling.

mod gateway_api;
mod github;
mod junit;
mod markdown;

use std::path::{Path, PathBuf};

pub use gateway_api::conformance_report_yaml;
pub use github::{
    MAX_ANNOTATIONS, STEP_SUMMARY_LIMIT, annotations, annotations_titled, bounded_step_summary,
};
pub use junit::junit_xml;
pub use markdown::markdown;

use crate::results::SuiteResults;

/// File names inside the report directory.
pub const JUNIT_FILE: &str = "junit.xml";
pub const CONFORMANCE_REPORT_FILE: &str = "conformance-report.yaml";
pub const MARKDOWN_FILE: &str = "summary.md";
pub const JSON_FILE: &str = "conformance.json";

/// A report file could not be written. Names the file and what was being done to it.
#[derive(Debug)]
pub struct ReportError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: std::io::Error,
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Writes the four reports into `dir` (created if missing) and returns their paths, in the
/// order written.
///
/// Atomic per file: each report is rendered in memory, written to a temporary file in `dir`,
/// flushed to disk and only then renamed over its final name, so a crash or a full disk never
/// leaves a half-written report, and a failure before the renames leaves the directory as it
/// was (temporary files are removed on the way out). `conformance.json` is renamed last: when it
/// is present and newer than the others, the set is complete.
pub fn write_reports(dir: &Path, results: &SuiteResults) -> Result<Vec<PathBuf>, ReportError> {
    let rendered = [
        (JUNIT_FILE, junit_xml(results)),
        (CONFORMANCE_REPORT_FILE, conformance_report_yaml(results)),
        (MARKDOWN_FILE, markdown(results)),
        (JSON_FILE, results.to_json()),
    ];
    std::fs::create_dir_all(dir).map_err(|source| ReportError {
        path: dir.to_path_buf(),
        action: "creating report directory",
        source,
    })?;
    // Every report is staged (written and flushed beside its final name) before any is
    // renamed into place.
    let mut staged = Vec::with_capacity(rendered.len());
    for (name, text) in &rendered {
        let path = dir.join(name);
        let file =
            stdx::fs::Staged::write(&path, text.as_bytes()).map_err(|source| ReportError {
                path: path.clone(),
                action: "writing a temporary file for",
                source,
            })?;
        staged.push(file);
    }
    let mut written = Vec::with_capacity(staged.len());
    for file in staged {
        let path = file.destination().to_owned();
        file.commit().map_err(|source| ReportError {
            path: path.clone(),
            action: "renaming the temporary file onto",
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

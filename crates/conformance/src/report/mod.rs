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
mod time;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use gateway_api::conformance_report_yaml;
pub use github::{MAX_ANNOTATIONS, STEP_SUMMARY_LIMIT, annotations, bounded_step_summary};
pub use junit::junit_xml;
pub use markdown::markdown;
pub use time::rfc3339_utc;

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
    let mut staged = Vec::with_capacity(rendered.len());
    for (name, text) in &rendered {
        let path = dir.join(name);
        let failed = |action: &'static str| {
            let path = path.clone();
            move |source| ReportError {
                path,
                action,
                source,
            }
        };
        // Created as 0666 less the umask (0644 under the usual 022), like any file a program
        // writes, instead of the private 0600 of a temporary file.
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(failed("creating a temporary file for"))?;
        file.write_all(text.as_bytes())
            .map_err(failed("writing a temporary file for"))?;
        file.as_file()
            .sync_all()
            .map_err(failed("flushing a temporary file for"))?;
        staged.push((path, file));
    }
    let mut written = Vec::with_capacity(staged.len());
    for (path, file) in staged {
        file.persist(&path).map_err(|error| ReportError {
            path: path.clone(),
            action: "renaming the temporary file onto",
            source: error.error,
        })?;
        written.push(path);
    }
    Ok(written)
}

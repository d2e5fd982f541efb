//! config: the target config (`hack/targets/<name>.toml`): which Gateway API implementation a
//! run verifies — its release repository, which assets and images to fetch, how to install it,
//! and how to reach and judge its gateway.
//!
//! The model is strict (unknown keys are errors with file:line:col and a fix) and owns no
//! behaviour: the crates that act on a section receive that section as a value. This crate never
//! reads the process environment, never prints and never touches the network. Each section lives
//! in its own module, owned by the crate that consumes it.

pub mod artifacts;
pub mod cluster;
pub mod conformance;
pub mod install;
pub mod notify;
pub mod release;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default target: kgateway's latest release.
pub const DEFAULT_TARGET: &str = "hack/targets/kgateway.toml";

/// A whole target config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub release: release::Release,
    #[serde(default)]
    pub artifacts: artifacts::Artifacts,
    pub install: install::Install,
    #[serde(default)]
    pub conformance: conformance::Conformance,
    #[serde(default)]
    pub load_balancer: cluster::LoadBalancer,
    #[serde(default)]
    pub diagnostics: cluster::Diagnostics,
    #[serde(default)]
    pub existing: cluster::Existing,
    #[serde(default)]
    pub notify: notify::Notify,
}

/// A problem with a config file, located and with a fix. Callers treat it as bad input (exit 2).
pub type ConfigError = pins::PinError;

/// Reads and validates a target config.
pub fn load(path: &Path) -> Result<Target, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
        path: path.to_owned(),
        line_col: None,
        message: format!(
            "cannot read the target config: {error}; pass an existing file with --config (the default is {DEFAULT_TARGET})"
        ),
    })?;
    parse(path, &text)
}

/// Parses target-config text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Target, ConfigError> {
    let target: Target = toml::from_str(text).map_err(|error| ConfigError {
        path: PathBuf::from(path),
        line_col: error.span().map(|span| pins::line_col(text, span.start)),
        message: format!(
            "{}; fix this entry ({DEFAULT_TARGET} is a complete, commented example)",
            error.message().trim_end_matches('.')
        ),
    })?;
    let locate = |needle: &str| text.find(needle).map(|offset| pins::line_col(text, offset));
    let problems = [
        target.release.validate(),
        target.artifacts.validate(),
        target.install.validate(),
        target.conformance.validate(),
        target.load_balancer.validate(),
        target.diagnostics.validate(),
        target.existing.validate(),
        target.notify.validate(),
    ];
    if let Some(problem) = problems.into_iter().flatten().next() {
        return Err(ConfigError {
            path: PathBuf::from(path),
            line_col: locate(&problem.near),
            message: problem.message,
        });
    }
    Ok(target)
}

/// A semantic problem found after parsing: `near` is text to locate in the file.
#[derive(Debug, Clone)]
pub struct Problem {
    pub near: String,
    pub message: String,
}

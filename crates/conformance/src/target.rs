//! The target config's `[conformance]` section (and its `[release]` identity) as a
//! [`SuiteConfig`]: the conformance crate's own translation of its config section, used by
//! `verify-release` and refined by the flags of `cargo xtask conformance`. [`load`] reads a
//! target config whole: the config crate's rules, then this crate's own names for the section
//! (cases and features the config crate does not know), every problem located in the file.

use std::path::Path;
use std::time::Duration;

use config::{KeyPath, Problem};

use crate::cases;
use crate::results::{GatewayApi, Implementation, Mode};
use crate::{Skip, SuiteConfig};

/// Reads and checks a target config: what every subcommand that runs a target calls, so a typo
/// in `[conformance] skip` or `unsupported_features` is bad input naming the file, the line of
/// the entry and the known names, before any work.
pub fn load(path: &Path) -> Result<config::Target, config::ConfigError> {
    config::Document::load(path)?.check(|target| check_section(&target.conformance))
}

/// The names in `[conformance]` against this crate's cases and features: the first unknown one
/// is a problem at its entry, listing the names that exist.
pub fn check_section(section: &config::conformance::Conformance) -> Result<(), Problem> {
    let entry = |key: &str, index: usize| KeyPath::new(&["conformance", key]).index(index);
    if let Some(index) = section
        .skip
        .iter()
        .position(|name| cases::info(name).is_none())
    {
        return Err(Problem::new(
            entry("skip", index),
            format!(
                "[conformance] skip: there is no case `{}`; fix the name or remove it (the cases are: {})",
                section.skip[index],
                cases::names().join(", ")
            ),
        ));
    }
    let features = cases::features();
    if let Some(index) = section
        .unsupported_features
        .iter()
        .position(|feature| !features.contains(&feature.as_str()))
    {
        return Err(Problem::new(
            entry("unsupported_features", index),
            format!(
                "[conformance] unsupported_features: there is no feature `{}`; fix the name or remove it (the features are: {})",
                section.unsupported_features[index],
                features.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The suite configuration a target config and the pins give for a gateway URL.
pub fn suite_for_target(
    target: &config::Target,
    pins: &pins::Pins,
    gateway_url: &str,
    mode: Mode,
    version: &str,
) -> SuiteConfig {
    let section = &target.conformance;
    let mut suite = SuiteConfig::new(gateway_url, mode);
    suite.skip = section
        .skip
        .iter()
        .map(|case| Skip {
            case: case.clone(),
            reason: "skipped by the target config".to_owned(),
        })
        .collect();
    suite.unsupported_features = section.unsupported_features.clone();
    suite.listeners = section.listeners.clone();
    suite.health_urls = section.health_urls.clone();
    suite.consistency.successes = section.consecutive_successes;
    suite.consistency.poll = Duration::from_millis(section.poll_interval_ms);
    suite.consistency.deadline = Duration::from_secs(section.deadline_seconds);
    suite.request_timeout = Duration::from_secs(section.request_timeout_seconds);
    suite.concurrency = section.concurrency;
    let release = &target.release;
    let mut repo = release.repo.splitn(2, '/');
    let organization = repo.next().unwrap_or_default().to_owned();
    let name = repo.next().unwrap_or_default().to_owned();
    suite.implementation = Implementation {
        project: release.project.clone().unwrap_or(name),
        version: version.to_owned(),
        url: format!("https://github.com/{}", release.repo),
        contact: release.contact.clone(),
        organization,
    };
    suite.gateway_api = GatewayApi {
        version: pins.gateway_api.version.to_string(),
        channel: pins.gateway_api.channel.as_str().to_owned(),
    };
    suite
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target whose comments and other sections repeat the names the cases misspell.
    fn target(conformance: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target.toml");
        let text = format!(
            "# skip = [\"route-hedaer\"] and unsupported_features = [\"HealthChek\"] are typos\n[release]\nrepo = \"a/b\"\nproject = \"route-hedaer HealthChek\"\n[install]\ngateway_class = \"k\"\n\n[conformance]\n{conformance}"
        );
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn an_unknown_case_to_skip_is_located_and_lists_the_cases() {
        let (_dir, path) = target("skip = [\n    \"route-header\",\n    \"route-hedaer\",\n]\n");
        let error = load(&path).unwrap_err();
        assert_eq!(error.path, path);
        assert_eq!(error.line_col, Some((11, 5)), "{error}");
        assert!(
            error.message.starts_with(
                "[conformance] skip: there is no case `route-hedaer`; fix the name or remove it (the cases are: listener-connectivity, "
            ),
            "{error}"
        );
        for case in cases::names() {
            assert!(error.message.contains(case), "{case}: {error}");
        }
    }

    #[test]
    fn an_unknown_feature_is_located_and_lists_the_features() {
        let (_dir, path) = target(
            "skip = [\"route-header\"]\nunsupported_features = [\"HealthCheck\", \"HealthChek\"]\n",
        );
        let error = load(&path).unwrap_err();
        assert_eq!(error.line_col, Some((10, 40)), "{error}");
        assert!(
            error
                .message
                .contains("there is no feature `HealthChek`; fix the name or remove it"),
            "{error}"
        );
        assert!(
            error
                .message
                .contains("HTTPRouteWeight, HealthCheck, LoadBalancing)"),
            "the features are listed, sorted: {error}"
        );
    }

    #[test]
    fn known_names_load_and_the_config_crate_s_own_rules_still_apply() {
        let (_dir, path) = target(
            "skip = [\"route-header\"]\nunsupported_features = [\"HealthCheck\", \"GatewayHealthEndpoint\"]\n",
        );
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.conformance.skip, ["route-header"]);
        let (_dir, path) = target("skip = [\"route-hedaer\"]\nconcurrency = 0\n");
        let error = load(&path).unwrap_err();
        assert!(error.message.contains("concurrency"), "{error}");
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/targets");
        for entry in std::fs::read_dir(shipped).unwrap() {
            let path = entry.unwrap().path();
            load(&path).unwrap_or_else(|error| panic!("{error}"));
        }
    }
}

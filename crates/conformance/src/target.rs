//! The target config's `[conformance]` section (and its `[release]` identity) as a
//! [`SuiteConfig`]: the conformance crate's own translation of its config section, used by
//! `verify-release` and refined by the flags of `cargo xtask conformance`.

use std::time::Duration;

use crate::results::{GatewayApi, Implementation, Mode};
use crate::{Skip, SuiteConfig};

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

//! [conformance]: how the suite reaches and judges the gateway. Owned by the conformance crate's
//! authors. Every figure has the documented default, so an empty section is a complete one.

use serde::Deserialize;

use crate::{KeyPath, Problem};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conformance {
    /// Case names to skip (reported as skipped with this config as the reason).
    #[serde(default)]
    pub skip: Vec<String>,
    /// Features the implementation does not support (e.g. `HealthCheck`): their cases are run
    /// as skipped, never as passed.
    #[serde(default)]
    pub unsupported_features: Vec<String>,
    /// A case passes after this many good attempts in a row.
    #[serde(default = "default_consecutive_successes")]
    pub consecutive_successes: u32,
    /// Wait after a failed attempt, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// A case that is not consistent this long after it started fails, in seconds.
    #[serde(default = "default_deadline_seconds")]
    pub deadline_seconds: u64,
    /// Per-request timeout, in seconds.
    #[serde(default = "default_request_timeout_seconds")]
    pub request_timeout_seconds: u64,
    /// Requests in flight at once in the load-balancing and weighted cases.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Extra listener URLs the connectivity case checks besides the gateway URL.
    #[serde(default)]
    pub listeners: Vec<String>,
    /// Gateway health endpoints (full http:// URLs) that must answer 2xx.
    #[serde(default)]
    pub health_urls: Vec<String>,
}

fn default_consecutive_successes() -> u32 {
    3
}

fn default_poll_interval_ms() -> u64 {
    100
}

fn default_deadline_seconds() -> u64 {
    30
}

fn default_request_timeout_seconds() -> u64 {
    10
}

fn default_concurrency() -> usize {
    10
}

impl Default for Conformance {
    fn default() -> Conformance {
        Conformance {
            skip: Vec::new(),
            unsupported_features: Vec::new(),
            consecutive_successes: default_consecutive_successes(),
            poll_interval_ms: default_poll_interval_ms(),
            deadline_seconds: default_deadline_seconds(),
            request_timeout_seconds: default_request_timeout_seconds(),
            concurrency: default_concurrency(),
            listeners: Vec::new(),
            health_urls: Vec::new(),
        }
    }
}

impl Conformance {
    pub(crate) fn validate(&self) -> Option<Problem> {
        let at = |key: &str, message: &str| Some(Problem::at(&["conformance", key], message));
        if self.consecutive_successes == 0 {
            return at(
                "consecutive_successes",
                "consecutive_successes must be at least 1 (the default is 3)",
            );
        }
        if self.deadline_seconds == 0 || self.request_timeout_seconds == 0 {
            return at(
                if self.deadline_seconds == 0 {
                    "deadline_seconds"
                } else {
                    "request_timeout_seconds"
                },
                "deadline_seconds and request_timeout_seconds must be at least 1 (defaults 30 and 10)",
            );
        }
        if self.poll_interval_ms == 0 || self.poll_interval_ms > self.deadline_seconds * 1000 {
            return Some(Problem::at(
                &["conformance", "poll_interval_ms"],
                format!(
                    "poll_interval_ms must be between 1 and the deadline ({} ms); the default is 100",
                    self.deadline_seconds * 1000
                ),
            ));
        }
        if !(1..=256).contains(&self.concurrency) {
            return at(
                "concurrency",
                "concurrency must be between 1 and 256 (the default is 10)",
            );
        }
        for (key, urls) in [
            ("listeners", &self.listeners),
            ("health_urls", &self.health_urls),
        ] {
            if let Some((index, url)) = urls
                .iter()
                .enumerate()
                .find(|(_, url)| !url.starts_with("http://"))
            {
                return Some(Problem::new(
                    KeyPath::new(&["conformance", key]).index(index),
                    format!("`{url}` is not an http:// URL; write it like http://127.0.0.1:8080"),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Conformance, String> {
        let section: Conformance = toml::from_str(text).map_err(|e| e.to_string())?;
        match section.validate() {
            Some(problem) => Err(problem.message),
            None => Ok(section),
        }
    }

    #[test]
    fn an_empty_section_has_the_documented_defaults() {
        let section = parse("").unwrap();
        assert_eq!(section.consecutive_successes, 3);
        assert_eq!(section.poll_interval_ms, 100);
        assert_eq!(section.deadline_seconds, 30);
        assert_eq!(section.concurrency, 10);
    }

    #[test]
    fn bad_figures_say_how_to_fix_them() {
        assert!(
            parse("consecutive_successes = 0")
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            parse("poll_interval_ms = 60000")
                .unwrap_err()
                .contains("deadline")
        );
        assert!(
            parse("concurrency = 0")
                .unwrap_err()
                .contains("between 1 and 256")
        );
        assert!(
            parse("health_urls = [\"https://x\"]")
                .unwrap_err()
                .contains("http://")
        );
        assert!(parse("unknown = 1").is_err());
    }
}

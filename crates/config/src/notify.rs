//! [notify]: who hears about a run. The webhook's URL is a secret, so the config names only the
//! environment variable that holds it. Owned by the notify crate's authors.

use serde::Deserialize;

use crate::Problem;

/// When the webhook is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum On {
    /// Only when the release failed or the verification could not run (the default).
    #[default]
    Failure,
    /// Only when every case passed.
    Success,
    /// Every run with a verdict.
    Always,
}

impl std::str::FromStr for On {
    type Err = String;

    fn from_str(text: &str) -> Result<On, String> {
        match text {
            "failure" => Ok(On::Failure),
            "success" => Ok(On::Success),
            "always" => Ok(On::Always),
            other => Err(format!(
                "`{other}` is not when to notify: use failure, success or always"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// The environment variable holding the webhook URL (never the URL itself).
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    /// When the webhook is posted (`--notify-on` overrides it).
    #[serde(default)]
    pub on: On,
    /// Open (or comment on) the release's GitHub issue when it fails; close it when it passes.
    #[serde(default)]
    pub github_issue: bool,
    /// The most the webhook may take, retries included, in seconds.
    #[serde(default = "default_webhook_timeout_secs")]
    pub webhook_timeout_secs: u64,
}

fn default_webhook_timeout_secs() -> u64 {
    30
}

impl Default for Notify {
    fn default() -> Notify {
        Notify {
            webhook_url_env: None,
            on: On::default(),
            github_issue: false,
            webhook_timeout_secs: default_webhook_timeout_secs(),
        }
    }
}

impl Notify {
    pub(crate) fn validate(&self) -> Option<Problem> {
        if !(1..=600).contains(&self.webhook_timeout_secs) {
            return Some(Problem::at(
                &["notify", "webhook_timeout_secs"],
                "[notify] webhook_timeout_secs must be between 1 and 600 (the default is 30)",
            ));
        }
        let name = self.webhook_url_env.as_ref()?;
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        (!valid).then(|| Problem::at(
            &["notify", "webhook_url_env"],
            format!(
                "[notify] webhook_url_env = {name:?} must name an environment variable (A-Z, 0-9, _), e.g. RELEASE_GATE_WEBHOOK_URL; the URL itself is a secret and never goes in the config"
            ),
        ))
    }
}

//! [release]: which repository's release is verified.

use serde::Deserialize;

use crate::Problem;
use crate::install::validate_release_tag;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// GitHub repository, OWNER/NAME.
    pub repo: String,
    /// A tag, or `latest`.
    #[serde(default = "latest")]
    pub tag: String,
    /// Name of the implementation in reports (defaults to the repository name).
    #[serde(default)]
    pub project: Option<String>,
    /// Contact for reports (maintainers' handles or a URL).
    #[serde(default)]
    pub contact: Vec<String>,
}

fn latest() -> String {
    "latest".to_owned()
}

/// Checks OWNER/NAME the way GitHub allows them: letters, digits, `-`, `_`, `.`.
pub fn validate_repo(repo: &str) -> Result<(), String> {
    let valid_part = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    match repo.split_once('/') {
        Some((owner, name)) if valid_part(owner) && valid_part(name) => Ok(()),
        _ => Err(format!(
            "`{repo}` is not a GitHub repository: write it as OWNER/NAME, e.g. kgateway-dev/kgateway"
        )),
    }
}

impl Release {
    /// The repository, then the tag (`latest` or one [`validate_release_tag`] accepts).
    pub(crate) fn validate(&self) -> Option<Problem> {
        if let Err(message) = validate_repo(&self.repo) {
            return Some(Problem::at(&["release", "repo"], message));
        }
        if self.tag != "latest"
            && let Err(why) = validate_release_tag(&self.tag)
        {
            return Some(Problem::at(
                &["release", "tag"],
                format!("[release] tag: {why}, or `latest` for the newest release"),
            ));
        }
        None
    }
}

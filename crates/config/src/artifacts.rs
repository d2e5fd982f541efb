//! [artifacts]: which release assets and images to fetch and how strictly to verify them.
//! Owned by the artifact crate's authors.

use serde::Deserialize;

use crate::Problem;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifacts {
    /// Glob patterns selecting release assets by name.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Container images to pull (`{version}` is the release tag).
    #[serde(default)]
    pub images: Vec<String>,
    /// Accept assets with no published checksum (reported as unverified).
    #[serde(default)]
    pub allow_unverified: bool,
}

impl Artifacts {
    pub(crate) fn validate(&self) -> Option<Problem> {
        None
    }
}

//! [artifacts]: which release assets and images to fetch and how strictly to verify them.
//! Owned by the artifact crate's authors.

use serde::Deserialize;

use crate::{KeyPath, Problem};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifacts {
    /// Glob patterns selecting release assets by name; none selects every asset.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Container images to pull (`{version}` is the release tag, `{version_no_v}` the tag
    /// without the `v` of `v2.1.0`).
    #[serde(default)]
    pub images: Vec<String>,
    /// Accept assets with no published checksum (reported as unverified).
    #[serde(default)]
    pub allow_unverified: bool,
    /// Glob patterns of assets that are image tarballs (`docker save` output): selected like
    /// `patterns`, loaded with `docker load` once verified, and their image IDs recorded.
    #[serde(default)]
    pub image_archives: Vec<String>,
    /// The name of a release asset listing image digests (`REF@sha256:…` or `sha256:… REF` per
    /// line); when the release has it, every pulled image must match it.
    #[serde(default)]
    pub digest_list: Option<String>,
    /// The largest asset accepted, in MiB, whatever the release says.
    #[serde(default = "default_max_asset_mib")]
    pub max_asset_mib: u64,
    /// Downloads (and image pulls) running at once.
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    /// Pull images named in `image:` fields of downloaded YAML manifests.
    #[serde(default = "default_true")]
    pub images_from_manifests: bool,
    /// Seconds for connecting, for response headers, and for any stall while a body streams.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Seconds one asset may take in all, retries and waits included.
    #[serde(default = "default_total_timeout_secs")]
    pub total_timeout_secs: u64,
    /// Retries after a failed attempt (connect errors, timeouts, 5xx, 429, dropped bodies).
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_total_timeout_secs() -> u64 {
    1800
}

fn default_retries() -> u32 {
    5
}

fn default_max_asset_mib() -> u64 {
    2048
}

fn default_parallelism() -> usize {
    4
}

fn default_true() -> bool {
    true
}

impl Default for Artifacts {
    fn default() -> Artifacts {
        Artifacts {
            patterns: Vec::new(),
            images: Vec::new(),
            allow_unverified: false,
            image_archives: Vec::new(),
            digest_list: None,
            max_asset_mib: default_max_asset_mib(),
            parallelism: default_parallelism(),
            images_from_manifests: true,
            request_timeout_secs: default_request_timeout_secs(),
            total_timeout_secs: default_total_timeout_secs(),
            retries: default_retries(),
        }
    }
}

impl Artifacts {
    pub(crate) fn validate(&self) -> Option<Problem> {
        let at = |key: &str, message: String| Some(Problem::at(&["artifacts", key], message));
        if !(1..=32).contains(&self.parallelism) {
            return at(
                "parallelism",
                format!(
                    "[artifacts] parallelism = {} is out of range: use 1 to 32",
                    self.parallelism
                ),
            );
        }
        if self.request_timeout_secs == 0 || self.total_timeout_secs < self.request_timeout_secs {
            let message = format!(
                "[artifacts] request_timeout_secs = {} and total_timeout_secs = {} do not fit: both above 0, the total at least the per-request one",
                self.request_timeout_secs, self.total_timeout_secs
            );
            return if self.request_timeout_secs == 0 {
                at("request_timeout_secs", message)
            } else {
                // The total is too short, unless the file sets only a long per-request timeout.
                Some(
                    Problem::at(&["artifacts", "total_timeout_secs"], message)
                        .otherwise(KeyPath::new(&["artifacts", "request_timeout_secs"])),
                )
            };
        }
        if self.retries > 20 {
            return at(
                "retries",
                format!(
                    "[artifacts] retries = {} is more than 20; a release that fails that often is broken",
                    self.retries
                ),
            );
        }
        if self.max_asset_mib == 0 {
            return at(
                "max_asset_mib",
                "[artifacts] max_asset_mib must be at least 1".to_owned(),
            );
        }
        for (key, patterns) in [
            ("patterns", &self.patterns),
            ("image_archives", &self.image_archives),
        ] {
            if let Some(index) = patterns
                .iter()
                .position(|pattern| pattern.trim().is_empty())
            {
                return Some(Problem::new(
                    KeyPath::new(&["artifacts", key]).index(index),
                    format!(
                        "[artifacts] {key}: an asset pattern is empty: remove it or write a glob such as \"*.yaml\""
                    ),
                ));
            }
        }
        if let Some(name) = &self.digest_list
            && (name.is_empty() || name.contains(['/', '\\']))
        {
            return at(
                "digest_list",
                format!(
                    "[artifacts] digest_list = {name:?} must be the plain name of a release asset"
                ),
            );
        }
        for (index, image) in self.images.iter().enumerate() {
            if image.trim().is_empty() || image.contains(char::is_whitespace) {
                return Some(Problem::new(
                    KeyPath::new(&["artifacts", "images"]).index(index),
                    format!(
                        "[artifacts] image {image:?} is not an image reference such as \"registry/name:{{version}}\""
                    ),
                ));
            }
        }
        None
    }

    /// The image references with `{version}` and `{version_no_v}` filled from the release tag.
    pub fn images_for(&self, tag: &str) -> Vec<String> {
        self.images
            .iter()
            .map(|image| crate::install::fill_version(image, tag))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn with_artifacts(section: &str) -> Result<crate::Target, crate::ConfigError> {
        let text = format!(
            "[release]\nrepo = \"a/b\"\n[install]\ngateway_class = \"x\"\n[artifacts]\n{section}"
        );
        crate::parse(Path::new("t.toml"), &text)
    }

    #[test]
    fn defaults_are_sane() {
        let artifacts = with_artifacts("").unwrap().artifacts;
        assert_eq!(artifacts.parallelism, 4);
        assert!(artifacts.images_from_manifests);
        assert!(!artifacts.allow_unverified);
        assert!(artifacts.total_timeout_secs >= artifacts.request_timeout_secs);
    }

    #[test]
    fn out_of_range_values_are_located_with_a_fix() {
        let error = with_artifacts("parallelism = 0\n").unwrap_err();
        assert_eq!(error.line_col, Some((6, 15)), "{error}");
        assert!(error.message.contains("1 to 32"), "{error}");
        let error = with_artifacts("digest_list = \"../x\"\n").unwrap_err();
        assert!(error.message.contains("plain name"), "{error}");
        let error =
            with_artifacts("request_timeout_secs = 60\ntotal_timeout_secs = 10\n").unwrap_err();
        assert!(error.message.contains("total"), "{error}");
        assert!(with_artifacts("image_archives = [\"\"]\n").is_err());
    }

    #[test]
    fn version_placeholder_is_the_tag() {
        let artifacts = with_artifacts("images = [\"cr.example/a:{version}\"]\n")
            .unwrap()
            .artifacts;
        assert_eq!(artifacts.images_for("v2.1.0"), ["cr.example/a:v2.1.0"]);
        assert_eq!(artifacts.images_for("2.1.0"), ["cr.example/a:2.1.0"]);
        let artifacts = with_artifacts("images = [\"cr.example/a:{version_no_v}\"]\n")
            .unwrap()
            .artifacts;
        assert_eq!(artifacts.images_for("v2.1.0"), ["cr.example/a:2.1.0"]);
        assert_eq!(artifacts.images_for("2.1.0"), ["cr.example/a:2.1.0"]);
    }
}

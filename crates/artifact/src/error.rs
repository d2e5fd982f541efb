//! Why a fetch failed ([`ArtifactError`]), and which failures are mistakes in the request
//! (bad input, exit 2) rather than the release's or the network's.

use std::fmt;
use std::path::PathBuf;

use download::DownloadError;

use crate::names;

/// Why a fetch failed. [`ArtifactError::is_bad_input`] tells mistakes in what the user asked.
#[derive(Debug)]
pub enum ArtifactError {
    BadRepo {
        repo: String,
        why: String,
    },
    BadTag {
        tag: String,
        why: String,
    },
    BadPattern {
        pattern: String,
        why: String,
    },
    ReleaseNotFound {
        repo: String,
        tag: String,
    },
    Draft {
        repo: String,
        tag: String,
    },
    RateLimited {
        error: DownloadError,
        token_set: bool,
    },
    Api {
        url: String,
        error: DownloadError,
    },
    BadReleaseJson {
        url: String,
        why: String,
    },
    NothingSelected {
        patterns: Vec<String>,
        available: Vec<String>,
    },
    /// Patterns the target says the release carries that match none of its assets.
    MissingAssets {
        patterns: Vec<String>,
        available: Vec<String>,
    },
    UnsafeName(names::Unsafe),
    NoChecksum {
        assets: Vec<String>,
    },
    ChecksumConflict {
        asset: String,
        sources: Vec<(String, String)>,
    },
    BadChecksumFile {
        file: String,
        line: usize,
        why: String,
    },
    Download {
        asset: String,
        error: DownloadError,
    },
    DockerMissing {
        needed_for: String,
    },
    Docker {
        what: String,
        error: String,
    },
    ImageDigestMismatch {
        reference: String,
        published: String,
        pulled: Option<String>,
    },
    BadManifest {
        asset: String,
        why: String,
    },
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
}

impl ArtifactError {
    /// The cancellation's reason, when a download was stopped.
    pub fn cancelled(&self) -> Option<&cancel::Reason> {
        match self {
            ArtifactError::Download { error, .. } => error.cancelled(),
            _ => None,
        }
    }

    /// A mistake in the request (exit 2), as opposed to a release or infrastructure failure.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ArtifactError::BadRepo { .. }
                | ArtifactError::BadTag { .. }
                | ArtifactError::BadPattern { .. }
                | ArtifactError::ReleaseNotFound { .. }
        )
    }
}

impl stdx::MaybeBadInput for ArtifactError {
    fn bad_input(&self) -> Option<stdx::BadInput> {
        self.is_bad_input()
            .then(|| stdx::BadInput::new(self.to_string()))
    }
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactError::BadRepo { repo, why } => {
                write!(
                    f,
                    "--repo {repo:?} is not OWNER/NAME ({why}); for example --repo kgateway-dev/kgateway"
                )
            }
            ArtifactError::BadTag { tag, why } => write!(f, "--tag {tag:?}: {why}, or latest"),
            ArtifactError::BadPattern { pattern, why } => {
                write!(f, "asset pattern {pattern:?} is not a glob: {why}")
            }
            ArtifactError::ReleaseNotFound { repo, tag } => write!(
                f,
                "{repo} has no published release {tag}; check the tag on the repository's releases page (drafts are not visible)"
            ),
            ArtifactError::Draft { repo, tag } => {
                write!(
                    f,
                    "{repo} release {tag} is a draft: only published releases are verified"
                )
            }
            ArtifactError::RateLimited { error, token_set } => {
                write!(f, "GitHub API: {error}")?;
                if !token_set {
                    write!(f, "; set GITHUB_TOKEN to get a higher limit")?;
                }
                Ok(())
            }
            ArtifactError::Api { url, error } => {
                write!(f, "reading the release from {url} failed: {error}")
            }
            ArtifactError::BadReleaseJson { url, why } => {
                write!(f, "{url} did not answer with a release: {why}")
            }
            ArtifactError::NothingSelected {
                patterns,
                available,
            } => write!(
                f,
                "nothing to fetch: no asset matches {patterns:?} and no image is configured; the release has {available:?}"
            ),
            ArtifactError::MissingAssets {
                patterns,
                available,
            } => write!(
                f,
                "the release publishes no asset matching {}: either the release is missing it, or the \
                 target config's [artifacts].patterns (or --pattern) no longer fits the release; the release has {available:?}",
                patterns
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ArtifactError::UnsafeName(unsafe_name) => {
                write!(f, "{unsafe_name}; nothing was written")
            }
            ArtifactError::NoChecksum { assets } => write!(
                f,
                "no published checksum for {}: the release has no checksum file, sidecar or GitHub digest covering them; \
                 pass --allow-unverified to accept them (they are recorded as unverified)",
                assets.join(", ")
            ),
            ArtifactError::ChecksumConflict { asset, sources } => {
                write!(
                    f,
                    "the release publishes conflicting sha256 sums for {asset}:"
                )?;
                for (source, sum) in sources {
                    write!(f, " {source} says {sum};")?;
                }
                write!(f, " refusing to guess")
            }
            ArtifactError::BadChecksumFile { file, line, why } => {
                write!(f, "checksum file {file}, line {line}: {why}")
            }
            ArtifactError::Download { asset, error } => write!(f, "{asset}: {error}"),
            ArtifactError::DockerMissing { needed_for } => {
                write!(
                    f,
                    "docker is needed for {needed_for} but none was found; install docker or set $DOCKER"
                )
            }
            ArtifactError::Docker { what, error } => write!(f, "{what}: {error}"),
            ArtifactError::ImageDigestMismatch {
                reference,
                published,
                pulled,
            } => write!(
                f,
                "image {reference}: the release publishes {published} but the registry served {}",
                pulled
                    .as_deref()
                    .unwrap_or("an image without a registry digest")
            ),
            ArtifactError::BadManifest { asset, why } => {
                write!(f, "manifest {asset} is not valid YAML: {why}")
            }
            ArtifactError::Io { path, what, source } => {
                write!(f, "cannot {what} {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for ArtifactError {}

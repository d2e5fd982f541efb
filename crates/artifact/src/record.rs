//! `artifacts.json`: the record of what was fetched and how it was proven. Later pipeline steps
//! read only this file (through [`read`]), never the release or the folder listing. It never
//! holds a token.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file name inside the destination folder.
pub const FILE_NAME: &str = crate::names::RECORD_FILE;
/// Bumped when a field changes meaning; readers refuse versions they do not know.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub schema: u32,
    /// `OWNER/NAME`.
    pub repo: String,
    /// The resolved tag (never `latest`).
    pub tag: String,
    pub prerelease: bool,
    /// The release's web page.
    pub release_url: String,
    pub assets: Vec<AssetRecord>,
    pub images: Vec<ImageRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetRecord {
    pub name: String,
    /// Where it was downloaded from: the release's public download URL, or the API's asset
    /// endpoint when a token was given.
    pub url: String,
    /// The file, relative to the folder holding `artifacts.json`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub verification: Verification,
    /// Whether this is a checksum file rather than a payload.
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Payload,
    Checksums,
    ImageArchive,
}

/// How an asset's bytes were proven to be the published ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Verification {
    /// Listed in a checksum file of the release.
    ChecksumFile { file: String },
    /// A `NAME.sha256` sidecar asset.
    Sidecar { file: String },
    /// GitHub's own record of the uploaded bytes (`digest` in the releases API), the only
    /// published sum for this asset.
    GithubDigest,
    /// A checksum file with no digest from GitHub: it is the release's own statement of the
    /// other assets' sums, and nothing published vouches for it in turn.
    ChecksumSource,
    /// Nothing published to compare with; accepted because of `--allow-unverified`.
    Unverified,
}

impl Verification {
    pub fn is_verified(&self) -> bool {
        !matches!(self, Verification::Unverified)
    }

    /// How the bytes were proven, for a person: `verified against checksums.txt`.
    pub fn describe(&self) -> String {
        match self {
            Verification::ChecksumFile { file } | Verification::Sidecar { file } => {
                format!("verified against {file}")
            }
            Verification::GithubDigest => "verified against GitHub's asset digest".to_owned(),
            Verification::ChecksumSource => {
                "checksum file (nothing published vouches for it)".to_owned()
            }
            Verification::Unverified => "UNVERIFIED (--allow-unverified)".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRecord {
    /// The reference as configured, found or loaded (`registry/name:tag`).
    pub reference: String,
    /// `registry/name@sha256:…` from RepoDigests; none for an image only loaded from a tarball.
    pub digest: Option<String>,
    /// The local image ID (`sha256:…`).
    pub id: String,
    pub source: ImageSource,
    /// The digest the release's digest list gave, when it has one (it matched).
    pub published_digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ImageSource {
    /// The target config's image list.
    Config,
    /// An `image:` field of a downloaded manifest.
    Manifest { asset: String },
    /// `docker load` of an image tarball asset.
    Archive { asset: String },
}

/// Why `artifacts.json` could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io { path: PathBuf, source: io::Error },
    Invalid { path: PathBuf, why: String },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io { path, source } => write!(
                f,
                "cannot read {}: {source}; run cargo xtask artifacts fetch first",
                path.display()
            ),
            ReadError::Invalid { path, why } => write!(
                f,
                "{} is not a valid artifacts record: {why}; fetch again with cargo xtask artifacts fetch",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads `artifacts.json` from `dir` (or the file itself) and checks it: known schema, every
/// recorded file present with its recorded size, names that stay inside the folder.
pub fn read(path: &Path) -> Result<Record, ReadError> {
    let file = if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_owned()
    };
    let text = fs::read_to_string(&file).map_err(|source| ReadError::Io {
        path: file.clone(),
        source,
    })?;
    let invalid = |why: String| ReadError::Invalid {
        path: file.clone(),
        why,
    };
    let record: Record = serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
    if record.schema != SCHEMA {
        return Err(invalid(format!(
            "schema {} is not the {SCHEMA} this build reads",
            record.schema
        )));
    }
    let folder = file.parent().unwrap_or(Path::new("."));
    for asset in &record.assets {
        crate::names::check(&asset.path).map_err(|why| invalid(why.to_string()))?;
        let size = fs::metadata(folder.join(&asset.path))
            .map(|m| m.len())
            .map_err(|error| invalid(format!("{}: {error}", asset.path)))?;
        if size != asset.size {
            return Err(invalid(format!(
                "{} is {size} bytes, the record says {}",
                asset.path, asset.size
            )));
        }
    }
    Ok(record)
}

/// Re-hashes every recorded file in `dir` against the record: for a step that must know the
/// bytes are still the verified ones (a file edited after the fetch keeps its size).
pub fn verify_files(dir: &Path, record: &Record) -> Result<(), ReadError> {
    use sha2::Digest as _;
    use std::io::Read as _;
    for asset in &record.assets {
        let path = dir.join(&asset.path);
        let mut file = fs::File::open(&path).map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?;
        let mut hasher = sha2::Sha256::new();
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let read = file.read(&mut buffer).map_err(|source| ReadError::Io {
                path: path.clone(),
                source,
            })?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        let actual = download::hex(&hasher.finalize());
        if actual != asset.sha256 {
            return Err(ReadError::Invalid {
                path,
                why: format!("its sha256 is {actual}, the record says {}", asset.sha256),
            });
        }
    }
    Ok(())
}

/// Writes the record atomically (a reader never sees half a file).
pub fn write(dir: &Path, record: &Record) -> io::Result<PathBuf> {
    let path = dir.join(FILE_NAME);
    let text = serde_json::to_string_pretty(record).map_err(io::Error::other)? + "\n";
    stdx::fs::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

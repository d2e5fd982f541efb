//! artifact: fetch a published release and prove every byte is the published one.
//!
//! [`fetch`] resolves a release through the GitHub REST API, selects assets by glob, finds the
//! release's checksums (lists, sidecars, GitHub's own asset digests), downloads every selected
//! asset through the `download` crate (verified before it is renamed into place), pulls the
//! configured and referenced images and loads image tarballs, and writes `artifacts.json`, the
//! only thing later steps read ([`record::read`]).
//!
//! This crate never prints (progress goes through the caller's event callback), never reads the
//! process environment (the API base and token come in as values), never writes a token
//! anywhere, and never writes outside the destination folder (asset names are checked before
//! anything is written; no archive is unpacked).

mod assets;
pub mod checksums;
mod error;
pub mod github;
mod glob;
pub mod images;
pub mod names;
mod pulls;
pub mod record;

pub use assets::download_assets;
pub use error::ArtifactError;
pub use pulls::pull_images;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use docker::Docker;
use exec::Shell;
use glob::GlobSet;

use crate::checksums::Kind;
use crate::record::{AssetRecord, ImageRecord, Record, Verification};

/// What to fetch.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `OWNER/NAME`, checked by [`fetch`].
    pub repo: String,
    /// A tag, or `latest`.
    pub tag: String,
    pub dest: PathBuf,
    /// Asset-name globs; none selects every asset.
    pub patterns: Vec<String>,
    /// Globs of image tarball assets (selected too, then `docker load`ed).
    pub image_archives: Vec<String>,
    /// Image references to pull; `{version}` and `{version_no_v}` are filled from the resolved
    /// tag (`config::install::fill_version`).
    pub images: Vec<String>,
    pub images_from_manifests: bool,
    /// The digest-list asset's name, if the target publishes one.
    pub digest_list: Option<String>,
    pub allow_unverified: bool,
    pub parallelism: usize,
}

impl Plan {
    /// A plan from the target config's `[artifacts]` section.
    pub fn from_config(
        repo: &str,
        tag: &str,
        dest: &Path,
        artifacts: &config::artifacts::Artifacts,
    ) -> Plan {
        Plan {
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            dest: dest.to_owned(),
            patterns: artifacts.patterns.clone(),
            image_archives: artifacts.image_archives.clone(),
            images: artifacts.images.clone(),
            images_from_manifests: artifacts.images_from_manifests,
            digest_list: artifacts.digest_list.clone(),
            allow_unverified: artifacts.allow_unverified,
            parallelism: artifacts.parallelism,
        }
    }
}

/// Where and how: values the caller read from its environment.
#[derive(Debug, Clone)]
pub struct Env {
    /// `GITHUB_API_URL` (default `https://api.github.com`).
    pub api_base: String,
    /// `GITHUB_TOKEN`: sent to the API origin only.
    pub token: Option<String>,
    pub download: download::Options,
    /// The docker CLI; `None` when there is none (an error only if images are needed).
    pub docker: Option<Docker>,
}

/// Progress, for the caller to render. Never carries a token.
#[derive(Debug, Clone)]
pub enum Event {
    Resolved {
        tag: String,
        prerelease: bool,
        assets: usize,
        selected: usize,
        /// Bytes to fetch: the selected assets and the checksum files that prove them.
        bytes: u64,
    },
    Download {
        asset: String,
        event: download::Event,
    },
    Fetched {
        asset: String,
        size: u64,
        from_cache: bool,
        verification: Verification,
    },
    Image {
        reference: String,
        step: &'static str,
    },
    /// Something the user should know that is not a failure.
    Note(String),
}

/// What a successful fetch produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub record: Record,
    /// Where `artifacts.json` was written.
    pub record_path: PathBuf,
}

/// Reads a downloaded text file (a checksum list, a manifest, a digest list).
fn read_text(path: &Path) -> Result<String, ArtifactError> {
    fs::read_to_string(path).map_err(|source| ArtifactError::Io {
        path: path.to_owned(),
        what: "read",
        source,
    })
}

fn globs(patterns: &[String]) -> Result<GlobSet, ArtifactError> {
    GlobSet::new(patterns).map_err(|(pattern, why)| ArtifactError::BadPattern { pattern, why })
}

/// A release resolved and its assets chosen: everything decided before anything is written.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub repo: github::Repo,
    pub release: github::Release,
    /// Selected payload assets (patterns, image archives, the digest list).
    selected: Vec<github::Asset>,
    /// Checksum lists and the sidecars of selected assets.
    lists: Vec<github::Asset>,
    sidecars: BTreeMap<String, github::Asset>,
}

impl Resolved {
    /// The resolved tag (never `latest`).
    pub fn tag(&self) -> &str {
        &self.release.tag_name
    }

    /// Names of the assets that will be downloaded (checksum sources included).
    pub fn asset_names(&self) -> Vec<String> {
        self.lists
            .iter()
            .chain(self.sidecars.values())
            .chain(&self.selected)
            .map(|asset| asset.name.clone())
            .collect()
    }
}

/// Stage 1: checks the request, resolves the release through the API and decides which assets
/// to fetch and how each will be proven. Writes nothing.
pub fn resolve(
    plan: &Plan,
    env: &Env,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Resolved, ArtifactError> {
    let repo = github::Repo::parse(&plan.repo)?;
    if plan.tag != "latest" {
        github::check_tag(&plan.tag)?;
    }
    let selectors = globs(&plan.patterns)?;
    let archive_selectors = globs(&plan.image_archives)?;
    let client = download::Client::new(env.download.clone());
    let release = github::resolve(
        &client,
        &env.api_base,
        env.token.as_deref(),
        &repo,
        &plan.tag,
    )?;

    let all_names: Vec<&str> = release.assets.iter().map(|a| a.name.as_str()).collect();
    let mut lists = Vec::new();
    let mut sidecars = BTreeMap::new();
    let mut payloads = Vec::new();
    for asset in &release.assets {
        match checksums::kind(&asset.name, &all_names) {
            Kind::List => lists.push(asset.clone()),
            Kind::Sidecar { of } => {
                sidecars.insert(of, asset.clone());
            }
            Kind::Payload => payloads.push(asset.clone()),
        }
    }
    let selected: Vec<github::Asset> = payloads
        .into_iter()
        .filter(|asset| {
            plan.patterns.is_empty()
                || selectors.is_match(&asset.name)
                || archive_selectors.is_match(&asset.name)
                || plan.digest_list.as_deref() == Some(asset.name.as_str())
        })
        .collect();
    // Every pattern names something the release must carry: one that matches nothing is a
    // release without an asset it should have (or a config out of date), never a quiet skip.
    let missing: Vec<String> = selectors
        .unmatched(&all_names)
        .into_iter()
        .map(|index| plan.patterns[index].clone())
        .collect();
    if !missing.is_empty() {
        return Err(ArtifactError::MissingAssets {
            patterns: missing,
            available: all_names.iter().map(|n| (*n).to_owned()).collect(),
        });
    }
    if selected.is_empty() && plan.images.is_empty() {
        return Err(ArtifactError::NothingSelected {
            patterns: plan.patterns.clone(),
            available: all_names.iter().map(|n| (*n).to_owned()).collect(),
        });
    }
    let sidecars: BTreeMap<String, github::Asset> = sidecars
        .into_iter()
        .filter(|(of, _)| selected.iter().any(|asset| asset.name == *of))
        .collect();
    for asset in selected.iter().chain(&lists).chain(sidecars.values()) {
        names::check(&asset.name).map_err(ArtifactError::UnsafeName)?;
    }
    on_event(Event::Resolved {
        tag: release.tag_name.clone(),
        prerelease: release.prerelease,
        assets: release.assets.len(),
        selected: selected.len(),
        bytes: selected
            .iter()
            .chain(&lists)
            .chain(sidecars.values())
            .map(|asset| asset.size)
            .sum(),
    });
    Ok(Resolved {
        repo,
        release,
        selected,
        lists,
        sidecars,
    })
}

/// Stage 4: images the downloaded assets name or carry (manifest `image:` fields, `docker save`
/// tarballs), every image checked against the release's digest list, and `artifacts.json`
/// written: the only thing later steps read.
pub fn record(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    resolved: &Resolved,
    assets: Vec<AssetRecord>,
    pulled: Vec<ImageRecord>,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Outcome, ArtifactError> {
    let images = pulls::fetch_images(plan, env, sh, &assets, pulled, on_event)?;
    let record = Record {
        schema: record::SCHEMA,
        repo: resolved.repo.to_string(),
        tag: resolved.release.tag_name.clone(),
        prerelease: resolved.release.prerelease,
        release_url: resolved.release.html_url.clone(),
        assets,
        images,
    };
    let record_path = record::write(&plan.dest, &record).map_err(|source| ArtifactError::Io {
        path: plan.dest.join(record::FILE_NAME),
        what: "write",
        source,
    })?;
    Ok(Outcome {
        record,
        record_path,
    })
}

/// Fetches, verifies and records a release: the four stages in order. See the crate docs.
pub fn fetch(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Outcome, ArtifactError> {
    let resolved = resolve(plan, env, on_event)?;
    let assets = download_assets(plan, env, &resolved, on_event)?;
    let pulled = pull_images(plan, env, sh, resolved.tag(), on_event)?;
    record(plan, env, sh, &resolved, assets, pulled, on_event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::parallel;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn parallel_keeps_order_and_stops_after_an_error() {
        let items: Vec<u32> = (0..50).collect();
        let doubled = parallel(&items, 4, |n| Ok::<_, ()>(n * 2)).unwrap();
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        let started = AtomicUsize::new(0);
        let result = parallel(&items, 1, |n| {
            started.fetch_add(1, Ordering::SeqCst);
            if *n == 3 { Err(*n) } else { Ok(*n) }
        });
        assert_eq!(result, Err(3));
        assert_eq!(
            started.load(Ordering::SeqCst),
            4,
            "items after the failure were started"
        );
    }

    #[test]
    fn bad_patterns_are_bad_input() {
        let error = globs(&["a[".to_owned()]).unwrap_err();
        assert!(error.is_bad_input(), "{error}");
    }
}

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

pub mod checksums;
pub mod github;
mod glob;
pub mod images;
pub mod names;
pub mod record;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use docker::Docker;
use download::DownloadError;
use exec::Shell;
use glob::GlobSet;

use crate::checksums::Kind;
use crate::record::{AssetRecord, ImageRecord, ImageSource, Record, Role, Verification};

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

/// Runs `work` over `items` on at most `workers` threads, results in input order. After the
/// first error no new item starts (running ones finish), so a broken release fails fast.
fn parallel<T: Sync, R: Send, E: Send>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<R, E>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(index) else { break };
                    let result = work(item);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    stdx::lock(&slots)[index] = Some(result);
                }
            });
        }
    });
    let slots = stdx::sync::into_inner(slots);
    let mut results = Vec::with_capacity(slots.len());
    let mut first_error = None;
    for slot in slots.into_iter().flatten() {
        match slot {
            Ok(value) => results.push(value),
            Err(error) => {
                if first_error.is_none() {
                    first_error = Some(error);
                }
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(results),
    }
}

/// One asset to download and how it will be proven.
struct Job<'a> {
    asset: &'a github::Asset,
    role: Role,
    expected: Option<String>,
    verification: Verification,
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

/// Stage 2: downloads every chosen asset into `plan.dest`, each verified before it is renamed
/// into place: the checksum sources first, then every payload against all of them.
pub fn download_assets(
    plan: &Plan,
    env: &Env,
    resolved: &Resolved,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Vec<AssetRecord>, ArtifactError> {
    let archive_selectors = globs(&plan.image_archives)?;
    let client = download::Client::new(env.download.clone());
    let lists: Vec<&github::Asset> = resolved.lists.iter().collect();
    let needed_sidecars: Vec<&github::Asset> = resolved.sidecars.values().collect();
    let selected: Vec<&github::Asset> = resolved.selected.iter().collect();

    fs::create_dir_all(&plan.dest).map_err(|source| ArtifactError::Io {
        path: plan.dest.clone(),
        what: "create the destination folder",
        source,
    })?;
    // A record from an earlier run must not survive a failed one: later steps trust it. The
    // `.part` files an interrupted run (Ctrl-C, a kill) left for these names go too.
    let stale_record = plan.dest.join(record::FILE_NAME);
    let stale_parts = selected
        .iter()
        .chain(&lists)
        .chain(&needed_sidecars)
        .map(|asset| download::part_path(&plan.dest.join(&asset.name)))
        .chain([download::part_path(&stale_record)]);
    for stale in std::iter::once(stale_record.clone()).chain(stale_parts) {
        match fs::remove_file(&stale) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ArtifactError::Io {
                    path: stale,
                    what: "remove the leftover",
                    source,
                });
            }
        }
    }

    let bearer = match &env.token {
        Some(token) => download::Bearer::new(token.clone(), &env.api_base).ok(),
        None => None,
    };
    let download_one = |job: &Job<'_>| -> Result<AssetRecord, ArtifactError> {
        let asset = job.asset;
        // With a token, download through the API's asset endpoint, as `gh release download`
        // does (private repositories need it): the API host gets the token, the storage host
        // it redirects to does not. Without one, the public download URL costs no API quota.
        let (url, accept) = match (&bearer, &asset.url) {
            (Some(_), Some(api_url)) => (api_url.as_str(), Some("application/octet-stream")),
            _ => (asset.browser_download_url.as_str(), None),
        };
        let mut request = download::Request::new(url)
            .size(asset.size)
            .bearer(bearer.clone());
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        if let Some(expected) = &job.expected {
            request = request.sha256(expected.clone());
        }
        let dest = plan.dest.join(&asset.name);
        let fetched = client
            .fetch(&request, &dest, &mut |event| {
                on_event(Event::Download {
                    asset: asset.name.clone(),
                    event,
                })
            })
            .map_err(|error| ArtifactError::Download {
                asset: asset.name.clone(),
                error,
            })?;
        on_event(Event::Fetched {
            asset: asset.name.clone(),
            size: fetched.size,
            from_cache: fetched.from_cache,
            verification: job.verification.clone(),
        });
        Ok(AssetRecord {
            name: asset.name.clone(),
            url: url.to_owned(),
            path: asset.name.clone(),
            size: fetched.size,
            sha256: fetched.sha256,
            verification: job.verification.clone(),
            role: job.role,
        })
    };

    // The checksum sources first: small, and everything else is judged by them. They are
    // checked against GitHub's digest when it has one.
    let checksum_jobs: Vec<Job<'_>> = lists
        .iter()
        .chain(&needed_sidecars)
        .map(|asset| Job {
            asset,
            role: Role::Checksums,
            expected: asset.github_sha256(),
            verification: if asset.github_sha256().is_some() {
                Verification::GithubDigest
            } else {
                Verification::ChecksumSource
            },
        })
        .collect();
    let mut assets = parallel(&checksum_jobs, plan.parallelism, download_one)?;

    let mut listed: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for list in &lists {
        let sums =
            checksums::parse_list(&read_text(&plan.dest.join(&list.name))?).map_err(|error| {
                ArtifactError::BadChecksumFile {
                    file: list.name.clone(),
                    line: error.line,
                    why: error.why,
                }
            })?;
        for (name, sum) in sums {
            listed
                .entry(name)
                .or_default()
                .push((list.name.clone(), sum));
        }
    }

    // Every selected asset gets its expected sum from every source; all must agree.
    let mut jobs = Vec::new();
    let mut unverified = Vec::new();
    for asset in &selected {
        let mut sources: Vec<(String, String, Verification)> = Vec::new();
        for (file, sum) in listed.get(&asset.name).into_iter().flatten() {
            sources.push((
                file.clone(),
                sum.clone(),
                Verification::ChecksumFile { file: file.clone() },
            ));
        }
        if let Some(sidecar) = resolved.sidecars.get(&asset.name) {
            let sum =
                checksums::parse_sidecar(&read_text(&plan.dest.join(&sidecar.name))?, &asset.name)
                    .map_err(|error| ArtifactError::BadChecksumFile {
                        file: sidecar.name.clone(),
                        line: error.line,
                        why: error.why,
                    })?;
            sources.push((
                sidecar.name.clone(),
                sum,
                Verification::Sidecar {
                    file: sidecar.name.clone(),
                },
            ));
        }
        if let Some(sum) = asset.github_sha256() {
            sources.push((
                "GitHub's asset digest".to_owned(),
                sum,
                Verification::GithubDigest,
            ));
        }
        if sources.windows(2).any(|pair| pair[0].1 != pair[1].1) {
            return Err(ArtifactError::ChecksumConflict {
                asset: asset.name.clone(),
                sources: sources
                    .into_iter()
                    .map(|(source, sum, _)| (source, sum))
                    .collect(),
            });
        }
        let role = if archive_selectors.is_match(&asset.name) {
            Role::ImageArchive
        } else {
            Role::Payload
        };
        match sources.into_iter().next() {
            Some((_, sum, verification)) => jobs.push(Job {
                asset,
                role,
                expected: Some(sum),
                verification,
            }),
            None if plan.allow_unverified => {
                on_event(Event::Note(format!(
                    "{} has no published checksum; accepted as unverified (--allow-unverified)",
                    asset.name
                )));
                jobs.push(Job {
                    asset,
                    role,
                    expected: None,
                    verification: Verification::Unverified,
                });
            }
            None => unverified.push(asset.name.clone()),
        }
    }
    if !unverified.is_empty() {
        return Err(ArtifactError::NoChecksum { assets: unverified });
    }
    assets.extend(parallel(&jobs, plan.parallelism, download_one)?);

    Ok(assets)
}

/// Stage 3 (beside stage 2): pulls the configured images (filled from the resolved tag) and
/// records each one's ID and registry digest.
pub fn pull_images(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    tag: &str,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Vec<ImageRecord>, ArtifactError> {
    let wanted: Vec<(String, ImageSource)> = plan
        .images
        .iter()
        .map(|image| {
            let reference = config::install::fill_version(image, tag);
            (reference, ImageSource::Config)
        })
        .collect();
    pull_all(plan, env, sh, &wanted, on_event)
}

fn pull_all(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    wanted: &[(String, ImageSource)],
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Vec<ImageRecord>, ArtifactError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let docker = docker_for(env, &format!("pulling {}", wanted[0].0))?;
    parallel(wanted, plan.parallelism, |(reference, source)| {
        on_event(Event::Image {
            reference: reference.clone(),
            step: "pulling",
        });
        let record = images::pull(sh, docker, reference, source.clone())?;
        on_event(Event::Image {
            reference: reference.clone(),
            step: "pulled",
        });
        Ok(record)
    })
}

fn docker_for<'a>(env: &'a Env, needed_for: &str) -> Result<&'a Docker, ArtifactError> {
    env.docker
        .as_ref()
        .ok_or_else(|| ArtifactError::DockerMissing {
            needed_for: needed_for.to_owned(),
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
    let images = fetch_images(plan, env, sh, &assets, pulled, on_event)?;
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

/// Pulls manifest-named images (those not pulled already), loads image tarballs, and checks
/// every image against the release's digest list.
fn fetch_images(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    assets: &[AssetRecord],
    pulled: Vec<ImageRecord>,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Vec<ImageRecord>, ArtifactError> {
    let mut wanted: Vec<(String, ImageSource)> = Vec::new();
    if plan.images_from_manifests {
        for asset in assets.iter().filter(|a| a.role == Role::Payload) {
            if !(asset.name.ends_with(".yaml") || asset.name.ends_with(".yml")) {
                continue;
            }
            let path = plan.dest.join(&asset.path);
            let text = read_text(&path)?;
            let found =
                images::manifest_images(&text).map_err(|why| ArtifactError::BadManifest {
                    asset: asset.name.clone(),
                    why,
                })?;
            for reference in found {
                let known = pulled.iter().any(|image| image.reference == reference)
                    || wanted.iter().any(|(known, _)| *known == reference);
                if !known {
                    wanted.push((
                        reference,
                        ImageSource::Manifest {
                            asset: asset.name.clone(),
                        },
                    ));
                }
            }
        }
    }
    let digest_list = match &plan.digest_list {
        Some(name) => match assets.iter().find(|a| a.name == *name) {
            Some(asset) => {
                let path = plan.dest.join(&asset.path);
                let text = read_text(&path)?;
                Some(images::parse_digest_list(&text).map_err(|why| {
                    ArtifactError::BadChecksumFile {
                        file: name.clone(),
                        line: 0,
                        why,
                    }
                })?)
            }
            None => {
                on_event(Event::Note(format!(
                    "the release has no digest list {name}; image digests are recorded but not compared"
                )));
                None
            }
        },
        None => None,
    };
    let mut records = pulled;
    records.extend(pull_all(plan, env, sh, &wanted, on_event)?);
    if let Some(list) = &digest_list {
        for record in &mut records {
            if let Some(published) = images::published_digest(list, &record.reference) {
                let got = record.digest.as_deref().and_then(images::digest_part);
                if got != Some(published) {
                    return Err(ArtifactError::ImageDigestMismatch {
                        reference: record.reference.clone(),
                        published: published.to_owned(),
                        pulled: record.digest.clone(),
                    });
                }
                record.published_digest = Some(published.to_owned());
            }
        }
    }
    let archives: Vec<&AssetRecord> = assets
        .iter()
        .filter(|a| a.role == Role::ImageArchive)
        .collect();
    if let Some(first) = archives.first() {
        let docker = docker_for(env, &format!("loading {}", first.name))?;
        for archive in archives {
            on_event(Event::Image {
                reference: archive.name.clone(),
                step: "loading",
            });
            let loaded = images::load(sh, docker, &plan.dest.join(&archive.path), &archive.name)?;
            for record in &loaded {
                on_event(Event::Image {
                    reference: record.reference.clone(),
                    step: "loaded",
                });
            }
            records.extend(loaded);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! The release's assets downloaded in parallel, each checked against the checksums the
//! release publishes before it is kept.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::record::{AssetRecord, Role, Verification};
use crate::{
    ArtifactError, Env, Event, Plan, Resolved, checksums, github, globs, read_text, record,
};

/// Runs `work` over `items` on at most `workers` threads, results in input order. After the
/// first error no new item starts (running ones finish), so a broken release fails fast.
pub(crate) fn parallel<T: Sync, R: Send, E: Send>(
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
pub(crate) struct Job<'a> {
    asset: &'a github::Asset,
    role: Role,
    expected: Option<String>,
    verification: Verification,
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

//! artifacts fetch: a release's assets and images, every byte verified, recorded in
//! `artifacts.json` (the artifact crate does the work; this module reads the environment,
//! picks the config and renders progress).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::{render, ui};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Download and verify a release's assets and images
    Fetch(FetchArgs),
}

#[derive(clap::Args)]
pub struct FetchArgs {
    /// OWNER/NAME on GitHub (default: the target config's release.repo)
    #[arg(long)]
    repo: Option<String>,
    /// A release tag, or `latest` (default: the target config's release.tag)
    #[arg(long)]
    tag: Option<String>,
    /// Folder for the assets and artifacts.json (created if missing)
    #[arg(long)]
    dest: PathBuf,
    /// Asset-name glob; repeatable; replaces the config's patterns
    #[arg(long = "pattern", value_name = "GLOB")]
    patterns: Vec<String>,
    /// Target config (default: hack/targets/kgateway.toml)
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Accept assets with no published checksum; artifacts.json marks them unverified
    #[arg(long)]
    allow_unverified: bool,
    /// Verified-file cache keyed by sha256 (default: $XTASK_ARTIFACT_CACHE, else
    /// target/artifact-cache)
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Do not read or fill the cache
    #[arg(long, conflicts_with = "cache")]
    no_cache: bool,
}

pub fn run(
    command: Command,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Fetch(args) => fetch(args, settings, token),
    }
}

fn fetch(
    args: FetchArgs,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    let target = &settings.target;
    let repo = args
        .repo
        .clone()
        .unwrap_or_else(|| target.release.repo.clone());
    let tag = args
        .tag
        .clone()
        .unwrap_or_else(|| target.release.tag.clone());
    if args.dest.exists() && !args.dest.is_dir() {
        return Err(crate::bad_input(format!(
            "--dest {} is a file; name a folder (it is created if missing)",
            args.dest.display()
        )));
    }

    // The config's [artifacts] describe its own release. Another repository, without a config
    // of its own, gets only what the command line asks for.
    let mut artifacts = if args.config.is_none() && repo != target.release.repo {
        ui::info(&format!(
            "{repo} is not the repository of {} ({}): using only --pattern (every asset when none) and no configured images; pass --config to use a target config",
            config::DEFAULT_TARGET,
            target.release.repo
        ));
        config::artifacts::Artifacts::default()
    } else {
        target.artifacts.clone()
    };
    if !args.patterns.is_empty() {
        artifacts.patterns = args.patterns.clone();
    }
    artifacts.allow_unverified |= args.allow_unverified;
    let plan = artifact::Plan::from_config(&repo, &tag, &args.dest, &artifacts);

    let mut env = settings.artifact_env(token);
    env.download.cache_dir = if args.no_cache {
        None
    } else {
        Some(
            args.cache
                .clone()
                .unwrap_or_else(|| settings.artifact_cache.clone()),
        )
    };

    let sh = exec::Shell::new().with_cancel(token.clone());
    let renderer = render::ArtifactProgress::default();
    let outcome = ui::group(&format!("artifacts fetch {repo} {tag}"), || {
        artifact::fetch(&plan, &env, &sh, &|event| {
            if let Some(line) = renderer.event(&event) {
                render::say("", &line);
            }
        })
    });
    renderer.finish(if outcome.is_ok() { "done" } else { "failed" });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) if error.is_bad_input() => return Err(crate::bad_input(error.to_string())),
        Err(error) => {
            return Err(anyhow::Error::new(error)).with_context(|| {
                format!(
                    "fetching {repo} {tag} into {}: nothing unverified was kept",
                    args.dest.display()
                )
            });
        }
    };
    summarize(&outcome);
    Ok(ExitCode::SUCCESS)
}

fn summarize(outcome: &artifact::Outcome) {
    let record = &outcome.record;
    ui::out(&format!("{} {}", record.repo, record.tag));
    for asset in &record.assets {
        ui::out(&format!(
            "  {:<40} {:>12}  sha256:{}  {}",
            asset.name,
            asset.size,
            &asset.sha256[..16],
            asset.verification.describe()
        ));
    }
    for image in &record.images {
        ui::out(&format!(
            "  image {}  {}  id {}",
            image.reference,
            image.digest.as_deref().unwrap_or("(no registry digest)"),
            image.id
        ));
    }
    let unverified = record
        .assets
        .iter()
        .filter(|a| !a.verification.is_verified())
        .count();
    if unverified > 0 {
        ui::warn(&format!("{unverified} asset(s) are unverified"));
    }
    ui::out(&format!("record: {}", outcome.record_path.display()));
}

/// Used by the benchmark: the same client settings as `artifacts fetch`, no cache.
pub fn bench_options() -> download::Options {
    download::Options {
        total_timeout: Duration::from_secs(600),
        ..download::Options::default()
    }
}

//! artifacts fetch: a release's assets and images, every byte verified, recorded in
//! `artifacts.json` (the artifact crate does the work; this module reads the environment,
//! picks the config and renders progress).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;

use crate::ui;

/// The API base when `GITHUB_API_URL` is unset (GitHub Actions sets it).
const DEFAULT_API: &str = "https://api.github.com";

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
    config: Option<PathBuf>,
    /// Accept assets with no published checksum; artifacts.json marks them unverified
    #[arg(long)]
    allow_unverified: bool,
    /// Verified-file cache keyed by sha256 (default: target/artifact-cache)
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Do not read or fill the cache
    #[arg(long, conflicts_with = "cache")]
    no_cache: bool,
}

pub fn run(command: Command, token: &exec::Token) -> anyhow::Result<ExitCode> {
    match command {
        Command::Fetch(args) => fetch(args, token),
    }
}

fn fetch(args: FetchArgs, token: &exec::Token) -> anyhow::Result<ExitCode> {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| crate::workspace_root().join(config::DEFAULT_TARGET));
    let target = conformance::target::load(&config_path)
        .map_err(|error| crate::bad_input(error.to_string()))?;
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

    let cache_dir = if args.no_cache {
        None
    } else {
        Some(
            args.cache
                .clone()
                .unwrap_or_else(|| crate::workspace_root().join("target/artifact-cache")),
        )
    };
    let env = env_for(&artifacts, cache_dir, token);

    let sh = exec::Shell::new().with_cancel(token.clone());
    let renderer = Renderer::default();
    let outcome = ui::group(&format!("artifacts fetch {repo} {tag}"), || {
        artifact::fetch(&plan, &env, &sh, &|event| renderer.render(event))
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

/// The artifact crate's environment from ours: `GITHUB_API_URL`, `GITHUB_TOKEN`, the download
/// limits of `[artifacts]`, the cache, the run's token, and the docker CLI.
pub fn env_for(
    artifacts: &config::artifacts::Artifacts,
    cache_dir: Option<PathBuf>,
    token: &exec::Token,
) -> artifact::Env {
    let api_base = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_API.to_owned());
    let github_token = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|value| !value.trim().is_empty());
    artifact::Env {
        api_base,
        token: github_token,
        download: download::Options {
            max_size: artifacts.max_asset_mib.saturating_mul(1024 * 1024),
            request_timeout: Duration::from_secs(artifacts.request_timeout_secs),
            total_timeout: Duration::from_secs(artifacts.total_timeout_secs),
            retries: artifacts.retries,
            cache_dir,
            // Ctrl-C (the handler in main) stops downloads between chunks; `.part` files go.
            cancel: token.clone(),
            ..download::Options::default()
        },
        docker: find_docker().map(docker::Docker::new),
    }
}

/// `$DOCKER`, else `docker` on PATH. Only needed when the release has images to handle; the
/// artifact step reports clearly when it needs one and there is none.
fn find_docker() -> Option<PathBuf> {
    if let Some(docker) = std::env::var_os("DOCKER").filter(|value| !value.is_empty()) {
        ui::warn(&format!(
            "$DOCKER={} names the docker CLI to use",
            docker.to_string_lossy()
        ));
        return Some(PathBuf::from(docker));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("docker"))
        .find(|candidate| candidate.is_file())
}

/// Renders the artifact crate's events: one byte-progress display for the whole fetch (a
/// bar on a terminal, where parallel downloads would fight over separate ones), and a line
/// per asset as it is verified.
#[derive(Default)]
struct Renderer {
    state: Mutex<RenderState>,
}

#[derive(Default)]
struct RenderState {
    overall: Option<ui::Progress>,
    /// Bytes so far per asset (a restarted download goes back down).
    done: HashMap<String, u64>,
}

impl Renderer {
    fn render(&self, event: artifact::Event) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            artifact::Event::Resolved {
                tag,
                prerelease,
                assets,
                selected,
                bytes,
            } => {
                ui::info(&format!(
                    "release {tag}{}: {assets} assets, {selected} selected",
                    if prerelease { " (pre-release)" } else { "" }
                ));
                state.overall = Some(ui::Progress::bytes("assets", Some(bytes)));
            }
            artifact::Event::Download { asset, event } => match event {
                download::Event::Started { offset, .. } => {
                    if offset > 0 {
                        ui::info(&format!("{asset}: resuming at byte {offset}"));
                    }
                }
                download::Event::Progress { done, .. } => {
                    state.done.insert(asset, done);
                    let total = state.done.values().sum();
                    if let Some(overall) = &state.overall {
                        overall.set_position(total);
                    }
                }
                download::Event::Retrying {
                    attempt,
                    delay,
                    reason,
                } => ui::info(&format!(
                    "{asset}: retry {attempt} in {:.1} s ({reason})",
                    delay.as_secs_f64()
                )),
                download::Event::CacheHit { .. } => {}
            },
            artifact::Event::Fetched {
                asset,
                size,
                from_cache,
                verification,
            } => {
                state.done.insert(asset.clone(), size);
                let total = state.done.values().sum();
                if let Some(overall) = &state.overall {
                    overall.set_position(total);
                }
                let source = if from_cache { " from the cache" } else { "" };
                ui::info(&format!(
                    "{asset}: {size} bytes{source}, {}",
                    verification.describe()
                ));
            }
            artifact::Event::Image { reference, step } => ui::info(&format!("{step} {reference}")),
            artifact::Event::Note(note) => ui::warn(&note),
        }
    }

    /// Closes the progress display, saying how the fetch ended.
    fn finish(&self, outcome: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(overall) = state.overall.take() {
            overall.finish(outcome);
        }
    }
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

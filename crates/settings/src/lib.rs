//! settings: the one loader every subcommand uses. From the workspace root, one snapshot of the
//! process environment and the target config's path, [`Settings::load`] builds what every
//! command shares: the pins with their overrides, the target config, where pinned tools,
//! verified downloads, runs and developer clusters live, the GitHub API and its token, and the
//! docker CLI. An environment variable therefore means the same thing in every subcommand.
//!
//! Every mistake is a [`stdx::BadInput`] (exit 2) found here, before any work; everything worth
//! telling the user comes back as a [`Notice`] for the xtask to render. This crate never
//! prints, never reads the process environment (it is handed a snapshot), never spawns and
//! never touches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pins::{Pins, Platform};
use stdx::BadInput;

/// The GitHub API base when `GITHUB_API_URL` is unset (GitHub Actions sets it).
pub const DEFAULT_API: &str = "https://api.github.com";
/// Pinned tools, `<tool>/<version>/<tool>`; `XTASK_TOOLS_DIR` moves it.
pub const TOOLS_DIR: &str = "target/tools";
/// Verified downloads by sha256; `XTASK_ARTIFACT_CACHE` moves it.
pub const ARTIFACT_CACHE: &str = "target/artifact-cache";
/// verify-release's run folders and owner records; `XTASK_VERIFY_DIR` moves it.
pub const RUNS_DIR: &str = "target/verify-release";
/// kind-up's folders, one per cluster name.
pub const DEV_DIR: &str = "target/kind";

/// Every variable this loader reads, for help texts and for tests that must scrub them.
pub const VARIABLES: [&str; 9] = [
    "XTASK_TOOLS_DIR",
    "XTASK_TOOLS_MIRROR",
    "XTASK_ARTIFACT_CACHE",
    "XTASK_VERIFY_DIR",
    "XTASK_RUN_ID",
    "XTASK_FORCE_HOST_TOOLS",
    "GITHUB_API_URL",
    "GITHUB_TOKEN",
    "DOCKER",
];

/// A snapshot of the process environment, taken once by the xtask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Env {
        Env(vars.into_iter().collect())
    }

    /// The value of `name`, trimmed; None when unset or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// The value exactly as set (a secret is passed on untrimmed, but never blank).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// What the command line chose before loading.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The workspace root (pin file, fixture, target configs, `target/`).
    pub root: PathBuf,
    /// `--config`; the default target when None.
    pub config: Option<PathBuf>,
}

/// The GitHub API every release lookup and issue goes to.
#[derive(Debug, Clone)]
pub struct Github {
    pub api_base: String,
    /// `GITHUB_TOKEN`: sent to the API origin only, never printed (`***` in Debug).
    pub token: Option<download::Secret>,
}

/// The machine the command runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `linux`, `macos`: decides whether the kind network is routable from the host.
    pub os: String,
    pub arch: String,
    /// The kernel's tunables (`/proc/sys`): where the inotify limits kind clusters share are
    /// read. A folder without them (macOS) means unknown.
    pub proc_sys: PathBuf,
    /// Memory available for new work (`MemAvailable` of `/proc/meminfo`, bytes); None where
    /// the kernel does not say (macOS).
    pub memory_available: Option<u64>,
    /// The cores this process may use.
    pub cores: usize,
}

/// `MemAvailable:  21874532 kB` of a `/proc/meminfo` text, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Something the user should see before the work starts; rendered by the xtask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// An environment variable replaces a pin for this run.
    Override(pins::Override),
    /// Pinned tools and the CRD bundles come from this mirror (checksums still apply).
    ToolsMirror(String),
}

/// Everything every subcommand shares, loaded once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub env: Env,
    /// The target config's file, and the config itself.
    pub config_path: PathBuf,
    pub target: config::Target,
    /// The pins with every override applied.
    pub pins: Pins,
    pub platform: Platform,
    /// Tool resolution: the pins, the environment, the tools folder and mirror.
    pub tools: tools::Context,
    /// The sha256-keyed cache of verified downloads (`XTASK_ARTIFACT_CACHE`).
    pub artifact_cache: PathBuf,
    /// verify-release's run folders and owner records (`XTASK_VERIFY_DIR`).
    pub runs_dir: PathBuf,
    /// kind-up's folders.
    pub dev_dir: PathBuf,
    pub github: Github,
    /// `$DOCKER`, else `docker` on PATH; None when there is none. Not checked here (that
    /// takes a process): the tools step judges it.
    pub docker: Option<PathBuf>,
    pub host: Host,
    pub notices: Vec<Notice>,
}

impl Settings {
    /// These settings for a cluster of Kubernetes `minor` (`1.35`): its pinned node image and
    /// the pinned kubectl within skew of it, everywhere the pins are read.
    pub fn for_kubernetes(&self, minor: &str) -> Result<Settings, BadInput> {
        let pins = self.pins.for_kubernetes(minor).map_err(BadInput::new)?;
        let mut narrowed = self.clone();
        narrowed.tools.pins = pins.clone();
        narrowed.pins = pins;
        Ok(narrowed)
    }

    /// Reads the pin file and the target config and takes what the environment says. Every
    /// mistake is bad input naming the file, line or variable and the fix.
    pub fn load(request: &Request, env: Env) -> Result<Settings, BadInput> {
        let root = request.root.clone();
        let config_path = request
            .config
            .clone()
            .unwrap_or_else(|| root.join(config::DEFAULT_TARGET));
        // The pins first: everything else is read against them.
        let platform = Platform::current();
        let (pins, used) = pins::load(&root.join(pins::PIN_FILE))
            .map_err(|error| BadInput::new(error.to_string()))?
            .with_overrides(env.map(), &platform)
            .map_err(|error| BadInput::new(error.to_string()))?;
        let target = conformance::target::load(&config_path)
            .map_err(|error| BadInput::new(error.to_string()))?;
        let mut notices: Vec<Notice> = used.into_iter().map(Notice::Override).collect();
        let folder = |variable: &str, default: &str| {
            env.get(variable)
                .map_or_else(|| root.join(default), PathBuf::from)
        };
        let mirror = env.get("XTASK_TOOLS_MIRROR").map(str::to_owned);
        if let Some(mirror) = &mirror {
            download::check_transport(mirror).map_err(|why| {
                BadInput::new(format!(
                    "XTASK_TOOLS_MIRROR={mirror}: {why}; name an https:// mirror (http:// only on a loopback host)"
                ))
            })?;
            notices.push(Notice::ToolsMirror(mirror.clone()));
        }
        let tools = tools::Context::new(
            pins.clone(),
            env.map().clone(),
            folder("XTASK_TOOLS_DIR", TOOLS_DIR),
            platform.clone(),
        )
        .with_mirror(mirror);
        // `$DOCKER` is said where it is used: the tools step announces every `$TOOL` binary.
        let docker = match env.get("DOCKER") {
            Some(program) => Some(PathBuf::from(program)),
            None => tools.find_on_path("docker"),
        };
        let api_base = env
            .get("GITHUB_API_URL")
            .unwrap_or(DEFAULT_API)
            .trim_end_matches('/')
            .to_owned();
        download::check_transport(&api_base).map_err(|why| {
            BadInput::new(format!(
                "GITHUB_API_URL={api_base}: {why}; unset it for {DEFAULT_API}"
            ))
        })?;
        Ok(Settings {
            artifact_cache: folder("XTASK_ARTIFACT_CACHE", ARTIFACT_CACHE),
            runs_dir: folder("XTASK_VERIFY_DIR", RUNS_DIR),
            dev_dir: root.join(DEV_DIR),
            github: Github {
                api_base,
                token: env.raw("GITHUB_TOKEN").map(download::Secret::new),
            },
            docker,
            host: Host {
                os: std::env::consts::OS.to_owned(),
                arch: std::env::consts::ARCH.to_owned(),
                proc_sys: PathBuf::from("/proc/sys"),
                memory_available: std::fs::read_to_string("/proc/meminfo")
                    .ok()
                    .and_then(|text| mem_available(&text)),
                cores: std::thread::available_parallelism().map_or(1, usize::from),
            },
            root,
            config_path,
            target,
            pins,
            platform,
            tools,
            env,
            notices,
        })
    }

    /// Where owner records of throwaway clusters live (shared by every run of this checkout).
    pub fn owners_dir(&self) -> PathBuf {
        self.runs_dir.join("owners")
    }

    /// kind-up's folder for cluster `name`, unless `--dir` chose one.
    pub fn dev_cluster_dir(&self, name: &str, dir: Option<&Path>) -> PathBuf {
        dir.map_or_else(|| self.dev_dir.join(name), Path::to_path_buf)
    }

    /// The download options every fetch uses: the target's `[artifacts]` bounds, the verified
    /// cache (unless `cache` says otherwise) and the run's token.
    pub fn download_options(&self, token: &cancel::Token) -> download::Options {
        let artifacts = &self.target.artifacts;
        download::Options {
            max_size: artifacts.max_asset_mib.saturating_mul(1024 * 1024),
            request_timeout: Duration::from_secs(artifacts.request_timeout_secs),
            total_timeout: Duration::from_secs(artifacts.total_timeout_secs),
            retries: artifacts.retries,
            cache_dir: Some(self.artifact_cache.clone()),
            cancel: token.clone(),
            ..download::Options::default()
        }
    }

    /// What the artifact crate needs to fetch a release: the API, the token, the download
    /// options and the docker CLI.
    pub fn artifact_env(&self, token: &cancel::Token) -> artifact::Env {
        artifact::Env {
            api_base: self.github.api_base.clone(),
            token: self
                .github
                .token
                .as_ref()
                .map(|secret| secret.expose().to_owned()),
            download: self.download_options(token),
            docker: self.docker.clone().map(docker::Docker::new),
        }
    }
}

#[cfg(test)]
mod tests;

//! The one loader: the target config, the pin file with its overrides and an environment
//! snapshot become a run's [`Inputs`]. Everything a user can get wrong is checked here, before
//! any work, and reported as [`BadInput`] naming the file, line and fix (exit 2). Each crate
//! translates its own config section; this module only gathers them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster::fixture::{Deadlines, Fixture};
use cluster::helm;
use cluster::stages::RunDir;

/// The GitHub API base when `GITHUB_API_URL` is unset (GitHub Actions sets it).
pub const DEFAULT_API: &str = "https://api.github.com";

/// Where runs keep their folders and owner records, relative to the workspace root;
/// `XTASK_VERIFY_DIR` moves it (several checkouts sharing one, tests using their own).
pub const RUNS_DIR: &str = "target/verify-release";

/// The folder of runs and owner records for this workspace and environment.
pub fn runs_root(root: &Path, env: &BTreeMap<String, String>) -> PathBuf {
    env.get("XTASK_VERIFY_DIR")
        .map(|dir| dir.trim())
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join(RUNS_DIR), PathBuf::from)
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The workspace root (pin file, fixture, target configs, `target/`).
    pub root: PathBuf,
    /// `--config`; the default target when None.
    pub config: Option<PathBuf>,
    /// `--repo`; the target's repository when None.
    pub repo: Option<String>,
    /// `--tag`; the target's tag (usually `latest`) when None.
    pub tag: Option<String>,
    /// `--artifacts-dir`; `target/verify-release/<tag>-<UTC time>` when None.
    pub artifacts_dir: Option<PathBuf>,
    pub keep_cluster: bool,
    pub dry_run: bool,
    /// `--cluster existing`: verify on a cluster the user brings instead of a throwaway one.
    pub existing: bool,
    /// `--context`: the kubeconfig context that must be current (required with `existing`).
    pub context: Option<String>,
    /// `--kubeconfig`: default `$KUBECONFIG` (its first file), then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--notify-webhook URL` (a secret: never printed).
    pub notify_webhook: Option<String>,
    /// `--notify-on`; the target config's `[notify] on` when None.
    pub notify_on: Option<config::notify::On>,
    /// `--notify-github-issue`.
    pub notify_github_issue: bool,
}

/// Who hears about the run.
#[derive(Debug, Clone)]
pub struct Notify {
    pub webhook: Option<notify::WebhookOptions>,
    pub on: config::notify::On,
    pub github: Option<notify::GithubOptions>,
    /// The environment snapshot's `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`.
    pub run_env: BTreeMap<String, String>,
}

/// Where the run happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A throwaway kind cluster this run creates and deletes.
    Kind,
    /// A cluster the user brings, with the release installed: the run creates only namespace
    /// `namespace` and objects labelled `release-gate.run=<run id>`, and deletes only those.
    Existing {
        context: String,
        kubeconfig: PathBuf,
        namespace: String,
        run_id: String,
    },
}

/// The label every object of a run on an existing cluster carries.
pub const RUN_LABEL: &str = "release-gate.run";

/// A mistake in what the user gave: exit 2, before anything ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Everything a run needs, decided before it starts.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub root: PathBuf,
    pub config_path: PathBuf,
    pub target: config::Target,
    /// The pins with every override applied.
    pub pins: pins::Pins,
    /// Each override in force, said loudly by the caller and kept in the run's reports.
    pub overrides: Vec<String>,
    /// Other things the caller should show before the run (a tools mirror in use).
    pub notices: Vec<String>,
    pub repo: String,
    /// As asked (`latest` or a tag); the resolved tag is known after the resolve step.
    pub tag: String,
    pub artifacts_dir: PathBuf,
    /// Where owner records of throwaway clusters live (shared by every run of this checkout).
    pub owners_dir: PathBuf,
    pub cluster_name: String,
    /// A throwaway kind cluster, or the user's.
    pub target_cluster: Target,
    /// The kubeconfig every kubectl and helm call names.
    pub kubeconfig: PathBuf,
    pub keep_cluster: bool,
    pub dry_run: bool,
    pub api_base: String,
    /// `GITHUB_TOKEN`: sent to the API origin only, never printed or written (`***` in Debug).
    pub token: Option<notify::Secret>,
    pub tools: tools::Context,
    pub fixture: Fixture,
    pub deadlines: Deadlines,
    /// The host OS (`linux`, `macos`): decides whether the kind network is routable.
    pub host_os: String,
    pub notify: Notify,
    /// The sha256-keyed cache of verified downloads (`XTASK_ARTIFACT_CACHE`, default
    /// `target/artifact-cache`, shared with `cargo xtask artifacts fetch`).
    pub cache_dir: PathBuf,
}

impl Inputs {
    /// The charts to install for release `tag`, versions filled in.
    pub fn charts(&self, tag: &str) -> Vec<helm::Release> {
        self.target
            .install
            .charts
            .iter()
            .map(|chart| helm::Release::for_chart(chart, tag))
            .collect()
    }

    /// The artifact crate's plan for this run: assets and `artifacts.json` land in the run's
    /// folder, beside its reports.
    pub fn artifact_plan(&self) -> artifact::Plan {
        let mut artifacts = self.target.artifacts.clone();
        if self.repo != self.target.release.repo {
            // Another repository than the config's: its assets are unknown, take them all.
            artifacts.patterns.clear();
            artifacts.images.clear();
        }
        artifact::Plan::from_config(&self.repo, &self.tag, &self.release_dir(), &artifacts)
    }

    pub fn release_dir(&self) -> PathBuf {
        self.artifacts_dir.clone()
    }

    /// The download options every fetch of the run uses, observing `token`.
    pub fn download_options(&self, token: &cancel::Token) -> download::Options {
        let artifacts = &self.target.artifacts;
        download::Options {
            max_size: artifacts.max_asset_mib.saturating_mul(1024 * 1024),
            request_timeout: Duration::from_secs(artifacts.request_timeout_secs),
            total_timeout: Duration::from_secs(artifacts.total_timeout_secs),
            retries: artifacts.retries,
            cache_dir: Some(self.cache_dir.clone()),
            cancel: token.clone(),
            ..download::Options::default()
        }
    }

    /// Whether the fixture's echo image has the health toggle the eviction case flips: ours
    /// (kind, or `[existing] echo_image`), not the upstream echo-basic.
    pub fn echo_has_health_toggle(&self) -> bool {
        match self.target_cluster {
            Target::Kind => true,
            Target::Existing { .. } => self.target.existing.echo_image.is_some(),
        }
    }

    /// The project name reports use.
    pub fn project(&self) -> String {
        self.target.release.project.clone().unwrap_or_else(|| {
            self.repo
                .rsplit('/')
                .next()
                .unwrap_or(&self.repo)
                .to_owned()
        })
    }
}

fn bad(message: impl Into<String>) -> BadInput {
    BadInput(message.into())
}

/// The run's folder name: `<tag>-<UTC time>`, e.g. `v2.1.0-20261130T160405Z`.
pub fn run_folder_name(tag: &str, now: SystemTime) -> String {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let rest = seconds % 86_400;
    format!(
        "{tag}-{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Reads and checks everything. `env` is a snapshot of the process environment.
pub fn load(request: &Request, env: &BTreeMap<String, String>) -> Result<Inputs, BadInput> {
    let root = request.root.clone();
    let config_path = request
        .config
        .clone()
        .unwrap_or_else(|| root.join(config::DEFAULT_TARGET));
    let target = conformance::target::load(&config_path).map_err(|error| bad(error.to_string()))?;
    let repo = request
        .repo
        .clone()
        .unwrap_or_else(|| target.release.repo.clone());
    config::release::validate_repo(&repo).map_err(|why| bad(format!("--repo: {why}")))?;
    // On the user's cluster the release is installed already: the tag only names it in the
    // reports, and without one they say "installed".
    let tag = request.tag.clone().unwrap_or_else(|| {
        if request.existing {
            "installed".to_owned()
        } else {
            target.release.tag.clone()
        }
    });
    // The config's own tag was checked with the file, where its line is known.
    if let Some(flag) = &request.tag
        && flag != "latest"
        && !(request.existing && flag == "installed")
    {
        config::install::validate_release_tag(flag).map_err(|why| bad(format!("--tag: {why}")))?;
    }
    let pins_path = root.join(pins::PIN_FILE);
    let platform = pins::Platform::current();
    let (pins, used) = pins::load(&pins_path)
        .map_err(|error| bad(error.to_string()))?
        .with_overrides(env, &platform)
        .map_err(|error| bad(error.to_string()))?;
    let overrides = used.iter().map(ToString::to_string).collect();
    let mut notices = Vec::new();
    let var = |name: &str| {
        env.get(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let cache_root =
        var("XTASK_TOOLS_DIR").map_or_else(|| root.join("target/tools"), PathBuf::from);
    let mirror = var("XTASK_TOOLS_MIRROR");
    if let Some(mirror) = &mirror {
        notices.push(format!(
            "XTASK_TOOLS_MIRROR={mirror}: pinned tools and the CRD bundle are downloaded from this mirror (checksums from {} still apply)",
            pins::PIN_FILE
        ));
    }
    let tools =
        tools::Context::new(pins.clone(), env.clone(), cache_root, platform).with_mirror(mirror);
    let mut fixture = Fixture::load(
        &root.join(cluster::fixture::FIXTURE_DIR),
        &target.install.gateway_class,
    )
    .map_err(|error| bad(error.to_string()))?;
    // XTASK_RUN_ID names the run (a CI job's id, say): its cluster or namespace is then
    // `release-gate-run-<id>`; otherwise a fresh id is drawn.
    let cluster_name = match var("XTASK_RUN_ID") {
        Some(id) => {
            let name = format!("{}{id}", cluster::owner::CLUSTER_PREFIX);
            cluster::kind::validate_cluster_name(&name)
                .and_then(|()| config::install::validate_dns_label("XTASK_RUN_ID", &id))
                .map_err(|why| bad(format!("XTASK_RUN_ID={id}: {why}")))?;
            name
        }
        None => cluster::owner::new_cluster_name(),
    };
    let (target_cluster, kubeconfig) = if request.existing {
        existing_cluster(request, env, &target, &cluster_name, &mut fixture, &pins)?
    } else {
        if request.context.is_some() || request.kubeconfig.is_some() {
            return Err(bad(
                "--context and --kubeconfig name a cluster you bring: add --cluster existing, or drop them for a throwaway kind cluster",
            ));
        }
        (Target::Kind, PathBuf::new())
    };
    let notify = notify_settings(request, env, &target)?;
    let runs = runs_root(&root, env);
    let artifacts_dir = match &request.artifacts_dir {
        Some(dir) => dir.clone(),
        None => runs.join(run_folder_name(&tag, SystemTime::now())),
    };
    check_artifacts_dir(&artifacts_dir, request.dry_run)?;
    let timeouts = target.install.timeouts;
    let deadlines = Deadlines {
        gateway: timeouts.gateway(),
        routes: timeouts.routes(),
        pods: timeouts.pods(),
        poll: Duration::from_secs(1),
    };
    Ok(Inputs {
        owners_dir: runs.join("owners"),
        root: root.clone(),
        config_path,
        pins,
        overrides,
        notices,
        repo,
        tag,
        artifacts_dir: artifacts_dir.clone(),
        kubeconfig: if target_cluster == Target::Kind {
            RunDir(artifacts_dir.clone()).kubeconfig()
        } else {
            kubeconfig
        },
        target_cluster,
        cluster_name,
        keep_cluster: request.keep_cluster,
        dry_run: request.dry_run,
        api_base: var("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API.to_owned()),
        token: var("GITHUB_TOKEN").map(notify::Secret::new),
        tools,
        fixture,
        deadlines,
        host_os: std::env::consts::OS.to_owned(),
        notify,
        cache_dir: var("XTASK_ARTIFACT_CACHE")
            .map_or_else(|| root.join("target/artifact-cache"), PathBuf::from),
        target,
    })
}

/// Checks a run on the user's cluster before anything runs: a context named, the kubeconfig
/// there and its current context exactly that one, the controller configured. Moves the
/// fixture into the run's own namespace, labelled with the run id, with an echo image the
/// cluster can pull.
fn existing_cluster(
    request: &Request,
    env: &BTreeMap<String, String>,
    target: &config::Target,
    cluster_name: &str,
    fixture: &mut Fixture,
    pins: &pins::Pins,
) -> Result<(Target, PathBuf), BadInput> {
    if request.keep_cluster {
        return Err(bad(
            "--keep-cluster is for the throwaway kind cluster; with --cluster existing the cluster is yours and stays",
        ));
    }
    let context = request.context.clone().ok_or_else(|| {
        bad("--cluster existing needs --context NAME: the kubeconfig context of the cluster to verify on, named so a run never lands on another cluster by accident")
    })?;
    let kubeconfig = match &request.kubeconfig {
        Some(path) => path.clone(),
        None => match env.get("KUBECONFIG").filter(|value| !value.is_empty()) {
            Some(list) => PathBuf::from(list.split(':').next().unwrap_or_default()),
            None => {
                PathBuf::from(env.get("HOME").cloned().unwrap_or_default()).join(".kube/config")
            }
        },
    };
    let text = std::fs::read_to_string(&kubeconfig).map_err(|error| {
        bad(format!(
            "cannot read the kubeconfig {}: {error}; pass --kubeconfig FILE",
            kubeconfig.display()
        ))
    })?;
    let current =
        current_context(&text).map_err(|why| bad(format!("{}: {why}", kubeconfig.display())))?;
    if current != context {
        return Err(bad(format!(
            "the current context of {} is {current:?}, not the {context:?} you named: refusing to start on a cluster you did not name; switch with `kubectl config use-context {context} --kubeconfig {}` or name {current:?}",
            kubeconfig.display(),
            kubeconfig.display()
        )));
    }
    if target.install.controller.is_none() {
        return Err(bad(
            "--cluster existing checks the installed controller first: add `controller = { namespace = \"…\", deployment = \"…\" }` to the target config's [install]",
        ));
    }
    let run_id = cluster_name
        .strip_prefix(cluster::owner::CLUSTER_PREFIX)
        .unwrap_or(cluster_name)
        .to_owned();
    let namespace = cluster_name.to_owned();
    fixture
        .relocate(&namespace, &[(RUN_LABEL.to_owned(), run_id.clone())])
        .map_err(|error| bad(error.to_string()))?;
    let echo = target
        .existing
        .echo_image
        .clone()
        .unwrap_or_else(|| pins.images.echo_basic_upstream.clone());
    fixture.replace_image(&pins.images.echo, &echo);
    Ok((
        Target::Existing {
            context,
            kubeconfig: kubeconfig.clone(),
            namespace,
            run_id,
        },
        kubeconfig,
    ))
}

/// The webhook (from `--notify-webhook`, or the variable `[notify] webhook_url_env` names) and
/// the GitHub issue (`--notify-github-issue` or `[notify] github_issue`), checked now: a URL
/// that is neither https nor loopback http, or an issue without a repository or a token, is
/// bad input. The URL is never repeated in a message.
fn notify_settings(
    request: &Request,
    env: &BTreeMap<String, String>,
    target: &config::Target,
) -> Result<Notify, BadInput> {
    let section = &target.notify;
    let from_env = section
        .webhook_url_env
        .as_ref()
        .and_then(|name| env.get(name))
        .filter(|value| !value.trim().is_empty());
    let webhook = match request.notify_webhook.as_ref().or(from_env) {
        Some(url) => {
            download::check_transport(url.trim()).map_err(|_| {
                bad("the webhook URL must be https:// (http:// only to a loopback host); it is not repeated here because it is a secret")
            })?;
            let mut options = notify::WebhookOptions::new(notify::Secret::new(url.trim()));
            options.total_timeout = Duration::from_secs(section.webhook_timeout_secs);
            options.request_timeout = options.request_timeout.min(options.total_timeout);
            Some(options)
        }
        None => None,
    };
    let github = if request.notify_github_issue || section.github_issue {
        let repository = env
            .get("GITHUB_REPOSITORY")
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                bad("--notify-github-issue needs GITHUB_REPOSITORY (OWNER/NAME; GitHub Actions sets it) to know where the issue goes")
            })?;
        config::release::validate_repo(repository)
            .map_err(|why| bad(format!("GITHUB_REPOSITORY: {why}")))?;
        let token = env
            .get("GITHUB_TOKEN")
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                bad("--notify-github-issue needs GITHUB_TOKEN with issues: write (in a workflow: `GITHUB_TOKEN: ${{ github.token }}` and `permissions: issues: write`)")
            })?;
        let api_base = env
            .get("GITHUB_API_URL")
            .filter(|value| !value.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| DEFAULT_API.to_owned());
        Some(notify::GithubOptions::new(
            api_base,
            repository.clone(),
            notify::Secret::new(token.clone()),
        ))
    } else {
        None
    };
    let run_env = ["GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"]
        .into_iter()
        .filter_map(|key| env.get(key).map(|value| (key.to_owned(), value.clone())))
        .collect();
    Ok(Notify {
        webhook,
        on: request.notify_on.unwrap_or(section.on),
        github,
        run_env,
    })
}

/// `current-context` of a kubeconfig's text.
pub fn current_context(kubeconfig: &str) -> Result<String, String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(kubeconfig)
        .map_err(|error| format!("not a kubeconfig ({error})"))?;
    value
        .get("current-context")
        .and_then(serde_yaml_ng::Value::as_str)
        .filter(|context| !context.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "the kubeconfig has no current-context".to_owned())
}

/// The artifacts folder must be new or empty and creatable: a run never mixes its files with
/// another run's. A dry run creates nothing.
fn check_artifacts_dir(dir: &Path, dry_run: bool) -> Result<(), BadInput> {
    if dir.is_file() {
        return Err(bad(format!(
            "--artifacts-dir {} is a file; name a new folder",
            dir.display()
        )));
    }
    if let Ok(mut entries) = std::fs::read_dir(dir)
        && entries.next().is_some()
    {
        return Err(bad(format!(
            "--artifacts-dir {} already holds files; name a new or empty folder so this run's reports are not mixed with another's",
            dir.display()
        )));
    }
    if dry_run {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|error| {
        bad(format!(
            "cannot create the artifacts folder {}: {error}; pass a writable --artifacts-dir",
            dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_carry_the_tag_and_utc_time() {
        // 2026-11-30 16:04:05 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(1_796_054_645);
        assert_eq!(run_folder_name("v2.1.0", at), "v2.1.0-20261130T160405Z");
        assert_eq!(
            run_folder_name("latest", UNIX_EPOCH),
            "latest-19700101T000000Z"
        );
        // A leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(run_folder_name("x", leap), "x-20000229T000000Z");
    }

    #[test]
    fn the_current_context_is_read_from_the_kubeconfig() {
        let text = "apiVersion: v1\nkind: Config\ncurrent-context: prod-east\ncontexts: []\n";
        assert_eq!(current_context(text).unwrap(), "prod-east");
        assert!(
            current_context("apiVersion: v1\n")
                .unwrap_err()
                .contains("no current-context")
        );
        assert!(current_context("a: [").is_err());
    }

    #[test]
    fn a_used_artifacts_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("commands.log"), "old").unwrap();
        let error = check_artifacts_dir(dir.path(), false).unwrap_err();
        assert!(error.0.contains("already holds files"), "{error}");
        assert!(check_artifacts_dir(&dir.path().join("new"), true).is_ok());
        assert!(
            !dir.path().join("new").exists(),
            "a dry run created the folder"
        );
    }
}

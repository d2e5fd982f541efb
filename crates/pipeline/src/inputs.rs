//! verify-release's inputs: the [`settings::Settings`] every subcommand shares, refined by this
//! command's flags into a run's [`Inputs`]. Everything a user can get wrong is checked here,
//! before any work, and reported as [`BadInput`] naming the file, line or flag and the fix
//! (exit 2). Each crate translates its own config section; this module only gathers them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cluster::fixture::{Deadlines, Fixture};
use cluster::helm;
use cluster::stages::RunDir;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--repo`; the target's repository when None.
    pub repo: Option<String>,
    /// `--tag`; the target's tag (usually `latest`) when None.
    pub tag: Option<String>,
    /// `--artifacts-dir`; `<runs folder>/<tag>-<UTC time>-<run id>` when None.
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
    /// `--kubernetes 1.35`, `1.35,1.36` or `all`: the throwaway clusters' Kubernetes minors (a
    /// cell each, with its pinned node image and kubectl); the target's supported minors with
    /// an image when None (or the pin file's default image, when it lists none).
    pub kubernetes: Option<String>,
    /// `--parallel N`: cells holding a cluster at once; from the machine when None.
    pub parallel: Option<usize>,
    /// `--fail-fast`: a failing cell stops the others.
    pub fail_fast: bool,
}

/// Who hears about the run.
#[derive(Debug, Clone)]
pub struct Notify {
    pub webhook: Option<notify::WebhookOptions>,
    pub on: config::notify::On,
    pub github: Option<notify::GithubOptions>,
    /// The environment snapshot's `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`.
    pub run_env: BTreeMap<String, String>,
    /// `[notify] webhook_url_env` names this variable, which is not set: nothing is posted,
    /// and the run warns and records it.
    pub unset_webhook_env: Option<String>,
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

pub use stdx::BadInput;

/// Everything a run needs, decided before it starts.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// What every subcommand shares: pins, the target config, folders, the GitHub API.
    pub settings: settings::Settings,
    pub repo: String,
    /// As asked (`latest` or a tag); the resolved tag is known after the resolve step.
    pub tag: String,
    /// The run's id: its cluster (or namespace) is `release-gate-run-<id>`, and its folder
    /// name ends with it.
    pub run_id: String,
    pub artifacts_dir: PathBuf,
    pub cluster_name: String,
    /// A throwaway kind cluster, or the user's.
    pub target_cluster: Target,
    /// The kubeconfig every kubectl and helm call names.
    pub kubeconfig: PathBuf,
    pub keep_cluster: bool,
    pub dry_run: bool,
    pub fixture: Fixture,
    pub deadlines: Deadlines,
    pub notify: Notify,
    /// The clusters' Kubernetes minors, why, and the supported minors this run does not verify.
    pub kubernetes: crate::kubernetes::Choice,
    /// One per Kubernetes minor (one on the user's cluster): each cell's chain, names, folder.
    pub cells: Vec<crate::cells::CellInputs>,
    /// How many cells hold a cluster at once.
    pub parallel: crate::cells::Parallelism,
    pub fail_fast: bool,
}

impl Inputs {
    /// The charts to install for release `tag`, versions filled in.
    pub fn charts(&self, tag: &str) -> Vec<helm::Release> {
        self.settings
            .target
            .install
            .charts
            .iter()
            .map(|chart| helm::Release::for_chart(chart, tag))
            .collect()
    }

    /// The artifact crate's plan for this run: assets and `artifacts.json` land in the run's
    /// folder, beside its reports.
    pub fn artifact_plan(&self) -> artifact::Plan {
        let mut artifacts = self.settings.target.artifacts.clone();
        if self.repo != self.settings.target.release.repo {
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
        self.settings.download_options(token)
    }

    /// Each pin override in force, as the run's reports list it.
    pub fn overrides(&self) -> Vec<String> {
        self.settings
            .notices
            .iter()
            .filter_map(|notice| match notice {
                settings::Notice::Override(used) => Some(used.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Where owner records of throwaway clusters live.
    pub fn owners_dir(&self) -> PathBuf {
        self.settings.owners_dir()
    }

    /// Whether the fixture's echo image has the health toggle the eviction case flips: ours
    /// (kind, or `[existing] echo_image`), not the upstream echo-basic.
    pub fn echo_has_health_toggle(&self) -> bool {
        match self.target_cluster {
            Target::Kind => true,
            Target::Existing { .. } => self.settings.target.existing.echo_image.is_some(),
        }
    }

    /// The kind clusters this run may hold at once (none on the user's).
    pub fn cluster_names(&self) -> Vec<String> {
        match self.target_cluster {
            Target::Kind => self
                .cells
                .iter()
                .take(self.parallel.cells)
                .map(|cell| cell.cluster_name.clone())
                .collect(),
            Target::Existing { .. } => Vec::new(),
        }
    }

    /// The cell step `id` belongs to (a run over one cluster has one, for every step).
    pub fn cell(&self, id: crate::event::StepId) -> &crate::cells::CellInputs {
        &self.cells[id.cell_index().min(self.cells.len().saturating_sub(1))]
    }

    /// The project name reports use.
    pub fn project(&self) -> String {
        self.settings
            .target
            .release
            .project
            .clone()
            .unwrap_or_else(|| {
                self.repo
                    .rsplit('/')
                    .next()
                    .unwrap_or(&self.repo)
                    .to_owned()
            })
    }
}

fn bad(message: impl Into<String>) -> BadInput {
    BadInput::new(message)
}

/// The run's folder name: `<tag>-<UTC time>-<run id>`, e.g.
/// `v2.1.0-20261130T160405Z-1a2b3c4d`: two runs started in the same second never share one.
pub fn run_folder_name(tag: &str, now: SystemTime, run_id: &str) -> String {
    format!(
        "{tag}-{}-{run_id}",
        stdx::time::compact(stdx::time::unix_seconds(now))
    )
}

/// Checks this command's flags against `settings` and decides everything a run needs.
pub fn load(request: &Request, settings: settings::Settings) -> Result<Inputs, BadInput> {
    let (choices, kubernetes) =
        crate::kubernetes::choose(request.kubernetes.as_deref(), request.existing, settings)?;
    if request.existing && (request.parallel.is_some() || request.fail_fast) {
        return Err(bad(
            "--parallel and --fail-fast run several throwaway clusters at once; a cluster you bring (--cluster existing) is one: drop them",
        ));
    }
    let settings = choices[0].settings.clone();
    let target = &settings.target;
    let repo = request
        .repo
        .clone()
        .unwrap_or_else(|| target.release.repo.clone());
    config::release::validate_repo(&repo).map_err(|why| bad(format!("--repo: {why}")))?;
    // On the user's cluster the release is installed already: the tag only names it in the
    // reports, and without one they say "installed". The config's own tag was checked where
    // it is written, with its file and line.
    let tag = match &request.tag {
        Some(tag) => {
            if tag != "latest" {
                config::install::validate_release_tag(tag)
                    .map_err(|why| bad(format!("--tag: {why}")))?;
            }
            tag.clone()
        }
        None if request.existing => "installed".to_owned(),
        None => target.release.tag.clone(),
    };
    let mut fixture = Fixture::load(
        &settings.root.join(cluster::fixture::FIXTURE_DIR),
        &target.install.gateway_class,
    )
    .map_err(|error| bad(error.to_string()))?;
    // XTASK_RUN_ID names the run (a CI job's id, say): its cluster or namespace is then
    // `release-gate-run-<id>`; otherwise a fresh id is drawn.
    let chosen_id = settings.env.get("XTASK_RUN_ID").map(str::to_owned);
    let cluster_name = match &chosen_id {
        Some(id) => {
            let name = format!("{}{id}", cluster::owner::CLUSTER_PREFIX);
            cluster::kind::validate_cluster_name(&name)
                .and_then(|()| config::install::validate_dns_label("XTASK_RUN_ID", id))
                .map_err(|why| bad(format!("XTASK_RUN_ID={id}: {why}")))?;
            name
        }
        None => cluster::owner::new_cluster_name(),
    };
    let run_id = cluster_name
        .strip_prefix(cluster::owner::CLUSTER_PREFIX)
        .unwrap_or(&cluster_name)
        .to_owned();
    let (target_cluster, kubeconfig) = if request.existing {
        existing_cluster(request, &settings, &cluster_name, &run_id, &mut fixture)?
    } else {
        if request.context.is_some() || request.kubeconfig.is_some() {
            return Err(bad(
                "--context and --kubeconfig name a cluster you bring: add --cluster existing, or drop them for a throwaway kind cluster",
            ));
        }
        (Target::Kind, PathBuf::new())
    };
    // A pinned tool this run would have to download must be downloadable: a version override
    // without its checksum is refused now, not after the run folder exists.
    let needed: &[pins::ToolName] = match target_cluster {
        Target::Kind => &[
            pins::ToolName::Kind,
            pins::ToolName::Kubectl,
            pins::ToolName::Helm,
        ],
        Target::Existing { .. } => &[pins::ToolName::Kubectl],
    };
    let probe = exec::Shell::new();
    for &tool in needed {
        tools::check_obtainable(&probe, &settings.tools, tool).map_err(bad)?;
    }
    // Each cell's kubectl (within skew of its own Kubernetes) must be obtainable too.
    for choice in &choices[1..] {
        tools::check_obtainable(&probe, &choice.settings.tools, pins::ToolName::Kubectl)
            .map_err(bad)?;
    }
    let notify = notify_settings(request, &settings)?;
    let artifacts_dir = match &request.artifacts_dir {
        Some(dir) => {
            check_artifacts_dir(dir, request.dry_run)?;
            dir.clone()
        }
        None => {
            let dir = settings
                .runs_dir
                .join(run_folder_name(&tag, SystemTime::now(), &run_id));
            new_run_folder(&dir, request.dry_run, chosen_id.is_some())?;
            dir
        }
    };
    let timeouts = target.install.timeouts;
    let deadlines = Deadlines {
        gateway: timeouts.gateway(),
        routes: timeouts.routes(),
        pods: timeouts.pods(),
        poll: Duration::from_secs(1),
    };
    let kubeconfig = if target_cluster == Target::Kind {
        RunDir(artifacts_dir.clone()).kubeconfig()
    } else {
        kubeconfig
    };
    let cells = match target_cluster {
        Target::Kind => crate::cells::throwaway(choices, &cluster_name, &artifacts_dir),
        Target::Existing { .. } => vec![crate::cells::CellInputs {
            cell: None,
            label: "existing".to_owned(),
            minor: None,
            settings: settings.clone(),
            cluster_name: cluster_name.clone(),
            kubeconfig: kubeconfig.clone(),
            dir: artifacts_dir.clone(),
        }],
    };
    let parallel = crate::cells::parallelism(request.parallel, cells.len(), &settings.host)?;
    Ok(Inputs {
        repo,
        tag,
        run_id,
        cells,
        parallel,
        fail_fast: request.fail_fast,
        kubeconfig,
        artifacts_dir,
        target_cluster,
        cluster_name,
        keep_cluster: request.keep_cluster,
        dry_run: request.dry_run,
        fixture,
        deadlines,
        notify,
        kubernetes,
        settings,
    })
}

/// Checks a run on the user's cluster before anything runs: a context named, the kubeconfig
/// there and its current context exactly that one, the controller configured. Moves the
/// fixture into the run's own namespace, labelled with the run id, with an echo image the
/// cluster can pull.
fn existing_cluster(
    request: &Request,
    settings: &settings::Settings,
    cluster_name: &str,
    run_id: &str,
    fixture: &mut Fixture,
) -> Result<(Target, PathBuf), BadInput> {
    let env = &settings.env;
    let target = &settings.target;
    let pins = &settings.pins;
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
        None => match env.get("KUBECONFIG") {
            Some(list) => PathBuf::from(list.split(':').next().unwrap_or_default()),
            None => PathBuf::from(env.get("HOME").unwrap_or_default()).join(".kube/config"),
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
    let namespace = cluster_name.to_owned();
    fixture
        .relocate(&namespace, &[(RUN_LABEL.to_owned(), run_id.to_owned())])
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
            run_id: run_id.to_owned(),
        },
        kubeconfig,
    ))
}

/// The webhook (from `--notify-webhook`, or the variable `[notify] webhook_url_env` names) and
/// the GitHub issue (`--notify-github-issue` or `[notify] github_issue`), checked now: a URL
/// that is neither https nor loopback http, or an issue without a repository or a token, is
/// bad input. The URL is never repeated in a message.
fn notify_settings(request: &Request, settings: &settings::Settings) -> Result<Notify, BadInput> {
    let env = &settings.env;
    let section = &settings.target.notify;
    // A variable the config names but the environment does not set: nothing can be posted,
    // and the run says so (a warning, and a record in run.json) instead of staying silent.
    let unset_webhook_env = match (&request.notify_webhook, &section.webhook_url_env) {
        (None, Some(name)) if env.raw(name).is_none() => Some(name.clone()),
        _ => None,
    };
    let from_env = section
        .webhook_url_env
        .as_deref()
        .and_then(|name| env.raw(name));
    let webhook = match request.notify_webhook.as_deref().or(from_env) {
        Some(url) => {
            download::check_transport(url.trim()).map_err(|_| {
                bad("the webhook URL must be https:// (http:// only to a loopback host); it is not repeated here because it is a secret")
            })?;
            let mut options = notify::WebhookOptions::new(download::Secret::new(url.trim()));
            options.total_timeout = Duration::from_secs(section.webhook_timeout_secs);
            options.request_timeout = options.request_timeout.min(options.total_timeout);
            Some(options)
        }
        None => None,
    };
    let github = if request.notify_github_issue || section.github_issue {
        let repository = env.get("GITHUB_REPOSITORY").ok_or_else(|| {
            bad("--notify-github-issue needs GITHUB_REPOSITORY (OWNER/NAME; GitHub Actions sets it) to know where the issue goes")
        })?;
        config::release::validate_repo(repository)
            .map_err(|why| bad(format!("GITHUB_REPOSITORY: {why}")))?;
        let token = settings.github.token.clone().ok_or_else(|| {
            bad("--notify-github-issue needs GITHUB_TOKEN with issues: write (in a workflow: `GITHUB_TOKEN: ${{ github.token }}` and `permissions: issues: write`)")
        })?;
        Some(notify::GithubOptions::new(
            settings.github.api_base.clone(),
            repository.to_owned(),
            token,
        ))
    } else {
        None
    };
    let run_env = ["GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"]
        .into_iter()
        .filter_map(|key| env.get(key).map(|value| (key.to_owned(), value.to_owned())))
        .collect();
    Ok(Notify {
        webhook,
        on: request.notify_on.unwrap_or(section.on),
        github,
        run_env,
        unset_webhook_env,
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

/// `--artifacts-dir` must be new or empty and creatable: a run never mixes its files with
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

/// The default run folder, `<runs folder>/<tag>-<time>-<run id>`, made with `create_dir` so
/// that two runs can never share one: only a run id given twice (`XTASK_RUN_ID`) collides,
/// and that is said. A dry run creates nothing.
fn new_run_folder(dir: &Path, dry_run: bool, id_chosen: bool) -> Result<(), BadInput> {
    let runs = dir.parent().unwrap_or(dir);
    if runs.is_file() {
        return Err(bad(format!(
            "the runs folder {} is a file: point XTASK_VERIFY_DIR at a folder",
            runs.display()
        )));
    }
    if dry_run {
        return Ok(());
    }
    std::fs::create_dir_all(runs)
        .and_then(|()| std::fs::create_dir(dir))
        .map_err(|error| {
            if error.kind() == std::io::ErrorKind::AlreadyExists && id_chosen {
                bad(format!(
                    "{} exists: another run used the same XTASK_RUN_ID in the same second; give each run its own id",
                    dir.display()
                ))
            } else {
                bad(format!(
                    "cannot create the run folder {}: {error}; point XTASK_VERIFY_DIR at a writable folder",
                    dir.display()
                ))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn folder_names_carry_the_tag_and_utc_time() {
        // 2026-11-30 16:04:05 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(1_796_054_645);
        assert_eq!(
            run_folder_name("v2.1.0", at, "1a2b3c4d"),
            "v2.1.0-20261130T160405Z-1a2b3c4d"
        );
        assert_eq!(
            run_folder_name("latest", UNIX_EPOCH, "ci-7"),
            "latest-19700101T000000Z-ci-7"
        );
        // A leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(run_folder_name("x", leap, "i"), "x-20000229T000000Z-i");
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
        assert!(error.message().contains("already holds files"), "{error}");
        assert!(check_artifacts_dir(&dir.path().join("new"), true).is_ok());
        assert!(
            !dir.path().join("new").exists(),
            "a dry run created the folder"
        );
    }
}

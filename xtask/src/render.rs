//! The one place the libraries' typed events become words: the pipeline's [`Note`]s, the
//! artifact crate's progress, the cluster crate's steps and a conformance case's result. Every
//! subcommand that shows these events renders them through here, so a fact reads the same in
//! `verify-release`, `artifacts fetch` and `kind-up`.

use std::collections::HashMap;
use std::sync::Mutex;

use conformance::results::{CaseResult, Outcome as CaseOutcome};
use pipeline::Note;
use pipeline::notifications::WouldNotify;

use crate::ui;

/// How loudly a line is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
}

/// A line and its level.
pub type Line = (Level, String);

fn info(text: String) -> Option<Line> {
    Some((Level::Info, text))
}

fn warning(text: String) -> Option<Line> {
    Some((Level::Warning, text))
}

fn list(paths: &[std::path::PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pipeline fact, said.
pub fn note(note: &Note) -> Vec<Line> {
    match note {
        Note::Tool(found) => std::iter::once((Level::Info, found.description.clone()))
            .chain(
                found
                    .notices
                    .iter()
                    .map(|notice| (Level::Warning, notice.clone())),
            )
            .collect(),
        other => one(other).into_iter().collect(),
    }
}

fn one(note: &Note) -> Option<Line> {
    match note {
        Note::Tool(found) => info(found.description.clone()),
        Note::ToolInstalled {
            tool,
            version,
            path,
        } => info(format!("installed {tool} {version} at {}", path.display())),
        Note::ToolWouldInstall { tool, why, path } => info(format!(
            "{why}; the real run installs the pinned {tool} at {} first",
            path.display()
        )),
        Note::Engine {
            version,
            save_platform,
        } => info(format!(
            "Docker engine {version}{}",
            save_platform
                .as_deref()
                .map(|platform| format!(", images saved for {platform}"))
                .unwrap_or_default()
        )),
        Note::WouldResolve { url, with_token } => info(format!(
            "GET {url}{}",
            if *with_token {
                " (with GITHUB_TOKEN, to that host only)"
            } else {
                ""
            }
        )),
        Note::WouldDownloadAssets { patterns, dest } => info(format!(
            "download the assets matching {} (and the checksum files that prove them) into {}; nothing unverified is kept",
            patterns.join(", "),
            dest.display()
        )),
        Note::WouldRecord(path) => info(format!(
            "pull images named by downloaded manifests, `docker load` image archives, compare the digest list, write {}",
            path.display()
        )),
        Note::WouldDownload { url, dest, sha256 } => info(format!(
            "download {url} to {} and check its sha256 is {sha256}",
            dest.display()
        )),
        Note::CrdBundle {
            path,
            sha256,
            from_cache,
        } => info(format!(
            "{}: sha256 {sha256} as pinned{}",
            path.display(),
            if *from_cache { " (from the cache)" } else { "" }
        )),
        Note::Recorded {
            path,
            assets,
            images,
        } => info(format!(
            "{}: {assets} assets, {images} images",
            path.display()
        )),
        Note::StaleClustersDeleted(names) => warning(format!(
            "deleted {} cluster(s) left by runs that were killed: {}",
            names.len(),
            names.join(", ")
        )),
        Note::EchoImage {
            reference,
            id,
            details,
        } => info(
            details
                .iter()
                .cloned()
                .chain([format!("{reference} is image {id}")])
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Note::LoadBalancerStarted {
            container,
            already_running: false,
        } => info(format!("cloud-provider-kind runs as container {container}")),
        Note::LoadBalancerStarted {
            container,
            already_running: true,
        } => info(format!(
            "cloud-provider-kind already runs as container {container} (another cell or run on this engine started it; it serves every kind cluster)"
        )),
        Note::NoLoadBalancer => info(
            "no LoadBalancer provider: the gateway is reached through a port-forward".to_owned(),
        ),
        Note::ImagesLoaded { images, platform } => info(format!(
            "loaded {} image(s){}: {}",
            images.len(),
            platform
                .as_deref()
                .map(|platform| format!(" for {platform}"))
                .unwrap_or_default(),
            images.join(", ")
        )),
        Note::GatewayAccess {
            gateway,
            address,
            url,
            forwarded_because,
            second_listener,
        } => {
            let mut lines = Vec::new();
            if let Some(address) = address {
                lines.push(format!("{gateway} has the address {address}"));
            }
            lines.push(match forwarded_because {
                None => format!("reaching the gateway directly at {url}"),
                Some(why) => {
                    format!("reaching the gateway through a port-forward: {why}\ngateway URL {url}")
                }
            });
            if let Some(second) = second_listener {
                lines.push(format!("second listener at {second}"));
            }
            info(lines.join("\n"))
        }
        Note::SecondListenerMissing(why) => {
            warning(format!("{why}: listener-second-port is skipped"))
        }
        Note::HealthToggle { pod, url } => info(format!("health toggle of {pod} at {url}")),
        Note::NoHealthToggle => info(
            "the fixture runs the upstream echo-basic image, which has no health toggle: health-eviction will be skipped"
                .to_owned(),
        ),
        Note::WouldRunCases(names) => info(format!(
            "run {} cases against the gateway: {}",
            names.len(),
            names.join(", ")
        )),
        Note::ReportsWritten(paths) => info(format!("reports: {}", list(paths))),
        Note::Diagnosed { files, dir, logs } => info(format!(
            "{files} diagnostic files in {} (kind's node logs go to {} before the delete)",
            dir.display(),
            logs.display()
        )),
        Note::NothingToDiagnose => {
            info("no cluster was reached: nothing to diagnose on it".to_owned())
        }
        Note::ForwardsStopped(count) => info(format!("stopped {count} port-forward(s)")),
        Note::ClusterKept { name, kubeconfig } => info(format!(
            "kept cluster {name} (--keep-cluster): kubectl --kubeconfig {} get pods -A; delete it with `kind delete cluster --name {name}`",
            kubeconfig.display()
        )),
        Note::ServerVersion {
            context,
            server: Some(server),
            kubectl,
        } => info(format!(
            "context {context}: the API server runs Kubernetes {server}; kubectl {} is within one minor version of it",
            kubectl.as_deref().unwrap_or("(as resolved)")
        )),
        Note::ServerVersion {
            context,
            server: None,
            ..
        } => info(format!(
            "the real run first reads the API server's version through context {context}, then uses the pinned kubectl within one minor version of it"
        )),
        Note::Ready { object, condition } => info(format!("{object} is {condition}")),
        Note::WillCreate {
            namespace,
            label,
            objects,
        } => info(format!(
            "will create namespace {namespace} and, in it, only objects labelled {label}: {}",
            objects.join(", ")
        )),
        Note::DeletingLabelled {
            namespace,
            selector,
        } => info(format!(
            "delete only objects labelled {selector} in {namespace}, then {namespace} itself if it carries that label"
        )),
        Note::NamespaceAbsent(namespace) => info(format!(
            "namespace {namespace} does not exist (the run stopped before creating it)"
        )),
        Note::NamespaceNotOurs {
            namespace,
            selector,
        } => warning(format!(
            "namespace {namespace} does not carry {selector}: it is not this run's, and is left alone"
        )),
        Note::Notified {
            channel,
            delivered: true,
            detail,
        } => info(format!("{channel}: {detail}")),
        Note::Notified {
            channel, detail, ..
        } => warning(format!(
            "the {channel} notification could not be delivered: {detail}"
        )),
        Note::WouldNotify(WouldNotify::Webhook { on }) => info(format!(
            "POST the verdict to the webhook ({} run)",
            match on {
                config::notify::On::Failure => "on a failed",
                config::notify::On::Success => "on a passing",
                config::notify::On::Always => "on every",
            }
        )),
        Note::WouldNotify(WouldNotify::GithubIssue { repository, title }) => info(format!(
            "in {repository}: open (or comment on) the issue \"{title}\" when the run fails, comment and close it when it passes"
        )),
        Note::Problem(text) => warning(text.clone()),
    }
}

/// The cluster crate's event, said.
pub fn cluster(event: &cluster::Event) -> Line {
    match event {
        cluster::Event::Step(line) => (Level::Info, line.clone()),
        cluster::Event::Unchanged(line) => (Level::Info, format!("unchanged: {line}")),
        cluster::Event::Warning(line) => (Level::Warning, line.clone()),
        cluster::Event::InotifyLow {
            clusters,
            shortfalls,
        } => (Level::Warning, inotify_low(*clusters, shortfalls)),
    }
}

/// Limits below what the clusters need, and the command that raises them.
pub fn inotify_low(clusters: usize, shortfalls: &[cluster::host::Shortfall]) -> String {
    let limits = shortfalls
        .iter()
        .map(|short| {
            format!(
                "{} >= {} (it is {})",
                short.setting, short.needed, short.value
            )
        })
        .collect::<Vec<_>>()
        .join(" and ");
    let plural = if clusters == 1 { "" } else { "s" };
    format!(
        "{clusters} kind cluster{plural} on this host at once need {limits}, or pods may fail with \"too many open files\" (kind's known issue); raise them with `{}` (and persist them in /etc/sysctl.d/)",
        cluster::host::raise_command(shortfalls).join(" ")
    )
}

/// A conformance case's end, said.
pub fn case(case: &CaseResult) -> Line {
    let text = match &case.outcome {
        CaseOutcome::Passed => format!(
            "PASS {} ({:.2}s, {} requests)",
            case.name,
            case.duration.as_secs_f64(),
            case.requests
        ),
        CaseOutcome::Skipped { reason } => format!("SKIP {}: {reason}", case.name),
        CaseOutcome::Failed { message, .. } => format!("FAIL {}: {message}", case.name),
    };
    (Level::Info, text)
}

/// The artifact crate's events: lines for what the reader needs (the release, each verified
/// asset, each image), and one byte-progress display for the whole fetch, a bar on a terminal
/// (parallel downloads would fight over separate ones).
#[derive(Default)]
pub struct ArtifactProgress {
    state: Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    overall: Option<ui::Progress>,
    /// Bytes so far per asset (a restarted download goes back down).
    done: HashMap<String, u64>,
}

impl ArtifactProgress {
    /// The line this event says, if any; the progress display moves as a side effect.
    pub fn event(&self, event: &artifact::Event) -> Option<Line> {
        let mut state = stdx::lock(&self.state);
        match event {
            artifact::Event::Resolved {
                tag,
                prerelease,
                assets,
                selected,
                bytes,
            } => {
                state.overall = Some(ui::Progress::bytes("assets", Some(*bytes)));
                info(format!(
                    "release {tag}{}: {assets} assets, {selected} selected, {bytes} bytes to fetch",
                    if *prerelease { " (pre-release)" } else { "" }
                ))
            }
            artifact::Event::Download { asset, event } => match event {
                download::Event::Started { offset, .. } if *offset > 0 => {
                    info(format!("{asset}: resuming at byte {offset}"))
                }
                download::Event::Progress { done, .. } => {
                    state.done.insert(asset.clone(), *done);
                    state.show();
                    None
                }
                download::Event::Retrying {
                    attempt,
                    delay,
                    reason,
                } => info(format!(
                    "{asset}: retry {attempt} in {:.1} s ({reason})",
                    delay.as_secs_f64()
                )),
                _ => None,
            },
            artifact::Event::Fetched {
                asset,
                size,
                from_cache,
                verification,
            } => {
                state.done.insert(asset.clone(), *size);
                state.show();
                info(format!(
                    "{asset}: {size} bytes{}, {}",
                    if *from_cache { " from the cache" } else { "" },
                    verification.describe()
                ))
            }
            artifact::Event::Image { reference, step } => info(format!("{step} {reference}")),
            artifact::Event::Note(note) => warning(note.clone()),
        }
    }

    /// Closes the progress display, saying how the fetch ended.
    pub fn finish(&self, outcome: &str) {
        let mut state = stdx::lock(&self.state);
        if let Some(overall) = state.overall.take() {
            overall.finish(outcome);
        }
    }
}

impl ProgressState {
    fn show(&self) {
        if let Some(overall) = &self.overall {
            overall.set_position(self.done.values().sum());
        }
    }
}

/// Says `line` the way its level asks.
pub fn say(prefix: &str, (level, text): &Line) {
    for part in text.lines() {
        match level {
            Level::Info => ui::info(&format!("{prefix}{part}")),
            Level::Warning => ui::warn(&format!("{prefix}{part}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_notification_is_a_warning_and_a_delivered_one_is_not() {
        let failed = one(&Note::Notified {
            channel: "webhook",
            delivered: false,
            detail: "HTTP 500".to_owned(),
        })
        .unwrap();
        assert_eq!(failed.0, Level::Warning);
        assert!(failed.1.contains("webhook") && failed.1.contains("HTTP 500"));
        let delivered = one(&Note::Notified {
            channel: "webhook",
            delivered: true,
            detail: "HTTP 200".to_owned(),
        })
        .unwrap();
        assert_eq!(delivered, (Level::Info, "webhook: HTTP 200".to_owned()));
    }

    #[test]
    fn a_tools_notices_are_warnings_after_its_description() {
        let lines = note(&Note::Tool(pipeline::event::ToolFound {
            tool: pins::ToolName::Kind,
            description: "kind 0.27.0 at /x/kind".to_owned(),
            notices: vec!["$KIND is used as is".to_owned()],
        }));
        assert_eq!(
            lines,
            vec![
                (Level::Info, "kind 0.27.0 at /x/kind".to_owned()),
                (Level::Warning, "$KIND is used as is".to_owned())
            ]
        );
    }

    #[test]
    fn low_inotify_limits_are_a_warning_naming_each_limit_and_the_command() {
        let shortfalls = cluster::host::shortfalls(
            cluster::host::Inotify {
                max_user_instances: 128,
                max_user_watches: 8192,
            },
            2,
        );
        let (level, line) = cluster(&cluster::Event::InotifyLow {
            clusters: 2,
            shortfalls,
        });
        assert_eq!(level, Level::Warning);
        assert_eq!(
            line,
            "2 kind clusters on this host at once need fs.inotify.max_user_instances >= 256 (it is 128) and fs.inotify.max_user_watches >= 262144 (it is 8192), or pods may fail with \"too many open files\" (kind's known issue); raise them with `sudo sysctl -w fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288` (and persist them in /etc/sysctl.d/)"
        );
    }
}

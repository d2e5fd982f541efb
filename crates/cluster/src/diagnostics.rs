//! Diagnostics after a failure, collected before anything is deleted: events sorted by time,
//! `describe` of the Gateway API objects and of every pod that is not Ready, the logs (and the
//! previous container's logs) of the release's controller and proxy pods found by label, and
//! `helm status` / `helm history` of each chart. Best effort: a diagnostic that fails is
//! recorded in the index and the rest still run. kind's own node logs are exported by
//! [`crate::stages::teardown`] before every delete.

use std::path::{Path, PathBuf};

use exec::{Cmd, Shell};

use crate::fixture::Fixture;
use crate::helm::{self, Helm};
use crate::kubectl::{Get, Kubectl};
use crate::port_forward::GATEWAY_NAME_LABEL;
use crate::status::{self, List, Pod};

/// Pods whose logs matter: a namespace and a label selector (from the target config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSelector {
    pub namespace: String,
    pub selector: String,
}

/// What to look at.
#[derive(Debug, Clone, Default)]
pub struct Scope<'a> {
    /// The fixture: its Gateways' proxy pods (by the gateway-name label) and its backends.
    pub fixture: Option<&'a Fixture>,
    /// The release's controller pods (and any others the target names).
    pub pods: Vec<PodSelector>,
    /// The charts installed, for `helm status` and `helm history`.
    pub charts: Vec<helm::Release>,
}

/// How many lines of each pod's log to keep.
const LOG_TAIL: u32 = 2000;

/// The commands, each with the file its stdout goes to.
pub fn commands(kubectl: &Kubectl, helm: Option<&Helm>, scope: &Scope<'_>) -> Vec<(String, Cmd)> {
    let mut commands = vec![
        ("events.txt".to_owned(), kubectl.events()),
        (
            "gatewayclasses.txt".to_owned(),
            kubectl.describe("gatewayclasses", None),
        ),
        (
            "gateways.txt".to_owned(),
            kubectl.describe("gateways", None),
        ),
        (
            "httproutes.txt".to_owned(),
            kubectl.describe("httproutes", None),
        ),
    ];
    let mut selectors = scope.pods.clone();
    if let Some(fixture) = scope.fixture {
        for gateway in &fixture.gateways {
            selectors.push(PodSelector {
                namespace: gateway.namespace.clone(),
                selector: format!("{GATEWAY_NAME_LABEL}={}", gateway.name),
            });
        }
        for backend in &fixture.backends {
            selectors.push(PodSelector {
                namespace: backend.deployment.namespace.clone(),
                selector: backend.selector.clone(),
            });
        }
    }
    for pods in &selectors {
        let stem = file_stem(&format!("{}-{}", pods.namespace, pods.selector));
        commands.push((
            format!("logs-{stem}.txt"),
            kubectl.logs_selected(&pods.namespace, &pods.selector, LOG_TAIL, false),
        ));
        commands.push((
            format!("logs-previous-{stem}.txt"),
            kubectl.logs_selected(&pods.namespace, &pods.selector, LOG_TAIL, true),
        ));
    }
    if let Some(helm) = helm {
        for chart in &scope.charts {
            commands.push((
                format!("helm-status-{}.txt", chart.name),
                helm.status(chart),
            ));
            commands.push((
                format!("helm-history-{}.txt", chart.name),
                helm.history(chart),
            ));
        }
    }
    commands
}

/// A file name part from free text: letters, digits, `.`, `_`, `-`; anything else becomes `_`.
fn file_stem(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs every diagnostic into `dir` and returns the files written. Also describes each pod of
/// the cluster that is not Ready (`pod-NAMESPACE-NAME.txt`) and writes `index.txt`: each file,
/// the command that made it and how it ended.
pub fn collect(
    sh: &Shell,
    kubectl: &Kubectl,
    helm: Option<&Helm>,
    scope: &Scope<'_>,
    dir: &Path,
) -> Vec<PathBuf> {
    if sh.is_dry_run() {
        for (_, cmd) in commands(kubectl, helm, scope) {
            let _ = sh.run_unchecked(&cmd);
        }
        return Vec::new();
    }
    if std::fs::create_dir_all(dir).is_err() {
        return Vec::new();
    }
    let mut commands = commands(kubectl, helm, scope);
    for (namespace, name) in not_ready_pods(sh, kubectl) {
        commands.push((
            format!("pod-{}.txt", file_stem(&format!("{namespace}-{name}"))),
            kubectl.describe_one("pod", &name, &namespace),
        ));
    }
    let mut written = Vec::new();
    let mut index = String::new();
    for (file, cmd) in commands {
        let outcome = match sh.run_unchecked(&cmd) {
            Ok(output) => {
                // stdout only: the tool's warnings on stderr are kept apart, after a marker.
                let mut text = output.stdout.clone();
                if !output.stderr.is_empty() {
                    text.extend_from_slice(b"\n--- stderr ---\n");
                    text.extend_from_slice(&output.stderr);
                }
                let path = dir.join(&file);
                if std::fs::write(&path, text).is_ok() {
                    written.push(path);
                }
                match output.status.code() {
                    Some(0) => "ok".to_owned(),
                    Some(code) => format!("exit {code}"),
                    None => output.status.to_string(),
                }
            }
            Err(error) => format!("not run: {error}"),
        };
        index.push_str(&format!("{file}\t{outcome}\t{cmd}\n"));
    }
    let index_path = dir.join("index.txt");
    if std::fs::write(&index_path, index).is_ok() {
        written.push(index_path);
    }
    written
}

/// `(namespace, name)` of every pod in the cluster that is not Ready.
fn not_ready_pods(sh: &Shell, kubectl: &Kubectl) -> Vec<(String, String)> {
    let query = Get {
        resource: "pods",
        ..Get::default()
    };
    let Ok(output) = sh.run_unchecked(&kubectl.get_json(&query).arg("--all-namespaces")) else {
        return Vec::new();
    };
    let Ok(pods) = status::parse::<List<Pod>>("pods", &output.stdout_str()) else {
        return Vec::new();
    };
    pods.items
        .into_iter()
        .filter(|pod| !pod.is_ready())
        .map(|pod| {
            (
                pod.metadata.namespace.clone().unwrap_or_default(),
                pod.metadata.name,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_diagnostic_the_issue_lists_is_planned() {
        let kubectl = Kubectl::new("kubectl", "/run/kubeconfig");
        let helm = Helm::new("helm", "/run/kubeconfig");
        let scope = Scope {
            fixture: None,
            pods: vec![PodSelector {
                namespace: "kgateway-system".into(),
                selector: "app.kubernetes.io/name=kgateway".into(),
            }],
            charts: vec![helm::Release {
                name: "kgateway".into(),
                chart: "oci://x/kgateway".into(),
                version: "v2.1.0".into(),
                namespace: "kgateway-system".into(),
                set: Vec::new(),
            }],
        };
        let planned = commands(&kubectl, Some(&helm), &scope);
        let files: Vec<&str> = planned.iter().map(|(file, _)| file.as_str()).collect();
        assert_eq!(
            files,
            [
                "events.txt",
                "gatewayclasses.txt",
                "gateways.txt",
                "httproutes.txt",
                "logs-kgateway-system-app.kubernetes.io_name_kgateway.txt",
                "logs-previous-kgateway-system-app.kubernetes.io_name_kgateway.txt",
                "helm-status-kgateway.txt",
                "helm-history-kgateway.txt",
            ]
        );
        let previous = &planned[5].1;
        assert_eq!(
            previous.arg_strings()[2..],
            [
                "logs",
                "--selector",
                "app.kubernetes.io/name=kgateway",
                "--namespace",
                "kgateway-system",
                "--all-containers",
                "--prefix",
                "--tail=2000",
                "--previous"
            ]
        );
        assert!(
            planned[0]
                .1
                .arg_strings()
                .contains(&"--sort-by=.lastTimestamp".to_owned())
        );
    }
}

//! kubectl's CLI as command values. Every command names the run's kubeconfig with
//! `--kubeconfig`, so neither `$KUBECONFIG` nor `~/.kube/config` is ever read or written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use exec::Cmd;

use crate::FIELD_MANAGER;
use crate::kind::go_duration;

/// How long a plain kubectl read may take before it is killed.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// kubectl at a resolved path, bound to one cluster's kubeconfig (and, on a cluster the user
/// brought, to one named context of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubectl {
    program: PathBuf,
    kubeconfig: PathBuf,
    context: Option<String>,
}

/// A namespaced object reference as kubectl takes it: `gateway/infra-gateway` in `gateway-conformance-infra`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// `TYPE/NAME`, e.g. `deployment/infra-backend-v1`.
    pub object: &'a str,
    pub namespace: &'a str,
}

impl Kubectl {
    pub fn new(program: impl Into<PathBuf>, kubeconfig: impl Into<PathBuf>) -> Kubectl {
        Kubectl {
            program: program.into(),
            kubeconfig: kubeconfig.into(),
            context: None,
        }
    }

    /// Every command names this context too (`--context NAME`), so a kubeconfig switched to
    /// another cluster meanwhile is never the one acted on.
    pub fn with_context(mut self, context: Option<String>) -> Kubectl {
        self.context = context;
        self
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    fn cmd(&self, purpose: impl Into<String>) -> Cmd {
        self.base(purpose).timeout(CALL_TIMEOUT)
    }

    /// `kubectl --kubeconfig FILE [--context NAME]`, no timeout.
    fn base(&self, purpose: impl Into<String>) -> Cmd {
        let cmd = Cmd::new(&self.program, purpose)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig);
        match &self.context {
            Some(context) => cmd.args(["--context", context]),
            None => cmd,
        }
    }

    /// `kubectl version -o json`: the client's and the API server's versions (parse the
    /// server's with `tools::parse::kubectl_server_version`; stderr stays apart, for kubectl
    /// writes its skew warning there).
    pub fn version(&self) -> Cmd {
        self.cmd("read the API server's Kubernetes version")
            .args(["version", "-o", "json"])
    }

    /// `kubectl delete TYPES --namespace NS --selector SEL --ignore-not-found --wait=false`:
    /// removes only the objects carrying `selector` (a run's label).
    pub fn delete_selected(&self, types: &str, namespace: &str, selector: &str) -> Cmd {
        self.cmd(format!("delete {types} labelled {selector} in {namespace}"))
            .args([
                "delete",
                types,
                "--namespace",
                namespace,
                "--selector",
                selector,
            ])
            .args(["--ignore-not-found", "--wait=false"])
            .timeout(Duration::from_secs(180))
    }

    /// `kubectl delete namespace NAME --ignore-not-found --wait=false`.
    pub fn delete_namespace(&self, name: &str) -> Cmd {
        self.cmd(format!("delete namespace {name}"))
            .args([
                "delete",
                "namespace",
                name,
                "--ignore-not-found",
                "--wait=false",
            ])
            .timeout(Duration::from_secs(180))
    }

    /// `kubectl apply --server-side --field-manager=release-gate --force-conflicts -f SOURCE`,
    /// where SOURCE is a file, a directory or an https URL. Conflicts are forced because the
    /// objects belong to this throwaway cluster's installer and nobody else.
    pub fn apply_server_side(&self, source: &str) -> Cmd {
        self.cmd(format!("apply {source}"))
            .args([
                "apply",
                "--server-side",
                &format!("--field-manager={FIELD_MANAGER}"),
                "--force-conflicts",
                "-f",
                source,
            ])
            .timeout(Duration::from_secs(180))
    }

    /// `kubectl wait --for=condition=COND TARGET… --timeout=D` (cluster-scoped when
    /// `namespace` is None).
    pub fn wait_condition(
        &self,
        objects: &[&str],
        namespace: Option<&str>,
        condition: &str,
        timeout: Duration,
    ) -> Cmd {
        let mut cmd = self
            .cmd(format!("wait until {} are {condition}", objects.join(", ")))
            .arg("wait")
            .arg(format!("--for=condition={condition}"))
            .args(objects);
        if let Some(namespace) = namespace {
            cmd = cmd.args(["--namespace", namespace]);
        }
        cmd.arg(format!("--timeout={}", go_duration(timeout)))
            .timeout(timeout + Duration::from_secs(30))
    }

    /// `kubectl rollout status deployment/NAME --namespace NS --timeout=D`.
    pub fn rollout_status(&self, target: &Target<'_>, timeout: Duration) -> Cmd {
        self.cmd(format!("wait for the rollout of {}", target.object))
            .args([
                "rollout",
                "status",
                target.object,
                "--namespace",
                target.namespace,
            ])
            .arg(format!("--timeout={}", go_duration(timeout)))
            .timeout(timeout + Duration::from_secs(30))
    }

    /// `kubectl get RESOURCE [NAME] [--namespace NS] [--selector SEL] --output json`.
    pub fn get_json(&self, query: &Get<'_>) -> Cmd {
        let mut cmd = self
            .cmd(format!("read {} as JSON", query.describe()))
            .args(["get", query.resource]);
        if let Some(name) = query.name {
            cmd = cmd.arg(name);
        }
        if let Some(namespace) = query.namespace {
            cmd = cmd.args(["--namespace", namespace]);
        }
        if let Some(selector) = query.selector {
            cmd = cmd.args(["--selector", selector]);
        }
        cmd.args(["--output", "json"])
    }

    /// `kubectl port-forward TARGET :REMOTE --namespace NS --address 127.0.0.1`: kubectl picks
    /// a free local port and prints `Forwarding from 127.0.0.1:PORT -> REMOTE`. No timeout: the
    /// child is owned by a guard and runs until dropped.
    pub fn port_forward(&self, target: &Target<'_>, remote_port: u16) -> Cmd {
        self.base(format!(
            "port-forward to {} port {remote_port}",
            target.object
        ))
        .args(["port-forward", target.object, &format!(":{remote_port}")])
        .args(["--namespace", target.namespace, "--address", "127.0.0.1"])
    }

    /// `kubectl logs TARGET --namespace NS --all-containers --prefix --tail=N`, for diagnostics.
    pub fn logs(&self, target: &Target<'_>, tail: u32) -> Cmd {
        self.cmd(format!("read logs of {}", target.object))
            .args(["logs", target.object, "--namespace", target.namespace])
            .args(["--all-containers", "--prefix", &format!("--tail={tail}")])
    }

    /// `kubectl logs --selector SEL --namespace NS --all-containers --prefix --tail=N
    /// [--previous]`: the logs of every pod a label selects (the previous container's after a
    /// crash with `previous`), for diagnostics.
    pub fn logs_selected(&self, namespace: &str, selector: &str, tail: u32, previous: bool) -> Cmd {
        let mut cmd = self
            .cmd(format!(
                "read {}logs of pods {selector} in {namespace}",
                if previous { "previous " } else { "" }
            ))
            .args(["logs", "--selector", selector, "--namespace", namespace])
            .args(["--all-containers", "--prefix", &format!("--tail={tail}")]);
        if previous {
            cmd = cmd.arg("--previous");
        }
        cmd
    }

    /// `kubectl describe RESOURCE NAME --namespace NS`, for diagnostics.
    pub fn describe_one(&self, resource: &str, name: &str, namespace: &str) -> Cmd {
        self.cmd(format!("describe {resource} {namespace}/{name}"))
            .args(["describe", resource, name, "--namespace", namespace])
    }

    /// `kubectl get events --all-namespaces --sort-by=.lastTimestamp`, for diagnostics.
    pub fn events(&self) -> Cmd {
        self.cmd("read events of every namespace").args([
            "get",
            "events",
            "--all-namespaces",
            "--sort-by=.lastTimestamp",
        ])
    }

    /// `kubectl describe RESOURCE [--namespace NS]`, for diagnostics.
    pub fn describe(&self, resource: &str, namespace: Option<&str>) -> Cmd {
        let cmd = self
            .cmd(format!("describe {resource}"))
            .args(["describe", resource]);
        match namespace {
            Some(namespace) => cmd.args(["--namespace", namespace]),
            None => cmd.arg("--all-namespaces"),
        }
    }
}

/// A `kubectl get` query.
#[derive(Debug, Clone, Copy, Default)]
pub struct Get<'a> {
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub selector: Option<&'a str>,
}

impl Get<'_> {
    fn describe(&self) -> String {
        let mut text = match self.name {
            Some(name) => format!("{}/{name}", self.resource),
            None => self.resource.to_owned(),
        };
        if let Some(namespace) = self.namespace {
            text.push_str(&format!(" in {namespace}"));
        }
        if let Some(selector) = self.selector {
            text.push_str(&format!(" with {selector}"));
        }
        text
    }
}

/// The local port from kubectl's port-forward ready line, `Forwarding from 127.0.0.1:PORT -> N`
/// (also `[::1]:PORT`).
pub fn parse_forwarding_line(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix("Forwarding from ")?;
    let (local, _remote) = rest.split_once(" -> ")?;
    let (_host, port) = local.rsplit_once(':')?;
    port.parse().ok().filter(|port| *port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubectl() -> Kubectl {
        Kubectl::new("kubectl", "/run/kubeconfig")
    }

    #[test]
    fn every_command_names_the_run_kubeconfig_first() {
        let k = kubectl();
        let target = Target {
            object: "deployment/x",
            namespace: "ns",
        };
        let commands = [
            k.apply_server_side("a.yaml"),
            k.wait_condition(
                &["gateway/g"],
                Some("ns"),
                "Programmed",
                Duration::from_secs(5),
            ),
            k.rollout_status(&target, Duration::from_secs(5)),
            k.get_json(&Get {
                resource: "pods",
                ..Get::default()
            }),
            k.port_forward(&target, 80),
            k.logs(&target, 10),
            k.events(),
            k.describe("gateways", None),
        ];
        for cmd in commands {
            assert_eq!(
                cmd.arg_strings()[..2],
                ["--kubeconfig", "/run/kubeconfig"],
                "{cmd}"
            );
        }
    }

    #[test]
    fn argv_matches_kubectls_documented_flags() {
        let k = kubectl();
        assert_eq!(
            k.apply_server_side("https://example.com/standard-install.yaml")
                .arg_strings()[2..],
            [
                "apply",
                "--server-side",
                "--field-manager=release-gate",
                "--force-conflicts",
                "-f",
                "https://example.com/standard-install.yaml"
            ]
        );
        assert_eq!(
            k.wait_condition(
                &["crd/gateways.gateway.networking.k8s.io"],
                None,
                "Established",
                Duration::from_secs(60)
            )
            .arg_strings()[2..],
            [
                "wait",
                "--for=condition=Established",
                "crd/gateways.gateway.networking.k8s.io",
                "--timeout=60s"
            ]
        );
        let target = Target {
            object: "service/gw",
            namespace: "infra",
        };
        assert_eq!(
            k.rollout_status(&target, Duration::from_secs(90))
                .arg_strings()[2..],
            [
                "rollout",
                "status",
                "service/gw",
                "--namespace",
                "infra",
                "--timeout=90s"
            ]
        );
        let forward = k.port_forward(&target, 8080);
        assert_eq!(
            forward.arg_strings()[2..],
            [
                "port-forward",
                "service/gw",
                ":8080",
                "--namespace",
                "infra",
                "--address",
                "127.0.0.1"
            ]
        );
        assert_eq!(
            forward.get_timeout(),
            None,
            "a guarded child has no timeout"
        );
        assert_eq!(
            k.get_json(&Get {
                resource: "services",
                namespace: Some("infra"),
                selector: Some("gateway.networking.k8s.io/gateway-name=gw"),
                name: None,
            })
            .arg_strings()[2..],
            [
                "get",
                "services",
                "--namespace",
                "infra",
                "--selector",
                "gateway.networking.k8s.io/gateway-name=gw",
                "--output",
                "json"
            ]
        );
        assert_eq!(
            k.events().arg_strings()[2..],
            [
                "get",
                "events",
                "--all-namespaces",
                "--sort-by=.lastTimestamp"
            ]
        );
        assert_eq!(
            k.logs(&target, 200).arg_strings()[2..],
            [
                "logs",
                "service/gw",
                "--namespace",
                "infra",
                "--all-containers",
                "--prefix",
                "--tail=200"
            ]
        );
    }

    #[test]
    fn a_named_context_follows_the_kubeconfig_on_every_command() {
        let k = kubectl().with_context(Some("prod-east".into()));
        let target = Target {
            object: "pod/x",
            namespace: "ns",
        };
        for cmd in [
            k.get_json(&Get {
                resource: "pods",
                ..Get::default()
            }),
            k.port_forward(&target, 3000),
            k.delete_selected("deployments,services", "ns", "release-gate.run=ab"),
            k.delete_namespace("ns"),
        ] {
            assert_eq!(
                cmd.arg_strings()[..4],
                ["--kubeconfig", "/run/kubeconfig", "--context", "prod-east"],
                "{cmd}"
            );
        }
        assert_eq!(
            k.delete_selected("deployments", "ns", "release-gate.run=ab")
                .arg_strings()[4..],
            [
                "delete",
                "deployments",
                "--namespace",
                "ns",
                "--selector",
                "release-gate.run=ab",
                "--ignore-not-found",
                "--wait=false"
            ]
        );
    }

    #[test]
    fn parses_kubectls_ready_line() {
        assert_eq!(
            parse_forwarding_line("Forwarding from 127.0.0.1:41235 -> 8080"),
            Some(41235)
        );
        assert_eq!(
            parse_forwarding_line("Forwarding from [::1]:41235 -> 8080"),
            Some(41235)
        );
        assert_eq!(parse_forwarding_line("Handling connection for 41235"), None);
        assert_eq!(
            parse_forwarding_line("Forwarding from 127.0.0.1:0 -> 80"),
            None
        );
    }
}

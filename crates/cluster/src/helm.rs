//! helm's CLI as command values: `upgrade --install` from an OCI chart at an exact version.

use std::path::{Path, PathBuf};
use std::time::Duration;

use exec::Cmd;

use crate::kind::go_duration;

/// helm at a resolved path, bound to one cluster's kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helm {
    program: PathBuf,
    kubeconfig: PathBuf,
}

/// One chart to install, with its version already resolved (no templates left).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    /// `oci://…` reference.
    pub chart: String,
    pub version: String,
    pub namespace: String,
    /// `--set` values in order.
    pub set: Vec<(String, String)>,
}

impl Release {
    /// The target config's chart for release `tag` (`{version}` filled in): the cluster crate's
    /// translation of an `[[install.charts]]` entry.
    pub fn for_chart(chart: &config::install::Chart, tag: &str) -> Release {
        Release {
            name: chart.name.clone(),
            chart: chart.chart.clone(),
            version: chart.version_for(tag),
            namespace: chart.namespace.clone(),
            set: chart
                .set
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        }
    }
}

impl Helm {
    pub fn new(program: impl Into<PathBuf>, kubeconfig: impl Into<PathBuf>) -> Helm {
        Helm {
            program: program.into(),
            kubeconfig: kubeconfig.into(),
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// `helm upgrade --install NAME CHART --version V --namespace NS --create-namespace --wait
    /// --timeout D [--set K=V]… --kubeconfig FILE`. Bare `--wait` is the documented form in helm 3
    /// (a switch) and helm 4 (the watcher strategy).
    pub fn upgrade_install(&self, release: &Release, timeout: Duration) -> Cmd {
        let mut cmd = Cmd::new(
            &self.program,
            format!("install chart {} {}", release.chart, release.version),
        )
        .args([
            "upgrade",
            "--install",
            &release.name,
            &release.chart,
            "--version",
            &release.version,
            "--namespace",
            &release.namespace,
            "--create-namespace",
            "--wait",
            "--timeout",
            &go_duration(timeout),
        ]);
        for (key, value) in &release.set {
            cmd = cmd.arg("--set").arg(format!("{key}={value}"));
        }
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .timeout(timeout + Duration::from_secs(60))
    }
}

impl Helm {
    /// `helm status NAME --namespace NS --kubeconfig FILE`, for diagnostics.
    pub fn status(&self, release: &Release) -> Cmd {
        self.read(release, "status")
    }

    /// `helm history NAME --namespace NS --kubeconfig FILE`, for diagnostics.
    pub fn history(&self, release: &Release) -> Cmd {
        self.read(release, "history")
    }

    fn read(&self, release: &Release, verb: &str) -> Cmd {
        Cmd::new(
            &self.program,
            format!("read helm {verb} of {}", release.name),
        )
        .args([verb, &release.name, "--namespace", &release.namespace])
        .arg("--kubeconfig")
        .arg(&self.kubeconfig)
        .timeout(Duration::from_secs(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_argv() {
        let helm = Helm::new("helm", "/run/kubeconfig");
        let release = Release {
            name: "kgateway".into(),
            chart: "oci://x/kgateway".into(),
            version: "v2.1.0".into(),
            namespace: "kgateway-system".into(),
            set: Vec::new(),
        };
        assert_eq!(
            helm.status(&release).arg_strings(),
            [
                "status",
                "kgateway",
                "--namespace",
                "kgateway-system",
                "--kubeconfig",
                "/run/kubeconfig"
            ]
        );
        assert_eq!(helm.history(&release).arg_strings()[0], "history");
    }

    #[test]
    fn upgrade_install_argv() {
        let helm = Helm::new("helm", "/run/kubeconfig");
        let cmd = helm.upgrade_install(
            &Release {
                name: "kgateway".into(),
                chart: "oci://cr.kgateway.dev/kgateway-dev/charts/kgateway".into(),
                version: "v2.1.0".into(),
                namespace: "kgateway-system".into(),
                set: vec![("controller.image.pullPolicy".into(), "IfNotPresent".into())],
            },
            Duration::from_secs(300),
        );
        assert_eq!(
            cmd.arg_strings(),
            [
                "upgrade",
                "--install",
                "kgateway",
                "oci://cr.kgateway.dev/kgateway-dev/charts/kgateway",
                "--version",
                "v2.1.0",
                "--namespace",
                "kgateway-system",
                "--create-namespace",
                "--wait",
                "--timeout",
                "300s",
                "--set",
                "controller.image.pullPolicy=IfNotPresent",
                "--kubeconfig",
                "/run/kubeconfig"
            ]
        );
    }
}

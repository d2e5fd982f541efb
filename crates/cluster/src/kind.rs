//! kind's CLI as command values: `get clusters`, `create cluster`, `delete cluster`,
//! `export logs`, `load image-archive` (flags as in kind's own `--help`). Images go in as
//! archives only: `load docker-image` fails under Docker's containerd image store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use exec::Cmd;

/// What kind prints on stderr (not stdout) when there is no cluster at all.
pub const NO_CLUSTERS: &str = "No kind clusters found.";

/// kind at a resolved path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kind {
    program: PathBuf,
}

impl Kind {
    pub fn new(program: impl Into<PathBuf>) -> Kind {
        Kind {
            program: program.into(),
        }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    fn cmd(&self, purpose: impl Into<String>) -> Cmd {
        Cmd::new(&self.program, purpose)
    }

    /// `kind get clusters`: one name per line on stdout.
    pub fn get_clusters(&self) -> Cmd {
        self.cmd("list kind clusters")
            .args(["get", "clusters"])
            .timeout(Duration::from_secs(60))
    }

    /// `kind create cluster --name N --image IMAGE --config FILE --kubeconfig FILE --wait D`.
    /// No `--retain`: kind removes the nodes of a failed create itself, and we delete anyway.
    pub fn create_cluster(&self, spec: &CreateSpec) -> Cmd {
        self.cmd(format!("create kind cluster {}", spec.name))
            .args([
                "create",
                "cluster",
                "--name",
                &spec.name,
                "--image",
                &spec.node_image,
            ])
            .arg("--config")
            .arg(&spec.config)
            .arg("--kubeconfig")
            .arg(&spec.kubeconfig)
            .arg("--wait")
            .arg(go_duration(spec.wait))
            .timeout(spec.timeout)
    }

    /// `kind delete cluster --name N --kubeconfig FILE`. Succeeds when the cluster is absent.
    pub fn delete_cluster(&self, name: &str, kubeconfig: &Path) -> Cmd {
        self.cmd(format!("delete kind cluster {name}"))
            .args(["delete", "cluster", "--name", name])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .timeout(Duration::from_secs(300))
    }

    /// `kind export logs DIR --name N`: node journals, container logs, pod logs.
    pub fn export_logs(&self, name: &str, dir: &Path) -> Cmd {
        self.cmd(format!("export logs of kind cluster {name}"))
            .args(["export", "logs"])
            .arg(dir)
            .args(["--name", name])
            .timeout(Duration::from_secs(300))
    }

    /// `kind load image-archive FILE --name N`: loads a `docker save` tarball.
    pub fn load_image_archive(&self, name: &str, archive: &Path) -> Cmd {
        self.cmd(format!(
            "load image archive {} into kind cluster {name}",
            archive.display()
        ))
        .args(["load", "image-archive"])
        .arg(archive)
        .args(["--name", name])
        .timeout(Duration::from_secs(600))
    }
}

/// Everything `kind create cluster` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    pub name: String,
    /// The pinned node image, `kindest/node:vX.Y.Z@sha256:…`.
    pub node_image: String,
    pub config: PathBuf,
    pub kubeconfig: PathBuf,
    /// `--wait`: how long kind waits for the control plane to be Ready.
    pub wait: Duration,
    /// The outer bound after which kind (and its process group) is killed.
    pub timeout: Duration,
}

impl CreateSpec {
    /// kind's own wait plus image unpacking and kubeadm: a generous outer bound.
    pub fn default_timeout(wait: Duration) -> Duration {
        wait + Duration::from_secs(600)
    }
}

/// Cluster names from `kind get clusters` stdout. kind prints "No kind clusters found." on
/// stderr, so an empty stdout is an empty list; the message is ignored even if it ever moves.
pub fn parse_clusters(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != NO_CLUSTERS)
        .map(str::to_owned)
        .collect()
}

/// Exact-name membership: `kind-2` is not `kind` (kgateway's setup-kind.sh used a substring
/// match and reused the wrong cluster).
pub fn has_cluster(clusters: &[String], name: &str) -> bool {
    clusters.iter().any(|cluster| cluster == name)
}

/// Checks a cluster name the way kind does (it becomes part of container and context names):
/// lowercase letters, digits, `-` and `.`, starting with a letter or digit, at most 50 long.
pub fn validate_cluster_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a usable kind cluster name: use lowercase letters, digits, `-` and `.`, starting with a letter or digit, at most 50 characters (e.g. release-gate)"
        ))
    }
}

/// A duration as Go's `time.ParseDuration` reads it (`300s`), for `--wait` and `--timeout`.
pub fn go_duration(duration: Duration) -> String {
    format!("{}s", duration.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind() -> Kind {
        Kind::new("/opt/kind")
    }

    #[test]
    fn create_cluster_argv_matches_kinds_flags() {
        let cmd = kind().create_cluster(&CreateSpec {
            name: "release-gate".into(),
            node_image: "kindest/node:v1.37.0@sha256:abc".into(),
            config: "/run/kind-config.yaml".into(),
            kubeconfig: "/run/kubeconfig".into(),
            wait: Duration::from_secs(120),
            timeout: Duration::from_secs(900),
        });
        assert_eq!(
            cmd.arg_strings(),
            [
                "create",
                "cluster",
                "--name",
                "release-gate",
                "--image",
                "kindest/node:v1.37.0@sha256:abc",
                "--config",
                "/run/kind-config.yaml",
                "--kubeconfig",
                "/run/kubeconfig",
                "--wait",
                "120s"
            ]
        );
        assert_eq!(cmd.program(), Path::new("/opt/kind"));
        assert!(
            cmd.get_timeout()
                .is_some_and(|t| t > Duration::from_secs(120))
        );
    }

    #[test]
    fn other_argv() {
        let kind = kind();
        assert_eq!(kind.get_clusters().arg_strings(), ["get", "clusters"]);
        assert_eq!(
            kind.delete_cluster("x", Path::new("/run/kubeconfig"))
                .arg_strings(),
            [
                "delete",
                "cluster",
                "--name",
                "x",
                "--kubeconfig",
                "/run/kubeconfig"
            ]
        );
        assert_eq!(
            kind.export_logs("x", Path::new("/run/logs")).arg_strings(),
            ["export", "logs", "/run/logs", "--name", "x"]
        );
        assert_eq!(
            kind.load_image_archive("x", Path::new("/a/images.tar"))
                .arg_strings(),
            ["load", "image-archive", "/a/images.tar", "--name", "x"]
        );
    }

    #[test]
    fn cluster_names_match_exactly() {
        let clusters = parse_clusters("kind-2\nrelease-gate-old\n");
        assert_eq!(clusters, ["kind-2", "release-gate-old"]);
        assert!(!has_cluster(&clusters, "kind"));
        assert!(!has_cluster(&clusters, "release-gate"));
        assert!(has_cluster(&clusters, "kind-2"));
        assert!(parse_clusters("").is_empty());
        assert!(parse_clusters("No kind clusters found.\n").is_empty());
    }

    #[test]
    fn cluster_name_rules() {
        assert!(validate_cluster_name("release-gate").is_ok());
        assert!(validate_cluster_name("kind.2").is_ok());
        for bad in ["", "Release", "-x", "a_b", "a b", &"x".repeat(51)] {
            assert!(validate_cluster_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}

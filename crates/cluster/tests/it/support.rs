//! Shared set-up: a fake toolbox plus the run directory and spec a test brings a cluster up with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster::dev::{Tools, UpSpec};
use cluster::fixture::Deadlines;
use cluster::stages::RunDir;
use fake_tools::{FakeTools, Rule};

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/data")
        .join(name)
}

pub struct Setup {
    pub fakes: FakeTools,
    pub run: tempfile::TempDir,
}

impl Setup {
    /// Fakes whose reused clusters run the pinned Kubernetes (tests add rules after this one,
    /// so a test that wants other nodes starts from [`Setup::bare`]).
    pub fn new() -> Setup {
        let setup = Setup::bare();
        setup
            .fakes
            .rule(Rule::new("kubectl", &["get", "nodes"]).stdout_file(data("nodes-v1.37.0.json")))
            .expect("add the nodes rule");
        setup
    }

    pub fn bare() -> Setup {
        Setup {
            fakes: FakeTools::new().expect("create the fake tools"),
            run: tempfile::tempdir().expect("create a run directory"),
        }
    }

    pub fn tools(&self) -> Tools {
        // Bare names: the Shell's PATH finds the fakes first, exactly like a user's PATH would.
        Tools {
            kind: "kind".into(),
            kubectl: "kubectl".into(),
            helm: "helm".into(),
            docker: "docker".into(),
        }
    }

    pub fn run_dir(&self) -> RunDir {
        RunDir(self.run.path().join("release-gate"))
    }

    pub fn spec(&self, name: &str) -> UpSpec {
        UpSpec {
            name: name.to_owned(),
            run_dir: self.run_dir(),
            node_image: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5".to_owned(),
            node_port_mapping: None,
            create_wait: Duration::from_secs(60),
            crds_source: "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.3/standard-install.yaml".to_owned(),
            crds_version: "v1.6.3".to_owned(),
            crds_timeout: Duration::from_secs(60),
            recreate: false,
            release: None,
            fixture: None,
            fixture_images: Vec::new(),
            deadlines: fast_deadlines(),
        }
    }
}

/// Short deadlines so a stuck object fails quickly; correctness never depends on them.
pub fn fast_deadlines() -> Deadlines {
    Deadlines {
        gateway: Duration::from_millis(300),
        routes: Duration::from_millis(300),
        pods: Duration::from_millis(300),
        poll: Duration::from_millis(20),
    }
}

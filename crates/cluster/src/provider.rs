//! The engine's one cloud-provider-kind. It watches every kind cluster on the docker engine and
//! gives their LoadBalancer Services addresses, so two of them would fight over the same
//! Services: every run, every cell of a run and every run at once on one engine share a single
//! container, [`CONTAINER`]. A cluster that needs it [`acquire`]s it (started unless it runs);
//! when a cluster is gone its owner [`release`]s it, which stops it only when kind lists no
//! cluster any more (another run's, another cell's, a developer's or a kept one still needs it).
//!
//! Why that is safe without a lock: a run releases only after its own cluster is deleted and
//! decides from kind's list of clusters, and a cluster appears in that list as soon as its
//! create starts, long (seconds) before its owner acquires the provider. So a release either
//! sees the newcomer's cluster and leaves the provider, or stops it before the newcomer looks,
//! and the newcomer starts it again.

use std::time::Duration;

use docker::Docker;
use exec::{Cmd, ExecError, Shell};

use crate::ClusterError;
use crate::kind::Kind;

/// The provider's container name on any engine.
pub const CONTAINER: &str = "release-gate-cloud-provider-kind";

/// `docker run --detach --name release-gate-cloud-provider-kind --label … --network host
/// --volume /var/run/docker.sock:/var/run/docker.sock IMAGE --gateway-channel=disabled
/// [-enable-lb-port-mapping]`. Port mapping is for hosts whose docker runs in a VM (macOS,
/// Windows), where the kind network cannot be routed to.
pub fn start_command(docker: &Docker, image: &str, port_mapping: bool) -> Cmd {
    let mut cmd = Cmd::new(docker.program(), "start cloud-provider-kind")
        .args(["run", "--detach", "--name", CONTAINER])
        .args(["--label", "release-gate.provider=cloud-provider-kind"])
        .args(["--network", "host"])
        .args(["--volume", "/var/run/docker.sock:/var/run/docker.sock"])
        .arg(image)
        .arg("--gateway-channel=disabled")
        .timeout(Duration::from_secs(300));
    if port_mapping {
        cmd = cmd.arg("-enable-lb-port-mapping");
    }
    cmd
}

/// `docker container inspect --format {{.State.Running}} release-gate-cloud-provider-kind`:
/// `true` while it runs; exit 1 ("No such container") when there is none.
pub fn running_command(docker: &Docker) -> Cmd {
    Cmd::new(docker.program(), "ask whether cloud-provider-kind runs")
        .args([
            "container",
            "inspect",
            "--format",
            "{{.State.Running}}",
            CONTAINER,
        ])
        .timeout(Duration::from_secs(60))
}

/// `docker rm --force release-gate-cloud-provider-kind`.
pub fn stop_command(docker: &Docker) -> Cmd {
    Cmd::new(docker.program(), "stop cloud-provider-kind")
        .args(["rm", "--force", CONTAINER])
        .timeout(Duration::from_secs(120))
}

/// What [`acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    Started,
    AlreadyRunning,
}

/// Starts the shared provider unless it runs already (a stopped one left behind is removed
/// first). A start that loses a race to another run's finds the name taken: it runs either way.
pub fn acquire(
    sh: &Shell,
    docker: &Docker,
    image: &str,
    port_mapping: bool,
) -> Result<Acquired, ClusterError> {
    let state = sh
        .run_unchecked(&running_command(docker))
        .map_err(ClusterError::infra("ask whether cloud-provider-kind runs"))?;
    if !sh.is_dry_run() && state.status.success() {
        if state.stdout_str().trim() == "true" {
            return Ok(Acquired::AlreadyRunning);
        }
        // There, but stopped (its engine restarted, say): replace it.
        sh.run(&stop_command(docker)).map_err(ClusterError::infra(
            "remove the stopped cloud-provider-kind",
        ))?;
    }
    match sh.run(&start_command(docker, image, port_mapping)) {
        Ok(_) => Ok(Acquired::Started),
        // Another run (or cell) started it between our look and our start.
        Err(error @ ExecError::Failed { .. })
            if error.stderr_tail().contains("is already in use") =>
        {
            Ok(Acquired::AlreadyRunning)
        }
        Err(source) => Err(ClusterError::Infra {
            step: "start cloud-provider-kind".to_owned(),
            source,
        }),
    }
}

/// What [`release`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    Stopped,
    /// Left running for these clusters.
    StillNeeded(Vec<String>),
}

/// After a cluster is gone (or kept): stops the shared provider unless kind still lists a
/// cluster it serves.
pub fn release(sh: &Shell, docker: &Docker, kind: &Kind) -> Result<Released, ExecError> {
    let listed = sh.run(&kind.get_clusters())?;
    let clusters = crate::kind::parse_clusters(&listed.stdout_str());
    if !sh.is_dry_run() && !clusters.is_empty() {
        return Ok(Released::StillNeeded(clusters));
    }
    sh.run(&stop_command(docker))?;
    Ok(Released::Stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_provider_has_one_name_and_its_argv() {
        let docker = Docker::new("docker");
        assert_eq!(
            start_command(&docker, "registry.k8s.io/cpk@sha256:ab", false).arg_strings(),
            [
                "run",
                "--detach",
                "--name",
                "release-gate-cloud-provider-kind",
                "--label",
                "release-gate.provider=cloud-provider-kind",
                "--network",
                "host",
                "--volume",
                "/var/run/docker.sock:/var/run/docker.sock",
                "registry.k8s.io/cpk@sha256:ab",
                "--gateway-channel=disabled"
            ]
        );
        let mac = start_command(&docker, "i", true);
        assert_eq!(mac.arg_strings().last().unwrap(), "-enable-lb-port-mapping");
        assert_eq!(
            stop_command(&docker).arg_strings(),
            ["rm", "--force", "release-gate-cloud-provider-kind"]
        );
        assert_eq!(
            running_command(&docker).arg_strings(),
            [
                "container",
                "inspect",
                "--format",
                "{{.State.Running}}",
                "release-gate-cloud-provider-kind"
            ]
        );
    }
}

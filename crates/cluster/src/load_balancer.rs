//! Gateways get an address on kind: cloud-provider-kind (run with docker from its pinned image,
//! its own Gateway API controller disabled) gives LoadBalancer Services, and so Gateways, an
//! address on the kind network; the run waits for the Gateway's `status.addresses` and decides
//! how the host reaches it: straight at the address where the host routes to the kind network
//! (Linux), through a port-forward otherwise.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use docker::Docker;
use exec::{Cmd, Shell};

use crate::ClusterError;
use crate::fixture::ObjectRef;
use crate::kubectl::{Get, Kubectl};
use crate::status::{self, Gateway};

/// The provider container of cluster `cluster`: one per run, named after its cluster.
pub fn container_name(cluster: &str) -> String {
    format!("{cluster}-lb")
}

/// `docker run --detach --name CLUSTER-lb --label … --network host --volume
/// /var/run/docker.sock:/var/run/docker.sock IMAGE --gateway-channel=disabled
/// [-enable-lb-port-mapping]`. Port mapping is for hosts whose docker runs in a VM (macOS,
/// Windows), where the kind network cannot be routed to.
pub fn start_command(docker: &Docker, image: &str, cluster: &str, port_mapping: bool) -> Cmd {
    let mut cmd = Cmd::new(
        docker.program(),
        format!("start cloud-provider-kind for {cluster}"),
    )
    .args(["run", "--detach", "--name", &container_name(cluster)])
    .args(["--label", &format!("release-gate.cluster={cluster}")])
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

/// `docker rm --force CLUSTER-lb`: stops and removes the provider (absent is fine for callers
/// that ignore the status).
pub fn stop_command(docker: &Docker, cluster: &str) -> Cmd {
    Cmd::new(
        docker.program(),
        format!("stop cloud-provider-kind of {cluster}"),
    )
    .args(["rm", "--force", &container_name(cluster)])
    .timeout(Duration::from_secs(120))
}

/// Polls the Gateway until it reports an address (or the deadline passes: a Stuck error naming
/// the Gateway and its last conditions).
pub fn wait_for_address(
    sh: &Shell,
    kubectl: &Kubectl,
    gateway: &ObjectRef,
    deadline: Duration,
    poll: Duration,
) -> Result<String, ClusterError> {
    let query = Get {
        resource: "gateways.gateway.networking.k8s.io",
        name: Some(&gateway.name),
        namespace: Some(&gateway.namespace),
        selector: None,
    };
    let step = format!("read the address of {gateway}");
    let started = std::time::Instant::now();
    loop {
        let output = sh
            .run_unchecked(&kubectl.get_json(&query))
            .map_err(ClusterError::infra(step.clone()))?;
        if sh.is_dry_run() {
            return Ok("<the Gateway's address>".to_owned());
        }
        let last = if output.status.success() {
            let parsed: Gateway =
                status::parse("a Gateway", &output.stdout_str()).map_err(|message| {
                    ClusterError::Unexpected {
                        step: step.clone(),
                        message,
                    }
                })?;
            if let Some(address) = parsed.status.addresses.first() {
                return Ok(address.value.clone());
            }
            "no status.addresses yet".to_owned()
        } else {
            format!("kubectl get failed: {}", output.stderr_str().trim())
        };
        if started.elapsed() >= deadline {
            return Err(ClusterError::Stuck {
                object: gateway.to_string(),
                wanted: "given an address by the LoadBalancer provider".to_owned(),
                waited: deadline,
                last,
            });
        }
        // A token's reason is set before it wakes sleepers: a sleep cut short has one.
        if sh.cancel().sleep(poll)
            && let Some(reason) = sh.cancel().reason()
        {
            return Err(ClusterError::Cancelled { step, reason });
        }
    }
}

/// How the suite reaches the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight at the Gateway's address: the host routes to the kind network.
    Direct { url: String },
    /// Through a port-forward to the gateway's Service, and why.
    PortForward { why: String },
}

/// Whether the host can reach `address:port` (a TCP connect within `timeout`). Only called on
/// an address the Gateway reports.
pub fn route_to(address: &str, port: u16, timeout: Duration) -> Route {
    let host = if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]")
    } else {
        address.to_owned()
    };
    let target = format!("{host}:{port}");
    let resolved: Vec<SocketAddr> = match target.to_socket_addrs() {
        Ok(addresses) => addresses.collect(),
        Err(error) => {
            return Route::PortForward {
                why: format!("the Gateway's address {address} does not resolve here: {error}"),
            };
        }
    };
    for socket in &resolved {
        if TcpStream::connect_timeout(socket, timeout).is_ok() {
            return Route::Direct {
                url: format!("http://{target}"),
            };
        }
    }
    Route::PortForward {
        why: format!(
            "the host cannot reach the Gateway's address {target} (no route to the kind network here, as on macOS)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_argv() {
        let docker = Docker::new("docker");
        let cmd = start_command(
            &docker,
            "registry.k8s.io/cpk@sha256:ab",
            "release-gate-run-1",
            false,
        );
        assert_eq!(
            cmd.arg_strings(),
            [
                "run",
                "--detach",
                "--name",
                "release-gate-run-1-lb",
                "--label",
                "release-gate.cluster=release-gate-run-1",
                "--network",
                "host",
                "--volume",
                "/var/run/docker.sock:/var/run/docker.sock",
                "registry.k8s.io/cpk@sha256:ab",
                "--gateway-channel=disabled"
            ]
        );
        let mac = start_command(&docker, "i", "c", true);
        assert_eq!(mac.arg_strings().last().unwrap(), "-enable-lb-port-mapping");
        assert_eq!(
            stop_command(&docker, "c").arg_strings(),
            ["rm", "--force", "c-lb"]
        );
    }

    #[test]
    fn a_listening_address_is_reached_directly_and_a_closed_one_is_forwarded() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            route_to("127.0.0.1", port, Duration::from_secs(2)),
            Route::Direct {
                url: format!("http://127.0.0.1:{port}")
            }
        );
        drop(listener);
        assert!(matches!(
            route_to("127.0.0.1", port, Duration::from_secs(2)),
            Route::PortForward { .. }
        ));
    }
}

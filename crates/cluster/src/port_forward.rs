//! kubectl port-forward as a guarded child: the gateway URL for the conformance suite, and the
//! per-replica control path used to flip an echo backend's health.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use exec::{ChildGuard, Shell};

use crate::ClusterError;
use crate::kubectl::{Get, Kubectl, Target, parse_forwarding_line};
use crate::status::{self, List, Service};

/// The label Gateway API implementations put on the Service they create for a Gateway.
pub const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";

/// A running `kubectl port-forward`. Dropping it kills and reaps kubectl (and its group).
#[derive(Debug)]
pub struct PortForward {
    guard: ChildGuard,
    local_port: u16,
    target: String,
}

impl PortForward {
    /// Starts kubectl and waits (at most `ready_timeout`) for its ready line.
    pub fn start(
        sh: &Shell,
        kubectl: &Kubectl,
        target: &Target<'_>,
        remote_port: u16,
        ready_timeout: Duration,
    ) -> Result<PortForward, ClusterError> {
        let step = format!("port-forward to {} port {remote_port}", target.object);
        let mut guard = sh
            .spawn(&kubectl.port_forward(target, remote_port))
            .map_err(ClusterError::infra(step.clone()))?;
        let local_port = if sh.is_dry_run() {
            0
        } else {
            guard
                .wait_for_line(ready_timeout, parse_forwarding_line)
                .map_err(ClusterError::infra(step))?
        };
        Ok(PortForward {
            guard,
            local_port,
            target: format!("{}/{}", target.namespace, target.object),
        })
    }

    /// The loopback port kubectl listens on (0 in a dry run).
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.local_port)
    }

    /// The kubectl child's pid, so tests can prove it is gone after drop.
    pub fn pid(&self) -> Option<u32> {
        self.guard.id()
    }

    /// `namespace/service/name`, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// The gateway Service of `gateway_namespace/gateway_name`, found by the label Gateway API
/// implementations set, and the Service port serving `listener_port`.
pub fn find_gateway_service(
    sh: &Shell,
    kubectl: &Kubectl,
    gateway_namespace: &str,
    gateway_name: &str,
    listener_port: u16,
) -> Result<(String, u16), ClusterError> {
    let selector = format!("{GATEWAY_NAME_LABEL}={gateway_name}");
    let step = format!("find the Service of gateway {gateway_namespace}/{gateway_name}");
    let output = sh
        .run(&kubectl.get_json(&Get {
            resource: "services",
            namespace: Some(gateway_namespace),
            selector: Some(&selector),
            name: None,
        }))
        .map_err(ClusterError::infra(step.clone()))?;
    if sh.is_dry_run() {
        return Ok((format!("<service labelled {selector}>"), listener_port));
    }
    let services: List<Service> =
        status::parse("services", &output.stdout_str()).map_err(|message| {
            ClusterError::Unexpected {
                step: step.clone(),
                message,
            }
        })?;
    let service = match services.items.as_slice() {
        [service] => service,
        [] => {
            return Err(ClusterError::Unexpected {
                step,
                message: format!(
                    "no Service in {gateway_namespace} has the label {selector}: the implementation has not created the gateway's Service (see `kubectl get services -n {gateway_namespace} --show-labels`)"
                ),
            });
        }
        several => {
            let names: Vec<&str> = several.iter().map(|s| s.metadata.name.as_str()).collect();
            return Err(ClusterError::Unexpected {
                step,
                message: format!(
                    "several Services carry {selector}: {names:?}; expected exactly one"
                ),
            });
        }
    };
    let port = service
        .spec
        .ports
        .iter()
        .find(|port| port.port == listener_port)
        .or_else(|| service.spec.ports.first())
        .map(|port| port.port)
        .ok_or_else(|| ClusterError::Unexpected {
            step,
            message: format!("Service {} exposes no ports", service.metadata.name),
        })?;
    Ok((service.metadata.name.clone(), port))
}

/// A port-forward to the gateway's Service: `url()` is the gateway URL for the suite.
pub fn gateway_port_forward(
    sh: &Shell,
    kubectl: &Kubectl,
    gateway_namespace: &str,
    gateway_name: &str,
    listener_port: u16,
    ready_timeout: Duration,
) -> Result<PortForward, ClusterError> {
    let (service, port) =
        find_gateway_service(sh, kubectl, gateway_namespace, gateway_name, listener_port)?;
    let object = format!("service/{service}");
    PortForward::start(
        sh,
        kubectl,
        &Target {
            object: &object,
            namespace: gateway_namespace,
        },
        port,
        ready_timeout,
    )
}

/// The echo backend's health toggle paths.
pub fn health_path(healthy: bool) -> &'static str {
    if healthy {
        "/_echo/health/ok"
    } else {
        "/_echo/health/fail"
    }
}

/// Marks one backend replica healthy or unhealthy: a port-forward straight to the pod (never
/// through the gateway) and a POST to its health toggle. The forward ends when this returns.
pub fn set_replica_health(
    sh: &Shell,
    kubectl: &Kubectl,
    namespace: &str,
    pod: &str,
    echo_port: u16,
    healthy: bool,
) -> Result<(), ClusterError> {
    let object = format!("pod/{pod}");
    let forward = PortForward::start(
        sh,
        kubectl,
        &Target {
            object: &object,
            namespace,
        },
        echo_port,
        Duration::from_secs(30),
    )?;
    if sh.is_dry_run() {
        return Ok(());
    }
    let path = health_path(healthy);
    let status = post_empty(forward.local_port(), path).map_err(|error| ClusterError::Io {
        step: format!(
            "POST {path} to pod {namespace}/{pod} through {}",
            forward.url()
        ),
        source: error,
    })?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(ClusterError::Unexpected {
            step: format!("POST {path} to pod {namespace}/{pod}"),
            message: format!("the echo backend answered HTTP {status}, expected 2xx"),
        })
    }
}

/// A one-shot HTTP/1.1 POST with an empty body to 127.0.0.1:port; returns the status code.
pub fn post_empty(port: u16, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    text.lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {:.80}", text)))
}

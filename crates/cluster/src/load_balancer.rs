//! Gateways get an address on kind: cloud-provider-kind (the engine's one provider, see
//! [`crate::provider`]) gives LoadBalancer Services, and so Gateways, an address on the kind
//! network; the run waits for the Gateway's `status.addresses` and decides
//! how the host reaches it: straight at the address where the host routes to the kind network
//! (Linux), through a port-forward otherwise.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use exec::Shell;

use crate::ClusterError;
use crate::fixture::ObjectRef;
use crate::kubectl::{Get, Kubectl};
use crate::status::{self, Gateway};

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

//! The fixture contract, shared by cluster and local mode: three backends of two echo replicas
//! each, how a response is attributed to a backend, and the local replicas' names and ports.
//! The cluster manifests in `hack/conformance/*.yaml` and the gateway configs in
//! `hack/conformance/gateways/` express the same route table.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The fixture's backends, in the order splits are reported.
pub const BACKENDS: [&str; 3] = ["infra-backend-v1", "infra-backend-v2", "infra-backend-v3"];
pub const V1: &str = BACKENDS[0];
pub const V2: &str = BACKENDS[1];
pub const V3: &str = BACKENDS[2];

/// Replicas per backend.
pub const REPLICAS: usize = 2;

/// The namespace the cluster fixture lives in (and local replicas report).
pub const NAMESPACE: &str = "gateway-conformance-infra";

/// The hostname whose route sends every path to v3.
pub const V3_HOSTNAME: &str = "v3.example.com";

/// The hostname of the two HTTPRoutes merged by precedence (route-across-routes).
pub const ACROSS_HOSTNAME: &str = "across.example.com";

/// Where `/redirect` sends a client.
pub const REDIRECT_HOSTNAME: &str = "redirect.example.com";

/// Shares of `/weighted` traffic per backend, in [`BACKENDS`] order.
pub const WEIGHTS: [f64; 3] = [0.7, 0.3, 0.0];

/// The backend a pod belongs to: the pod name without its last two `-` segments
/// (`deployment-replicaset-pod`). None when the name has fewer than three segments.
pub fn backend_of(pod: &str) -> Option<&str> {
    let mut cut = pod.len();
    for _ in 0..2 {
        cut = pod[..cut].rfind('-')?;
    }
    (cut > 0).then(|| &pod[..cut])
}

/// The index of a pod's backend in [`BACKENDS`].
pub fn backend_index(pod: &str) -> Option<usize> {
    let backend = backend_of(pod)?;
    BACKENDS.iter().position(|known| *known == backend)
}

/// A local replica's pod name: shaped like a Kubernetes one so attribution is the same.
pub fn local_pod_name(backend: &str, replica: usize) -> String {
    format!("{backend}-local-{replica}")
}

/// The six local replicas as (backend, pod name) in port order.
pub fn local_replicas() -> Vec<(&'static str, String)> {
    BACKENDS
        .iter()
        .flat_map(|backend| {
            (0..REPLICAS).map(move |replica| (*backend, local_pod_name(backend, replica)))
        })
        .collect()
}

/// One local echo replica.
pub struct LocalReplica {
    pub backend: &'static str,
    pub server: echo::Server,
}

/// The six echo replicas of local mode, serving on loopback until dropped.
pub struct LocalFixture {
    pub replicas: Vec<LocalReplica>,
}

impl LocalFixture {
    /// Starts the six replicas on `ports` (0 picks a free port) on 127.0.0.1.
    pub fn start(ports: &[u16; 6]) -> io::Result<LocalFixture> {
        let mut replicas = Vec::with_capacity(6);
        for ((backend, pod), port) in local_replicas().into_iter().zip(ports) {
            let identity = echo::Identity {
                pod: pod.clone(),
                namespace: NAMESPACE.to_owned(),
                service: backend.to_owned(),
                http_port: port.to_string(),
                ..echo::Identity::default()
            };
            let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *port);
            let server = echo::Server::start(address, identity, None).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot start echo replica {pod} on {address}: {error}; pick other ports with --replica-ports"),
                )
            })?;
            replicas.push(LocalReplica { backend, server });
        }
        Ok(LocalFixture { replicas })
    }

    /// `127.0.0.1:PORT` of each replica, in port order (v1, v1, v2, v2, v3, v3).
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.replicas
            .iter()
            .map(|r| r.server.local_addr())
            .collect()
    }

    /// Health controls for the v1 replicas: what the eviction case flips.
    pub fn v1_controls(&self) -> Vec<crate::ReplicaControl> {
        self.replicas
            .iter()
            .filter(|r| r.backend == V1)
            .map(|r| crate::ReplicaControl {
                pod: r.server.pod().to_owned(),
                url: r.server.url(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribution_strips_two_segments() {
        assert_eq!(
            backend_of("infra-backend-v1-7d9f8c6b5-x2k4q"),
            Some("infra-backend-v1")
        );
        assert_eq!(
            backend_of("infra-backend-v3-local-1"),
            Some("infra-backend-v3")
        );
        assert_eq!(backend_index("infra-backend-v2-abc-def"), Some(1));
        assert_eq!(backend_index("other-abc-def"), None);
        assert_eq!(backend_of("a-b"), None);
        assert_eq!(backend_of("-a-b"), None);
        assert_eq!(backend_of(""), None);
    }

    #[test]
    fn local_names_attribute_to_their_backend() {
        let replicas = local_replicas();
        assert_eq!(replicas.len(), 6);
        for (backend, pod) in replicas {
            assert_eq!(backend_of(&pod), Some(backend));
        }
    }
}

//! The kind cluster config (`kind.x-k8s.io/v1alpha4`), written as YAML from a typed model.

use serde::Serialize;

/// A kind `Cluster` config. Only the fields we set; kind's defaults do the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindConfig {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub name: String,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub role: Role,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_port_mappings: Vec<PortMapping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
}

/// A node container port published on the host (kind's `extraPortMappings` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub container_port: u16,
    pub host_port: u16,
    /// Loopback only: the dev cluster's gateway is not for the network.
    pub listen_address: String,
    pub protocol: &'static str,
}

impl KindConfig {
    /// A single control-plane node; with `node_port_mapping = Some((node_port, host_port))` the
    /// gateway Service's NodePort is reachable at `127.0.0.1:host_port`.
    pub fn new(name: &str, node_port_mapping: Option<(u16, u16)>) -> KindConfig {
        let extra_port_mappings = node_port_mapping
            .map(|(container_port, host_port)| PortMapping {
                container_port,
                host_port,
                listen_address: "127.0.0.1".to_owned(),
                protocol: "TCP",
            })
            .into_iter()
            .collect();
        KindConfig {
            kind: "Cluster",
            api_version: "kind.x-k8s.io/v1alpha4",
            name: name.to_owned(),
            nodes: vec![Node {
                role: Role::ControlPlane,
                extra_port_mappings,
            }],
        }
    }

    pub fn to_yaml(&self) -> String {
        // Serializing plain structs of strings and integers cannot fail.
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }
}

//! The few typed fields of `kubectl get -o json` we judge: Gateway and HTTPRoute conditions, pod
//! readiness, the gateway Service's ports, the Gateway API CRD bundle version.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

/// A Kubernetes `List` (what `kubectl get RESOURCE -o json` prints without a name).
#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub generation: Option<i64>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub observed_generation: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Gateway {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: GatewaySpec,
    #[serde(default)]
    pub status: GatewayStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    #[serde(default)]
    pub gateway_class_name: String,
    #[serde(default)]
    pub listeners: Vec<ListenerSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListenerSpec {
    pub name: String,
    #[serde(default)]
    pub port: u16,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewayStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub listeners: Vec<ListenerStatus>,
    /// Where the gateway is reachable (`IPAddress` or `Hostname`), once it has an address.
    #[serde(default)]
    pub addresses: Vec<GatewayAddress>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewayAddress {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListenerStatus {
    pub name: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpRoute {
    pub metadata: Metadata,
    #[serde(default)]
    pub status: RouteStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouteStatus {
    #[serde(default)]
    pub parents: Vec<RouteParentStatus>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    pub parent_ref: ParentRef,
    #[serde(default)]
    pub controller_name: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Pod {
    pub metadata: Metadata,
    #[serde(default)]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodStatus {
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(default)]
    pub name: Option<String>,
    pub port: u16,
    #[serde(default)]
    pub node_port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub metadata: Metadata,
    #[serde(default)]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(default)]
    pub node_info: NodeInfo,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// `v1.37.0`: the Kubernetes version the node runs (the node image's tag).
    #[serde(default)]
    pub kubelet_version: String,
}

/// Any object whose metadata is all we read (a CRD: its bundle-version annotation).
#[derive(Debug, Clone, Deserialize)]
pub struct Object {
    pub metadata: Metadata,
}

/// The annotation every Gateway API CRD carries with its release.
pub const BUNDLE_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";

/// Parses kubectl's JSON for one object or a list. Only stdout is ever given here.
pub fn parse<T: serde::de::DeserializeOwned>(what: &str, stdout: &str) -> Result<T, String> {
    serde_json::from_str(stdout).map_err(|error| {
        let start: String = stdout.chars().take(200).collect();
        format!("cannot read {what} from kubectl's JSON ({error}); it printed: {start}")
    })
}

/// Any object whose readiness is a list of status conditions (a Deployment's `Available`, a
/// GatewayClass's `Accepted`).
#[derive(Debug, Clone, Deserialize)]
pub struct Conditioned {
    pub metadata: Metadata,
    #[serde(default)]
    pub status: ConditionedStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConditionedStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

impl Conditioned {
    /// Ok when every `wanted` condition is True (for the current generation, where reported).
    pub fn has(&self, wanted: &[&str]) -> Result<(), String> {
        check_conditions(&self.status.conditions, wanted, self.metadata.generation).map_err(|why| {
            format!(
                "{why}; conditions: {}",
                describe_conditions(&self.status.conditions)
            )
        })
    }
}

/// `Accepted=True (Accepted), Programmed=False (Invalid: no address)`.
pub fn describe_conditions(conditions: &[Condition]) -> String {
    if conditions.is_empty() {
        return "no conditions yet".to_owned();
    }
    let mut text = String::new();
    for (index, condition) in conditions.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        let _ = write!(
            text,
            "{}={} ({}",
            condition.kind, condition.status, condition.reason
        );
        if !condition.message.is_empty() {
            let _ = write!(text, ": {}", condition.message);
        }
        text.push(')');
    }
    text
}

/// Checks that `wanted` conditions are True and, where observedGeneration is reported, that it
/// is the object's current generation (a stale True describes an older spec).
fn check_conditions(
    conditions: &[Condition],
    wanted: &[&str],
    generation: Option<i64>,
) -> Result<(), String> {
    for kind in wanted {
        let Some(condition) = conditions.iter().find(|c| c.kind == *kind) else {
            return Err(format!("{kind} not reported"));
        };
        if condition.status != "True" {
            return Err(format!("{kind} is {}", condition.status));
        }
        if let (Some(observed), Some(current)) = (condition.observed_generation, generation)
            && observed != current
        {
            return Err(format!(
                "{kind} describes generation {observed}, the object is at generation {current}"
            ));
        }
    }
    Ok(())
}

impl Gateway {
    /// Ready means Accepted and Programmed for the current generation, and every listener in
    /// the spec Programmed. The error says what is missing and the last conditions.
    pub fn readiness(&self) -> Result<(), String> {
        let generation = self.metadata.generation;
        check_conditions(
            &self.status.conditions,
            &["Accepted", "Programmed"],
            generation,
        )
        .map_err(|why| {
            format!(
                "{why}; conditions: {}",
                describe_conditions(&self.status.conditions)
            )
        })?;
        for listener in &self.spec.listeners {
            let Some(status) = self
                .status
                .listeners
                .iter()
                .find(|l| l.name == listener.name)
            else {
                return Err(format!("listener {} has no status yet", listener.name));
            };
            check_conditions(&status.conditions, &["Programmed"], generation).map_err(|why| {
                format!(
                    "listener {}: {why}; conditions: {}",
                    listener.name,
                    describe_conditions(&status.conditions)
                )
            })?;
        }
        Ok(())
    }
}

impl HttpRoute {
    /// Ready means Accepted and ResolvedRefs True in the status entry for our Gateway (a route
    /// may be attached to other parents whose verdicts do not count).
    pub fn readiness(&self, gateway_namespace: &str, gateway_name: &str) -> Result<(), String> {
        self.has(
            gateway_namespace,
            gateway_name,
            &["Accepted", "ResolvedRefs"],
        )
    }

    /// Accepted for our Gateway, whatever ResolvedRefs says: for a route whose backend is
    /// missing on purpose (its ResolvedRefs is never True).
    pub fn accepted(&self, gateway_namespace: &str, gateway_name: &str) -> Result<(), String> {
        self.has(gateway_namespace, gateway_name, &["Accepted"])
    }

    fn has(
        &self,
        gateway_namespace: &str,
        gateway_name: &str,
        wanted: &[&str],
    ) -> Result<(), String> {
        let route_namespace = self.metadata.namespace.as_deref().unwrap_or("default");
        let parent = self.status.parents.iter().find(|parent| {
            parent.parent_ref.name == gateway_name
                && parent
                    .parent_ref
                    .namespace
                    .as_deref()
                    .unwrap_or(route_namespace)
                    == gateway_namespace
                && parent
                    .parent_ref
                    .kind
                    .as_deref()
                    .is_none_or(|kind| kind == "Gateway")
        });
        let Some(parent) = parent else {
            let others: Vec<&str> = self
                .status
                .parents
                .iter()
                .map(|parent| parent.parent_ref.name.as_str())
                .collect();
            return Err(format!(
                "no status for parent gateway {gateway_namespace}/{gateway_name} yet (parents with status: {others:?})"
            ));
        };
        check_conditions(&parent.conditions, wanted, self.metadata.generation).map_err(|why| {
            format!(
                "{why}; conditions: {}",
                describe_conditions(&parent.conditions)
            )
        })
    }
}

impl Pod {
    pub fn is_ready(&self) -> bool {
        self.status
            .conditions
            .iter()
            .any(|condition| condition.kind == "Ready" && condition.status == "True")
    }

    /// `Running, Ready=False (ContainersNotReady: …)`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {}",
            if self.status.phase.is_empty() {
                "no phase"
            } else {
                &self.status.phase
            },
            describe_conditions(&self.status.conditions)
        )
    }
}

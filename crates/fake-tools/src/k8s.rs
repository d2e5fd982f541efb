//! The Kubernetes objects the fake kubectl answers with, shaped like a real API server's and a
//! real Gateway API controller's: conditions with type, status, reason, message,
//! observedGeneration and lastTransitionTime; a Gateway's listeners with attachedRoutes and
//! their own conditions; an HTTPRoute's parents with the controller that accepted them. Every
//! test and the pipeline benchmark build their answers here, once, instead of writing JSON.

/// When every condition last changed (any fixed RFC 3339 time).
const TRANSITION: &str = "2026-11-30T16:04:05Z";

/// A condition that holds (`status: "True"`) for generation 1, reason as its type.
pub fn condition(kind: &str) -> String {
    condition_with(kind, true, kind, "")
}

/// A condition of `kind` with its status, reason and message, for generation 1.
pub fn condition_with(kind: &str, holds: bool, reason: &str, message: &str) -> String {
    format!(
        r#"{{"type":"{kind}","status":"{}","reason":"{reason}","message":"{message}","observedGeneration":1,"lastTransitionTime":"{TRANSITION}"}}"#,
        if holds { "True" } else { "False" }
    )
}

/// `{"apiVersion":"v1","kind":"List","items":[…]}`, as `kubectl get -o json` prints a list.
pub fn list(items: &[String]) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"List","items":[{}]}}"#,
        items.join(",")
    )
}

/// A Gateway as its controller leaves it.
#[derive(Debug, Clone)]
pub struct Gateway<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub class: &'a str,
    /// `(listener name, port)`.
    pub listeners: &'a [(&'a str, u16)],
    /// The address the LoadBalancer provider gave it, if any.
    pub address: Option<&'a str>,
}

impl Gateway<'_> {
    /// Accepted and Programmed, each listener Accepted, Programmed and ResolvedRefs with one
    /// attached route.
    pub fn programmed(&self) -> String {
        let spec: Vec<String> = self
            .listeners
            .iter()
            .map(|(name, port)| format!(r#"{{"name":"{name}","port":{port},"protocol":"HTTP"}}"#))
            .collect();
        let status: Vec<String> = self
            .listeners
            .iter()
            .map(|(name, _)| {
                format!(
                    r#"{{"name":"{name}","attachedRoutes":1,"supportedKinds":[{{"group":"gateway.networking.k8s.io","kind":"HTTPRoute"}}],"conditions":[{},{},{}]}}"#,
                    condition("Accepted"),
                    condition("Programmed"),
                    condition("ResolvedRefs")
                )
            })
            .collect();
        let addresses = self
            .address
            .map(|address| format!(r#""addresses":[{{"type":"IPAddress","value":"{address}"}}],"#))
            .unwrap_or_default();
        format!(
            r#"{{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{{"name":"{}","namespace":"{}","generation":1}},"spec":{{"gatewayClassName":"{}","listeners":[{}]}},"status":{{{addresses}"conditions":[{},{}],"listeners":[{}]}}}}"#,
            self.name,
            self.namespace,
            self.class,
            spec.join(","),
            condition("Accepted"),
            condition("Programmed"),
            status.join(",")
        )
    }
}

/// An HTTPRoute `controller` accepted for the Gateway `parent` (`(name, namespace)`), its
/// backends resolved.
pub fn route_accepted(
    name: &str,
    namespace: &str,
    controller: &str,
    parent: (&str, &str),
) -> String {
    format!(
        r#"{{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{{"name":"{name}","namespace":"{namespace}","generation":1}},"status":{{"parents":[{{"controllerName":"{controller}","parentRef":{{"group":"gateway.networking.k8s.io","kind":"Gateway","name":"{}","namespace":"{}"}},"conditions":[{},{}]}}]}}}}"#,
        parent.0,
        parent.1,
        condition("Accepted"),
        condition("ResolvedRefs")
    )
}

/// A running pod whose containers are ready.
pub fn pod_ready(name: &str, namespace: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"{namespace}"}},"status":{{"phase":"Running","conditions":[{{"type":"Ready","status":"True","lastTransitionTime":"{TRANSITION}"}}]}}}}"#
    )
}

/// The Service a controller makes for Gateway `gateway`, labelled with its name, exposing
/// `(port name, port)`s, as a list.
pub fn gateway_service(
    name: &str,
    namespace: &str,
    gateway: &str,
    ports: &[(&str, u16)],
) -> String {
    let ports: Vec<String> = ports
        .iter()
        .map(|(port_name, port)| {
            format!(r#"{{"name":"{port_name}","port":{port},"protocol":"TCP"}}"#)
        })
        .collect();
    list(&[format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"{namespace}","labels":{{"gateway.networking.k8s.io/gateway-name":"{gateway}"}}}},"spec":{{"type":"LoadBalancer","ports":[{}]}}}}"#,
        ports.join(",")
    )])
}

/// The node list of a one-node kind cluster running `kubelet_version`.
pub fn nodes(cluster: &str, kubelet_version: &str) -> String {
    list(&[format!(
        r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{cluster}-control-plane"}},"status":{{"nodeInfo":{{"kubeletVersion":"{kubelet_version}"}}}}}}"#
    )])
}

/// A Deployment whose rollout is done: Available and Progressing.
pub fn deployment_available(name: &str, namespace: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}","namespace":"{namespace}","generation":1}},"status":{{"observedGeneration":1,"conditions":[{},{}]}}}}"#,
        condition_with("Available", true, "MinimumReplicasAvailable", ""),
        condition_with("Progressing", true, "NewReplicaSetAvailable", "")
    )
}

/// A GatewayClass its controller accepted.
pub fn gateway_class_accepted(name: &str, controller: &str) -> String {
    format!(
        r#"{{"apiVersion":"gateway.networking.k8s.io/v1","kind":"GatewayClass","metadata":{{"name":"{name}","generation":1}},"spec":{{"controllerName":"{controller}"}},"status":{{"conditions":[{}]}}}}"#,
        condition("Accepted")
    )
}

/// A Namespace with `labels` (`(key, value)`).
pub fn namespace(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!(r#""{key}":"{value}""#))
        .collect();
    format!(
        r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}","labels":{{{}}}}},"status":{{"phase":"Active"}}}}"#,
        labels.join(",")
    )
}

//! The objects fake-tools' kubectl answers with are read and judged by the cluster crate as a
//! real controller's would be: a programmed Gateway is ready, an accepted route is ready for
//! its Gateway, a running pod is Ready, the gateway Service is found by its label.

use cluster::status::{self, Gateway, HttpRoute, List, Node, Pod, Service};
use fake_tools::k8s;

fn programmed_gateways_are_ready_and_carry_their_address() {
    let text = k8s::Gateway {
        name: "gw",
        namespace: "infra",
        class: "example",
        listeners: &[("http", 80), ("http-8080", 8080)],
        address: Some("172.18.0.5"),
    }
    .programmed();
    let gateway: Gateway = status::parse("a Gateway", &text).unwrap();
    gateway.readiness().unwrap();
    assert_eq!(gateway.status.addresses[0].value, "172.18.0.5");
    assert_eq!(gateway.spec.listeners.len(), 2);
}

fn accepted_routes_are_ready_for_their_gateway_only() {
    let text = k8s::route_accepted("exact", "infra", "example.com/gateway", ("gw", "infra"));
    let route: HttpRoute = status::parse("an HTTPRoute", &text).unwrap();
    route.readiness("infra", "gw").unwrap();
    assert!(route.readiness("infra", "another").is_err());
}

fn pods_services_and_nodes_read_as_lists() {
    let pods: List<Pod> = status::parse(
        "pods",
        &k8s::list(&[
            k8s::pod_ready("a-1", "infra"),
            k8s::pod_ready("a-2", "infra"),
        ]),
    )
    .unwrap();
    assert!(pods.items.iter().all(Pod::is_ready));
    let services: List<Service> = status::parse(
        "services",
        &k8s::gateway_service("gw-svc", "infra", "gw", &[("http", 80)]),
    )
    .unwrap();
    assert_eq!(services.items[0].spec.ports[0].port, 80);
    let nodes: List<Node> = status::parse("nodes", &k8s::nodes("kind", "v1.37.0")).unwrap();
    assert_eq!(nodes.items[0].status.node_info.kubelet_version, "v1.37.0");
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        programmed_gateways_are_ready_and_carry_their_address,
        accepted_routes_are_ready_for_their_gateway_only,
        pods_services_and_nodes_read_as_lists,
    ]
}

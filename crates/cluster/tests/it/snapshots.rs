//! Snapshots of generated files: the kind config and the substituted fixture.
//! Update with `UPDATE_EXPECT=1 cargo test -p cluster`, then review the diff.

use cluster::fixture::Fixture;
use cluster::kind_config::KindConfig;
use expect_test::expect;

use crate::support::data;

fn kind_config_without_port_mapping() {
    expect![[r#"
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        name: release-gate
        nodes:
        - role: control-plane
    "#]]
    .assert_eq(&KindConfig::new("release-gate", None).to_yaml());
}

fn kind_config_maps_the_gateway_node_port_to_loopback() {
    expect![[r#"
        kind: Cluster
        apiVersion: kind.x-k8s.io/v1alpha4
        name: release-gate
        nodes:
        - role: control-plane
          extraPortMappings:
          - containerPort: 30080
            hostPort: 8080
            listenAddress: 127.0.0.1
            protocol: TCP
    "#]]
    .assert_eq(&KindConfig::new("release-gate", Some((30080, 8080))).to_yaml());
}

fn fixture_with_the_gateway_class_substituted() {
    let fixture = Fixture::load(&data("fixture"), "kgateway").unwrap();
    expect![[r#"
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: gateway-conformance-infra
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: infra-backend-v1
          namespace: gateway-conformance-infra
        spec:
          replicas: 2
          selector:
            matchLabels:
              app: infra-backend-v1
          template:
            metadata:
              labels:
                app: infra-backend-v1
            spec:
              containers:
              - name: infra-backend-v1
                image: release-gate/echo:v0.1.0
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: Gateway
        metadata:
          name: same-namespace
          namespace: gateway-conformance-infra
        spec:
          gatewayClassName: kgateway
          listeners:
          - name: http
            port: 80
            protocol: HTTP
        ---
        apiVersion: gateway.networking.k8s.io/v1
        kind: HTTPRoute
        metadata:
          name: exact-path
          namespace: gateway-conformance-infra
        spec:
          parentRefs:
          - name: same-namespace
          rules:
          - matches:
            - path:
                type: Exact
                value: /
            backendRefs:
            - name: infra-backend-v1
              port: 8080
    "#]]
    .assert_eq(&fixture.to_yaml());
}

fn the_shipped_fixture_substitutes_when_present() {
    let dir = testkit::workspace_root().join(cluster::fixture::FIXTURE_DIR);
    let has_yaml = std::fs::read_dir(&dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.path().extension().is_some_and(|ext| ext == "yaml"))
    });
    if !has_yaml {
        // hack/conformance is owned by the conformance crate; until it lands there is nothing to read.
        return;
    }
    let fixture = Fixture::load(&dir, "some-class").unwrap_or_else(|error| panic!("{error}"));
    let yaml = fixture.to_yaml();
    assert_eq!(
        yaml.matches("gatewayClassName: some-class").count(),
        fixture.gateways.len(),
        "{yaml}"
    );
    assert!(!fixture.routes.is_empty() && !fixture.backends.is_empty());
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        kind_config_without_port_mapping,
        kind_config_maps_the_gateway_node_port_to_loopback,
        fixture_with_the_gateway_class_substituted,
        the_shipped_fixture_substitutes_when_present,
    ]
}

//! Fixture waits against recorded status shapes: what counts as ready, and a stuck object is
//! named with its last conditions.

use cluster::ClusterError;
use cluster::fixture::{self, Fixture};
use cluster::kubectl::Kubectl;
use cluster::status::{self, Gateway, HttpRoute, List, Pod};
use fake_tools::Rule;

use crate::support::{Setup, data, fast_deadlines};

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

fn gateway_readiness_needs_programmed_for_the_current_generation() {
    let programmed: Gateway = status::parse("gateway", &read("gateway-programmed.json")).unwrap();
    assert_eq!(programmed.readiness(), Ok(()));
    let pending: Gateway = status::parse("gateway", &read("gateway-pending.json")).unwrap();
    let why = pending.readiness().unwrap_err();
    assert!(
        why.contains("Programmed is False") && why.contains("AddressNotAssigned"),
        "{why}"
    );
    let stale: Gateway = status::parse("gateway", &read("gateway-stale.json")).unwrap();
    let why = stale.readiness().unwrap_err();
    assert!(
        why.contains("generation 1") && why.contains("generation 2"),
        "{why}"
    );
}

/// A real recording: envoyproxy/gateway issue #812 pasted `kubectl get gateway/eg -o yaml` for a
/// Gateway whose listener says Programmed while the Gateway itself is not (its Deployment had no
/// replicas). Converted to the JSON kubectl prints; the reporter trimmed metadata, so only
/// `generation: 1` (what every observedGeneration says) was restored.
fn a_recorded_gateway_with_a_programmed_listener_but_no_replicas_is_not_ready() {
    let recorded: Gateway =
        status::parse("gateway", &read("gateway-recorded-envoy-gateway-812.json")).unwrap();
    let why = recorded.readiness().unwrap_err();
    assert!(
        why.contains("Programmed is False") && why.contains("NoResources"),
        "{why}"
    );
    assert!(why.contains("Deployment replicas unavailable"), "{why}");
}

fn route_readiness_is_judged_for_our_parent_only() {
    let route: HttpRoute = status::parse("route", &read("httproute-backend-missing.json")).unwrap();
    // The other parent is fully accepted; ours has a missing backend.
    assert_eq!(
        route.readiness("gateway-conformance-infra", "other-gateway"),
        Ok(())
    );
    let why = route
        .readiness("gateway-conformance-infra", "same-namespace")
        .unwrap_err();
    assert!(
        why.contains("ResolvedRefs is False") && why.contains("infra-backend-v9"),
        "{why}"
    );
    assert!(route.readiness("elsewhere", "same-namespace").is_err());
    let ok: HttpRoute = status::parse("route", &read("httproute-accepted.json")).unwrap();
    assert_eq!(
        ok.readiness("gateway-conformance-infra", "same-namespace"),
        Ok(())
    );
}

fn pod_readiness() {
    let pods: List<Pod> = status::parse("pods", &read("pods-one-unready.json")).unwrap();
    let ready: Vec<bool> = pods.items.iter().map(Pod::is_ready).collect();
    assert_eq!(ready, [true, false]);
    assert!(pods.items[1].describe().contains("ContainersNotReady"));
}

fn fixture_lists_what_to_wait_for() {
    let fixture = Fixture::load(&data("fixture"), "kgateway").unwrap();
    assert_eq!(
        fixture.gateway().to_string(),
        "Gateway gateway-conformance-infra/same-namespace"
    );
    assert_eq!(fixture.routes.len(), 1);
    assert_eq!(fixture.backends.len(), 1);
    assert_eq!(fixture.backends[0].selector, "app=infra-backend-v1");
    assert_eq!(fixture.backends[0].replicas, 2);
}

fn a_fixture_without_a_gateway_is_refused() {
    let error = Fixture::parse(
        &[(
            "a.yaml".into(),
            "kind: Namespace\nmetadata:\n  name: x\n".into(),
        )],
        "k",
    )
    .unwrap_err();
    assert!(
        error.is_bad_input() && error.to_string().contains("no Gateway"),
        "{error}"
    );
}

fn wait_with(rules: &[(&[&str], &str)]) -> Result<(), ClusterError> {
    let setup = Setup::new();
    for (words, file) in rules {
        setup
            .fakes
            .rule(Rule::new("kubectl", words).stdout_file(data(file)))
            .unwrap();
    }
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    let fixture = Fixture::load(&data("fixture"), "kgateway").unwrap();
    fixture::wait_ready(&sh, &kubectl, &fixture, &fast_deadlines())
}

const GATEWAY: &[&str] = &[
    "get",
    "gateways.gateway.networking.k8s.io",
    "same-namespace",
];
const ROUTE: &[&str] = &["get", "httproutes.gateway.networking.k8s.io", "exact-path"];
const PODS: &[&str] = &["get", "pods", "--selector", "app=infra-backend-v1"];

fn everything_ready_passes() {
    wait_with(&[
        (GATEWAY, "gateway-programmed.json"),
        (ROUTE, "httproute-accepted.json"),
        (PODS, "pods-ready.json"),
    ])
    .unwrap();
}

fn a_stuck_gateway_is_named_with_its_last_conditions() {
    let error = wait_with(&[(GATEWAY, "gateway-pending.json")]).unwrap_err();
    let ClusterError::Stuck { object, last, .. } = &error else {
        panic!("expected Stuck, got {error:?}");
    };
    assert_eq!(object, "Gateway gateway-conformance-infra/same-namespace");
    assert!(
        last.contains("Programmed=False (AddressNotAssigned"),
        "{last}"
    );
    assert!(
        error
            .to_string()
            .contains("was not Accepted and Programmed"),
        "{error}"
    );
}

fn a_stuck_route_and_unready_pods_are_named() {
    let error = wait_with(&[
        (GATEWAY, "gateway-programmed.json"),
        (ROUTE, "httproute-backend-missing.json"),
    ])
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("HTTPRoute gateway-conformance-infra/exact-path"),
        "{error}"
    );
    assert!(error.to_string().contains("BackendNotFound"), "{error}");

    let error = wait_with(&[
        (GATEWAY, "gateway-programmed.json"),
        (ROUTE, "httproute-accepted.json"),
        (PODS, "pods-one-unready.json"),
    ])
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("pods of Deployment gateway-conformance-infra/infra-backend-v1"),
        "{text}"
    );
    assert!(
        text.contains("1 of 2 Ready") && text.contains("fghij"),
        "{text}"
    );
}

fn a_gateway_that_becomes_programmed_later_passes() {
    let setup = Setup::new();
    setup
        .fakes
        .rule(
            Rule::new("kubectl", GATEWAY)
                .stdout_file(data("gateway-pending.json"))
                .times(3),
        )
        .unwrap();
    for (words, file) in [
        (GATEWAY, "gateway-programmed.json"),
        (ROUTE, "httproute-accepted.json"),
        (PODS, "pods-ready.json"),
    ] {
        setup
            .fakes
            .rule(Rule::new("kubectl", words).stdout_file(data(file)))
            .unwrap();
    }
    let sh = setup.fakes.shell();
    let kubectl = Kubectl::new("kubectl", setup.run.path().join("kubeconfig"));
    let fixture = Fixture::load(&data("fixture"), "kgateway").unwrap();
    let mut deadlines = fast_deadlines();
    deadlines.gateway = std::time::Duration::from_secs(60);
    fixture::wait_ready(&sh, &kubectl, &fixture, &deadlines).unwrap();
    let gets = setup
        .fakes
        .calls_of("kubectl")
        .iter()
        .filter(|call| call.has(GATEWAY))
        .count();
    assert_eq!(gets, 4, "three pending answers, then programmed");
}

fn a_missing_gateway_is_stuck_with_kubectls_message() {
    let error = wait_with(&[]).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("Gateway gateway-conformance-infra/same-namespace"),
        "{text}"
    );
    assert!(
        text.contains("kubectl get failed: Error from server (NotFound)"),
        "{text}"
    );
}

fn a_relocated_fixture_lives_in_its_own_labelled_namespace() {
    let mut fixture = cluster::fixture::Fixture::load(
        &testkit::workspace_root().join(cluster::fixture::FIXTURE_DIR),
        "kgateway",
    )
    .unwrap();
    let before = fixture.namespace().unwrap();
    fixture
        .relocate(
            "release-gate-run-00ab",
            &[("release-gate.run".to_owned(), "00ab".to_owned())],
        )
        .unwrap();
    fixture.replace_image("release-gate/echo:v0.1.0", "registry.example/echo:v1");
    assert_eq!(
        fixture.namespace().as_deref(),
        Some("release-gate-run-00ab")
    );
    let yaml = fixture.to_yaml();
    assert!(
        !yaml.contains(&before),
        "the old namespace is still named:\n{yaml}"
    );
    assert!(!yaml.contains("release-gate/echo:v0.1.0"), "{yaml}");
    assert!(yaml.contains("image: registry.example/echo:v1"), "{yaml}");
    // Every object carries the run's label, and the waits look in the new namespace.
    let objects = serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|document| {
            <serde_yaml_ng::Value as serde::Deserialize>::deserialize(document).unwrap()
        })
        .filter(|value| !value.is_null())
        .collect::<Vec<_>>();
    assert_eq!(objects.len(), fixture.objects().len());
    for object in &objects {
        assert_eq!(
            object["metadata"]["labels"]["release-gate.run"].as_str(),
            Some("00ab"),
            "{object:?}"
        );
    }
    assert!(
        fixture
            .gateways
            .iter()
            .chain(&fixture.routes)
            .chain(fixture.backends.iter().map(|b| &b.deployment))
            .all(|object| object.namespace == "release-gate-run-00ab")
    );
    assert!(
        fixture
            .objects()
            .iter()
            .any(|o| o == "Namespace release-gate-run-00ab")
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        gateway_readiness_needs_programmed_for_the_current_generation,
        a_recorded_gateway_with_a_programmed_listener_but_no_replicas_is_not_ready,
        route_readiness_is_judged_for_our_parent_only,
        pod_readiness,
        fixture_lists_what_to_wait_for,
        a_fixture_without_a_gateway_is_refused,
        everything_ready_passes,
        a_stuck_gateway_is_named_with_its_last_conditions,
        a_stuck_route_and_unready_pods_are_named,
        a_gateway_that_becomes_programmed_later_passes,
        a_missing_gateway_is_stuck_with_kubectls_message,
        a_relocated_fixture_lives_in_its_own_labelled_namespace,
    ]
}

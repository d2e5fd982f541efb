//! The cluster fixture (`hack/conformance/*.yaml`) says what the fixture contract says: no API
//! server exists here, so the manifests are parsed and their structure checked against the
//! contract in `conformance::fixture` and the pins.

use std::collections::BTreeMap;

use conformance::fixture::{
    ACROSS_HOSTNAME, BACKENDS, NAMESPACE, REDIRECT_HOSTNAME, REPLICAS, V3_HOSTNAME, WEIGHTS,
};
use serde::Deserialize;
use serde_yaml_ng::Value;

fn documents() -> Vec<Value> {
    let dir = testkit::workspace_root().join("hack/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                !value.is_null(),
                "{} holds an empty document",
                file.display()
            );
            documents.push(value);
        }
    }
    documents
}

fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(value, |current, key| match key.parse::<usize>() {
            Ok(index) => &current[index],
            Err(_) => &current[key],
        })
}

fn text<'a>(value: &'a Value, path: &str) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string in {value:?}"))
}

fn of_kind<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["kind"] == kind).collect()
}

fn everything_lives_in_the_fixture_namespace() {
    let documents = documents();
    assert_eq!(of_kind(&documents, "Namespace").len(), 1);
    for document in &documents {
        if document["kind"] == "Namespace" {
            assert_eq!(text(document, "metadata.name"), NAMESPACE);
        } else {
            assert_eq!(
                text(document, "metadata.namespace"),
                NAMESPACE,
                "{document:?}"
            );
        }
    }
}

fn backends_are_two_echo_replicas_with_health_probes_and_downward_api_identity() {
    let documents = documents();
    let pins = pins::load(&testkit::workspace_root().join("hack/versions.toml")).unwrap();
    let deployments = of_kind(&documents, "Deployment");
    let names: Vec<&str> = deployments
        .iter()
        .map(|d| text(d, "metadata.name"))
        .collect();
    assert_eq!(names, BACKENDS);
    for deployment in deployments {
        assert_eq!(
            at(deployment, "spec.replicas").as_u64(),
            Some(REPLICAS as u64)
        );
        let container = at(deployment, "spec.template.spec.containers.0");
        assert_eq!(
            text(container, "image"),
            pins.images.echo,
            "the image is the pinned echo image"
        );
        assert_eq!(text(container, "readinessProbe.httpGet.path"), "/health");
        let env: BTreeMap<&str, &Value> = container["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|var| (text(var, "name"), var))
            .collect();
        assert_eq!(
            text(env["POD_NAME"], "valueFrom.fieldRef.fieldPath"),
            "metadata.name"
        );
        assert_eq!(
            text(env["NAMESPACE"], "valueFrom.fieldRef.fieldPath"),
            "metadata.namespace"
        );
        // Pods are named after the Deployment, which is how responses are attributed.
        let selector = at(deployment, "spec.selector.matchLabels");
        assert_eq!(at(deployment, "spec.template.metadata.labels"), selector);
    }
    let services = of_kind(&documents, "Service");
    let names: Vec<&str> = services.iter().map(|s| text(s, "metadata.name")).collect();
    assert_eq!(names, BACKENDS, "one Service per backend, named like it");
}

/// One rule of a route, flattened: (path type, path, headers as `name=value`, backends with
/// weights, filters as `type` or `type:detail`).
type Rule = (String, String, Vec<String>, Vec<(String, u64)>, Vec<String>);

fn rules(route: &Value) -> Vec<Rule> {
    let mut out = Vec::new();
    for rule in route["spec"]["rules"].as_sequence().unwrap() {
        let backends: Vec<(String, u64)> = rule["backendRefs"]
            .as_sequence()
            .map(|refs| {
                refs.iter()
                    .map(|r| {
                        (
                            text(r, "name").to_owned(),
                            r["weight"].as_u64().unwrap_or(1),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let filters: Vec<String> = rule["filters"]
            .as_sequence()
            .map(|filters| {
                filters
                    .iter()
                    .map(|filter| {
                        let kind = text(filter, "type");
                        match kind {
                            "RequestRedirect" => format!(
                                "{kind}:{}:{}",
                                text(filter, "requestRedirect.hostname"),
                                at(filter, "requestRedirect.statusCode")
                                    .as_u64()
                                    .map_or("none".to_owned(), |code| code.to_string())
                            ),
                            "RequestHeaderModifier" => {
                                let modifier = &filter["requestHeaderModifier"];
                                let pairs = |key: &str| -> Vec<String> {
                                    modifier[key]
                                        .as_sequence()
                                        .map(|list| {
                                            list.iter()
                                                .map(|pair| {
                                                    format!(
                                                        "{}={}",
                                                        text(pair, "name"),
                                                        text(pair, "value")
                                                    )
                                                })
                                                .collect()
                                        })
                                        .unwrap_or_default()
                                };
                                let removed: Vec<&str> = modifier["remove"]
                                    .as_sequence()
                                    .map(|list| list.iter().map(|v| v.as_str().unwrap()).collect())
                                    .unwrap_or_default();
                                format!(
                                    "{kind}:set {}:add {}:remove {}",
                                    pairs("set").join(","),
                                    pairs("add").join(","),
                                    removed.join(",")
                                )
                            }
                            other => panic!("unexpected filter {other}"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        for matched in rule["matches"].as_sequence().unwrap() {
            let headers: Vec<String> = matched["headers"]
                .as_sequence()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|header| {
                            assert_eq!(text(header, "type"), "Exact");
                            format!("{}={}", text(header, "name"), text(header, "value"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((
                text(matched, "path.type").to_owned(),
                text(matched, "path.value").to_owned(),
                headers,
                backends.clone(),
                filters.clone(),
            ));
        }
    }
    out
}

fn rule(kind: &str, path: &str, headers: &[&str], backends: Vec<(String, u64)>) -> Rule {
    (
        kind.to_owned(),
        path.to_owned(),
        headers.iter().map(|h| (*h).to_owned()).collect(),
        backends,
        Vec::new(),
    )
}

fn one(backend: &str) -> Vec<(String, u64)> {
    vec![(backend.to_owned(), 1)]
}

fn sorted(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort();
    rules
}

fn routes_express_the_route_table() {
    let documents = documents();
    let gateways = of_kind(&documents, "Gateway");
    assert_eq!(gateways.len(), 1);
    let gateway = text(gateways[0], "metadata.name");
    assert!(gateways[0]["spec"].get("gatewayClassName").is_some());
    // (name, port, hostname): the main listener, the wildcard one on the same port, and a
    // second port.
    let listeners: Vec<(String, u64, Option<String>)> = at(gateways[0], "spec.listeners")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|listener| {
            assert_eq!(text(listener, "protocol"), "HTTP");
            (
                text(listener, "name").to_owned(),
                at(listener, "port").as_u64().unwrap(),
                listener["hostname"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        listeners,
        [
            ("http".to_owned(), 80, None),
            (
                "wildcard".to_owned(),
                80,
                Some("*.wildcard.example.com".to_owned())
            ),
            ("http-8080".to_owned(), 8080, None),
        ]
    );

    let routes = of_kind(&documents, "HTTPRoute");
    // Every route names its listener, so none attaches where it is not meant to.
    let listener_of = |route: &Value| -> String {
        assert_eq!(text(route, "spec.parentRefs.0.name"), gateway);
        text(route, "spec.parentRefs.0.sectionName").to_owned()
    };
    for route in &routes {
        let listener = listener_of(route);
        let expected = match text(route, "metadata.name") {
            "wildcard" => "wildcard",
            "second-port" => "http-8080",
            _ => "http",
        };
        assert_eq!(listener, expected, "{route:?}");
    }
    let by_name = |name: &str| -> &Value {
        routes
            .iter()
            .find(|route| text(route, "metadata.name") == name)
            .unwrap_or_else(|| panic!("no HTTPRoute {name}"))
    };
    let names: Vec<&str> = routes.iter().map(|r| text(r, "metadata.name")).collect();
    assert_eq!(
        names,
        [
            "paths",
            "hostname-v3",
            "across-a",
            "across-b",
            "wildcard",
            "second-port"
        ]
    );
    assert_eq!(
        rules(by_name("wildcard")),
        [rule("PathPrefix", "/", &[], one(BACKENDS[1]))]
    );
    assert_eq!(
        rules(by_name("second-port")),
        [rule("PathPrefix", "/", &[], one(BACKENDS[2]))]
    );
    assert!(by_name("paths")["spec"].get("hostnames").is_none());
    assert_eq!(
        text(by_name("hostname-v3"), "spec.hostnames.0"),
        V3_HOSTNAME
    );
    assert_eq!(
        rules(by_name("hostname-v3")),
        [rule("PathPrefix", "/", &[], one(BACKENDS[2]))]
    );
    for name in ["across-a", "across-b"] {
        assert_eq!(text(by_name(name), "spec.hostnames.0"), ACROSS_HOSTNAME);
    }
    assert_eq!(
        sorted(rules(by_name("across-a"))),
        sorted(vec![
            rule("PathPrefix", "/", &[], one(BACKENDS[0])),
            rule("PathPrefix", "/shared", &[], one(BACKENDS[0])),
        ])
    );
    assert_eq!(
        sorted(rules(by_name("across-b"))),
        sorted(vec![
            rule("PathPrefix", "/b", &[], one(BACKENDS[1])),
            rule("PathPrefix", "/shared", &["x-variant=b"], one(BACKENDS[1])),
            rule("Exact", "/shared/exact", &[], one(BACKENDS[2])),
        ])
    );

    let weighted: Vec<(String, u64)> = BACKENDS
        .iter()
        .zip(WEIGHTS)
        .map(|(backend, share)| (backend.to_string(), (share * 100.0).round() as u64))
        .collect();
    let mut modify = rule("PathPrefix", "/modify", &[], one(BACKENDS[0]));
    modify.4 =
        vec!["RequestHeaderModifier:set x-set=set-value:add x-add=added:remove x-remove".into()];
    let mut redirect = rule("PathPrefix", "/redirect", &[], Vec::new());
    redirect.4 = vec![format!("RequestRedirect:{REDIRECT_HOSTNAME}:301")];
    let mut hostname_redirect = rule("PathPrefix", "/hostname-redirect", &[], Vec::new());
    hostname_redirect.4 = vec![format!("RequestRedirect:{REDIRECT_HOSTNAME}:none")];
    let expected = vec![
        rule("Exact", "/", &[], one(BACKENDS[0])),
        rule("PathPrefix", "/v1", &[], one(BACKENDS[0])),
        rule("PathPrefix", "/v2", &[], one(BACKENDS[1])),
        rule("Exact", "/exact", &[], one(BACKENDS[2])),
        rule(
            "PathPrefix",
            "/headers",
            &["version=two", "color=blue"],
            one(BACKENDS[2]),
        ),
        rule("PathPrefix", "/headers", &["version=two"], one(BACKENDS[1])),
        rule("PathPrefix", "/headers", &[], one(BACKENDS[0])),
        rule("PathPrefix", "/weighted", &[], weighted),
        rule("Exact", "/order/exact", &[], one(BACKENDS[2])),
        rule("PathPrefix", "/order/exact", &[], one(BACKENDS[1])),
        rule("PathPrefix", "/order", &[], one(BACKENDS[0])),
        modify,
        redirect,
        hostname_redirect,
    ];
    assert_eq!(sorted(rules(by_name("paths"))), sorted(expected));
}

/// The route whose backendRef names a missing Service lives apart (its ResolvedRefs is never
/// True, so the fixture's wait must not include it): one rule to the missing Service, one to v2.
fn the_invalid_backend_route_is_apart_and_names_a_missing_service() {
    let dir = testkit::workspace_root().join("hack/conformance/unresolved");
    let text_of = std::fs::read_to_string(dir.join("40-invalid-backend.yaml")).unwrap();
    let route: Value = serde_yaml_ng::from_str(&text_of).unwrap();
    assert_eq!(route["kind"], "HTTPRoute");
    assert_eq!(text(&route, "metadata.namespace"), NAMESPACE);
    assert_eq!(
        text(&route, "spec.parentRefs.0.name"),
        "conformance-gateway"
    );
    let services: Vec<String> = of_kind(&documents(), "Service")
        .iter()
        .map(|service| text(service, "metadata.name").to_owned())
        .collect();
    let table = rules(&route);
    assert_eq!(table.len(), 2);
    assert_eq!(table[0].1, "/invalid-backend");
    assert!(
        !services.contains(&table[0].3[0].0),
        "the missing Service must not exist"
    );
    assert_eq!(
        table[1],
        rule("PathPrefix", "/valid-sibling", &[], one(BACKENDS[1]))
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        everything_lives_in_the_fixture_namespace,
        backends_are_two_echo_replicas_with_health_probes_and_downward_api_identity,
        routes_express_the_route_table,
        the_invalid_backend_route_is_apart_and_names_a_missing_service,
    ]
}

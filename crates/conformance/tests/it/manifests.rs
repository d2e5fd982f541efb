//! The cluster fixture (`hack/conformance/*.yaml`) says what the fixture contract says: no API
//! server exists here, so the manifests are parsed and their structure checked against the
//! contract in `conformance::fixture` and the pins.

use std::collections::BTreeMap;

use conformance::fixture::{BACKENDS, NAMESPACE, REPLICAS, V3_HOSTNAME, WEIGHTS};
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

#[test]
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

#[test]
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

/// One rule of a route, flattened: (path type, path, header `version`, backends with weights).
type Rule = (String, String, Option<String>, Vec<(String, u64)>);

fn rules(route: &Value) -> Vec<Rule> {
    let mut out = Vec::new();
    for rule in route["spec"]["rules"].as_sequence().unwrap() {
        let backends: Vec<(String, u64)> = rule["backendRefs"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    text(r, "name").to_owned(),
                    r["weight"].as_u64().unwrap_or(1),
                )
            })
            .collect();
        for matched in rule["matches"].as_sequence().unwrap() {
            let header = matched["headers"].as_sequence().map(|headers| {
                assert_eq!(headers.len(), 1);
                assert_eq!(text(&headers[0], "name"), "version");
                text(&headers[0], "value").to_owned()
            });
            out.push((
                text(matched, "path.type").to_owned(),
                text(matched, "path.value").to_owned(),
                header,
                backends.clone(),
            ));
        }
    }
    out
}

#[test]
fn routes_express_the_route_table() {
    let documents = documents();
    let gateways = of_kind(&documents, "Gateway");
    assert_eq!(gateways.len(), 1);
    let gateway = text(gateways[0], "metadata.name");
    assert!(gateways[0]["spec"].get("gatewayClassName").is_some());
    assert_eq!(
        at(gateways[0], "spec.listeners")
            .as_sequence()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(text(gateways[0], "spec.listeners.0.protocol"), "HTTP");

    let routes = of_kind(&documents, "HTTPRoute");
    for route in &routes {
        assert_eq!(text(route, "spec.parentRefs.0.name"), gateway);
    }
    let (hostname, paths): (Vec<&Value>, Vec<&Value>) = routes
        .into_iter()
        .partition(|route| route["spec"].get("hostnames").is_some());
    assert_eq!(
        hostname.len(),
        1,
        "the hostname route is a separate HTTPRoute"
    );
    assert_eq!(text(hostname[0], "spec.hostnames.0"), V3_HOSTNAME);
    let one = |backend: &str| vec![(backend.to_owned(), 1)];
    let rule = |kind: &str, path: &str, header: Option<&str>, backends: Vec<(String, u64)>| {
        (
            kind.to_owned(),
            path.to_owned(),
            header.map(str::to_owned),
            backends,
        )
    };
    assert_eq!(
        rules(hostname[0]),
        [rule("PathPrefix", "/", None, one(BACKENDS[2]))]
    );

    assert_eq!(paths.len(), 1);
    let weighted: Vec<(String, u64)> = BACKENDS
        .iter()
        .zip(WEIGHTS)
        .map(|(backend, share)| (backend.to_string(), (share * 100.0).round() as u64))
        .collect();
    let mut expected = vec![
        rule("Exact", "/", None, one(BACKENDS[0])),
        rule("PathPrefix", "/v1", None, one(BACKENDS[0])),
        rule("PathPrefix", "/v2", None, one(BACKENDS[1])),
        rule("Exact", "/exact", None, one(BACKENDS[2])),
        rule("PathPrefix", "/headers", Some("two"), one(BACKENDS[1])),
        rule("PathPrefix", "/headers", None, one(BACKENDS[0])),
        rule("PathPrefix", "/weighted", None, weighted),
    ];
    let mut actual = rules(paths[0]);
    expected.sort();
    actual.sort();
    assert_eq!(actual, expected);
}

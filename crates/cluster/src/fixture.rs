//! The conformance fixture (`hack/conformance/*.yaml`): read, GatewayClass substituted, applied,
//! and waited on until the Gateway, its listeners, its HTTPRoutes and the backend pods are ready.

use std::path::Path;
use std::time::{Duration, Instant};

use exec::Shell;
use serde_yaml_ng::Value;

use crate::ClusterError;
use crate::kubectl::{Get, Kubectl};
use crate::status::{self, Gateway, HttpRoute, List, Pod};

/// Where the fixture lives, relative to the workspace root.
pub const FIXTURE_DIR: &str = "hack/conformance";

/// A namespaced object of the fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A Deployment of the fixture and how to find its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub deployment: ObjectRef,
    pub replicas: u32,
    /// `k=v,k2=v2` from `spec.selector.matchLabels`.
    pub selector: String,
}

/// The fixture's documents with the GatewayClass substituted, and what to wait for.
#[derive(Debug, Clone)]
pub struct Fixture {
    documents: Vec<Value>,
    pub gateways: Vec<ObjectRef>,
    pub routes: Vec<ObjectRef>,
    /// Routes from `unresolved/`: a backend missing on purpose, so only Accepted is waited for.
    pub accepted_only: Vec<ObjectRef>,
    pub backends: Vec<Backend>,
}

/// Where the routes live whose ResolvedRefs is never True on purpose, inside the fixture dir.
pub const UNRESOLVED_DIR: &str = "unresolved";

/// How long each wait may take, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub gateway: Duration,
    pub routes: Duration,
    pub pods: Duration,
    pub poll: Duration,
}

impl Default for Deadlines {
    fn default() -> Deadlines {
        Deadlines {
            gateway: Duration::from_secs(180),
            routes: Duration::from_secs(120),
            pods: Duration::from_secs(180),
            poll: Duration::from_secs(1),
        }
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut current = value;
    for key in path {
        current = current.get(*key)?;
    }
    current.as_str()
}

impl Fixture {
    /// Reads every `*.yaml` in `dir` (sorted by name) and sets each Gateway's
    /// `spec.gatewayClassName` to `gateway_class`; then the routes in `dir/unresolved/`, which
    /// are applied with the rest but waited on for Accepted only.
    pub fn load(dir: &Path, gateway_class: &str) -> Result<Fixture, ClusterError> {
        let mut fixture = Fixture::parse(&read_yaml_files(dir)?, gateway_class)?;
        let unresolved = dir.join(UNRESOLVED_DIR);
        if unresolved.is_dir() {
            for (file, text) in read_yaml_files(&unresolved)? {
                for document in serde_yaml_ng::Deserializer::from_str(&text) {
                    let mut value =
                        <Value as serde::Deserialize>::deserialize(document).map_err(|error| {
                            ClusterError::BadInput(format!(
                                "{file}: not valid YAML ({error}); fix the fixture file"
                            ))
                        })?;
                    if value.is_null() {
                        continue;
                    }
                    let before = fixture.routes.len();
                    fixture.add(&file, &mut value, gateway_class)?;
                    // Routes here never resolve: waited on for Accepted only.
                    fixture.accepted_only.extend(fixture.routes.drain(before..));
                    fixture.documents.push(value);
                }
            }
        }
        Ok(fixture)
    }

    /// The ports of the first Gateway's listeners, in order, each once.
    pub fn listener_ports(&self) -> Vec<u16> {
        let mut ports = Vec::new();
        for document in &self.documents {
            if str_at(document, &["kind"]) != Some("Gateway") {
                continue;
            }
            let listeners = document
                .get("spec")
                .and_then(|spec| spec.get("listeners"))
                .and_then(Value::as_sequence);
            for listener in listeners.into_iter().flatten() {
                if let Some(port) = listener.get("port").and_then(Value::as_u64)
                    && let Ok(port) = u16::try_from(port)
                    && !ports.contains(&port)
                {
                    ports.push(port);
                }
            }
            break;
        }
        ports
    }

    /// Parses `(file name, text)` pairs; the file name is only used in messages.
    pub fn parse(files: &[(String, String)], gateway_class: &str) -> Result<Fixture, ClusterError> {
        Fixture::parse_documents(files, gateway_class)
    }
}

/// `(path, text)` of every `*.yaml`/`*.yml` file directly in `dir`, sorted by name.
fn read_yaml_files(dir: &Path) -> Result<Vec<(String, String)>, ClusterError> {
    let step = format!("read the conformance fixture in {}", dir.display());
    let entries = std::fs::read_dir(dir).map_err(ClusterError::io(step))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(ClusterError::io(format!("read {}", path.display())))?;
        files.push((path.display().to_string(), text));
    }
    Ok(files)
}

impl Fixture {
    fn parse_documents(
        files: &[(String, String)],
        gateway_class: &str,
    ) -> Result<Fixture, ClusterError> {
        let mut fixture = Fixture {
            documents: Vec::new(),
            gateways: Vec::new(),
            routes: Vec::new(),
            accepted_only: Vec::new(),
            backends: Vec::new(),
        };
        for (file, text) in files {
            for document in serde_yaml_ng::Deserializer::from_str(text) {
                let mut value =
                    <Value as serde::Deserialize>::deserialize(document).map_err(|error| {
                        ClusterError::BadInput(format!(
                            "{file}: not valid YAML ({error}); fix the fixture file"
                        ))
                    })?;
                if value.is_null() {
                    continue;
                }
                fixture.add(file, &mut value, gateway_class)?;
                fixture.documents.push(value);
            }
        }
        if fixture.gateways.is_empty() {
            return Err(ClusterError::BadInput(format!(
                "the conformance fixture has no Gateway (files: {}); it must define one",
                files
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(fixture)
    }

    fn add(
        &mut self,
        file: &str,
        value: &mut Value,
        gateway_class: &str,
    ) -> Result<(), ClusterError> {
        let kind = str_at(value, &["kind"]).unwrap_or_default().to_owned();
        let name = str_at(value, &["metadata", "name"])
            .ok_or_else(|| {
                ClusterError::BadInput(format!("{file}: a {kind} document has no metadata.name"))
            })?
            .to_owned();
        let namespace = str_at(value, &["metadata", "namespace"])
            .unwrap_or("default")
            .to_owned();
        let object = ObjectRef {
            kind: kind.clone(),
            namespace,
            name,
        };
        match kind.as_str() {
            "Gateway" => {
                let spec = value
                    .get_mut("spec")
                    .and_then(Value::as_mapping_mut)
                    .ok_or_else(|| {
                        ClusterError::BadInput(format!("{file}: {object} has no spec"))
                    })?;
                spec.insert(
                    Value::from("gatewayClassName"),
                    Value::from(gateway_class.to_owned()),
                );
                self.gateways.push(object);
            }
            "HTTPRoute" => self.routes.push(object),
            "Deployment" => {
                let replicas = value
                    .get("spec")
                    .and_then(|spec| spec.get("replicas"))
                    .and_then(Value::as_u64)
                    .unwrap_or(1) as u32;
                let labels = value
                    .get("spec")
                    .and_then(|spec| spec.get("selector"))
                    .and_then(|selector| selector.get("matchLabels"))
                    .and_then(Value::as_mapping)
                    .ok_or_else(|| {
                        ClusterError::BadInput(format!(
                            "{file}: {object} has no spec.selector.matchLabels"
                        ))
                    })?;
                let mut pairs: Vec<String> = labels
                    .iter()
                    .filter_map(|(key, value)| {
                        Some(format!("{}={}", key.as_str()?, value.as_str()?))
                    })
                    .collect();
                pairs.sort();
                self.backends.push(Backend {
                    deployment: object,
                    replicas,
                    selector: pairs.join(","),
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// The substituted fixture as one multi-document YAML stream.
    pub fn to_yaml(&self) -> String {
        let mut text = String::new();
        for document in &self.documents {
            text.push_str("---\n");
            text.push_str(&serde_yaml_ng::to_string(document).unwrap_or_default());
        }
        text
    }

    /// The Gateway the suite targets (the first one).
    pub fn gateway(&self) -> &ObjectRef {
        &self.gateways[0]
    }

    /// The fixture's namespace: the name of its one `Namespace` object.
    pub fn namespace(&self) -> Option<String> {
        self.documents
            .iter()
            .find(|document| str_at(document, &["kind"]) == Some("Namespace"))
            .and_then(|document| str_at(document, &["metadata", "name"]))
            .map(str::to_owned)
    }

    /// Moves the fixture into namespace `to` (its Namespace object renamed, every object and
    /// every parentRef/backendRef that named the old namespace) and puts `labels` on every
    /// object, so a run on a cluster it does not own creates only objects it can find again by
    /// its label, in a namespace of its own.
    pub fn relocate(&mut self, to: &str, labels: &[(String, String)]) -> Result<(), ClusterError> {
        let from = self.namespace().ok_or_else(|| {
            ClusterError::BadInput(
                "the conformance fixture has no Namespace object to move; it must define one"
                    .to_owned(),
            )
        })?;
        for document in &mut self.documents {
            let is_namespace = str_at(document, &["kind"]) == Some("Namespace");
            let Some(metadata) = document.get_mut("metadata").and_then(Value::as_mapping_mut)
            else {
                continue;
            };
            let key = if is_namespace { "name" } else { "namespace" };
            if metadata.get(key).and_then(Value::as_str) == Some(from.as_str()) {
                metadata.insert(Value::from(key), Value::from(to.to_owned()));
            }
            let labels_key = Value::from("labels");
            if !metadata.get(&labels_key).is_some_and(Value::is_mapping) {
                metadata.insert(labels_key.clone(), Value::Mapping(Default::default()));
            }
            if let Some(mapping) = metadata
                .get_mut(&labels_key)
                .and_then(Value::as_mapping_mut)
            {
                for (key, value) in labels {
                    mapping.insert(Value::from(key.clone()), Value::from(value.clone()));
                }
            }
            rename_refs(document, &from, to);
        }
        for object in self.gateways.iter_mut().chain(&mut self.routes).chain(
            self.backends
                .iter_mut()
                .map(|backend| &mut backend.deployment),
        ) {
            if object.namespace == from {
                object.namespace = to.to_owned();
            }
        }
        Ok(())
    }

    /// Replaces container image `from` with `to` in every Deployment (an existing cluster pulls
    /// from a registry; kind loads the local build).
    pub fn replace_image(&mut self, from: &str, to: &str) {
        for document in &mut self.documents {
            let containers = document
                .get_mut("spec")
                .and_then(|spec| spec.get_mut("template"))
                .and_then(|template| template.get_mut("spec"))
                .and_then(|spec| spec.get_mut("containers"))
                .and_then(Value::as_sequence_mut);
            for container in containers.into_iter().flatten() {
                if let Some(mapping) = container.as_mapping_mut()
                    && mapping.get("image").and_then(Value::as_str) == Some(from)
                {
                    mapping.insert(Value::from("image"), Value::from(to.to_owned()));
                }
            }
        }
    }

    /// Every object as `Kind namespace/name`, for a plan that says what it will create.
    pub fn objects(&self) -> Vec<String> {
        self.documents
            .iter()
            .map(|document| {
                let kind = str_at(document, &["kind"]).unwrap_or("?");
                let name = str_at(document, &["metadata", "name"]).unwrap_or("?");
                match str_at(document, &["metadata", "namespace"]) {
                    Some(namespace) => format!("{kind} {namespace}/{name}"),
                    None => format!("{kind} {name}"),
                }
            })
            .collect()
    }
}

/// `parentRefs` and `backendRefs` (anywhere in the spec) that name namespace `from` now name `to`.
fn rename_refs(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Mapping(mapping) => {
            for (key, child) in mapping.iter_mut() {
                if matches!(key.as_str(), Some("parentRefs" | "backendRefs"))
                    && let Some(refs) = child.as_sequence_mut()
                {
                    for reference in refs.iter_mut().filter_map(Value::as_mapping_mut) {
                        if reference.get("namespace").and_then(Value::as_str) == Some(from) {
                            reference.insert(Value::from("namespace"), Value::from(to.to_owned()));
                        }
                    }
                } else {
                    rename_refs(child, from, to);
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                rename_refs(item, from, to);
            }
        }
        _ => {}
    }
}

/// Polls `check` until it says ready or `deadline` passes; Stuck names the object and the last
/// thing `check` reported.
fn poll_until(
    sh: &Shell,
    object: &str,
    wanted: &str,
    deadline: Duration,
    poll: Duration,
    mut check: impl FnMut() -> Result<Result<(), String>, ClusterError>,
) -> Result<(), ClusterError> {
    let started = Instant::now();
    loop {
        let last = match check()? {
            Ok(()) => return Ok(()),
            Err(last) => last,
        };
        if sh.is_dry_run() {
            return Ok(());
        }
        if started.elapsed() >= deadline {
            return Err(ClusterError::Stuck {
                object: object.to_owned(),
                wanted: wanted.to_owned(),
                waited: deadline,
                last,
            });
        }
        if let Some(reason) = sh.cancel().reason().or_else(|| {
            sh.cancel().sleep(poll);
            sh.cancel().reason()
        }) {
            return Err(ClusterError::Cancelled {
                step: format!("wait for {object} to be {wanted}"),
                reason,
            });
        }
    }
}

fn get_stdout(
    sh: &Shell,
    kubectl: &Kubectl,
    query: &Get<'_>,
    step: &str,
) -> Result<Result<String, String>, ClusterError> {
    let output = sh
        .run_unchecked(&kubectl.get_json(query))
        .map_err(ClusterError::infra(step.to_owned()))?;
    if sh.is_dry_run() {
        return Ok(Ok(String::new()));
    }
    if output.status.success() {
        Ok(Ok(output.stdout_str()))
    } else {
        // Not found yet (the controller has not created it) is a state to wait through; the
        // stuck message quotes what kubectl said, so an unreachable API server is visible.
        let stderr = output.stderr_str();
        let last_line = stderr.lines().rev().find(|line| !line.trim().is_empty());
        Ok(Err(format!(
            "kubectl get failed: {}",
            last_line.unwrap_or("no message").trim()
        )))
    }
}

/// Waits for every Gateway (Accepted, Programmed, current generation, listeners Programmed),
/// every HTTPRoute (Accepted and ResolvedRefs for our Gateway; Accepted only for the routes of
/// `unresolved/`) and every backend pod (Ready).
pub fn wait_ready(
    sh: &Shell,
    kubectl: &Kubectl,
    fixture: &Fixture,
    deadlines: &Deadlines,
) -> Result<(), ClusterError> {
    for gateway in &fixture.gateways {
        let query = Get {
            resource: "gateways.gateway.networking.k8s.io",
            name: Some(&gateway.name),
            namespace: Some(&gateway.namespace),
            selector: None,
        };
        let wait = Wait {
            object: gateway.to_string(),
            wanted: "Accepted and Programmed".to_owned(),
            what: "a Gateway",
            deadline: deadlines.gateway,
        };
        wait_until(sh, kubectl, deadlines, &query, &wait, |parsed: Gateway| {
            parsed.readiness()
        })?;
    }
    let parent = fixture.gateway();
    // The routes, then those whose missing backend is on purpose (Accepted only).
    let routes = fixture
        .routes
        .iter()
        .map(|route| (route, false))
        .chain(fixture.accepted_only.iter().map(|route| (route, true)));
    for (route, accepted_only) in routes {
        let query = Get {
            resource: "httproutes.gateway.networking.k8s.io",
            name: Some(&route.name),
            namespace: Some(&route.namespace),
            selector: None,
        };
        let wait = Wait {
            object: route.to_string(),
            wanted: if accepted_only {
                "Accepted (its missing backend is on purpose)"
            } else {
                "Accepted with ResolvedRefs"
            }
            .to_owned(),
            what: "an HTTPRoute",
            deadline: deadlines.routes,
        };
        wait_until(
            sh,
            kubectl,
            deadlines,
            &query,
            &wait,
            |parsed: HttpRoute| {
                if accepted_only {
                    parsed.accepted(&parent.namespace, &parent.name)
                } else {
                    parsed.readiness(&parent.namespace, &parent.name)
                }
            },
        )?;
    }
    for backend in &fixture.backends {
        let query = Get {
            resource: "pods",
            name: None,
            namespace: Some(&backend.deployment.namespace),
            selector: Some(&backend.selector),
        };
        let wait = Wait {
            object: format!("pods of {}", backend.deployment),
            wanted: format!("{} Ready", backend.replicas),
            what: "pods",
            deadline: deadlines.pods,
        };
        wait_until(sh, kubectl, deadlines, &query, &wait, |pods: List<Pod>| {
            let ready = pods.items.iter().filter(|pod| pod.is_ready()).count();
            if ready >= backend.replicas as usize {
                return Ok(());
            }
            let states: Vec<String> = pods
                .items
                .iter()
                .map(|pod| format!("{}: {}", pod.metadata.name, pod.describe()))
                .collect();
            Err(format!(
                "{ready} of {} Ready; {}",
                backend.replicas,
                if states.is_empty() {
                    "no pods yet".to_owned()
                } else {
                    states.join("; ")
                }
            ))
        })?;
    }
    Ok(())
}

/// One object to wait for: its name in messages, the state wanted, and for how long.
struct Wait {
    object: String,
    wanted: String,
    /// What kubectl's JSON holds, for parse errors ("a Gateway").
    what: &'static str,
    deadline: Duration,
}

/// Polls `query` until `judge` accepts what kubectl reports (Err carries the last state, which
/// the timeout message quotes). In dry-run mode one read is planned and accepted.
fn wait_until<T: serde::de::DeserializeOwned>(
    sh: &Shell,
    kubectl: &Kubectl,
    deadlines: &Deadlines,
    query: &Get<'_>,
    wait: &Wait,
    judge: impl Fn(T) -> Result<(), String>,
) -> Result<(), ClusterError> {
    let step = format!("read {}", wait.object);
    poll_until(
        sh,
        &wait.object,
        &wait.wanted,
        wait.deadline,
        deadlines.poll,
        || {
            let stdout = match get_stdout(sh, kubectl, query, &step)? {
                Ok(stdout) => stdout,
                Err(failed) => return Ok(Err(failed)),
            };
            if sh.is_dry_run() {
                return Ok(Ok(()));
            }
            let parsed: T =
                status::parse(wait.what, &stdout).map_err(|message| ClusterError::Unexpected {
                    step: step.clone(),
                    message,
                })?;
            Ok(judge(parsed))
        },
    )
}

/// The names of a backend's Ready pods, for flipping one replica's health.
pub fn ready_pods(
    sh: &Shell,
    kubectl: &Kubectl,
    backend: &Backend,
) -> Result<Vec<String>, ClusterError> {
    let step = format!("list pods of {}", backend.deployment);
    let output = sh
        .run(&kubectl.get_json(&Get {
            resource: "pods",
            name: None,
            namespace: Some(&backend.deployment.namespace),
            selector: Some(&backend.selector),
        }))
        .map_err(ClusterError::infra(step.clone()))?;
    if sh.is_dry_run() {
        return Ok(Vec::new());
    }
    let pods: List<Pod> = status::parse("pods", &output.stdout_str())
        .map_err(|message| ClusterError::Unexpected { step, message })?;
    let mut names: Vec<String> = pods
        .items
        .into_iter()
        .filter(Pod::is_ready)
        .map(|pod| pod.metadata.name)
        .collect();
    names.sort();
    Ok(names)
}

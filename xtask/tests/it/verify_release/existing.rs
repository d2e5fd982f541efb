//! `--cluster existing`: a cluster the user brings, with the release installed. The run checks
//! the installed release, deploys only the fixture in a namespace of its own labelled with the
//! run id, and deletes only what carries that label; a wrong current context refuses to start.

use std::path::{Path, PathBuf};

use fake_tools::{Rule, k8s};

use super::*;

pub(super) const RUN_ID: &str = "e2e01";
const NAMESPACE: &str = "release-gate-run-e2e01";
pub(super) const CONTEXT: &str = "staging-east";

/// A kubeconfig whose current context is `current`.
pub(super) fn kubeconfig(dir: &Path, current: &str) -> PathBuf {
    let path = dir.join("kubeconfig-existing");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters: []\ncontexts: []\nusers: []\n"
        ),
    )
    .unwrap();
    path
}

/// The installed release as a working cluster shows it, and the run's namespace as the run
/// labelled it (or, with `labelled` false, a namespace of the same name someone else made).
fn script_installed_release(gate: &Gate, labelled: bool) {
    gate.fakes
        .rule(
            Rule::new("kubectl", &["get", "deployments", "example-gateway"]).stdout(
                k8s::deployment_available("example-gateway", "example-system"),
            ),
        )
        .unwrap();
    gate.fakes
        .rule(
            Rule::new(
                "kubectl",
                &[
                    "get",
                    "gatewayclasses.gateway.networking.k8s.io",
                    "envoy-test",
                ],
            )
            .stdout(k8s::gateway_class_accepted(
                "envoy-test",
                "example.com/gateway",
            )),
        )
        .unwrap();
    // The fixture's routes report their parent in the run's namespace.
    let fixture = cluster::fixture::Fixture::load(
        &testkit::workspace_root().join(cluster::fixture::FIXTURE_DIR),
        "envoy-test",
    )
    .unwrap();
    let gateway = fixture.gateway().name.clone();
    let routes = fixture
        .routes
        .iter()
        .chain(&fixture.accepted_only)
        .map(|route| {
            Rule::new(
                "kubectl",
                &["get", "httproutes.gateway.networking.k8s.io", &route.name],
            )
            .stdout(k8s::route_accepted(
                &route.name,
                NAMESPACE,
                "example.com/gateway",
                (&gateway, NAMESPACE),
            ))
        })
        .collect();
    prepend_rules(&gate.fakes, routes);
    let labels: &[(&str, &str)] = if labelled {
        &[("release-gate.run", RUN_ID)]
    } else {
        &[]
    };
    gate.fakes
        .rule(
            Rule::new("kubectl", &["get", "namespaces", NAMESPACE])
                .stdout(k8s::namespace(NAMESPACE, labels)),
        )
        .unwrap();
}

fn existing_cmd(gate: &Gate, kubeconfig: &Path, context: &str, extra: &[&str]) -> exec::Cmd {
    gate.cmd(extra)
        .args([
            "--cluster",
            "existing",
            "--context",
            context,
            "--kubeconfig",
        ])
        .arg(kubeconfig)
        .env("XTASK_RUN_ID", RUN_ID)
}

/// Every kubectl call of the run names the user's kubeconfig and the context; no kind, helm or
/// docker call happens.
fn assert_only_kubectl_on_the_named_context(gate: &Gate, kubeconfig: &Path) {
    let calls = gate.fakes.calls();
    for call in &calls {
        if call.args.first().map(String::as_str) == Some("version") {
            continue;
        }
        assert_eq!(call.tool, "kubectl", "{}", call.line());
        assert_eq!(
            call.flag("--kubeconfig"),
            kubeconfig.to_str(),
            "{}",
            call.line()
        );
        assert_eq!(call.flag("--context"), Some(CONTEXT), "{}", call.line());
    }
}

/// A correct gateway on the user's cluster, the run's namespace labelled as the run made it (or,
/// with `labelled` false, as someone else's): the run passes.
fn passing_run(name: &str, labelled: bool) -> (Gate, PathBuf, exec::Output) {
    let (gate, config, output) = run_existing(name, None, labelled);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    (gate, config, output)
}

/// A run on the user's cluster in front of Envoy (or its broken `variant`).
fn run_existing(
    name: &str,
    variant: Option<&str>,
    labelled: bool,
) -> (Gate, PathBuf, exec::Output) {
    let gate = Gate::new(name, variant);
    script_installed_release(&gate, labelled);
    let config = kubeconfig(gate.work.path(), CONTEXT);
    let output = gate
        .fakes
        .shell()
        .run_unchecked(&existing_cmd(&gate, &config, CONTEXT, &[]))
        .unwrap();
    (gate, config, output)
}

fn a_failure_on_the_users_cluster_is_diagnosed_then_its_namespace_removed() {
    if !components() {
        return;
    }
    let (gate, config, output) = run_existing("existing-broken", Some("weights-50-50"), true);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let diagnostics = gate.artifacts_dir().join("diagnostics");
    for file in ["events.txt", "gateways.txt", "index.txt"] {
        assert!(
            diagnostics.join(file).is_file(),
            "{file} missing\n{}",
            text(&output)
        );
    }
    // The controller's pods by the configured label, the proxy's by the gateway-name label.
    let index = std::fs::read_to_string(diagnostics.join("index.txt")).unwrap();
    assert!(index.contains("--context staging-east"), "{index}");
    assert!(
        gate.fakes.calls_of("kubectl").iter().any(|call| call.has(&[
            "delete",
            "namespace",
            NAMESPACE
        ])),
        "{}",
        text(&output)
    );
    assert_only_kubectl_on_the_named_context(&gate, &config);
}

fn a_correct_gateway_passes_and_only_the_runs_labelled_objects_are_deleted() {
    if !components() {
        return;
    }
    let (gate, config, _) = passing_run("existing", true);
    assert_only_kubectl_on_the_named_context(&gate, &config);
    // The applied fixture lives in the run's namespace, every object labelled with the run id,
    // its backends on the image the config names.
    let applied = std::fs::read_to_string(gate.artifacts_dir().join("fixture.yaml")).unwrap();
    assert!(!applied.contains("gateway-conformance-infra"), "{applied}");
    assert_eq!(
        applied.matches("release-gate.run: e2e01").count(),
        applied.matches("\nkind: ").count() + usize::from(applied.starts_with("kind: ")),
        "{applied}"
    );
    assert!(
        applied.contains("image: registry.example/echo:v1"),
        "{applied}"
    );
    // Cleanup: the labelled objects in that namespace, then the namespace, and nothing else.
    let deletes: Vec<fake_tools::Call> = gate
        .fakes
        .calls_of("kubectl")
        .into_iter()
        .filter(|call| call.has(&["delete"]))
        .collect();
    assert_eq!(
        deletes.len(),
        2,
        "{:?}",
        deletes.iter().map(|c| c.line()).collect::<Vec<_>>()
    );
    assert_eq!(deletes[0].flag("--namespace"), Some(NAMESPACE));
    assert_eq!(
        deletes[0].flag("--selector"),
        Some("release-gate.run=e2e01")
    );
    assert!(
        deletes[1].has(&["delete", "namespace", NAMESPACE]),
        "{}",
        deletes[1].line()
    );
    assert!(config.is_file(), "the user's kubeconfig was removed");
    // Nothing a stale sweep could ever act on: no owner record, no kind cluster.
    assert!(gate.owner_records().is_empty());
    assert!(gate.fakes.clusters().is_empty());
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(gate.artifacts_dir().join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run["cluster"]["mode"], "existing");
    assert_eq!(run["cluster"]["namespace"], NAMESPACE);
    assert_eq!(run["release"]["tag"], TAG);
}

fn a_namespace_without_the_runs_label_is_never_deleted() {
    if !components() {
        return;
    }
    let (gate, _, output) = passing_run("existing-foreign", false);
    assert!(
        output.stderr_str().contains(&format!(
            "namespace {NAMESPACE} does not carry release-gate.run={RUN_ID}"
        )),
        "{}",
        text(&output)
    );
    assert!(
        !gate
            .fakes
            .calls_of("kubectl")
            .iter()
            .any(|call| call.has(&["delete", "namespace"])),
        "a namespace without the run's label was deleted"
    );
}

fn a_wrong_current_context_refuses_to_start() {
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = fake_tools::FakeTools::new().unwrap();
    let config = kubeconfig(gate_dir.path(), "production");
    let cmd = crate::context::isolated("run verify-release on the wrong context")
        .args([
            "verify-release",
            "--cluster",
            "existing",
            "--context",
            CONTEXT,
            "--kubeconfig",
        ])
        .arg(&config)
        .arg("--artifacts-dir")
        .arg(gate_dir.path().join("run"))
        .env("KUBECTL", fakes.program("kubectl"))
        .env("XTASK_VERIFY_DIR", gate_dir.path().join("verify"));
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        output.stderr_str().contains("the current context of")
            && output
                .stderr_str()
                .contains("is \"production\", not the \"staging-east\" you named"),
        "{}",
        text(&output)
    );
    assert!(fakes.calls().is_empty(), "a tool ran: {:?}", fakes.calls());
    assert!(!gate_dir.path().join("run").exists());
    // And without --context at all.
    let cmd = crate::context::isolated("run verify-release without a context")
        .args(["verify-release", "--cluster", "existing", "--kubeconfig"])
        .arg(&config);
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        output.stderr_str().contains("needs --context NAME"),
        "{}",
        text(&output)
    );
}

fn the_dry_run_shows_what_it_creates_and_deletes_on_an_existing_cluster() {
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = fake_tools::FakeTools::new().unwrap();
    let config = kubeconfig(gate_dir.path(), CONTEXT);
    let target = gate_dir.path().join("target.toml");
    std::fs::write(&target, target_config("none", &[])).unwrap();
    let cmd = crate::context::isolated("plan verify-release on an existing cluster")
        .args([
            "verify-release",
            "--dry-run",
            "--cluster",
            "existing",
            "--context",
            CONTEXT,
        ])
        .arg("--kubeconfig")
        .arg(&config)
        .arg("--config")
        .arg(&target)
        .env("KUBECTL", fakes.program("kubectl"))
        .env("XTASK_RUN_ID", RUN_ID)
        .env("XTASK_VERIFY_DIR", gate_dir.path().join("verify"));
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan = output.stdout_str();
    for expected in [
        &format!(
            "will create namespace {NAMESPACE} and, in it, only objects labelled release-gate.run={RUN_ID}"
        ),
        &format!("Namespace {NAMESPACE}"),
        &format!("Gateway {NAMESPACE}/"),
        &format!("delete only objects labelled release-gate.run={RUN_ID} in {NAMESPACE}"),
        &format!("--selector release-gate.run={RUN_ID} --ignore-not-found --wait=false"),
        &format!("delete namespace {NAMESPACE} --ignore-not-found"),
        &format!("--context {CONTEXT}"),
    ] {
        assert!(
            plan.contains(expected.as_str()),
            "the plan lacks `{expected}`:\n{plan}"
        );
    }
    assert!(!plan.contains(" kind "), "{plan}");
    assert!(!plan.contains("helm upgrade"), "{plan}");
    let calls = calls_but_version_probes(&fakes);
    assert!(calls.is_empty(), "{calls:?}");
}

fn ctrl_c_during_the_suite_still_removes_the_runs_namespace() {
    if !components() {
        return;
    }
    let gate = Gate::new("existing-sigint", None);
    script_installed_release(&gate, true);
    let config = kubeconfig(gate.work.path(), CONTEXT);
    let mut xtask = gate
        .fakes
        .shell()
        .spawn(&existing_cmd(&gate, &config, CONTEXT, &[]))
        .unwrap();
    let (exit, stderr) = crate::signal_when(
        &mut xtask,
        "INT",
        "the suite on an existing cluster",
        std::time::Duration::from_secs(120),
        |xtask| xtask.stderr_tail().contains("[conformance] started"),
    );
    assert_eq!(exit, Some(130), "{stderr}");
    assert!(
        gate.fakes.calls_of("kubectl").iter().any(|call| call.has(&[
            "delete",
            "namespace",
            NAMESPACE
        ])),
        "{stderr}"
    );
}

/// The RBAC manifest in hack/ grants what the run does on an existing cluster: every verb on
/// every resource the plan uses, and no more than that for the controller.
fn the_documented_rbac_covers_what_the_run_does() {
    let text = std::fs::read_to_string(
        testkit::workspace_root().join("hack/rbac/verify-release-existing.yaml"),
    )
    .unwrap();
    let documents: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            <serde_yaml_ng::Value as serde::Deserialize>::deserialize(document).unwrap()
        })
        .collect();
    let cluster_role = documents
        .iter()
        .find(|d| d["kind"].as_str() == Some("ClusterRole"))
        .expect("a ClusterRole");
    let allows = |resource: &str, verb: &str| {
        cluster_role["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|rule| {
                let has = |key: &str, value: &str| {
                    rule[key]
                        .as_sequence()
                        .is_some_and(|items| items.iter().any(|item| item.as_str() == Some(value)))
                };
                has("resources", resource) && has("verbs", verb)
            })
    };
    for (resource, verbs) in [
        ("namespaces", &["get", "create", "delete"][..]),
        ("deployments", &["get", "list", "create", "delete"][..]),
        ("services", &["get", "list", "create", "delete"][..]),
        ("gateways", &["get", "create", "delete"][..]),
        ("httproutes", &["get", "create", "delete"][..]),
        ("gatewayclasses", &["get"][..]),
        ("pods", &["get", "list"][..]),
        ("events", &["list"][..]),
        ("pods/log", &["get"][..]),
        ("pods/portforward", &["create"][..]),
    ] {
        for verb in verbs {
            assert!(allows(resource, verb), "{resource} {verb} is not granted");
        }
    }
    assert!(
        !allows("gatewayclasses", "delete"),
        "the installed release must stay read-only"
    );
    let role = documents
        .iter()
        .find(|d| d["kind"].as_str() == Some("Role"))
        .expect("a Role for the controller");
    assert_eq!(role["rules"][0]["verbs"].as_sequence().unwrap().len(), 1);
}

/// When the tools step fails on the user's cluster, diagnostics has nothing to diagnose (as in
/// kind mode when no cluster was made): it succeeds saying so, and is no failure in the JUnit.
fn a_failed_tools_step_leaves_nothing_to_diagnose_on_an_existing_cluster() {
    // (And a webhook variable the config names but nobody set is recorded, not silent.)
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = fake_tools::FakeTools::new().unwrap();
    let config = kubeconfig(gate_dir.path(), CONTEXT);
    let target = gate_dir.path().join("target.toml");
    // The webhook's variable is named but not set: nothing can be posted, and that is said.
    std::fs::write(
        &target,
        format!(
            "{}\n[notify]\nwebhook_url_env = \"RELEASE_GATE_TEST_UNSET_HOOK\"\n",
            target_config("none", &[])
        ),
    )
    .unwrap();
    let run = gate_dir.path().join("run");
    let cmd = crate::context::xtask(
        "verify-release with a kubectl that is not there",
        gate_dir.path(),
    )
    .args([
        "verify-release",
        "--cluster",
        "existing",
        "--context",
        CONTEXT,
    ])
    .arg("--kubeconfig")
    .arg(&config)
    .arg("--config")
    .arg(&target)
    .arg("--artifacts-dir")
    .arg(&run)
    .env("KUBECTL", gate_dir.path().join("no-such-kubectl"))
    .env("XTASK_RUN_ID", RUN_ID);
    let output = fakes.shell().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let step = |name: &str| {
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| step["name"] == name)
            .unwrap_or_else(|| panic!("no step {name} in {json}"))
            .clone()
    };
    assert_eq!(step("tools")["status"], "failed", "{json}");
    assert_eq!(step("diagnostics")["status"], "succeeded", "{json}");
    assert!(
        text(&output).contains("nothing to diagnose"),
        "{}",
        text(&output)
    );
    let notification = &json["notifications"][0];
    assert_eq!(notification["channel"], "webhook", "{json}");
    assert_eq!(notification["delivered"], false, "{json}");
    assert!(
        notification["detail"]
            .as_str()
            .unwrap()
            .contains("RELEASE_GATE_TEST_UNSET_HOOK, which is not set"),
        "{json}"
    );
    assert!(
        text(&output).contains("the webhook notification could not be delivered"),
        "a warning, not silence: {}",
        text(&output)
    );
    let junit = std::fs::read_to_string(run.join("junit-pipeline.xml")).unwrap();
    let diagnostics = junit
        .split("<testcase")
        .find(|case| case.contains("name=\"diagnostics\""))
        .expect("a diagnostics testcase");
    assert!(!diagnostics.contains("<failure"), "{junit}");
    assert!(
        std::fs::read_to_string(run.join("summary.md"))
            .unwrap()
            .contains("the user's cluster (context `staging-east`)"),
        "the summary says whose cluster it was"
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        a_failure_on_the_users_cluster_is_diagnosed_then_its_namespace_removed,
        a_correct_gateway_passes_and_only_the_runs_labelled_objects_are_deleted,
        a_namespace_without_the_runs_label_is_never_deleted,
        a_wrong_current_context_refuses_to_start,
        a_failed_tools_step_leaves_nothing_to_diagnose_on_an_existing_cluster,
        the_dry_run_shows_what_it_creates_and_deletes_on_an_existing_cluster,
        ctrl_c_during_the_suite_still_removes_the_runs_namespace,
        the_documented_rbac_covers_what_the_run_does,
    ]
}

//! kind lifecycle against the fakes: exact-name reuse, idempotent up, failing create cleans up,
//! teardown exports logs before deleting, the user's kubeconfig is never touched, timeouts kill.

use std::time::Duration;

use cluster::ClusterError;
use cluster::dev::{self, ReleaseInstall};
use cluster::fixture::Fixture;
use cluster::helm;
use cluster::kind::Kind;
use cluster::stages;
use fake_tools::{Rule, process_alive};

use crate::support::{Setup, data};

fn no_events() -> impl FnMut(cluster::Event) {
    |_| {}
}

fn get_clusters_reports_kinds_empty_message_on_stderr() {
    let setup = Setup::new();
    let sh = setup.fakes.shell();
    let output = sh.run(&Kind::new("kind").get_clusters()).unwrap();
    assert_eq!(output.stdout_str(), "");
    assert_eq!(output.stderr_str(), "No kind clusters found.\n");
    assert!(
        stages::list_clusters(&sh, &Kind::new("kind"))
            .unwrap()
            .is_empty()
    );
}

fn a_similar_name_is_not_reused() {
    let setup = Setup::new();
    setup
        .fakes
        .add_clusters(&["release-gate-2", "old-release-gate"])
        .unwrap();
    let sh = setup.fakes.shell();
    let report = dev::up(
        &sh,
        &setup.tools(),
        &setup.spec("release-gate"),
        &mut no_events(),
    )
    .unwrap();
    assert!(
        report.created,
        "a cluster named release-gate-2 must not count as release-gate"
    );
    assert_eq!(
        setup.fakes.clusters(),
        ["release-gate-2", "old-release-gate", "release-gate"]
    );
}

fn up_twice_creates_once_and_the_second_run_changes_nothing() {
    let setup = Setup::new();
    let sh = setup.fakes.shell();
    let spec = setup.spec("release-gate");
    let first = dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    assert!(first.created && first.crds_applied);
    assert!(!first.unchanged());

    // The CRDs are now installed: kubectl reports their bundle version on the second run.
    setup
        .fakes
        .rule(
            Rule::new("kubectl", &["get", "customresourcedefinitions"])
                .stdout_file(data("crd-gateways.json")),
        )
        .unwrap();
    let mut events = Vec::new();
    let second = dev::up(&sh, &setup.tools(), &spec, &mut |event| events.push(event)).unwrap();
    assert!(second.unchanged(), "{second:?}");
    assert!(
        events
            .iter()
            .all(|event| matches!(event, cluster::Event::Unchanged(_))),
        "{events:?}"
    );

    let creates: Vec<_> = setup
        .fakes
        .calls_of("kind")
        .into_iter()
        .filter(|call| call.has(&["create", "cluster"]))
        .collect();
    assert_eq!(creates.len(), 1, "created more than once");
    let applies = setup
        .fakes
        .calls_of("kubectl")
        .into_iter()
        .filter(|call| call.has(&["apply"]))
        .count();
    assert_eq!(applies, 1, "the second run re-applied the CRDs");
    assert_eq!(setup.fakes.clusters(), ["release-gate"]);
}

fn create_uses_the_pinned_image_generated_config_and_run_kubeconfig() {
    let setup = Setup::new();
    let sh = setup.fakes.shell();
    let mut spec = setup.spec("release-gate");
    spec.node_port_mapping = Some((30080, 18080));
    dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    let create = setup
        .fakes
        .calls_of("kind")
        .into_iter()
        .find(|call| call.has(&["create", "cluster"]))
        .unwrap();
    assert_eq!(create.flag("--name"), Some("release-gate"));
    assert_eq!(create.flag("--image"), Some(spec.node_image.as_str()));
    let config = std::fs::read_to_string(create.flag("--config").unwrap()).unwrap();
    assert!(
        config.contains("containerPort: 30080") && config.contains("hostPort: 18080"),
        "{config}"
    );
    let kubeconfig = setup.run_dir().kubeconfig();
    assert_eq!(
        create.flag("--kubeconfig"),
        Some(kubeconfig.to_str().unwrap())
    );
    assert!(
        kubeconfig.is_file(),
        "kind wrote no kubeconfig into the run directory"
    );
}

fn the_users_kubeconfig_is_never_read_or_written() {
    let setup = Setup::new();
    let sh = setup.fakes.shell();
    let mut spec = setup.spec("release-gate");
    spec.release = Some(ReleaseInstall {
        tag: "v2.1.0".into(),
        charts: vec![helm::Release {
            name: "kgateway".into(),
            chart: "oci://cr.kgateway.dev/kgateway-dev/charts/kgateway".into(),
            version: "v2.1.0".into(),
            namespace: "kgateway-system".into(),
            set: Vec::new(),
        }],
        images: Vec::new(),
        helm_timeout: Duration::from_secs(60),
        save_platform: None,
    });
    dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    stages::teardown(
        &sh,
        &Kind::new("kind"),
        "release-gate",
        &setup.run_dir().kubeconfig(),
        &setup.run_dir().logs(),
        &mut no_events(),
    )
    .unwrap();

    let kubeconfig = setup.run_dir().kubeconfig();
    let calls = setup.fakes.calls();
    assert!(
        calls.iter().any(|call| call.tool == "helm"),
        "helm never ran"
    );
    for call in calls
        .iter()
        .filter(|call| call.tool != "kind" || call.has(&["cluster"]))
    {
        assert_eq!(
            call.flag("--kubeconfig"),
            Some(kubeconfig.to_str().unwrap()),
            "{} does not name the run's kubeconfig",
            call.line()
        );
    }
    assert!(
        !setup.fakes.user_kubeconfig().exists(),
        "something wrote the user's ~/.kube/config"
    );
}

fn a_failing_create_leaves_no_cluster_and_is_an_infrastructure_error() {
    let setup = Setup::new();
    // kind gets as far as creating the node container, then kubeadm fails.
    setup
        .fakes
        .rule(
            Rule::new("kind", &["create", "cluster"])
                .builtin()
                .stderr("ERROR: failed to create cluster: failed to init node with kubeadm: command \"docker exec --privileged release-gate-control-plane kubeadm init\" failed with error: exit status 1\n")
                .exit(1),
        )
        .unwrap();
    let sh = setup.fakes.shell();
    let error = dev::up(
        &sh,
        &setup.tools(),
        &setup.spec("release-gate"),
        &mut no_events(),
    )
    .unwrap_err();
    assert!(matches!(error, ClusterError::Infra { .. }), "{error:?}");
    assert!(!error.is_bad_input());
    let chain = format!("{error}: {}", std::error::Error::source(&error).unwrap());
    assert!(
        chain.contains("kubeadm"),
        "the error should quote kind's stderr: {chain}"
    );
    assert!(
        setup.fakes.clusters().is_empty(),
        "left behind: {:?}",
        setup.fakes.clusters()
    );
}

fn a_hanging_create_is_killed_and_cleaned_up() {
    let setup = Setup::new();
    // kind creates the node container, then hangs in kubeadm until it is killed.
    setup
        .fakes
        .rule(Rule::new("kind", &["create", "cluster"]).builtin().hang())
        .unwrap();
    let sh = setup.fakes.shell();
    let kind = Kind::new("kind");
    let spec = cluster::kind::CreateSpec {
        name: "release-gate".into(),
        node_image: "kindest/node:v1.37.0".into(),
        config: setup.run.path().join("kind-config.yaml"),
        kubeconfig: setup.run.path().join("kubeconfig"),
        wait: Duration::from_secs(1),
        // Long enough for the fake to start and note its pid even on a loaded machine; the
        // assertions below hold however long the kill takes.
        timeout: Duration::from_secs(2),
    };
    std::fs::write(&spec.config, "kind: Cluster\n").unwrap();
    let error = stages::create_cluster(&sh, &kind, &spec, &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            &error,
            ClusterError::Infra {
                source: exec::ExecError::TimedOut { .. },
                ..
            }
        ),
        "{error:?}"
    );
    let pids = setup.fakes.pids();
    assert_eq!(pids.len(), 1);
    assert!(
        !process_alive(pids[0]),
        "the hanging kind survived its timeout"
    );
    assert!(
        setup.fakes.clusters().is_empty(),
        "left behind: {:?}",
        setup.fakes.clusters()
    );
    let last = setup.fakes.calls_of("kind").pop().unwrap();
    assert!(
        last.has(&["delete", "cluster", "--name", "release-gate"]),
        "{}",
        last.line()
    );
}

fn teardown_exports_logs_before_deleting_and_proves_the_cluster_gone() {
    let setup = Setup::new();
    setup
        .fakes
        .add_clusters(&["release-gate", "release-gate-2"])
        .unwrap();
    let sh = setup.fakes.shell();
    let logs = setup.run.path().join("logs");
    let existed = stages::teardown(
        &sh,
        &Kind::new("kind"),
        "release-gate",
        &setup.run.path().join("kubeconfig"),
        &logs,
        &mut |_| {},
    )
    .unwrap();
    assert!(existed);
    assert_eq!(
        setup.fakes.clusters(),
        ["release-gate-2"],
        "deleted the wrong cluster"
    );
    assert!(logs.join("kind-version.txt").is_file(), "no logs exported");
    let kind_calls: Vec<String> = setup
        .fakes
        .calls_of("kind")
        .iter()
        .map(|call| call.args[..2].join(" "))
        .collect();
    assert_eq!(
        kind_calls,
        [
            "get clusters",
            "export logs",
            "delete cluster",
            "get clusters"
        ]
    );
    // A second teardown finds nothing to do.
    let again = stages::teardown(
        &sh,
        &Kind::new("kind"),
        "release-gate",
        &setup.run.path().join("kubeconfig"),
        &logs,
        &mut |_| {},
    )
    .unwrap();
    assert!(!again);
}

fn teardown_still_deletes_when_log_export_fails() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["release-gate"]).unwrap();
    setup
        .fakes
        .rule(
            Rule::new("kind", &["export", "logs"])
                .stderr("ERROR: failed to export logs\n")
                .exit(1),
        )
        .unwrap();
    let sh = setup.fakes.shell();
    let mut events = Vec::new();
    stages::teardown(
        &sh,
        &Kind::new("kind"),
        "release-gate",
        &setup.run.path().join("k"),
        &setup.run.path().join("logs"),
        &mut |event| events.push(event),
    )
    .unwrap();
    assert!(setup.fakes.clusters().is_empty());
    assert!(
        events
            .iter()
            .any(|event| matches!(event, cluster::Event::Warning(w) if w.contains("export logs"))),
        "{events:?}"
    );
}

fn recreate_deletes_then_creates() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["release-gate"]).unwrap();
    let sh = setup.fakes.shell();
    let mut spec = setup.spec("release-gate");
    spec.recreate = true;
    let report = dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    assert!(report.deleted_first && report.created);
    assert_eq!(setup.fakes.clusters(), ["release-gate"]);
}

fn release_install_is_skipped_when_helm_lists_it_at_the_version() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["release-gate"]).unwrap();
    setup
        .fakes
        .rule(
            Rule::new("kubectl", &["get", "customresourcedefinitions"])
                .stdout_file(data("crd-gateways.json")),
        )
        .unwrap();
    setup
        .fakes
        .rule(Rule::new("helm", &["list"]).stdout(r#"[{"name":"kgateway","namespace":"kgateway-system","revision":"1","updated":"2026-11-21 20:00:00.0 +0000 UTC","status":"deployed","chart":"kgateway-v2.1.0","app_version":"v2.1.0"}]"#))
        .unwrap();
    std::fs::create_dir_all(setup.run_dir().0).unwrap();
    std::fs::write(setup.run_dir().kubeconfig(), "apiVersion: v1\n").unwrap();
    let sh = setup.fakes.shell();
    let mut spec = setup.spec("release-gate");
    let chart = |version: &str| helm::Release {
        name: "kgateway".into(),
        chart: "oci://cr.kgateway.dev/kgateway-dev/charts/kgateway".into(),
        version: version.into(),
        namespace: "kgateway-system".into(),
        set: Vec::new(),
    };
    spec.release = Some(ReleaseInstall {
        tag: "v2.1.0".into(),
        charts: vec![chart("v2.1.0")],
        images: Vec::new(),
        helm_timeout: Duration::from_secs(60),
        save_platform: None,
    });
    let same = dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    assert!(same.unchanged(), "{same:?}");

    spec.release.as_mut().unwrap().charts = vec![chart("v2.2.0")];
    let upgraded = dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    assert_eq!(upgraded.charts_installed, ["kgateway"]);
    let upgrade = setup
        .fakes
        .calls_of("helm")
        .into_iter()
        .find(|call| call.has(&["upgrade", "--install"]))
        .unwrap();
    assert_eq!(upgrade.flag("--version"), Some("v2.2.0"));
}

fn fixture_is_applied_with_the_release_and_waited_on() {
    let setup = Setup::new();
    for (words, file) in [
        (
            &["get", "gateways.gateway.networking.k8s.io"][..],
            "gateway-programmed.json",
        ),
        (
            &["get", "httproutes.gateway.networking.k8s.io"][..],
            "httproute-accepted.json",
        ),
        (&["get", "pods"][..], "pods-ready.json"),
    ] {
        setup
            .fakes
            .rule(Rule::new("kubectl", words).stdout_file(data(file)))
            .unwrap();
    }
    let sh = setup.fakes.shell();
    let mut spec = setup.spec("release-gate");
    spec.release = Some(ReleaseInstall {
        tag: "v2.1.0".into(),
        charts: Vec::new(),
        images: Vec::new(),
        helm_timeout: Duration::from_secs(60),
        save_platform: None,
    });
    spec.fixture = Some(Fixture::load(&data("fixture"), "kgateway").unwrap());
    // A fresh cluster: the fixture is applied (the Gateway check before it is skipped only
    // when the same fixture was applied before).
    let report = dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    assert!(report.fixture_applied);
    let applied = std::fs::read_to_string(setup.run_dir().fixture()).unwrap();
    assert!(applied.contains("gatewayClassName: kgateway"), "{applied}");
    let again = dev::up(&sh, &setup.tools(), &spec, &mut no_events()).unwrap();
    assert!(
        !again.fixture_applied,
        "the programmed fixture was applied again"
    );
}

fn a_reused_cluster_gets_a_fresh_kubeconfig_in_the_run_directory() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["release-gate"]).unwrap();
    let sh = setup.fakes.shell();
    let report = dev::up(
        &sh,
        &setup.tools(),
        &setup.spec("release-gate"),
        &mut no_events(),
    )
    .unwrap();
    assert!(!report.created);
    let export = setup
        .fakes
        .calls_of("kind")
        .into_iter()
        .find(|call| call.has(&["export", "kubeconfig"]))
        .expect("the kubeconfig was not exported");
    let kubeconfig = setup.run_dir().kubeconfig();
    assert_eq!(
        export.flag("--kubeconfig"),
        Some(kubeconfig.to_str().unwrap())
    );
    assert_eq!(export.flag("--name"), Some("release-gate"));
    assert!(kubeconfig.is_file());
    assert!(!setup.fakes.user_kubeconfig().exists());
}

fn a_reused_cluster_on_another_kubernetes_is_refused_with_the_fix() {
    let setup = Setup::bare();
    setup
        .fakes
        .rule(Rule::new("kubectl", &["get", "nodes"]).stdout_file(data("nodes-v1.35.1.json")))
        .unwrap();
    setup.fakes.add_clusters(&["release-gate"]).unwrap();
    let sh = setup.fakes.shell();
    let error = dev::up(
        &sh,
        &setup.tools(),
        &setup.spec("release-gate"),
        &mut no_events(),
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("runs Kubernetes v1.35.1") && text.contains("--recreate"),
        "{text}"
    );
    assert_eq!(
        setup.fakes.clusters(),
        ["release-gate"],
        "a refused reuse must not delete anything"
    );
    assert!(
        !setup
            .fakes
            .calls_of("kubectl")
            .iter()
            .any(|call| call.has(&["apply"])),
        "nothing may be installed on a cluster that does not match the pins"
    );
}

fn node_image_kubernetes_is_the_tag() {
    assert_eq!(
        dev::node_image_kubernetes("kindest/node:v1.37.0@sha256:abc"),
        Some("v1.37.0")
    );
    assert_eq!(
        dev::node_image_kubernetes("localhost:5000/node:v1.36.2"),
        Some("v1.36.2")
    );
    assert_eq!(dev::node_image_kubernetes("localhost:5000/node"), None);
}

fn a_stuck_fixture_fails_naming_the_object_and_leaves_diagnostics() {
    let setup = Setup::new();
    setup
        .fakes
        .rule(
            Rule::new("kubectl", &["get", "gateways.gateway.networking.k8s.io"])
                .stdout_file(data("gateway-pending.json")),
        )
        .unwrap();
    setup
        .fakes
        .rule(Rule::new("kubectl", &["get", "events"]).stdout("LAST SEEN   TYPE      REASON   OBJECT   MESSAGE\n5s   Warning   AddressNotAssigned   gateway/same-namespace   no address\n"))
        .unwrap();
    let sh = setup.fakes.shell();
    let mut spec = setup.spec("release-gate");
    spec.release = Some(ReleaseInstall {
        tag: "v2.1.0".into(),
        charts: Vec::new(),
        images: Vec::new(),
        helm_timeout: Duration::from_secs(60),
        save_platform: None,
    });
    spec.fixture = Some(Fixture::load(&data("fixture"), "kgateway").unwrap());
    let mut events = Vec::new();
    let error = dev::up(&sh, &setup.tools(), &spec, &mut |event| events.push(event)).unwrap_err();
    assert!(matches!(error, ClusterError::Stuck { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("Gateway gateway-conformance-infra/same-namespace"),
        "{error}"
    );
    let diagnostics = setup.run_dir().0.join("diagnostics");
    let events_file = std::fs::read_to_string(diagnostics.join("events.txt")).unwrap();
    assert!(events_file.contains("AddressNotAssigned"), "{events_file}");
    // Backend pods by their selector, the current and the previous container's logs.
    assert!(
        diagnostics
            .join("logs-gateway-conformance-infra-app_infra-backend-v1.txt")
            .is_file()
    );
    assert!(
        diagnostics
            .join("logs-previous-gateway-conformance-infra-app_infra-backend-v1.txt")
            .is_file()
    );
    let index = std::fs::read_to_string(diagnostics.join("index.txt")).unwrap();
    assert!(index.starts_with("events.txt\tok\t"), "{index}");
    assert!(
        events
            .iter()
            .any(|event| matches!(event, cluster::Event::Warning(w) if w.contains("diagnostics"))),
        "{events:?}"
    );
    let sorted = setup
        .fakes
        .calls_of("kubectl")
        .into_iter()
        .find(|call| call.has(&["get", "events"]))
        .unwrap();
    assert!(
        sorted.has(&["--all-namespaces", "--sort-by=.lastTimestamp"]),
        "{}",
        sorted.line()
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        get_clusters_reports_kinds_empty_message_on_stderr,
        a_similar_name_is_not_reused,
        up_twice_creates_once_and_the_second_run_changes_nothing,
        create_uses_the_pinned_image_generated_config_and_run_kubeconfig,
        the_users_kubeconfig_is_never_read_or_written,
        a_failing_create_leaves_no_cluster_and_is_an_infrastructure_error,
        a_hanging_create_is_killed_and_cleaned_up,
        teardown_exports_logs_before_deleting_and_proves_the_cluster_gone,
        teardown_still_deletes_when_log_export_fails,
        recreate_deletes_then_creates,
        release_install_is_skipped_when_helm_lists_it_at_the_version,
        fixture_is_applied_with_the_release_and_waited_on,
        a_reused_cluster_gets_a_fresh_kubeconfig_in_the_run_directory,
        a_reused_cluster_on_another_kubernetes_is_refused_with_the_fix,
        node_image_kubernetes_is_the_tag,
        a_stuck_fixture_fails_naming_the_object_and_leaves_diagnostics,
    ]
}

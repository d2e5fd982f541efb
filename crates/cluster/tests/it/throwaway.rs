//! The throwaway cluster verify-release uses: it owns only the cluster's lifetime, and is always
//! torn down (logs first), whatever happens; it never adopts or deletes someone else's cluster.

use std::time::Duration;

use cluster::ClusterError;
use cluster::kind::{CreateSpec, Kind};
use cluster::throwaway::ThrowawayCluster;
use fake_tools::Rule;

use crate::support::Setup;

fn create_spec(setup: &Setup, name: &str) -> CreateSpec {
    let run_dir = setup.run_dir();
    CreateSpec {
        name: name.to_owned(),
        node_image: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5".to_owned(),
        config: run_dir.kind_config(),
        kubeconfig: run_dir.kubeconfig(),
        wait: Duration::from_secs(60),
        timeout: Duration::from_secs(120),
    }
}

fn create(setup: &Setup, name: &str) -> Result<ThrowawayCluster, ClusterError> {
    let sh = setup.fakes.shell();
    ThrowawayCluster::create(
        &sh,
        &Kind::new("kind"),
        &create_spec(setup, name),
        &setup.run_dir(),
        &mut |_| {},
    )
}

#[test]
fn a_failed_create_leaves_no_cluster() {
    let setup = Setup::new();
    setup
        .fakes
        .rule(
            Rule::new("kind", &["create", "cluster"])
                .builtin()
                .stderr("ERROR: failed to create cluster: kubeadm init failed\n")
                .exit(1),
        )
        .unwrap();
    let error = create(&setup, "gate-1234").unwrap_err();
    assert!(matches!(error, ClusterError::Infra { .. }), "{error:?}");
    assert!(
        setup.fakes.clusters().is_empty(),
        "{:?}",
        setup.fakes.clusters()
    );
}

#[test]
fn dropping_the_guard_deletes_the_cluster_even_on_panic() {
    let setup = Setup::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let cluster = create(&setup, "gate-5678").unwrap();
        assert_eq!(cluster.name(), "gate-5678");
        panic!("the suite blew up");
    }));
    assert!(outcome.is_err());
    assert!(
        setup.fakes.clusters().is_empty(),
        "{:?}",
        setup.fakes.clusters()
    );
    assert!(
        setup.run_dir().logs().join("kind-version.txt").is_file(),
        "no logs before delete"
    );
    let kind: Vec<String> = setup
        .fakes
        .calls_of("kind")
        .iter()
        .map(|call| call.args[..2].join(" "))
        .collect();
    let export = kind.iter().position(|c| c == "export logs").unwrap();
    let delete = kind.iter().position(|c| c == "delete cluster").unwrap();
    assert!(export < delete, "{kind:?}");
}

#[test]
fn a_cancelled_run_still_tears_down() {
    let setup = Setup::new();
    let token = exec::Token::new();
    let sh = setup.fakes.shell().with_cancel(token.clone());
    let cluster = ThrowawayCluster::create(
        &sh,
        &Kind::new("kind"),
        &create_spec(&setup, "gate-77"),
        &setup.run_dir(),
        &mut |_| {},
    )
    .unwrap();
    token.cancel(exec::Reason::Signal(15));
    cluster.teardown(&mut |_| {}).unwrap();
    assert!(setup.fakes.clusters().is_empty());
}

#[test]
fn explicit_teardown_keep_and_a_taken_name_is_refused() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["someone-elses"]).unwrap();
    let error = create(&setup, "someone-elses").unwrap_err();
    assert!(error.is_bad_input(), "{error:?}");
    assert_eq!(
        setup.fakes.clusters(),
        ["someone-elses"],
        "a throwaway never deletes a cluster it did not create"
    );

    let cluster = create(&setup, "gate-9").unwrap();
    assert_eq!(setup.fakes.clusters(), ["someone-elses", "gate-9"]);
    cluster.teardown(&mut |_| {}).unwrap();
    assert_eq!(setup.fakes.clusters(), ["someone-elses"]);
    let deletes = setup
        .fakes
        .calls_of("kind")
        .iter()
        .filter(|call| call.has(&["delete", "cluster"]))
        .count();
    assert_eq!(deletes, 1, "teardown then drop must delete once");

    let kept = create(&setup, "gate-10").unwrap().keep();
    assert_eq!(kept, "gate-10");
    assert_eq!(setup.fakes.clusters(), ["someone-elses", "gate-10"]);
}

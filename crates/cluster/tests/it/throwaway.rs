//! The throwaway cluster verify-release uses: always torn down (logs first), whatever happens.

use std::time::Duration;

use cluster::dev::{ReleaseInstall, ThrowawayCluster};
use cluster::{ClusterError, helm};
use fake_tools::Rule;

use crate::support::Setup;

fn with_chart(setup: &Setup) -> cluster::dev::UpSpec {
    let mut spec = setup.spec("gate-1234");
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
    });
    spec
}

#[test]
fn a_failed_install_tears_the_cluster_down_after_exporting_logs() {
    let setup = Setup::new();
    setup
        .fakes
        .rule(
            Rule::new("helm", &["upgrade", "--install"])
                .stderr("Error: INSTALLATION FAILED: context deadline exceeded\n")
                .exit(1),
        )
        .unwrap();
    let sh = setup.fakes.shell();
    let error =
        ThrowawayCluster::up(&sh, &setup.tools(), &with_chart(&setup), &mut |_| {}).unwrap_err();
    assert!(matches!(error, ClusterError::Infra { .. }), "{error:?}");
    assert!(
        setup.fakes.clusters().is_empty(),
        "{:?}",
        setup.fakes.clusters()
    );
    let kind: Vec<String> = setup
        .fakes
        .calls_of("kind")
        .iter()
        .map(|call| call.args[..2].join(" "))
        .collect();
    let export = kind
        .iter()
        .position(|c| c == "export logs")
        .expect("logs exported");
    let delete = kind
        .iter()
        .position(|c| c == "delete cluster")
        .expect("deleted");
    assert!(export < delete, "{kind:?}");
}

#[test]
fn dropping_the_guard_deletes_the_cluster_even_on_panic() {
    let setup = Setup::new();
    let sh = setup.fakes.shell();
    let spec = setup.spec("gate-5678");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (cluster, _) = ThrowawayCluster::up(&sh, &setup.tools(), &spec, &mut |_| {}).unwrap();
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
}

#[test]
fn explicit_teardown_and_a_taken_name_is_refused() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["someone-elses"]).unwrap();
    let sh = setup.fakes.shell();
    let error = ThrowawayCluster::up(
        &sh,
        &setup.tools(),
        &setup.spec("someone-elses"),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(error.is_bad_input(), "{error:?}");
    assert_eq!(
        setup.fakes.clusters(),
        ["someone-elses"],
        "a throwaway never deletes a cluster it did not create"
    );

    let (cluster, report) =
        ThrowawayCluster::up(&sh, &setup.tools(), &setup.spec("gate-9"), &mut |_| {}).unwrap();
    assert!(report.created);
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
}

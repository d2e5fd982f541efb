//! The one owner of a run cluster's lifetime. A throwaway cluster (verify-release) is swept
//! for, recorded, created fresh, and always torn down (logs first), whatever happens, by `down`
//! or by the owner being dropped; it never adopts or deletes someone else's cluster. A developer
//! cluster (kind-up) is reused by exact name or recreated, and never deleted on drop.

use std::time::Duration;

use cluster::ClusterError;
use cluster::kind::Kind;
use cluster::run_cluster::{Fate, Lifetime, RunCluster, RunClusterSpec, UpReport};
use fake_tools::Rule;

use crate::support::Setup;

fn owners(setup: &Setup) -> std::path::PathBuf {
    setup.run.path().join("owners")
}

fn spec(setup: &Setup, name: &str, lifetime: Lifetime) -> RunClusterSpec {
    RunClusterSpec {
        name: name.to_owned(),
        run_dir: setup.run_dir(),
        node_image: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5".to_owned(),
        node_port_mapping: None,
        create_wait: Duration::from_secs(60),
        lifetime,
    }
}

fn throwaway(setup: &Setup, name: &str) -> RunCluster {
    RunCluster::new(
        spec(
            setup,
            name,
            Lifetime::Throwaway {
                owners_dir: owners(setup),
            },
        ),
        Kind::new("kind"),
        &setup.fakes.shell(),
        "cleanup",
    )
}

fn up(setup: &Setup, cluster: &RunCluster) -> Result<UpReport, ClusterError> {
    cluster.up(&setup.fakes.shell(), &mut |_| {})
}

fn kind_verbs(setup: &Setup) -> Vec<String> {
    setup
        .fakes
        .calls_of("kind")
        .iter()
        .map(|call| call.args[..2].join(" "))
        .collect()
}

fn a_failed_create_leaves_no_cluster_and_down_says_it_was_never_created() {
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
    let cluster = throwaway(&setup, "gate-1234");
    let error = up(&setup, &cluster).unwrap_err();
    assert!(matches!(error, ClusterError::Infra { .. }), "{error:?}");
    assert!(
        setup.fakes.clusters().is_empty(),
        "{:?}",
        setup.fakes.clusters()
    );
    assert!(!cluster.exists());
    let report = cluster.down(&mut |_| {});
    assert_eq!(report.fate, Fate::NeverCreated, "{report:?}");
    assert!(report.is_clean(), "{report:?}");
    assert!(
        cluster::owner::read_all(&owners(&setup)).is_empty(),
        "the owner record goes once nothing is left to own"
    );
}

fn the_owner_record_exists_while_the_cluster_does_and_goes_with_it() {
    let setup = Setup::new();
    let cluster = throwaway(&setup, "gate-42");
    let report = up(&setup, &cluster).unwrap();
    assert!(report.created && !report.reused, "{report:?}");
    let recorded: Vec<String> = cluster::owner::read_all(&owners(&setup))
        .into_iter()
        .map(|owner| owner.cluster)
        .collect();
    assert_eq!(recorded, ["gate-42"]);
    assert!(
        setup.run_dir().kind_config().is_file(),
        "the kind config is written"
    );
    let down = cluster.down(&mut |_| {});
    assert_eq!(down.fate, Fate::Deleted, "{down:?}");
    assert!(setup.fakes.clusters().is_empty());
    assert!(cluster::owner::read_all(&owners(&setup)).is_empty());
    assert!(
        !setup.run_dir().kubeconfig().exists(),
        "the kubeconfig is removed"
    );
}

fn dropping_the_owner_deletes_the_cluster_even_on_panic_logs_first() {
    let setup = Setup::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let cluster = throwaway(&setup, "gate-5678");
        up(&setup, &cluster).unwrap();
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
    let kind = kind_verbs(&setup);
    let export = kind.iter().position(|c| c == "export logs").unwrap();
    let delete = kind.iter().position(|c| c == "delete cluster").unwrap();
    assert!(export < delete, "{kind:?}");
}

fn a_cancelled_run_still_tears_down() {
    let setup = Setup::new();
    let token = cancel::Token::new();
    let sh = setup.fakes.shell().with_cancel(token.clone());
    let cluster = RunCluster::new(
        spec(
            &setup,
            "gate-77",
            Lifetime::Throwaway {
                owners_dir: owners(&setup),
            },
        ),
        Kind::new("kind"),
        &sh,
        "cleanup",
    );
    cluster.up(&sh, &mut |_| {}).unwrap();
    token.cancel(cancel::Reason::Signal(15));
    let report = cluster.down(&mut |_| {});
    assert_eq!(report.fate, Fate::Deleted, "{report:?}");
    assert!(setup.fakes.clusters().is_empty());
}

fn down_twice_deletes_once_and_a_taken_name_is_refused_untouched() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["someone-elses"]).unwrap();
    let taken = throwaway(&setup, "someone-elses");
    let error = up(&setup, &taken).unwrap_err();
    assert!(error.is_bad_input(), "{error:?}");
    drop(taken);
    assert_eq!(
        setup.fakes.clusters(),
        ["someone-elses"],
        "a throwaway never deletes a cluster it did not create"
    );

    let cluster = throwaway(&setup, "gate-9");
    up(&setup, &cluster).unwrap();
    assert_eq!(setup.fakes.clusters(), ["someone-elses", "gate-9"]);
    assert_eq!(cluster.down(&mut |_| {}).fate, Fate::Deleted);
    assert_eq!(
        cluster.down(&mut |_| {}).fate,
        Fate::Deleted,
        "the same fate again"
    );
    drop(cluster);
    assert_eq!(setup.fakes.clusters(), ["someone-elses"]);
    let deletes = kind_verbs(&setup)
        .iter()
        .filter(|verb| *verb == "delete cluster")
        .count();
    assert_eq!(deletes, 1, "down, down again, then drop must delete once");
}

fn a_kept_cluster_stays_and_is_no_longer_recorded_as_owned() {
    let setup = Setup::new();
    let cluster = throwaway(&setup, "gate-10");
    up(&setup, &cluster).unwrap();
    cluster.keep();
    let report = cluster.down(&mut |_| {});
    assert_eq!(report.fate, Fate::Kept);
    drop(cluster);
    assert_eq!(setup.fakes.clusters(), ["gate-10"]);
    assert!(
        setup.run_dir().kubeconfig().is_file(),
        "the user reaches it with this"
    );
    assert!(
        cluster::owner::read_all(&owners(&setup)).is_empty(),
        "a later run's sweep must not delete the cluster the user kept"
    );
}

fn a_delete_that_fails_is_reported_and_the_record_stays_for_the_next_sweep() {
    let setup = Setup::new();
    let cluster = throwaway(&setup, "gate-11");
    up(&setup, &cluster).unwrap();
    setup
        .fakes
        .rule(
            Rule::new("kind", &["delete", "cluster"])
                .stderr("ERROR: failed to delete cluster: docker is not responding\n")
                .exit(1),
        )
        .unwrap();
    let report = cluster.down(&mut |_| {});
    assert_eq!(report.fate, Fate::MayExist, "{report:?}");
    assert!(!report.is_clean());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains("deleting the cluster")),
        "{:?}",
        report.problems
    );
    let recorded: Vec<String> = cluster::owner::read_all(&owners(&setup))
        .into_iter()
        .map(|owner| owner.cluster)
        .collect();
    assert_eq!(recorded, ["gate-11"]);
}

fn a_developer_cluster_is_reused_by_exact_name_and_survives_its_owner() {
    let setup = Setup::new();
    setup.fakes.add_clusters(&["dev-gate"]).unwrap();
    let cluster = RunCluster::new(
        spec(&setup, "dev-gate", Lifetime::Developer { recreate: false }),
        Kind::new("kind"),
        &setup.fakes.shell(),
        "cleanup",
    );
    let report = up(&setup, &cluster).unwrap();
    assert!(report.reused && !report.created, "{report:?}");
    assert!(
        kind_verbs(&setup)
            .iter()
            .any(|verb| verb == "export kubeconfig"),
        "a reused cluster's kubeconfig is rewritten: {:?}",
        kind_verbs(&setup)
    );
    drop(cluster);
    assert_eq!(
        setup.fakes.clusters(),
        ["dev-gate"],
        "kind-up never deletes on drop"
    );

    let recreate = RunCluster::new(
        spec(&setup, "dev-gate", Lifetime::Developer { recreate: true }),
        Kind::new("kind"),
        &setup.fakes.shell(),
        "cleanup",
    );
    let report = up(&setup, &recreate).unwrap();
    assert!(report.recreated && report.created, "{report:?}");
    assert_eq!(setup.fakes.clusters(), ["dev-gate"]);
    let deletes = kind_verbs(&setup)
        .iter()
        .filter(|verb| *verb == "delete cluster")
        .count();
    assert_eq!(deletes, 1);
}

/// The engine's one cloud-provider-kind: the second cluster finds it running, the first one's
/// end leaves it for the second (and for a kept one), the last one's end stops it.
fn two_clusters_share_one_provider_and_the_last_one_gone_stops_it() {
    use cluster::provider::{self, Acquired};
    let setup = Setup::new();
    let docker = docker::Docker::new("docker");
    let first = throwaway(&setup, "gate-a");
    let mut second_spec = spec(
        &setup,
        "gate-b",
        Lifetime::Throwaway {
            owners_dir: owners(&setup),
        },
    );
    second_spec.run_dir = cluster::stages::RunDir(setup.run.path().join("b"));
    let second = RunCluster::new(
        second_spec,
        Kind::new("kind"),
        &setup.fakes.shell(),
        "cleanup",
    );
    let sh = setup.fakes.shell();
    up(&setup, &first).unwrap();
    up(&setup, &second).unwrap();
    let (name, acquired) = first
        .start_load_balancer(&sh, &docker, "cpk@sha256:ab", false)
        .unwrap();
    assert_eq!(
        (name.as_str(), acquired),
        (provider::CONTAINER, Acquired::Started)
    );
    let (_, acquired) = second
        .start_load_balancer(&sh, &docker, "cpk@sha256:ab", false)
        .unwrap();
    assert_eq!(acquired, Acquired::AlreadyRunning);
    assert_eq!(setup.fakes.containers(), [provider::CONTAINER]);
    // The first cluster goes; the second still needs the provider.
    let down = first.down(&mut |_| {});
    assert_eq!(down.fate, Fate::Deleted);
    assert!(!down.provider_stopped, "{down:?}");
    assert_eq!(setup.fakes.containers(), [provider::CONTAINER]);
    // Kept: the cluster stays, and so does the provider that serves it.
    second.keep();
    let kept = second.down(&mut |_| {});
    assert_eq!(kept.fate, Fate::Kept);
    assert!(!kept.provider_stopped);
    assert_eq!(setup.fakes.containers(), [provider::CONTAINER]);
    // Once kind lists no cluster, the next release stops it.
    sh.run(
        &exec::Cmd::new("kind", "delete the kept cluster")
            .args(["delete", "cluster", "--name", "gate-b"]),
    )
    .unwrap();
    assert_eq!(
        provider::release(&sh, &docker, &Kind::new("kind")).unwrap(),
        provider::Released::Stopped
    );
    assert!(setup.fakes.containers().is_empty());
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        two_clusters_share_one_provider_and_the_last_one_gone_stops_it,
        a_failed_create_leaves_no_cluster_and_down_says_it_was_never_created,
        the_owner_record_exists_while_the_cluster_does_and_goes_with_it,
        dropping_the_owner_deletes_the_cluster_even_on_panic_logs_first,
        a_cancelled_run_still_tears_down,
        down_twice_deletes_once_and_a_taken_name_is_refused_untouched,
        a_kept_cluster_stays_and_is_no_longer_recorded_as_owned,
        a_delete_that_fails_is_reported_and_the_record_stays_for_the_next_sweep,
        a_developer_cluster_is_reused_by_exact_name_and_survives_its_owner,
    ]
}

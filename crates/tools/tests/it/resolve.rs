//! Resolution order and verdicts, against fake tools on a per-test PATH.

use pins::ToolName;
use tools::{Source, Verdict};

use crate::fakes::{self, context};

fn sh() -> exec::Shell {
    exec::Shell::new()
}

fn path_tool_of_the_pinned_version_is_ok() {
    let cache = tempfile::tempdir().unwrap();
    let path = fakes::path_of(&["kind-0.33", "kubectl-1.37", "helm-4.3", "docker-ok"]);
    let context = context(&[("PATH", &path)], cache.path());
    for resolution in tools::resolve_all(&sh(), &context) {
        assert_eq!(resolution.verdict, Verdict::Ok, "{}", resolution.describe());
        assert_eq!(resolution.source, Some(Source::Path));
        assert!(resolution.notices.is_empty(), "{:?}", resolution.notices);
    }
    let kubectl = tools::resolve(&sh(), &context, ToolName::Kubectl);
    assert_eq!(kubectl.found.unwrap().to_string(), "v1.37.1");
    let docker = tools::resolve(&sh(), &context, ToolName::Docker);
    // The engine's version is the one judged against the floor.
    assert_eq!(docker.found.unwrap().to_string(), "20.10.24");
}

fn missing_tools_name_the_install_command() {
    let cache = tempfile::tempdir().unwrap();
    let context = context(&[("PATH", "")], cache.path());
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    assert_eq!(kind.verdict, Verdict::Missing);
    assert_eq!(kind.fix.as_deref(), Some("cargo xtask tools install"));
    assert!(kind.program().is_err());
    let docker = tools::resolve(&sh(), &context, ToolName::Docker);
    assert_eq!(docker.verdict, Verdict::Missing);
    assert!(docker.fix.unwrap().contains("apt-get install -y docker.io"));
}

fn wrong_version_on_path_is_a_mismatch_with_the_fix() {
    let cache = tempfile::tempdir().unwrap();
    let context = context(&[("PATH", &fakes::path_of(&["kind-0.29"]))], cache.path());
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    assert_eq!(kind.verdict, Verdict::Mismatch);
    let line = kind.describe();
    assert!(
        line.contains("kind v0.29.0 found")
            && line.contains("v0.33.0 pinned in hack/versions.toml"),
        "{line}"
    );
    assert!(line.ends_with(": cargo xtask tools install"), "{line}");
}

fn the_cache_beats_path() {
    let cache = tempfile::tempdir().unwrap();
    let pinned = fakes::real_pins().kind.version.to_string();
    fakes::seed_cache(cache.path(), "kind", &pinned, "kind-0.33");
    let context = context(&[("PATH", &fakes::path_of(&["kind-0.29"]))], cache.path());
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    assert_eq!(kind.verdict, Verdict::Ok, "{}", kind.describe());
    assert_eq!(kind.source, Some(Source::Cache));
    assert_eq!(
        kind.program().unwrap(),
        cache.path().join("kind").join(&pinned).join("kind")
    );
}

fn an_env_binary_beats_the_cache_and_is_announced() {
    let cache = tempfile::tempdir().unwrap();
    let pinned = fakes::real_pins().kind.version.to_string();
    fakes::seed_cache(cache.path(), "kind", &pinned, "kind-0.29");
    let kind_binary = fakes::binary("kind-0.33");
    let context = context(
        &[("PATH", ""), ("KIND", kind_binary.to_str().unwrap())],
        cache.path(),
    );
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    assert_eq!(kind.verdict, Verdict::Ok, "{}", kind.describe());
    assert_eq!(kind.source, Some(Source::EnvBinary));
    assert_eq!(kind.program().unwrap(), kind_binary);
    assert!(kind.notices[0].starts_with("$KIND="), "{:?}", kind.notices);

    // An env binary of the wrong version is not silently accepted.
    let old = fakes::binary("kind-0.29");
    let context = crate::fakes::context(
        &[("PATH", ""), ("KIND", old.to_str().unwrap())],
        cache.path(),
    );
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    assert_eq!(kind.verdict, Verdict::Mismatch);
    assert!(kind.fix.unwrap().contains("point $KIND at kind v0.33.0"));
}

fn forcing_host_tools_accepts_another_version_loudly() {
    let cache = tempfile::tempdir().unwrap();
    let path = fakes::path_of(&["kind-0.29", "helm-3.19", "kubectl-1.36"]);
    let context = context(
        &[("PATH", &path), ("XTASK_FORCE_HOST_TOOLS", "1")],
        cache.path(),
    );
    for tool in [ToolName::Kind, ToolName::Helm, ToolName::Kubectl] {
        let resolution = tools::resolve(&sh(), &context, tool);
        assert_eq!(
            resolution.verdict,
            Verdict::Forced,
            "{}",
            resolution.describe()
        );
        assert!(resolution.program().is_ok());
        assert!(
            resolution.notices[0].starts_with("XTASK_FORCE_HOST_TOOLS=1: using"),
            "{:?}",
            resolution.notices
        );
    }
}

fn floors_hold_even_when_forced() {
    let cache = tempfile::tempdir().unwrap();
    let path = fakes::path_of(&["kubectl-1.33", "docker-old"]);
    let context = context(
        &[("PATH", &path), ("XTASK_FORCE_HOST_TOOLS", "1")],
        cache.path(),
    );
    let kubectl = tools::resolve(&sh(), &context, ToolName::Kubectl);
    let Verdict::BelowFloor(why) = &kubectl.verdict else {
        panic!("{}", kubectl.describe())
    };
    assert!(why.contains("within one minor version"), "{why}");
    assert!(kubectl.program().is_err());
    let docker = tools::resolve(&sh(), &context, ToolName::Docker);
    let Verdict::BelowFloor(why) = &docker.verdict else {
        panic!("{}", docker.describe())
    };
    assert!(why.contains("below the minimum 20.10.0"), "{why}");
}

fn docker_without_an_engine_says_to_start_one() {
    let cache = tempfile::tempdir().unwrap();
    let context = context(&[("PATH", &fakes::path_of(&["docker-down"]))], cache.path());
    let docker = tools::resolve(&sh(), &context, ToolName::Docker);
    assert_eq!(
        docker.verdict,
        Verdict::Broken("the docker engine is not reachable".into())
    );
    assert!(docker.fix.unwrap().contains("dockerd"));
}

fn a_tool_that_fails_to_run_is_broken_not_missing() {
    let cache = tempfile::tempdir().unwrap();
    let context = context(&[("PATH", &fakes::path_of(&["kind-broken"]))], cache.path());
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    let Verdict::Broken(why) = &kind.verdict else {
        panic!("{}", kind.describe())
    };
    assert!(why.contains("segmentation fault"), "{why}");
}

fn a_version_override_changes_what_is_wanted() {
    let cache = tempfile::tempdir().unwrap();
    let context = context(
        &[
            ("PATH", &fakes::path_of(&["kind-0.29"])),
            ("KIND_VERSION", "v0.29.0"),
        ],
        cache.path(),
    );
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    assert_eq!(kind.verdict, Verdict::Ok, "{}", kind.describe());
    assert_eq!(kind.wanted.unwrap().to_string(), "v0.29.0");

    // Without the version on the machine, the fix says a checksum is needed to download it.
    let context = crate::fakes::context(&[("PATH", ""), ("KIND_VERSION", "v0.29.0")], cache.path());
    let kind = tools::resolve(&sh(), &context, ToolName::Kind);
    assert_eq!(kind.verdict, Verdict::Missing);
    assert!(kind.fix.unwrap().contains("set KIND_SHA256"));
}

fn a_cluster_the_user_brings_gets_the_pinned_kubectl_within_skew_of_its_server() {
    let cache = tempfile::tempdir().unwrap();
    let version = |text: &str| pins::Version::parse_lenient(text).unwrap();
    let context = context(
        &[("PATH", &fakes::path_of(&["kubectl-1.37"]))],
        cache.path(),
    );
    // A 1.34 server: the default v1.37.1 is three minors away; the pinned v1.35.8 is one.
    let narrowed = context.for_server(&version("v1.34.2")).unwrap();
    assert_eq!(
        narrowed.wanted(ToolName::Kubectl).unwrap().to_string(),
        "v1.35.8"
    );
    assert!(narrowed.pins.kubectl.also.is_empty());
    let kubectl = tools::resolve(&sh(), &narrowed, ToolName::Kubectl);
    let Verdict::BelowFloor(why) = &kubectl.verdict else {
        panic!("{}", kubectl.describe())
    };
    assert!(
        why.contains("the cluster's API server Kubernetes v1.34.2"),
        "{why}"
    );
    // A 1.37 server keeps the default, which the PATH kubectl is.
    let narrowed = context.for_server(&version("v1.37.3")).unwrap();
    let kubectl = tools::resolve(&sh(), &narrowed, ToolName::Kubectl);
    assert_eq!(kubectl.verdict, Verdict::Ok, "{}", kubectl.describe());
    // Nothing pinned within skew of 1.31: the error names the server, every pin and the fix.
    let error = context.for_server(&version("v1.31.4")).unwrap_err();
    for part in [
        "Kubernetes v1.31.4",
        "v1.37.1, v1.35.8",
        "KUBECTL_VERSION to a v1.31.x",
    ] {
        assert!(error.contains(part), "{part}: {error}");
    }
    // KUBECTL_VERSION leaves only itself to choose from.
    let overridden = fakes::context(
        &[("KUBECTL_VERSION", "v1.37.1"), ("PATH", "")],
        cache.path(),
    );
    assert!(overridden.for_server(&version("v1.35.1")).is_err());
    // $KUBECTL is the user's binary: kept, and judged against the server.
    let named = fakes::context(
        &[
            ("KUBECTL", fakes::binary("kubectl-1.33").to_str().unwrap()),
            ("PATH", ""),
        ],
        cache.path(),
    );
    let narrowed = named.for_server(&version("v1.32.0")).unwrap();
    let kubectl = tools::resolve(&sh(), &narrowed, ToolName::Kubectl);
    assert_eq!(kubectl.verdict, Verdict::Mismatch, "{}", kubectl.describe());
    assert!(
        !matches!(
            tools::resolve(&sh(), &named, ToolName::Kubectl).verdict,
            Verdict::Ok
        ),
        "a 1.33 kubectl is below the node image's floor"
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        path_tool_of_the_pinned_version_is_ok,
        missing_tools_name_the_install_command,
        wrong_version_on_path_is_a_mismatch_with_the_fix,
        the_cache_beats_path,
        an_env_binary_beats_the_cache_and_is_announced,
        forcing_host_tools_accepts_another_version_loudly,
        floors_hold_even_when_forced,
        docker_without_an_engine_says_to_start_one,
        a_tool_that_fails_to_run_is_broken_not_missing,
        a_version_override_changes_what_is_wanted,
        a_cluster_the_user_brings_gets_the_pinned_kubectl_within_skew_of_its_server,
    ]
}

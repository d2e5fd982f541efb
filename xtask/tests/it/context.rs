//! The xtask binary under test, isolated from the machine it runs on: every folder xtask
//! writes by default (the tools folder, the artifact cache, the runs folder) is the test's own,
//! HOME is a private one (the real rustup and cargo homes stay reachable, so the pinned
//! toolchain is still found), and what the calling environment could leak in (`$KIND` and the
//! other tool overrides, the pin overrides, forced host tools, a tools mirror, GitHub Actions'
//! variables) is removed. A test adds back exactly what it exercises, after this.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Variables a developer's or CI's environment may carry that change what xtask does.
const LEAKS: &[&str] = &[
    "KIND",
    "KUBECTL",
    "HELM",
    "DOCKER",
    "KUBECONFIG",
    "XTASK_FORCE_HOST_TOOLS",
    "XTASK_TOOLS_MIRROR",
    "XTASK_RUN_ID",
    "GITHUB_ACTIONS",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_REPOSITORY",
];

/// The real homes of the toolchains, read once from the test's own environment.
fn toolchain_homes() -> &'static [(&'static str, PathBuf)] {
    static HOMES: OnceLock<Vec<(&'static str, PathBuf)>> = OnceLock::new();
    HOMES.get_or_init(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")]
            .into_iter()
            .filter_map(|(variable, default)| {
                std::env::var_os(variable)
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|home| home.join(default)))
                    .map(|path| (variable, path))
            })
            .collect()
    })
}

/// `xtask` for `purpose`, writing only under `work`.
pub fn xtask(purpose: &str, work: &Path) -> exec::Cmd {
    let home = work.join("home");
    let _ = std::fs::create_dir_all(&home);
    let mut cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), purpose)
        .env("HOME", &home)
        .env("XTASK_TOOLS_DIR", work.join("tools"))
        .env("XTASK_ARTIFACT_CACHE", work.join("artifact-cache"))
        .env("XTASK_VERIFY_DIR", work.join("verify-release"));
    for (variable, path) in toolchain_homes() {
        cmd = cmd.env(variable, path);
    }
    for name in LEAKS.iter().copied().chain(pins::OVERRIDE_VARIABLES) {
        cmd = cmd.env_remove(name);
    }
    cmd
}

/// [`xtask`] in a scratch folder of its own, under cargo's temporary folder for this test
/// target (remade by each run of the binary, so nothing accumulates and nothing is left in
/// /tmp).
pub fn isolated(purpose: &str) -> exec::Cmd {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let root = ROOT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("xtask-it");
        let _ = std::fs::remove_dir_all(&root);
        root
    });
    let work = root.join(NEXT.fetch_add(1, Ordering::SeqCst).to_string());
    std::fs::create_dir_all(&work).expect("create the scratch folder");
    xtask(purpose, &work)
}

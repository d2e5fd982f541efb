//! The xtask binary under test, isolated from the machine it runs on: every folder xtask
//! writes by default (the tools folder, the artifact cache, the runs folder) is the test's own,
//! and what the calling environment could leak in (`$KIND` and the other tool overrides, the
//! pin overrides, forced host tools, a tools mirror, GitHub Actions' variables) is removed.
//! A test adds back exactly what it exercises.

use std::path::Path;

/// Variables a developer's or CI's environment may carry that change what xtask does.
const LEAKS: &[&str] = &[
    "KIND",
    "KUBECTL",
    "HELM",
    "DOCKER",
    "XTASK_FORCE_HOST_TOOLS",
    "XTASK_TOOLS_MIRROR",
    "GITHUB_ACTIONS",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
];

/// `xtask` for `purpose`, writing only under `work`.
pub fn xtask(purpose: &str, work: &Path) -> exec::Cmd {
    let mut cmd = exec::Cmd::new(env!("CARGO_BIN_EXE_xtask"), purpose)
        .env("XTASK_TOOLS_DIR", work.join("tools"))
        .env("XTASK_ARTIFACT_CACHE", work.join("artifact-cache"))
        .env("XTASK_VERIFY_DIR", work.join("verify-release"));
    for name in LEAKS.iter().copied().chain(pins::OVERRIDE_VARIABLES) {
        cmd = cmd.env_remove(name);
    }
    cmd
}

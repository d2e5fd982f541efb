//! The echo backend image (crates/echo), built for the platform of the Docker engine that runs
//! kind, with the pinned Rust toolchain, from any host.
//!
//! Two paths, chosen as data by [`choose_path`]:
//! - in the image: a multi-stage `hack/echo/Dockerfile.in-image` compiles from the pinned
//!   `rust:<version>` image, so the toolchain is the pinned one by construction. It needs that
//!   image, which only a reachable registry (or an earlier pull) provides.
//! - on the host: `cargo +<version>` cross-compiles a static binary for the engine's Linux
//!   target, which is staged alone as the context of `hack/echo/Dockerfile` (`FROM scratch`).
//!   A missing toolchain or target is an error saying how to install it, never a fallback to
//!   whatever toolchain is at hand.
//!
//! Either way the image then goes through [`crate::run_build`], whose proof reads the compiler
//! the binary in the image records.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compiler::{self, Compiler};
pub use crate::platform::{Arch, EnginePlatform, engine_platform, query_engine_platform};
use crate::{BuildError, BuildReport, BuildRequest};

/// The Dockerfile of the host path: the prebuilt binary, `FROM scratch`.
pub const HOST_DOCKERFILE: &str = "hack/echo/Dockerfile";
/// The Dockerfile of the in-image path: compiles from `rust:${RUST_VERSION}`.
pub const IN_IMAGE_DOCKERFILE: &str = "hack/echo/Dockerfile.in-image";

/// Whether the engine already has the pinned `rust:<version>` image (no pull is attempted).
pub fn rust_image_present(sh: &exec::Shell, docker: &docker::Docker, rust: &pins::Version) -> bool {
    sh.run(&docker.image_inspect(&rust_image(rust))).is_ok()
}

/// How the echo binary gets compiled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum EchoPath {
    /// Inside a multi-stage build from `base_image` (`rust:<pinned version>`).
    InImage { base_image: String },
    /// On the host with `cargo +<pinned version>` for `triple`, linked statically.
    Host {
        triple: String,
        /// `RUSTFLAGS` for the build.
        rustflags: String,
        /// The linker, when the host's C linker cannot link for the target.
        linker: Option<String>,
    },
}

impl fmt::Display for EchoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EchoPath::InImage { base_image } => write!(
                f,
                "compile inside the image, in a build stage FROM {base_image} ({IN_IMAGE_DOCKERFILE})"
            ),
            EchoPath::Host { triple, linker, .. } => {
                write!(f, "compile on the host for {triple}, statically linked")?;
                if let Some(linker) = linker {
                    write!(f, " with {linker}")?;
                }
                write!(f, ", into {HOST_DOCKERFILE} (FROM scratch)")
            }
        }
    }
}

/// Picks the path for an engine platform and host: in the image when the pinned Rust image is
/// available to the engine; otherwise on the host, for the engine's target: glibc with
/// `crt-static` when the host is Linux on the engine's architecture (its C toolchain links
/// that), musl linked by the toolchain's own `rust-lld` from any other host (macOS, or Linux
/// on the other architecture), since no host C linker is needed for it.
pub fn choose_path(
    engine: EnginePlatform,
    host_os: &str,
    host_arch: &str,
    rust: &pins::Version,
    rust_image_available: bool,
) -> EchoPath {
    if rust_image_available {
        return EchoPath::InImage {
            base_image: rust_image(rust),
        };
    }
    let arch = engine.arch.rust_arch();
    if host_os == "linux" && Arch::parse(host_arch) == Some(engine.arch) {
        EchoPath::Host {
            triple: format!("{arch}-unknown-linux-gnu"),
            rustflags: "-C target-feature=+crt-static".to_owned(),
            linker: None,
        }
    } else {
        EchoPath::Host {
            triple: format!("{arch}-unknown-linux-musl"),
            rustflags: "-C target-feature=+crt-static".to_owned(),
            linker: Some("rust-lld".to_owned()),
        }
    }
}

/// The pinned Rust image of the in-image path.
pub fn rust_image(rust: &pins::Version) -> String {
    format!("rust:{}", rust.without_v())
}

/// What the echo build needs to be planned: all values, so the choice is testable as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoRequest {
    /// The workspace root (crates/echo, hack/echo, target/).
    pub root: PathBuf,
    pub tag: String,
    pub engine: EnginePlatform,
    /// `std::env::consts::OS` and `ARCH` of the host that compiles.
    pub host_os: String,
    pub host_arch: String,
    /// The pinned Rust version, after overrides.
    pub rust: pins::Version,
    /// Whether the engine has the pinned `rust:<version>` image (pulled, or pullable).
    pub rust_image_available: bool,
    /// The rustup proxies (`cargo`, `rustc` on PATH): `+<version>` selects the toolchain.
    pub cargo: PathBuf,
    pub rustc: PathBuf,
}

/// The echo build, decided before anything runs: what `--dry-run` shows and [`build`] runs.
#[derive(Debug, Clone)]
pub struct EchoPlan {
    pub platform: EnginePlatform,
    pub path: EchoPath,
    pub rust: pins::Version,
    /// Host path only: finds the pinned toolchain's sysroot (fails when it is not installed).
    pub toolchain_check: Option<exec::Cmd>,
    /// Host path only: compiles the binary.
    pub compile: Option<exec::Cmd>,
    /// Host path only: where the compiled binary lands.
    pub binary: Option<PathBuf>,
    /// The image build that follows (through [`crate::plan_build`] and [`crate::run_build`]).
    pub image: BuildRequest,
}

impl EchoPlan {
    /// The commands run before the image build, in order.
    pub fn commands(&self) -> Vec<&exec::Cmd> {
        self.toolchain_check.iter().chain(&self.compile).collect()
    }
}

/// Plans the echo build. The tag is checked first: a bad one is [`BuildError::BadInput`]
/// before anything is compiled.
pub fn plan(request: &EchoRequest) -> Result<EchoPlan, BuildError> {
    docker::reference::validate(&request.tag)
        .map_err(|error| BuildError::BadInput(format!("--tag: {error}")))?;
    let path = choose_path(
        request.engine,
        &request.host_os,
        &request.host_arch,
        &request.rust,
        request.rust_image_available,
    );
    let version = request.rust.without_v();
    let plan = match &path {
        EchoPath::InImage { .. } => EchoPlan {
            platform: request.engine,
            path: path.clone(),
            rust: request.rust.clone(),
            toolchain_check: None,
            compile: None,
            binary: None,
            image: BuildRequest {
                dockerfile: request.root.join(IN_IMAGE_DOCKERFILE),
                tag: request.tag.clone(),
                context: Some(request.root.clone()),
            },
        },
        EchoPath::Host {
            triple,
            rustflags,
            linker,
        } => {
            let target_dir = request.root.join("target/echo-image");
            let toolchain_check = exec::Cmd::new(
                &request.rustc,
                format!("find the pinned Rust {version} toolchain"),
            )
            .arg(format!("+{version}"))
            .args(["--print", "sysroot"])
            // A missing toolchain is reported with the command that installs it, not
            // downloaded behind the user's back.
            .env("RUSTUP_AUTO_INSTALL", "0")
            .env_remove("RUSTC");
            let mut compile = exec::Cmd::new(
                &request.cargo,
                format!("compile the echo backend with Rust {version} for {triple}"),
            )
            .arg(format!("+{version}"))
            .args(["build", "--release", "--locked", "-p", "echo", "--target"])
            .arg(triple)
            .arg("--target-dir")
            .arg(&target_dir)
            .env("RUSTFLAGS", rustflags)
            .env("RUSTUP_AUTO_INSTALL", "0")
            // Either would choose another compiler than the `+version` one.
            .env_remove("RUSTC")
            .env_remove("RUSTUP_TOOLCHAIN")
            .cwd(&request.root);
            if let Some(linker) = linker {
                let variable = format!(
                    "CARGO_TARGET_{}_LINKER",
                    triple.to_ascii_uppercase().replace('-', "_")
                );
                compile = compile.env(variable, linker);
            }
            EchoPlan {
                platform: request.engine,
                path: path.clone(),
                rust: request.rust.clone(),
                toolchain_check: Some(toolchain_check),
                compile: Some(compile),
                binary: Some(target_dir.join(triple).join("release/echo")),
                image: BuildRequest {
                    dockerfile: request.root.join(HOST_DOCKERFILE),
                    tag: request.tag.clone(),
                    // One context per tag: two builds of different tags never share one.
                    // …and one per process: two runs on one machine never share one.
                    context: Some(target_dir.join("context").join(format!(
                        "{}-{}",
                        request.tag.replace(
                            |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
                            "_",
                        ),
                        std::process::id()
                    ))),
                },
            }
        }
    };
    Ok(plan)
}

/// Builds the planned echo image and proves it; see the module documentation. `pins` are the
/// effective pins (after overrides) whose `[build] rust` the plan was made with.
pub fn build(
    sh: &exec::Shell,
    docker: &docker::Docker,
    plan: &EchoPlan,
    pins: &pins::Pins,
) -> Result<BuildReport, BuildError> {
    if let EchoPath::Host { triple, .. } = &plan.path {
        compile_on_host(sh, plan, triple)?;
    }
    let build = crate::plan_build(&plan.image, pins)?;
    let report = crate::run_build(sh, docker, &build);
    if let (EchoPath::Host { .. }, Some(context)) = (&plan.path, &plan.image.context) {
        // The staged context has served its purpose; one per process would pile up.
        let _ = std::fs::remove_dir_all(context);
    }
    report
}

fn compile_on_host(sh: &exec::Shell, plan: &EchoPlan, triple: &str) -> Result<(), BuildError> {
    let version = plan.rust.without_v();
    let (Some(check), Some(compile), Some(binary), Some(context)) = (
        &plan.toolchain_check,
        &plan.compile,
        &plan.binary,
        &plan.image.context,
    ) else {
        unreachable!("a host plan has its commands, binary and context")
    };
    let doing = format!("finding the pinned Rust {version} toolchain");
    let sysroot = match sh.run(check) {
        Ok(output) => PathBuf::from(output.stdout_str().trim()),
        Err(error) => {
            let said = first_error_line(error.stderr_tail());
            return Err(BuildError::failed(
                doing,
                format!(
                    "Rust {version} ({} [build] rust, or RUST_VERSION) is not installed{said}; install it with `rustup toolchain install {version} --profile minimal --target {triple}`: the echo image is compiled only with the pinned toolchain",
                    pins::PIN_FILE
                ),
            ));
        }
    };
    if !sysroot
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
    {
        return Err(BuildError::failed(
            doing,
            format!(
                "Rust {version} has no standard library for {triple}, the target of the engine's platform {}; add it with `rustup target add {triple} --toolchain {version}`",
                plan.platform
            ),
        ));
    }
    sh.run(compile)
        .map_err(|error| BuildError::failed("compiling the echo backend", error))?;
    // The binary must say it was compiled by the pinned toolchain before any label says so.
    let bytes = std::fs::read(binary).map_err(|error| {
        BuildError::failed(
            "reading the compiled echo binary",
            format!("{}: {error}", binary.display()),
        )
    })?;
    match compiler::identify(&bytes) {
        Ok(Compiler::Rust { version: found, .. })
            if found
                .parse::<pins::Version>()
                .is_ok_and(|found| found == plan.rust) => {}
        found => {
            return Err(BuildError::failed(
                "checking the compiled echo binary",
                format!(
                    "{} records {}, not the pinned Rust {version}: something other than `cargo +{version}` compiled it (is RUSTC or a rustc wrapper set?)",
                    binary.display(),
                    match found {
                        Ok(Compiler::Rust { version, .. }) => format!("Rust {version}"),
                        Ok(other) => format!("{other:?}"),
                        Err(error) => error,
                    }
                ),
            ));
        }
    }
    stage(binary, context)
}

/// Puts the binary alone into a fresh build context.
fn stage(binary: &Path, context: &Path) -> Result<(), BuildError> {
    let doing = format!("staging the echo binary into {}", context.display());
    if context.exists() {
        std::fs::remove_dir_all(context).map_err(|error| BuildError::failed(&doing, error))?;
    }
    std::fs::create_dir_all(context).map_err(|error| BuildError::failed(&doing, error))?;
    std::fs::copy(binary, context.join("echo"))
        .map_err(|error| BuildError::failed(&doing, error))?;
    Ok(())
}

/// The line of a tool's stderr that says what went wrong, for a one-line message.
fn first_error_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|line| line.contains("error"))
        .map(|line| format!(" ({})", line.trim()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64() -> EnginePlatform {
        EnginePlatform { arch: Arch::Amd64 }
    }

    fn arm64() -> EnginePlatform {
        EnginePlatform { arch: Arch::Arm64 }
    }

    fn rust() -> pins::Version {
        "1.95.0".parse().unwrap()
    }

    fn host(triple: &str, linker: Option<&str>) -> EchoPath {
        EchoPath::Host {
            triple: triple.to_owned(),
            rustflags: "-C target-feature=+crt-static".to_owned(),
            linker: linker.map(str::to_owned),
        }
    }

    #[test]
    fn the_path_follows_the_engine_platform_from_any_host() {
        let cases = [
            // (engine, host os, host arch, rust image available, expected)
            (
                amd64(),
                "linux",
                "x86_64",
                false,
                host("x86_64-unknown-linux-gnu", None),
            ),
            (
                arm64(),
                "linux",
                "aarch64",
                false,
                host("aarch64-unknown-linux-gnu", None),
            ),
            // kind on an arm64 engine driven from an amd64 Linux host, and the reverse.
            (
                arm64(),
                "linux",
                "x86_64",
                false,
                host("aarch64-unknown-linux-musl", Some("rust-lld")),
            ),
            (
                amd64(),
                "linux",
                "aarch64",
                false,
                host("x86_64-unknown-linux-musl", Some("rust-lld")),
            ),
            // macOS: Docker Desktop runs a Linux VM of the Mac's architecture.
            (
                arm64(),
                "macos",
                "aarch64",
                false,
                host("aarch64-unknown-linux-musl", Some("rust-lld")),
            ),
            (
                amd64(),
                "macos",
                "x86_64",
                false,
                host("x86_64-unknown-linux-musl", Some("rust-lld")),
            ),
        ];
        for (engine, os, arch, available, expected) in cases {
            assert_eq!(
                choose_path(engine, os, arch, &rust(), available),
                expected,
                "{engine} from {os}/{arch}"
            );
        }
        for (engine, os, arch) in [(amd64(), "linux", "x86_64"), (arm64(), "macos", "aarch64")] {
            assert_eq!(
                choose_path(engine, os, arch, &rust(), true),
                EchoPath::InImage {
                    base_image: "rust:1.95.0".to_owned()
                }
            );
        }
    }

    fn request(engine: EnginePlatform, host_os: &str, host_arch: &str) -> EchoRequest {
        EchoRequest {
            root: PathBuf::from("/repo"),
            tag: "release-gate/echo:v0.1.0".to_owned(),
            engine,
            host_os: host_os.to_owned(),
            host_arch: host_arch.to_owned(),
            rust: rust(),
            rust_image_available: false,
            cargo: PathBuf::from("cargo"),
            rustc: PathBuf::from("rustc"),
        }
    }

    #[test]
    fn the_host_plan_compiles_with_the_pinned_toolchain_for_the_engine() {
        let plan = plan(&request(arm64(), "macos", "aarch64")).unwrap();
        let commands: Vec<String> = plan.commands().iter().map(|cmd| cmd.to_string()).collect();
        assert_eq!(commands.len(), 2, "{commands:#?}");
        assert!(
            commands[0].contains("rustc +1.95.0 --print sysroot"),
            "{}",
            commands[0]
        );
        assert!(
            commands[1].contains(
                "cargo +1.95.0 build --release --locked -p echo --target aarch64-unknown-linux-musl --target-dir /repo/target/echo-image"
            ),
            "{}",
            commands[1]
        );
        let compile = plan.compile.as_ref().unwrap();
        let env: Vec<(String, Option<String>)> = compile
            .get_env()
            .iter()
            .map(|(key, value)| {
                (
                    key.to_string_lossy().into_owned(),
                    value.as_ref().map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert!(env.contains(&(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER".to_owned(),
            Some("rust-lld".to_owned())
        )));
        assert!(env.contains(&("RUSTC".to_owned(), None)), "{env:?}");
        assert_eq!(
            plan.binary.as_deref(),
            Some(Path::new(
                "/repo/target/echo-image/aarch64-unknown-linux-musl/release/echo"
            ))
        );
        assert_eq!(
            plan.image.dockerfile,
            Path::new("/repo/hack/echo/Dockerfile")
        );
        assert_eq!(
            plan.image.context,
            Some(PathBuf::from(format!(
                "/repo/target/echo-image/context/release-gate_echo_v0.1.0-{}",
                std::process::id()
            )))
        );
    }

    #[test]
    fn the_in_image_plan_runs_nothing_on_the_host() {
        let mut in_image = request(arm64(), "macos", "aarch64");
        in_image.rust_image_available = true;
        let plan = plan(&in_image).unwrap();
        assert!(plan.commands().is_empty());
        assert_eq!(
            plan.image.dockerfile,
            Path::new("/repo/hack/echo/Dockerfile.in-image")
        );
        assert_eq!(plan.image.context.as_deref(), Some(Path::new("/repo")));
    }

    #[test]
    fn a_bad_tag_is_refused_before_planning() {
        let mut bad = request(amd64(), "linux", "x86_64");
        bad.tag = "v1;rm -rf".to_owned();
        assert!(
            matches!(plan(&bad), Err(BuildError::BadInput(message)) if message.contains("is not an image reference"))
        );
    }
}

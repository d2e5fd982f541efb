//! image-build: container images built with the pinned toolchains, and the proof of which
//! toolchain compiled the binaries inside them.
//!
//! [`plan_build`] decides the `docker build` of a Dockerfile (the pinned `ARG`s it declares,
//! passed as `--build-arg`); [`run_build`] runs it, checks the image shows each pinned value in
//! a `LABEL` or `ENV`, exports the image's filesystem (`docker create` + `docker export`, no
//! container started) and reads the compiler each executable records ([`compiler`], judged in
//! [`proof`]). [`echo`] plans and builds the echo backend image for the engine's platform.
//!
//! This crate runs commands only through the [`exec::Shell`] it is given, never prints, never
//! reads the process environment and never pulls an image on its own initiative.

pub mod args;
pub mod compiler;
pub mod echo;
pub mod platform;
pub mod proof;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use args::PassedArg;
pub use proof::{Pinned, ToolchainProof};

/// A language whose toolchain is pinned (`[build] go`, `[build] rust`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Go,
    Rust,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Go, Language::Rust];

    /// The build argument and override variable carrying its version.
    pub fn build_arg(self) -> &'static str {
        match self {
            Language::Go => "GO_VERSION",
            Language::Rust => "RUST_VERSION",
        }
    }

    /// Its key in the `[build]` section of the pin file.
    pub fn pin_key(self) -> &'static str {
        match self {
            Language::Go => "go",
            Language::Rust => "rust",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Go => "Go",
            Language::Rust => "Rust",
        })
    }
}

/// Why a build did not produce a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// A mistake in what was asked (tag, Dockerfile, context, platform): nothing ran.
    BadInput(String),
    /// A step failed or something the build needs is missing: what was being done, and why
    /// (with how to fix it where that is known).
    Failed { doing: String, cause: String },
}

impl BuildError {
    fn failed(doing: impl Into<String>, cause: impl fmt::Display) -> BuildError {
        BuildError::Failed {
            doing: doing.into(),
            cause: cause.to_string(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BadInput(message) => f.write_str(message),
            BuildError::Failed { doing, cause } => write!(f, "{doing}: {cause}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// What to build: a Dockerfile, the tag, and the build context (default: the Dockerfile's
/// folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    pub dockerfile: PathBuf,
    pub tag: String,
    pub context: Option<PathBuf>,
}

/// A build decided before anything runs: what `--dry-run` shows and [`run_build`] runs.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub dockerfile: PathBuf,
    pub tag: String,
    pub context: PathBuf,
    /// The pinned ARGs passed, and the LABEL/ENV keys that must show them.
    pub args: Vec<PassedArg>,
    /// The toolchain versions the binaries must have been compiled with.
    pub pinned: Pinned,
}

impl BuildPlan {
    /// The `docker build` command, with each passed pin as one `--build-arg`.
    pub fn command(&self, docker: &docker::Docker) -> exec::Cmd {
        let build_args: Vec<(String, String)> = self
            .args
            .iter()
            .map(|arg| (arg.name.clone(), arg.value.clone()))
            .collect();
        docker.build(&self.dockerfile, &self.tag, &self.context, &build_args)
    }
}

/// Decides the build: checks the tag and context, reads the Dockerfile and picks the pinned
/// `ARG`s it declares. Every mistake is [`BuildError::BadInput`], found before anything runs.
pub fn plan_build(request: &BuildRequest, pins: &pins::Pins) -> Result<BuildPlan, BuildError> {
    docker::reference::validate(&request.tag)
        .map_err(|error| BuildError::BadInput(format!("--tag: {error}")))?;
    let display_path = request.dockerfile.display().to_string();
    let text = std::fs::read_to_string(&request.dockerfile).map_err(|error| {
        BuildError::BadInput(format!(
            "cannot read the Dockerfile {display_path}: {error}; pass --file with the path of a Dockerfile"
        ))
    })?;
    let context = match &request.context {
        Some(dir) => dir.clone(),
        None => request
            .dockerfile
            .parent()
            .map(Path::to_path_buf)
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    if !context.is_dir() {
        return Err(BuildError::BadInput(format!(
            "the build context {} is not a folder; pass --context DIR",
            context.display()
        )));
    }
    let args = args::plan(&display_path, &text, pins).map_err(BuildError::BadInput)?;
    Ok(BuildPlan {
        dockerfile: request.dockerfile.clone(),
        tag: request.tag.clone(),
        context,
        args,
        pinned: Pinned::from_pins(pins),
    })
}

/// What a build produced and what the checks found.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub tag: String,
    /// The image ID (`sha256:…`) the build produced.
    pub image_id: String,
    pub dockerfile: PathBuf,
    pub build_args: Vec<PassedArg>,
    /// Every executable in the image, what compiled it and how that compares with the pins.
    pub toolchain: ToolchainProof,
    /// Why the image fails its checks (labels, then binaries); empty when it passes.
    pub problems: Vec<String>,
    /// What could not be checked, said without failing.
    pub notices: Vec<String>,
    /// Whether the failed image was removed, so that no wrong image sits under the tag.
    pub removed: bool,
}

impl BuildReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs a planned build, then proves it: the image shows each pinned value in its labels or
/// environment, and every Go or Rust executable inside was compiled by the pinned toolchain.
/// An image that fails is removed (best effort; [`BuildReport::removed`] says whether it was).
pub fn run_build(
    sh: &exec::Shell,
    docker: &docker::Docker,
    plan: &BuildPlan,
) -> Result<BuildReport, BuildError> {
    let display_path = plan.dockerfile.display().to_string();
    sh.run(&plan.command(docker))
        .map_err(|error| BuildError::failed(format!("building {display_path}"), error))?;
    let inspected = sh
        .run(&docker.image_inspect(&plan.tag))
        .map_err(|error| BuildError::failed(format!("inspecting {}", plan.tag), error))?;
    let image = docker::parse_image_inspect(&inspected.stdout_str()).map_err(|error| {
        BuildError::failed(format!("reading the inspection of {}", plan.tag), error)
    })?;
    let mut problems: Vec<String> = args::verify(&plan.args, &image)
        .into_iter()
        .map(|problem| format!("{display_path}: {problem}"))
        .collect();

    let binaries = image_executables(sh, docker, &plan.tag)?;
    let declared: Vec<Language> = Language::ALL
        .into_iter()
        .filter(|language| plan.args.iter().any(|arg| arg.name == language.build_arg()))
        .collect();
    let toolchain = proof::judge(binaries, &plan.pinned, &declared);
    problems.extend(toolchain.problems());
    let notices = toolchain.notices();

    // A tag on an image that failed its check would be used by the next step as if it were good.
    let removed = !problems.is_empty() && sh.run(&docker.image_untag(&plan.tag)).is_ok();
    Ok(BuildReport {
        tag: plan.tag.clone(),
        image_id: image.id,
        dockerfile: plan.dockerfile.clone(),
        build_args: plan.args.clone(),
        toolchain,
        problems,
        notices,
        removed,
    })
}

/// The executables of an image and what compiled each, read from its exported filesystem: a
/// container is created (never started), exported to a temporary tar file and removed.
pub fn image_executables(
    sh: &exec::Shell,
    docker: &docker::Docker,
    image: &str,
) -> Result<Vec<proof::Binary>, BuildError> {
    let doing = format!("reading the executables of {image}");
    let created = sh
        .run(&docker.create_stopped(image))
        .map_err(|error| BuildError::failed(&doing, error))?;
    let container = created.stdout_str().trim().to_owned();
    let result = (|| {
        let dir = stdx::temp::TempDir::new("image-build-export-").map_err(|error| {
            BuildError::failed(&doing, format!("cannot create a temporary folder: {error}"))
        })?;
        let tar_path = dir.path().join("filesystem.tar");
        sh.run(&docker.export(&container, &tar_path))
            .map_err(|error| BuildError::failed(&doing, error))?;
        proof::executables_in_export(&tar_path).map_err(|error| {
            BuildError::failed(
                &doing,
                format!("cannot read the exported filesystem: {error}"),
            )
        })
    })();
    // The container only existed to be exported; a failure to remove it must not hide the
    // result, and leaves a stopped container docker lists.
    let _ = sh.run(&docker.container_remove(&container));
    result
}

impl stdx::MaybeBadInput for BuildError {
    fn bad_input(&self) -> Option<stdx::BadInput> {
        match self {
            BuildError::BadInput(message) => Some(stdx::BadInput::new(message.clone())),
            _ => None,
        }
    }
}

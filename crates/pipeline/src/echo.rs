//! The echo backend image as a pipeline stage: crates/echo compiled as a static Linux binary,
//! staged alone as the build context of `hack/echo/Dockerfile`, built with every pinned `ARG`
//! the Dockerfile declares, and recorded by image ID so the cluster loads exactly this build.

use std::path::{Path, PathBuf};

use cluster::images::RecordedImage;
use docker::Docker;
use exec::{Cmd, Shell};

use crate::graph::Failure;

/// Where the image comes from and what it is called.
#[derive(Debug, Clone)]
pub struct EchoBuild {
    pub root: PathBuf,
    /// The cargo that builds it (`$CARGO` when cargo runs us).
    pub cargo: PathBuf,
    pub docker: Docker,
    /// The pinned echo image tag.
    pub tag: String,
    /// The pinned build arguments (name, value); only those the Dockerfile declares are passed.
    pub build_args: Vec<(String, String)>,
}

const TRIPLE: &str = "x86_64-unknown-linux-gnu";

impl EchoBuild {
    fn target_dir(&self) -> PathBuf {
        self.root.join("target/echo-image")
    }

    fn context_dir(&self) -> PathBuf {
        self.target_dir().join("context")
    }

    fn dockerfile(&self) -> PathBuf {
        self.root.join("hack/echo/Dockerfile")
    }

    /// `cargo build --release --locked -p echo --target … --target-dir …`, static.
    pub fn compile(&self) -> Cmd {
        Cmd::new(&self.cargo, "build the echo backend as a static binary")
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "echo",
                "--target",
                TRIPLE,
            ])
            .arg("--target-dir")
            .arg(self.target_dir())
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .cwd(&self.root)
    }

    /// `docker build` of the staged context with the pinned ARGs the Dockerfile declares.
    pub fn image(&self, declared: &[String]) -> Cmd {
        let args: Vec<(String, String)> = self
            .build_args
            .iter()
            .filter(|(name, _)| declared.contains(name))
            .cloned()
            .collect();
        self.docker
            .build(&self.dockerfile(), &self.tag, &self.context_dir(), &args)
            .timeout(std::time::Duration::from_secs(600))
    }
}

/// Builds and records the image (in a dry run: plans both commands).
pub fn build(sh: &Shell, spec: &EchoBuild) -> Result<RecordedImage, Failure> {
    let dockerfile = std::fs::read_to_string(spec.dockerfile()).map_err(|error| {
        Failure::infra(format!("read {}: {error}", spec.dockerfile().display()))
    })?;
    let declared: Vec<String> = docker::dockerfile::parse(&dockerfile)
        .args
        .into_iter()
        .map(|arg| arg.name)
        .collect();
    let infra = |what: &str| {
        let what = what.to_owned();
        move |error: exec::ExecError| match error.cancelled() {
            Some(reason) => Failure::cancelled(reason.clone(), format!("{what}: {error}")),
            None => Failure::infra(format!("{what}: {error}")),
        }
    };
    sh.run(&spec.compile())
        .map_err(infra("compiling the echo backend"))?;
    if !sh.is_dry_run() {
        let binary = spec.target_dir().join(TRIPLE).join("release/echo");
        stage(&binary, &spec.context_dir())
            .map_err(|error| Failure::infra(format!("staging the echo binary: {error}")))?;
    }
    sh.run(&spec.image(&declared))
        .map_err(infra("building the echo image"))?;
    if sh.is_dry_run() {
        return Ok(RecordedImage {
            reference: spec.tag.clone(),
            id: "<the built image ID>".to_owned(),
        });
    }
    let output = sh
        .run(&spec.docker.image_inspect(&spec.tag))
        .map_err(infra("inspecting the echo image"))?;
    let info = docker::parse_image_inspect(&output.stdout_str())
        .map_err(|error| Failure::infra(format!("inspecting the echo image: {error}")))?;
    Ok(RecordedImage {
        reference: spec.tag.clone(),
        id: info.id,
    })
}

fn stage(binary: &Path, context: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(context)?;
    std::fs::copy(binary, context.join("echo"))?;
    Ok(())
}

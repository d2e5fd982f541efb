//! The echo backend image as a pipeline stage, through `image_build::echo`: compiled with the
//! pinned Rust toolchain for the Docker engine's platform, built with the pinned `ARG`s, proven
//! by the compiler its binary records, and recorded by image ID so the cluster loads exactly
//! this build. A dry run asks no engine: it plans for the host's architecture and says so.

use std::path::PathBuf;

use cluster::images::RecordedImage;
use docker::Docker;
use exec::Shell;
use image_build::echo::{self, EchoRequest, EnginePlatform};
use image_build::platform::Arch;

use crate::graph::{Class, Failure};

/// What the step says, and the image it recorded.
pub struct Built {
    pub image: RecordedImage,
    pub lines: Vec<String>,
}

fn failure(error: image_build::BuildError, shell: &Shell) -> Failure {
    match (shell.cancel().reason(), error) {
        (Some(reason), error) => Failure::cancelled(reason, error.to_string()),
        (None, image_build::BuildError::BadInput(message)) => Failure {
            class: Class::BadInput,
            message,
        },
        (None, error) => Failure::infra(error.to_string()),
    }
}

/// Whether the host compile failed for want of the pinned toolchain (or its target), rather
/// than for a fault of the build itself.
pub fn toolchain_missing(error: &image_build::BuildError) -> bool {
    matches!(error, image_build::BuildError::Failed { doing, .. }
        if doing.starts_with("finding the pinned Rust"))
}

/// Plans and builds the echo image `tag` (a dry run plans the commands only); without the
/// pinned toolchain on the host, it compiles inside the pinned rust image instead.
pub fn build(
    sh: &Shell,
    docker: &Docker,
    root: PathBuf,
    tag: &str,
    pins: &pins::Pins,
) -> Result<Built, Failure> {
    let mut lines = Vec::new();
    let engine = if sh.is_dry_run() {
        let arch = Arch::parse(std::env::consts::ARCH).unwrap_or(Arch::Amd64);
        lines.push(format!(
            "platform: linux/{} (the host's; the real run asks the engine)",
            arch.as_str()
        ));
        EnginePlatform { arch }
    } else {
        echo::query_engine_platform(sh, docker).map_err(|error| failure(error, sh))?
    };
    let request = EchoRequest {
        root,
        tag: tag.to_owned(),
        engine,
        host_os: std::env::consts::OS.to_owned(),
        host_arch: std::env::consts::ARCH.to_owned(),
        rust: pins.build.rust.clone(),
        rust_image_available: !sh.is_dry_run()
            && echo::rust_image_present(sh, docker, &pins.build.rust),
        // The rustup proxies: `+<version>` picks the pinned toolchain.
        cargo: PathBuf::from("cargo"),
        rustc: PathBuf::from("rustc"),
    };
    let plan = echo::plan(&request).map_err(|error| failure(error, sh))?;
    lines.push(format!(
        "{}, Rust {} (pinned), path: {}",
        plan.platform, plan.rust, plan.path
    ));
    if sh.is_dry_run() {
        for cmd in plan.commands() {
            let _ = sh.run(cmd);
        }
        // The context is staged by the compile, so it does not exist yet: plan the build from
        // the Dockerfile and the pins alone.
        let dockerfile = &plan.image.dockerfile;
        let text = std::fs::read_to_string(dockerfile)
            .map_err(|error| Failure::infra(format!("read {}: {error}", dockerfile.display())))?;
        let args = image_build::args::plan(&dockerfile.display().to_string(), &text, pins)
            .map_err(Failure::infra)?;
        let image = image_build::BuildPlan {
            dockerfile: dockerfile.clone(),
            tag: tag.to_owned(),
            context: plan.image.context.clone().unwrap_or_default(),
            args,
            pinned: image_build::Pinned::from_pins(pins),
        };
        let _ = sh.run(&image.command(docker));
        lines.push(
            "then the toolchain proof reads the compiler recorded in every binary of the image"
                .to_owned(),
        );
        return Ok(Built {
            image: RecordedImage {
                reference: tag.to_owned(),
                id: "<the built image ID>".to_owned(),
            },
            lines,
        });
    }
    let report = match echo::build(sh, docker, &plan, pins) {
        Ok(report) => report,
        // No pinned toolchain on this host: the pinned rust image compiles it instead, which
        // docker pulls where a registry is reachable (the toolchain is then the pinned one by
        // construction, and the proof reads the binary either way).
        Err(error) if toolchain_missing(&error) => {
            lines.push(format!(
                "{error}; compiling inside {} instead (docker pulls it)",
                echo::rust_image(&pins.build.rust)
            ));
            let inside = echo::plan(&EchoRequest {
                rust_image_available: true,
                ..request
            })
            .map_err(|error| failure(error, sh))?;
            echo::build(sh, docker, &inside, pins).map_err(|second| {
                let mut failed = failure(second, sh);
                failed.message = format!(
                    "{}; the host has no pinned toolchain either: {error}",
                    failed.message
                );
                failed
            })?
        }
        Err(error) => return Err(failure(error, sh)),
    };
    if !report.passed() {
        return Err(Failure::infra(format!(
            "the echo image {tag} failed its checks: {}",
            report.problems.join("; ")
        )));
    }
    lines.extend(report.toolchain.summary());
    Ok(Built {
        image: RecordedImage {
            reference: tag.to_owned(),
            id: report.image_id,
        },
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_toolchain_falls_back_to_the_rust_image() {
        let missing = image_build::BuildError::Failed {
            doing: "finding the pinned Rust 1.95.0 toolchain".to_owned(),
            cause: "Rust 1.95.0 is not installed".to_owned(),
        };
        assert!(toolchain_missing(&missing));
        let compile = image_build::BuildError::Failed {
            doing: "compiling the echo backend".to_owned(),
            cause: "error[E0308]".to_owned(),
        };
        assert!(!toolchain_missing(&compile));
        assert!(!toolchain_missing(&image_build::BuildError::BadInput(
            "--tag".to_owned()
        )));
    }
}

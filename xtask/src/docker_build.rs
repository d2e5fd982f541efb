//! docker-build: `docker build` with every pinned ARG the Dockerfile declares passed as
//! `--build-arg`, and only those; then proof that the image carries the pinned values.
//!
//! Kubernetes' KMS e2e image broke because one build forgot `--build-arg GO_VERSION`. Here the
//! Dockerfile's own `ARG` lines decide what is passed, and the built image must show each value
//! in a `LABEL` or `ENV` of its final stage that is set from the ARG; otherwise the build fails
//! and the image is removed, so a wrong image never sits under the tag.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use docker::dockerfile::{self, MetaKind};
use pins::{Pins, ToolName};

use crate::ui;

#[derive(clap::Args)]
pub struct Args {
    /// The Dockerfile
    #[arg(long)]
    pub file: PathBuf,
    /// The tag to give the image (`name:tag`)
    #[arg(long)]
    pub tag: String,
    /// The build context (default: the Dockerfile's folder)
    #[arg(long)]
    pub context: Option<PathBuf>,
}

/// Build arguments BuildKit and the legacy builder define themselves: declaring them without a
/// default is normal.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// A pin the build passes, and the final-stage entries that must show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedArg {
    pub name: String,
    pub value: String,
    /// `(LABEL or ENV, key)` set from the ARG in the final stage.
    pub proofs: Vec<(MetaKind, String)>,
}

/// Decides the build arguments for a Dockerfile: each declared ARG that names a pin, once.
/// An ARG with neither a default nor a pin is bad input (nothing would ever set it).
pub fn plan(display_path: &str, text: &str, pins: &Pins) -> anyhow::Result<Vec<PassedArg>> {
    let parsed = dockerfile::parse(text);
    let mut passed: Vec<PassedArg> = Vec::new();
    for arg in &parsed.args {
        if let Some(value) = pins.build_arg(&arg.name) {
            if !passed.iter().any(|p| p.name == arg.name) {
                let proofs = parsed
                    .final_stage_meta()
                    .filter(|entry| entry.references(&arg.name))
                    .map(|entry| (entry.kind, entry.key.clone()))
                    .collect();
                passed.push(PassedArg {
                    name: arg.name.clone(),
                    value,
                    proofs,
                });
            }
        } else if arg.default.is_none() && !PREDEFINED_ARGS.contains(&arg.name.as_str()) {
            let pinned: Vec<&str> = pins.build_args().iter().map(|a| a.name).collect();
            return Err(crate::bad_input(format!(
                "{display_path}:{}: ARG {} has no default and is not a pin in {}, so nothing would set it; give it a default (`ARG {}=value`) or use one of the pinned names ({})",
                arg.line,
                arg.name,
                pins::PIN_FILE,
                arg.name,
                pinned.join(", ")
            )));
        }
    }
    Ok(passed)
}

/// What the inspected image says about each passed pin: an empty list means proven.
pub fn verify(passed: &[PassedArg], image: &docker::ImageInfo) -> Vec<String> {
    let mut problems = Vec::new();
    for arg in passed {
        if arg.proofs.is_empty() {
            problems.push(format!(
                "{} is passed but no LABEL or ENV of the final stage is set from it, so the image cannot show it was built with {}={}; add `ARG {}` after the last FROM and `LABEL <key>=${}`",
                arg.name, arg.name, arg.value, arg.name, arg.name
            ));
            continue;
        }
        for (kind, key) in &arg.proofs {
            let (what, shown) = match kind {
                MetaKind::Label => ("label", image.label(key)),
                MetaKind::Env => ("env", image.env_var(key)),
            };
            match shown {
                Some(value) if value == arg.value => {}
                Some(value) => problems.push(format!(
                    "{what} {key} is `{value}`, but the pinned {} is `{}`: the ARG did not reach the final stage (declare `ARG {}` after the last FROM)",
                    arg.name, arg.value, arg.name
                )),
                None => problems.push(format!(
                    "the image has no {what} {key}, which should carry {}={}",
                    arg.name, arg.value
                )),
            }
        }
    }
    problems
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    docker::reference::validate(&args.tag)
        .map_err(|error| crate::bad_input(format!("--tag: {error}")))?;
    let display_path = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|error| {
        crate::bad_input(format!(
            "cannot read the Dockerfile {display_path}: {error}; pass --file with the path of a Dockerfile"
        ))
    })?;
    let build_context = match args.context {
        Some(dir) => dir,
        None => args
            .file
            .parent()
            .map(Path::to_path_buf)
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    if !build_context.is_dir() {
        return Err(crate::bad_input(format!(
            "the build context {} is not a folder; pass --context DIR",
            build_context.display()
        )));
    }
    let context = crate::tools::context()?;
    let passed = plan(&display_path, &text, &context.pins)?;

    let sh = exec::Shell::new();
    let resolution = tools::resolve(&sh, &context, ToolName::Docker);
    for notice in &resolution.notices {
        ui::warn(notice);
    }
    let docker = docker::Docker::new(resolution.program()?);
    let build_args: Vec<(String, String)> = passed
        .iter()
        .map(|arg| (arg.name.clone(), arg.value.clone()))
        .collect();
    let build = docker.build(&args.file, &args.tag, &build_context, &build_args);
    ui::info(&build.to_string());
    sh.run(&build)
        .with_context(|| format!("building {display_path}"))?;

    let inspected = sh
        .run(&docker.image_inspect(&args.tag))
        .with_context(|| format!("inspecting {}", args.tag))?;
    let image = docker::parse_image_inspect(&inspected.stdout_str())
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("reading the inspection of {}", args.tag))?;
    let problems = verify(&passed, &image);
    if problems.is_empty() {
        for arg in &passed {
            let keys: Vec<String> = arg.proofs.iter().map(|(_, key)| key.clone()).collect();
            ui::info(&format!(
                "{}={} shown by {}",
                arg.name,
                arg.value,
                keys.join(", ")
            ));
        }
        ui::out(&format!("built {} ({})", args.tag, image.id));
        return Ok(ExitCode::SUCCESS);
    }
    // A tag on an image that failed its check would be used by the next step as if it were good.
    if let Err(error) = sh.run(&docker.image_remove(&args.tag)) {
        ui::warn(&format!(
            "could not remove {} after the failed check: {error}",
            args.tag
        ));
    }
    for problem in &problems {
        ui::error(&format!("{display_path}: {problem}"));
    }
    ui::error(&format!(
        "{} does not carry the pinned values; the image was removed",
        args.tag
    ));
    Ok(ExitCode::FAILURE)
}

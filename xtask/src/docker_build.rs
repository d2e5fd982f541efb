//! docker-build: `docker build` with every pinned ARG the Dockerfile declares passed as
//! `--build-arg`, and only those; then proof that the image carries the pinned values and that
//! its binaries were compiled by the pinned Go and Rust toolchains.
//!
//! The work is `image_build::plan_build` and `image_build::run_build`; this module parses the
//! arguments and renders the report. An image that fails a check is removed, so a wrong image
//! never sits under the tag.

use std::path::PathBuf;
use std::process::ExitCode;

use image_build::{BuildReport, BuildRequest};
use pins::ToolName;

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
    /// Print the report (build args, every binary checked and what compiled it) as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    args: Args,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    // Bad input is refused before anything runs: not even docker is looked up.
    docker::reference::validate(&args.tag)
        .map_err(|error| crate::bad_input(format!("--tag: {error}")))?;
    let request = BuildRequest {
        dockerfile: args.file,
        tag: args.tag,
        context: args.context,
    };
    let plan = image_build::plan_build(&request, &settings.pins).map_err(crate::lib_error)?;

    let sh = exec::Shell::new().with_cancel(token.clone());
    let docker = docker_cli(&sh, settings)?;
    ui::info(&plan.command(&docker).to_string());
    let report = image_build::run_build(&sh, &docker, &plan).map_err(crate::lib_error)?;
    Ok(render(&report, args.json))
}

/// The docker CLI as `tools` resolves it ($DOCKER, then PATH), with its notices shown.
pub fn docker_cli(
    sh: &exec::Shell,
    settings: &settings::Settings,
) -> anyhow::Result<docker::Docker> {
    let resolution = tools::resolve(sh, &settings.tools, ToolName::Docker);
    for notice in &resolution.notices {
        ui::warn(notice);
    }
    Ok(docker::Docker::new(resolution.program()?))
}

/// Shows a build report: the pins each label or env shows, what compiled each binary, what
/// could not be checked, and the verdict (or the report as JSON on stdout).
pub fn render(report: &BuildReport, json: bool) -> ExitCode {
    for arg in &report.build_args {
        let keys: Vec<&str> = arg.proofs.iter().map(|proof| proof.key.as_str()).collect();
        if !keys.is_empty() {
            ui::info(&format!(
                "{}={} shown by {}",
                arg.name,
                arg.value,
                keys.join(", ")
            ));
        }
    }
    for line in report.toolchain.summary() {
        ui::info(&format!("binary {line}"));
    }
    for notice in &report.notices {
        ui::warn(notice);
    }
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => ui::out(&text),
            Err(error) => ui::error(&format!("cannot render the report as JSON: {error}")),
        }
    }
    if report.passed() {
        if !json {
            ui::out(&format!("built {} ({})", report.tag, report.image_id));
        }
        return ExitCode::SUCCESS;
    }
    for problem in &report.problems {
        ui::error(problem);
    }
    ui::error(&format!(
        "{} failed its checks (pinned values in labels, toolchains of its binaries); {}",
        report.tag,
        if report.removed {
            "the image was removed"
        } else {
            "removing the image failed: remove it with `docker image rm` before using the tag"
        }
    ));
    ExitCode::FAILURE
}

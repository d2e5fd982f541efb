//! echo-image: the echo backend image (crates/echo, `hack/echo/`) for the docker engine's
//! platform, compiled with the pinned Rust toolchain and proven by the binary it contains.
//!
//! The plan and the build are `image_build::echo`; this module gathers the values it needs
//! (engine platform, host, pins, whether the pinned rust image is there) and renders.

use std::path::PathBuf;
use std::process::ExitCode;

use image_build::echo::{self, EchoPath, EchoRequest, EnginePlatform};

use crate::{bad_input, ui};

#[derive(clap::Args)]
pub struct Args {
    /// Image tag (default: the pinned echo image, hack/versions.toml [images] echo)
    #[arg(long)]
    pub tag: Option<String>,
    /// Build for this platform, linux/amd64 or linux/arm64 (default: the docker engine's)
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Compile inside the image from the pinned rust image, pulling it when missing (default:
    /// only when the engine already has it; otherwise compile on the host)
    #[arg(long)]
    pub in_image: bool,
    /// Print the chosen path, platform and commands, and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the build report (every binary checked and what compiled it) as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    args: Args,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    // Bad input is refused before anything runs or compiles.
    if let Some(tag) = &args.tag {
        docker::reference::validate(tag).map_err(|error| bad_input(format!("--tag: {error}")))?;
    }
    let platform: Option<EnginePlatform> = args
        .platform
        .as_deref()
        .map(|text| {
            text.parse()
                .map_err(|error| bad_input(format!("--platform: {error}")))
        })
        .transpose()?;
    let pins = &settings.pins;
    let tag = args.tag.clone().unwrap_or_else(|| pins.images.echo.clone());
    let sh = exec::Shell::new().with_cancel(token.clone());

    // A dry run asks no engine: without --platform it plans for the host's architecture.
    let docker = if args.dry_run {
        None
    } else {
        Some(crate::docker_build::docker_cli(&sh, settings)?)
    };
    let (engine, platform_source) = match (platform, &docker) {
        (Some(platform), _) => (platform, "--platform"),
        (None, Some(docker)) => (
            echo::query_engine_platform(&sh, docker).map_err(crate::lib_error)?,
            "the docker engine's",
        ),
        (None, None) => (
            EnginePlatform {
                arch: image_build::platform::Arch::parse(&settings.host.arch)
                    .unwrap_or(image_build::platform::Arch::Amd64),
            },
            "the host's: a dry run asks no engine; the real run builds for the engine's, or pass --platform",
        ),
    };
    let rust_image = echo::rust_image(&pins.build.rust);
    let rust_image_available = args.in_image
        || docker
            .as_ref()
            .is_some_and(|docker| echo::rust_image_present(&sh, docker, &pins.build.rust));
    let request = EchoRequest {
        root: settings.root.clone(),
        tag,
        engine,
        host_os: settings.host.os.clone(),
        host_arch: settings.host.arch.clone(),
        rust: pins.build.rust.clone(),
        rust_image_available,
        // The rustup proxies: `+<version>` picks the toolchain. ($CARGO is the toolchain's
        // own cargo, which does not understand `+<version>`.)
        cargo: PathBuf::from("cargo"),
        rustc: PathBuf::from("rustc"),
    };
    let plan = echo::plan(&request).map_err(crate::lib_error)?;

    let show = |line: &str| {
        if args.dry_run {
            ui::out(line);
        } else {
            ui::info(line);
        }
    };
    show(&format!("echo image {}", request.tag));
    show(&format!("platform: {} ({platform_source})", plan.platform));
    show(&format!("path: {}", plan.path));
    if let EchoPath::Host { .. } = plan.path {
        show(&format!(
            "why: {} (pass --in-image to pull it and compile inside)",
            if docker.is_some() {
                format!("the engine has no {rust_image} image")
            } else {
                format!("the engine was not asked for {rust_image} (a dry run asks no engine)")
            }
        ));
    }
    show(&format!(
        "toolchain: Rust {} (the pin: [build] rust in {}, or RUST_VERSION)",
        plan.rust,
        pins::PIN_FILE
    ));
    for cmd in plan.commands() {
        show(&format!("$ {cmd}"));
    }
    let dockerfile = plan
        .image
        .dockerfile
        .strip_prefix(&request.root)
        .unwrap_or(&plan.image.dockerfile)
        .display()
        .to_string();
    let build_context = plan.image.context.clone().unwrap_or_default();
    show(&format!(
        "then: docker-build --file {dockerfile} --context {} --tag {}, and the toolchain proof of its binaries",
        build_context.strip_prefix(&request.root).map_or_else(
            |_| build_context.display().to_string(),
            |relative| {
                let relative = relative.display().to_string();
                if relative.is_empty() {
                    ".".to_owned()
                } else {
                    relative
                }
            }
        ),
        request.tag
    ));
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let docker = docker.expect("docker is resolved unless this is a dry run");
    let report = echo::build(&sh, &docker, &plan, pins).map_err(crate::lib_error)?;
    Ok(crate::docker_build::render(&report, args.json))
}

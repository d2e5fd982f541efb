//! xtask: the workspace's command line. A flat match over subcommands; each subcommand lives in
//! its own module and owns its `run`. Exit codes: 0 success, 1 a check or case failed (or the
//! run broke), 2 bad input (usage, config, pin file), with nothing half-written.

mod artifacts;
mod bench;
mod conformance;
mod docker_build;
mod echo_image;
mod kind;
mod render;
mod tools;
mod ui;
mod verify_release;
mod versions;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Release gate for Gateway API implementations",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch a published release, install it on a throwaway kind cluster and run the suite
    VerifyRelease(verify_release::Args),
    /// Create (or reuse) the pinned developer cluster
    KindUp(kind::UpArgs),
    /// Delete the developer cluster
    KindDown(kind::DownArgs),
    /// Check or install the pinned kind, kubectl and helm
    #[command(subcommand)]
    Tools(tools::Command),
    /// Check every place that states a pinned version against hack/versions.toml
    #[command(subcommand)]
    Versions(versions::Command),
    /// docker build with every pinned ARG passed, then prove the image carries the pins
    DockerBuild(docker_build::Args),
    /// Fetch and verify a release's assets and images
    #[command(subcommand)]
    Artifacts(artifacts::Command),
    /// Run the conformance suite against a gateway
    Conformance(conformance::Args),
    /// Build the echo backend image for the engine's platform with the pinned Rust, then prove it
    EchoImage(echo_image::Args),
    /// Benchmarks: throughput, latency and statistical error rates
    #[command(subcommand)]
    Bench(bench::Command),
}

/// Builds an error that exits with code 2: a mistake in what the user gave (arguments, config,
/// pin file, environment).
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(stdx::BadInput::new(message))
}

/// A library's error as the xtask reports it: the one exit-code mapping. Bad input (wherever
/// the library found it) exits 2; anything else is the command's failure.
pub fn lib_error<E>(error: E) -> anyhow::Error
where
    E: stdx::MaybeBadInput + std::error::Error + Send + Sync + 'static,
{
    match error.bad_input() {
        Some(bad) => anyhow::Error::new(bad),
        None => anyhow::Error::new(error),
    }
}

/// Loads the settings every subcommand shares, once, from this process's environment.
fn settings(config: Option<PathBuf>) -> anyhow::Result<settings::Settings> {
    let settings = settings::Settings::load(
        &settings::Request {
            root: workspace_root(),
            config,
        },
        settings::Env::new(std::env::vars()),
    )?;
    for notice in &settings.notices {
        ui::notice(notice);
    }
    Ok(settings)
}

/// The workspace root: where `hack/versions.toml` and `target/` live.
pub fn workspace_root() -> PathBuf {
    // `cargo xtask` (cargo run) sets CARGO_MANIFEST_DIR for the checkout it runs in: a binary
    // built in one checkout and run from another must read the files of the one it runs in.
    // Run directly, without cargo, it falls back to the checkout it was built from.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
}

/// Turns SIGINT, SIGTERM and SIGHUP into a cancellation of `token`, with the signal as its
/// reason: every wait, download and command of the run observes it, the callers unwind through
/// their cleanup (log export, cluster deletion, guards), and the process exits 128 + signal.
/// Children run in their own process groups, so a terminal's Ctrl-C reaches only us.
fn watch_signals(token: &cancel::Token) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(signals) => signals,
        Err(error) => {
            ui::warn(&format!(
                "cannot install the signal handler: {error}; Ctrl-C will skip cleanup"
            ));
            return;
        }
    };
    let token = token.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if token.cancel(cancel::Reason::Signal(signal)) {
                ui::warn(&format!(
                    "{}: stopping running commands, then cleaning up",
                    cancel::Reason::Signal(signal)
                ));
            } else {
                ui::warn("cleanup is in progress and will finish by itself; it has timeouts");
            }
        }
    });
}

/// The `--config` a subcommand was given (the default target when None).
fn config_of(command: &Command) -> Option<PathBuf> {
    match command {
        Command::VerifyRelease(args) => args.config.clone(),
        Command::KindUp(args) => args.config.clone(),
        Command::Artifacts(artifacts::Command::Fetch(args)) => args.config.clone(),
        Command::Conformance(args) => args.config.clone(),
        _ => None,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let token = cancel::Token::new();
    watch_signals(&token);
    let result = match cli.command {
        // Both read trees and build environments of their own: `versions check --root` reads
        // another checkout's pin file, and the benchmarks run the product against fakes.
        Command::Versions(command) => versions::run(command),
        Command::Bench(command) => bench::run(command),
        command => settings(config_of(&command)).and_then(|settings| match command {
            Command::VerifyRelease(args) => verify_release::run(args, &settings, &token),
            Command::KindUp(args) => kind::up(args, &settings, &token),
            Command::KindDown(args) => kind::down(args, &settings, &token),
            Command::Tools(command) => tools::run(command, &settings, &token),
            Command::DockerBuild(args) => docker_build::run(args, &settings, &token),
            Command::Artifacts(command) => artifacts::run(command, &settings, &token),
            Command::Conformance(args) => conformance::run(args, &settings, &token),
            Command::EchoImage(args) => echo_image::run(args, &settings, &token),
            Command::Versions(_) | Command::Bench(_) => unreachable!("matched above"),
        }),
    };
    if let Some(code) = token.reason().and_then(|reason| reason.signal_exit_code()) {
        if let Err(error) = &result {
            ui::error(&format!("{error:#}"));
        }
        return ExitCode::from(code);
    }
    match result {
        Ok(code) => code,
        Err(error) => {
            let bad = error
                .chain()
                .any(|cause| cause.downcast_ref::<stdx::BadInput>().is_some());
            ui::error(&format!("{error:#}"));
            ExitCode::from(if bad { 2 } else { 1 })
        }
    }
}

//! bench: measured targets (download throughput, request engine, statistics error rates).
//! Goals are reported as figures here, never asserted by timed tests.

mod artifacts;
mod conformance;
mod pipeline;
mod stats;

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Download throughput against curl on a local server
    Artifacts(artifacts::Args),
    /// Request engine throughput against wrk, and time to pass after consistency
    Conformance(conformance::Args),
    /// Monte Carlo error rates of the load-balancing and weight decisions
    Stats(stats::Args),
    /// verify-release's wall time against its step graph's lower bound (fake tools, fixed costs)
    Pipeline(pipeline::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    // The dev profile keeps dependencies unoptimized for the cold-build budget; figures from it
    // understate what the code does (downloads run at about a quarter of the optimized speed).
    if cfg!(debug_assertions) {
        crate::ui::warn(
            "this is a debug build, so throughput figures understate the code: measure with `cargo run --release -p xtask -- bench …`",
        );
    }
    match command {
        Command::Artifacts(args) => artifacts::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Pipeline(args) => pipeline::run(args),
    }
}

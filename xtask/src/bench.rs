//! bench: measured targets (download throughput, request engine, statistics error rates).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Download throughput against curl on a local server
    Artifacts,
    /// Request engine throughput against wrk, and time to pass after consistency
    Conformance,
    /// Monte Carlo error rates of the load-balancing and weight decisions
    Stats,
}

pub fn run(_command: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented")
}

//! conformance: runs the suite against a gateway, locally or on a cluster (issue: conformance).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented: see the conformance issue")
}

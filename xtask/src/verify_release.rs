//! verify-release: the whole release gate (composed by the pipeline issue once its crates land).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Repository of the release, OWNER/NAME (default: the configured target)
    #[arg(long)]
    pub repo: Option<String>,
    /// Release tag, or `latest`
    #[arg(long, default_value = "latest")]
    pub tag: String,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented: verify-release is composed by the pipeline issue")
}

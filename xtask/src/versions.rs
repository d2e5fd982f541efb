//! versions check: every place that states a pinned version agrees with hack/versions.toml.

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Compare; with --write, fix the files
    Check {
        #[arg(long)]
        write: bool,
    },
}

pub fn run(_command: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented")
}

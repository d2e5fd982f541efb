//! tools check / tools install: the pinned kind, kubectl and helm (issue: workspace foundation).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print a table of pinned versus found tools; exit non-zero on any mismatch
    Check,
    /// Download missing pinned tools into target/tools
    Install,
}

pub fn run(_command: Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented")
}

//! docker-build: builds a Dockerfile with every pinned ARG it declares passed as --build-arg.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub file: PathBuf,
    #[arg(long)]
    pub tag: String,
    #[arg(long)]
    pub context: Option<PathBuf>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented")
}

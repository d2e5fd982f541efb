//! kind-up / kind-down: the pinned developer cluster (issue: cluster).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct UpArgs {
    #[arg(long, default_value = "release-gate")]
    pub name: String,
}

#[derive(clap::Args)]
pub struct DownArgs {
    #[arg(long, default_value = "release-gate")]
    pub name: String,
}

pub fn up(_args: UpArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented: see the cluster issue")
}

pub fn down(_args: DownArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet implemented: see the cluster issue")
}

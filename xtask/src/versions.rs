//! versions check: every place in the repository that states a pinned version agrees with
//! `hack/versions.toml`, and `--write` makes it so.
//!
//! What counts as "stating a pinned version" is a short list of patterns ([`rules`]): Dockerfile
//! `ARG GO_VERSION=…` defaults and `FROM golang:…`/`FROM rust:…`, workflow `go-version:`,
//! `toolchain:` and `KIND_VERSION:` lines, `kindest/node:` references anywhere, release download
//! URLs of kind, kubectl, helm and Gateway API in docs and scripts, and `rust-toolchain.toml`.
//! A line containing `versions-check: ignore` is left alone (for text that quotes history).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use pins::drift::check_tree;

use crate::ui;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Compare; with --write, fix the files
    Check {
        /// Rewrite every drifted file from the pin file
        #[arg(long)]
        write: bool,
        /// Check this tree instead of the workspace (it must hold hack/versions.toml)
        #[arg(long, hide = true)]
        root: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Check { write, root } = command;
    let root = root.unwrap_or_else(crate::workspace_root);
    let pins = pins::load(&root.join(pins::PIN_FILE))
        .map_err(|error| crate::bad_input(error.to_string()))?;
    let drifts = check_tree(&root, &pins)
        .with_context(|| format!("checking {} for drift", root.display()))?;
    if drifts.is_empty() {
        ui::info(&format!(
            "every pinned version in {} agrees with {}",
            root.display(),
            pins::PIN_FILE
        ));
        return Ok(ExitCode::SUCCESS);
    }
    for drift in &drifts {
        ui::out(&drift.diff);
        for finding in &drift.findings {
            ui::info(&format!("{}:{}: {finding}", drift.path, finding.line));
        }
    }
    if write {
        for drift in &drifts {
            let path = root.join(&drift.path);
            // Replaced whole; a script keeps its mode.
            stdx::fs::write_atomic(&path, drift.fixed.as_bytes())
                .with_context(|| format!("rewriting {}", drift.path))?;
            ui::info(&format!("fixed {}", drift.path));
        }
        ui::info(&format!(
            "rewrote {} file(s) from {}; run `cargo xtask versions check` again to confirm",
            drifts.len(),
            pins::PIN_FILE
        ));
        Ok(ExitCode::SUCCESS)
    } else {
        ui::error(&format!(
            "{} file(s) state versions that differ from {}: run `cargo xtask versions check --write` to fix them",
            drifts.len(),
            pins::PIN_FILE
        ));
        Ok(ExitCode::FAILURE)
    }
}

//! tools check / tools install: the pinned kind, kubectl and helm, and the docker floor.
//!
//! Also the entry point kind-up uses to get a tool ([`ensure`]): it resolves the tool the way
//! `tools check` does and installs the pinned version when it is missing, the way `GOTOOLCHAIN`
//! fetches a Go, with a progress bar.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use pins::ToolName;
use tools::{Resolution, Verdict};

use crate::ui;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print a table of pinned versus found tools; exit non-zero on any mismatch
    Check,
    /// Download missing pinned tools into target/tools/<tool>/<version>/
    Install {
        /// Only these tools (kind, kubectl, helm); default: all three
        tools: Vec<String>,
    },
}

pub fn run(
    command: Command,
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check => check(settings, token),
        Command::Install { tools } => install(&tools, settings, token),
    }
}

/// The binary to run for `tool`, installing the pinned one first when it is missing or the
/// wrong version. What `kind-up` calls.
pub fn ensure(
    sh: &exec::Shell,
    settings: &settings::Settings,
    tool: ToolName,
) -> anyhow::Result<PathBuf> {
    let client = download::Client::new(settings.download_options(sh.cancel()));
    let fetch = tools::http_fetch(&client);
    let progress = ProgressSink::new(tool);
    let (resolution, _) =
        tools::ensure_installed(sh, &settings.tools, tool, &*fetch, &mut |done, total| {
            progress.update(done, total)
        })
        .with_context(|| format!("installing the pinned {tool}"))?;
    progress.finish("installed");
    for notice in &resolution.notices {
        ui::warn(notice);
    }
    Ok(resolution.program()?.to_owned())
}

fn check(settings: &settings::Settings, token: &cancel::Token) -> anyhow::Result<ExitCode> {
    let context = &settings.tools;
    let sh = exec::Shell::new().with_cancel(token.clone());
    let resolutions = tools::resolve_all(&sh, context);
    ui::out(&render_table(&resolutions, &context.pins.docker.minimum));
    for notice in resolutions.iter().flat_map(|r| &r.notices) {
        ui::warn(notice);
    }
    let broken: Vec<&Resolution> = resolutions
        .iter()
        .filter(|r| !r.verdict.is_usable())
        .collect();
    if broken.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for resolution in &broken {
        ui::error(&resolution.describe());
    }
    let mut fixes: Vec<&str> = Vec::new();
    for fix in broken.iter().filter_map(|r| r.fix.as_deref()) {
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    ui::info("to fix:");
    for fix in fixes {
        ui::info(&format!("  {fix}"));
    }
    Ok(ExitCode::FAILURE)
}

/// The `tools check` table: tool, pinned, path, found, verdict.
pub fn render_table(resolutions: &[Resolution], docker_minimum: &pins::Version) -> String {
    let mut rows = vec![[
        "TOOL".to_owned(),
        "PINNED".to_owned(),
        "PATH".to_owned(),
        "FOUND".to_owned(),
        "VERDICT".to_owned(),
    ]];
    for resolution in resolutions {
        let pinned = match &resolution.wanted {
            Some(version) => version.with_v(),
            None => format!(">= {docker_minimum}"),
        };
        let path = match (&resolution.path, resolution.source) {
            (Some(path), Some(source)) => format!("{} ({source})", path.display()),
            _ => "-".to_owned(),
        };
        let found = resolution
            .found
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let verdict = match &resolution.verdict {
            Verdict::Ok => "ok".to_owned(),
            Verdict::Forced => "ok (forced host tool)".to_owned(),
            Verdict::Missing => "MISSING".to_owned(),
            Verdict::Mismatch => "MISMATCH".to_owned(),
            Verdict::BelowFloor(why) => format!("BELOW FLOOR: {why}"),
            Verdict::Broken(why) => format!("BROKEN: {}", why.lines().next().unwrap_or("")),
        };
        rows.push([resolution.tool.to_string(), pinned, path, found, verdict]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            line.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn install(
    names: &[String],
    settings: &settings::Settings,
    token: &cancel::Token,
) -> anyhow::Result<ExitCode> {
    let selected = select(names)?;
    let context = &settings.tools;
    let sh = exec::Shell::new().with_cancel(token.clone());
    let client = download::Client::new(settings.download_options(token));
    let fetch = tools::http_fetch(&client);
    let mut failed = false;
    for tool in selected {
        let progress = ProgressSink::new(tool);
        let result = tools::ensure_installed(&sh, context, tool, &*fetch, &mut |done, total| {
            progress.update(done, total)
        });
        match result {
            Ok((resolution, installed)) => {
                if let Some(installed) = &installed {
                    progress.finish("verified");
                    ui::out(&format!(
                        "{tool} {} installed at {}",
                        installed.version,
                        installed.path.display()
                    ));
                } else {
                    ui::out(&format!(
                        "{tool}: nothing to do ({})",
                        resolution.describe()
                    ));
                }
                for notice in &resolution.notices {
                    ui::warn(notice);
                }
                if !resolution.verdict.is_usable() {
                    ui::error(&resolution.describe());
                    failed = true;
                }
            }
            Err(error) => {
                progress.finish("failed");
                ui::error(&format!("{tool}: {error}"));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The tools named on the command line (all downloadable ones when none): an unknown name or
/// docker is bad input, rejected before anything is downloaded.
fn select(names: &[String]) -> anyhow::Result<Vec<ToolName>> {
    if names.is_empty() {
        return Ok(vec![ToolName::Kind, ToolName::Kubectl, ToolName::Helm]);
    }
    let mut selected = Vec::new();
    for name in names {
        let tool: ToolName = name.parse().map_err(|message: String| {
            crate::bad_input(format!("cargo xtask tools install: {message}"))
        })?;
        if tool == ToolName::Docker {
            return Err(crate::bad_input(
                "cargo xtask tools install: docker is not downloaded by this workspace; install it with the system package manager (Debian: apt-get install -y docker.io)",
            ));
        }
        if !selected.contains(&tool) {
            selected.push(tool);
        }
    }
    Ok(selected)
}

/// A progress bar created when the first byte count arrives (nothing shows for a cache hit).
struct ProgressSink {
    tool: ToolName,
    bar: RefCell<Option<ui::Progress>>,
}

impl ProgressSink {
    fn new(tool: ToolName) -> ProgressSink {
        ProgressSink {
            tool,
            bar: RefCell::new(None),
        }
    }

    fn update(&self, done: u64, total: Option<u64>) {
        let mut bar = self.bar.borrow_mut();
        let bar = bar.get_or_insert_with(|| {
            ui::Progress::bytes(&format!("downloading {}", self.tool), total)
        });
        bar.set_position(done);
    }

    fn finish(&self, outcome: &str) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish(outcome);
        }
    }
}

//! exec: the one place in the workspace that builds and runs subprocesses.
//!
//! A [`Cmd`] is a value (program, argv, env, working dir, purpose) before it runs, so it can be
//! printed for `--dry-run`, compared in unit tests and logged before it runs. A [`Shell`] runs
//! commands with the per-run environment (for example a PATH with fake tools first), records
//! the plan in dry-run mode and appends every command line to a log file.
//!
//! This crate must never build a shell string, never merge stderr into parsed stdout and never
//! leave a child running: timeouts kill the child's whole process group, and [`ChildGuard`]
//! kills and reaps on drop.
#![allow(clippy::disallowed_methods)] // this crate is the one allowed to call Command::new

mod child;
mod cmd;
mod shell;
mod usage;

pub use child::ChildGuard;
pub use cmd::{Cmd, quote_for_display};
pub use shell::{ExecError, Output, Shell, interrupt, was_interrupted};
pub use usage::{Usage, cpu_time};

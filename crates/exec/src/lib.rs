//! exec: the one place in the workspace that builds and runs subprocesses.
//!
//! A [`Cmd`] is a value (program, argv, env, working dir, purpose) before it runs, so it can be
//! printed for `--dry-run`, compared in unit tests and logged before it runs. A [`Shell`] runs
//! commands with the per-run environment (for example a PATH with fake tools first), records
//! the plan in dry-run mode, appends every command (step, command line, exit status, duration)
//! to a log file, and observes the run's cancellation [`cancel::Token`]: no command starts once it is
//! cancelled, and running ones are killed with their process group.
//!
//! This crate must never build a shell string, never merge stderr into parsed stdout and never
//! leave a child running: timeouts kill the child's whole process group, and [`ChildGuard`]
//! kills and reaps on drop.
#![allow(clippy::disallowed_methods)] // this crate is the one allowed to call Command::new

mod child;
mod cmd;
mod error;
mod shell;
mod usage;

pub use child::ChildGuard;
pub use cmd::{Cmd, quote_for_display};
pub use error::ExecError;
pub use shell::{Output, Planned, Shell};
pub use usage::{Usage, cpu_time};

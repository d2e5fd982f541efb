//! stdx: the small helpers several crates of the workspace need, written once: the one
//! bad-input value every loader returns ([`BadInput`], [`MaybeBadInput`]), UTC timestamps
//! ([`time`]), atomic file writes ([`fs`]), case-insensitive header lookup ([`http`]), JUnit XML
//! documents ([`junit`]), scratch folders removed on drop ([`temp`]) and locks that survive a
//! panicking holder ([`sync`], [`lock`]).
//!
//! A leaf crate: it must never depend on anything, not even on another crate of the workspace,
//! so that every crate can use it without cost. It never prints, never spawns and never reads
//! the process environment (beyond the system's temporary folder, `std::env::temp_dir`).

mod bad_input;
pub mod fs;
pub mod http;
pub mod junit;
pub mod sync;
pub mod temp;
pub mod time;

pub use bad_input::{BadInput, MaybeBadInput};
pub use sync::lock;

//! stdx: small helpers several crates need, written once. It depends on nothing (not even
//! another crate of this workspace) and never prints, reads the environment or spawns.

mod bad_input;

pub use bad_input::{BadInput, MaybeBadInput};

//! conformance: the suite that judges a gateway's connectivity, routing, load balancing and
//! health checks against the echo fixture, and the typed results its reports are written from.
//!
//! This crate never prints and never reads the process environment: the xtask passes a suite
//! configuration in and receives events through a callback and typed results back.

pub mod report;
pub mod results;

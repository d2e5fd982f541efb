//! conformance: the suite that judges a gateway's connectivity, routing, load balancing and
//! health checks against the echo fixture, and the typed results its reports are written from.
//!
//! This crate never prints and never reads the process environment: the xtask passes a
//! [`SuiteConfig`] in and receives [`Event`]s through a callback and [`SuiteResults`] back.
//! Splits are judged by the `stats` crate's sequential test, never by a fixed tolerance.

pub mod cases;
pub mod client;
pub mod command;
pub mod fixture;
pub mod gateways;
pub mod report;
pub mod results;
pub mod suite;
pub mod target;

pub use results::SuiteResults;
pub use suite::{Consistency, Event, ReplicaControl, Skip, SuiteConfig, run, run_case};

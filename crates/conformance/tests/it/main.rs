//! conformance's integration tests: one binary, one module per area.

mod client;
mod gateways;
mod manifests;
mod report;
mod suite;

//! conformance's integration tests: one binary, one module per area.

mod gateways;
mod manifests;
mod report;
mod suite;

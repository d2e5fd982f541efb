//! conformance's integration tests: one binary, one module per area.

mod gateways;
mod report;
mod suite;

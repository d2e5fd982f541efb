//! tools: resolution order, verdicts and floors against fake tools; parsers against the real
//! kubectl and docker binaries on this machine; installs against a local HTTP server.

mod fakes;
mod install;
mod real;
mod resolve;

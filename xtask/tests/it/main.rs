//! xtask's integration tests: one binary, one module per subcommand area.

mod artifacts;
mod conformance;
mod docker_build;
mod kind;
mod tidy;
mod tools;
mod versions;

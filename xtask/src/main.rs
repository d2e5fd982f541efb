//! xtask: the workspace's command line. A flat match over subcommands; each lives in its module.
fn main() {}

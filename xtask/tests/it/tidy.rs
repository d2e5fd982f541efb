//! Repository rules as a test ("tidy"): rustfmt clean, every Rust file opens with a `//!` doc,
//! no process spawning outside crates/exec (build scripts excepted, with a stated reason), and
//! the pin file is valid and agrees with every other place that states a version.

use std::path::{Path, PathBuf};

/// Every `.rs` file of the workspace, relative to the root, skipping build output.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                found.push(path.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    found.sort();
    found
}

fn rustfmt_is_clean() {
    let root = testkit::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // `--check` only reads: it reports files rustfmt would change and writes nothing.
    let cmd = exec::Cmd::new(cargo, "check formatting")
        .args(["fmt", "--all", "--", "--check", "--color", "never"])
        .cwd(&root);
    let output = exec::Shell::new().run_unchecked(&cmd).unwrap();
    assert!(
        output.status.success(),
        "rustfmt would change these files; run `cargo fmt` on your crate:\n{}{}",
        output.stdout_str(),
        output.stderr_str()
    );
}

fn every_rust_file_opens_with_a_module_doc() {
    let root = testkit::workspace_root();
    let undocumented: Vec<String> = rust_files(&root)
        .into_iter()
        .filter(|relative| {
            let text = std::fs::read_to_string(root.join(relative)).unwrap();
            let first = text.lines().find(|line| !line.trim().is_empty());
            !first.is_some_and(|line| line.starts_with("//!"))
        })
        .map(|relative| relative.display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "these files must start with a `//!` line saying what the module is for: {undocumented:#?}"
    );
}

fn only_the_exec_crate_spawns_processes() {
    let root = testkit::workspace_root();
    // Spelled in two parts so this file does not match itself.
    let needle = ["Command", "::new"].concat();
    let mut offenders = Vec::new();
    for relative in rust_files(&root) {
        let text = std::fs::read_to_string(root.join(&relative)).unwrap();
        if relative.starts_with("crates/exec") {
            continue;
        }
        let is_build_script = relative.file_name().is_some_and(|name| name == "build.rs");
        let justified = text.lines().any(|line| {
            line.contains("allow(clippy::disallowed_methods)")
                && line
                    .split_once("//")
                    .is_some_and(|(_, why)| why.trim().len() > 10)
        });
        for (index, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") || !line.contains(&needle) {
                continue;
            }
            if is_build_script && justified {
                continue;
            }
            offenders.push(format!(
                "{}:{}: {}",
                relative.display(),
                index + 1,
                line.trim()
            ));
        }
    }
    assert!(
        offenders.is_empty(),
        "processes are built as exec::Cmd and run through exec::Shell (a build script may use std::process with `#![allow(clippy::disallowed_methods)] // why`):\n{}",
        offenders.join("\n")
    );
}

/// Library crates never read the process environment: clippy's `disallowed-methods` in the
/// workspace's clippy.toml bans it, and only the crates allowed to read it (the xtask, the
/// echo binary, test support) have a clippy.toml of their own, which clippy reads instead.
fn only_binaries_and_test_support_read_the_environment() {
    let root = testkit::workspace_root();
    let allowed = [
        "xtask",
        "crates/echo",
        "crates/fake-tools",
        "crates/testkit",
        "crates/test-harness",
    ];
    let workspace = std::fs::read_to_string(root.join("clippy.toml")).unwrap();
    for banned in [
        "std::env::var",
        "std::env::var_os",
        "std::env::vars",
        "std::env::vars_os",
    ] {
        assert!(
            workspace.contains(&format!("path = \"{banned}\"")),
            "clippy.toml must ban {banned} for library crates"
        );
    }
    let mut own_configs: Vec<String> = std::iter::once(root.join("xtask"))
        .chain(
            std::fs::read_dir(root.join("crates"))
                .unwrap()
                .filter_map(Result::ok)
                .map(|entry| entry.path()),
        )
        .filter(|dir| dir.join("clippy.toml").is_file())
        .map(|dir| {
            dir.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    own_configs.sort();
    let mut expected: Vec<String> = allowed.iter().map(|dir| (*dir).to_owned()).collect();
    expected.sort();
    assert_eq!(
        own_configs, expected,
        "a clippy.toml of its own lifts the environment ban: only these crates may have one"
    );
    for dir in allowed {
        let own = std::fs::read_to_string(root.join(dir).join("clippy.toml")).unwrap();
        assert!(
            own.contains(&["std::process::Command", "::new"].concat()),
            "{dir}/clippy.toml must keep the process ban"
        );
    }
}

fn pins_are_valid_and_consistent() {
    let root = testkit::workspace_root();
    let pins = pins::load(&root.join(pins::PIN_FILE)).unwrap_or_else(|error| panic!("{error}"));
    // Every pinned tool is downloadable for the platforms CI and developers use.
    for tool in [
        pins::ToolName::Kind,
        pins::ToolName::Kubectl,
        pins::ToolName::Helm,
    ] {
        for platform in ["linux-amd64", "linux-arm64", "darwin-arm64"] {
            assert!(
                pins.tool(tool)
                    .unwrap()
                    .sha256_for(&platform.parse().unwrap())
                    .is_some(),
                "{tool} has no {platform} checksum in {}",
                pins::PIN_FILE
            );
        }
    }
    let cmd = crate::context::isolated("check pinned versions")
        .args(["versions", "check", "--root"])
        .arg(&root);
    let output = exec::Shell::new().run_unchecked(&cmd).unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        output.stdout_str(),
        output.stderr_str()
    );
}

/// Every file git tracks, relative to the root (what a fresh clone holds).
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let output = exec::Shell::new()
        .run(
            &exec::Cmd::new("git", "list the tracked files")
                .args(["ls-files", "-z"])
                .cwd(root),
        )
        .unwrap();
    output
        .stdout_str()
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn product_text_names_nothing_outside_the_repository() {
    let root = testkit::workspace_root();
    // Spelled in parts so this file does not match itself: notes that live beside a checkout
    // are not there for a user of the repository.
    let needles = [
        ["../", "shared"].concat(),
        ["shared", "/ENVIRONMENT"].concat(),
        ["shared", "/STYLE"].concat(),
        ["shared", "/reference"].concat(),
        ["shared", "/hooks"].concat(),
        ["ENVIRONMENT", ".md"].concat(),
        ["shared ", "ENVIRONMENT"].concat(),
    ];
    let mut offenders = Vec::new();
    for relative in tracked_files(&root) {
        let Ok(text) = std::fs::read_to_string(root.join(&relative)) else {
            continue; // binary files
        };
        for (index, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle.as_str())) {
                offenders.push(format!(
                    "{}:{}: {}",
                    relative.display(),
                    index + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "messages and docs must name only what is in this repository:\n{}",
        offenders.join("\n")
    );
}

fn documented_destinations_are_the_tools_own_folders() {
    let root = testkit::workspace_root();
    // target/debug and target/release belong to cargo: writing downloads there mixes them with
    // build output that `cargo clean` and profile builds replace.
    let mut offenders = Vec::new();
    for relative in tracked_files(&root) {
        if relative.extension().is_none_or(|ext| ext != "md") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(&relative)).unwrap();
        for (index, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for pair in words.windows(2) {
                if pair[0].starts_with("--") && is_cargo_profile_dir(pair[1]) {
                    offenders.push(format!(
                        "{}:{}: {}",
                        relative.display(),
                        index + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "documented commands write into cargo's profile folders; use a folder of this tool's own such as target/verify/fetch:\n{}",
        offenders.join("\n")
    );
}

fn is_cargo_profile_dir(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    ["target/release", "target/debug"]
        .iter()
        .any(|profile| path == *profile || path.starts_with(&format!("{profile}/")))
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        rustfmt_is_clean,
        every_rust_file_opens_with_a_module_doc,
        only_the_exec_crate_spawns_processes,
        only_binaries_and_test_support_read_the_environment,
        pins_are_valid_and_consistent,
        product_text_names_nothing_outside_the_repository,
        documented_destinations_are_the_tools_own_folders,
    ]
}

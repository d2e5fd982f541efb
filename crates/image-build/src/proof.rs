//! The toolchain proof: every executable in an image's filesystem, the compiler each records,
//! judged against the pinned Go and Rust versions. A label shows what was asked for; this shows
//! what compiled the binaries.

use std::io::Read as _;
use std::path::Path;

use serde::Serialize;

use crate::Language;
use crate::compiler::{self, Compiler};

/// Executables larger than this are not read (no toolchain writes one).
const MAX_EXECUTABLE: u64 = 2 << 30;

/// An executable found in an image and what compiled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binary {
    /// Absolute path inside the image (`/echo`).
    pub path: String,
    #[serde(flatten)]
    pub compiler: Compiler,
}

/// Reads every ELF executable (a regular file with an execute bit) out of a `docker export`
/// tar file. Files that are not ELF (scripts) are skipped; an ELF file that cannot be parsed is
/// reported as [`Compiler::Other`] with the reason.
pub fn executables_in_export(tar_path: &Path) -> std::io::Result<Vec<Binary>> {
    let file = std::fs::File::open(tar_path)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut binaries = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let header = entry.header();
        let executable = header.entry_type().is_file()
            && header.mode().is_ok_and(|mode| mode & 0o111 != 0)
            && header
                .size()
                .is_ok_and(|size| (4..=MAX_EXECUTABLE).contains(&size));
        if !executable {
            continue;
        }
        let path = format!(
            "/{}",
            entry.path()?.to_string_lossy().trim_start_matches("./")
        );
        let mut magic = [0u8; 4];
        entry.read_exact(&mut magic)?;
        if !compiler::is_elf(&magic) {
            continue;
        }
        let mut bytes = magic.to_vec();
        entry.read_to_end(&mut bytes)?;
        let compiler = compiler::identify(&bytes).unwrap_or_else(|reason| Compiler::Other {
            comment: Some(reason),
        });
        binaries.push(Binary { path, compiler });
    }
    binaries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(binaries)
}

/// The pinned toolchain versions the binaries are judged against (after overrides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub go: pins::Version,
    pub rust: pins::Version,
}

impl Pinned {
    pub fn from_pins(pins: &pins::Pins) -> Pinned {
        Pinned {
            go: pins.build.go.clone(),
            rust: pins.build.rust.clone(),
        }
    }

    fn of(&self, language: Language) -> &pins::Version {
        match language {
            Language::Go => &self.go,
            Language::Rust => &self.rust,
        }
    }
}

/// How one binary compares with the pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Compiled by the pinned toolchain.
    Pinned,
    /// Compiled by another version than the pinned one.
    Mismatch { pinned: String },
    /// Go's runtime without readable build info: nothing proves its toolchain.
    Unprovable,
    /// Compiled by neither Go nor Rust: no pin applies.
    NotChecked,
}

/// One binary, what compiled it and the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    #[serde(flatten)]
    pub binary: Binary,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The proof for one image: every binary checked, and the pinned languages the build passed
/// a version of but no binary in the image was compiled with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolchainProof {
    pub binaries: Vec<Checked>,
    pub without_binary: Vec<Language>,
    #[serde(skip)]
    pinned: Pinned,
}

/// Judges `binaries` against `pinned`. `declared` are the languages whose version the build
/// passed (`GO_VERSION`, `RUST_VERSION`): one without any binary is reported, not failed.
pub fn judge(binaries: Vec<Binary>, pinned: &Pinned, declared: &[Language]) -> ToolchainProof {
    let checked: Vec<Checked> = binaries
        .into_iter()
        .map(|binary| {
            let verdict = match &binary.compiler {
                Compiler::GoWithoutBuildInfo { .. } => Verdict::Unprovable,
                Compiler::Other { .. } => Verdict::NotChecked,
                compiler => {
                    let (language, found) = compiler.language_version().expect("Go or Rust");
                    let pin = pinned.of(language);
                    if found
                        .parse::<pins::Version>()
                        .is_ok_and(|found| found == *pin)
                    {
                        Verdict::Pinned
                    } else {
                        Verdict::Mismatch {
                            pinned: pin.without_v(),
                        }
                    }
                }
            };
            Checked { binary, verdict }
        })
        .collect();
    let without_binary = declared
        .iter()
        .copied()
        .filter(|language| {
            !checked.iter().any(|check| {
                check
                    .binary
                    .compiler
                    .language_version()
                    .is_some_and(|(found, _)| found == *language)
                    || (*language == Language::Go
                        && matches!(check.binary.compiler, Compiler::GoWithoutBuildInfo { .. }))
            })
        })
        .collect();
    ToolchainProof {
        binaries: checked,
        without_binary,
        pinned: pinned.clone(),
    }
}

impl ToolchainProof {
    /// Why the image fails the proof: a binary compiled by another toolchain, or a Go binary
    /// whose toolchain cannot be read. Empty when it passes.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for check in &self.binaries {
            let path = &check.binary.path;
            match (&check.verdict, &check.binary.compiler) {
                (Verdict::Mismatch { pinned }, compiler) => {
                    let (language, found) = compiler.language_version().expect("Go or Rust");
                    let fix = match language {
                        Language::Go => format!(
                            "build it with Go {pinned} (`FROM golang:{pinned}` in the Dockerfile, or `GOTOOLCHAIN=go{pinned} go build` on the host)"
                        ),
                        Language::Rust => format!(
                            "build it with Rust {pinned} (`FROM rust:{pinned}` in the Dockerfile, or `cargo +{pinned} build` on the host)"
                        ),
                    };
                    problems.push(format!(
                        "{path} was compiled by {language} {found}, but {language} {pinned} is pinned ([build] {} in {}, or {} for one run): {fix}, or change the pin",
                        language.pin_key(),
                        pins::PIN_FILE,
                        language.build_arg(),
                    ));
                }
                (Verdict::Unprovable, Compiler::GoWithoutBuildInfo { reason }) => {
                    problems.push(format!(
                        "{path} is a Go binary whose build info cannot be read ({reason}), so nothing proves it was compiled by the pinned Go {}; keep the .go.buildinfo section (do not strip it with objcopy)",
                        self.pinned.go.without_v()
                    ));
                }
                _ => {}
            }
        }
        problems
    }

    /// What the proof could not check, said without failing it: binaries of another compiler,
    /// and pinned languages with no binary in the image.
    pub fn notices(&self) -> Vec<String> {
        let mut notices = Vec::new();
        for check in &self.binaries {
            if let Compiler::Other { comment } = &check.binary.compiler {
                notices.push(format!(
                    "{} records no Go or Rust compiler ({}); no pin applies to it",
                    check.binary.path,
                    comment.as_deref().unwrap_or("no .comment section")
                ));
            }
        }
        for language in &self.without_binary {
            notices.push(format!(
                "no {language} binary in the image: {}={} is passed, but no executable records being compiled by {language}, so no binary proves that toolchain",
                language.build_arg(),
                self.pinned.of(*language).without_v()
            ));
        }
        notices
    }

    /// One line per binary: its path, compiler and version, and the verdict.
    pub fn summary(&self) -> Vec<String> {
        self.binaries
            .iter()
            .map(|check| {
                let found = match &check.binary.compiler {
                    Compiler::Go {
                        version,
                        main_package,
                        module,
                    } => {
                        let mut found = format!("Go {version}");
                        if let Some(package) = main_package {
                            found.push_str(&format!(", main package {package}"));
                        }
                        if let Some(module) = module {
                            found.push_str(&format!(", module {module}"));
                        }
                        found
                    }
                    Compiler::Rust { version, .. } => format!("Rust {version}"),
                    Compiler::GoWithoutBuildInfo { .. } => "Go, version unreadable".to_owned(),
                    Compiler::Other { .. } => "neither Go nor Rust".to_owned(),
                };
                let verdict = match &check.verdict {
                    Verdict::Pinned => "the pinned toolchain".to_owned(),
                    Verdict::Mismatch { pinned } => format!("MISMATCH, {pinned} is pinned"),
                    Verdict::Unprovable => "UNPROVABLE".to_owned(),
                    Verdict::NotChecked => "not checked".to_owned(),
                };
                format!("{}: {found} ({verdict})", check.binary.path)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned() -> Pinned {
        Pinned {
            go: "1.27.1".parse().unwrap(),
            rust: "1.95.0".parse().unwrap(),
        }
    }

    fn binary(path: &str, compiler: Compiler) -> Binary {
        Binary {
            path: path.to_owned(),
            compiler,
        }
    }

    fn go(version: &str) -> Compiler {
        Compiler::Go {
            version: version.to_owned(),
            main_package: Some("command-line-arguments".to_owned()),
            module: None,
        }
    }

    fn rust(version: &str) -> Compiler {
        Compiler::Rust {
            version: version.to_owned(),
            comment: format!("rustc version {version} (abc 2026-01-01)"),
        }
    }

    #[test]
    fn pinned_binaries_pass() {
        let proof = judge(
            vec![
                binary("/kms", go("1.27.1")),
                binary("/echo", rust("1.95.0")),
            ],
            &pinned(),
            &[Language::Go, Language::Rust],
        );
        assert_eq!(proof.problems(), Vec::<String>::new());
        assert_eq!(proof.notices(), Vec::<String>::new());
        assert_eq!(
            proof.summary(),
            [
                "/kms: Go 1.27.1, main package command-line-arguments (the pinned toolchain)",
                "/echo: Rust 1.95.0 (the pinned toolchain)"
            ]
        );
    }

    #[test]
    fn another_toolchain_fails_naming_binary_found_pinned_and_fix() {
        let proof = judge(
            vec![
                binary("/kms", go("1.27.3")),
                binary("/echo", rust("1.95.0-nightly")),
            ],
            &pinned(),
            &[Language::Go],
        );
        let problems = proof.problems();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems[0].starts_with(
                "/kms was compiled by Go 1.27.3, but Go 1.27.1 is pinned ([build] go in hack/versions.toml, or GO_VERSION for one run): build it with Go 1.27.1 (`FROM golang:1.27.1`"
            ),
            "{}",
            problems[0]
        );
        // A pre-release of the pinned version is another toolchain.
        assert!(
            problems[1].starts_with(
                "/echo was compiled by Rust 1.95.0-nightly, but Rust 1.95.0 is pinned"
            ),
            "{}",
            problems[1]
        );
    }

    #[test]
    fn unreadable_go_fails_and_other_compilers_and_missing_languages_are_noticed() {
        let proof = judge(
            vec![
                binary(
                    "/stripped",
                    Compiler::GoWithoutBuildInfo {
                        reason: "no .go.buildinfo".to_owned(),
                    },
                ),
                binary(
                    "/bin/busybox",
                    Compiler::Other {
                        comment: Some("GCC: (Debian 12.2.0-14) 12.2.0".to_owned()),
                    },
                ),
            ],
            &pinned(),
            &[Language::Go, Language::Rust],
        );
        let problems = proof.problems();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].starts_with("/stripped is a Go binary whose build info cannot be read")
        );
        assert_eq!(
            proof.notices(),
            [
                "/bin/busybox records no Go or Rust compiler (GCC: (Debian 12.2.0-14) 12.2.0); no pin applies to it",
                "no Rust binary in the image: RUST_VERSION=1.95.0 is passed, but no executable records being compiled by Rust, so no binary proves that toolchain",
            ]
        );
    }
}

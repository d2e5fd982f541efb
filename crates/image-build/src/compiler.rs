//! What compiled an executable, read from the file without running it: Go's build info
//! (`.go.buildinfo`, what `go version FILE` prints) and rustc's `.comment` entry
//! (`rustc version 1.95.0 (…)`). The ELF structure is read with the `object` crate; only the
//! two records inside the sections are decoded here.

use object::{Object as _, ObjectSection as _};
use serde::Serialize;

/// The compiler an executable records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "compiler", rename_all = "snake_case")]
pub enum Compiler {
    /// Go build info: the toolchain version (`1.27.1`, without `go`), the main package and its
    /// module where the build recorded them.
    Go {
        version: String,
        main_package: Option<String>,
        module: Option<String>,
    },
    /// rustc's `.comment` entry: the version (`1.95.0`, `1.97.0-nightly`) and the whole entry.
    Rust { version: String, comment: String },
    /// Go's runtime is in the file but its build info is not readable (removed, or the
    /// pre-1.18 pointer format): the Go version cannot be proven.
    GoWithoutBuildInfo { reason: String },
    /// Neither Go nor rustc recorded itself; `comment` is the `.comment` text if any (C
    /// compilers write theirs there).
    Other { comment: Option<String> },
}

impl Compiler {
    /// The language and version when the record names one.
    pub fn language_version(&self) -> Option<(crate::Language, &str)> {
        match self {
            Compiler::Go { version, .. } => Some((crate::Language::Go, version)),
            Compiler::Rust { version, .. } => Some((crate::Language::Rust, version)),
            _ => None,
        }
    }
}

/// Whether `bytes` start like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Reads the compiler record of an ELF executable. Err when the bytes are not a readable ELF
/// file (the message says why).
pub fn identify(bytes: &[u8]) -> Result<Compiler, String> {
    if !is_elf(bytes) {
        return Err("not an ELF file".to_owned());
    }
    let file = object::File::parse(bytes).map_err(|error| format!("unreadable ELF: {error}"))?;
    let section = |name: &str| {
        file.section_by_name(name)
            .and_then(|section| section.data().ok())
    };

    // Only a file without section headers is searched for the build info's magic: with them,
    // `.go.buildinfo` is where Go puts it, and the bytes elsewhere may be anything (this very
    // checker holds the magic as a constant, and a Rust binary that links it must not read as
    // Go because the linker happened to align that constant to 16 bytes).
    let has_sections = file.sections().next().is_some();
    let buildinfo = section(".go.buildinfo").or_else(|| {
        if has_sections {
            None
        } else {
            find_buildinfo_magic(bytes)
        }
    });
    let go_runtime = buildinfo.is_some()
        || section(".note.go.buildid").is_some()
        || section(".gopclntab").is_some()
        || file.section_by_name(".go.fipsinfo").is_some();
    if go_runtime {
        return Ok(match buildinfo.map(decode_buildinfo) {
            Some(Ok(compiler)) => compiler,
            Some(Err(reason)) => Compiler::GoWithoutBuildInfo { reason },
            None => Compiler::GoWithoutBuildInfo {
                reason: "the file has Go's runtime sections but no .go.buildinfo".to_owned(),
            },
        });
    }

    let comment = section(".comment").map(comment_entries);
    if let Some(entry) = comment
        .iter()
        .flatten()
        .find(|entry| entry.starts_with("rustc version "))
    {
        let version = entry["rustc version ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        return Ok(Compiler::Rust {
            version,
            comment: entry.clone(),
        });
    }
    Ok(Compiler::Other {
        comment: comment
            .filter(|entries| !entries.is_empty())
            .map(|entries| entries.join("; ")),
    })
}

/// `.comment` holds NUL-separated strings, one per compiler that contributed objects.
fn comment_entries(data: &[u8]) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for raw in data.split(|&b| b == 0) {
        let entry = String::from_utf8_lossy(raw).trim().to_owned();
        if !entry.is_empty() && !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    entries
}

const BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";
const BUILDINFO_HEADER: usize = 32;
/// Flag bit: the version and module strings follow the header inline (Go 1.18 and later).
const FLAGS_VERSION_INLINE: u8 = 0x2;

/// Go aligns its build info to 16 bytes; a file whose section headers were removed still has
/// it in its data.
fn find_buildinfo_magic(bytes: &[u8]) -> Option<&[u8]> {
    (0..bytes.len().saturating_sub(BUILDINFO_HEADER))
        .step_by(16)
        .find(|&at| bytes[at..].starts_with(BUILDINFO_MAGIC))
        .map(|at| &bytes[at..])
}

/// Decodes the build info blob the way Go's `debug/buildinfo` does for Go 1.18 and later.
fn decode_buildinfo(data: &[u8]) -> Result<Compiler, String> {
    if data.len() < BUILDINFO_HEADER || !data.starts_with(BUILDINFO_MAGIC) {
        return Err(".go.buildinfo does not start with Go's build info header".to_owned());
    }
    if data[15] & FLAGS_VERSION_INLINE == 0 {
        return Err(
            "the build info is in the pointer format of Go before 1.18, which is not read"
                .to_owned(),
        );
    }
    let mut rest = &data[BUILDINFO_HEADER..];
    let version = read_bytes(&mut rest).ok_or("the build info's version string is cut short")?;
    let version = String::from_utf8_lossy(version);
    let modinfo = read_bytes(&mut rest).unwrap_or_default();
    // The module info is framed by 16 sentinel bytes (not UTF-8) on each side.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        String::from_utf8_lossy(&modinfo[16..modinfo.len() - 16]).into_owned()
    } else {
        String::new()
    };
    let field = |key: &str| {
        modinfo.lines().find_map(|line| {
            let mut parts = line.split('\t');
            (parts.next() == Some(key)).then(|| parts.next().map(str::to_owned))?
        })
    };
    // `go1.27.1`, possibly followed by experiments (`go1.27.1 X:nodwarf5`).
    let version = version
        .split_whitespace()
        .find_map(|word| word.strip_prefix("go"))
        .ok_or_else(|| format!("the build info's version `{version}` does not name a Go release"))?
        .to_owned();
    Ok(Compiler::Go {
        version,
        main_package: field("path"),
        module: field("mod"),
    })
}

/// A uvarint length followed by that many bytes, as Go writes strings into the build info.
fn read_bytes<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut length: u64 = 0;
    let mut shift = 0;
    loop {
        let (&byte, tail) = rest.split_first()?;
        *rest = tail;
        length |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let length = usize::try_from(length).ok()?;
    if rest.len() < length {
        return None;
    }
    let (bytes, tail) = rest.split_at(length);
    *rest = tail;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's sentinel around the module info: 16 bytes that are not UTF-8.
    const SENTINEL: &[u8; 16] = b"\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6";

    fn buildinfo(version: &str, modinfo: &str) -> Vec<u8> {
        let mut data = BUILDINFO_MAGIC.to_vec();
        data.push(8); // pointer size
        data.push(FLAGS_VERSION_INLINE);
        data.resize(BUILDINFO_HEADER, 0);
        let framed = if modinfo.is_empty() {
            Vec::new()
        } else {
            [&SENTINEL[..], modinfo.as_bytes(), &SENTINEL[..]].concat()
        };
        for bytes in [version.as_bytes(), &framed] {
            data.push(u8::try_from(bytes.len()).unwrap());
            data.extend_from_slice(bytes);
        }
        data
    }

    #[test]
    fn decodes_go_build_info() {
        let modinfo = "path\texample.com/kms/cmd/plugin\nmod\texample.com/kms\t(devel)\t\nbuild\tGOOS=linux\n";
        let compiler = decode_buildinfo(&buildinfo("go1.27.1 X:nodwarf5", modinfo)).unwrap();
        assert_eq!(
            compiler,
            Compiler::Go {
                version: "1.27.1".to_owned(),
                main_package: Some("example.com/kms/cmd/plugin".to_owned()),
                module: Some("example.com/kms".to_owned()),
            }
        );
        // No module info (`go build file.go` records only `path command-line-arguments`).
        let bare = decode_buildinfo(&buildinfo("go1.27.3", "")).unwrap();
        assert!(
            matches!(bare, Compiler::Go { ref version, main_package: None, .. } if version == "1.27.3")
        );
    }

    #[test]
    fn unreadable_build_info_is_said_so() {
        let mut old = buildinfo("go1.17", "");
        old[15] = 0;
        assert!(decode_buildinfo(&old).unwrap_err().contains("before 1.18"));
        let cut = &buildinfo("go1.27.1", "")[..BUILDINFO_HEADER + 3];
        assert!(decode_buildinfo(cut).unwrap_err().contains("cut short"));
        assert!(decode_buildinfo(b"not build info at all, not at all").is_err());
    }

    /// A Rust binary with section headers whose data holds a well-formed Go build info blob at
    /// a 16-byte boundary (as a constant, for example): still Rust.
    #[test]
    fn build_info_bytes_outside_go_buildinfo_do_not_make_a_binary_go() {
        let mut me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let (start, size) = {
            let file = object::File::parse(&*me).unwrap();
            let rodata = file.section_by_name(".rodata").expect("a .rodata section");
            rodata.file_range().expect("stored in the file")
        };
        let blob = buildinfo("go1.27.1", "");
        let at = usize::try_from(start).unwrap().next_multiple_of(16);
        assert!(at + blob.len() <= usize::try_from(start + size).unwrap());
        me[at..at + blob.len()].copy_from_slice(&blob);
        match identify(&me).unwrap() {
            Compiler::Rust { .. } => {}
            other => panic!("a Rust binary with Go's magic in .rodata reads as {other:?}"),
        }
    }

    #[test]
    fn non_elf_is_refused_and_this_test_binary_is_rust() {
        assert!(identify(b"#!/bin/sh\necho hi\n").is_err());
        // The test binary itself was compiled by the rustc running this test.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        match identify(&me).unwrap() {
            Compiler::Rust { version, comment } => {
                assert!(comment.starts_with("rustc version "), "{comment}");
                assert!(version.parse::<pins::Version>().is_ok(), "{version}");
            }
            other => panic!("the test binary reads as {other:?}"),
        }
    }
}

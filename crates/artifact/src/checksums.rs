//! Published checksums: which assets are checksum lists (`checksums.txt`, goreleaser's
//! `NAME_VERSION_checksums.txt`, `SHA256SUMS`) or sidecars (`ASSET.sha256`), and parsing them.
//!
//! Lists use the `sha256sum` format goreleaser also writes: `<64 hex><space><space or *><name>`
//! per line. A sidecar holds the hex alone or the same one-line format.

use std::collections::BTreeMap;

/// What role an asset plays in verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A list covering many assets.
    List,
    /// The checksum of one asset, named by the sidecar minus its suffix.
    Sidecar { of: String },
    /// Anything else.
    Payload,
}

const SIDECAR_SUFFIXES: [&str; 3] = [".sha256", ".sha256sum", ".sha256.txt"];

pub fn kind(name: &str, all_names: &[&str]) -> Kind {
    let lower = name.to_ascii_lowercase();
    for suffix in SIDECAR_SUFFIXES {
        if let Some(base) = name.get(..name.len().saturating_sub(suffix.len()))
            && lower.ends_with(suffix)
            && all_names.contains(&base)
        {
            return Kind::Sidecar {
                of: base.to_owned(),
            };
        }
    }
    let list = lower == "checksums.txt"
        || lower.ends_with("_checksums.txt")
        || lower.ends_with("-checksums.txt")
        || lower == "sha256sums"
        || lower == "sha256sums.txt"
        || lower.ends_with(".sha256sums")
        || lower.ends_with("_sha256sums")
        || lower.ends_with("-sha256sums");
    if list { Kind::List } else { Kind::Payload }
}

/// A parse problem, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

/// Parses a checksum list into name → lower-case hex. Blank lines and `#` comments are
/// skipped; a name listed twice with different sums is an error (which one would we trust?).
pub fn parse_list(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut sums = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let error = |why: &str| ParseError {
            line: index + 1,
            why: why.to_owned(),
        };
        let (hex, rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| error("expected `<sha256>  <name>`"))?;
        let hex = hex.to_ascii_lowercase();
        if !download::is_sha256_hex(&hex) {
            return Err(error(
                "the checksum is not 64 hex digits (only sha256 is accepted)",
            ));
        }
        // `sha256sum` writes two spaces (text mode) or a space and `*` (binary mode).
        let name = rest.strip_prefix(' ').unwrap_or(rest);
        let name = name.strip_prefix('*').unwrap_or(name);
        let name = name.strip_prefix("./").unwrap_or(name);
        if name.is_empty() {
            return Err(error("no file name after the checksum"));
        }
        if let Some(previous) = sums.insert(name.to_owned(), hex.clone())
            && previous != hex
        {
            return Err(error(&format!(
                "{name} is listed twice with different checksums"
            )));
        }
    }
    Ok(sums)
}

/// Parses a sidecar for `asset`: the hex alone, or one `sha256sum` line naming `asset`.
pub fn parse_sidecar(text: &str, asset: &str) -> Result<String, ParseError> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .ok_or(ParseError {
            line: 1,
            why: "the sidecar is empty".to_owned(),
        })?;
    let hex = first.to_ascii_lowercase();
    if download::is_sha256_hex(&hex) {
        return Ok(hex);
    }
    let sums = parse_list(text)?;
    sums.get(asset).cloned().ok_or(ParseError {
        line: 1,
        why: format!("the sidecar does not name {asset}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b";
    const B: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn kinds() {
        let names = [
            "kgateway_2.1.0_checksums.txt",
            "SHA256SUMS",
            "a.tgz",
            "a.tgz.sha256",
            "b.sha256",
        ];
        assert_eq!(kind("kgateway_2.1.0_checksums.txt", &names), Kind::List);
        assert_eq!(kind("checksums.txt", &names), Kind::List);
        assert_eq!(kind("SHA256SUMS", &names), Kind::List);
        assert_eq!(
            kind("a.tgz.sha256", &names),
            Kind::Sidecar { of: "a.tgz".into() }
        );
        // A .sha256 whose asset is not in the release is just a file.
        assert_eq!(kind("b.sha256", &names), Kind::Payload);
        assert_eq!(kind("a.tgz", &names), Kind::Payload);
    }

    #[test]
    fn parses_goreleaser_and_sha256sum_formats() {
        let text = format!(
            "{A}  kgateway-linux-amd64\n{}  *kgateway.exe\r\n\n# comment\n{B} ./install.yaml\n",
            A.to_uppercase()
        );
        let sums = parse_list(&text).unwrap();
        assert_eq!(sums["kgateway-linux-amd64"], A);
        assert_eq!(sums["kgateway.exe"], A);
        assert_eq!(sums["install.yaml"], B);
    }

    #[test]
    fn rejects_bad_lines_with_their_number() {
        let error = parse_list(&format!("{A}  a\nmd5sum  b\n")).unwrap_err();
        assert_eq!(error.line, 2);
        let error = parse_list(&format!("{A}  a\n{B}  a\n")).unwrap_err();
        assert!(error.why.contains("twice"), "{error:?}");
        assert!(parse_list(&format!("{A}  a\n{A}  a\n")).is_ok());
    }

    #[test]
    fn sidecars() {
        assert_eq!(parse_sidecar(&format!("{A}\n"), "x").unwrap(), A);
        assert_eq!(parse_sidecar(&format!("{A}  x\n"), "x").unwrap(), A);
        assert!(parse_sidecar(&format!("{A}  y\n"), "x").is_err());
        assert!(parse_sidecar("", "x").is_err());
    }
}

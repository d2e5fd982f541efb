//! Drift: every other place in a tree that states a pinned version (Dockerfile `ARG`
//! defaults, workflow lines, `kindest/node:` references, download URLs in docs), compared with
//! the pins, with the fix as data (the rewritten text and its unified diff). Reads files; never
//! writes one (the caller does, atomically) and never prints.

use std::path::{Path, PathBuf};

use crate::{Pins, Version};

/// A folder that could not be listed.
#[derive(Debug)]
pub struct DriftError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl std::fmt::Display for DriftError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot list {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for DriftError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// One file whose stated versions differ from the pins.
#[derive(Debug, Clone)]
pub struct Drift {
    /// Relative to the checked root, with `/`.
    pub path: String,
    pub findings: Vec<Finding>,
    pub fixed: String,
    /// Unified diff from the file as it is to `fixed`.
    pub diff: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub rule: &'static str,
    pub found: String,
    pub pinned: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} states `{}`, the pin is `{}`",
            self.rule, self.found, self.pinned
        )
    }
}

/// Kinds of files, each with its own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FileKind {
    Dockerfile,
    Workflow,
    RustToolchain,
    /// Markdown, shell scripts and YAML under hack/: prose and snippets.
    Text,
}

/// What a token after a prefix is compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// A version: `1.27.1` and `v1.27.1` are the same; the file's spelling is kept on rewrite.
    Version,
    /// A version followed by an image suffix (`1.27.1-alpine`): only the version part counts.
    VersionPrefix,
    /// Exactly the pinned text (image references).
    Exact,
}

/// One pattern: a literal prefix and the pinned value the token after it must equal.
#[derive(Debug, Clone)]
struct Rule {
    name: &'static str,
    kinds: &'static [FileKind],
    prefix: String,
    /// The prefix must start a word (`GO_VERSION=` must not match inside `MY_GO_VERSION=`).
    word_start: bool,
    compare: Compare,
    expected: String,
    /// Other pinned values a token may equal as well (the node images of the other Kubernetes
    /// minors); a drifted token is fixed to the one of these or `expected` it names the same
    /// release of, else to `expected`.
    alternatives: Vec<String>,
}

const ALL: &[FileKind] = &[
    FileKind::Dockerfile,
    FileKind::Workflow,
    FileKind::RustToolchain,
    FileKind::Text,
];
const DOCKERFILE: &[FileKind] = &[FileKind::Dockerfile];
const WORKFLOW: &[FileKind] = &[FileKind::Workflow];
const TOOLCHAIN: &[FileKind] = &[FileKind::RustToolchain];
const SCRIPTS: &[FileKind] = &[FileKind::Workflow, FileKind::Text, FileKind::Dockerfile];

fn rules(pins: &Pins) -> Vec<Rule> {
    let rule = |name, kinds, prefix: &str, word_start, compare, expected: String| Rule {
        name,
        kinds,
        prefix: prefix.to_owned(),
        word_start,
        compare,
        expected,
        alternatives: Vec::new(),
    };
    let mut rules = Vec::new();
    for arg in pins.build_args() {
        let compare = if arg.name.ends_with("_VERSION") {
            Compare::Version
        } else {
            Compare::Exact
        };
        // `ARG GO_VERSION=1.27.1` in Dockerfiles, `GO_VERSION=…` in scripts and snippets, and
        // `GO_VERSION: …` as a workflow env entry.
        rules.push(rule(
            arg.name,
            ALL,
            &format!("{}=", arg.name),
            true,
            compare,
            arg.value.clone(),
        ));
        rules.push(rule(
            arg.name,
            WORKFLOW,
            &format!("{}: ", arg.name),
            true,
            compare,
            arg.value,
        ));
    }
    let go = pins.build.go.without_v();
    let rust = pins.build.rust.without_v();
    let node = pins
        .node_image
        .reference
        .strip_prefix("kindest/node:")
        .unwrap_or(&pins.node_image.reference)
        .to_owned();
    rules.extend([
        rule(
            "kind node image",
            ALL,
            "kindest/node:",
            false,
            Compare::Exact,
            node,
        ),
        rule(
            "go-version",
            WORKFLOW,
            "go-version: ",
            true,
            Compare::Version,
            go.clone(),
        ),
        rule(
            "Go image",
            DOCKERFILE,
            "golang:",
            true,
            Compare::VersionPrefix,
            go,
        ),
        rule(
            "Rust image",
            DOCKERFILE,
            "rust:",
            true,
            Compare::VersionPrefix,
            rust.clone(),
        ),
        rule(
            "rust toolchain",
            WORKFLOW,
            "toolchain: ",
            true,
            Compare::Version,
            rust.clone(),
        ),
        rule(
            "rust-toolchain.toml channel",
            TOOLCHAIN,
            "channel = ",
            true,
            Compare::Version,
            rust,
        ),
        rule(
            "kind download URL",
            SCRIPTS,
            "kubernetes-sigs/kind/releases/download/",
            false,
            Compare::Version,
            pins.kind.version.with_v(),
        ),
        rule(
            "kind download URL",
            SCRIPTS,
            "kind.sigs.k8s.io/dl/",
            false,
            Compare::Version,
            pins.kind.version.with_v(),
        ),
        rule(
            "kubectl download URL",
            SCRIPTS,
            "dl.k8s.io/release/",
            false,
            Compare::Version,
            pins.kubectl.version.with_v(),
        ),
        rule(
            "helm download URL",
            SCRIPTS,
            "get.helm.sh/helm-",
            false,
            Compare::Version,
            pins.helm.version.with_v(),
        ),
        rule(
            "Gateway API CRD URL",
            SCRIPTS,
            "kubernetes-sigs/gateway-api/releases/download/",
            false,
            Compare::Version,
            pins.gateway_api.version.with_v(),
        ),
    ]);
    // Every pinned node image is a valid reference, not only the default one.
    let others: Vec<&str> = pins
        .node_images
        .iter()
        .filter(|image| **image != pins.node_image)
        .map(|image| image.reference.as_str())
        .collect();
    for rule in &mut rules {
        match rule.name {
            "KIND_NODE_IMAGE" => {
                rule.alternatives = others.iter().map(|other| (*other).to_owned()).collect();
            }
            "kind node image" => {
                rule.alternatives = others
                    .iter()
                    .map(|other| {
                        other
                            .strip_prefix("kindest/node:")
                            .unwrap_or(other)
                            .to_owned()
                    })
                    .collect();
            }
            _ => {}
        }
    }
    rules
}

/// Which rules apply to a file, by its path relative to the root (None: not checked).
fn classify(relative: &str) -> Option<FileKind> {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    if name == "Dockerfile"
        || name.starts_with("Dockerfile.")
        || name.ends_with(".Dockerfile")
        || name.ends_with(".dockerfile")
    {
        return Some(FileKind::Dockerfile);
    }
    if relative.starts_with(".github/") && (name.ends_with(".yml") || name.ends_with(".yaml")) {
        return Some(FileKind::Workflow);
    }
    if name == "rust-toolchain.toml" || name == "rust-toolchain" {
        return Some(FileKind::RustToolchain);
    }
    if name.ends_with(".md") {
        return Some(FileKind::Text);
    }
    if relative.starts_with("hack/")
        && (name.ends_with(".sh") || name.ends_with(".yaml") || name.ends_with(".yml"))
    {
        return Some(FileKind::Text);
    }
    None
}

/// Every checked file under `root`, skipping build output, VCS data and dependencies.
fn files(root: &Path) -> Result<Vec<(String, FileKind)>, DriftError> {
    const SKIP: &[&str] = &["target", ".git", "node_modules", ".venv", "venv"];
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let listing = |source| DriftError {
            path: dir.clone(),
            source,
        };
        let entries = std::fs::read_dir(&dir).map_err(listing)?;
        for entry in entries {
            let entry = entry.map_err(listing)?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(listing)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if file_type.is_dir() {
                if !SKIP.contains(&name.as_str()) {
                    stack.push(path);
                }
                continue;
            }
            if !file_type.is_file() {
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .expect("walked paths are under the root")
                .to_string_lossy()
                .replace('\\', "/");
            if let Some(kind) = classify(&relative) {
                found.push((relative, kind));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every drifted file under `root`, in path order.
pub fn check_tree(root: &Path, pins: &Pins) -> Result<Vec<Drift>, DriftError> {
    let rules = rules(pins);
    let mut drifts = Vec::new();
    for (relative, kind) in files(root)? {
        let text = match std::fs::read_to_string(root.join(&relative)) {
            Ok(text) => text,
            // Binary or unreadable files state no versions we could rewrite.
            Err(_) => continue,
        };
        let (fixed, findings) = check_text(&text, kind, &rules);
        if !findings.is_empty() {
            let diff = similar::TextDiff::from_lines(&text, &fixed)
                .unified_diff()
                .context_radius(2)
                .header(&format!("a/{relative}"), &format!("b/{relative}"))
                .to_string();
            drifts.push(Drift {
                path: relative,
                findings,
                fixed,
                diff,
            });
        }
    }
    Ok(drifts)
}

fn check_text(text: &str, kind: FileKind, rules: &[Rule]) -> (String, Vec<Finding>) {
    let applicable: Vec<&Rule> = rules.iter().filter(|r| r.kinds.contains(&kind)).collect();
    let mut fixed = String::with_capacity(text.len());
    let mut findings = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.contains("versions-check: ignore") {
            fixed.push_str(line);
            continue;
        }
        let mut current = line.to_owned();
        for rule in &applicable {
            current = apply_rule(&current, rule, index + 1, kind, &mut findings);
        }
        fixed.push_str(&current);
    }
    (fixed, findings)
}

/// Checks every occurrence of `rule.prefix` in `line`, returning the line with drifted values
/// replaced by the pinned ones.
fn apply_rule(
    line: &str,
    rule: &Rule,
    line_number: usize,
    kind: FileKind,
    findings: &mut Vec<Finding>,
) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(&rule.prefix) {
        let before = &rest[..at];
        let starts_word = before
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'));
        // In Dockerfiles an ARG default only counts on an ARG line; ENV lines repeat the ARG.
        let dockerfile_arg_ok = !(kind == FileKind::Dockerfile
            && rule.prefix.ends_with('=')
            && rule.prefix != "channel = "
            && !line.trim_start().to_ascii_uppercase().starts_with("ARG "));
        out.push_str(before);
        out.push_str(&rule.prefix);
        rest = &rest[at + rule.prefix.len()..];
        if (rule.word_start && !starts_word) || !dockerfile_arg_ok {
            continue;
        }
        // An optional opening quote, then the token.
        let quote_len = rest
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .map_or(0, char::len_utf8);
        out.push_str(&rest[..quote_len]);
        rest = &rest[quote_len..];
        let token_len = rest
            .find(|c: char| !is_token_char(c, rule.compare))
            .unwrap_or(rest.len());
        let token = &rest[..token_len];
        match judge(token, rule) {
            Some(replacement) => {
                findings.push(Finding {
                    line: line_number,
                    rule: rule.name,
                    found: token.to_owned(),
                    pinned: replacement.clone(),
                });
                out.push_str(&replacement);
            }
            None => out.push_str(token),
        }
        rest = &rest[token_len..];
    }
    out.push_str(rest);
    out
}

fn is_token_char(c: char, compare: Compare) -> bool {
    match compare {
        Compare::Version => c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'),
        Compare::VersionPrefix => c.is_ascii_digit() || c == '.' || c == 'v',
        Compare::Exact => {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | ':' | '/')
        }
    }
}

/// The replacement for a drifted token, or None when it agrees (or is not a value at all:
/// `${GO_VERSION}`, `latest`, `stable`, an empty default).
fn judge(token: &str, rule: &Rule) -> Option<String> {
    match rule.compare {
        Compare::Exact => {
            if token.is_empty()
                || token == rule.expected
                || rule.alternatives.iter().any(|a| a == token)
            {
                return None;
            }
            // `kindest/node:v1.35.8` (no digest, or a stale one) is the pinned 1.35.8 image.
            let name = token.split('@').next().unwrap_or(token);
            let same = std::iter::once(&rule.expected)
                .chain(&rule.alternatives)
                .find(|candidate| candidate.split('@').next() == Some(name));
            Some(same.unwrap_or(&rule.expected).clone())
        }
        Compare::Version | Compare::VersionPrefix => {
            let found: Version = token.parse().ok()?;
            let expected: Version = rule.expected.parse().ok()?;
            if found.same_release(&expected) && found.pre == expected.pre {
                return None;
            }
            // Keep the file's own spelling: a `v` where it had one, none where it had none.
            Some(if found.v_prefix {
                expected.with_v()
            } else {
                expected.without_v()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins() -> Pins {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        crate::load(&root.join(crate::PIN_FILE)).unwrap()
    }

    #[test]
    fn dockerfile_arg_defaults_and_images() {
        let pins = pins();
        let go = pins.build.go.to_string();
        let text = "ARG GO_VERSION=1.20.0\nARG RUST_VERSION\nFROM golang:1.20.0-alpine AS build\nENV GO_VERSION=${GO_VERSION}\nFROM rust:${RUST_VERSION}\n";
        let (fixed, findings) = check_text(text, FileKind::Dockerfile, &rules(&pins));
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(findings[0].line, 1);
        assert_eq!(findings[1].line, 3);
        assert!(fixed.contains(&format!("ARG GO_VERSION={go}\n")), "{fixed}");
        assert!(
            fixed.contains(&format!("FROM golang:{go}-alpine AS build")),
            "{fixed}"
        );
        // Lines without a stated value are untouched.
        assert!(fixed.contains("ARG RUST_VERSION\n"));
        assert!(fixed.contains("ENV GO_VERSION=${GO_VERSION}\n"));
        let (again, none) = check_text(&fixed, FileKind::Dockerfile, &rules(&pins));
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(again, fixed);
    }

    #[test]
    fn workflow_lines_keep_their_quotes_and_spelling() {
        let pins = pins();
        let text = "      - uses: actions/setup-go@v5\n        with:\n          go-version: '1.22'\n      env:\n        KIND_VERSION: 0.20.0\n        image: kindest/node:v1.29.0@sha256:aaaa\n";
        let (fixed, findings) = check_text(text, FileKind::Workflow, &rules(&pins));
        assert_eq!(findings.len(), 3, "{findings:?}");
        assert!(
            fixed.contains(&format!("go-version: '{}'", pins.build.go)),
            "{fixed}"
        );
        assert!(
            fixed.contains(&format!(
                "KIND_VERSION: {}\n",
                pins.kind.version.without_v()
            )),
            "{fixed}"
        );
        assert!(fixed.contains(&format!("image: {}\n", pins.node_image.reference)));
    }

    #[test]
    fn every_pinned_node_image_is_accepted_and_a_stale_one_becomes_its_own_minor_s() {
        let pins = pins();
        let other = pins
            .node_images
            .iter()
            .find(|image| **image != pins.node_image)
            .expect("several pinned images")
            .clone();
        let (name, _) = other.reference.split_once('@').unwrap();
        let text = format!(
            "KIND_NODE_IMAGE={}\nimage: {}\nimage: {name}\nimage: {name}@sha256:{}\n",
            other.reference,
            other.reference,
            "0".repeat(64)
        );
        let (fixed, findings) = check_text(&text, FileKind::Workflow, &rules(&pins));
        // The pinned references agree; the undigested and the stale one are fixed to that
        // minor's pinned image, not to the default.
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(
            fixed,
            format!(
                "KIND_NODE_IMAGE={0}\nimage: {0}\nimage: {0}\nimage: {0}\n",
                other.reference
            )
        );
    }

    #[test]
    fn word_boundaries_and_ignore_markers() {
        let pins = pins();
        let text = "MY_GO_VERSION=1.0.0\nGO_VERSION=1.0.0 # versions-check: ignore\nuse toolchain: stable\n";
        let (_, findings) = check_text(text, FileKind::Text, &rules(&pins));
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn download_urls_in_docs() {
        let pins = pins();
        let text = "curl -Lo kind https://kind.sigs.k8s.io/dl/v0.20.0/kind-linux-amd64\ncurl -LO \"https://dl.k8s.io/release/$(curl -L -s https://dl.k8s.io/release/stable.txt)/bin/linux/amd64/kubectl\"\n";
        let (fixed, findings) = check_text(text, FileKind::Text, &rules(&pins));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(fixed.contains(&format!("dl/{}/kind-linux-amd64", pins.kind.version)));
    }
}

//! Reading the parts of a Dockerfile that carry build arguments: `ARG` declarations and the
//! `LABEL`/`ENV` entries whose values come from them. Enough of the Dockerfile syntax for that
//! (comments, line continuations, `key=value` lists with quotes), nothing more.

/// One `ARG` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
    /// 1-based line of the instruction.
    pub line: usize,
}

/// One `LABEL` or `ENV` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaEntry {
    pub kind: MetaKind,
    pub key: String,
    /// The value as written, before variable expansion (`$GO_VERSION`).
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKind {
    Label,
    Env,
}

impl MetaEntry {
    /// Whether the value uses `$name` or `${name}` (also `${name:-…}`).
    pub fn references(&self, name: &str) -> bool {
        let value = &self.value;
        let mut rest = value.as_str();
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            let candidate = rest.strip_prefix('{').unwrap_or(rest);
            if let Some(after) = candidate.strip_prefix(name)
                && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            {
                return true;
            }
        }
        false
    }
}

/// What a Dockerfile declares, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    pub args: Vec<ArgDecl>,
    pub meta: Vec<MetaEntry>,
    /// Lines of `FROM` instructions: entries after the last one are in the final image.
    pub from_lines: Vec<usize>,
}

impl Dockerfile {
    /// `LABEL`/`ENV` entries of the final stage (the image that gets inspected).
    pub fn final_stage_meta(&self) -> impl Iterator<Item = &MetaEntry> {
        let start = self.from_lines.last().copied().unwrap_or(0);
        self.meta.iter().filter(move |entry| entry.line > start)
    }
}

/// Parses Dockerfile text. Unknown instructions are skipped; this never fails, because docker
/// itself is the judge of syntax.
pub fn parse(text: &str) -> Dockerfile {
    let mut dockerfile = Dockerfile::default();
    for (line, instruction) in logical_lines(text) {
        let trimmed = instruction.trim_start();
        let (keyword, rest) = match trimmed.split_once(char::is_whitespace) {
            Some((keyword, rest)) => (keyword.to_ascii_uppercase(), rest.trim()),
            None => (trimmed.to_ascii_uppercase(), ""),
        };
        match keyword.as_str() {
            "FROM" => dockerfile.from_lines.push(line),
            "ARG" => {
                for word in words(rest) {
                    let (name, default) = match word.split_once('=') {
                        Some((name, value)) => (name.to_owned(), Some(unquote(value))),
                        None => (word.clone(), None),
                    };
                    dockerfile.args.push(ArgDecl {
                        name,
                        default,
                        line,
                    });
                }
            }
            "LABEL" | "ENV" => {
                let kind = if keyword == "LABEL" {
                    MetaKind::Label
                } else {
                    MetaKind::Env
                };
                let entries = words(rest);
                // The legacy `ENV KEY value` form: one key, the rest is the value.
                if kind == MetaKind::Env && !entries.first().is_some_and(|w| w.contains('=')) {
                    if let Some((key, value)) = rest.split_once(char::is_whitespace) {
                        dockerfile.meta.push(MetaEntry {
                            kind,
                            key: key.to_owned(),
                            value: unquote(value.trim()),
                            line,
                        });
                    }
                    continue;
                }
                for word in entries {
                    if let Some((key, value)) = word.split_once('=') {
                        dockerfile.meta.push(MetaEntry {
                            kind,
                            key: unquote(key),
                            value: unquote(value),
                            line,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    dockerfile
}

/// Instructions with continuations joined and comments dropped, with their first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_none()) {
            continue;
        }
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        match &mut current {
            Some((_, text)) => {
                text.push(' ');
                text.push_str(body);
            }
            None => current = Some((index + 1, body.to_owned())),
        }
        if !continues && let Some(done) = current.take() {
            lines.push(done);
        }
    }
    lines.extend(current);
    lines
}

/// Splits on whitespace outside double or single quotes.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => {
                quote = None;
                current.push(c);
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            (_, c) => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn unquote(text: &str) -> String {
    let text = text.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner.to_owned();
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_labels_and_envs() {
        let text = r#"# syntax=docker/dockerfile:1
ARG GO_VERSION=1.27.1
FROM golang:${GO_VERSION} AS build
ARG RUST_VERSION \
    KIND_VERSION="v0.33.0"
FROM scratch
ARG GO_VERSION
LABEL org.example.go="$GO_VERSION" \
      other=plain
ENV RUST_VERSION=${RUST_VERSION} PATH=/bin
ENV LEGACY_FORM some value
"#;
        let dockerfile = parse(text);
        let args: Vec<(&str, Option<&str>, usize)> = dockerfile
            .args
            .iter()
            .map(|a| (a.name.as_str(), a.default.as_deref(), a.line))
            .collect();
        assert_eq!(
            args,
            [
                ("GO_VERSION", Some("1.27.1"), 2),
                ("RUST_VERSION", None, 4),
                ("KIND_VERSION", Some("v0.33.0"), 4),
                ("GO_VERSION", None, 7),
            ]
        );
        assert_eq!(dockerfile.from_lines, [3, 6]);
        let meta: Vec<(&str, &str, usize)> = dockerfile
            .final_stage_meta()
            .map(|m| (m.key.as_str(), m.value.as_str(), m.line))
            .collect();
        assert_eq!(
            meta,
            [
                ("org.example.go", "$GO_VERSION", 8),
                ("other", "plain", 8),
                ("RUST_VERSION", "${RUST_VERSION}", 10),
                ("PATH", "/bin", 10),
                ("LEGACY_FORM", "some value", 11),
            ]
        );
        let go_label = &dockerfile.meta[0];
        assert!(go_label.references("GO_VERSION"));
        assert!(!go_label.references("GO"));
        assert!(!go_label.references("GO_VERSION_MINOR"));
        assert!(dockerfile.meta[2].references("RUST_VERSION"));
    }
}

//! Shell-style name patterns for selecting release assets: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`
//! and `{yaml,yml}`. Asset names are single path segments, so `*` matches any run of characters
//! and there is no `**`. Hand-written rather than `globset` because that pulls a whole regex
//! engine into the xtask's cold build for a few patterns matched against a few dozen names.

/// A set of compiled patterns; a name is selected when any pattern matches it.
#[derive(Debug, Clone, Default)]
pub struct GlobSet {
    patterns: Vec<Vec<Token>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `{a,b}`: one of several token sequences.
    Alternatives(Vec<Vec<Token>>),
}

impl GlobSet {
    /// Compiles every pattern; the error names the first bad pattern and why.
    pub fn new(patterns: &[String]) -> Result<GlobSet, (String, String)> {
        let compiled = patterns
            .iter()
            .map(|pattern| {
                let mut chars = pattern.chars().peekable();
                parse(&mut chars, false)
                    .map(|(tokens, _)| tokens)
                    .map_err(|why| (pattern.clone(), why))
            })
            .collect::<Result<_, _>>()?;
        Ok(GlobSet { patterns: compiled })
    }

    pub fn is_match(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.patterns.iter().any(|tokens| matches(tokens, &name))
    }

    /// The positions (in the order given to [`GlobSet::new`]) of the patterns that match none
    /// of `names`.
    pub fn unmatched(&self, names: &[&str]) -> Vec<usize> {
        let names: Vec<Vec<char>> = names.iter().map(|name| name.chars().collect()).collect();
        self.patterns
            .iter()
            .enumerate()
            .filter(|(_, tokens)| !names.iter().any(|name| matches(tokens, name)))
            .map(|(index, _)| index)
            .collect()
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Parses tokens until the end, or inside `{…}` until `,` or `}` (returned as the stop char).
fn parse(chars: &mut Chars<'_>, in_braces: bool) -> Result<(Vec<Token>, Option<char>), String> {
    let mut tokens = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if tokens.last() != Some(&Token::AnyRun) {
                    tokens.push(Token::AnyRun);
                }
            }
            '?' => tokens.push(Token::AnyOne),
            '[' => tokens.push(parse_class(chars)?),
            '{' => {
                if in_braces {
                    return Err("nested `{` is not supported".to_owned());
                }
                let mut alternatives = Vec::new();
                loop {
                    let (alternative, stop) = parse(chars, true)?;
                    alternatives.push(alternative);
                    match stop {
                        Some(',') => continue,
                        Some('}') => break,
                        _ => return Err("unclosed `{`: close it with `}`".to_owned()),
                    }
                }
                tokens.push(Token::Alternatives(alternatives));
            }
            ',' | '}' if in_braces => return Ok((tokens, Some(c))),
            '}' => return Err("`}` without a matching `{`".to_owned()),
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(Token::Literal(escaped)),
                None => return Err("trailing `\\` escapes nothing".to_owned()),
            },
            other => tokens.push(Token::Literal(other)),
        }
    }
    // Inside braces, running out of input is reported by the caller as an unclosed `{`.
    Ok((tokens, None))
}

fn parse_class(chars: &mut Chars<'_>) -> Result<Token, String> {
    let negated = matches!(chars.peek(), Some('!') | Some('^'));
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(c) = chars.next() else {
            return Err("unclosed `[`: close the character class with `]`".to_owned());
        };
        // A `]` right after `[` or `[!` is a literal member, as in POSIX shells.
        if c == ']' && !first {
            break;
        }
        first = false;
        if chars.peek() == Some(&'-') {
            chars.next();
            match chars.next() {
                Some(']') => {
                    ranges.push((c, c));
                    ranges.push(('-', '-'));
                    break;
                }
                Some(end) if end >= c => ranges.push((c, end)),
                Some(end) => return Err(format!("range `{c}-{end}` is reversed")),
                None => return Err("unclosed `[`: close the character class with `]`".to_owned()),
            }
        } else {
            ranges.push((c, c));
        }
    }
    Ok(Token::Class { negated, ranges })
}

fn matches(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::AnyRun, rest)) => (0..=name.len()).any(|skip| matches(rest, &name[skip..])),
        Some((Token::Alternatives(alternatives), rest)) => alternatives.iter().any(|alternative| {
            let mut joined = alternative.clone();
            joined.extend_from_slice(rest);
            matches(&joined, name)
        }),
        Some((token, rest)) => match name.split_first() {
            Some((c, name_rest)) if single(token, *c) => matches(rest, name_rest),
            _ => false,
        },
    }
}

fn single(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(literal) => *literal == c,
        Token::AnyOne => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != *negated
        }
        Token::AnyRun | Token::Alternatives(_) => unreachable!("handled in matches"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(patterns: &[&str]) -> GlobSet {
        GlobSet::new(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn matches_like_a_shell() {
        let cases: &[(&str, &str, bool)] = &[
            ("*.yaml", "install.yaml", true),
            ("*.yaml", "install.yml", false),
            ("*.yaml", ".yaml", true),
            ("kgateway-*.tgz", "kgateway-v2.1.0.tgz", true),
            ("kgateway-*.tgz", "kgateway-crds-v2.1.0.tar.gz", false),
            ("checksums.txt", "checksums.txt", true),
            ("checksums.txt", "checksums_txt", false),
            ("v?.yaml", "v1.yaml", true),
            ("v?.yaml", "v10.yaml", false),
            ("*-linux-[ax]*", "kind-linux-amd64", true),
            ("*-linux-[!a]*", "kind-linux-amd64", false),
            ("*-linux-[!a]*", "kind-linux-arm64", false),
            ("[0-9]*", "7z", true),
            ("[0-9]*", "z7", false),
            ("*.{yaml,yml}", "a.yml", true),
            ("*.{yaml,yml}", "a.yam", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("[]]", "]", true),
            ("[a-]", "-", true),
            ("", "", true),
            ("*", "", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                set(&[pattern]).is_match(name),
                *expected,
                "{pattern} vs {name}"
            );
        }
        assert!(set(&["*.txt", "*.yaml"]).is_match("x.yaml"));
        assert!(!GlobSet::default().is_match("x"));
    }

    #[test]
    fn unmatched_names_each_pattern_that_matches_nothing() {
        let globs = set(&["*.tar.gz", "*_arm64.tar.gz", "*checksums.txt", "*.sig"]);
        let names = ["k_linux_amd64.tar.gz", "k_checksums.txt"];
        assert_eq!(globs.unmatched(&names), [1, 3]);
        assert_eq!(globs.unmatched(&[]), [0, 1, 2, 3]);
        assert!(GlobSet::default().unmatched(&names).is_empty());
    }

    #[test]
    fn bad_patterns_say_why() {
        for (pattern, why) in [
            ("a[", "unclosed `[`"),
            ("[z-a]", "reversed"),
            ("{a,b", "unclosed `{`"),
            ("a}", "without a matching"),
            ("x\\", "escapes nothing"),
            ("{a,{b}}", "nested"),
        ] {
            let (bad, message) = GlobSet::new(&[pattern.to_owned()]).unwrap_err();
            assert_eq!(bad, pattern);
            assert!(message.contains(why), "{pattern}: {message}");
        }
    }

    #[test]
    fn long_star_runs_stay_fast() {
        // Consecutive stars collapse, so this does not explode combinatorially.
        let name = "a".repeat(60);
        assert!(!set(&["*****************************b"]).is_match(&name));
    }
}

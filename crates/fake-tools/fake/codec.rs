//! The line format shared by the fake tool (`fake/main.rs`) and the library that scripts it and
//! reads its log (`src/lib.rs`): one file, compiled into both, so the two ends cannot drift.
//! Backslash, tab and newline are escaped; in rule words a space is `\s`, because rule lines
//! separate words with spaces.

/// Escapes a field so it fits on one tab-separated line.
pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

/// Escapes one word of a rule line: like [`escape`], and spaces too.
#[allow(dead_code)] // only the library writes rules; the fake reads them
pub fn escape_word(word: &str) -> String {
    escape(word).replace(' ', "\\s")
}

/// Reverses [`escape`] and [`escape_word`].
pub fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('s') => out.push(' '),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

//! Asset-name safety: a release asset's name becomes a file name in `--dest`, so anything
//! that could leave the folder or hide in it is refused before a single byte is written.

/// The name of the artifacts record in a release's folder; no asset may take it.
pub(crate) const RECORD_FILE: &str = "artifacts.json";

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsafe {
    pub name: String,
    pub why: &'static str,
}

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "asset name {:?} is refused: {}", self.name, self.why)
    }
}

/// Accepts a plain file name: no separators, no `..`, no NUL or control characters, no
/// leading dot (hidden files and `.part` lookalikes), not empty, not absurdly long.
pub fn check(name: &str) -> Result<(), Unsafe> {
    let refuse = |why| {
        Err(Unsafe {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.contains('/') || name.contains('\\') {
        return refuse("it contains a path separator");
    }
    if name.contains("..") {
        return refuse("it contains '..'");
    }
    if name.contains('\0') {
        return refuse("it contains NUL");
    }
    if name.chars().any(char::is_control) {
        return refuse("it contains control characters");
    }
    if name.starts_with('.') {
        return refuse("it starts with '.'");
    }
    if name.ends_with(".part") {
        return refuse("it ends with .part, the suffix of unfinished downloads");
    }
    if name == RECORD_FILE {
        return refuse("it would overwrite the artifacts record");
    }
    if name.len() > 255 {
        return refuse("it is longer than a file name may be");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn refuses_escapes_and_hidden_names() {
        for bad in [
            "../x",
            "a/b",
            "a\\b",
            "..",
            "a..b",
            ".hidden",
            "x\0y",
            "x\ny",
            "",
            "a.tgz.part",
            "artifacts.json",
        ] {
            assert!(check(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "install.yaml",
            "kgateway-v2.1.0.tgz",
            "checksums.txt",
            "kgateway_2.1.0_linux_amd64.tar.gz",
        ] {
            check(good).unwrap();
        }
    }
}

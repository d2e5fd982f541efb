//! The command value: everything needed to run a process, and nothing run yet.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A command line as data. Building one has no side effects.
#[derive(Clone, PartialEq, Eq)]
pub struct Cmd {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, Option<OsString>)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) purpose: String,
    pub(crate) stdin: Option<Vec<u8>>,
    pub(crate) timeout: Option<Duration>,
    /// Argument positions whose values are secrets: shown as `***` everywhere.
    pub(crate) secret_args: Vec<usize>,
}

impl Cmd {
    /// A command running `program`, described by a one-line `purpose` used in every error.
    pub fn new(program: impl Into<PathBuf>, purpose: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            purpose: purpose.into(),
            stdin: None,
            timeout: None,
            secret_args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An argument that must never be printed or logged (a token, a password).
    pub fn secret_arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.secret_args.push(self.args.len());
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Cmd {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// Bytes written to the child's stdin, after which stdin is closed.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kill the child (and its process group) if it runs longer than this.
    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = Some(timeout);
        self
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    pub fn get_cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The environment changes this command makes, in order (`None` removes the variable).
    pub fn get_env(&self) -> &[(OsString, Option<OsString>)] {
        &self.env
    }

    /// argv as strings (lossy for non-UTF-8), secrets masked; `argv()[0]` is the program.
    pub fn argv(&self) -> Vec<String> {
        let mut argv = vec![self.program.to_string_lossy().into_owned()];
        argv.extend(self.args.iter().enumerate().map(|(index, arg)| {
            if self.secret_args.contains(&index) {
                "***".to_owned()
            } else {
                arg.to_string_lossy().into_owned()
            }
        }));
        argv
    }

    /// The arguments only (no program), as strings: what unit tests compare.
    pub fn arg_strings(&self) -> Vec<String> {
        self.argv().split_off(1)
    }

    /// The program's file name, for messages (`kind`, not `/opt/tools/kind/v0.30.0/kind`).
    pub fn program_name(&self) -> String {
        self.program
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.to_string_lossy().into_owned())
    }
}

/// Quotes one word the way a POSIX shell reader expects, for display only: nothing in this
/// workspace ever hands such a string to a shell.
pub fn quote_for_display(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%^".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command line a person could paste: env changes first, then argv, secrets masked.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words = Vec::new();
        for (key, value) in &self.env {
            match value {
                Some(value) => words.push(format!(
                    "{}={}",
                    key.to_string_lossy(),
                    quote_for_display(&value.to_string_lossy())
                )),
                None => words.push(format!("-u {}", key.to_string_lossy())),
            }
        }
        if !words.is_empty() {
            words.insert(0, "env".to_owned());
        }
        words.extend(self.argv().iter().map(|w| quote_for_display(w)));
        f.write_str(&words.join(" "))
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cmd({self}; purpose: {})", self.purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_and_masks() {
        let cmd = Cmd::new("kubectl", "apply the fixture")
            .args(["apply", "-f", "a file.yaml"])
            .arg("--token")
            .secret_arg("hunter2")
            .env("KUBECONFIG", "/tmp/k c");
        assert_eq!(
            cmd.to_string(),
            "env KUBECONFIG='/tmp/k c' kubectl apply -f 'a file.yaml' --token '***'"
        );
        assert_eq!(
            cmd.arg_strings(),
            ["apply", "-f", "a file.yaml", "--token", "***"]
        );
        assert!(!format!("{cmd:?}").contains("hunter2"));
    }

    #[test]
    fn quoting_escapes_single_quotes() {
        assert_eq!(quote_for_display("it's"), r"'it'\''s'");
        assert_eq!(quote_for_display(""), "''");
        assert_eq!(quote_for_display("{{.Version}}"), "'{{.Version}}'");
    }
}

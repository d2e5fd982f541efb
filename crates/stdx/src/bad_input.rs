//! The one bad-input type: a mistake in what the user gave (a flag, a config or pin file, an
//! environment variable), found before any work. Whoever finds it makes one, wherever that is;
//! the xtask maps it to exit code 2.

use std::fmt;

/// A user's mistake, with a message that names where it is (file and line, flag or variable)
/// and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput {
    message: String,
}

impl BadInput {
    pub fn new(message: impl Into<String>) -> BadInput {
        BadInput {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same mistake with what was being done in front (`--tag: …`).
    #[must_use]
    pub fn context(self, what: impl fmt::Display) -> BadInput {
        BadInput {
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BadInput {}

/// An error that may be bad input: libraries' error types say so through this, and the xtask
/// maps every one of them to exit code 2 the same way.
pub trait MaybeBadInput {
    /// The user's mistake this error is, if it is one.
    fn bad_input(&self) -> Option<BadInput>;
}

impl MaybeBadInput for BadInput {
    fn bad_input(&self) -> Option<BadInput> {
        Some(self.clone())
    }
}

impl From<String> for BadInput {
    fn from(message: String) -> BadInput {
        BadInput::new(message)
    }
}

impl From<&str> for BadInput {
    fn from(message: &str) -> BadInput {
        BadInput::new(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_goes_in_front_and_display_is_the_message() {
        let error = BadInput::new("`x` is not a tag").context("--tag");
        assert_eq!(error.to_string(), "--tag: `x` is not a tag");
        assert_eq!(error.message(), "--tag: `x` is not a tag");
    }
}

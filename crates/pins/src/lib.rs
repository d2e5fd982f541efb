//! pins: reads `hack/versions.toml`, the one file that states every tool and image version.
//!
//! The model is strict: unknown keys, wrong types and malformed versions or digests are errors
//! that name the file, line and column and say how to fix them. Every consumer in the workspace
//! gets versions from a [`Pins`] value and never from a literal of its own. This crate reads
//! files and environment snapshots it is given; it never reads the process environment itself,
//! never prints and never touches the network.

pub mod drift;
mod kubernetes;
mod model;
mod overrides;
mod version;

pub use model::{
    Build, BuildArg, Channel, DigestImage, Docker, GatewayApi, Images, NodeImage, PIN_FILE, Pins,
    Platform, Sha256, ToolName, ToolPin, ToolRelease,
};
pub use overrides::{OVERRIDE_VARIABLES, Override, OverrideError};
pub use version::Version;

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with the pin file: where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinError {
    pub path: PathBuf,
    /// 1-based line and column, when the problem has a place in the file.
    pub line_col: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.path.display(), self.message)
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for PinError {}

/// Every pin-file and config-file problem is the user's to fix.
impl stdx::MaybeBadInput for PinError {
    fn bad_input(&self) -> Option<stdx::BadInput> {
        Some(stdx::BadInput::new(self.to_string()))
    }
}

/// Reads and validates the pin file at `path`.
pub fn load(path: &Path) -> Result<Pins, PinError> {
    let text = std::fs::read_to_string(path).map_err(|error| PinError {
        path: path.to_owned(),
        line_col: None,
        message: format!(
            "cannot read the pin file: {error}; run from the workspace root or restore it with `git checkout -- {PIN_FILE}`"
        ),
    })?;
    parse(path, &text)
}

/// Parses pin-file text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Pins, PinError> {
    model::parse(path, text)
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

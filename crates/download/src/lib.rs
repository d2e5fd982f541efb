//! download: HTTP GETs that survive faults and never leave an unverified file behind.
//!
//! [`Client::fetch`] streams a body to `DEST.part` while hashing it, retries connect errors,
//! timeouts, 5xx and 429 with exponential backoff and jitter (honouring `Retry-After`), resumes
//! with `Range` after a dropped connection, refuses bodies over a size ceiling, verifies size and
//! sha256, and only then renames the file into place. On failure the `.part` is removed.
//! [`Client::get`] is the same machinery for small API answers kept in memory, and
//! [`Client::send`] for the few writes the gate makes (a POST or PATCH with a JSON body).
//!
//! A bearer token is sent only to the origin (scheme, host, port) it was given for, on every
//! hop: a redirect to another host never carries it. Plain `http://` is refused except to
//! loopback hosts. This crate never prints, never reads the process environment and never
//! puts a token into an error, an event or a file.

mod cache;
mod client;
mod error;
mod fetch;
mod hasher;
mod request;
mod retry;
mod secret;
mod url;

use std::path::{Path, PathBuf};

pub use cache::Cache;
pub use client::Client;
pub use error::DownloadError;
pub use request::{Bearer, Event, Fetched, Method, Options, Page, Request};
pub use retry::{backoff, parse_retry_after};
pub use secret::Secret;
pub use url::{Origin, check_transport, resolve};

/// Redirect hops followed before giving up (GitHub asset downloads take one or two).
const MAX_REDIRECTS: u32 = 10;
/// Bodies are read and hashed in chunks of this size; memory use does not grow with the file.
const CHUNK: usize = 256 * 1024;
/// Ceiling for [`Client::get`] bodies (API answers), whatever `max_size` says.
const MAX_PAGE: u64 = 32 * 1024 * 1024;

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Whether `text` is a sha256 in lower-case hex.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `DEST.part`, next to the destination (same filesystem, so the final rename is atomic).
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_path_sits_next_to_dest() {
        assert_eq!(part_path(Path::new("/d/a.tgz")), Path::new("/d/a.tgz.part"));
    }

    #[test]
    fn bearer_debug_hides_the_token() {
        let bearer = Bearer::new("s3cr3t", "https://api.github.com").unwrap();
        assert!(!format!("{bearer:?}").contains("s3cr3t"));
    }

    #[test]
    fn content_range_start_parses() {
        assert_eq!(
            crate::fetch::content_range_start("bytes 100-199/200"),
            Some(100)
        );
        assert_eq!(crate::fetch::content_range_start("bytes */200"), None);
    }
}

//! Installing pinned tools into `target/tools/<tool>/<version>/<tool>`.
//!
//! The order matters: download to a hidden temporary name, check the sha256 from the pin file,
//! only then extract (helm) and make the file executable, and finally rename it into place. A
//! failure at any step removes what it wrote, so the cache only ever holds verified binaries and
//! a half-finished install never looks like a finished one.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use pins::{Sha256, ToolName, Version};
use sha2::Digest;

use crate::{Context, Resolution, Verdict};

/// The one network step: stream `url` into `dest`, expecting `sha256`, and return the number
/// of bytes. `progress` gets `(bytes so far, total if known)`. On error nothing may be left at
/// `dest`. [`http_fetch`] is the real one; tests can count or fail calls.
pub type Fetch<'a> =
    dyn Fn(&str, &Sha256, &Path, &mut dyn FnMut(u64, Option<u64>)) -> Result<u64, String> + 'a;

/// The real network step: the `download` crate's verified, retrying, resuming fetch.
pub fn http_fetch(client: &download::Client) -> Box<Fetch<'_>> {
    Box::new(move |url, sha256, dest, progress| {
        let request = download::Request::new(url).sha256(sha256.as_hex());
        let fetched = client
            .fetch(&request, dest, &mut |event| match event {
                download::Event::Started { total, offset, .. } => progress(offset, total),
                download::Event::Progress { done, total } => progress(done, total),
                download::Event::Retrying { .. } | download::Event::CacheHit { .. } => {}
            })
            .map_err(|error| error.to_string())?;
        Ok(fetched.size)
    })
}

/// A tool in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub tool: ToolName,
    pub version: Version,
    pub path: PathBuf,
    /// False when it was already there (installs are idempotent).
    pub downloaded: bool,
}

/// Why an install did not happen. Nothing is left in the cache in any case.
#[derive(Debug)]
pub enum InstallError {
    /// Docker is not something we download.
    NotDownloadable(ToolName),
    /// No checksum for this platform (or an overridden version without `*_SHA256`).
    NoChecksum {
        tool: ToolName,
        fix: String,
    },
    /// The download failed (HTTP status, connection, truncated body).
    Download {
        url: String,
        message: String,
    },
    /// The bytes are not the pinned ones.
    ChecksumMismatch {
        url: String,
        expected: Sha256,
        actual: String,
        bytes: u64,
    },
    /// The archive does not hold the binary where the pin says.
    Archive {
        url: String,
        message: String,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::NotDownloadable(tool) => write!(
                f,
                "{tool} is not downloaded by this workspace: install it with your system's package manager"
            ),
            InstallError::NoChecksum { tool, fix } => {
                write!(f, "cannot install {tool} without a pinned checksum: {fix}")
            }
            InstallError::Download { url, message } => {
                write!(f, "downloading {url} failed: {message}")
            }
            InstallError::ChecksumMismatch {
                url,
                expected,
                actual,
                bytes,
            } => write!(
                f,
                "{url} served {bytes} bytes with sha256 {actual}, but {} pins {expected}; nothing was installed (a truncated or tampered download, or a wrong pin)",
                pins::PIN_FILE
            ),
            InstallError::Archive { url, message } => {
                write!(f, "the archive from {url} is not as pinned: {message}")
            }
            InstallError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Removes the files it guards when dropped, unless disarmed: the cleanup for every early return.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// Installs the wanted version of `tool` into the cache, unless a verified copy is already there.
pub fn install(
    context: &Context,
    tool: ToolName,
    fetch: &Fetch<'_>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Installed, InstallError> {
    let Some(pin) = context.pins.tool(tool) else {
        return Err(InstallError::NotDownloadable(tool));
    };
    let version = pin.version.clone();
    let Some(expected) = pin.sha256_for(&context.platform).cloned() else {
        return Err(InstallError::NoChecksum {
            tool,
            fix: crate::install_fix(context, tool),
        });
    };
    let dest = context.cached_path(tool, &version);
    let url = context
        .download_url(tool)
        .expect("downloadable tools have a URL");
    let member = pin.archive_member_for(&version, &context.platform);

    if already_installed(&dest, member.is_none(), &expected)? {
        return Ok(Installed {
            tool,
            version,
            path: dest,
            downloaded: false,
        });
    }

    let dir = dest
        .parent()
        .expect("cached paths have a parent")
        .to_owned();
    let created_dir = !dir.exists();
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let result = download_verify_place(&url, &dest, member.as_deref(), &expected, fetch, progress);
    if result.is_err() && created_dir {
        // Leave no empty version folder behind: an empty folder would look like a cache entry.
        let _ = fs::remove_dir(&dir);
        if let Some(tool_dir) = dir.parent() {
            let _ = fs::remove_dir(tool_dir);
        }
    }
    result?;
    Ok(Installed {
        tool,
        version,
        path: dest,
        downloaded: true,
    })
}

fn download_verify_place(
    url: &str,
    dest: &Path,
    member: Option<&str>,
    expected: &Sha256,
    fetch: &Fetch<'_>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), InstallError> {
    let dir = dest.parent().expect("cached paths have a parent");
    let name = dest
        .file_name()
        .expect("cached paths have a file name")
        .to_string_lossy();
    let download = dir.join(format!(".{name}.download"));
    let staged = dir.join(format!(".{name}.staged"));
    let _cleanup = Cleanup(vec![
        download.clone(),
        dir.join(format!(".{name}.download.part")),
        staged.clone(),
    ]);

    fetch(url, expected, &download, progress).map_err(|message| InstallError::Download {
        url: url.to_owned(),
        message,
    })?;
    let (actual, bytes) = sha256_of(&download)?;
    if actual != expected.as_hex() {
        return Err(InstallError::ChecksumMismatch {
            url: url.to_owned(),
            expected: expected.clone(),
            actual,
            bytes,
        });
    }

    // Only verified bytes get this far: now extract and make executable.
    match member {
        None => fs::rename(&download, &staged).map_err(io_error(&staged))?,
        Some(member) => {
            let archive = File::open(&download).map_err(io_error(&download))?;
            extract_member(archive, member, &staged).map_err(|message| InstallError::Archive {
                url: url.to_owned(),
                message,
            })?;
        }
    }
    make_executable(&staged)?;
    fs::rename(&staged, dest).map_err(io_error(dest))?;
    Ok(())
}

/// Installs from archive bytes already in memory (tests of extraction, offline bundles).
pub fn install_from_archive_bytes(
    archive: &[u8],
    member: &str,
    dest: &Path,
) -> Result<(), InstallError> {
    let staged = dest.with_extension("staged");
    let cleanup = Cleanup(vec![staged.clone()]);
    extract_member(archive, member, &staged).map_err(|message| InstallError::Archive {
        url: "(memory)".to_owned(),
        message,
    })?;
    make_executable(&staged)?;
    fs::rename(&staged, dest).map_err(io_error(dest))?;
    drop(cleanup);
    Ok(())
}

/// A raw binary in the cache is re-hashed (cheap, and catches a corrupted cache); an extracted
/// one (helm) cannot be compared with the archive's checksum, so its presence counts.
fn already_installed(dest: &Path, raw: bool, expected: &Sha256) -> Result<bool, InstallError> {
    if !crate::is_executable(dest) {
        return Ok(false);
    }
    if !raw {
        return Ok(true);
    }
    let (actual, _) = sha256_of(dest)?;
    if actual == expected.as_hex() {
        Ok(true)
    } else {
        // Not what the pin says: replace it rather than trust it.
        fs::remove_file(dest).map_err(io_error(dest))?;
        Ok(false)
    }
}

fn sha256_of(path: &Path) -> Result<(String, u64), InstallError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok((hex, total))
}

/// Copies exactly one regular file, `member`, out of a gzip'd tarball into `to`. Nothing else
/// in the archive is written anywhere, so paths inside it cannot escape the cache.
fn extract_member(archive: impl Read, member: &str, to: &Path) -> Result<(), String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar
        .entries()
        .map_err(|error| format!("not a tar.gz: {error}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|error| format!("corrupt tar.gz: {error}"))?;
        let path = entry
            .path()
            .map_err(|error| format!("bad entry name: {error}"))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if path != member {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(format!("{member} is not a regular file in the archive"));
        }
        let mut out = File::create(to).map_err(|error| format!("{}: {error}", to.display()))?;
        io::copy(&mut entry, &mut out).map_err(|error| format!("extracting {member}: {error}"))?;
        return Ok(());
    }
    Err(format!("it has no {member}"))
}

fn make_executable(path: &Path) -> Result<(), InstallError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(io_error(path))
}

/// What `verify-release` and `kind-up` call before they use a tool: the resolved tool when it is
/// usable; otherwise, when the pinned version is simply not installed (missing, or only another
/// version on PATH) and no `$TOOL` binary was named, it installs the pinned one (the way
/// `GOTOOLCHAIN` fetches a Go) and resolves again. The returned resolution may still be
/// unusable (a floor, a broken `$TOOL`); callers use [`Resolution::program`].
pub fn ensure_installed(
    sh: &exec::Shell,
    context: &Context,
    tool: ToolName,
    fetch: &Fetch<'_>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(Resolution, Option<Installed>), InstallError> {
    let first = crate::resolve(sh, context, tool);
    let installable = matches!(
        first.verdict,
        Verdict::Missing | Verdict::Mismatch | Verdict::BelowFloor(_) | Verdict::Broken(_)
    ) && first.source != Some(crate::Source::EnvBinary)
        && context.pins.tool(tool).is_some();
    if !installable {
        return Ok((first, None));
    }
    let installed = install(context, tool, fetch, progress)?;
    let mut second = crate::resolve(sh, context, tool);
    let reason = match first.verdict {
        Verdict::Missing => "missing".to_owned(),
        _ => format!("not usable ({})", first.describe()),
    };
    let mut notices = first.notices;
    notices.push(format!(
        "installed the pinned {tool} {} into {} because it was {reason}",
        installed.version,
        installed.path.display(),
    ));
    notices.append(&mut second.notices);
    second.notices = notices;
    Ok((second, Some(installed)))
}

//! A content-addressed cache: files stored under their sha256, so a second run that knows
//! what it expects downloads nothing. Every hit is re-hashed while it is copied out: a cache
//! entry someone edited is dropped, never trusted.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::hex;

/// A cache directory (`DIR/sha256/<hex>`).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    pub fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join("sha256").join(sha256)
    }

    /// Copies the entry for `sha256` to `part` while hashing it. Ok(true) when the copy is
    /// verified (and `part` holds it); Ok(false) when there is no good entry (a bad one is
    /// removed and `part` is removed).
    pub(crate) fn restore(&self, sha256: &str, size: Option<u64>, part: &Path) -> io::Result<bool> {
        let entry = self.entry(sha256);
        let mut source = match File::open(&entry) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        if size.is_some_and(|size| source.metadata().map(|m| m.len()).ok() != Some(size)) {
            let _ = fs::remove_file(&entry);
            return Ok(false);
        }
        let mut target = File::create(part)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let read = source.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            target.write_all(&buffer[..read])?;
        }
        if hex(&hasher.finalize()) == sha256 {
            Ok(true)
        } else {
            drop(target);
            let _ = fs::remove_file(part);
            let _ = fs::remove_file(&entry);
            Ok(false)
        }
    }

    /// Adds a verified file. A hard link when possible (no copy), else a copy; either way the
    /// entry appears atomically under its final name.
    pub(crate) fn store(&self, file: &Path, sha256: &str) -> io::Result<()> {
        let entry = self.entry(sha256);
        if entry.exists() {
            return Ok(());
        }
        let folder = self.dir.join("sha256");
        fs::create_dir_all(&folder)?;
        let temporary = folder.join(format!(".{sha256}.{}.tmp", std::process::id()));
        let _ = fs::remove_file(&temporary);
        if fs::hard_link(file, &temporary).is_err() {
            fs::copy(file, &temporary)?;
        }
        fs::rename(&temporary, &entry)
    }
}

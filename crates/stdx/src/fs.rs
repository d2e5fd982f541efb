//! fs: replacing a file so that no reader ever sees half of it. The bytes go to a temporary
//! file in the destination's directory (same filesystem, so the rename is atomic), which is
//! flushed to disk before it is renamed over the destination; the directory is then flushed
//! too, so the rename itself survives a crash. A failure leaves the destination as it was and
//! no temporary file behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never a mix.
/// A file it replaces keeps its permissions (a script stays executable); a new one gets the
/// usual `0666` less the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    Staged::write(path, bytes)?.commit()
}

/// A file written and flushed under a temporary name beside its destination, not yet in
/// place: [`Staged::commit`] renames it over the destination, dropping it removes it. Staging
/// several files before committing any keeps a set of files together when one of them cannot
/// be written.
#[derive(Debug)]
pub struct Staged {
    temporary: PathBuf,
    destination: PathBuf,
    committed: bool,
}

impl Staged {
    /// Writes `bytes` to a new temporary file beside `path` and flushes it to disk.
    pub fn write(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
        let (temporary, mut file) = create_temporary(path)?;
        let staged = Staged {
            temporary,
            destination: path.to_owned(),
            committed: false,
        };
        file.write_all(bytes)?;
        if let Ok(metadata) = fs::metadata(path) {
            file.set_permissions(metadata.permissions())?;
        }
        file.sync_all()?;
        Ok(staged)
    }

    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Renames the file over its destination, then flushes the directory (best effort: not
    /// every filesystem can).
    pub fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.temporary, &self.destination)?;
        self.committed = true;
        if let Ok(directory) = File::open(parent_of(&self.destination)) {
            let _ = directory.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A new file `.NAME.PID-N.tmp` beside `path`: hidden, and never one that already exists.
fn create_temporary(path: &Path) -> io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    loop {
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(
            ".{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let temporary = parent_of(path).join(temporary_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
        {
            Ok(file) => return Ok((temporary, file)),
            // Left by an earlier process with the same id: take the next number.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("stdx-fs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_replaces_leaving_only_the_file() {
        let dir = scratch("replace");
        let path = dir.join("report.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names(&dir), ["report.json"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        let dir = scratch("mode");
        let path = dir.join("script.sh");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        write_atomic(&path, b"new").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary_file() {
        let dir = scratch("fail");
        // A non-empty directory cannot be renamed over.
        let path = dir.join("blocked");
        fs::create_dir_all(path.join("inside")).unwrap();
        assert!(write_atomic(&path, b"x").is_err());
        assert_eq!(names(&dir), ["blocked"]);
        // A staged file dropped without commit goes too.
        let staged = Staged::write(&dir.join("never"), b"x").unwrap();
        assert_eq!(names(&dir).len(), 2);
        drop(staged);
        assert_eq!(names(&dir), ["blocked"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = scratch("missing");
        let error = write_atomic(&dir.join("absent/file"), b"x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        fs::remove_dir_all(dir).unwrap();
    }
}

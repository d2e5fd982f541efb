//! temp: a private folder that is removed with everything in it when its owner is dropped,
//! for the product's own scratch space (an image build context, a gateway's config, the fake
//! tools of a benchmark). Created `0700` under the system's temporary folder (or a given
//! one) with a name that never existed before: the process id, the time and a counter, and
//! `create_dir` refusing a name already taken.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// An owned folder; dropping it removes the folder and its contents (errors are ignored: a
/// scratch folder that cannot be removed is not worth failing for).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new folder `PREFIX…` in the system's temporary folder.
    pub fn new(prefix: &str) -> io::Result<Self> {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    /// A new folder `PREFIX…` in `parent`, which must exist.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or_default();
        loop {
            let path = parent.join(format!(
                "{prefix}{}-{nanos:x}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(io::Error::new(
                        error.kind(),
                        format!("creating a folder in {}: {error}", parent.display()),
                    ));
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_unique_and_removed_with_its_contents() {
        let parent = TempDir::new("stdx-temp-test-").unwrap();
        let one = TempDir::new_in(parent.path(), "x-").unwrap();
        let two = TempDir::new_in(parent.path(), "x-").unwrap();
        assert_ne!(one.path(), two.path());
        let mode = std::fs::metadata(one.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::create_dir(one.path().join("inner")).unwrap();
        std::fs::write(one.path().join("inner/file"), b"x").unwrap();
        let path = one.path().to_path_buf();
        drop(one);
        assert!(!path.exists());
        assert!(two.path().exists());
        let parent_path = parent.path().to_path_buf();
        drop(two);
        drop(parent);
        assert!(!parent_path.exists());
    }

    #[test]
    fn a_missing_parent_is_an_error_naming_it() {
        let parent = TempDir::new("stdx-temp-test-").unwrap();
        let missing = parent.path().join("absent");
        let error = TempDir::new_in(&missing, "x-").unwrap_err();
        assert!(error.to_string().contains("absent"), "{error}");
    }
}

//! Images into the cluster: docker inspect (image ID) and save through the docker crate's
//! commands, and kind's `load image-archive`. The images a run loads are exactly the
//! ones its artifact step recorded ([`RecordedImage`]): each is checked against its recorded
//! image ID, saved as a single-platform archive when the engine can, and loaded from that file
//! (`kind load docker-image` fails under Docker's containerd image store, kind#3795).

use std::path::{Path, PathBuf};

use docker::Docker;
use exec::{Cmd, Shell};

use crate::ClusterError;
use crate::kind::Kind;

/// An image as the engine knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageId {
    pub reference: String,
    /// `sha256:…` image ID (local builds have no repo digest).
    pub id: String,
    /// `repo@sha256:…` when the image came from a registry.
    pub repo_digests: Vec<String>,
}

/// `docker image inspect`: None when the engine does not have the image.
pub fn inspect(
    sh: &Shell,
    docker: &Docker,
    reference: &str,
) -> Result<Option<ImageId>, ClusterError> {
    let output = sh
        .run_unchecked(&docker.image_inspect(reference))
        .map_err(ClusterError::infra(format!("inspect image {reference}")))?;
    if sh.is_dry_run() {
        return Ok(None);
    }
    if !output.status.success() {
        let stderr = output.stderr_str();
        if stderr.contains("No such image") || stderr.contains("No such object") {
            return Ok(None);
        }
        return Err(ClusterError::Unexpected {
            step: format!("inspect image {reference}"),
            message: format!("docker image inspect failed: {}", stderr.trim()),
        });
    }
    let info = docker::parse_image_inspect(&output.stdout_str()).map_err(|message| {
        ClusterError::Unexpected {
            step: format!("inspect image {reference}"),
            message,
        }
    })?;
    Ok(Some(ImageId {
        reference: reference.to_owned(),
        id: info.id,
        repo_digests: info.repo_digests,
    }))
}

/// An image the run recorded (artifacts.json, or the echo image it built): the reference the
/// pods name and the image ID the engine must still hold under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedImage {
    pub reference: String,
    /// `sha256:…`
    pub id: String,
}

/// The Docker Engine API version from which `docker save --platform` exists (Docker 28).
pub const SAVE_PLATFORM_API: (u32, u32) = (1, 48);

/// The platform to save single-platform archives for, `linux/ARCH` of the engine, when the
/// engine's API can do it (`docker save --platform` needs API 1.48). Older engines keep one
/// platform per image anyway (no containerd image store), so saving without the flag is exact.
pub fn save_platform(api_version: &str, os: &str, arch: &str) -> Option<String> {
    let mut parts = api_version.trim().split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    ((major, minor) >= SAVE_PLATFORM_API && !os.is_empty() && !arch.is_empty())
        .then(|| format!("{os}/{arch}"))
}

/// `docker save [--platform P] --output FILE REF`: one image, one archive.
pub fn save_command(
    docker: &Docker,
    reference: &str,
    platform: Option<&str>,
    archive: &Path,
) -> Cmd {
    let mut cmd = Cmd::new(
        docker.program(),
        format!("save {reference} for kind to {}", archive.display()),
    )
    .arg("save");
    if let Some(platform) = platform {
        cmd = cmd.args(["--platform", platform]);
    }
    cmd.arg("--output").arg(archive).arg(reference)
}

/// The archive file for `reference` in `dir`: the reference with every character that is not
/// a letter, digit, `.`, `_` or `-` replaced, so no reference escapes the folder.
pub fn archive_path(dir: &Path, reference: &str) -> PathBuf {
    let name: String = reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.tar"))
}

/// Loads exactly the recorded images into cluster `name`: each must still be the recorded
/// image ID in the local engine (never re-pulled by tag), is saved to `dir` and loaded with
/// `kind load image-archive`. Returns the references loaded.
pub fn load_recorded(
    sh: &Shell,
    docker: &Docker,
    kind: &Kind,
    name: &str,
    images: &[RecordedImage],
    dir: &Path,
    platform: Option<&str>,
) -> Result<Vec<String>, ClusterError> {
    if !sh.is_dry_run() {
        std::fs::create_dir_all(dir).map_err(ClusterError::io(format!(
            "create the image archive folder {}",
            dir.display()
        )))?;
    }
    let mut loaded = Vec::new();
    for image in images {
        let step = format!("load image {} into {name}", image.reference);
        if !sh.is_dry_run() {
            match inspect(sh, docker, &image.reference)? {
                None => {
                    return Err(ClusterError::Unexpected {
                        step,
                        message: format!(
                            "the local docker engine no longer has {} (recorded as {}); fetch the release again",
                            image.reference, image.id
                        ),
                    });
                }
                Some(found) if found.id != image.id => {
                    return Err(ClusterError::Unexpected {
                        step,
                        message: format!(
                            "{} is now image {}, but this run recorded {}: something re-tagged it meanwhile; refusing to load an image nobody verified",
                            image.reference, found.id, image.id
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        let archive = archive_path(dir, &image.reference);
        sh.run(&save_command(docker, &image.reference, platform, &archive))
            .map_err(ClusterError::infra(format!("save {}", image.reference)))?;
        sh.run(&kind.load_image_archive(name, &archive))
            .map_err(ClusterError::infra(step))?;
        if !sh.is_dry_run() {
            // The archive has served its purpose; image archives are large.
            let _ = std::fs::remove_file(&archive);
        }
        loaded.push(image.reference.clone());
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_only_where_the_engine_api_has_it() {
        assert_eq!(save_platform("1.41", "linux", "amd64"), None);
        assert_eq!(save_platform("1.47", "linux", "arm64"), None);
        assert_eq!(
            save_platform("1.48", "linux", "arm64").as_deref(),
            Some("linux/arm64")
        );
        assert_eq!(
            save_platform("1.51", "linux", "amd64").as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(save_platform("garbage", "linux", "amd64"), None);
    }

    #[test]
    fn save_argv_and_archive_names() {
        let docker = Docker::new("/usr/bin/docker");
        let archive = archive_path(
            Path::new("/run/images"),
            "cr.kgateway.dev/a/kgateway:v2.1.0",
        );
        assert_eq!(
            archive,
            Path::new("/run/images/cr.kgateway.dev_a_kgateway_v2.1.0.tar")
        );
        let cmd = save_command(&docker, "cr.example/a:v1", Some("linux/amd64"), &archive);
        assert_eq!(
            cmd.arg_strings(),
            [
                "save",
                "--platform",
                "linux/amd64",
                "--output",
                "/run/images/cr.kgateway.dev_a_kgateway_v2.1.0.tar",
                "cr.example/a:v1"
            ]
        );
        let cmd = save_command(&docker, "cr.example/a:v1", None, &archive);
        assert_eq!(cmd.arg_strings()[..2], ["save", "--output"]);
        assert_eq!(
            archive_path(Path::new("/d"), "../../x"),
            Path::new("/d/.._.._x.tar")
        );
    }
}

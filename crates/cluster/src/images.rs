//! Images into the cluster: docker pull / inspect (digest) / save / load through the docker
//! crate's commands, and kind's `load docker-image` / `load image-archive`.

use std::path::Path;

use docker::Docker;
use exec::Shell;

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

/// Pulls `reference` unless the engine already has it, and returns what it has.
pub fn ensure_local(
    sh: &Shell,
    docker: &Docker,
    reference: &str,
) -> Result<Option<ImageId>, ClusterError> {
    if let Some(found) = inspect(sh, docker, reference)? {
        return Ok(Some(found));
    }
    sh.run(&docker.pull(reference))
        .map_err(ClusterError::infra(format!("pull image {reference}")))?;
    if sh.is_dry_run() {
        // The plan shows the pull a missing image needs; inspecting again adds nothing.
        return Ok(None);
    }
    inspect(sh, docker, reference)
}

/// `docker save --output ARCHIVE REF…`: the tarball `kind load image-archive` takes.
pub fn save(
    sh: &Shell,
    docker: &Docker,
    references: &[&str],
    archive: &Path,
) -> Result<(), ClusterError> {
    sh.run(&docker.save(archive, references))
        .map_err(ClusterError::infra(format!(
            "save {}",
            references.join(", ")
        )))?;
    Ok(())
}

/// `docker load --input ARCHIVE`: the references or IDs it loaded.
pub fn load(sh: &Shell, docker: &Docker, archive: &Path) -> Result<Vec<String>, ClusterError> {
    let output = sh
        .run(&docker.load(archive))
        .map_err(ClusterError::infra(format!("load {}", archive.display())))?;
    Ok(docker::parse_load(&output.stdout_str()))
}

/// Loads images from the local engine into every node of cluster `name`.
pub fn load_into_cluster(
    sh: &Shell,
    kind: &Kind,
    name: &str,
    references: &[String],
) -> Result<(), ClusterError> {
    for reference in references {
        sh.run(&kind.load_docker_image(name, reference))
            .map_err(ClusterError::infra(format!(
                "load image {reference} into {name}"
            )))?;
    }
    Ok(())
}

/// Loads `docker save` archives (as the artifact step recorded them) into cluster `name`.
pub fn load_archives_into_cluster(
    sh: &Shell,
    kind: &Kind,
    name: &str,
    archives: &[&Path],
) -> Result<(), ClusterError> {
    for archive in archives {
        sh.run(&kind.load_image_archive(name, archive))
            .map_err(ClusterError::infra(format!(
                "load image archive {} into {name}",
                archive.display()
            )))?;
    }
    Ok(())
}

//! The release's images: pulled by reference, their digests checked against the published
//! list, and those named by manifests or shipped as archives recorded by image ID.

use docker::Docker;
use exec::Shell;

use crate::assets::parallel;
use crate::record::{AssetRecord, ImageRecord, ImageSource, Role};
use crate::{ArtifactError, Env, Event, Plan, images, read_text};

/// Stage 3 (beside stage 2): pulls the configured images (filled from the resolved tag) and
/// records each one's ID and registry digest.
pub fn pull_images(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    tag: &str,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Vec<ImageRecord>, ArtifactError> {
    let wanted: Vec<(String, ImageSource)> = plan
        .images
        .iter()
        .map(|image| {
            let reference = config::install::fill_version(image, tag);
            (reference, ImageSource::Config)
        })
        .collect();
    pull_all(plan, env, sh, &wanted, on_event)
}

fn pull_all(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    wanted: &[(String, ImageSource)],
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Vec<ImageRecord>, ArtifactError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let docker = docker_for(env, &format!("pulling {}", wanted[0].0))?;
    parallel(wanted, plan.parallelism, |(reference, source)| {
        on_event(Event::Image {
            reference: reference.clone(),
            step: "pulling",
        });
        let record = images::pull(sh, docker, reference, source.clone())?;
        on_event(Event::Image {
            reference: reference.clone(),
            step: "pulled",
        });
        Ok(record)
    })
}

fn docker_for<'a>(env: &'a Env, needed_for: &str) -> Result<&'a Docker, ArtifactError> {
    env.docker
        .as_ref()
        .ok_or_else(|| ArtifactError::DockerMissing {
            needed_for: needed_for.to_owned(),
        })
}

/// Pulls manifest-named images (those not pulled already), loads image tarballs, and checks
/// every image against the release's digest list.
pub(crate) fn fetch_images(
    plan: &Plan,
    env: &Env,
    sh: &Shell,
    assets: &[AssetRecord],
    pulled: Vec<ImageRecord>,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Vec<ImageRecord>, ArtifactError> {
    let mut wanted: Vec<(String, ImageSource)> = Vec::new();
    if plan.images_from_manifests {
        for asset in assets.iter().filter(|a| a.role == Role::Payload) {
            if !(asset.name.ends_with(".yaml") || asset.name.ends_with(".yml")) {
                continue;
            }
            let path = plan.dest.join(&asset.path);
            let text = read_text(&path)?;
            let found =
                images::manifest_images(&text).map_err(|why| ArtifactError::BadManifest {
                    asset: asset.name.clone(),
                    why,
                })?;
            for reference in found {
                let known = pulled.iter().any(|image| image.reference == reference)
                    || wanted.iter().any(|(known, _)| *known == reference);
                if !known {
                    wanted.push((
                        reference,
                        ImageSource::Manifest {
                            asset: asset.name.clone(),
                        },
                    ));
                }
            }
        }
    }
    let digest_list = match &plan.digest_list {
        Some(name) => match assets.iter().find(|a| a.name == *name) {
            Some(asset) => {
                let path = plan.dest.join(&asset.path);
                let text = read_text(&path)?;
                Some(images::parse_digest_list(&text).map_err(|why| {
                    ArtifactError::BadChecksumFile {
                        file: name.clone(),
                        line: 0,
                        why,
                    }
                })?)
            }
            None => {
                on_event(Event::Note(format!(
                    "the release has no digest list {name}; image digests are recorded but not compared"
                )));
                None
            }
        },
        None => None,
    };
    let mut records = pulled;
    records.extend(pull_all(plan, env, sh, &wanted, on_event)?);
    if let Some(list) = &digest_list {
        for record in &mut records {
            if let Some(published) = images::published_digest(list, &record.reference) {
                let got = record.digest.as_deref().and_then(images::digest_part);
                if got != Some(published) {
                    return Err(ArtifactError::ImageDigestMismatch {
                        reference: record.reference.clone(),
                        published: published.to_owned(),
                        pulled: record.digest.clone(),
                    });
                }
                record.published_digest = Some(published.to_owned());
            }
        }
    }
    let archives: Vec<&AssetRecord> = assets
        .iter()
        .filter(|a| a.role == Role::ImageArchive)
        .collect();
    if let Some(first) = archives.first() {
        let docker = docker_for(env, &format!("loading {}", first.name))?;
        for archive in archives {
            on_event(Event::Image {
                reference: archive.name.clone(),
                step: "loading",
            });
            let loaded = images::load(sh, docker, &plan.dest.join(&archive.path), &archive.name)?;
            for record in &loaded {
                on_event(Event::Image {
                    reference: record.reference.clone(),
                    step: "loaded",
                });
            }
            records.extend(loaded);
        }
    }
    Ok(records)
}

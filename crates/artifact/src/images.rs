//! Images: references found in manifests, a release's digest list, and the docker steps that
//! turn a reference or an image tarball into a recorded digest and ID.

use std::collections::BTreeMap;
use std::path::Path;

use docker::Docker;
use exec::Shell;

use crate::ArtifactError;
use crate::record::{ImageRecord, ImageSource};

/// Every string `image:` value in a multi-document YAML text, in order, without duplicates.
pub fn manifest_images(text: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = serde::Deserialize::deserialize(document)
            .map_err(|error: serde_yaml_ng::Error| error.to_string())?;
        collect_images(&value, &mut found);
    }
    Ok(found)
}

fn collect_images(value: &serde_yaml_ng::Value, found: &mut Vec<String>) {
    match value {
        serde_yaml_ng::Value::Mapping(mapping) => {
            for (key, value) in mapping {
                if key.as_str() == Some("image")
                    && let Some(image) = value.as_str()
                {
                    let image = image.trim();
                    // Helm-style templates left in a manifest are not references.
                    if !image.is_empty()
                        && !image.contains("{{")
                        && !found.iter().any(|f| f == image)
                    {
                        found.push(image.to_owned());
                    }
                } else {
                    collect_images(value, found);
                }
            }
        }
        serde_yaml_ng::Value::Sequence(items) => {
            for item in items {
                collect_images(item, found);
            }
        }
        serde_yaml_ng::Value::Tagged(tagged) => collect_images(&tagged.value, found),
        _ => {}
    }
}

/// The repository part of a reference: no tag, no digest (`reg:5000/a/b:v1` → `reg:5000/a/b`).
pub fn repository(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

/// The `sha256:…` part of `repo@sha256:…`.
pub fn digest_part(repo_digest: &str) -> Option<&str> {
    repo_digest.split_once('@').map(|(_, digest)| digest)
}

/// Parses a digest list: per line `REF@sha256:…`, `sha256:… REF` or `REF sha256:…`. Keys are
/// the references as written (tag included when present).
pub fn parse_digest_list(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut digests = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (reference, digest) = match words.as_slice() {
            [single] => single
                .split_once('@')
                .ok_or_else(|| format!("line {}: expected REF@sha256:…", index + 1))?,
            [a, b] if a.starts_with("sha256:") => (*b, *a),
            [a, b] if b.starts_with("sha256:") => (*a, *b),
            _ => {
                return Err(format!(
                    "line {}: expected REF@sha256:… or `sha256:… REF`",
                    index + 1
                ));
            }
        };
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if !download::is_sha256_hex(hex) {
            return Err(format!(
                "line {}: {digest} is not a sha256 digest",
                index + 1
            ));
        }
        digests.insert(reference.to_owned(), digest.to_owned());
    }
    Ok(digests)
}

/// The digest a list publishes for `reference`: an exact entry first, else one for the same
/// repository without a tag.
pub fn published_digest<'a>(
    list: &'a BTreeMap<String, String>,
    reference: &str,
) -> Option<&'a str> {
    list.get(reference)
        .or_else(|| list.get(repository(reference)))
        .map(String::as_str)
}

/// Pulls `reference` and records its ID and registry digest.
pub fn pull(
    sh: &Shell,
    docker: &Docker,
    reference: &str,
    source: ImageSource,
) -> Result<ImageRecord, ArtifactError> {
    sh.run(&docker.pull(reference))
        .map_err(|error| ArtifactError::Docker {
            what: format!("pulling {reference}"),
            error: error.to_string(),
        })?;
    let info = inspect(sh, docker, reference)?;
    let wanted = repository(reference);
    // docker normalizes short names (`nginx` → `docker.io/library/nginx`): prefer the digest
    // of the same repository, else the first one.
    let digest = info
        .repo_digests
        .iter()
        .find(|repo_digest| {
            repository(repo_digest) == wanted
                || repository(repo_digest).ends_with(&format!("/{wanted}"))
        })
        .or_else(|| info.repo_digests.first())
        .cloned();
    Ok(ImageRecord {
        reference: reference.to_owned(),
        digest,
        id: info.id,
        source,
        published_digest: None,
    })
}

/// Loads an image tarball and records every image it held.
pub fn load(
    sh: &Shell,
    docker: &Docker,
    archive: &Path,
    asset: &str,
) -> Result<Vec<ImageRecord>, ArtifactError> {
    let output = sh
        .run(&docker.load(archive))
        .map_err(|error| ArtifactError::Docker {
            what: format!("loading {asset}"),
            error: error.to_string(),
        })?;
    let loaded = docker::parse_load(&output.stdout_str());
    if loaded.is_empty() {
        return Err(ArtifactError::Docker {
            what: format!("loading {asset}"),
            error: format!(
                "docker load reported no image; it printed: {}",
                output.stdout_str().trim()
            ),
        });
    }
    let mut records = Vec::new();
    for reference in loaded {
        let info = inspect(sh, docker, &reference)?;
        records.push(ImageRecord {
            reference,
            digest: info.repo_digests.first().cloned(),
            id: info.id,
            source: ImageSource::Archive {
                asset: asset.to_owned(),
            },
            published_digest: None,
        });
    }
    Ok(records)
}

fn inspect(
    sh: &Shell,
    docker: &Docker,
    reference: &str,
) -> Result<docker::ImageInfo, ArtifactError> {
    let output =
        sh.run(&docker.image_inspect(reference))
            .map_err(|error| ArtifactError::Docker {
                what: format!("inspecting {reference}"),
                error: error.to_string(),
            })?;
    docker::parse_image_inspect(&output.stdout_str()).map_err(|error| ArtifactError::Docker {
        what: format!("inspecting {reference}"),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_images_in_multi_document_manifests() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: cr.example/a:v1\n  - name: b\n    image: \"cr.example/b@sha256:00\"\n---\n# empty\n---\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n      - image: cr.example/a:v1\n      containers:\n      - image: '{{ .Values.image }}'\n";
        assert_eq!(
            manifest_images(text).unwrap(),
            ["cr.example/a:v1", "cr.example/b@sha256:00"]
        );
        assert!(manifest_images("a: [").is_err());
    }

    #[test]
    fn repositories() {
        assert_eq!(
            repository("cr.kgateway.dev/kgateway-dev/kgateway:v2.1.0"),
            "cr.kgateway.dev/kgateway-dev/kgateway"
        );
        assert_eq!(repository("localhost:5000/a"), "localhost:5000/a");
        assert_eq!(
            repository("localhost:5000/a:v1@sha256:ab"),
            "localhost:5000/a"
        );
        assert_eq!(repository("nginx"), "nginx");
    }

    #[test]
    fn digest_lists() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let text =
            format!("# images\ncr.example/a:v1@{a}\n{b} cr.example/b:v1\ncr.example/c {a}\n");
        let list = parse_digest_list(&text).unwrap();
        assert_eq!(published_digest(&list, "cr.example/a:v1"), Some(a.as_str()));
        assert_eq!(published_digest(&list, "cr.example/b:v1"), Some(b.as_str()));
        assert_eq!(published_digest(&list, "cr.example/c:v9"), Some(a.as_str()));
        assert_eq!(published_digest(&list, "cr.example/d:v1"), None);
        assert!(parse_digest_list("cr.example/a:v1@sha256:12").is_err());
        assert!(parse_digest_list("just-a-name").is_err());
    }
}

//! kubernetes: the node images the pin file holds (one per Kubernetes minor, one of them the
//! default) and the kubectl releases that go with them. kubectl supports one minor version of
//! skew with the API server, so every pinned node image must have a pinned kubectl within one
//! minor, and [`Pins::for_kubernetes`] narrows the pins to one minor: its node image and the
//! kubectl for it.

use std::path::Path;

use crate::model::find_line;
use crate::{NodeImage, PinError, Pins, ToolPin, Version, line_col};

/// Parses `[node_image]`: the default `image` and the `others`, each at its place in the file.
/// Two images of one Kubernetes minor are refused (which one would `--kubernetes` mean?).
/// Returns the default and every image, newest Kubernetes first.
pub(crate) fn assemble(
    path: &Path,
    text: &str,
    default: toml::Spanned<String>,
    others: Vec<toml::Spanned<String>>,
) -> Result<(NodeImage, Vec<NodeImage>), PinError> {
    let at = |spanned: &toml::Spanned<String>, message: String| PinError {
        path: path.to_owned(),
        line_col: Some(line_col(text, spanned.span().start)),
        message,
    };
    let parse = |spanned: &toml::Spanned<String>| {
        spanned
            .get_ref()
            .parse::<NodeImage>()
            .map_err(|message| at(spanned, format!("[node_image]: {message}")))
    };
    let default_image = parse(&default)?;
    let mut images = vec![default_image.clone()];
    for other in &others {
        let image = parse(other)?;
        if let Some(same) = images
            .iter()
            .find(|known| known.kubernetes.minor_pair() == image.kubernetes.minor_pair())
        {
            return Err(at(
                other,
                format!(
                    "[node_image] others: {} is a second image for Kubernetes {} (beside {}); keep one image per minor, the one the pinned kind release lists",
                    image.reference,
                    minor_text(image.kubernetes.minor_pair()),
                    same.reference
                ),
            ));
        }
        images.push(image);
    }
    images.sort_by(|a, b| b.kubernetes.cmp(&a.kubernetes));
    Ok((default_image, images))
}

/// Every pinned node image has a pinned kubectl within one minor version.
pub(crate) fn check_kubectl_skew(path: &Path, text: &str, pins: &Pins) -> Result<(), PinError> {
    for image in &pins.node_images {
        if pins.kubectl_for(&image.kubernetes).is_none() {
            let kubectls = pins
                .kubectl_releases()
                .iter()
                .map(|version| version.with_v())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(PinError {
                path: path.to_owned(),
                line_col: text
                    .find(&image.reference)
                    .map(|offset| line_col(text, offset))
                    .or_else(|| find_line(text, "[kubectl]")),
                message: format!(
                    "no pinned kubectl ({kubectls}) is within one minor version of the node image's Kubernetes {}; pin a kubectl {}.x release as [[kubectl.also]] with its checksums",
                    image.kubernetes,
                    minor_text(image.kubernetes.minor_pair())
                ),
            });
        }
    }
    Ok(())
}

fn minor_text((major, minor): (u64, u64)) -> String {
    format!("{major}.{minor}")
}

impl Pins {
    /// The Kubernetes minors that have a pinned node image, newest first (`1.37`).
    pub fn kubernetes_minors(&self) -> Vec<String> {
        self.node_images
            .iter()
            .map(|image| minor_text(image.kubernetes.minor_pair()))
            .collect()
    }

    /// The pinned node image for Kubernetes `major.minor`.
    pub fn node_image_for(&self, minor: (u64, u64)) -> Option<&NodeImage> {
        self.node_images
            .iter()
            .find(|image| image.kubernetes.minor_pair() == minor)
    }

    /// Every pinned kubectl release: the default, then `[[kubectl.also]]`.
    pub fn kubectl_releases(&self) -> Vec<&Version> {
        std::iter::once(&self.kubectl.version)
            .chain(self.kubectl.also.iter().map(|release| &release.version))
            .collect()
    }

    /// The pinned kubectl for an API server at `server`: one within one minor version, the
    /// same minor when there is one, else the newest. `None` when no pinned release is
    /// within skew. The result carries that release's version and checksums and no `also`.
    pub fn kubectl_for(&self, server: &Version) -> Option<ToolPin> {
        let default = (&self.kubectl.version, &self.kubectl.sha256);
        let candidates = std::iter::once(default).chain(
            self.kubectl
                .also
                .iter()
                .map(|release| (&release.version, &release.sha256)),
        );
        let (version, sha256) = candidates
            .filter_map(|(version, sha256)| {
                let distance = version.minor_distance(server)?;
                (distance <= 1).then_some((distance, version, sha256))
            })
            .min_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
            .map(|(_, version, sha256)| (version, sha256))?;
        Some(ToolPin {
            version: version.clone(),
            sha256: sha256.clone(),
            also: Vec::new(),
            ..self.kubectl.clone()
        })
    }

    /// The pins narrowed to one Kubernetes minor (`1.35`, `v1.35`): that minor's node image
    /// and the kubectl for it. Errors say what to give instead.
    pub fn for_kubernetes(&self, minor: &str) -> Result<Pins, String> {
        let wanted = parse_minor(minor)?;
        if let Some(variable) = &self.node_image_override {
            // The variable's own image is that minor's, the one cell it can name.
            if self.node_image.kubernetes.minor_pair() == wanted {
                return Ok(self.clone());
            }
            return Err(format!(
                "--kubernetes {minor} picks a pinned node image, but {variable} names one image ({}, Kubernetes {}); unset {variable}, or pass --kubernetes {} alone",
                self.node_image.reference,
                minor_text(self.node_image.kubernetes.minor_pair()),
                minor_text(self.node_image.kubernetes.minor_pair())
            ));
        }
        let image = self.node_image_for(wanted).ok_or_else(|| {
            format!(
                "--kubernetes {minor}: the pin file has no node image for Kubernetes {}; the pinned minors are {}",
                minor_text(wanted),
                self.kubernetes_minors().join(", ")
            )
        })?;
        let kubectl = self.kubectl_for(&image.kubernetes).ok_or_else(|| {
            format!(
                "--kubernetes {minor}: kubectl {} is more than one minor version away from Kubernetes {}; unset KUBECTL_VERSION or set it to a {}.x release",
                self.kubectl.version,
                image.kubernetes,
                minor_text(wanted)
            )
        })?;
        Ok(Pins {
            node_image: image.clone(),
            kubectl,
            ..self.clone()
        })
    }
}

/// `1.35` or `v1.35` → (1, 35); a patch or anything else is refused with the form to use.
fn parse_minor(text: &str) -> Result<(u64, u64), String> {
    let fix = "give a Kubernetes minor such as 1.35 (the pin file picks the patch release)";
    let bare = text.strip_prefix('v').unwrap_or(text);
    let mut parts = bare.split('.');
    let number = |part: Option<&str>| {
        part.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u64>().ok())
    };
    match (number(parts.next()), number(parts.next()), parts.next()) {
        (Some(major), Some(minor), None) => Ok((major, minor)),
        _ => Err(format!("--kubernetes `{text}`: {fix}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minor_is_major_dot_minor_with_an_optional_v() {
        assert_eq!(parse_minor("1.35"), Ok((1, 35)));
        assert_eq!(parse_minor("v1.36"), Ok((1, 36)));
        for wrong in ["1.35.8", "1", "latest", "1.x", "", "1..3"] {
            let error = parse_minor(wrong).unwrap_err();
            assert!(error.contains("such as 1.35"), "{wrong}: {error}");
        }
    }
}

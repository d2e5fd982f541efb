//! The pinned Gateway API CRD bundle: where it comes from (the pinned URL, or its mirror), where
//! a run keeps it, and the download that checks it against the pinned sha256 before kubectl
//! ever reads it. Shared by verify-release and kind-up; [`crate::stages::install_crds`]
//! applies it.

use std::path::{Path, PathBuf};

/// The bundle's file in `dir`: `gateway-api-<version>-<channel>-install.yaml`.
pub fn bundle_path(pins: &pins::Pins, dir: &Path) -> PathBuf {
    let pin = &pins.gateway_api;
    dir.join(format!(
        "gateway-api-{}-{}-install.yaml",
        pin.version.with_v(),
        pin.channel.as_str()
    ))
}

/// The pinned URL, or `<mirror>/<host>/<path>` of it.
pub fn bundle_url(pins: &pins::Pins, mirror: Option<&str>) -> String {
    let url = pins.gateway_api.crds_url();
    match (mirror, url.split_once("://")) {
        (Some(mirror), Some((_, host_and_path))) => format!("{mirror}/{host_and_path}"),
        _ => url,
    }
}

/// Downloads the bundle into `dir`, verified against the pinned sha256 (the download crate's
/// cache makes a second run free). Returns the file and whether it came from the cache.
pub fn fetch_bundle(
    pins: &pins::Pins,
    mirror: Option<&str>,
    dir: &Path,
    options: download::Options,
) -> Result<(PathBuf, bool), String> {
    let dest = bundle_path(pins, dir);
    let url = bundle_url(pins, mirror);
    let pin = &pins.gateway_api;
    let client = download::Client::new(options);
    let fetched = client
        .fetch(
            &download::Request::new(url.clone()).sha256(pin.sha256.as_hex()),
            &dest,
            &mut |_| {},
        )
        .map_err(|error| {
            format!(
                "downloading the Gateway API CRDs from {url} (pinned sha256 {} in {}): {error}",
                pin.sha256,
                pins::PIN_FILE
            )
        })?;
    Ok((dest, fetched.from_cache))
}

//! Version overrides in Kubernetes' spirit (`GO_VERSION` beats `.go-version`): an environment
//! variable may replace a pinned version for one run. Every override used is reported back so
//! the caller can say so loudly; a value that is not a version is an error, never ignored.

use std::collections::BTreeMap;
use std::fmt;

use crate::{NodeImage, Pins, Platform, Sha256, ToolName, Version};

/// One pin replaced by an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub variable: String,
    pub pinned: String,
    pub value: String,
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={} overrides the pinned {} from {}",
            self.variable,
            self.value,
            self.pinned,
            crate::PIN_FILE
        )
    }
}

/// An override variable whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideError {
    pub variable: String,
    pub value: String,
    pub message: String,
}

impl fmt::Display for OverrideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}: {}", self.variable, self.value, self.message)
    }
}

impl std::error::Error for OverrideError {}

/// Every variable that can override a pin, for help texts and docs.
pub const OVERRIDE_VARIABLES: [&str; 10] = [
    "KIND_VERSION",
    "KUBECTL_VERSION",
    "HELM_VERSION",
    "GO_VERSION",
    "RUST_VERSION",
    "GATEWAY_API_VERSION",
    "KIND_NODE_IMAGE",
    "KIND_SHA256",
    "KUBECTL_SHA256",
    "HELM_SHA256",
];

impl Pins {
    /// The pins with every override in `env` applied, and the list of overrides used.
    ///
    /// `env` is a snapshot of the environment taken by the caller. An empty value counts as
    /// unset. A tool version override drops the pinned checksums (they belong to the pinned
    /// version); `KIND_SHA256` etc. supply the checksum of the overriding version for
    /// `platform`, without which that version can be used from the host but not downloaded.
    pub fn with_overrides(
        &self,
        env: &BTreeMap<String, String>,
        platform: &Platform,
    ) -> Result<(Pins, Vec<Override>), OverrideError> {
        let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut pins = self.clone();
        let mut used = Vec::new();

        for tool in [ToolName::Kind, ToolName::Kubectl, ToolName::Helm] {
            let variable = tool.version_env();
            let checksum_variable = format!("{}_SHA256", tool.binary_env());
            let pin = match tool {
                ToolName::Kind => &mut pins.kind,
                ToolName::Kubectl => &mut pins.kubectl,
                _ => &mut pins.helm,
            };
            if let Some(value) = get(variable) {
                let version = parse_version(variable, value)?;
                if version != pin.version {
                    used.push(Override {
                        variable: variable.to_owned(),
                        pinned: pin.version.with_v(),
                        value: value.to_owned(),
                    });
                    // Keep the pinned spelling convention (kind/kubectl/helm tags all start with v).
                    // A release pinned among `[[kubectl.also]]` keeps its pinned checksums.
                    pin.sha256 = pin
                        .also
                        .iter()
                        .find(|release| release.version == version)
                        .map(|release| release.sha256.clone())
                        .unwrap_or_default();
                    pin.version = Version {
                        v_prefix: true,
                        ..version
                    };
                }
                // The variable names the kubectl of every cluster the run talks to, even when
                // it names the default pin.
                pin.also.clear();
            }
            if let Some(value) = get(&checksum_variable) {
                let sha: Sha256 = value.parse().map_err(|message: String| OverrideError {
                    variable: checksum_variable.clone(),
                    value: value.to_owned(),
                    message: format!(
                        "{message}; copy the checksum from the release's checksum file for {platform}"
                    ),
                })?;
                used.push(Override {
                    variable: checksum_variable.clone(),
                    pinned: pin
                        .sha256
                        .get(platform)
                        .map_or_else(|| "(none)".to_owned(), ToString::to_string),
                    value: value.to_owned(),
                });
                pin.sha256.insert(platform.clone(), sha);
            }
        }

        // Toolchains inside container builds are written without a leading `v` (`1.25.1`).
        for (variable, pinned) in [
            ("GO_VERSION", &mut pins.build.go),
            ("RUST_VERSION", &mut pins.build.rust),
        ] {
            let Some(value) = get(variable) else { continue };
            let version = parse_version(variable, value)?;
            if version != *pinned {
                used.push(Override {
                    variable: variable.into(),
                    pinned: pinned.to_string(),
                    value: value.to_owned(),
                });
                *pinned = Version {
                    v_prefix: false,
                    ..version
                };
            }
        }
        if let Some(value) = get("GATEWAY_API_VERSION") {
            let version = parse_version("GATEWAY_API_VERSION", value)?;
            if version != pins.gateway_api.version {
                // The CRD bundle's checksum belongs to the pinned version: an override must
                // bring its own, or the bundle could not be verified.
                let Some(sha) = get("GATEWAY_API_SHA256") else {
                    return Err(OverrideError {
                        variable: "GATEWAY_API_VERSION".into(),
                        value: value.to_owned(),
                        message: format!(
                            "a different Gateway API version needs its CRD bundle checksum too: set GATEWAY_API_SHA256 to the sha256 of {}",
                            pins.gateway_api
                                .crds_url
                                .replace("{version}", &version.with_v())
                                .replace("{channel}", pins.gateway_api.channel.as_str())
                        ),
                    });
                };
                let sha: Sha256 = sha.parse().map_err(|message| OverrideError {
                    variable: "GATEWAY_API_SHA256".into(),
                    value: sha.to_owned(),
                    message,
                })?;
                used.push(Override {
                    variable: "GATEWAY_API_VERSION".into(),
                    pinned: pins.gateway_api.version.with_v(),
                    value: value.to_owned(),
                });
                pins.gateway_api.version = Version {
                    v_prefix: true,
                    ..version
                };
                pins.gateway_api.sha256 = sha;
            }
        }
        if let Some(value) = get("KIND_NODE_IMAGE")
            && value != pins.node_image.reference
        {
            let image: NodeImage = value.parse().map_err(|message| OverrideError {
                variable: "KIND_NODE_IMAGE".into(),
                value: value.to_owned(),
                message,
            })?;
            used.push(Override {
                variable: "KIND_NODE_IMAGE".into(),
                pinned: pins.node_image.reference.clone(),
                value: value.to_owned(),
            });
            pins.node_images = vec![image.clone()];
            pins.node_image = image;
            pins.node_image_override = Some("KIND_NODE_IMAGE".into());
        }
        Ok((pins, used))
    }
}

fn parse_version(variable: &str, value: &str) -> Result<Version, OverrideError> {
    value.parse().map_err(|message| OverrideError {
        variable: variable.to_owned(),
        value: value.to_owned(),
        message: format!(
            "{message}; set it to a release version such as v1.2.3, or unset it to use the pin from {}",
            crate::PIN_FILE
        ),
    })
}

//! kubernetes: which Kubernetes minor a run's throwaway cluster gets, why, and which of the
//! minors the target supports the run leaves unverified (and why), for every report to say.
//!
//! `--kubernetes M` picks M (one the target lists, when it lists any). Without it, a target
//! that lists `[kubernetes] minors` gets the newest of them that has a pinned node image, so a
//! run never judges a release on a Kubernetes it does not claim to support; a target that
//! lists none gets the pin file's default image; `KIND_NODE_IMAGE` is the user's own choice.

use stdx::BadInput;

/// The cluster's Kubernetes and the target's minors this run does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// `1.36`; None on a cluster the user brings (it runs its own version).
    pub minor: Option<String>,
    /// Why this minor: the flag, the target's list, the pin file's default, the variable.
    pub why: String,
    pub not_verified: Vec<NotVerified>,
}

/// A supported minor this run does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotVerified {
    pub minor: String,
    pub reason: String,
}

impl Choice {
    /// For `run.json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "minor": self.minor,
            "why": self.why,
            "not_verified": self.not_verified.iter().map(|skipped| serde_json::json!({
                "minor": skipped.minor,
                "reason": skipped.reason,
            })).collect::<Vec<_>>(),
        })
    }

    /// One line for people: `Kubernetes 1.36 (why); not verified in this run: …`.
    pub fn line(&self) -> String {
        let mut line = match &self.minor {
            Some(minor) => format!("Kubernetes {minor} ({})", self.why),
            None => format!("Kubernetes of the cluster you bring ({})", self.why),
        };
        if !self.not_verified.is_empty() {
            line.push_str("; not verified in this run: ");
            line.push_str(
                &self
                    .not_verified
                    .iter()
                    .map(|skipped| format!("{} ({})", skipped.minor, skipped.reason))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        line
    }
}

fn minor_text((major, minor): (u64, u64)) -> String {
    format!("{major}.{minor}")
}

/// The settings narrowed to the run's Kubernetes minor, and the [`Choice`] made.
pub fn choose(
    requested: Option<&str>,
    existing: bool,
    settings: settings::Settings,
) -> Result<(settings::Settings, Choice), BadInput> {
    let support = settings.target.kubernetes.clone();
    let listed = support.minor_pairs();
    if existing {
        if requested.is_some() {
            return Err(BadInput::new(
                "--kubernetes picks the node image of a throwaway kind cluster; a cluster you bring (--cluster existing) runs its own version: drop --kubernetes",
            ));
        }
        let why = if listed.is_empty() {
            "its own version".to_owned()
        } else {
            "its own version; the target's [kubernetes] minors are not used on a cluster you bring"
                .to_owned()
        };
        let choice = Choice {
            minor: None,
            why,
            not_verified: Vec::new(),
        };
        return Ok((settings, choice));
    }
    let (narrowed, why) = match requested {
        Some(minor) => {
            let narrowed = settings.for_kubernetes(minor)?;
            let chosen = narrowed.pins.node_image.kubernetes.minor_pair();
            if !support.supports(chosen) {
                return Err(BadInput::new(format!(
                    "--kubernetes {minor}: {} does not list Kubernetes {} as supported ([kubernetes] minors = [{}]); choose one of those, or add it to the target config",
                    settings.config_path.display(),
                    minor_text(chosen),
                    support.minors.clone().unwrap_or_default().join(", ")
                )));
            }
            (narrowed, format!("--kubernetes {minor}"))
        }
        None if settings.pins.node_image_override.is_some() => {
            let variable = settings
                .pins
                .node_image_override
                .clone()
                .unwrap_or_default();
            (settings.clone(), variable)
        }
        None if listed.is_empty() => (
            settings.clone(),
            "the pin file's default node image; the target lists no [kubernetes] minors".to_owned(),
        ),
        None => {
            let mut by_newest = listed.clone();
            by_newest.sort_unstable_by(|a, b| b.cmp(a));
            let Some(newest) = by_newest
                .iter()
                .find(|minor| settings.pins.node_image_for(**minor).is_some())
            else {
                return Err(BadInput::new(format!(
                    "{}: none of the supported [kubernetes] minors ({}) has a node image in the pin file (it pins {}); add the target's minors the pinned kind release publishes images for",
                    settings.config_path.display(),
                    support.minors.clone().unwrap_or_default().join(", "),
                    settings.pins.kubernetes_minors().join(", ")
                )));
            };
            let narrowed = settings.for_kubernetes(&minor_text(*newest))?;
            (
                narrowed,
                "the newest of the target's supported minors with a pinned node image".to_owned(),
            )
        }
    };
    let chosen = narrowed.pins.node_image.kubernetes.minor_pair();
    let kind = narrowed.pins.kind.version.with_v();
    let not_verified = listed
        .iter()
        .filter(|minor| **minor != chosen)
        .map(|minor| NotVerified {
            minor: minor_text(*minor),
            reason: if settings.pins.node_image_for(*minor).is_some() {
                format!(
                    "not this run's minor: verify it with --kubernetes {}",
                    minor_text(*minor)
                )
            } else {
                format!("no pinned node image: kind {kind} publishes none for it")
            },
        })
        .collect();
    let choice = Choice {
        minor: Some(minor_text(chosen)),
        why,
        not_verified,
    };
    Ok((narrowed, choice))
}

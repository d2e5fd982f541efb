//! kubernetes: which Kubernetes minors a run's throwaway clusters get (a cell each), why, and
//! which of the minors the target supports the run leaves unverified (and why), for every
//! report to say.
//!
//! A target that lists `[kubernetes] minors` gets a cell for each of them that has a pinned node
//! image (newest first), so a run never judges a release on a Kubernetes it does not claim to
//! support, and verifies all it can; `--kubernetes 1.35,1.36` or `--kubernetes all` narrows
//! that (each one the target lists). A target that lists none gets the pin file's default
//! image. `KIND_NODE_IMAGE` names one image: one cell, and an error beside several.

use stdx::BadInput;

/// The clusters' Kubernetes minors and the target's minors this run does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// One per cell, in run order (`1.36`); empty on a cluster the user brings (it runs its
    /// own version).
    pub minors: Vec<String>,
    /// Why these minors: the flag, the target's list, the pin file's default, the variable.
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
    /// The first cell's minor (`run.json` `kubernetes.minor`, as before there were cells).
    pub fn minor(&self) -> Option<&str> {
        self.minors.first().map(String::as_str)
    }

    /// For `run.json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "minor": self.minor(),
            "minors": self.minors,
            "why": self.why,
            "not_verified": self.not_verified.iter().map(|skipped| serde_json::json!({
                "minor": skipped.minor,
                "reason": skipped.reason,
            })).collect::<Vec<_>>(),
        })
    }

    /// One line for people: `Kubernetes 1.36, 1.35 (why); not verified in this run: …`.
    pub fn line(&self) -> String {
        let mut line = if self.minors.is_empty() {
            format!("Kubernetes of the cluster you bring ({})", self.why)
        } else {
            format!("Kubernetes {} ({})", self.minors.join(", "), self.why)
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

/// One cell's Kubernetes: its minor (None on the user's cluster) and the settings narrowed to
/// it (its node image and the kubectl within skew of it).
#[derive(Debug, Clone)]
pub struct CellChoice {
    pub minor: Option<String>,
    pub settings: settings::Settings,
}

fn minor_text((major, minor): (u64, u64)) -> String {
    format!("{major}.{minor}")
}

/// The settings narrowed to each of the run's Kubernetes minors (a cell each), and the
/// [`Choice`] made. `requested` is `--kubernetes`: `1.35`, `1.35,1.36` or `all`.
pub fn choose(
    requested: Option<&str>,
    existing: bool,
    settings: settings::Settings,
) -> Result<(Vec<CellChoice>, Choice), BadInput> {
    let support = settings.target.kubernetes.clone();
    let listed = support.minor_pairs();
    let listed_text = || support.minors.clone().unwrap_or_default().join(", ");
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
        let cell = CellChoice {
            minor: None,
            settings,
        };
        let choice = Choice {
            minors: Vec::new(),
            why,
            not_verified: Vec::new(),
        };
        return Ok((vec![cell], choice));
    }
    let with_image: Vec<(u64, u64)> = {
        let mut by_newest = listed.clone();
        by_newest.sort_unstable_by(|a, b| b.cmp(a));
        by_newest
            .into_iter()
            .filter(|minor| settings.pins.node_image_for(*minor).is_some())
            .collect()
    };
    let narrow = |minor: &str| -> Result<CellChoice, BadInput> {
        let narrowed = settings.for_kubernetes(minor)?;
        let chosen = narrowed.pins.node_image.kubernetes.minor_pair();
        if !support.supports(chosen) {
            return Err(BadInput::new(format!(
                "--kubernetes {minor}: {} does not list Kubernetes {} as supported ([kubernetes] minors = [{}]); choose among those, or add it to the target config",
                settings.config_path.display(),
                minor_text(chosen),
                listed_text()
            )));
        }
        Ok(CellChoice {
            minor: Some(minor_text(chosen)),
            settings: narrowed,
        })
    };
    let (cells, why) = match requested.map(str::trim) {
        Some("all") => {
            if listed.is_empty() {
                let cell = CellChoice {
                    minor: Some(minor_text(settings.pins.node_image.kubernetes.minor_pair())),
                    settings: settings.clone(),
                };
                (
                    vec![cell],
                    "--kubernetes all: the target lists no [kubernetes] minors, so the pin file's default node image".to_owned(),
                )
            } else {
                let cells = with_image
                    .iter()
                    .map(|minor| narrow(&minor_text(*minor)))
                    .collect::<Result<Vec<_>, _>>()?;
                if cells.is_empty() {
                    return Err(no_image_error(&settings, &listed_text()));
                }
                (
                    cells,
                    "--kubernetes all: every supported minor with a pinned node image".to_owned(),
                )
            }
        }
        Some(list) => {
            let mut cells: Vec<CellChoice> = Vec::new();
            for minor in list.split(',').map(str::trim) {
                if minor.is_empty() {
                    return Err(BadInput::new(format!(
                        "--kubernetes {list}: an empty entry; give minors separated by commas (1.35,1.36) or all"
                    )));
                }
                let cell = narrow(minor)?;
                if cells.iter().any(|other| other.minor == cell.minor) {
                    return Err(BadInput::new(format!(
                        "--kubernetes {list}: Kubernetes {} is named twice; name each minor once",
                        cell.minor.clone().unwrap_or_default()
                    )));
                }
                cells.push(cell);
            }
            (cells, format!("--kubernetes {list}"))
        }
        None if settings.pins.node_image_override.is_some() => {
            let variable = settings
                .pins
                .node_image_override
                .clone()
                .unwrap_or_default();
            if with_image.len() > 1 {
                let image_minor = minor_text(settings.pins.node_image.kubernetes.minor_pair());
                return Err(BadInput::new(format!(
                    "{variable} names one node image, and the target's [kubernetes] minors give this run a cell for each of {}: unset {variable}, or pass --kubernetes {image_minor} to run its image alone",
                    with_image
                        .iter()
                        .map(|minor| minor_text(*minor))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let cell = CellChoice {
                minor: Some(minor_text(settings.pins.node_image.kubernetes.minor_pair())),
                settings: settings.clone(),
            };
            (vec![cell], variable)
        }
        None if listed.is_empty() => {
            let cell = CellChoice {
                minor: Some(minor_text(settings.pins.node_image.kubernetes.minor_pair())),
                settings: settings.clone(),
            };
            (
                vec![cell],
                "the pin file's default node image; the target lists no [kubernetes] minors"
                    .to_owned(),
            )
        }
        None => {
            if with_image.is_empty() {
                return Err(no_image_error(&settings, &listed_text()));
            }
            let cells = with_image
                .iter()
                .map(|minor| narrow(&minor_text(*minor)))
                .collect::<Result<Vec<_>, _>>()?;
            (
                cells,
                "the target's supported minors with a pinned node image".to_owned(),
            )
        }
    };
    let minors: Vec<String> = cells.iter().filter_map(|cell| cell.minor.clone()).collect();
    let kind = settings.pins.kind.version.with_v();
    let not_verified = listed
        .iter()
        .filter(|minor| !minors.contains(&minor_text(**minor)))
        .map(|minor| NotVerified {
            minor: minor_text(*minor),
            reason: if settings.pins.node_image_for(*minor).is_some() {
                format!(
                    "not among this run's minors: verify it with --kubernetes {}",
                    minor_text(*minor)
                )
            } else {
                format!("no pinned node image: kind {kind} publishes none for it")
            },
        })
        .collect();
    let choice = Choice {
        minors,
        why,
        not_verified,
    };
    Ok((cells, choice))
}

fn no_image_error(settings: &settings::Settings, listed: &str) -> BadInput {
    BadInput::new(format!(
        "{}: none of the supported [kubernetes] minors ({listed}) has a node image in the pin file (it pins {}); add the target's minors the pinned kind release publishes images for",
        settings.config_path.display(),
        settings.pins.kubernetes_minors().join(", ")
    ))
}

//! Which build arguments a Dockerfile gets, and whether the built image shows them.
//!
//! Kubernetes' KMS e2e image broke because one build forgot `--build-arg GO_VERSION`. Here the
//! Dockerfile's own `ARG` lines decide what is passed (each that names a pin, and only those),
//! and the built image must show each value in a `LABEL` or `ENV` of its final stage that is set
//! from the ARG.

use docker::dockerfile::{self, MetaKind};
use pins::Pins;
use serde::Serialize;

/// Build arguments BuildKit and the legacy builder define themselves: declaring them without a
/// default is normal.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// A pin the build passes, and the final-stage entries that must show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassedArg {
    pub name: String,
    pub value: String,
    /// `LABEL` or `ENV` keys set from the ARG in the final stage.
    pub proofs: Vec<Proof>,
}

/// One final-stage `LABEL` or `ENV` key set from a passed ARG.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proof {
    #[serde(serialize_with = "kind_name")]
    pub kind: MetaKind,
    pub key: String,
}

fn kind_name<S: serde::Serializer>(kind: &MetaKind, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match kind {
        MetaKind::Label => "label",
        MetaKind::Env => "env",
    })
}

/// Decides the build arguments for a Dockerfile: each declared ARG that names a pin, once.
/// An ARG with neither a default nor a pin is bad input (nothing would ever set it): the error
/// names `display_path` and the line.
pub fn plan(display_path: &str, text: &str, pins: &Pins) -> Result<Vec<PassedArg>, String> {
    let parsed = dockerfile::parse(text);
    let mut passed: Vec<PassedArg> = Vec::new();
    for arg in &parsed.args {
        if let Some(value) = pins.build_arg(&arg.name) {
            if !passed.iter().any(|p| p.name == arg.name) {
                let proofs = parsed
                    .final_stage_meta()
                    .filter(|entry| entry.references(&arg.name))
                    .map(|entry| Proof {
                        kind: entry.kind,
                        key: entry.key.clone(),
                    })
                    .collect();
                passed.push(PassedArg {
                    name: arg.name.clone(),
                    value,
                    proofs,
                });
            }
        } else if arg.default.is_none() && !PREDEFINED_ARGS.contains(&arg.name.as_str()) {
            let pinned: Vec<&str> = pins.build_args().iter().map(|a| a.name).collect();
            return Err(format!(
                "{display_path}:{}: ARG {} has no default and is not a pin in {}, so nothing would set it; give it a default (`ARG {}=value`) or use one of the pinned names ({})",
                arg.line,
                arg.name,
                pins::PIN_FILE,
                arg.name,
                pinned.join(", ")
            ));
        }
    }
    Ok(passed)
}

/// What the inspected image says about each passed pin: an empty list means proven.
pub fn verify(passed: &[PassedArg], image: &docker::ImageInfo) -> Vec<String> {
    let mut problems = Vec::new();
    for arg in passed {
        if arg.proofs.is_empty() {
            problems.push(format!(
                "{} is passed but no LABEL or ENV of the final stage is set from it, so the image cannot show it was built with {}={}; add `ARG {}` after the last FROM and `LABEL <key>=${}`",
                arg.name, arg.name, arg.value, arg.name, arg.name
            ));
            continue;
        }
        for Proof { kind, key } in &arg.proofs {
            let (what, shown) = match kind {
                MetaKind::Label => ("label", image.label(key)),
                MetaKind::Env => ("env", image.env_var(key)),
            };
            match shown {
                Some(value) if value == arg.value => {}
                Some(value) => problems.push(format!(
                    "{what} {key} is `{value}`, but the pinned {} is `{}`: the ARG did not reach the final stage (declare `ARG {}` after the last FROM)",
                    arg.name, arg.value, arg.name
                )),
                None => problems.push(format!(
                    "the image has no {what} {key}, which should carry {}={}",
                    arg.name, arg.value
                )),
            }
        }
    }
    problems
}

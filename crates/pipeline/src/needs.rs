//! What a run that could not run lacks, all at once: after a verdict of "could not run", every
//! tool that is not usable here (and would have to be downloaded), a docker engine that does not
//! answer, and the network a failed step could not reach, each with its next step. The first
//! failure cancels the other steps, so without this a first run offline would learn one thing
//! per attempt.

use exec::Shell;
use pins::ToolName;

use crate::graph::{Class, Status, Timing};
use crate::inputs::{Inputs, Target};
use crate::{Stage, StepId};

/// One thing the run lacks, and the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A tool that is not usable here; the real run would download its pinned version.
    Tool {
        tool: ToolName,
        /// What resolution found (its own words, ending with its fix).
        found: String,
    },
    /// The docker engine does not answer.
    Engine { why: String },
    /// A step that failed for want of a host it could not reach.
    Network { step: StepId, why: String },
}

impl Need {
    /// What to do about it, in one sentence.
    pub fn next_step(&self, inputs: &Inputs) -> String {
        match self {
            Need::Tool {
                tool: ToolName::Docker,
                ..
            } => "install docker (the CLI and its engine, at least the pinned floor), or point $DOCKER at its CLI".to_owned(),
            Need::Tool { tool, .. } => format!(
                "with network, `cargo xtask tools install {tool}` once; without, set XTASK_TOOLS_MIRROR to a mirror of the tools' download hosts, or point ${} at a binary",
                tool.as_str().to_ascii_uppercase()
            ),
            Need::Engine { .. } => {
                "start the docker engine (for example `sudo systemctl start docker`)".to_owned()
            }
            Need::Network { step, .. } if *step == Stage::Resolve => format!(
                "the GitHub API ({}) must be reachable; set GITHUB_API_URL to a mirror of it, or run where it is",
                inputs.settings.github.api_base
            ),
            Need::Network { .. } => {
                "the download hosts must be reachable; XTASK_TOOLS_MIRROR names a mirror of them"
                    .to_owned()
            }
        }
    }
}

/// Steps whose own infra failure means a host could not be reached.
const NETWORK_STEPS: [Stage; 3] = [Stage::Resolve, Stage::CrdBundle, Stage::Assets];

/// Everything the run lacks. `sh` asks the engine (a live shell: the run may be cancelled).
pub fn missing(inputs: &Inputs, timings: &[Timing], sh: &Shell) -> Vec<Need> {
    let mut needs = Vec::new();
    let context = &inputs.settings.tools;
    let tools: &[ToolName] = match inputs.target_cluster {
        Target::Existing { .. } => &[ToolName::Kubectl],
        Target::Kind => &[ToolName::Kind, ToolName::Kubectl, ToolName::Helm],
    };
    for tool in tools {
        let resolution = tools::resolve(sh, context, *tool);
        if resolution.program().is_err() {
            needs.push(Need::Tool {
                tool: *tool,
                found: resolution.describe(),
            });
        }
    }
    if matches!(inputs.target_cluster, Target::Kind) {
        let docker = tools::resolve(sh, context, ToolName::Docker);
        match docker.program() {
            // A CLI whose engine does not answer is judged unusable by resolution itself.
            Err(_) if docker.path.is_some() && docker.found.is_some() => needs.push(Need::Engine {
                why: docker.describe(),
            }),
            Err(_) => needs.push(Need::Tool {
                tool: ToolName::Docker,
                found: docker.describe(),
            }),
            Ok(program) => {
                if let Some(why) = engine_silent(sh, &docker::Docker::new(program)) {
                    needs.push(Need::Engine { why });
                }
            }
        }
    }
    for timing in timings {
        if let Status::Failed(failure) = &timing.status
            && failure.class == Class::Infra
            && NETWORK_STEPS.iter().any(|stage| timing.id == *stage)
        {
            needs.push(Need::Network {
                step: timing.id,
                why: failure.message.clone(),
            });
        }
    }
    needs
}

/// Why the engine does not answer, or None when it does.
fn engine_silent(sh: &Shell, docker: &docker::Docker) -> Option<String> {
    match sh.run_unchecked(&docker.version()) {
        Err(error) => Some(error.to_string()),
        Ok(output) => {
            let answered = serde_json::from_str::<serde_json::Value>(
                output.stdout_str().lines().next().unwrap_or("null"),
            )
            .is_ok_and(|json| !json["Server"].is_null());
            (!answered || !output.status.success()).then(|| {
                let said = output.stderr_str().trim().to_owned();
                if said.is_empty() {
                    "`docker version` shows no server".to_owned()
                } else {
                    said
                }
            })
        }
    }
}

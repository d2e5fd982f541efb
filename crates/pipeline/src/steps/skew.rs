//! kubectl on a cluster the user brings: kubectl supports one minor version of skew against
//! the API server, and the server's version is the user's, not a pin. So the tools step asks
//! the server first (any kubectl can read its version), then resolves the pinned kubectl
//! within skew of it, installing that release sha256-first. No pinned release within skew is
//! bad input naming the server's version and the pins (exit 2), before anything is deployed.

use std::path::PathBuf;

use cluster::kubectl::Kubectl;
use exec::Shell;
use pins::ToolName;

use super::release::{dry_program, real_program};
use super::{Run, exec_failure};
use crate::event::{Emitter, Note};
use crate::graph::{Failure, StepContext};
use crate::inputs::Target;

pub fn kubectl_for_server(
    run: &Run<'_>,
    context: &StepContext<'_>,
    emit: &Emitter<'_>,
    sh: &Shell,
) -> Result<PathBuf, Failure> {
    let Target::Existing {
        context: kube_context,
        kubeconfig,
        ..
    } = &run.inputs.target_cluster
    else {
        return Err(Failure::infra(
            "the server's kubectl is chosen only on a cluster the user brings",
        ));
    };
    let tools_context = &run.inputs.settings.tools;
    if run.dry_run() {
        let reader = dry_program(run, emit, ToolName::Kubectl, tools_context);
        sh.run_unchecked(&server_reader(&reader, kubeconfig, kube_context).version())
            .map_err(|error| exec_failure("planning the server version read", &error, false))?;
        emit.note(Note::ServerVersion {
            context: kube_context.clone(),
            server: None,
            kubectl: None,
        });
        return Ok(reader);
    }
    // Any kubectl that runs can ask the version; only what comes after needs one within skew.
    let found = tools::resolve(sh, tools_context, ToolName::Kubectl);
    let reader = match (&found.path, &found.found) {
        (Some(path), Some(_)) => path.clone(),
        _ => real_program(run, context, emit, sh, ToolName::Kubectl, tools_context)?,
    };
    let output = sh
        .run_unchecked(&server_reader(&reader, kubeconfig, kube_context).version())
        .map_err(|error| exec_failure("reading the API server's version", &error, false))?;
    let server = tools::parse::kubectl_server_version(&output.stdout_str(), &output.stderr_str())
        .map_err(|why| {
        Failure::infra(format!(
            "reading the API server's version through context {kube_context} of {}: {why}",
            kubeconfig.display()
        ))
    })?;
    let narrowed = tools_context
        .for_server(&server)
        .map_err(|why| Failure::bad_input(format!("context {kube_context}: {why}")))?;
    let path =
        real_program(run, context, emit, sh, ToolName::Kubectl, &narrowed).map_err(|failure| {
            match tools::resolve(sh, &narrowed, ToolName::Kubectl).verdict {
                // `$KUBECTL` names a binary outside skew of the server: the user's to change.
                tools::Verdict::BelowFloor(_) => Failure::bad_input(failure.message),
                _ => failure,
            }
        })?;
    emit.note(Note::ServerVersion {
        context: kube_context.clone(),
        server: Some(server.to_string()),
        kubectl: (!narrowed.names_binary(ToolName::Kubectl))
            .then(|| narrowed.wanted(ToolName::Kubectl).map(|v| v.with_v()))
            .flatten(),
    });
    Ok(path)
}

fn server_reader(
    program: &std::path::Path,
    kubeconfig: &std::path::Path,
    context: &str,
) -> Kubectl {
    Kubectl::new(program, kubeconfig).with_context(Some(context.to_owned()))
}

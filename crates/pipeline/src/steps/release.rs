//! Steps that need no cluster: the tools, the release resolved through the API, its assets
//! downloaded and proven, its images pulled and recorded, and the pinned CRD bundle.

use std::path::PathBuf;

use exec::Shell;
use pins::ToolName;

use super::{Programs, Run, artifact_failure, exec_failure};
use crate::event::{Emitter, Note, ToolFound};
use crate::graph::{Failure, StepContext};

/// Resolves kind, kubectl and helm (installing the pinned version of a missing one, sha256
/// first) and docker (at least the pinned floor, engine running); on the user's cluster,
/// kubectl alone. A dry run installs nothing and needs no engine: it names the binaries the
/// real run would use. Every tool and the engine are tried before the step fails, so a first
/// run offline, or with the engine down, learns everything it lacks at once, each with the
/// next step.
pub fn tools(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let sh = run.shell(context);
    // On the user's cluster nothing is created but the fixture: kubectl is all it takes.
    let existing = matches!(
        run.inputs.target_cluster,
        crate::inputs::Target::Existing { .. }
    );
    let mut paths = Vec::new();
    let mut problems: Vec<Failure> = Vec::new();
    // No docker CLI: asking its engine would only repeat that.
    let mut docker_missing = false;
    for tool in [
        ToolName::Kind,
        ToolName::Kubectl,
        ToolName::Helm,
        ToolName::Docker,
    ] {
        let path = if existing && tool != ToolName::Kubectl {
            Ok(PathBuf::from(tool.as_str()))
        } else if existing {
            super::skew::kubectl_for_server(run, context, &emit, &sh)
        } else if run.dry_run() {
            Ok(dry_program(run, &emit, tool, &run.inputs.settings.tools))
        } else {
            real_program(run, context, &emit, &sh, tool, &run.inputs.settings.tools)
        };
        match path {
            Ok(path) => paths.push(path),
            Err(failure) if failure.is_cancelled() => return Err(failure),
            Err(failure) => {
                problems.push(failure);
                docker_missing |= tool == ToolName::Docker;
                paths.push(PathBuf::from(tool.as_str()));
            }
        }
    }
    let docker = docker::Docker::new(&paths[3]);
    let save_platform = if run.dry_run() || existing || docker_missing {
        None
    } else {
        match engine_platform(&sh, &docker) {
            Ok(platform) => platform,
            Err(failure) if failure.is_cancelled() => return Err(failure),
            Err(failure) => {
                problems.push(failure);
                None
            }
        }
    };
    // Each cell's kubectl: the release within skew of its Kubernetes (one resolution per
    // release; the first cell's is the one above).
    let mut kubectls: Vec<PathBuf> = vec![paths[1].clone()];
    for cell in run.inputs.cells.iter().skip(1) {
        let tools_context = &cell.settings.tools;
        let wanted = tools_context.wanted(ToolName::Kubectl).cloned();
        let same = run.inputs.cells[..kubectls.len()]
            .iter()
            .position(|other| other.settings.tools.wanted(ToolName::Kubectl).cloned() == wanted);
        let path = match same {
            Some(index) => Ok(kubectls[index].clone()),
            None if run.dry_run() => Ok(dry_program(run, &emit, ToolName::Kubectl, tools_context)),
            None => real_program(run, context, &emit, &sh, ToolName::Kubectl, tools_context),
        };
        match path {
            Ok(path) => kubectls.push(path),
            Err(failure) if failure.is_cancelled() => return Err(failure),
            Err(failure) => {
                problems.push(failure);
                kubectls.push(PathBuf::from("kubectl"));
            }
        }
    }
    if !problems.is_empty() {
        let count = problems.len();
        // A tool the user named wrongly, or a cluster no pinned kubectl fits, is theirs to fix.
        let bad_input = problems
            .iter()
            .any(|failure| failure.class == crate::graph::Class::BadInput);
        let mut message = problems
            .into_iter()
            .map(|failure| failure.message)
            .collect::<Vec<_>>()
            .join("; ");
        if count > 1 {
            message = format!("{count} things this run needs are missing: {message}");
        }
        // A sibling's failure or a signal stopped the probes: that is why they failed.
        if let Some(reason) = context.token.reason() {
            return Err(Failure::cancelled(reason, message));
        }
        return Err(if bad_input {
            Failure::bad_input(message)
        } else {
            Failure::infra(message)
        });
    }
    let [kind, kubectl, helm, docker_path]: [PathBuf; 4] = paths
        .try_into()
        .map_err(|_| Failure::infra("four tools were not resolved"))?;
    if !existing {
        inotify_check(run, &emit, &sh, &kind);
    }
    let _ = run.state.programs.set(Programs {
        kind,
        kubectl,
        helm,
        docker: docker_path,
        save_platform,
        kubectls,
    });
    Ok(())
}

/// Several kind clusters on one host exhaust the default inotify limits: warn (with the
/// command that raises them) when this run's clusters and the ones already on the engine need
/// more than the host allows.
fn inotify_check(run: &Run<'_>, emit: &Emitter<'_>, sh: &Shell, kind: &std::path::Path) {
    if let Some(warning) = cluster::host::check(
        sh,
        &cluster::kind::Kind::new(kind),
        &run.inputs.settings.host.proc_sys,
        &run.inputs.cluster_names(),
    ) {
        emit.cluster(warning);
    }
}

/// A real run's program: docker as found; kind, kubectl and helm installed at their pins when
/// missing. A download that fails says how to get the tool without this network.
pub(super) fn real_program(
    run: &Run<'_>,
    context: &StepContext<'_>,
    emit: &Emitter<'_>,
    sh: &Shell,
    tool: ToolName,
    tools_context: &tools::Context,
) -> Result<PathBuf, Failure> {
    let resolution = if tool == ToolName::Docker {
        tools::resolve(sh, tools_context, tool)
    } else {
        let client = download::Client::new(run.inputs.download_options(context.token));
        let fetch = tools::http_fetch(&client);
        let (resolution, installed) =
            tools::ensure_installed(sh, tools_context, tool, &*fetch, &mut |_, _| {}).map_err(
                |error| match context.token.reason() {
                    Some(reason) => Failure::cancelled(
                        reason,
                        format!("installing the pinned {tool}: {error}"),
                    ),
                    None => Failure::infra(format!(
                        "installing the pinned {tool}: {error}; without this network, set XTASK_TOOLS_MIRROR to a mirror of the tools' download hosts, or put the pinned binary at {}",
                        tools_context
                            .wanted(tool)
                            .map(|version| tools_context.cached_path(tool, version))
                            .unwrap_or_default()
                            .display()
                    )),
                },
            )?;
        if let Some(installed) = installed {
            emit.note(Note::ToolInstalled {
                tool,
                version: installed.version.to_string(),
                path: installed.path.clone(),
            });
        }
        resolution
    };
    // The resolution's description already ends with its fix: said once.
    let path = resolution
        .program()
        .map_err(|error| Failure::infra(error.to_string()))?
        .to_owned();
    emit.note(Note::Tool(ToolFound {
        tool,
        description: resolution.describe(),
        notices: resolution.notices.clone(),
    }));
    Ok(path)
}

/// A dry run's program: what resolution finds now, else where the real run installs it.
pub(super) fn dry_program(
    run: &Run<'_>,
    emit: &Emitter<'_>,
    tool: ToolName,
    tools_context: &tools::Context,
) -> PathBuf {
    let _ = run;
    let resolution = tools::resolve(&Shell::new(), tools_context, tool);
    match resolution.program() {
        Ok(path) => path.to_owned(),
        Err(error) => match tools_context.wanted(tool) {
            Some(version) => {
                let path = tools_context.cached_path(tool, version);
                emit.note(Note::ToolWouldInstall {
                    tool,
                    why: error.to_string(),
                    path: path.clone(),
                });
                path
            }
            None => {
                emit.problem(format!("{error}; the real run needs it"));
                PathBuf::from(tool.as_str())
            }
        },
    }
}

/// The engine must answer; its API version and platform decide `docker save --platform`.
fn engine_platform(sh: &Shell, docker: &docker::Docker) -> Result<Option<String>, Failure> {
    let output = sh
        .run_unchecked(&docker.version())
        .map_err(|error| exec_failure("asking the Docker engine its version", &error, false))?;
    let json: serde_json::Value =
        serde_json::from_str(output.stdout_str().lines().next().unwrap_or("null"))
            .unwrap_or(serde_json::Value::Null);
    let server = &json["Server"];
    if server.is_null() || !output.status.success() {
        return Err(Failure::infra(format!(
            "the Docker engine is not reachable (`docker version` said: {}); start it (for example `sudo systemctl start docker`) and run again",
            output.stderr_str().trim()
        )));
    }
    let field = |name: &str| server[name].as_str().unwrap_or_default().to_owned();
    Ok(cluster::images::save_platform(
        &field("ApiVersion"),
        &field("Os"),
        &field("Arch"),
    ))
}

/// The settings' artifact environment, with the docker CLI the tools step resolved.
fn artifact_env(run: &Run<'_>, context: &StepContext<'_>) -> artifact::Env {
    artifact::Env {
        docker: run
            .state
            .programs
            .get()
            .map(|programs| docker::Docker::new(&programs.docker)),
        ..run.inputs.settings.artifact_env(context.token)
    }
}

pub fn resolve(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let inputs = run.inputs;
    if run.dry_run() {
        let which = if inputs.tag == "latest" {
            "latest".to_owned()
        } else {
            format!("tags/{}", inputs.tag)
        };
        emit.note(Note::WouldResolve {
            url: format!(
                "{}/repos/{}/releases/{which}",
                inputs.settings.github.api_base, inputs.repo
            ),
            with_token: inputs.settings.github.token.is_some(),
        });
        return Ok(());
    }
    let resolved = artifact::resolve(
        &inputs.artifact_plan(),
        &artifact_env(run, context),
        &|event| emit.artifact(event),
    )
    .map_err(|error| cancelled_or(context, artifact_failure(&error)))?;
    let _ = run.state.resolved.set(resolved);
    Ok(())
}

/// A failure seen while the token was cancelled is the cancellation, not the release's fault.
fn cancelled_or(context: &StepContext<'_>, failure: Failure) -> Failure {
    match context.token.reason() {
        Some(reason) => Failure::cancelled(reason, failure.message),
        None => failure,
    }
}

pub fn crd_bundle(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let pins = &run.inputs.settings.pins;
    let mirror = run.inputs.settings.tools.mirror.as_deref();
    let dir = &run.inputs.artifacts_dir;
    if run.dry_run() {
        emit.note(Note::WouldDownload {
            url: cluster::crds::bundle_url(pins, mirror),
            dest: cluster::crds::bundle_path(pins, dir),
            sha256: pins.gateway_api.sha256.to_string(),
        });
        let _ = run
            .state
            .crd_bundle
            .set(cluster::crds::bundle_path(pins, dir));
        return Ok(());
    }
    let (path, from_cache) = cluster::crds::fetch_bundle(
        pins,
        mirror,
        dir,
        run.inputs.download_options(context.token),
    )
    .map_err(|error| cancelled_or(context, Failure::infra(error)))?;
    emit.note(Note::CrdBundle {
        path: path.clone(),
        sha256: pins.gateway_api.sha256.to_string(),
        from_cache,
    });
    let _ = run.state.crd_bundle.set(path);
    Ok(())
}

pub fn assets(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let plan = run.inputs.artifact_plan();
    if run.dry_run() {
        emit.note(Note::WouldDownloadAssets {
            patterns: plan.patterns.clone(),
            dest: plan.dest.clone(),
        });
        return Ok(());
    }
    let resolved = run
        .state
        .resolved
        .get()
        .ok_or_else(|| Failure::infra("the release was not resolved"))?;
    let assets =
        artifact::download_assets(&plan, &artifact_env(run, context), resolved, &|event| {
            emit.artifact(event)
        })
        .map_err(|error| cancelled_or(context, artifact_failure(&error)))?;
    *stdx::lock(&run.state.assets) = Some(assets);
    Ok(())
}

pub fn images(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let plan = run.inputs.artifact_plan();
    let sh = run.shell(context);
    if run.dry_run() {
        let docker = docker::Docker::new(&run.programs()?.docker);
        for image in &plan.images {
            let reference = image.replace("{version}", "<resolved tag>");
            let _ = sh.run(&docker.pull(&reference));
            let _ = sh.run(&docker.image_inspect(&reference));
        }
        return Ok(());
    }
    let pulled = artifact::pull_images(
        &plan,
        &artifact_env(run, context),
        &sh,
        &run.tag(),
        &|event| emit.artifact(event),
    )
    .map_err(|error| cancelled_or(context, artifact_failure(&error)))?;
    *stdx::lock(&run.state.pulled) = Some(pulled);
    Ok(())
}

pub fn record(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let plan = run.inputs.artifact_plan();
    if run.dry_run() {
        emit.note(Note::WouldRecord(
            run.inputs.artifacts_dir.join(artifact::record::FILE_NAME),
        ));
        return Ok(());
    }
    let resolved = run
        .state
        .resolved
        .get()
        .ok_or_else(|| Failure::infra("the release was not resolved"))?;
    let assets = stdx::lock(&run.state.assets).take().unwrap_or_default();
    let pulled = stdx::lock(&run.state.pulled).take().unwrap_or_default();
    let outcome = artifact::record(
        &plan,
        &artifact_env(run, context),
        &run.shell(context),
        resolved,
        assets,
        pulled,
        &|event| emit.artifact(event),
    )
    .map_err(|error| cancelled_or(context, artifact_failure(&error)))?;
    emit.note(Note::Recorded {
        path: outcome.record_path.clone(),
        assets: outcome.record.assets.len(),
        images: outcome.record.images.len(),
    });
    let _ = run.state.record.set(outcome.record);
    Ok(())
}

//! The end of a run: reach the gateway, run the suite, diagnose a failure while everything
//! still exists, and clean up on every path.

use std::time::Duration;

use cluster::diagnostics::{self, PodSelector, Scope};
use cluster::fixture;
use cluster::helm::Helm;
use cluster::kubectl::Target;
use cluster::load_balancer::{self, Route};
use cluster::port_forward::{self, PortForward};
use conformance::ReplicaControl;
use conformance::results::{Mode, Outcome};

use super::{Run, cluster_failure, exec_failure};
use crate::graph::{Failure, StepContext};

/// The port the echo backend serves on in the fixture's pods.
const ECHO_PORT: u16 = 3000;

/// The gateway URL: the Gateway's address when the host can route to it, otherwise a
/// port-forward to the gateway's Service; and a port-forward to one v1 replica for the
/// health-eviction case.
pub fn gateway(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let sh = run.shell(context);
    let kubectl = run.kubectl()?;
    let inputs = run.inputs;
    let gateway = inputs.fixture.gateway();
    let port = inputs.settings.target.install.gateway_port;
    let existing = matches!(
        inputs.target_cluster,
        crate::inputs::Target::Existing { .. }
    );
    let provider = inputs.settings.target.load_balancer.provider;
    let route = match provider {
        config::cluster::Provider::None if !existing => Route::PortForward {
            why: "no LoadBalancer provider is configured".to_owned(),
        },
        _ if existing => {
            // The user's cluster: its own LoadBalancer decides; one look, no waiting.
            match load_balancer::wait_for_address(
                &sh,
                &kubectl,
                gateway,
                Duration::ZERO,
                inputs.deadlines.poll,
            ) {
                Ok(address) if !run.dry_run() => {
                    emit.info(format!("{gateway} has the address {address}"));
                    load_balancer::route_to(&address, port, Duration::from_secs(3))
                }
                Ok(_) => Route::PortForward {
                    why: "a dry run cannot know whether the address is routable".to_owned(),
                },
                Err(error) if error.cancelled().is_some() => {
                    return Err(cluster_failure(&error, false));
                }
                Err(_) => Route::PortForward {
                    why: format!("{gateway} reports no address"),
                },
            }
        }
        _ => {
            let address = load_balancer::wait_for_address(
                &sh,
                &kubectl,
                gateway,
                Duration::from_secs(inputs.settings.target.load_balancer.address_timeout_secs),
                inputs.deadlines.poll,
            )
            .map_err(|error| cluster_failure(&error, true))?;
            emit.info(format!("{gateway} has the address {address}"));
            if run.dry_run() {
                Route::PortForward {
                    why: "a dry run cannot know whether the address is routable".to_owned(),
                }
            } else {
                load_balancer::route_to(&address, port, Duration::from_secs(3))
            }
        }
    };
    let second_port = inputs
        .fixture
        .listener_ports()
        .into_iter()
        .find(|listener| *listener != port);
    let (url, second) = match route {
        Route::Direct { url } => {
            emit.info(format!("reaching the gateway directly at {url}"));
            let second = second_port.map(|second| {
                let host = url.rsplit_once(':').map_or(url.as_str(), |(host, _)| host);
                format!("{host}:{second}")
            });
            (url, second)
        }
        Route::PortForward { why } => {
            emit.info(format!(
                "reaching the gateway through a port-forward: {why}"
            ));
            let url = forward_listener(run, &sh, &kubectl, port, true)?
                .ok_or_else(|| Failure::infra("no port-forward to the gateway"))?;
            let second = match second_port {
                Some(second) => forward_listener(run, &sh, &kubectl, second, false)?,
                None => None,
            };
            (url, second)
        }
    };
    if let Some(second) = second {
        emit.info(format!("second listener at {second}"));
        let _ = run.state.second_listener.set(second);
    }
    let _ = run.state.gateway_url.set(url);

    // The eviction case flips one v1 replica's health, straight at the pod, never through the
    // gateway.
    let mut controls = Vec::new();
    if !inputs.echo_has_health_toggle() {
        emit.info("the fixture runs the upstream echo-basic image, which has no health toggle: health-eviction will be skipped");
    } else if let Some(v1) = inputs
        .fixture
        .backends
        .iter()
        .find(|backend| backend.deployment.name == conformance::fixture::V1)
    {
        let pods = fixture::ready_pods(&sh, &kubectl, v1)
            .map_err(|error| cluster_failure(&error, false))?;
        if let Some(pod) = pods.first() {
            let object = format!("pod/{pod}");
            let forward = PortForward::start(
                &sh,
                &kubectl,
                &Target {
                    object: &object,
                    namespace: &v1.deployment.namespace,
                },
                ECHO_PORT,
                Duration::from_secs(60),
            )
            .map_err(|error| cluster_failure(&error, false))?;
            controls.push(ReplicaControl {
                pod: pod.clone(),
                url: forward.url(),
            });
            emit.info(format!("health toggle of {pod} at {}", forward.url()));
            keep(run, forward);
        }
    }
    let _ = run.state.replica_controls.set(controls);
    Ok(())
}

/// A port-forward to the gateway Service's `listener_port`, kept until cleanup. The main
/// listener may fall back to the Service's only port; another listener must be exposed by that
/// exact port, or there is nothing to forward to (None, said as a warning).
fn forward_listener(
    run: &Run<'_>,
    sh: &exec::Shell,
    kubectl: &cluster::kubectl::Kubectl,
    listener_port: u16,
    main: bool,
) -> Result<Option<String>, Failure> {
    let emit_line = |line: String| {
        (run.sink)(crate::event::Event {
            step: "gateway".to_owned(),
            kind: if main {
                crate::event::EventKind::Info(line)
            } else {
                crate::event::EventKind::Warning(line)
            },
        })
    };
    let gateway = run.inputs.fixture.gateway();
    let (service, port) = port_forward::find_gateway_service(
        sh,
        kubectl,
        &gateway.namespace,
        &gateway.name,
        listener_port,
    )
    .map_err(|error| cluster_failure(&error, false))?;
    if !main && port != listener_port && !sh.is_dry_run() {
        emit_line(format!(
            "the gateway Service {service} exposes no port {listener_port}: listener-second-port is skipped"
        ));
        return Ok(None);
    }
    let object = format!("service/{service}");
    let forward = PortForward::start(
        sh,
        kubectl,
        &Target {
            object: &object,
            namespace: &gateway.namespace,
        },
        port,
        Duration::from_secs(60),
    )
    .map_err(|error| cluster_failure(&error, false))?;
    let url = forward.url();
    if main {
        emit_line(format!("gateway URL {url} ({})", forward.target()));
    }
    keep(run, forward);
    Ok(Some(url))
}

fn keep(run: &Run<'_>, forward: PortForward) {
    run.state
        .forwards
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(forward);
}

/// Runs the suite and writes its reports into `<artifacts>/conformance/`. Failed cases fail
/// the step (the release's failure); the results are kept either way.
pub fn conformance(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let inputs = run.inputs;
    let url = run
        .state
        .gateway_url
        .get()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:1".to_owned());
    let mut suite = conformance::target::suite_for_target(
        &inputs.settings.target,
        &inputs.settings.pins,
        &url,
        Mode::Cluster,
        &run.tag(),
    );
    suite.replica_controls = run
        .state
        .replica_controls
        .get()
        .cloned()
        .unwrap_or_default();
    suite.second_listener = run.state.second_listener.get().cloned();
    suite.cancel = context.token.clone();
    suite
        .validate()
        .map_err(|why| Failure::infra(format!("the suite's configuration: {why}")))?;
    if run.dry_run() {
        emit.info(format!(
            "run {} cases against the gateway: {}",
            conformance::cases::CASES.len(),
            conformance::cases::names().join(", ")
        ));
        return Ok(());
    }
    let results = conformance::run(&suite, &mut |event| {
        if let conformance::Event::Finished(case) = event {
            emit.info(case_line(case));
        }
    })
    .map_err(|why| Failure::infra(format!("the suite's configuration: {why}")))?;
    let dir = inputs.artifacts_dir.join("conformance");
    match conformance::report::write_reports(&dir, &results) {
        Ok(paths) => emit.info(format!(
            "reports: {}",
            paths
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(error) => emit.warn(format!(
            "could not write the conformance reports into {}: {error}",
            dir.display()
        )),
    }
    let failed: Vec<String> = results
        .cases
        .iter()
        .filter(|case| case.outcome.is_failed())
        .map(|case| case.name.clone())
        .collect();
    let _ = run.state.results.set(results);
    if let Some(reason) = context.token.reason() {
        return Err(Failure::cancelled(reason, "the suite was stopped"));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::release(format!(
            "{} case(s) failed: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}

pub fn case_line(case: &conformance::results::CaseResult) -> String {
    match &case.outcome {
        Outcome::Passed => format!(
            "PASS {} ({:.2}s, {} requests)",
            case.name,
            case.duration.as_secs_f64(),
            case.requests
        ),
        Outcome::Skipped { reason } => format!("SKIP {}: {reason}", case.name),
        Outcome::Failed { message, .. } => format!("FAIL {}: {message}", case.name),
    }
}

/// After a failure, before anything is deleted.
pub fn diagnostics(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    // The user's cluster always exists; a throwaway one only once the cluster step made it.
    let exists = matches!(
        run.inputs.target_cluster,
        crate::inputs::Target::Existing { .. }
    ) || run
        .state
        .cluster
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some();
    if !exists {
        emit.info("no cluster was created: nothing to diagnose on it");
        return Ok(());
    }
    let programs = run.programs()?;
    let kubeconfig = run.inputs.kubeconfig.clone();
    let helm = Helm::new(&programs.helm, &kubeconfig);
    let charts = run
        .state
        .charts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let scope = Scope {
        fixture: Some(&run.inputs.fixture),
        pods: run
            .inputs
            .settings
            .target
            .diagnostics
            .pods
            .iter()
            .map(|pods| PodSelector {
                namespace: pods.namespace.clone(),
                selector: pods.selector.clone(),
            })
            .collect(),
        charts,
    };
    let dir = run.run_dir().diagnostics();
    let written = diagnostics::collect(
        &run.shell(context),
        &run.kubectl()?,
        Some(&helm),
        &scope,
        &dir,
    );
    emit.info(format!(
        "{} diagnostic files in {} (kind's node logs go to {} before the delete)",
        written.len(),
        dir.display(),
        run.run_dir().logs().display()
    ));
    Ok(())
}

/// Every path ends here: port-forwards stopped, the provider stopped, the cluster's logs
/// exported and the cluster deleted (or kept, with `--keep-cluster`), the kubeconfig and the
/// owner record removed. Each part runs even when an earlier part failed.
pub fn cleanup(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let sh = run.shell(context);
    let mut problems = Vec::new();
    let forwards: Vec<PortForward> = run
        .state
        .forwards
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    if !forwards.is_empty() {
        emit.info(format!("stop {} port-forward(s)", forwards.len()));
    }
    drop(forwards);
    let programs = run.state.programs.get();
    if run.state.provider_started.get().is_some()
        && let Some(programs) = programs
    {
        let docker = docker::Docker::new(&programs.docker);
        if let Err(error) = sh.run(&load_balancer::stop_command(
            &docker,
            &run.inputs.cluster_name,
        )) {
            problems.push(exec_failure("stopping cloud-provider-kind", &error, false).message);
        }
    }
    let cluster = run
        .state
        .cluster
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let kubeconfig = run.inputs.kubeconfig.clone();
    match cluster {
        Some(cluster) if run.inputs.keep_cluster => {
            let name = cluster.keep();
            emit.info(format!(
                "kept cluster {name} (--keep-cluster): kubectl --kubeconfig {} get pods -A; delete it with `kind delete cluster --name {name}`",
                kubeconfig.display()
            ));
            let _ = run.state.kept_cluster.set(name);
        }
        Some(cluster) => {
            // Disarmed here and torn down through this step's shell, so the commands are
            // logged (and planned) as cleanup's.
            let name = cluster.keep();
            let run_dir = run.run_dir();
            let teardown = match programs {
                Some(programs) => cluster::stages::teardown(
                    &sh,
                    &cluster::kind::Kind::new(&programs.kind),
                    &name,
                    &kubeconfig,
                    &run_dir.logs(),
                    &mut |event| emit.cluster(event),
                )
                .map(|_| ()),
                None => Ok(()),
            };
            if let Err(error) = teardown {
                problems.push(format!(
                    "deleting cluster {name}: {error}; delete it with `kind delete cluster --name {name}`"
                ));
            }
        }
        None => {}
    }
    if run.state.kept_cluster.get().is_none() && !run.dry_run() {
        match std::fs::remove_file(&kubeconfig) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                problems.push(format!("removing {}: {error}", kubeconfig.display()));
            }
            _ => {}
        }
        let _ = std::fs::remove_dir_all(run.run_dir().image_archives());
    }
    // Once the cluster is gone (or the user took it over), nobody owns it any more.
    let cluster_gone = problems.iter().all(|p| !p.starts_with("deleting cluster"));
    if run.state.owner_written.get().is_some()
        && cluster_gone
        && let Err(error) =
            cluster::owner::remove(&run.inputs.owners_dir(), &run.inputs.cluster_name)
    {
        problems.push(format!("removing the owner record: {error}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::infra(problems.join("; ")))
    }
}

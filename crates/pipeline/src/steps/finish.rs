//! The end of a run: reach the gateway, run the suite, diagnose a failure while everything
//! still exists, and clean up on every path.

use std::time::Duration;

use cluster::access::{self, AccessRequest, AddressLookup};
use cluster::diagnostics::{PodSelector, Scope};
use cluster::helm::Helm;
use cluster::load_balancer::Route;
use cluster::run_cluster::{DownProblem, Fate};
use conformance::ReplicaControl;
use conformance::results::Mode;

use super::{Run, cluster_failure};
use crate::event::{EventKind, Note};
use crate::graph::{Failure, StepContext};

/// How the suite reaches the gateway: the Gateway's address when the host can route to it,
/// otherwise a port-forward to the gateway's Service; and a port-forward to one v1 replica for
/// the health-eviction case. On a throwaway cluster its owner keeps the forwards; on the user's
/// cluster the run's state does.
pub fn gateway(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let sh = run.shell(context);
    let kubectl = run.kubectl(context)?;
    let inputs = run.inputs;
    let gateway = inputs.fixture.gateway();
    let main_port = inputs.settings.target.install.gateway_port;
    let existing = matches!(
        inputs.target_cluster,
        crate::inputs::Target::Existing { .. }
    );
    let lookup = match inputs.settings.target.load_balancer.provider {
        // The user's cluster: its own LoadBalancer decides; one look, no waiting.
        _ if existing => AddressLookup::Look,
        config::cluster::Provider::None => {
            AddressLookup::Skip("no LoadBalancer provider is configured".to_owned())
        }
        config::cluster::Provider::CloudProviderKind => AddressLookup::Wait(Duration::from_secs(
            inputs.settings.target.load_balancer.address_timeout_secs,
        )),
    };
    let toggle = if inputs.echo_has_health_toggle() {
        inputs
            .fixture
            .backends
            .iter()
            .find(|backend| backend.deployment.name == conformance::fixture::V1)
    } else {
        emit.note(Note::NoHealthToggle);
        None
    };
    let request = AccessRequest {
        gateway,
        main_port,
        second_port: inputs
            .fixture
            .listener_ports()
            .into_iter()
            .find(|listener| *listener != main_port),
        lookup,
        poll: inputs.deadlines.poll,
        health_toggle: toggle,
    };
    let (_, state) = run.cell(context);
    let reached = match state.cluster.get() {
        Some(cluster) => cluster.reach_gateway(&sh, &kubectl, &request),
        None => access::reach(&sh, &kubectl, &request, &state.forwards),
    };
    // No address from the provider in time is the release's failure to program its Gateway.
    let access = reached.map_err(|error| cluster_failure(&error, !existing))?;
    emit.note(Note::GatewayAccess {
        gateway: gateway.to_string(),
        address: access.address.clone(),
        url: access.url.clone(),
        forwarded_because: match &access.route {
            Route::Direct { .. } => None,
            Route::PortForward { why } => Some(why.clone()),
        },
        second_listener: access.second_listener.clone(),
    });
    if let Some(missing) = &access.second_missing {
        emit.note(Note::SecondListenerMissing(missing.clone()));
    }
    if let Some((pod, url)) = &access.health_toggle {
        emit.note(Note::HealthToggle {
            pod: pod.clone(),
            url: url.clone(),
        });
    }
    let _ = state.access.set(access);
    Ok(())
}

/// Runs the suite and writes its reports into `<artifacts>/conformance/`. Failed cases fail
/// the step (the release's failure); the results are kept either way.
pub fn conformance(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let inputs = run.inputs;
    let (cell, state) = run.cell(context);
    let access = state.access.get();
    let url = access
        .map(|access| access.url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:1".to_owned());
    let mut suite = conformance::target::suite_for_target(
        &inputs.settings.target,
        &cell.settings.pins,
        &url,
        Mode::Cluster,
        &run.tag(),
    );
    suite.replica_controls = access
        .and_then(|access| access.health_toggle.clone())
        .map(|(pod, url)| ReplicaControl { pod, url })
        .into_iter()
        .collect();
    suite.second_listener = access.and_then(|access| access.second_listener.clone());
    suite.cancel = context.token.clone();
    suite
        .validate()
        .map_err(|why| Failure::infra(format!("the suite's configuration: {why}")))?;
    if run.dry_run() {
        emit.note(Note::WouldRunCases(
            conformance::cases::names()
                .iter()
                .map(|name| name.to_string())
                .collect(),
        ));
        return Ok(());
    }
    let results = conformance::run(&suite, &mut |event| {
        if let conformance::Event::Finished(case) = event {
            emit.send(EventKind::Case(case.clone()));
        }
    })
    .map_err(|why| Failure::infra(format!("the suite's configuration: {why}")))?;
    let dir = cell.dir.join("conformance");
    match conformance::report::write_reports(&dir, &results) {
        Ok(paths) => emit.note(Note::ReportsWritten(paths)),
        Err(error) => emit.problem(format!(
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
    let _ = state.results.set(results);
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

/// After a failure, before anything is deleted. Nothing to diagnose when no cluster was
/// created, or on the user's cluster when the tools step never resolved kubectl.
pub fn diagnostics(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let existing = matches!(
        run.inputs.target_cluster,
        crate::inputs::Target::Existing { .. }
    );
    let (cell, state) = run.cell(context);
    let (Some(programs), true) = (
        run.state.programs.get(),
        existing || state.cluster.get().is_some_and(|cluster| cluster.exists()),
    ) else {
        emit.note(Note::NothingToDiagnose);
        return Ok(());
    };
    let helm = Helm::new(&programs.helm, &cell.kubeconfig);
    let charts = stdx::lock(&state.charts).clone();
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
    let dir = cell.run_dir().diagnostics();
    let sh = run.shell(context);
    let kubectl = run.kubectl(context)?;
    let written = match state.cluster.get() {
        Some(cluster) => cluster
            .dump(&sh, &kubectl, Some(&helm), &scope, &dir)
            .unwrap_or_default(),
        None => cluster::diagnostics::collect(&sh, &kubectl, Some(&helm), &scope, &dir),
    };
    emit.note(Note::Diagnosed {
        files: written.len(),
        dir,
        logs: cell.run_dir().logs(),
    });
    Ok(())
}

/// Every path ends here: the cluster's owner stops the port-forwards and the provider, exports
/// the logs and deletes the cluster (or keeps it, with `--keep-cluster`), and removes the
/// kubeconfig and the owner record; each part runs even when an earlier part failed.
pub fn cleanup(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let (_, state) = run.cell(context);
    let Some(cluster) = state.cluster.get() else {
        return Ok(());
    };
    if run.inputs.keep_cluster {
        cluster.keep();
    }
    let report = cluster.down(&mut |event| emit.cluster(event));
    if report.forwards_stopped > 0 {
        emit.note(Note::ForwardsStopped(report.forwards_stopped));
    }
    if report.fate == Fate::Kept {
        emit.note(Note::ClusterKept {
            name: cluster.name().to_owned(),
            kubeconfig: cluster.kubeconfig(),
        });
        let _ = state.kept_cluster.set(cluster.name().to_owned());
    }
    let problems: Vec<String> = report
        .problems
        .iter()
        .map(|problem| match problem {
            DownProblem::DeleteCluster(_) => format!(
                "{problem}; delete it with `kind delete cluster --name {}`",
                cluster.name()
            ),
            _ => problem.to_string(),
        })
        .collect();
    *stdx::lock(&state.down) = Some(report);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::infra(problems.join("; ")))
    }
}

//! Steps on the cluster: create it (after deleting stale clusters of killed runs), build the
//! echo image beside it, start the LoadBalancer provider, load exactly the recorded images,
//! install the CRDs and the release's charts, deploy the fixture.

use cluster::helm::Helm;
use cluster::images::RecordedImage;
use cluster::kind::{CreateSpec, Kind};
use cluster::stages::{self, CrdBundle};
use cluster::throwaway::ThrowawayCluster;
use cluster::{load_balancer, owner};

use super::{Run, cluster_failure, exec_failure};
use crate::echo;
use crate::graph::{Failure, StepContext};

/// Deletes clusters whose owning run is gone, writes this run's owner record, then creates the
/// throwaway cluster. The record exists before `kind create` runs, so a run killed mid-create
/// still leaves a cluster the next run can find.
pub fn create(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let sh = run.shell(context);
    let inputs = run.inputs;
    let kind = Kind::new(&run.programs()?.kind);
    let deleted = owner::sweep(&sh, &kind, &inputs.owners_dir(), &mut |event| {
        emit.cluster(event)
    })
    .map_err(|error| cluster_failure(&error, false))?;
    if !deleted.is_empty() {
        emit.warn(format!(
            "deleted {} cluster(s) left by runs that were killed: {}",
            deleted.len(),
            deleted.join(", ")
        ));
    }
    let run_dir = run.run_dir();
    if !run.dry_run() {
        owner::write(
            &inputs.owners_dir(),
            &owner::this_process(&inputs.cluster_name, &run_dir.0),
        )
        .map_err(|error| {
            Failure::infra(format!(
                "writing the owner record of {} into {}: {error}",
                inputs.cluster_name,
                inputs.owners_dir().display()
            ))
        })?;
        let _ = run.state.owner_written.set(());
    }
    let wait = inputs.settings.target.install.timeouts.cluster_create();
    let spec = CreateSpec {
        name: inputs.cluster_name.clone(),
        node_image: inputs.settings.pins.node_image.reference.clone(),
        config: run_dir.kind_config(),
        kubeconfig: run_dir.kubeconfig(),
        wait,
        timeout: CreateSpec::default_timeout(wait),
    };
    let cluster = ThrowawayCluster::create(&sh, &kind, &spec, &run_dir, &mut |event| {
        emit.cluster(event)
    })
    .map_err(|error| cluster_failure(&error, false))?;
    *run.state.cluster.lock().unwrap_or_else(|e| e.into_inner()) = Some(cluster);
    Ok(())
}

pub fn echo_image(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let inputs = run.inputs;
    let emit = run.emit(context);
    let built = echo::build(
        &run.shell(context),
        &docker::Docker::new(&run.programs()?.docker),
        inputs.settings.root.clone(),
        &inputs.settings.pins.images.echo,
        &inputs.settings.pins,
    )?;
    for line in built.lines {
        emit.info(line);
    }
    emit.info(format!(
        "{} is image {}",
        built.image.reference, built.image.id
    ));
    let _ = run.state.echo.set(built.image);
    Ok(())
}

pub fn load_balancer(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    if run.inputs.settings.target.load_balancer.provider == config::cluster::Provider::None {
        emit.info("no LoadBalancer provider: the gateway is reached through a port-forward");
        return Ok(());
    }
    let docker = docker::Docker::new(&run.programs()?.docker);
    let port_mapping = run.inputs.settings.host.os != "linux";
    let cmd = load_balancer::start_command(
        &docker,
        &run.inputs
            .settings
            .pins
            .images
            .cloud_provider_kind
            .reference,
        &run.inputs.cluster_name,
        port_mapping,
    );
    // Marked before it runs: a provider that half-started is still stopped by cleanup.
    let _ = run.state.provider_started.set(());
    run.shell(context)
        .run(&cmd)
        .map_err(|error| exec_failure("starting cloud-provider-kind", &error, false))?;
    emit.info(format!(
        "cloud-provider-kind runs as container {}",
        load_balancer::container_name(&run.inputs.cluster_name)
    ));
    Ok(())
}

/// The images to load: every image artifacts.json recorded, and the echo image this run built.
fn recorded_images(run: &Run<'_>) -> Vec<RecordedImage> {
    let mut images: Vec<RecordedImage> = run
        .state
        .record
        .get()
        .map(|record| {
            record
                .images
                .iter()
                .map(|image| RecordedImage {
                    reference: image.reference.clone(),
                    id: image.id.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(echo) = run.state.echo.get() {
        images.push(echo.clone());
    }
    images
}

pub fn load_images(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let programs = run.programs()?;
    let images = recorded_images(run);
    let loaded = cluster::images::load_recorded(
        &run.shell(context),
        &docker::Docker::new(&programs.docker),
        &Kind::new(&programs.kind),
        &run.inputs.cluster_name,
        &images,
        &run.run_dir().image_archives(),
        programs.save_platform.as_deref(),
    )
    .map_err(|error| cluster_failure(&error, false))?;
    emit.info(format!(
        "loaded {} image(s){}: {}",
        loaded.len(),
        programs
            .save_platform
            .as_deref()
            .map(|platform| format!(" for {platform}"))
            .unwrap_or_default(),
        loaded.join(", ")
    ));
    Ok(())
}

pub fn crds(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let bundle = run
        .state
        .crd_bundle
        .get()
        .ok_or_else(|| Failure::infra("the CRD bundle was not downloaded"))?;
    stages::install_crds(
        &run.shell(context),
        &run.kubectl()?,
        &CrdBundle {
            source: bundle.to_string_lossy().into_owned(),
            version: run.inputs.settings.pins.gateway_api.version.to_string(),
            timeout: run.inputs.settings.target.install.timeouts.crds(),
        },
        false,
        &mut |event| emit.cluster(event),
    )
    .map_err(|error| cluster_failure(&error, false))?;
    Ok(())
}

pub fn charts(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let charts = run.inputs.charts(&run.tag());
    // Known before helm runs: diagnostics read helm status of whatever was attempted.
    run.state
        .charts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone_from(&charts);
    let helm = Helm::new(&run.programs()?.helm, run.inputs.kubeconfig.clone());
    stages::install_charts(
        &run.shell(context),
        &helm,
        &charts,
        run.inputs.settings.target.install.timeouts.helm(),
        &mut |event| emit.cluster(event),
    )
    // A chart that does not install is the release's failure.
    .map_err(|error| cluster_failure(&error, true))?;
    Ok(())
}

pub fn fixture(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    stages::deploy_fixture(
        &run.shell(context),
        &run.kubectl()?,
        &run.run_dir(),
        &run.inputs.fixture,
        &run.inputs.deadlines,
        &mut |event| emit.cluster(event),
    )
    // Objects that never become ready, or a fixture the release rejects, are its failure.
    .map_err(|error| cluster_failure(&error, true))?;
    Ok(())
}

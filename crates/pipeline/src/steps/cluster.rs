//! Steps on the cluster: create it (after deleting stale clusters of killed runs), build the
//! echo image beside it, start the LoadBalancer provider, load exactly the recorded images,
//! install the CRDs and the release's charts, deploy the fixture.

use cluster::helm::Helm;
use cluster::images::RecordedImage;
use cluster::kind::Kind;
use cluster::run_cluster::{Lifetime, RunCluster, RunClusterSpec};
use cluster::stages::{self, CrdBundle};

use super::{Run, cluster_failure};
use crate::echo;
use crate::event::{Note, Stage};
use crate::graph::{Failure, StepContext};

/// Sets up the run's cluster owner (so cleanup finds whatever part of the cluster exists), then
/// brings the cluster up: clusters of killed runs deleted, this run's owner record written
/// before `kind create` runs (a run killed mid-create still leaves a cluster the next run can
/// find), then the create.
pub fn create(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    let sh = run.shell(context);
    let inputs = run.inputs;
    let (cell, state) = run.cell(context);
    let spec = RunClusterSpec {
        name: cell.cluster_name.clone(),
        run_dir: cell.run_dir(),
        node_image: cell.settings.pins.node_image.reference.clone(),
        node_port_mapping: None,
        create_wait: inputs.settings.target.install.timeouts.cluster_create(),
        lifetime: Lifetime::Throwaway {
            owners_dir: inputs.owners_dir(),
        },
    };
    let kind = Kind::new(&run.programs()?.kind);
    let cleanup_label = match context.id.cell {
        Some(cell) => crate::event::StepId::of(Stage::Cleanup, cell).to_string(),
        None => Stage::Cleanup.as_str().to_owned(),
    };
    let cluster = state
        .cluster
        .get_or_init(|| RunCluster::new(spec, kind, run.shell, &cleanup_label));
    let report = cluster
        .up(&sh, &mut |event| emit.cluster(event))
        .map_err(|error| cluster_failure(&error, false))?;
    if !report.swept.is_empty() {
        emit.note(Note::StaleClustersDeleted(report.swept));
    }
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
    emit.note(Note::EchoImage {
        reference: built.image.reference.clone(),
        id: built.image.id.clone(),
        details: built.lines,
    });
    let _ = run.state.echo.set(built.image);
    Ok(())
}

pub fn load_balancer(run: &Run<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    let emit = run.emit(context);
    if run.inputs.settings.target.load_balancer.provider == config::cluster::Provider::None {
        emit.note(Note::NoLoadBalancer);
        return Ok(());
    }
    let (_, state) = run.cell(context);
    let cluster = state
        .cluster
        .get()
        .ok_or_else(|| Failure::infra("the cluster step did not set up the cluster"))?;
    // The engine's one provider, shared by every cell and every run on it; each cluster's
    // owner releases it when the cluster is gone.
    let (container, acquired) = cluster
        .start_load_balancer(
            &run.shell(context),
            &docker::Docker::new(&run.programs()?.docker),
            &run.inputs
                .settings
                .pins
                .images
                .cloud_provider_kind
                .reference,
            run.inputs.settings.host.os != "linux",
        )
        .map_err(|error| cluster_failure(&error, false))?;
    emit.note(Note::LoadBalancerStarted {
        container,
        already_running: acquired == cluster::provider::Acquired::AlreadyRunning,
    });
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
    let (cell, _) = run.cell(context);
    let loaded = cluster::images::load_recorded(
        &run.shell(context),
        &docker::Docker::new(&programs.docker),
        &Kind::new(&programs.kind),
        &cell.cluster_name,
        &images,
        &cell.run_dir().image_archives(),
        programs.save_platform.as_deref(),
    )
    .map_err(|error| cluster_failure(&error, false))?;
    emit.note(Note::ImagesLoaded {
        images: loaded,
        platform: programs.save_platform.clone(),
    });
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
        &run.kubectl(context)?,
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
    let (cell, state) = run.cell(context);
    // Known before helm runs: diagnostics read helm status of whatever was attempted.
    stdx::lock(&state.charts).clone_from(&charts);
    let helm = Helm::new(&run.programs()?.helm, cell.kubeconfig.clone());
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
        &run.kubectl(context)?,
        &run.cell(context).0.run_dir(),
        &run.inputs.fixture,
        &run.inputs.deadlines,
        &mut |event| emit.cluster(event),
    )
    // Objects that never become ready, or a fixture the release rejects, are its failure.
    .map_err(|error| cluster_failure(&error, true))?;
    Ok(())
}

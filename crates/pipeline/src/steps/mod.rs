//! The verify-release graph: what each step does, what it needs, and the state steps hand to
//! each other. Step bodies live beside this file by concern: [`release`] (tools, the release,
//! its assets and images), [`cluster`] (the cluster and what is installed on it), [`finish`]
//! (the gateway, the suite, diagnostics and cleanup).

mod cluster;
mod existing;
mod finish;
mod release;
mod skew;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use ::cluster::ClusterError;
use ::cluster::access::{Forwards, GatewayAccess};
use ::cluster::helm;
use ::cluster::images::RecordedImage;
use ::cluster::run_cluster::{DownReport, RunCluster};
use artifact::ArtifactError;
use conformance::SuiteResults;
use exec::{ExecError, Shell};

use crate::cells::CellInputs;
use crate::event::{Emitter, Sink, Stage};
use crate::graph::{Failure, Step, StepContext, When};
use crate::inputs::Inputs;

/// The resolved programs and what the Docker engine is.
#[derive(Debug, Clone)]
pub struct Programs {
    pub kind: PathBuf,
    pub kubectl: PathBuf,
    pub helm: PathBuf,
    pub docker: PathBuf,
    /// `docker save --platform` value, when the engine supports it.
    pub save_platform: Option<String>,
    /// Each cell's kubectl, by cell index: the pinned release within skew of its Kubernetes.
    pub kubectls: Vec<PathBuf>,
}

/// What steps hand to later steps. Each slot is filled once by the step that owns it.
#[derive(Default)]
pub struct State {
    pub programs: OnceLock<Programs>,
    pub resolved: OnceLock<artifact::Resolved>,
    pub assets: Mutex<Option<Vec<artifact::record::AssetRecord>>>,
    pub pulled: Mutex<Option<Vec<artifact::record::ImageRecord>>>,
    pub record: OnceLock<artifact::record::Record>,
    pub crd_bundle: OnceLock<PathBuf>,
    pub echo: OnceLock<RecordedImage>,
    /// Each cell's own state, by cell index.
    pub cells: Vec<CellState>,
}

impl State {
    pub fn new(cells: usize) -> State {
        State {
            cells: (0..cells.max(1)).map(|_| CellState::default()).collect(),
            ..State::default()
        }
    }
}

/// What one cell's steps hand to each other.
#[derive(Default)]
pub struct CellState {
    /// The throwaway cluster's owner, set by the cluster step before it brings the cluster
    /// up (so cleanup finds whatever part of it exists).
    pub cluster: OnceLock<RunCluster>,
    /// What cleanup's `down` did.
    pub down: Mutex<Option<DownReport>>,
    pub charts: Mutex<Vec<helm::Release>>,
    /// How the suite reaches the gateway.
    pub access: OnceLock<GatewayAccess>,
    /// Port-forwards on a cluster the user brings (a throwaway cluster's are its owner's).
    pub forwards: Forwards,
    pub results: OnceLock<SuiteResults>,
    /// Kept with `--keep-cluster`: the name, for the last lines.
    pub kept_cluster: OnceLock<String>,
}

/// What every step body reads: the inputs, the shared state, the base shell and the sink.
pub struct Run<'a> {
    pub inputs: &'a Inputs,
    pub state: &'a State,
    pub shell: &'a Shell,
    pub sink: &'a Sink<'a>,
}

impl<'a> Run<'a> {
    /// The step's shell: labelled with the step, observing the step's token.
    pub fn shell(&self, context: &StepContext<'_>) -> Shell {
        self.shell
            .for_step(&context.id.to_string())
            .with_cancel(context.token.clone())
    }

    pub fn emit(&self, context: &StepContext<'_>) -> Emitter<'a> {
        Emitter {
            step: context.id,
            sink: self.sink,
        }
    }

    pub fn dry_run(&self) -> bool {
        self.inputs.dry_run
    }

    /// The step's cell: its inputs and its state (a run over one cluster has one).
    pub fn cell(&self, context: &StepContext<'_>) -> (&'a CellInputs, &'a CellState) {
        let inputs = self.inputs.cell(context.id);
        let state = &self.state.cells[context.id.cell_index().min(self.state.cells.len() - 1)];
        (inputs, state)
    }

    /// kubectl of the step's cell: its own release (within skew of its Kubernetes), bound to
    /// its kubeconfig (and, on the user's cluster, to the named context).
    pub fn kubectl(
        &self,
        context: &StepContext<'_>,
    ) -> Result<::cluster::kubectl::Kubectl, Failure> {
        let (cell, _) = self.cell(context);
        let programs = self.programs()?;
        let program = programs
            .kubectls
            .get(context.id.cell_index())
            .unwrap_or(&programs.kubectl);
        let kube_context = match &self.inputs.target_cluster {
            crate::inputs::Target::Existing { context, .. } => Some(context.clone()),
            crate::inputs::Target::Kind => None,
        };
        Ok(::cluster::kubectl::Kubectl::new(program, &cell.kubeconfig).with_context(kube_context))
    }

    /// The programs the tools step resolved (every later step needs it).
    pub fn programs(&self) -> Result<&Programs, Failure> {
        self.state
            .programs
            .get()
            .ok_or_else(|| Failure::infra("the tools step did not resolve the programs"))
    }

    /// The resolved tag; before resolution (a dry run) the tag as asked, or a placeholder for
    /// `latest`.
    pub fn tag(&self) -> String {
        match self.state.resolved.get() {
            Some(resolved) => resolved.tag().to_owned(),
            None if self.inputs.tag == "latest" && self.dry_run() => "<resolved tag>".to_owned(),
            None => self.inputs.tag.clone(),
        }
    }
}

/// A command that failed: cancelled if the token stopped it, else of `class`.
pub fn exec_failure(what: &str, error: &ExecError, release: bool) -> Failure {
    match error.cancelled() {
        Some(reason) => Failure::cancelled(reason.clone(), format!("{what}: {error}")),
        None if release => Failure::release(format!("{what}: {error}")),
        None => Failure::infra(format!("{what}: {error}")),
    }
}

/// A cluster stage's error. `release` says whether a tool failing here is the release's fault
/// (a chart that does not install) or the environment's (kind).
pub fn cluster_failure(error: &ClusterError, release: bool) -> Failure {
    if let Some(reason) = error.cancelled() {
        return Failure::cancelled(reason.clone(), error_chain(error));
    }
    match error {
        ClusterError::BadInput(message) => Failure::bad_input(message.clone()),
        // An object that never became ready is the release's failure to serve.
        ClusterError::Stuck { .. } => Failure::release(error_chain(error)),
        _ if release => Failure::release(error_chain(error)),
        _ => Failure::infra(error_chain(error)),
    }
}

/// An artifact error: a release the API says does not exist (or a bad repository, tag or
/// pattern) is bad input, published bytes that do not prove out are the release's failure; the
/// network, the API and docker are the environment's.
pub fn artifact_failure(error: &ArtifactError) -> Failure {
    use download::DownloadError;
    let message = error.to_string();
    if error.is_bad_input() {
        return Failure::bad_input(message);
    }
    if let Some(reason) = error.cancelled() {
        return Failure::cancelled(reason.clone(), message);
    }
    match error {
        ArtifactError::Download {
            error:
                DownloadError::ChecksumMismatch { .. }
                | DownloadError::SizeMismatch { .. }
                | DownloadError::TooLarge { .. },
            ..
        }
        | ArtifactError::MissingAssets { .. }
        | ArtifactError::NothingSelected { .. }
        | ArtifactError::UnsafeName(_)
        | ArtifactError::NoChecksum { .. }
        | ArtifactError::ChecksumConflict { .. }
        | ArtifactError::BadChecksumFile { .. }
        | ArtifactError::ImageDigestMismatch { .. }
        | ArtifactError::BadManifest { .. } => Failure::release(message),
        _ => Failure::infra(message),
    }
}

/// `error` with its sources, as one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The graph on a cluster the user brings: the release is installed already, so the run checks
/// it, deploys only the fixture in its own namespace, runs the suite and removes what it made.
fn existing_graph<'a>(run: &'a Run<'a>) -> Vec<Step<'a>> {
    vec![
        Step::new(
            Stage::Tools,
            &[],
            When::Normal,
            "resolve kubectl (install the pinned one if missing)",
            move |context| release::tools(run, context),
        ),
        Step::new(
            Stage::Preflight,
            &[Stage::Tools],
            When::Normal,
            "the installed release: its controller Deployment Available, its GatewayClass Accepted",
            move |context| existing::preflight(run, context),
        ),
        Step::new(
            Stage::Fixture,
            &[Stage::Preflight],
            When::Normal,
            "apply the fixture in the run's own labelled namespace and wait for it",
            move |context| cluster::fixture(run, context),
        ),
    ]
    .into_iter()
    .chain(gateway_and_suite(run, &[Stage::Fixture]))
    .chain([Step::new(
        Stage::Cleanup,
        &[],
        When::Always,
        "delete the run's labelled objects and its namespace; nothing else",
        move |context| existing::cleanup(run, context),
    )])
    .collect()
}

/// Both graphs end alike: reach the gateway once `needs` are done, run the suite, and on a
/// failure diagnose before anything is deleted.
fn gateway_and_suite<'a>(run: &'a Run<'a>, needs: &[Stage]) -> [Step<'a>; 3] {
    [
        Step::new(
            Stage::Gateway,
            needs,
            When::Normal,
            "the Gateway's address (or a port-forward), and a v1 replica's health toggle",
            move |context| finish::gateway(run, context),
        ),
        Step::new(
            Stage::Conformance,
            &[Stage::Gateway],
            When::Normal,
            "run the conformance suite against the gateway and write its reports",
            move |context| finish::conformance(run, context),
        ),
        Step::new(
            Stage::Diagnostics,
            &[],
            When::OnFailure,
            "events, describes, controller and proxy logs, helm status and history",
            move |context| finish::diagnostics(run, context),
        ),
    ]
}

/// The verify-release graph over `run`: the run's own steps once (the tools, the release, its
/// assets and images, the echo image, the CRD bundle), then a chain per cell. A run over
/// several cells names each chain's steps by its cell, holds at most `parallel` clusters at
/// once (a cell's cluster waits for an earlier cell's cleanup).
pub fn graph<'a>(run: &'a Run<'a>) -> Vec<Step<'a>> {
    let inputs = run.inputs;
    if matches!(
        inputs.target_cluster,
        crate::inputs::Target::Existing { .. }
    ) {
        return existing_graph(run);
    }
    let mut steps = shared_steps(run);
    for (index, cell) in inputs.cells.iter().enumerate() {
        let mut chain = cell_chain(run, cell);
        if let Some(id) = cell.cell {
            chain = chain.into_iter().map(|step| step.in_cell(id)).collect();
            // At most `parallel` clusters at once: this cell's waits for an earlier one's end.
            if let Some(earlier) = index
                .checked_sub(inputs.parallel.cells.max(1))
                .and_then(|earlier| inputs.cells[earlier].cell)
            {
                chain[0]
                    .after
                    .push(crate::event::StepId::of(Stage::Cleanup, earlier));
            }
        }
        let mut chain = chain.into_iter();
        steps.extend(chain.next());
        if index == 0 {
            // The echo image builds beside the first cluster (graph order as reports list it).
            steps.push(echo_step(run));
        }
        steps.extend(chain);
    }
    steps
}

/// The steps a run does once, whatever its cells.
fn shared_steps<'a>(run: &'a Run<'a>) -> Vec<Step<'a>> {
    let inputs = run.inputs;
    vec![
        Step::new(
            Stage::Tools,
            &[],
            When::Normal,
            "resolve kind, kubectl, helm and docker; install the pinned ones that are missing",
            move |context| release::tools(run, context),
        ),
        Step::new(
            Stage::Resolve,
            &[],
            When::Normal,
            format!(
                "resolve {} {} through the GitHub API",
                inputs.repo, inputs.tag
            ),
            move |context| release::resolve(run, context),
        ),
        Step::new(
            Stage::CrdBundle,
            &[],
            When::Normal,
            format!(
                "download the Gateway API CRDs {} ({}) and check the pinned sha256",
                inputs.settings.pins.gateway_api.version.with_v(),
                inputs.settings.pins.gateway_api.channel.as_str()
            ),
            move |context| release::crd_bundle(run, context),
        ),
        Step::new(
            Stage::Assets,
            &[Stage::Resolve],
            When::Normal,
            "download the release's assets, each verified against the published checksums",
            move |context| release::assets(run, context),
        ),
        Step::new(
            Stage::Images,
            &[Stage::Resolve, Stage::Tools],
            When::Normal,
            "pull the release's images and record their digests",
            move |context| release::images(run, context),
        ),
        Step::new(
            Stage::Record,
            &[Stage::Assets, Stage::Images],
            When::Normal,
            "images the assets name or carry, the digest list check, artifacts.json",
            move |context| release::record(run, context),
        ),
    ]
}

fn echo_step<'a>(run: &'a Run<'a>) -> Step<'a> {
    Step::new(
        Stage::EchoImage,
        &[Stage::Tools],
        When::Normal,
        format!(
            "build the echo backend image {}",
            run.inputs.settings.pins.images.echo
        ),
        move |context| cluster::echo_image(run, context),
    )
}

/// One cell's chain: its cluster, what is installed on it, the suite, its diagnostics and
/// cleanup. The first step is the cluster's.
fn cell_chain<'a>(run: &'a Run<'a>, cell: &'a crate::cells::CellInputs) -> Vec<Step<'a>> {
    let inputs = run.inputs;
    let provider = inputs.settings.target.load_balancer.provider;
    vec![
        Step::new(
            Stage::Cluster,
            &[Stage::Tools],
            When::Normal,
            format!(
                "delete stale clusters of killed runs, then create kind cluster {} from {}",
                cell.cluster_name, cell.settings.pins.node_image.reference
            ),
            move |context| cluster::create(run, context),
        ),
        Step::new(
            Stage::LoadBalancer,
            &[Stage::Cluster],
            When::Normal,
            match provider {
                config::cluster::Provider::CloudProviderKind => format!(
                    "make sure the engine's one cloud-provider-kind ({}) runs, so Gateways get an address",
                    inputs.settings.pins.images.cloud_provider_kind.reference
                ),
                config::cluster::Provider::None => {
                    "no LoadBalancer provider (the target config turns it off)".to_owned()
                }
            },
            move |context| cluster::load_balancer(run, context),
        ),
        Step::new(
            Stage::LoadImages,
            &[Stage::Cluster, Stage::Record, Stage::EchoImage],
            When::Normal,
            "load exactly the recorded images into the cluster (docker save + kind load image-archive)",
            move |context| cluster::load_images(run, context),
        ),
        Step::new(
            Stage::Crds,
            &[Stage::Cluster, Stage::CrdBundle],
            When::Normal,
            "apply the pinned Gateway API CRDs and wait until Established",
            move |context| cluster::crds(run, context),
        ),
        Step::new(
            Stage::Charts,
            &[Stage::Crds, Stage::LoadImages],
            When::Normal,
            "helm upgrade --install --wait each chart of the release, in order",
            move |context| cluster::charts(run, context),
        ),
        Step::new(
            Stage::Fixture,
            &[Stage::Charts],
            When::Normal,
            "apply the conformance fixture and wait for its Gateway, routes and backends",
            move |context| cluster::fixture(run, context),
        ),
    ]
    .into_iter()
    .chain(gateway_and_suite(run, &[Stage::Fixture, Stage::LoadBalancer]))
    .chain([Step::new(
        Stage::Cleanup,
        &[],
        When::Always,
        "stop port-forwards and the provider, export logs, delete the cluster",
        move |context| finish::cleanup(run, context),
    )])
    .collect()
}

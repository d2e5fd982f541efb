//! What the pipeline tells its caller while it runs, as values: which step ([`StepId`]), and
//! what happened ([`EventKind`]): the libraries' own typed events (the artifact, cluster and
//! conformance crates') and the pipeline's facts ([`Note`]). Nothing here is English: the xtask
//! is the one place that renders (one folded group per step under GitHub Actions, prefixed
//! lines elsewhere, progress bars on a terminal). Never carries a secret.

use std::fmt;
use std::path::PathBuf;

use crate::graph::Timing;

/// The stages of a run, in graph order. The step's name in reports is [`Stage::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Tools,
    Preflight,
    Resolve,
    CrdBundle,
    Assets,
    Images,
    Record,
    Cluster,
    EchoImage,
    LoadBalancer,
    LoadImages,
    Crds,
    Charts,
    Fixture,
    Gateway,
    Conformance,
    Diagnostics,
    Cleanup,
    /// Not a step of the graph: the run as a whole (its log, its reports).
    Run,
    /// Not a step of the graph: the notifications after cleanup.
    Notify,
}

impl Stage {
    pub const ALL: [Stage; 20] = [
        Stage::Tools,
        Stage::Preflight,
        Stage::Resolve,
        Stage::CrdBundle,
        Stage::Assets,
        Stage::Images,
        Stage::Record,
        Stage::Cluster,
        Stage::EchoImage,
        Stage::LoadBalancer,
        Stage::LoadImages,
        Stage::Crds,
        Stage::Charts,
        Stage::Fixture,
        Stage::Gateway,
        Stage::Conformance,
        Stage::Diagnostics,
        Stage::Cleanup,
        Stage::Run,
        Stage::Notify,
    ];

    /// The name run.json, the JUnit, commands.log and the plan use.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Tools => "tools",
            Stage::Preflight => "preflight",
            Stage::Resolve => "resolve",
            Stage::CrdBundle => "crd-bundle",
            Stage::Assets => "assets",
            Stage::Images => "images",
            Stage::Record => "record",
            Stage::Cluster => "cluster",
            Stage::EchoImage => "echo-image",
            Stage::LoadBalancer => "load-balancer",
            Stage::LoadImages => "load-images",
            Stage::Crds => "crds",
            Stage::Charts => "charts",
            Stage::Fixture => "fixture",
            Stage::Gateway => "gateway",
            Stage::Conformance => "conformance",
            Stage::Diagnostics => "diagnostics",
            Stage::Cleanup => "cleanup",
            Stage::Run => "run",
            Stage::Notify => "notify",
        }
    }

    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.as_str() == name)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Stage {
    /// Whether the stage belongs to one cluster (a cell of a run over several clusters runs its
    /// own), rather than to the run (tools, the release, its assets and images).
    pub fn is_per_cluster(self) -> bool {
        matches!(
            self,
            Stage::Cluster
                | Stage::LoadBalancer
                | Stage::LoadImages
                | Stage::Crds
                | Stage::Charts
                | Stage::Fixture
                | Stage::Gateway
                | Stage::Conformance
                | Stage::Diagnostics
                | Stage::Cleanup
        )
    }
}

/// One cluster's chain of a run over several: its index among the run's cells, and its label
/// (`1.36`), which names its steps (`cluster@1.36`) everywhere they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub index: u8,
    pub label: &'static str,
}

impl Cell {
    /// A run has a handful of cells, made once: their labels live as long as the process, so
    /// that step ids stay `Copy`.
    pub fn new(index: u8, label: &str) -> Cell {
        Cell {
            index,
            label: Box::leak(label.to_owned().into_boxed_str()),
        }
    }
}

/// A step of the graph: its stage, and the cell whose chain it belongs to (None: the run's
/// own step, or the one chain of a run over one cluster, named by its stage alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId {
    pub stage: Stage,
    pub cell: Option<Cell>,
}

impl StepId {
    /// The stage `stage` of cell `cell`.
    pub fn of(stage: Stage, cell: Cell) -> StepId {
        StepId {
            stage,
            cell: Some(cell),
        }
    }

    /// The index of the step's cell among the run's cells: 0 for a run's own step, and for
    /// every step of a run over one cluster (its one cell).
    pub fn cell_index(&self) -> usize {
        self.cell.map_or(0, |cell| usize::from(cell.index))
    }
}

impl From<Stage> for StepId {
    fn from(stage: Stage) -> StepId {
        StepId { stage, cell: None }
    }
}

impl PartialEq<Stage> for StepId {
    fn eq(&self, stage: &Stage) -> bool {
        self.cell.is_none() && self.stage == *stage
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that widths in format strings (the timeline's columns) apply.
        match self.cell {
            None => f.pad(self.stage.as_str()),
            Some(cell) => f.pad(&format!("{}@{}", self.stage.as_str(), cell.label)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub step: StepId,
    pub kind: EventKind,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    Started,
    Finished(Timing),
    /// The artifact crate's progress (release resolved, bytes of each asset, verified files,
    /// images pulled).
    Artifact(artifact::Event),
    /// The cluster crate's progress.
    Cluster(cluster::Event),
    /// A conformance case ended.
    Case(conformance::results::CaseResult),
    /// A fact of the pipeline's own.
    Note(Note),
}

/// How a tool was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFound {
    pub tool: pins::ToolName,
    /// The resolution's own one-line description (version, path, verdict).
    pub description: String,
    /// What resolution wants said loudly (a `$KIND` binary, forced host tools).
    pub notices: Vec<String>,
}

/// The pipeline's facts, each rendered by the xtask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A tool resolved (and whether it was installed first).
    Tool(ToolFound),
    ToolInstalled {
        tool: pins::ToolName,
        version: String,
        path: PathBuf,
    },
    /// A dry run found no usable tool: the real run installs it first.
    ToolWouldInstall {
        tool: pins::ToolName,
        why: String,
        path: PathBuf,
    },
    /// The docker engine and whether `docker save --platform` works.
    Engine {
        version: String,
        save_platform: Option<String>,
    },
    /// A dry run: the release lookup (`with_token`: GITHUB_TOKEN goes to that host only).
    WouldResolve {
        url: String,
        with_token: bool,
    },
    /// A dry run: the assets matching `patterns` (and the checksum files that prove them) go
    /// into `dest`; nothing unverified is kept.
    WouldDownloadAssets {
        patterns: Vec<String>,
        dest: PathBuf,
    },
    /// A dry run: images named by manifests pulled, archives loaded, the digest list
    /// compared, artifacts.json written here.
    WouldRecord(PathBuf),
    /// A dry run: what a step would download.
    WouldDownload {
        url: String,
        dest: PathBuf,
        sha256: String,
    },
    /// The CRD bundle is verified.
    CrdBundle {
        path: PathBuf,
        sha256: String,
        from_cache: bool,
    },
    /// `artifacts.json` is written.
    Recorded {
        path: PathBuf,
        assets: usize,
        images: usize,
    },
    /// Clusters of killed runs were deleted before this run's was created.
    StaleClustersDeleted(Vec<String>),
    /// The echo image was built (or planned) and proven.
    EchoImage {
        reference: String,
        id: String,
        /// The build's own lines: platform, toolchain, the proof.
        details: Vec<String>,
    },
    /// The engine's one cloud-provider-kind runs (started now, or by another cell or run).
    LoadBalancerStarted {
        container: String,
        already_running: bool,
    },
    NoLoadBalancer,
    ImagesLoaded {
        images: Vec<String>,
        platform: Option<String>,
    },
    /// The Gateway's address, and how the suite reaches it.
    GatewayAccess {
        gateway: String,
        address: Option<String>,
        url: String,
        /// None: straight at the address; Some: through a port-forward, and why.
        forwarded_because: Option<String>,
        second_listener: Option<String>,
    },
    /// The gateway Service exposes no port for the second listener: that case is skipped.
    SecondListenerMissing(String),
    /// `(pod, url)` whose health the eviction case flips.
    HealthToggle {
        pod: String,
        url: String,
    },
    /// The fixture's image has no health toggle: health-eviction will be skipped.
    NoHealthToggle,
    /// A dry run: the cases the suite would run.
    WouldRunCases(Vec<String>),
    ReportsWritten(Vec<PathBuf>),
    /// Diagnostics were collected.
    Diagnosed {
        files: usize,
        dir: PathBuf,
        logs: PathBuf,
    },
    /// There was no cluster to diagnose.
    NothingToDiagnose,
    ForwardsStopped(usize),
    /// The cluster was kept (`--keep-cluster`).
    ClusterKept {
        name: String,
        kubeconfig: PathBuf,
    },
    /// The user's cluster's API server version, and the kubectl chosen within skew of it
    /// (None: a dry run, which reads it first thing in the real run).
    ServerVersion {
        context: String,
        server: Option<String>,
        kubectl: Option<String>,
    },
    /// The installed release on the user's cluster.
    Ready {
        object: String,
        condition: &'static str,
    },
    /// What the run creates on the user's cluster.
    WillCreate {
        namespace: String,
        label: String,
        objects: Vec<String>,
    },
    /// What cleanup deletes on the user's cluster.
    DeletingLabelled {
        namespace: String,
        selector: String,
    },
    NamespaceAbsent(String),
    NamespaceNotOurs {
        namespace: String,
        selector: String,
    },
    /// A notification's result (never the URL or the token).
    Notified {
        channel: &'static str,
        delivered: bool,
        detail: String,
    },
    /// A dry run: what a notification channel would do.
    WouldNotify(crate::notifications::WouldNotify),
    /// Something went wrong that does not fail the step: the message says what.
    Problem(String),
}

/// Where events go. Must be callable from every step's thread.
pub type Sink<'a> = dyn Fn(Event) + Sync + 'a;

/// A step's handle on the sink: every event carries the step's id.
#[derive(Clone, Copy)]
pub struct Emitter<'a> {
    pub step: StepId,
    pub sink: &'a Sink<'a>,
}

impl Emitter<'_> {
    pub fn send(&self, kind: EventKind) {
        (self.sink)(Event {
            step: self.step,
            kind,
        });
    }

    pub fn note(&self, note: Note) {
        self.send(EventKind::Note(note));
    }

    /// Something that does not fail the step but must be seen.
    pub fn problem(&self, what: impl Into<String>) {
        self.note(Note::Problem(what.into()));
    }

    pub fn cluster(&self, event: cluster::Event) {
        self.send(EventKind::Cluster(event));
    }

    pub fn artifact(&self, event: artifact::Event) {
        self.send(EventKind::Artifact(event));
    }
}

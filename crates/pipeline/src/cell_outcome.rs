//! What became of each cell, and the verdict of a run over several: the release passes only if
//! every cell passed. A failure of the run's own steps (the release, its assets) decides as in
//! a run over one cluster; otherwise a cell that failed a case makes the release fail (exit 1,
//! naming the cells), and else a cell that could not run makes the run one that could not run
//! (exit 3). A signal beats everything.

use std::path::PathBuf;

use cancel::Token;
use cluster::run_cluster::Fate;

use crate::graph::Timing;
use crate::inputs::{Inputs, Target};
use crate::steps::State;
use crate::{StepId, Verdict};

/// One cell's end.
#[derive(Debug, Clone)]
pub struct CellOutcome {
    /// `1.36`.
    pub label: String,
    pub minor: Option<String>,
    pub cluster_name: String,
    pub dir: PathBuf,
    pub node_image: String,
    pub kubectl: String,
    pub verdict: Verdict,
    /// The cell's step whose failure decided its verdict, and why.
    pub failing_step: Option<(StepId, String)>,
    pub failing_cases: Vec<String>,
    pub suite: Option<conformance::SuiteResults>,
    /// What became of the cell's cluster (None on the user's cluster).
    pub cluster: Option<Fate>,
    pub kept_cluster: Option<String>,
}

/// Each cell's outcome from the timings and the state its steps left.
pub fn cells(
    inputs: &Inputs,
    state: &State,
    timings: &[Timing],
    token: &Token,
) -> Vec<CellOutcome> {
    inputs
        .cells
        .iter()
        .zip(&state.cells)
        .map(|(cell, cell_state)| {
            // A run over one cluster has no cell ids: every step is its one cell's.
            let own: Vec<Timing> = timings
                .iter()
                .filter(|timing| cell.cell.is_none() || timing.id.cell == cell.cell)
                .cloned()
                .collect();
            let (mut verdict, failing_step) = crate::verdict(&own, token);
            let suite = cell_state.results.get().cloned();
            let failing_cases: Vec<String> = suite
                .as_ref()
                .map(|results| {
                    results
                        .cases
                        .iter()
                        .filter(|case| case.outcome.is_failed())
                        .map(|case| case.name.clone())
                        .collect()
                })
                .unwrap_or_default();
            // A cell none of whose steps ran (the run's own steps failed first) did not pass.
            if verdict == Verdict::Passed
                && own.iter().any(|timing| {
                    timing.when == crate::graph::When::Normal && !timing.status.is_success()
                })
            {
                verdict = Verdict::CouldNotRun;
            }
            CellOutcome {
                label: cell.label.clone(),
                minor: cell.minor.clone(),
                cluster_name: cell.cluster_name.clone(),
                dir: cell.dir.clone(),
                node_image: cell.settings.pins.node_image.reference.clone(),
                kubectl: cell.settings.pins.kubectl.version.with_v(),
                verdict,
                failing_step,
                failing_cases,
                suite,
                cluster: match inputs.target_cluster {
                    Target::Existing { .. } => None,
                    // What the owner's `down` reported; an owner whose `down` never ran may
                    // have left its cluster; no owner means no cluster was ever started.
                    Target::Kind => Some(
                        stdx::lock(&cell_state.down)
                            .as_ref()
                            .map(|down| down.fate)
                            .unwrap_or(if cell_state.cluster.get().is_some() {
                                Fate::MayExist
                            } else {
                                Fate::NeverCreated
                            }),
                    ),
                },
                kept_cluster: cell_state.kept_cluster.get().cloned(),
            }
        })
        .collect()
}

/// The verdict of a run over several cells: a signal, then the run's own steps, then the cells
/// (a failed case anywhere before a cell that could not run).
pub fn verdict(
    timings: &[Timing],
    token: &Token,
    cells: &[CellOutcome],
) -> (Verdict, Option<(StepId, String)>) {
    let own: Vec<Timing> = timings
        .iter()
        .filter(|timing| timing.id.cell.is_none())
        .cloned()
        .collect();
    let (verdict, step) = crate::verdict(&own, token);
    if verdict != Verdict::Passed {
        return (verdict, step);
    }
    for wanted in [
        Verdict::ReleaseFailed,
        Verdict::BadInput,
        Verdict::CouldNotRun,
    ] {
        if let Some(cell) = cells.iter().find(|cell| cell.verdict == wanted) {
            return (wanted, cell.failing_step.clone());
        }
    }
    (Verdict::Passed, None)
}

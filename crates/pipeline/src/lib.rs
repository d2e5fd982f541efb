//! pipeline: `verify-release` as a graph of stages. The steps call the library crates' stages
//! (tools, artifact, cluster, conformance) with values and get typed results back; a small
//! scheduler ([`graph`]) overlaps what is independent on scoped std threads, cancels the rest
//! through the run's token when a step fails, then diagnoses and always cleans up. Every
//! command goes to the run's `commands.log` with its step, exit code and duration; every step
//! is timed; the run's folder gets `run.json`, `summary.md` (with a timeline that shows the
//! overlap) and a pipeline JUnit with one testcase per step.
//!
//! This crate never prints and never reads the process environment: the xtask passes a
//! [`Request`] and an environment snapshot to [`inputs::load`], a cancellation token and an
//! event sink to [`run`], and renders the [`Event`]s and the [`Outcome`].

pub mod cell_outcome;
pub mod cells;
pub mod echo;
pub mod event;
pub mod graph;
pub mod inputs;
pub mod kubernetes;
pub mod needs;
pub mod notifications;
pub mod report;
mod steps;

use std::path::PathBuf;

use cancel::Token;
use cluster::run_cluster::Fate;
use exec::Shell;

pub use event::{Event, EventKind, Note, Sink, Stage, StepId};
pub use graph::{Class, Failure, Status, Timing};
pub use inputs::{BadInput, Inputs, Request};

/// The run's verdict, and the exit code it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every case passed.
    Passed,
    /// The release is bad (exit 1).
    ReleaseFailed,
    /// Bad usage or config found while running (exit 2).
    BadInput,
    /// The verification could not run (exit 3).
    CouldNotRun,
    /// A signal stopped the run, after cleanup (128 + the signal).
    Interrupted(i32),
}

impl Verdict {
    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Passed => 0,
            Verdict::ReleaseFailed => 1,
            Verdict::BadInput => 2,
            Verdict::CouldNotRun => 3,
            Verdict::Interrupted(signal) => u8::try_from(128 + signal).unwrap_or(130),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::ReleaseFailed => "failed",
            Verdict::BadInput => "bad-input",
            Verdict::CouldNotRun => "could-not-run",
            Verdict::Interrupted(_) => "interrupted",
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub timings: Vec<Timing>,
    /// The step whose failure decided the verdict, and why.
    pub failing_step: Option<(StepId, String)>,
    /// Conformance cases that failed.
    pub failing_cases: Vec<String>,
    /// The resolved tag (the requested one when resolution never happened).
    pub tag: String,
    pub artifacts_dir: PathBuf,
    /// Files the run wrote at the end (run.json, summary.md, the pipeline JUnit).
    pub reports: Vec<PathBuf>,
    /// Set with `--keep-cluster`.
    pub kept_cluster: Option<String>,
    /// What became of the run's throwaway cluster (None on the user's cluster).
    pub cluster: Option<Fate>,
    /// The planned commands of a dry run, by step.
    pub plan: Vec<exec::Planned>,
    /// Which steps may run at once, wave by wave (the plan's overlap).
    pub waves: Vec<Vec<StepId>>,
    /// Each step's plan line, in graph order.
    pub steps: Vec<StepPlan>,
    pub suite: Option<conformance::SuiteResults>,
    pub record: Option<artifact::record::Record>,
    /// What the webhook and the GitHub issue were told (never the URL or the token).
    pub notifications: Vec<notifications::Notification>,
    /// When the run could not run: everything it lacks, at once.
    pub missing: Vec<needs::Need>,
    /// Each cell's end (one in a run over one cluster).
    pub cells: Vec<cell_outcome::CellOutcome>,
}

/// A step as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepPlan {
    pub id: StepId,
    pub needs: Vec<StepId>,
    /// Steps it waits for whatever their outcome (an earlier cell's cleanup, with --parallel).
    pub after: Vec<StepId>,
    pub when: graph::When,
    /// One line: what the step does.
    pub summary: String,
}

/// Runs (or, with `inputs.dry_run`, plans) the whole gate. `token` is cancelled by the caller's
/// signal handler; `sink` receives every event from every step's thread.
pub fn run(inputs: &Inputs, token: &Token, sink: &Sink<'_>) -> Outcome {
    let mut shell = Shell::new().with_dry_run(inputs.dry_run);
    if !inputs.dry_run {
        let log = inputs.artifacts_dir.join("commands.log");
        match Shell::new().with_log(&log) {
            Ok(logged) => shell = logged,
            Err(error) => sink(Event {
                step: Stage::Run.into(),
                kind: EventKind::Note(Note::Problem(format!(
                    "cannot open {}: {error}; commands are not logged",
                    log.display()
                ))),
            }),
        }
    }
    let state = steps::State::new(inputs.cells.len());
    let run = steps::Run {
        inputs,
        state: &state,
        shell: &shell,
        sink,
    };
    let graph = steps::graph(&run);
    if let Err(problem) = graph::validate(&graph) {
        // A broken graph is this program's bug, not the user's: say so plainly.
        sink(Event {
            step: Stage::Run.into(),
            kind: EventKind::Note(Note::Problem(format!(
                "the step graph is invalid: {problem}"
            ))),
        });
    }
    let waves = graph::waves(&graph).unwrap_or_default();
    let summaries = graph
        .iter()
        .map(|step| StepPlan {
            id: step.id,
            needs: step.needs.clone(),
            after: step.after.clone(),
            when: step.when,
            summary: step.summary.clone(),
        })
        .collect();
    // A failing step cancels this child (its siblings stop, the reason names the step); a
    // signal cancels the run's token and, through it, the child: the two never mix.
    let work = token.child();
    let timings = graph::run(
        &graph,
        &work,
        graph::Options {
            dry_run: inputs.dry_run,
            fail_fast: inputs.fail_fast,
        },
        &|id| {
            sink(Event {
                step: id,
                kind: EventKind::Started,
            })
        },
        &|timing| {
            sink(Event {
                step: timing.id,
                kind: EventKind::Finished(timing.clone()),
            })
        },
    );
    drop(graph);
    let record = state.record.get().cloned();
    let cells = cell_outcome::cells(inputs, &state, &timings, token);
    let several = cells.len() > 1;
    let (verdict, failing_step) = if several {
        cell_outcome::verdict(&timings, token, &cells)
    } else {
        verdict(&timings, token)
    };
    drop(work);
    // One cell: its suite and cases, as before there were cells. Several: each failed case
    // named with its cell (`weighted-split@1.35`).
    let suite = if several {
        None
    } else {
        cells.first().and_then(|cell| cell.suite.clone())
    };
    let failing_cases = cells
        .iter()
        .flat_map(|cell| {
            cell.failing_cases.iter().map(move |case| {
                if several {
                    format!("{case}@{}", cell.label)
                } else {
                    case.clone()
                }
            })
        })
        .collect();
    // The worst of the cells' fates: a cluster that may still exist outweighs one kept.
    let cluster = cells
        .iter()
        .filter_map(|cell| cell.cluster)
        .max_by_key(|fate| match fate {
            Fate::NeverCreated => 0,
            Fate::Deleted => 1,
            Fate::Kept => 2,
            Fate::MayExist => 3,
        });
    let mut outcome = Outcome {
        verdict,
        timings,
        failing_step,
        failing_cases,
        tag: run.tag(),
        artifacts_dir: inputs.artifacts_dir.clone(),
        reports: Vec::new(),
        kept_cluster: cells.iter().find_map(|cell| cell.kept_cluster.clone()),
        cluster,
        cells,

        plan: shell.plan_by_step(),
        waves,
        steps: summaries,
        suite,
        record,
        notifications: Vec::new(),
        missing: Vec::new(),
    };
    if outcome.verdict == Verdict::CouldNotRun && !inputs.dry_run {
        outcome.missing = needs::missing(
            inputs,
            &outcome.timings,
            &shell.for_step(Stage::Run.as_str()).for_cleanup(),
        );
    }
    // After cleanup: a slow or broken receiver never holds a cluster up.
    outcome.notifications = notifications::send(inputs, &outcome, sink);
    if !inputs.dry_run {
        match report::write_all(inputs, &outcome) {
            Ok(paths) => outcome.reports = paths,
            Err(error) => sink(Event {
                step: Stage::Run.into(),
                kind: EventKind::Note(Note::Problem(format!(
                    "could not write the run's reports into {}: {error}",
                    inputs.artifacts_dir.display()
                ))),
            }),
        }
    }
    outcome
}

/// The verdict from the steps: a signal wins (the run did not finish); then the first step to
/// fail on its own account decides (not the siblings it cancelled); a cleanup that could not
/// delete the cluster makes an otherwise green run one that could not run cleanly.
pub(crate) fn verdict(timings: &[Timing], token: &Token) -> (Verdict, Option<(StepId, String)>) {
    if let Some(reason) = token.reason()
        && let cancel::Reason::Signal(signal) = reason
    {
        return (Verdict::Interrupted(signal), None);
    }
    let mut failed: Vec<&Timing> = timings
        .iter()
        .filter(|timing| {
            timing.when == graph::When::Normal
                && matches!(&timing.status, Status::Failed(failure) if !failure.is_cancelled())
        })
        .collect();
    failed.sort_by_key(|timing| timing.finished);
    if let Some(first) = failed.first()
        && let Status::Failed(failure) = &first.status
    {
        let verdict = match failure.class {
            Class::Release => Verdict::ReleaseFailed,
            Class::BadInput => Verdict::BadInput,
            Class::Infra | Class::Cancelled(_) => Verdict::CouldNotRun,
        };
        return (verdict, Some((first.id, failure.message.clone())));
    }
    for timing in timings {
        if timing.when == graph::When::Always
            && let Status::Failed(failure) = &timing.status
        {
            return (
                Verdict::CouldNotRun,
                Some((timing.id, failure.message.clone())),
            );
        }
    }
    (Verdict::Passed, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn failed(id: Stage, when: graph::When, at: u64, failure: Failure) -> Timing {
        Timing {
            id: id.into(),
            needs: Vec::new(),
            when,
            status: Status::Failed(failure),
            started: Some(Duration::ZERO),
            finished: Some(Duration::from_secs(at)),
        }
    }

    #[test]
    fn the_first_failure_on_its_own_account_decides() {
        let token = Token::new();
        let timings = [
            failed(
                Stage::Assets,
                graph::When::Normal,
                9,
                Failure::cancelled(cancel::Reason::SiblingFailed("charts".into()), "stopped"),
            ),
            failed(
                Stage::Charts,
                graph::When::Normal,
                5,
                Failure::release("chart x failed"),
            ),
            failed(
                Stage::Cluster,
                graph::When::Normal,
                7,
                Failure::infra("kind broke"),
            ),
        ];
        let (verdict, step) = verdict(&timings, &token);
        assert_eq!(verdict, Verdict::ReleaseFailed);
        assert_eq!(verdict.exit_code(), 1);
        assert_eq!(
            step,
            Some((Stage::Charts.into(), "chart x failed".to_owned()))
        );
    }

    #[test]
    fn a_signal_wins_and_a_failed_cleanup_is_not_a_pass() {
        let token = Token::new();
        token.cancel(cancel::Reason::Signal(15));
        let timings = [failed(
            Stage::Charts,
            graph::When::Normal,
            5,
            Failure::release("x"),
        )];
        assert_eq!(verdict(&timings, &token).0, Verdict::Interrupted(15));
        assert_eq!(Verdict::Interrupted(15).exit_code(), 143);
        let cleanup = [failed(
            Stage::Cleanup,
            graph::When::Always,
            1,
            Failure::infra("kind delete failed"),
        )];
        let (verdict, step) = verdict(&cleanup, &Token::new());
        assert_eq!(verdict, Verdict::CouldNotRun);
        assert_eq!(verdict.exit_code(), 3);
        assert_eq!(step.unwrap().0, Stage::Cleanup);
    }
}

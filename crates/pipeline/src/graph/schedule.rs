//! The scheduler. Every step whose needs have succeeded (and whose `after` steps have ended)
//! starts on its own scoped thread. A step belongs to a scope: the run's own (its id has no
//! cell) or one cell's chain. A failure cancels what is in flight in its scope and skips what
//! has not started there, through that scope's token, with [`Reason::SiblingFailed`]: a failure
//! of the run's own steps stops every cell (they observe children of the work token), a
//! failure in one cell stops only that cell, unless [`Options::fail_fast`].
//!
//! A cell's [`When::OnFailure`] and [`When::Always`] steps (its diagnostics and cleanup) run as
//! soon as every normal step of that cell has ended, beside the other cells, each on a live
//! token of its own: a cell's cluster goes as soon as the cell is done. The run's own ones run
//! last, after everything else, in order, as a run over one cluster always did.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cancel::{Reason, Token};

use super::{Failure, Status, Step, StepContext, Timing, When};
use crate::event::{Cell, StepId};

/// How [`run`] runs the graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// One step at a time, so the plan reads in a stable order.
    pub dry_run: bool,
    /// A failure in one cell stops every cell (by default it stops only its own).
    pub fail_fast: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Running,
    Done,
}

enum Decision {
    Wait,
    Skip(String),
    Start(Token),
}

/// What the scheduler knows while it runs.
struct Board<'s, 'a> {
    steps: &'s [Step<'a>],
    index_of: BTreeMap<StepId, usize>,
    phase: Vec<Phase>,
    timings: Vec<Timing>,
    work: &'s Token,
    cells: BTreeMap<Cell, Token>,
    /// Scopes (None: the run's own) where a step failed on its own account.
    failed: BTreeSet<Option<Cell>>,
    options: Options,
}

impl Board<'_, '_> {
    fn done(&self, id: &StepId) -> Option<&Status> {
        let index = *self.index_of.get(id)?;
        (self.phase[index] == Phase::Done).then_some(&self.timings[index].status)
    }

    fn token_of(&self, cell: Option<Cell>) -> &Token {
        cell.and_then(|cell| self.cells.get(&cell))
            .unwrap_or(self.work)
    }

    fn interrupted(&self) -> bool {
        self.work.reason().is_some_and(|reason| reason.is_signal())
    }

    fn decide(&self, step: &Step<'_>) -> Decision {
        if step
            .after
            .iter()
            .any(|id| self.index_of.contains_key(id) && self.done(id).is_none())
        {
            return Decision::Wait;
        }
        match (step.when, step.id.cell) {
            (When::Normal, scope) => self.decide_normal(step, scope),
            // The run's own diagnostics and cleanup run after everything, outside the loop.
            (_, None) => Decision::Wait,
            (when, Some(cell)) => self.decide_cell_end(when, cell),
        }
    }

    fn decide_normal(&self, step: &Step<'_>, scope: Option<Cell>) -> Decision {
        for need in &step.needs {
            match self.done(need) {
                Some(Status::Succeeded) => {}
                Some(_) => return Decision::Skip(format!("not run: {need} did not succeed")),
                None => return Decision::Wait,
            }
        }
        let token = self.token_of(scope);
        let stopped = token.is_cancelled()
            || self.failed.contains(&None)
            || self.failed.contains(&scope)
            || (self.options.fail_fast && !self.failed.is_empty());
        if stopped {
            return Decision::Skip(match token.reason() {
                Some(reason) => format!("not run: the run was {reason}"),
                None => "not run: an earlier step failed".to_owned(),
            });
        }
        Decision::Start(token.clone())
    }

    /// A cell's diagnostics once its normal steps have ended; its cleanup after those.
    fn decide_cell_end(&self, when: When, cell: Cell) -> Decision {
        let in_cell = |wanted: When| {
            self.steps
                .iter()
                .enumerate()
                .filter(move |(_, step)| step.id.cell == Some(cell) && step.when == wanted)
        };
        if in_cell(When::Normal).any(|(index, _)| self.phase[index] != Phase::Done) {
            return Decision::Wait;
        }
        if when == When::Always
            && in_cell(When::OnFailure).any(|(index, _)| self.phase[index] != Phase::Done)
        {
            return Decision::Wait;
        }
        if when == When::OnFailure {
            if self.interrupted() {
                return Decision::Skip("not run: the run was interrupted".to_owned());
            }
            if !self.failed.contains(&Some(cell)) && !self.failed.contains(&None) {
                return Decision::Skip("not needed: nothing failed".to_owned());
            }
        }
        // Diagnostics and cleanup are what a failed or cancelled cell does on its way out.
        Decision::Start(Token::new())
    }

    /// A normal step failed on its own account: stop its scope (or, with fail-fast or from the
    /// run's own steps, everything). Only the first failure of a scope names the reason.
    fn failed_on_its_own(&mut self, index: usize) {
        let id = self.steps[index].id;
        let scope = id.cell;
        let first_anywhere = self.failed.is_empty();
        let first_here = self.failed.insert(scope);
        let reason = Reason::SiblingFailed(id.to_string());
        match scope {
            None if first_here => {
                self.work.cancel(reason);
            }
            Some(_) if self.options.fail_fast && first_anywhere => {
                self.work.cancel(reason);
            }
            Some(cell) if first_here && !self.options.fail_fast => {
                if let Some(token) = self.cells.get(&cell) {
                    token.cancel(reason);
                }
            }
            _ => {}
        }
    }
}

enum Message {
    Done(usize, Result<(), Failure>, Duration),
}

/// Runs the graph. `work` is the run's token: a signal cancels it from outside, and through it
/// every cell. `on_start` and `on_finish` are told about each step as it starts and ends (from
/// the scheduler's thread).
pub fn run(
    steps: &[Step<'_>],
    work: &Token,
    options: Options,
    on_start: &(dyn Fn(StepId) + Sync),
    on_finish: &(dyn Fn(&Timing) + Sync),
) -> Vec<Timing> {
    let started = Instant::now();
    let cells: BTreeSet<Cell> = steps.iter().filter_map(|step| step.id.cell).collect();
    let mut board = Board {
        steps,
        index_of: steps
            .iter()
            .enumerate()
            .map(|(index, step)| (step.id, index))
            .collect(),
        phase: vec![Phase::Waiting; steps.len()],
        timings: steps
            .iter()
            .map(|step| Timing {
                id: step.id,
                needs: step.needs.clone(),
                when: step.when,
                status: Status::Skipped("not reached".to_owned()),
                started: None,
                finished: None,
            })
            .collect(),
        work,
        cells: cells.into_iter().map(|cell| (cell, work.child())).collect(),
        failed: BTreeSet::new(),
        options,
    };
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<Message>();
        let mut running = 0usize;
        loop {
            let mut progressed = true;
            while progressed {
                progressed = false;
                for (index, step) in steps.iter().enumerate() {
                    if board.phase[index] != Phase::Waiting {
                        continue;
                    }
                    if options.dry_run && running > 0 {
                        break;
                    }
                    match board.decide(step) {
                        Decision::Wait => {}
                        Decision::Skip(why) => {
                            board.phase[index] = Phase::Done;
                            board.timings[index].status = Status::Skipped(why);
                            on_finish(&board.timings[index]);
                            progressed = true;
                        }
                        Decision::Start(token) => {
                            board.phase[index] = Phase::Running;
                            board.timings[index].started = Some(started.elapsed());
                            on_start(step.id);
                            running += 1;
                            let sender = sender.clone();
                            scope.spawn(move || {
                                let context = StepContext {
                                    id: step.id,
                                    token: &token,
                                };
                                let result = run_body(step, &context);
                                let _ =
                                    sender.send(Message::Done(index, result, started.elapsed()));
                            });
                            progressed = true;
                        }
                    }
                }
            }
            if running == 0 {
                break;
            }
            let Ok(Message::Done(index, result, at)) = receiver.recv() else {
                break;
            };
            running -= 1;
            board.phase[index] = Phase::Done;
            board.timings[index].finished = Some(at);
            board.timings[index].status = match result {
                Ok(()) => Status::Succeeded,
                Err(failure) => {
                    if steps[index].when == When::Normal && !failure.is_cancelled() {
                        board.failed_on_its_own(index);
                    }
                    Status::Failed(failure)
                }
            };
            on_finish(&board.timings[index]);
        }
    });
    let interrupted = board.interrupted();
    let mut timings = board.timings;
    let run_failed = timings
        .iter()
        .any(|t| matches!(&t.status, Status::Failed(f) if !f.is_cancelled()));
    for when in [When::OnFailure, When::Always] {
        for (index, step) in steps.iter().enumerate() {
            if step.when != when || step.id.cell.is_some() {
                continue;
            }
            if when == When::OnFailure && (!run_failed || interrupted) {
                timings[index].status = Status::Skipped(if interrupted {
                    "not run: the run was interrupted".to_owned()
                } else {
                    "not needed: nothing failed".to_owned()
                });
                on_finish(&timings[index]);
                continue;
            }
            let live = Token::new();
            timings[index].started = Some(started.elapsed());
            on_start(step.id);
            let context = StepContext {
                id: step.id,
                token: &live,
            };
            let result = run_body(step, &context);
            timings[index].finished = Some(started.elapsed());
            timings[index].status = match result {
                Ok(()) => Status::Succeeded,
                Err(failure) => Status::Failed(failure),
            };
            on_finish(&timings[index]);
        }
    }
    timings
}

/// Runs a body, turning a panic into an infrastructure failure (the scheduler must go on to
/// diagnostics and cleanup whatever a step does).
fn run_body(step: &Step<'_>, context: &StepContext<'_>) -> Result<(), Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (step.body)(context))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            Err(Failure::infra(format!("step {} panicked: {what}", step.id)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::event::Stage;
    use crate::graph::Class;

    /// A normal step of `cell` (or the run's own) that sleeps `millis` unless cancelled, then
    /// fails with `fail` if given.
    fn step(
        stage: Stage,
        needs: &[Stage],
        cell: Option<u8>,
        millis: u64,
        fail: Option<&'static str>,
    ) -> Step<'static> {
        let step = Step::new(stage, needs, When::Normal, "", move |context| {
            if context.token.sleep(Duration::from_millis(millis)) {
                return Err(Failure::cancelled(
                    context.token.reason().unwrap(),
                    format!("{} cancelled", context.id),
                ));
            }
            match fail {
                Some(why) => Err(Failure::release(why)),
                None => Ok(()),
            }
        });
        match cell {
            Some(cell) => step.in_cell(Cell::new(cell, &cell.to_string())),
            None => step,
        }
    }

    fn ending<'a>(stage: Stage, when: When, cell: u8, order: &'a Mutex<Vec<String>>) -> Step<'a> {
        Step::new(stage, &[], when, "", move |context| {
            assert!(
                !context.token.is_cancelled(),
                "{} got a dead token",
                context.id
            );
            stdx::lock(order).push(context.id.to_string());
            Ok(())
        })
        .in_cell(Cell::new(cell, &cell.to_string()))
    }

    fn timing<'t>(timings: &'t [Timing], id: &str) -> &'t Timing {
        timings
            .iter()
            .find(|timing| timing.id.to_string() == id)
            .unwrap_or_else(|| panic!("no step {id}"))
    }

    /// Two cells after one shared step; cell 0 fails at charts, cell 1 is slower and passes.
    fn two_cells<'a>(order: &'a Mutex<Vec<String>>, slow: u64) -> Vec<Step<'a>> {
        let mut steps = vec![step(Stage::Tools, &[], None, 10, None)];
        for (cell, fail) in [(0, Some("chart failed")), (1, None)] {
            steps.extend([
                step(Stage::Cluster, &[Stage::Tools], Some(cell), 20, None),
                step(
                    Stage::Charts,
                    &[Stage::Cluster],
                    Some(cell),
                    if cell == 1 { slow } else { 20 },
                    fail,
                ),
                step(Stage::Fixture, &[Stage::Charts], Some(cell), 10, None),
                ending(Stage::Diagnostics, When::OnFailure, cell, order),
                ending(Stage::Cleanup, When::Always, cell, order),
            ]);
        }
        steps
    }

    #[test]
    fn a_failing_cell_stops_only_itself_and_is_cleaned_up_while_the_others_run() {
        let order = Mutex::new(Vec::new());
        let steps = two_cells(&order, 600);
        crate::graph::validate(&steps).unwrap();
        let work = Token::new();
        let timings = run(&steps, &work, Options::default(), &|_| {}, &|_| {});
        assert!(!work.is_cancelled(), "{:?}", work.reason());
        assert!(matches!(
            &timing(&timings, "charts@0").status,
            Status::Failed(failure) if failure.class == Class::Release
        ));
        assert!(matches!(
            &timing(&timings, "fixture@0").status,
            Status::Skipped(why) if why.contains("charts@0 did not succeed")
        ));
        for id in ["tools", "cluster@1", "charts@1", "fixture@1"] {
            assert!(
                timing(&timings, id).status.is_success(),
                "{id}: {timings:?}"
            );
        }
        assert!(matches!(
            &timing(&timings, "diagnostics@1").status,
            Status::Skipped(why) if why.contains("nothing failed")
        ));
        assert_eq!(
            *stdx::lock(&order),
            ["diagnostics@0", "cleanup@0", "cleanup@1"]
        );
        // Cell 0 was diagnosed and cleaned up while cell 1's charts still ran.
        assert!(
            timing(&timings, "cleanup@0").finished.unwrap()
                < timing(&timings, "charts@1").finished.unwrap(),
            "{timings:?}"
        );
    }

    #[test]
    fn fail_fast_stops_every_cell_and_a_shared_failure_stops_them_all_anyway() {
        let order = Mutex::new(Vec::new());
        let steps = two_cells(&order, 30_000);
        let work = Token::new();
        let began = Instant::now();
        let options = Options {
            fail_fast: true,
            ..Options::default()
        };
        let timings = run(&steps, &work, options, &|_| {}, &|_| {});
        assert!(began.elapsed() < Duration::from_secs(20), "cell 1 ran on");
        let Status::Failed(stopped) = &timing(&timings, "charts@1").status else {
            panic!("{timings:?}")
        };
        assert_eq!(
            stopped.class,
            Class::Cancelled(Reason::SiblingFailed("charts@0".into()))
        );
        assert!(stdx::lock(&order).contains(&"cleanup@1".to_owned()));

        // The run's own step failing stops every cell, fail-fast or not.
        let order = Mutex::new(Vec::new());
        let mut steps = two_cells(&order, 30_000);
        steps.push(step(
            Stage::Resolve,
            &[],
            None,
            100,
            Some("no such release"),
        ));
        let began = Instant::now();
        let timings = run(&steps, &Token::new(), Options::default(), &|_| {}, &|_| {});
        assert!(began.elapsed() < Duration::from_secs(20), "cell 1 ran on");
        assert!(matches!(
            &timing(&timings, "charts@1").status,
            Status::Failed(failure) if failure.class == Class::Cancelled(Reason::SiblingFailed("resolve".into()))
        ));
        // Both cells diagnose (the run failed) and clean up.
        let said = stdx::lock(&order).clone();
        for id in ["diagnostics@0", "diagnostics@1", "cleanup@0", "cleanup@1"] {
            assert!(said.contains(&id.to_owned()), "{id}: {said:?}");
        }
    }

    #[test]
    fn after_edges_hold_a_cell_until_another_has_ended_and_a_signal_stops_them_all() {
        // One cluster at a time: cell 1 starts once cell 0 is cleaned up, whatever became of it.
        let order = Mutex::new(Vec::new());
        let mut steps = two_cells(&order, 10);
        for step in &mut steps {
            if step.id.to_string() == "cluster@1" {
                step.after = vec![StepId::of(Stage::Cleanup, Cell::new(0, "0"))];
            }
        }
        let timings = run(&steps, &Token::new(), Options::default(), &|_| {}, &|_| {});
        assert!(
            timing(&timings, "cluster@1").started.unwrap()
                >= timing(&timings, "cleanup@0").finished.unwrap(),
            "{timings:?}"
        );
        assert!(timing(&timings, "fixture@1").status.is_success());

        // A signal cancels every cell through the work token: no diagnostics after it (cell 0
        // failed, and was diagnosed, before it came), and every cleanup.
        let order = Mutex::new(Vec::new());
        let steps = two_cells(&order, 30_000);
        let work = Token::new();
        let timings = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(150));
                work.cancel(Reason::Signal(2));
            });
            run(&steps, &work, Options::default(), &|_| {}, &|_| {})
        });
        assert!(matches!(
            &timing(&timings, "charts@1").status,
            Status::Failed(failure) if failure.class == Class::Cancelled(Reason::Signal(2))
        ));
        assert!(matches!(
            &timing(&timings, "diagnostics@1").status,
            Status::Skipped(why) if why.contains("interrupted")
        ));
        let said = stdx::lock(&order).clone();
        assert!(said.contains(&"diagnostics@0".to_owned()), "{said:?}");
        assert!(said.contains(&"cleanup@0".to_owned()) && said.contains(&"cleanup@1".to_owned()));
    }
}

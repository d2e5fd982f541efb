//! The step graph and its scheduler. A graph is data: each step has an id (its stage, and the
//! cell whose chain it belongs to, if any), the steps it needs, the steps it waits for whatever
//! their outcome (`after`), and when it runs ([`When`]). [`run`] (in `schedule.rs`) starts every
//! step whose needs have succeeded on its own scoped thread, records start and end times, and
//! on a failure cancels the steps in flight in that scope (the run's own steps: everything; a
//! cell's: that cell) through its token, with [`Reason::SiblingFailed`], never as if it were
//! Ctrl-C, and skips what had not started. Then the [`When::OnFailure`] steps run (diagnostics,
//! while everything still exists), then the [`When::Always`] steps (cleanup), each on a live
//! token of its own: a cell's as soon as that cell is done, the run's own last. The dry-run
//! plan is the same graph: [`waves`] says which steps overlap.

use std::fmt;
use std::time::Duration;

use cancel::{Reason, Token};

use crate::event::{Cell, Stage, StepId};

mod analysis;
mod schedule;

pub use analysis::{Span, critical_path, validate, waves};
pub use schedule::{Options, run};

/// When a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Once everything it needs has succeeded, unless the run has failed or been cancelled.
    Normal,
    /// After the normal steps, only if the run failed (not when it was interrupted).
    OnFailure,
    /// After everything else, whatever happened.
    Always,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed(Failure),
    /// Not started: a step it needs did not succeed, or the run stopped first.
    Skipped(String),
}

impl When {
    /// As run.json writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            When::Normal => "normal",
            When::OnFailure => "on-failure",
            When::Always => "always",
        }
    }

    pub fn parse(text: &str) -> Option<When> {
        [When::Normal, When::OnFailure, When::Always]
            .into_iter()
            .find(|when| when.as_str() == text)
    }
}

impl Status {
    pub fn is_success(&self) -> bool {
        matches!(self, Status::Succeeded)
    }
}

/// Why a step failed, and what that means for the run's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: Class,
    pub message: String,
}

/// What a failure says about the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// The release is bad: a chart failed to install, a workload never became ready, a case
    /// failed, a published byte did not match (exit 1).
    Release,
    /// The verification could not run: a tool, Docker, the network, kind (exit 3).
    Infra,
    /// Bad usage or config discovered while running (exit 2).
    BadInput,
    /// Stopped by the run's token: a signal, or a sibling that failed first.
    Cancelled(Reason),
}

impl Failure {
    pub fn release(message: impl Into<String>) -> Failure {
        Failure {
            class: Class::Release,
            message: message.into(),
        }
    }

    pub fn infra(message: impl Into<String>) -> Failure {
        Failure {
            class: Class::Infra,
            message: message.into(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure {
            class: Class::BadInput,
            message: message.into(),
        }
    }

    pub fn cancelled(reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            class: Class::Cancelled(reason),
            message: message.into(),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        matches!(self.class, Class::Cancelled(_))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a step body gets: its name and the token it must observe (the run's work token for
/// normal steps, a live one for failure and cleanup steps).
pub struct StepContext<'a> {
    pub id: StepId,
    pub token: &'a Token,
}

type Body<'a> = Box<dyn Fn(&StepContext<'_>) -> Result<(), Failure> + Send + Sync + 'a>;

/// One node of the graph.
pub struct Step<'a> {
    pub id: StepId,
    pub needs: Vec<StepId>,
    /// Steps that must have ended (in any way, no success needed) before this one starts: how
    /// a run holds at most N cells' clusters at once.
    pub after: Vec<StepId>,
    pub when: When,
    /// One line for the plan: what this step does.
    pub summary: String,
    pub(super) body: Body<'a>,
}

impl fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("id", &self.id)
            .field("needs", &self.needs)
            .field("when", &self.when)
            .finish_non_exhaustive()
    }
}

impl<'a> Step<'a> {
    /// The run's step `stage`, started once every one of `needs` succeeded.
    pub fn new(
        stage: Stage,
        needs: &[Stage],
        when: When,
        summary: impl Into<String>,
        body: impl Fn(&StepContext<'_>) -> Result<(), Failure> + Send + Sync + 'a,
    ) -> Step<'a> {
        Step {
            id: stage.into(),
            needs: needs.iter().copied().map(StepId::from).collect(),
            after: Vec::new(),
            when,
            summary: summary.into(),
            body: Box::new(body),
        }
    }

    /// This step as cell `cell`'s: its id, and every need of a per-cluster stage, become
    /// that cell's (the run's own steps stay needs of every cell).
    pub fn in_cell(mut self, cell: Cell) -> Step<'a> {
        self.id = StepId::of(self.id.stage, cell);
        for need in &mut self.needs {
            if need.stage.is_per_cluster() {
                *need = StepId::of(need.stage, cell);
            }
        }
        self
    }
}

/// A step's record after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub id: StepId,
    pub needs: Vec<StepId>,
    pub when: When,
    pub status: Status,
    /// From the run's start; None for a step that never started.
    pub started: Option<Duration>,
    pub finished: Option<Duration>,
}

impl Timing {
    pub fn duration(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Stage;
    use cancel::Token;
    use std::sync::Mutex;
    use std::time::Instant;

    fn sleep_step(id: Stage, needs: &[Stage], millis: u64) -> Step<'static> {
        Step::new(id, needs, When::Normal, id.as_str(), move |context| {
            if context.token.sleep(Duration::from_millis(millis)) {
                return Err(Failure::cancelled(
                    context.token.reason().unwrap(),
                    format!("{id} cancelled"),
                ));
            }
            Ok(())
        })
    }

    fn status_of(timings: &[Timing], id: Stage) -> &Status {
        &timings.iter().find(|t| t.id == id).unwrap().status
    }

    #[test]
    fn independent_steps_overlap_and_dependents_wait() {
        let steps = vec![
            sleep_step(Stage::Tools, &[], 300),
            sleep_step(Stage::Resolve, &[], 300),
            sleep_step(Stage::Cluster, &[Stage::Tools, Stage::Resolve], 10),
        ];
        validate(&steps).unwrap();
        assert_eq!(
            waves(&steps).unwrap(),
            [vec![Stage::Tools, Stage::Resolve], vec![Stage::Cluster]]
        );
        let timings = run(&steps, &Token::new(), Options::default(), &|_| {}, &|_| {});
        assert!(timings.iter().all(|t| t.status.is_success()), "{timings:?}");
        let [a, b, c] = [&timings[0], &timings[1], &timings[2]];
        // b started before a finished: they overlapped.
        assert!(b.started.unwrap() < a.finished.unwrap(), "{timings:?}");
        assert!(c.started.unwrap() >= a.finished.unwrap().max(b.finished.unwrap()));
    }

    #[test]
    fn a_failure_cancels_siblings_skips_dependents_then_diagnoses_and_cleans_up() {
        let order = Mutex::new(Vec::new());
        let steps = vec![
            Step::new(Stage::Charts, &[], When::Normal, "", |_| {
                std::thread::sleep(Duration::from_millis(50));
                Err(Failure::release("chart kgateway failed to install"))
            }),
            sleep_step(Stage::Assets, &[], 30_000),
            sleep_step(Stage::Fixture, &[Stage::Charts], 10),
            Step::new(Stage::Diagnostics, &[], When::OnFailure, "", |context| {
                assert!(
                    !context.token.is_cancelled(),
                    "diagnostics got a dead token"
                );
                order.lock().unwrap().push("diagnostics");
                Ok(())
            }),
            Step::new(Stage::Cleanup, &[], When::Always, "", |_| {
                order.lock().unwrap().push("cleanup");
                Ok(())
            }),
        ];
        let work = Token::new();
        let began = Instant::now();
        let timings = run(&steps, &work, Options::default(), &|_| {}, &|_| {});
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "the long step was not cancelled"
        );
        assert!(
            matches!(status_of(&timings, Stage::Charts), Status::Failed(f) if f.class == Class::Release)
        );
        let Status::Failed(long) = status_of(&timings, Stage::Assets) else {
            panic!("{timings:?}")
        };
        assert_eq!(
            long.class,
            Class::Cancelled(Reason::SiblingFailed("charts".into()))
        );
        assert!(
            matches!(status_of(&timings, Stage::Fixture), Status::Skipped(why) if why.contains("charts"))
        );
        assert_eq!(*order.lock().unwrap(), ["diagnostics", "cleanup"]);
        assert_eq!(work.reason(), Some(Reason::SiblingFailed("charts".into())));
    }

    #[test]
    fn a_signal_skips_the_rest_and_diagnostics_but_not_cleanup() {
        let work = Token::new();
        let cleaned = Mutex::new(false);
        let steps = vec![
            sleep_step(Stage::Cluster, &[], 30_000),
            sleep_step(Stage::Charts, &[Stage::Cluster], 10),
            Step::new(Stage::Diagnostics, &[], When::OnFailure, "", |_| Ok(())),
            Step::new(Stage::Cleanup, &[], When::Always, "", |_| {
                *cleaned.lock().unwrap() = true;
                Ok(())
            }),
        ];
        let canceller = {
            let work = work.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                work.cancel(Reason::Signal(15));
            })
        };
        let timings = run(&steps, &work, Options::default(), &|_| {}, &|_| {});
        canceller.join().unwrap();
        assert!(
            matches!(status_of(&timings, Stage::Cluster), Status::Failed(f) if f.class == Class::Cancelled(Reason::Signal(15)))
        );
        assert!(matches!(
            status_of(&timings, Stage::Charts),
            Status::Skipped(_)
        ));
        assert!(
            matches!(status_of(&timings, Stage::Diagnostics), Status::Skipped(why) if why.contains("interrupted"))
        );
        assert!(*cleaned.lock().unwrap());
    }

    #[test]
    fn a_panicking_step_is_an_infrastructure_failure_and_cleanup_still_runs() {
        let cleaned = Mutex::new(false);
        let steps = vec![
            Step::new(Stage::Tools, &[], When::Normal, "", |_| {
                panic!("index out of range")
            }),
            Step::new(Stage::Cleanup, &[], When::Always, "", |_| {
                *cleaned.lock().unwrap() = true;
                Ok(())
            }),
        ];
        let timings = run(&steps, &Token::new(), Options::default(), &|_| {}, &|_| {});
        assert!(
            matches!(status_of(&timings, Stage::Tools), Status::Failed(f) if f.class == Class::Infra && f.message.contains("index out of range"))
        );
        assert!(*cleaned.lock().unwrap());
    }

    #[test]
    fn bad_graphs_are_refused() {
        let cycle = vec![
            sleep_step(Stage::Tools, &[Stage::Resolve], 1),
            sleep_step(Stage::Resolve, &[Stage::Tools], 1),
        ];
        assert!(validate(&cycle).unwrap_err().contains("cycle"));
        let missing = vec![sleep_step(Stage::Tools, &[Stage::Preflight], 1)];
        assert!(validate(&missing).unwrap_err().contains("does not exist"));
        let twice = vec![
            sleep_step(Stage::Tools, &[], 1),
            sleep_step(Stage::Tools, &[], 1),
        ];
        assert!(validate(&twice).unwrap_err().contains("twice"));
    }

    #[test]
    fn the_critical_path_is_the_longest_chain_then_the_end_steps() {
        let span = |name, needs: &[&'static str], when, secs| Span {
            name,
            needs: needs.to_vec(),
            when,
            duration: Duration::from_secs(secs),
        };
        let spans = [
            span("tools", &[], When::Normal, 1),
            span("cluster", &["tools"], When::Normal, 3),
            span("assets", &[], When::Normal, 3),
            span("charts", &["cluster", "assets"], When::Normal, 2),
            span("diagnostics", &[], When::OnFailure, 0),
            span("cleanup", &[], When::Always, 1),
        ];
        assert_eq!(critical_path(&spans), Duration::from_secs(7));
        // Two cells: each cell's cleanup follows its own chain, beside the other cell; the run's
        // own cleanup comes last. Longest: cell b, 1 + 4 + its cleanup 2, then the run's 1.
        let cells = [
            span("tools", &[], When::Normal, 1),
            span("cluster@a", &["tools"], When::Normal, 3),
            span("cluster@b", &["tools"], When::Normal, 4),
            span("diagnostics@a", &[], When::OnFailure, 0),
            span("cleanup@a", &[], When::Always, 1),
            span("diagnostics@b", &[], When::OnFailure, 0),
            span("cleanup@b", &[], When::Always, 2),
            span("cleanup", &[], When::Always, 1),
        ];
        assert_eq!(critical_path(&cells), Duration::from_secs(8));
        assert_eq!(When::parse(When::OnFailure.as_str()), Some(When::OnFailure));
        assert_eq!(When::parse("sometimes"), None);
    }
}

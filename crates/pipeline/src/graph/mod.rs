//! The step graph and its scheduler. A graph is data: each step has a name, the steps it needs
//! and when it runs ([`When`]). [`run`] starts every step whose needs have succeeded on its own
//! scoped thread, records start and end times, and on the first failure cancels the steps in
//! flight through the run's work token (with [`Reason::SiblingFailed`], never as if it were
//! Ctrl-C) and skips what had not started. Then the [`When::OnFailure`] steps run (diagnostics,
//! while everything still exists), then the [`When::Always`] steps (cleanup), in order, each on
//! a live token of its own. The dry-run plan is the same graph: [`waves`] says which steps
//! overlap.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cancel::{Reason, Token};

use crate::event::StepId;

mod analysis;

pub use analysis::{Span, critical_path, validate, waves};

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
    pub when: When,
    /// One line for the plan: what this step does.
    pub summary: String,
    body: Body<'a>,
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
    pub fn new(
        id: StepId,
        needs: &[StepId],
        when: When,
        summary: impl Into<String>,
        body: impl Fn(&StepContext<'_>) -> Result<(), Failure> + Send + Sync + 'a,
    ) -> Step<'a> {
        Step {
            id,
            needs: needs.to_vec(),
            when,
            summary: summary.into(),
            body: Box::new(body),
        }
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

enum Message {
    Done(usize, Result<(), Failure>, Duration),
}

/// Runs the graph. `work` is the run's token: a signal cancels it from outside; the first
/// failing normal step cancels it with [`Reason::SiblingFailed`]. `on_start` and `on_finish`
/// are told about each step as it starts and ends (from the scheduler's thread).
pub fn run(
    steps: &[Step<'_>],
    work: &Token,
    dry_run: bool,
    on_start: &(dyn Fn(StepId) + Sync),
    on_finish: &(dyn Fn(&Timing) + Sync),
) -> Vec<Timing> {
    let started = Instant::now();
    let mut timings: Vec<Timing> = steps
        .iter()
        .map(|step| Timing {
            id: step.id,
            needs: step.needs.clone(),
            when: step.when,
            status: Status::Skipped("not reached".to_owned()),
            started: None,
            finished: None,
        })
        .collect();
    let index_of: BTreeMap<StepId, usize> = steps
        .iter()
        .enumerate()
        .map(|(index, step)| (step.id, index))
        .collect();
    // Normal steps: concurrently on scoped threads (one at a time in a dry run, so the plan
    // reads in a stable order).
    let mut state: Vec<Option<bool>> = vec![None; steps.len()]; // Some(true) running, Some(false) done
    let mut failed = false;
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<Message>();
        let mut running = 0usize;
        loop {
            let stopping = failed || work.is_cancelled();
            // Start (or skip) every normal step that is ready.
            let mut progressed = true;
            while progressed {
                progressed = false;
                for (index, step) in steps.iter().enumerate() {
                    if step.when != When::Normal || state[index].is_some() {
                        continue;
                    }
                    if dry_run && running > 0 {
                        break;
                    }
                    let mut blocked = None;
                    let mut waiting = false;
                    for need in &step.needs {
                        let need_index = index_of[need];
                        match (&state[need_index], &timings[need_index].status) {
                            (Some(false), Status::Succeeded) => {}
                            (Some(false), _) => {
                                blocked = Some(format!("not run: {need} did not succeed"));
                            }
                            _ => waiting = true,
                        }
                    }
                    if let Some(why) = blocked {
                        state[index] = Some(false);
                        timings[index].status = Status::Skipped(why);
                        on_finish(&timings[index]);
                        progressed = true;
                        continue;
                    }
                    if waiting {
                        continue;
                    }
                    if stopping || failed || work.is_cancelled() {
                        state[index] = Some(false);
                        let why = match work.reason() {
                            Some(reason) => format!("not run: the run was {reason}"),
                            None => "not run: an earlier step failed".to_owned(),
                        };
                        timings[index].status = Status::Skipped(why);
                        on_finish(&timings[index]);
                        progressed = true;
                        continue;
                    }
                    state[index] = Some(true);
                    running += 1;
                    timings[index].started = Some(started.elapsed());
                    on_start(step.id);
                    let sender = sender.clone();
                    scope.spawn(move || {
                        let context = StepContext {
                            id: step.id,
                            token: work,
                        };
                        let result = run_body(step, &context);
                        let _ = sender.send(Message::Done(index, result, started.elapsed()));
                    });
                    progressed = true;
                }
            }
            if running == 0 {
                break;
            }
            let Ok(Message::Done(index, result, at)) = receiver.recv() else {
                break;
            };
            running -= 1;
            state[index] = Some(false);
            timings[index].finished = Some(at);
            timings[index].status = match result {
                Ok(()) => Status::Succeeded,
                Err(failure) => {
                    if !failure.is_cancelled() && !failed {
                        failed = true;
                        // The siblings in flight stop now; their cancellation names this step.
                        work.cancel(Reason::SiblingFailed(steps[index].id.to_string()));
                    }
                    Status::Failed(failure)
                }
            };
            on_finish(&timings[index]);
        }
    });
    let interrupted = work.reason().is_some_and(|reason| reason.is_signal());
    let run_failed = failed
        || timings
            .iter()
            .any(|t| matches!(&t.status, Status::Failed(f) if !f.is_cancelled()));
    for when in [When::OnFailure, When::Always] {
        for (index, step) in steps.iter().enumerate() {
            if step.when != when {
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
            // Diagnostics and cleanup run on a live token of their own: they are what a
            // failed or cancelled run does on its way out.
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
    use super::*;
    use crate::event::Stage;
    use std::sync::Mutex;

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
        let timings = run(&steps, &Token::new(), false, &|_| {}, &|_| {});
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
        let timings = run(&steps, &work, false, &|_| {}, &|_| {});
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
        let timings = run(&steps, &work, false, &|_| {}, &|_| {});
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
        let timings = run(&steps, &Token::new(), false, &|_| {}, &|_| {});
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
        assert_eq!(When::parse(When::OnFailure.as_str()), Some(When::OnFailure));
        assert_eq!(When::parse("sometimes"), None);
    }
}

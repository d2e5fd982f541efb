//! After the run, once cleanup is done (so nothing waits on a slow receiver): the webhook and the
//! release's GitHub issue are told the verdict. Each is bounded in time by the notify crate,
//! never changes the verdict or the exit code, and a failure is a warning recorded in run.json.
//! An interrupted run has no verdict and tells nobody.

use crate::event::{Event, EventKind, Sink};
use crate::inputs::Inputs;
use crate::{Outcome, Verdict};
use config::notify::On;

/// One channel's result, as run.json records it. Never holds the URL or the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: &'static str,
    pub delivered: bool,
    pub detail: String,
}

/// Whether the webhook is posted for this verdict.
pub fn webhook_wanted(on: On, verdict: &Verdict) -> bool {
    match verdict {
        Verdict::Interrupted(_) => false,
        Verdict::Passed => matches!(on, On::Success | On::Always),
        _ => matches!(on, On::Failure | On::Always),
    }
}

fn emit(sink: &Sink<'_>, kind: EventKind) {
    sink(Event {
        step: "notify".to_owned(),
        kind,
    });
}

/// The message both channels carry.
pub fn message(inputs: &Inputs, outcome: &Outcome) -> notify::Message {
    notify::Message {
        project: inputs.project(),
        tag: outcome.tag.clone(),
        verdict: outcome.verdict.as_str().to_owned(),
        exit_code: outcome.verdict.exit_code(),
        failing_step: outcome.failing_step.clone(),
        failing_cases: outcome.failing_cases.clone(),
        run_url: notify::run_url(&inputs.notify.run_env, &inputs.artifacts_dir),
        summary_markdown: crate::report::summary(inputs, outcome),
    }
}

/// A channel's result as run.json keeps it, said as a line (a failure as a warning).
fn record(
    sink: &Sink<'_>,
    channel: &'static str,
    result: Result<String, notify::NotifyError>,
) -> Notification {
    let (delivered, detail) = match result {
        Ok(detail) => {
            emit(sink, EventKind::Info(format!("{channel}: {detail}")));
            (true, detail)
        }
        Err(error) => {
            let detail = error.to_string();
            emit(
                sink,
                EventKind::Warning(format!(
                    "the {channel} notification could not be delivered: {detail}"
                )),
            );
            (false, detail)
        }
    };
    Notification {
        channel,
        delivered,
        detail,
    }
}

/// Tells the configured channels; a dry run says what it would do.
pub fn send(inputs: &Inputs, outcome: &Outcome, sink: &Sink<'_>) -> Vec<Notification> {
    let settings = &inputs.notify;
    let mut results = Vec::new();
    if inputs.dry_run {
        if settings.webhook.is_some() {
            emit(
                sink,
                EventKind::Info(format!(
                    "POST the verdict to the webhook ({} run)",
                    match settings.on {
                        On::Failure => "on a failed",
                        On::Success => "on a passing",
                        On::Always => "on every",
                    }
                )),
            );
        }
        if let Some(github) = &settings.github {
            emit(
                sink,
                EventKind::Info(format!(
                    "in {}: open (or comment on) the issue \"{}\" when the run fails, comment and close it when it passes",
                    github.repository,
                    notify::issue_title(&message(inputs, outcome))
                )),
            );
        }
        return results;
    }
    if matches!(outcome.verdict, Verdict::Interrupted(_)) {
        return results;
    }
    let message = message(inputs, outcome);
    if let Some(webhook) = &settings.webhook
        && webhook_wanted(settings.on, &outcome.verdict)
    {
        let result = notify::post_webhook(&message, webhook).map(|delivery| {
            format!(
                "delivered after {} attempt(s), HTTP {}",
                delivery.attempts, delivery.status
            )
        });
        results.push(record(sink, "webhook", result));
    }
    if let Some(github) = &settings.github {
        let passed = outcome.verdict == Verdict::Passed;
        let result =
            notify::sync_github_issue(&message, passed, github).map(|action| match action {
                notify::IssueAction::Opened { number, url } => {
                    format!("opened issue #{number} ({url})")
                }
                notify::IssueAction::Commented { number } => {
                    format!("commented on issue #{number}")
                }
                notify::IssueAction::Closed { number } => {
                    format!("closed issue #{number}: this run passed")
                }
                notify::IssueAction::Nothing => "no open issue to update".to_owned(),
            });
        results.push(record(sink, "github-issue", result));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_goes_out_when_asked_and_never_for_an_interrupted_run() {
        let failed = Verdict::ReleaseFailed;
        assert!(webhook_wanted(On::Failure, &failed));
        assert!(webhook_wanted(On::Failure, &Verdict::CouldNotRun));
        assert!(!webhook_wanted(On::Failure, &Verdict::Passed));
        assert!(webhook_wanted(On::Success, &Verdict::Passed));
        assert!(!webhook_wanted(On::Success, &failed));
        assert!(webhook_wanted(On::Always, &Verdict::Passed));
        assert!(webhook_wanted(On::Always, &failed));
        assert!(!webhook_wanted(On::Always, &Verdict::Interrupted(2)));
    }
}

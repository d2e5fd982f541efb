//! After the run, once cleanup is done (so nothing waits on a slow receiver): the webhook and the
//! release's GitHub issue are told the verdict. Each is bounded in time by the notify crate,
//! never changes the verdict or the exit code, and a failure is a warning recorded in run.json.
//! An interrupted run has no verdict and tells nobody.

use crate::event::{Emitter, Note, Sink, Stage};
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

/// The message both channels carry.
pub fn message(inputs: &Inputs, outcome: &Outcome) -> notify::Message {
    notify::Message {
        project: inputs.project(),
        tag: outcome.tag.clone(),
        verdict: outcome.verdict.as_str().to_owned(),
        exit_code: outcome.verdict.exit_code(),
        failing_step: outcome
            .failing_step
            .as_ref()
            .map(|(step, why)| (step.to_string(), why.clone())),
        failing_cases: outcome.failing_cases.clone(),
        failing_cells: if outcome.cells.len() > 1 {
            outcome
                .cells
                .iter()
                .filter(|cell| cell.verdict != Verdict::Passed)
                .map(|cell| format!("Kubernetes {}: {}", cell.label, cell.verdict.as_str()))
                .collect()
        } else {
            Vec::new()
        },
        run_url: notify::run_url(&inputs.notify.run_env, &inputs.artifacts_dir),
        summary_markdown: crate::report::summary(inputs, outcome),
    }
}

/// A channel's result as run.json keeps it, told to the sink.
fn record(
    emit: &Emitter<'_>,
    channel: &'static str,
    result: Result<String, String>,
) -> Notification {
    let (delivered, detail) = match result {
        Ok(detail) => (true, detail),
        Err(error) => (false, error),
    };
    emit.note(Note::Notified {
        channel,
        delivered,
        detail: detail.clone(),
    });
    Notification {
        channel,
        delivered,
        detail,
    }
}

/// Tells the configured channels; a dry run says what it would do. A webhook variable the
/// config names but the environment leaves unset is recorded as undelivered, so the silence is
/// visible in run.json and the log.
pub fn send(inputs: &Inputs, outcome: &Outcome, sink: &Sink<'_>) -> Vec<Notification> {
    let emit = Emitter {
        step: Stage::Notify.into(),
        sink,
    };
    let settings = &inputs.notify;
    let mut results = Vec::new();
    if let Some(name) = &settings.unset_webhook_env
        && !matches!(outcome.verdict, Verdict::Interrupted(_))
    {
        results.push(record(
            &emit,
            "webhook",
            Err(format!(
                "[notify] webhook_url_env names {name}, which is not set: nothing was posted"
            )),
        ));
    }
    if inputs.dry_run {
        if settings.webhook.is_some() {
            emit.note(Note::WouldNotify(WouldNotify::Webhook { on: settings.on }));
        }
        if let Some(github) = &settings.github {
            emit.note(Note::WouldNotify(WouldNotify::GithubIssue {
                repository: github.repository.clone(),
                title: notify::issue_title(&message(inputs, outcome)),
            }));
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
        results.push(record(&emit, "webhook", result.map_err(|e| e.to_string())));
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
        results.push(record(
            &emit,
            "github-issue",
            result.map_err(|e| e.to_string()),
        ));
    }
    results
}

/// What a dry run's notification channels would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WouldNotify {
    Webhook { on: On },
    GithubIssue { repository: String, title: String },
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

//! The webhook: one JSON POST with a Slack-compatible `text` and structured fields, retried with
//! backoff on connect errors, timeouts, 5xx and 429 (honouring `Retry-After`), bounded in total
//! time. The URL is a secret: errors say "the webhook" and never quote it.

use std::time::Duration;

use download::{Client, DownloadError, Event, Method, Request};
use serde_json::json;

use download::Secret;

use crate::{Message, NotifyError};

/// Where and how patiently to post.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// `https://…`, or `http://` to a loopback host.
    pub url: Secret,
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Connecting and waiting for the answer, per try.
    pub request_timeout: Duration,
    /// Every try and every wait between them: the call returns within this.
    pub total_timeout: Duration,
    /// First wait between tries; doubles per retry, with jitter.
    pub backoff_base: Duration,
}

impl WebhookOptions {
    /// 4 tries within 30 s, 10 s per try, waits from 1 s.
    pub fn new(url: Secret) -> WebhookOptions {
        WebhookOptions {
            url,
            attempts: 4,
            request_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
        }
    }
}

/// A message the webhook took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub attempts: u32,
    /// The final (2xx) status.
    pub status: u16,
}

/// The JSON posted: Slack's `text` plus the structured fields.
pub fn webhook_payload(message: &Message) -> serde_json::Value {
    json!({
        "text": message.text(),
        "release": message.release(),
        "project": message.project,
        "tag": message.tag,
        "verdict": message.verdict,
        "exit_code": message.exit_code,
        "failing_step": message.failing_step.as_ref().map(|(step, reason)| {
            json!({ "name": step, "reason": reason })
        }),
        "failing_cases": message.failing_cases,
        "failing_cells": message.failing_cells,
        "run_url": message.run_url,
    })
}

/// Posts `message` to the webhook. Returns within `options.total_timeout` (plus at most one
/// `request_timeout` for a try already under way).
pub fn post_webhook(message: &Message, options: &WebhookOptions) -> Result<Delivery, NotifyError> {
    let url = options.url.expose();
    let client = Client::new(download::Options {
        request_timeout: options.request_timeout,
        total_timeout: options.total_timeout,
        retries: options.attempts.max(1) - 1,
        backoff_base: options.backoff_base,
        backoff_max: options.total_timeout,
        // A longer wait than the bound allows ends the call (reported, never waited out).
        max_retry_after: options.total_timeout,
        max_size: 1024 * 1024,
        ..download::Options::default()
    });
    let body = webhook_payload(message).to_string();
    let request = Request::new(url).header("Content-Type", "application/json");
    let mut retries = 0;
    let sent = client.send(Method::Post, &request, body.as_bytes(), &mut |event| {
        if let Event::Retrying { attempt, .. } = event {
            retries = attempt;
        }
    });
    match sent {
        Ok(page) => Ok(Delivery {
            attempts: page.attempts,
            status: page.status,
        }),
        Err(error) => Err(undelivered(error, retries + 1, url)),
    }
}

/// Describes a failure without the URL: "the webhook" at most.
fn undelivered(error: DownloadError, attempts: u32, url: &str) -> NotifyError {
    let reason = match error {
        DownloadError::BadUrl { reason, .. } => {
            return NotifyError::BadInput {
                reason: format!("the webhook URL is not usable: {}", scrub(&reason, url)),
            };
        }
        DownloadError::InsecureUrl { .. } => {
            return NotifyError::BadInput {
                reason: "the webhook URL uses plain http to a host that is not loopback: use https"
                    .to_owned(),
            };
        }
        DownloadError::Http { status, .. } => format!("the webhook answered HTTP {status}"),
        DownloadError::RateLimited {
            status,
            retry_after,
            ..
        } => match retry_after {
            Some(wait) => format!(
                "the webhook is rate limited (HTTP {status}) and asks to wait {} s, longer than the bound",
                wait.as_secs()
            ),
            None => format!("the webhook is rate limited (HTTP {status})"),
        },
        DownloadError::GaveUp { attempts, last, .. } => {
            return NotifyError::Undelivered {
                attempts,
                reason: format!("the webhook failed every try; last: {}", scrub(&last, url)),
            };
        }
        DownloadError::TimedOut { after, .. } => {
            format!(
                "no try succeeded within the bound of {} s",
                after.as_secs_f64()
            )
        }
        DownloadError::TooManyRedirects { .. } => {
            "the webhook redirected too many times".to_owned()
        }
        DownloadError::TooLarge { .. } => "the webhook's answer was too large".to_owned(),
        DownloadError::Cancelled { .. } => "cancelled".to_owned(),
        DownloadError::Transport { reason, .. } => {
            format!("the webhook could not be reached: {}", scrub(&reason, url))
        }
        other => scrub(&other.to_string(), url),
    };
    NotifyError::Undelivered { attempts, reason }
}

/// Replaces the URL and its parts (the host and path a transport error may quote) with `***`.
fn scrub(text: &str, url: &str) -> String {
    let mut clean = text.replace(url, "***");
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (authority, path) = after_scheme
        .find('/')
        .map_or((after_scheme, ""), |slash| after_scheme.split_at(slash));
    for part in [after_scheme, path, authority] {
        if part.len() > 1 {
            clean = clean.replace(part, "***");
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_every_part_of_the_url() {
        let url = "https://hooks.example:8443/services/T0/B0/XYZ";
        let text = "connect to hooks.example:8443 failed for /services/T0/B0/XYZ (https://hooks.example:8443/services/T0/B0/XYZ)";
        let clean = scrub(text, url);
        assert!(
            !clean.contains("XYZ") && !clean.contains("hooks.example"),
            "{clean}"
        );
    }

    #[test]
    fn options_debug_hides_the_url() {
        let options = WebhookOptions::new(Secret::new("https://hooks.example/XYZ"));
        assert!(!format!("{options:?}").contains("XYZ"));
    }
}

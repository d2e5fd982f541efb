//! The GitHub issue of a release: a failing run opens `"{project} {tag}: verification failed"`
//! or comments on the open one, a passing run comments on it and closes it.
//!
//! Reads (the open-issue list, page by page) are retried; writes are not, because a POST
//! retried after a timeout can open a second issue: a lost write is reported and the next run
//! catches up. The token goes to the API origin only (`download::Bearer`), on every hop.

use std::time::Duration;

use download::{Bearer, Client, DownloadError, Method, Request};
use serde_json::{Value, json};

use download::Secret;

use crate::{Message, NotifyError};

/// Where the issues live and who may write them.
#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// `GITHUB_API_URL` (`https://api.github.com`, or a GitHub Enterprise API).
    pub api_base: String,
    /// `OWNER/NAME` (`GITHUB_REPOSITORY`).
    pub repository: String,
    pub token: Secret,
    /// Per request: connecting and waiting for the answer.
    pub request_timeout: Duration,
    /// All requests of the sync together.
    pub total_timeout: Duration,
    /// Pages of 100 open issues searched for the release's issue.
    pub max_pages: u32,
}

impl GithubOptions {
    /// 20 s per request, 60 s in all, up to 10 pages (1000 open issues).
    pub fn new(
        api_base: impl Into<String>,
        repository: impl Into<String>,
        token: Secret,
    ) -> GithubOptions {
        GithubOptions {
            api_base: api_base.into(),
            repository: repository.into(),
            token,
            request_timeout: Duration::from_secs(20),
            total_timeout: Duration::from_secs(60),
            max_pages: 10,
        }
    }
}

/// What the sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueAction {
    Opened {
        number: u64,
        url: String,
    },
    Commented {
        number: u64,
    },
    Closed {
        number: u64,
    },
    /// A passing run and no open issue.
    Nothing,
}

/// `"{project} {tag}: verification failed"`: the title that finds the release's issue again.
pub fn issue_title(message: &Message) -> String {
    format!("{} {}: verification failed", message.project, message.tag)
}

/// Opens, comments on or closes the release's issue, as described in the module docs.
pub fn sync_github_issue(
    message: &Message,
    passed: bool,
    options: &GithubOptions,
) -> Result<IssueAction, NotifyError> {
    let github = Github::new(options)?;
    let title = issue_title(message);
    let found = github.find_open_issue(&title)?;
    match (found, passed) {
        (None, true) => Ok(IssueAction::Nothing),
        (Some(number), true) => {
            let headline = format!(
                "Verification of {} **passed** in a later run; closing.",
                message.release()
            );
            github.comment(number, &message.markdown(&headline))?;
            github.write(
                Method::Patch,
                &format!("issues/{number}"),
                &json!({ "state": "closed" }),
                &format!("close issue #{number} of {}", github.repository),
            )?;
            Ok(IssueAction::Closed { number })
        }
        (Some(number), false) => {
            let headline = format!(
                "Verification of {} failed again: {} (exit code {}).",
                message.release(),
                message.verdict,
                message.exit_code
            );
            github.comment(number, &message.markdown(&headline))?;
            Ok(IssueAction::Commented { number })
        }
        (None, false) => {
            let headline = format!(
                "Verification of {} failed: {} (exit code {}).",
                message.release(),
                message.verdict,
                message.exit_code
            );
            let created = github.write(
                Method::Post,
                "issues",
                &json!({ "title": title, "body": message.markdown(&headline) }),
                &format!("open an issue in {}", github.repository),
            )?;
            let number = created["number"]
                .as_u64()
                .ok_or_else(|| NotifyError::Github {
                    action: format!("open an issue in {}", github.repository),
                    reason: "the answer has no issue number".to_owned(),
                })?;
            let url = created["html_url"].as_str().unwrap_or_default().to_owned();
            Ok(IssueAction::Opened { number, url })
        }
    }
}

struct Github<'a> {
    /// `{api_base}/repos/{owner}/{name}/`.
    repo_url: String,
    repository: &'a str,
    bearer: Bearer,
    reads: Client,
    writes: Client,
    max_pages: u32,
}

impl<'a> Github<'a> {
    fn new(options: &'a GithubOptions) -> Result<Github<'a>, NotifyError> {
        let repository = options.repository.trim();
        let valid = repository.split_once('/').is_some_and(|(owner, name)| {
            [owner, name].iter().all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            })
        });
        if !valid {
            return Err(NotifyError::BadInput {
                reason: format!(
                    "the repository {repository:?} is not OWNER/NAME (GITHUB_REPOSITORY)"
                ),
            });
        }
        let api_base = options.api_base.trim().trim_end_matches('/');
        let bearer = Bearer::new(options.token.expose(), api_base).map_err(|error| {
            NotifyError::BadInput {
                reason: format!("the GitHub API URL is not usable: {error}"),
            }
        })?;
        download::check_transport(api_base).map_err(|error| NotifyError::BadInput {
            reason: error.to_string(),
        })?;
        let client = |retries: u32, max_retry_after: Duration| {
            Client::new(download::Options {
                request_timeout: options.request_timeout,
                total_timeout: options.total_timeout,
                retries,
                backoff_base: Duration::from_millis(500),
                backoff_max: Duration::from_secs(8),
                max_retry_after,
                max_size: 32 * 1024 * 1024,
                ..download::Options::default()
            })
        };
        Ok(Github {
            repo_url: format!("{api_base}/repos/{repository}/"),
            repository,
            bearer,
            reads: client(3, Duration::from_secs(20)),
            // Never repeated: any rate limit is reported rather than waited out and retried.
            writes: client(0, Duration::ZERO),
            max_pages: options.max_pages.max(1),
        })
    }

    fn request(&self, url: &str) -> Request {
        Request::new(url)
            .bearer(Some(self.bearer.clone()))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
    }

    /// The number of the open issue (not a pull request) titled exactly `title`, following
    /// `Link: rel="next"` up to `max_pages` pages.
    fn find_open_issue(&self, title: &str) -> Result<Option<u64>, NotifyError> {
        let action = format!("list the open issues of {}", self.repository);
        let mut url = format!("{}issues?state=open&per_page=100", self.repo_url);
        for _ in 0..self.max_pages {
            let page = self
                .reads
                .get(&self.request(&url), &mut |_| {})
                .map_err(|error| github_error(error, &action))?;
            let issues: Vec<Value> =
                serde_json::from_slice(&page.body).map_err(|error| NotifyError::Github {
                    action: action.clone(),
                    reason: format!("the answer is not a list of issues: {error}"),
                })?;
            let found = issues.iter().find(|issue| {
                issue.get("pull_request").is_none()
                    && issue["title"].as_str() == Some(title)
                    && issue["state"].as_str().is_none_or(|state| state == "open")
            });
            if let Some(issue) = found {
                return issue["number"]
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| NotifyError::Github {
                        action,
                        reason: "an issue in the answer has no number".to_owned(),
                    });
            }
            match page.header("link").and_then(next_link) {
                Some(next) => url = next,
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    fn comment(&self, number: u64, body: &str) -> Result<(), NotifyError> {
        self.write(
            Method::Post,
            &format!("issues/{number}/comments"),
            &json!({ "body": body }),
            &format!("comment on issue #{number} of {}", self.repository),
        )
        .map(|_| ())
    }

    /// One write under the repository's URL; the answer's JSON (`null` when empty).
    fn write(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        action: &str,
    ) -> Result<Value, NotifyError> {
        let url = format!("{}{path}", self.repo_url);
        let request = self
            .request(&url)
            .header("Content-Type", "application/json");
        let page = self
            .writes
            .send(method, &request, body.to_string().as_bytes(), &mut |_| {})
            .map_err(|error| github_error(error, action))?;
        Ok(serde_json::from_slice(&page.body).unwrap_or(Value::Null))
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// GitHub's `message` from an error body, or the body itself.
fn github_message(detail: &str) -> String {
    serde_json::from_str::<Value>(detail)
        .ok()
        .and_then(|value| value["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| detail.to_owned())
}

fn github_error(error: DownloadError, action: &str) -> NotifyError {
    let action = action.to_owned();
    match error {
        DownloadError::RateLimited {
            status,
            reset_at,
            retry_after,
            ..
        } => NotifyError::RateLimited {
            action,
            status,
            reset_at,
            retry_after,
        },
        // `download` reports a rate-limited 403 as `RateLimited`; any other 403 is a refusal.
        DownloadError::Http {
            status: 403,
            detail,
            ..
        } => NotifyError::MissingPermission {
            action,
            status: 403,
            detail: github_message(&detail),
        },
        DownloadError::Http {
            status: 404,
            detail,
            ..
        } if detail.contains("Resource not accessible by integration") => {
            NotifyError::MissingPermission {
                action,
                status: 404,
                detail: github_message(&detail),
            }
        }
        DownloadError::Http {
            status: 404,
            detail,
            ..
        } => NotifyError::Github {
            action,
            reason: format!(
                "HTTP 404 ({}): no such repository, or the token cannot see it (the job needs `issues: write`)",
                github_message(&detail)
            ),
        },
        DownloadError::Http {
            status: 401,
            detail,
            ..
        } => NotifyError::Github {
            action,
            reason: format!(
                "the token was refused (HTTP 401: {}); pass GITHUB_TOKEN",
                github_message(&detail)
            ),
        },
        DownloadError::Http { status, detail, .. } => NotifyError::Github {
            action,
            reason: format!("HTTP {status}: {}", github_message(&detail)),
        },
        DownloadError::GaveUp { attempts, last, .. } => NotifyError::Github {
            action,
            reason: format!("{last} (tried {attempts} times)"),
        },
        DownloadError::TimedOut { after, .. } => NotifyError::Github {
            action,
            reason: format!("no answer within {} s", after.as_secs_f64()),
        },
        other => NotifyError::Github {
            action,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        let link = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
    }

    #[test]
    fn repository_must_be_owner_slash_name() {
        for bad in ["", "o", "o/", "/r", "o/r/x", "o r/x"] {
            let options = GithubOptions::new("https://api.github.com", bad, Secret::new("t"));
            assert!(
                matches!(Github::new(&options), Err(NotifyError::BadInput { .. })),
                "{bad}"
            );
        }
        let options = GithubOptions::new("http://example.com", "o/r", Secret::new("t"));
        assert!(matches!(
            Github::new(&options),
            Err(NotifyError::BadInput { .. })
        ));
    }
}

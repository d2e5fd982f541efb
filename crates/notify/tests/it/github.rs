//! The release's GitHub issue against a local stand-in for the issues API: opened once,
//! commented on, closed by a passing run; permissions, rate limits and the token's origin.

use download::Secret;
use notify::{GithubOptions, IssueAction, NotifyError, sync_github_issue};
use serde_json::{Value, json};
use testkit::github::Issues;
use testkit::http::{Reply, Server};

use crate::{failed, passed};

const TOKEN: &str = "ghs_t0ken";

/// The issues of `o/r` (testkit's stand-in), seeded with a pull request titled like the
/// release's issue (the issues list returns pull requests too) and an unrelated open issue.
struct FakeGithub {
    server: Server,
    issues: Issues,
}

impl FakeGithub {
    fn start() -> FakeGithub {
        let server = Server::start();
        let issues = Issues::serve(
            &server,
            "o/r",
            vec![
                json!({"number": 1, "title": "kgateway v2.1.0: verification failed", "state": "open",
                       "pull_request": {"url": "x"}}),
                json!({"number": 2, "title": "unrelated", "state": "open"}),
            ],
        );
        FakeGithub { server, issues }
    }

    fn options(&self) -> GithubOptions {
        GithubOptions::new(self.server.base_url(), "o/r", Secret::new(TOKEN))
    }

    fn issue(&self, number: u64) -> Value {
        self.issues.issue(number)
    }

    /// (method, path) of every write so far.
    fn writes(&self) -> Vec<(String, String)> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| (r.method.clone(), r.path().to_owned()))
            .collect()
    }
}

#[test]
fn a_failure_opens_one_issue_the_next_comments_and_a_pass_closes_it() {
    let github = FakeGithub::start();
    let first = sync_github_issue(&failed(), false, &github.options()).unwrap();
    assert_eq!(
        first,
        IssueAction::Opened {
            number: 3,
            url: "https://github.com/o/r/issues/3".to_owned()
        }
    );
    let issue = github.issue(3);
    assert_eq!(issue["title"], "kgateway v2.1.0: verification failed");
    let body = issue["body"].as_str().unwrap();
    assert!(body.contains("/actions/runs/7") && body.contains("# kgateway v2.1.0: failed"));

    let second = sync_github_issue(&failed(), false, &github.options()).unwrap();
    assert_eq!(second, IssueAction::Commented { number: 3 });
    assert_eq!(github.issue(3)["comments"].as_array().unwrap().len(), 1);

    let green = sync_github_issue(&passed(), true, &github.options()).unwrap();
    assert_eq!(green, IssueAction::Closed { number: 3 });
    let closed = github.issue(3);
    assert_eq!(closed["state"], "closed");
    let last_comment = closed["comments"][1].as_str().unwrap();
    assert!(last_comment.contains("passed") && last_comment.contains("/actions/runs/8"));

    assert_eq!(
        github.writes(),
        [
            ("POST", "/repos/o/r/issues"),
            ("POST", "/repos/o/r/issues/3/comments"),
            ("POST", "/repos/o/r/issues/3/comments"),
            ("PATCH", "/repos/o/r/issues/3"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
    );
    // The pull request with the same title was never taken for the issue.
    assert!(github.issue(1).get("comments").is_none());
    for request in github.server.requests() {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}

#[test]
fn a_passing_run_without_an_issue_does_nothing() {
    let github = FakeGithub::start();
    let action = sync_github_issue(&passed(), true, &github.options()).unwrap();
    assert_eq!(action, IssueAction::Nothing);
    assert!(github.writes().is_empty());
    // Both pages of open issues were searched.
    assert_eq!(github.server.requests().len(), 2);
}

#[test]
fn a_refusal_names_the_issues_write_permission() {
    let server = Server::start();
    server.route_method("GET", "/repos/o/r/issues", Reply::json("[]"));
    server.route_method(
        "POST",
        "/repos/o/r/issues",
        Reply::status(403)
            .header("Content-Type", "application/json")
            .body(r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue","status":"403"}"#),
    );
    let options = GithubOptions::new(server.base_url(), "o/r", Secret::new(TOKEN));
    let error = sync_github_issue(&failed(), false, &options).unwrap_err();
    assert!(
        matches!(error, NotifyError::MissingPermission { status: 403, .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("issues: write"), "{text}");
    assert!(
        text.contains("Resource not accessible by integration"),
        "{text}"
    );
    assert!(!text.contains(TOKEN) && !format!("{error:?} {options:?}").contains(TOKEN));
}

#[test]
fn a_rate_limit_is_reported_as_such() {
    let server = Server::start();
    server.route_method(
        "GET",
        "/repos/o/r/issues",
        Reply::status(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "4102444800")
            .body(r#"{"message":"API rate limit exceeded for installation ID 1."}"#),
    );
    let options = GithubOptions::new(server.base_url(), "o/r", Secret::new(TOKEN));
    let error = sync_github_issue(&failed(), false, &options).unwrap_err();
    assert!(
        matches!(
            error,
            NotifyError::RateLimited {
                status: 403,
                reset_at: Some(4_102_444_800),
                ..
            }
        ),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("rate limit") && text.contains("2100-01-01 00:00:00 UTC"),
        "{text}"
    );
    assert!(!text.contains("issues: write"), "{text}");
}

#[test]
fn the_token_goes_to_the_api_origin_only() {
    let api = Server::start();
    let elsewhere = Server::start_on("127.0.0.2");
    elsewhere.route("/moved/issues", Reply::json("[]"));
    api.route_method(
        "GET",
        "/repos/o/r/issues",
        Reply::redirect(elsewhere.url("/moved/issues")),
    );
    api.route_method(
        "POST",
        "/repos/o/r/issues",
        Reply::status(307).header("Location", elsewhere.url("/moved/create")),
    );
    elsewhere.route_method(
        "POST",
        "/moved/create",
        Reply::status(201).body(r#"{"number":5,"html_url":"https://github.com/o/r/issues/5"}"#),
    );
    let options = GithubOptions::new(api.base_url(), "o/r", Secret::new(TOKEN));
    let action = sync_github_issue(&failed(), false, &options).unwrap();
    assert!(
        matches!(action, IssueAction::Opened { number: 5, .. }),
        "{action:?}"
    );
    assert!(
        api.requests()
            .iter()
            .all(|r| r.header("authorization") == Some(&*format!("Bearer {TOKEN}")))
    );
    let redirected = elsewhere.requests();
    assert_eq!(redirected.len(), 2);
    assert!(
        redirected
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
    // The 307 repeated the write with its body.
    assert!(redirected[1].body_text().contains("verification failed"));
}

//! Telling the maintainers: a failing run posts one webhook message and opens one GitHub issue
//! on local stand-ins, a second failing run comments instead, a passing run closes the issue
//! (and posts nothing by default); a webhook that never answers changes neither the cleanup nor
//! the exit code; the webhook URL and the token appear in no output, log or report.

use std::net::TcpListener;
use std::path::Path;

use testkit::github::Issues;
use testkit::http::{Reply, Server};

use super::*;

const TOKEN: &str = "ghs_issuesT0ken";
const HOOK_PATH: &str = "/hooks/T000/B000/s3cretPath";

/// Every file under `dir`, as text (lossy).
fn every_file(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    found
}

/// No secret in what the run printed or wrote.
fn assert_no_secret(output: &exec::Output, dir: &Path, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !output.stdout_str().contains(secret) && !output.stderr_str().contains(secret),
            "{secret} was printed:\n{}",
            text(output)
        );
        for (path, contents) in every_file(dir) {
            assert!(
                !contents.contains(secret),
                "{secret} was written to {}",
                path.display()
            );
        }
    }
}

fn notify_cmd(gate: &Gate, run: &Path, hook: &str) -> exec::Cmd {
    gate.cmd_in(run, &["--notify-github-issue", "--notify-webhook", hook])
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "4242")
}

fn a_failure_is_posted_and_opens_one_issue_a_second_comments_and_a_pass_closes_it() {
    if !components() {
        return;
    }
    let mut gate = Gate::new("notify", Some("weights-50-50"));
    // The release server doubles as the GitHub API: the issues of o/r live there too.
    let issues = Issues::serve(&gate.server, "o/r", Vec::new());
    let hooks = Server::start();
    hooks.route_method("POST", HOOK_PATH, Reply::status(200));
    let hook = format!("{}{HOOK_PATH}", hooks.base_url());
    let secrets = [HOOK_PATH, TOKEN];

    let first_dir = gate.work.path().join("first");
    let first = gate
        .fakes
        .shell()
        .run_unchecked(&notify_cmd(&gate, &first_dir, &hook))
        .unwrap();
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let posts = hooks.requests_for(HOOK_PATH);
    assert_eq!(posts.len(), 1, "{}", text(&first));
    let payload: serde_json::Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(payload["verdict"], "failed");
    assert_eq!(
        payload["failing_cases"],
        serde_json::json!(["weighted-split"])
    );
    assert_eq!(
        payload["run_url"],
        "https://github.com/o/r/actions/runs/4242"
    );
    let slack_text = payload["text"].as_str().unwrap();
    assert!(
        slack_text.contains("example-gateway v2.1.0") && slack_text.contains("weighted-split"),
        "{slack_text}"
    );
    let all = issues.all();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        all[0]["title"],
        "example-gateway v2.1.0: verification failed"
    );
    assert_eq!(all[0]["state"], "open");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first_dir.join("run.json")).unwrap())
            .unwrap();
    assert_eq!(run["notifications"][0]["channel"], "webhook");
    assert_eq!(run["notifications"][0]["delivered"], true);
    assert_eq!(run["notifications"][1]["channel"], "github-issue");
    assert!(
        run["notifications"][1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("opened issue #1")
    );
    assert_no_secret(&first, &first_dir, &secrets);
    gate.assert_nothing_leaked(&first);
    // The token went to the API host only: the webhook host never saw it.
    assert!(
        posts
            .iter()
            .all(|post| !format!("{:?}", post.headers).contains(TOKEN))
    );

    let second_dir = gate.work.path().join("second");
    let second = gate
        .fakes
        .shell()
        .run_unchecked(&notify_cmd(&gate, &second_dir, &hook))
        .unwrap();
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let all = issues.all();
    assert_eq!(all.len(), 1, "a second issue was opened: {all:?}");
    assert_eq!(all[0]["comments"].as_array().unwrap().len(), 1);
    assert_eq!(hooks.requests_for(HOOK_PATH).len(), 2);

    gate.restart_envoy(None);
    let third_dir = gate.work.path().join("third");
    let third = gate
        .fakes
        .shell()
        .run_unchecked(&notify_cmd(&gate, &third_dir, &hook))
        .unwrap();
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    let issue = issues.issue(1);
    assert_eq!(issue["state"], "closed", "{issue}");
    assert_eq!(issue["comments"].as_array().unwrap().len(), 2);
    assert_eq!(
        hooks.requests_for(HOOK_PATH).len(),
        2,
        "a passing run posted although --notify-on defaults to failure"
    );
    assert_no_secret(&third, &third_dir, &secrets);
}

fn a_webhook_that_never_answers_changes_neither_cleanup_nor_the_exit_code() {
    if !components() {
        return;
    }
    let gate = Gate::new("notify-silent", Some("weights-50-50"));
    // Bounded at 3 s in all; the listener accepts connections and never answers.
    let config = std::fs::read_to_string(&gate.config).unwrap();
    std::fs::write(
        &gate.config,
        format!("{config}\n[notify]\nwebhook_timeout_secs = 3\n"),
    )
    .unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}{HOOK_PATH}", silent.local_addr().unwrap());
    let output = gate
        .fakes
        .shell()
        .run_unchecked(&gate.cmd(&["--notify-webhook", &hook]))
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        output
            .stderr_str()
            .contains("the webhook notification could not be delivered"),
        "{}",
        text(&output)
    );
    gate.assert_nothing_leaked(&output);
    let run: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(gate.artifacts_dir().join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run["exit_code"], 1);
    assert_eq!(run["notifications"][0]["delivered"], false);
    let cleanup = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["name"] == "cleanup")
        .unwrap()
        .clone();
    assert_eq!(cleanup["status"], "succeeded");
    assert_no_secret(&output, &gate.artifacts_dir(), &[HOOK_PATH]);
    drop(silent);
}

fn notification_settings_are_checked_before_anything_runs() {
    let gate_dir = tempfile::tempdir().unwrap();
    let fakes = fake_tools::FakeTools::new().unwrap();
    let base = crate::context::isolated("run verify-release with bad notify settings")
        .args(["verify-release", "--artifacts-dir"])
        .arg(gate_dir.path().join("run"))
        .env("KIND", fakes.program("kind"))
        .env("XTASK_VERIFY_DIR", gate_dir.path().join("verify"))
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_TOKEN");
    let insecure = fakes
        .shell()
        .run_unchecked(
            &base
                .clone()
                .args(["--notify-webhook", "http://hooks.example.com/s3cret"]),
        )
        .unwrap();
    assert_eq!(insecure.status.code(), Some(2), "{}", text(&insecure));
    assert!(
        insecure.stderr_str().contains("must be https://"),
        "{}",
        text(&insecure)
    );
    assert!(
        !insecure.stderr_str().contains("s3cret"),
        "{}",
        text(&insecure)
    );
    let no_repository = fakes
        .shell()
        .run_unchecked(&base.clone().arg("--notify-github-issue"))
        .unwrap();
    assert_eq!(
        no_repository.status.code(),
        Some(2),
        "{}",
        text(&no_repository)
    );
    assert!(
        no_repository.stderr_str().contains("GITHUB_REPOSITORY"),
        "{}",
        text(&no_repository)
    );
    let no_token = fakes
        .shell()
        .run_unchecked(
            &base
                .clone()
                .arg("--notify-github-issue")
                .env("GITHUB_REPOSITORY", "o/r"),
        )
        .unwrap();
    assert_eq!(no_token.status.code(), Some(2), "{}", text(&no_token));
    assert!(
        no_token.stderr_str().contains("issues: write"),
        "{}",
        text(&no_token)
    );
    assert!(fakes.calls().is_empty(), "{:?}", fakes.calls());
    assert!(!gate_dir.path().join("run").exists());
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        a_failure_is_posted_and_opens_one_issue_a_second_comments_and_a_pass_closes_it,
        a_webhook_that_never_answers_changes_neither_cleanup_nor_the_exit_code,
        notification_settings_are_checked_before_anything_runs,
    ]
}

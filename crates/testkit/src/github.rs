//! GitHub's REST API as the tests need it, served by the local [`Server`]: a release (what the
//! artifact, verify-release and benchmark tests fetch instead of github.com) and a repository's
//! issues kept in memory (what the notification tests open, comment on and close).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::http::{Recorded, Reply, Server};

/// Serves release `tag` of `repo` (`OWNER/NAME`) at `repos/{repo}/releases/tags/{tag}`, each
/// asset at `download/{tag}/{name}` with `Range` support, the JSON listing each asset's name,
/// size and download URL.
pub fn serve_release(server: &Server, repo: &str, tag: &str, assets: &[(String, Vec<u8>)]) {
    let listed: Vec<serde_json::Value> = assets
        .iter()
        .map(|(name, body)| {
            serde_json::json!({
                "name": name,
                "size": body.len(),
                "browser_download_url": server.url(&format!("download/{tag}/{name}")),
            })
        })
        .collect();
    let release = serde_json::json!({
        "tag_name": tag, "draft": false, "prerelease": false,
        "html_url": format!("https://github.com/{repo}/releases/tag/{tag}"), "assets": listed,
    });
    server.route(
        &format!("repos/{repo}/releases/tags/{tag}"),
        Reply::json(release.to_string()),
    );
    for (name, body) in assets {
        server.route(
            &format!("download/{tag}/{name}"),
            Reply::ok(body.clone()).ranges(),
        );
    }
}

/// The issues of one repository, kept the way GitHub keeps them: the list pages one issue at a
/// time (so clients must follow `Link: rel="next"`), and issues can be opened, commented on
/// and closed. Answers every request no route of the server matches.
#[derive(Clone)]
pub struct Issues {
    issues: Arc<Mutex<Vec<Value>>>,
}

impl Issues {
    /// Serves `repo`'s issues (`OWNER/NAME`), starting with `seed` (numbered from 1 in order).
    pub fn serve(server: &Server, repo: &str, seed: Vec<Value>) -> Issues {
        let issues = Issues {
            issues: Arc::new(Mutex::new(seed)),
        };
        let base = server.base_url();
        let repo = repo.to_owned();
        let state = issues.clone();
        server.handler(move |request| Some(state.answer(&base, &repo, request)));
        issues
    }

    /// Every issue (and pull request) as the stand-in holds it, by number order.
    pub fn all(&self) -> Vec<Value> {
        stdx::lock(&self.issues).clone()
    }

    /// Issue `number` (1-based).
    pub fn issue(&self, number: u64) -> Value {
        self.all()[number as usize - 1].clone()
    }

    fn answer(&self, base: &str, repo: &str, request: &Recorded) -> Reply {
        let mut issues = stdx::lock(&self.issues);
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let path = request.path().trim_matches('/').to_owned();
        let Some(rest) = path.strip_prefix(&format!("repos/{repo}/issues")) else {
            return Reply::status(404).body(r#"{"message":"Not Found"}"#);
        };
        let rest: Vec<&str> = rest
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let index = |number: &str| {
            number
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1 && *n <= issues.len())
                .map(|n| n - 1)
        };
        match (request.method.as_str(), rest.as_slice()) {
            ("GET", []) => {
                let open: Vec<&Value> = issues.iter().filter(|i| i["state"] == "open").collect();
                let page: usize = request
                    .query()
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("page="))
                    .and_then(|page| page.parse().ok())
                    .unwrap_or(1);
                let items: Vec<&Value> = open
                    .iter()
                    .skip(page.saturating_sub(1))
                    .take(1)
                    .copied()
                    .collect();
                let mut reply = Reply::json(serde_json::to_string(&items).unwrap_or_default());
                if page < open.len() {
                    reply = reply.header(
                        "Link",
                        format!(
                            "<{base}/repos/{repo}/issues?state=open&per_page=100&page={}>; rel=\"next\"",
                            page + 1
                        ),
                    );
                }
                reply
            }
            ("POST", []) => {
                let number = issues.len() as u64 + 1;
                let issue = json!({"number": number, "title": body["title"], "body": body["body"],
                                   "state": "open", "comments": [],
                                   "html_url": format!("https://github.com/{repo}/issues/{number}")});
                issues.push(issue.clone());
                Reply::status(201).body(issue.to_string())
            }
            ("POST", [number, "comments"]) => match index(number) {
                Some(index) => {
                    if let Some(comments) = issues[index]["comments"].as_array_mut() {
                        comments.push(body["body"].clone());
                    }
                    Reply::status(201).body(json!({"id": 1}).to_string())
                }
                None => Reply::status(404).body(r#"{"message":"Not Found"}"#),
            },
            ("PATCH", [number]) => match index(number) {
                Some(index) => {
                    issues[index]["state"] = body["state"].clone();
                    Reply::json(issues[index].to_string())
                }
                None => Reply::status(404).body(r#"{"message":"Not Found"}"#),
            },
            _ => Reply::status(404).body(r#"{"message":"Not Found"}"#),
        }
    }
}

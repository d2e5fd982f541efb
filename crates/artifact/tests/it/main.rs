//! The artifact pipeline against a local server that speaks the GitHub releases API shape:
//! each fault ends in verified files or a clear error with nothing unverified left behind.

mod docker_real;
mod fake_docker;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use artifact::record::{self, Role, Verification};
use artifact::{ArtifactError, Env, Event, Plan};
use sha2::{Digest, Sha256};
use testkit::http::{Reply, Server};

pub fn sha(bytes: &[u8]) -> String {
    download::hex(&Sha256::digest(bytes))
}

pub fn payload(seed: u8, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
        .collect()
}

/// One asset of a fake release.
#[derive(Clone)]
pub struct FakeAsset {
    pub name: String,
    pub body: Vec<u8>,
    /// GitHub's `digest` field, if set.
    pub digest: Option<String>,
    /// The `size` the API states (defaults to the body's length).
    pub size: Option<u64>,
}

pub fn asset(name: &str, body: impl Into<Vec<u8>>) -> FakeAsset {
    FakeAsset {
        name: name.to_owned(),
        body: body.into(),
        digest: None,
        size: None,
    }
}

/// Serves `/repos/o/r/releases/tags/TAG` (and `/latest`) with assets under `/dl/TAG/NAME`.
/// Returns the server; asset routes can be re-scripted afterwards for faults.
pub fn publish(server: &Server, tag: &str, assets: &[FakeAsset], draft: bool) {
    let listed: Vec<serde_json::Value> = assets
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let mut value = serde_json::json!({
                "name": a.name,
                "size": a.size.unwrap_or(a.body.len() as u64),
                "browser_download_url": server.url(&format!("dl/{tag}/{}", a.name)),
                "url": server.url(&format!("repos/o/r/releases/assets/{index}")),
                "content_type": "application/octet-stream",
            });
            if let Some(digest) = &a.digest {
                value["digest"] = serde_json::Value::String(digest.clone());
            }
            value
        })
        .collect();
    let release = serde_json::json!({
        "tag_name": tag,
        "name": tag,
        "draft": draft,
        "prerelease": false,
        "html_url": format!("https://github.com/o/r/releases/tag/{tag}"),
        "assets": listed,
    })
    .to_string();
    server.route(
        &format!("repos/o/r/releases/tags/{tag}"),
        Reply::json(release.clone()),
    );
    server.route("repos/o/r/releases/latest", Reply::json(release));
    for (index, a) in assets.iter().enumerate() {
        let reply = Reply::ok(a.body.clone()).ranges();
        server.route(&format!("dl/{tag}/{}", a.name), reply.clone());
        server.route(&format!("repos/o/r/releases/assets/{index}"), reply);
    }
}

pub fn checksums_txt(assets: &[&FakeAsset]) -> FakeAsset {
    let text: String = assets
        .iter()
        .map(|a| format!("{}  {}\n", sha(&a.body), a.name))
        .collect();
    asset("checksums.txt", text)
}

pub fn plan(dest: &Path) -> Plan {
    Plan {
        repo: "o/r".to_owned(),
        tag: "v1.2.3".to_owned(),
        dest: dest.to_owned(),
        patterns: Vec::new(),
        image_archives: Vec::new(),
        images: Vec::new(),
        images_from_manifests: true,
        digest_list: None,
        allow_unverified: false,
        parallelism: 3,
    }
}

pub fn env(server: &Server) -> Env {
    Env {
        api_base: server.base_url(),
        token: None,
        download: download::Options {
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            retries: 3,
            ..download::Options::default()
        },
        docker: None,
    }
}

pub struct Run {
    pub result: Result<artifact::Outcome, ArtifactError>,
    pub events: Vec<Event>,
}

pub fn run(plan: &Plan, env: &Env) -> Run {
    run_with(plan, env, &exec::Shell::new())
}

pub fn run_with(plan: &Plan, env: &Env, sh: &exec::Shell) -> Run {
    let events = Mutex::new(Vec::new());
    let result = artifact::fetch(plan, env, sh, &|event| events.lock().unwrap().push(event));
    Run {
        result,
        events: events.into_inner().unwrap(),
    }
}

/// Every file in `dir` (recursively), relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn standard_release(server: &Server) -> (FakeAsset, FakeAsset) {
    let install = asset(
        "install.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
    );
    let chart = asset("chart-v1.2.3.tgz", payload(7, 300_000));
    let other = asset("source.zip", payload(3, 1000));
    let sums = checksums_txt(&[&install, &chart, &other]);
    publish(
        server,
        "v1.2.3",
        &[install.clone(), chart.clone(), other, sums],
        false,
    );
    (install, chart)
}

fn fetches_verifies_and_records() {
    let server = Server::start();
    let (install, chart) = standard_release(&server);
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.patterns = vec!["*.yaml".into(), "*.tgz".into()];
    let outcome = run(&plan, &env(&server)).result.unwrap();
    assert_eq!(
        files(dest.path()),
        [
            "artifacts.json",
            "chart-v1.2.3.tgz",
            "checksums.txt",
            "install.yaml"
        ]
    );
    assert_eq!(
        std::fs::read(dest.path().join("chart-v1.2.3.tgz")).unwrap(),
        chart.body
    );
    let read = record::read(dest.path()).unwrap();
    assert_eq!(read, outcome.record);
    assert_eq!(read.tag, "v1.2.3");
    let by_name = |name: &str| read.assets.iter().find(|a| a.name == name).unwrap().clone();
    let recorded = by_name("install.yaml");
    assert_eq!(recorded.sha256, sha(&install.body));
    assert_eq!(recorded.size, install.body.len() as u64);
    assert_eq!(recorded.url, server.url("dl/v1.2.3/install.yaml"));
    assert_eq!(
        recorded.verification,
        Verification::ChecksumFile {
            file: "checksums.txt".into()
        }
    );
    assert_eq!(by_name("checksums.txt").role, Role::Checksums);
    assert!(read.images.is_empty());
    assert!(
        server.requests_for("dl/v1.2.3/source.zip").is_empty(),
        "an unselected asset was downloaded"
    );
}

fn latest_resolves_to_the_published_tag() {
    let server = Server::start();
    standard_release(&server);
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.tag = "latest".into();
    plan.patterns = vec!["install.yaml".into()];
    let outcome = run(&plan, &env(&server)).result.unwrap();
    assert_eq!(outcome.record.tag, "v1.2.3");
    assert_eq!(server.requests_for("repos/o/r/releases/latest").len(), 1);
}

fn a_pattern_the_release_does_not_carry_fails_naming_it_before_any_download() {
    let server = Server::start();
    standard_release(&server);
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    // A goreleaser release that lost its arm64 archive: the one pattern that matches nothing
    // is the one named, and the assets the release does have are listed next to it.
    plan.patterns = vec![
        "*.yaml".into(),
        "chart-*.tgz".into(),
        "demo_*_linux_arm64.tar.gz".into(),
    ];
    let result = run(&plan, &env(&server)).result;
    match &result {
        Err(
            error @ ArtifactError::MissingAssets {
                patterns,
                available,
            },
        ) => {
            assert_eq!(patterns, &["demo_*_linux_arm64.tar.gz"]);
            assert!(
                available.contains(&"install.yaml".to_owned()),
                "{available:?}"
            );
            let text = error.to_string();
            assert!(text.contains("\"demo_*_linux_arm64.tar.gz\""), "{text}");
            assert!(text.contains("[artifacts].patterns"), "{text}");
            assert!(
                !error.is_bad_input(),
                "a release without its asset is a failed verdict"
            );
        }
        other => panic!("expected MissingAssets, got {other:?}"),
    }
    assert!(files(dest.path()).is_empty(), "{:?}", files(dest.path()));
    let downloads: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .filter(|path| path.contains("/dl/"))
        .collect();
    assert!(
        downloads.is_empty(),
        "downloaded before deciding: {downloads:?}"
    );
}

fn sidecars_and_github_digests_verify_too() {
    let server = Server::start();
    let binary = asset("tool-linux-amd64", payload(5, 5000));
    let sidecar = asset(
        "tool-linux-amd64.sha256",
        format!("{}  tool-linux-amd64\n", sha(&binary.body)),
    );
    let mut manifest = asset("crds.yaml", "kind: List\n");
    manifest.digest = Some(format!("sha256:{}", sha(&manifest.body)));
    publish(&server, "v1.2.3", &[binary, sidecar, manifest], false);
    let dest = tempfile::tempdir().unwrap();
    let record = run(&plan(dest.path()), &env(&server))
        .result
        .unwrap()
        .record;
    let method = |name: &str| {
        record
            .assets
            .iter()
            .find(|a| a.name == name)
            .unwrap()
            .verification
            .clone()
    };
    assert_eq!(
        method("tool-linux-amd64"),
        Verification::Sidecar {
            file: "tool-linux-amd64.sha256".into()
        }
    );
    assert_eq!(method("crds.yaml"), Verification::GithubDigest);
}

fn asset_without_checksum_fails_closed_and_writes_nothing() {
    let server = Server::start();
    publish(
        &server,
        "v1.2.3",
        &[asset("install.yaml", "kind: List\n")],
        false,
    );
    let dest = tempfile::tempdir().unwrap();
    let result = run(&plan(dest.path()), &env(&server)).result;
    match result {
        Err(ArtifactError::NoChecksum { assets }) => assert_eq!(assets, ["install.yaml"]),
        other => panic!("{other:?}"),
    }
    assert!(files(dest.path()).is_empty());
    assert!(server.requests_for("dl/v1.2.3/install.yaml").is_empty());
}

fn allow_unverified_records_it_as_unverified() {
    let server = Server::start();
    publish(
        &server,
        "v1.2.3",
        &[asset("install.yaml", "kind: List\n")],
        false,
    );
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.allow_unverified = true;
    let run = run(&plan, &env(&server));
    let record = run.result.unwrap().record;
    assert_eq!(record.assets[0].verification, Verification::Unverified);
    assert!(
        run.events
            .iter()
            .any(|e| matches!(e, Event::Note(note) if note.contains("unverified")))
    );
}

fn wrong_checksum_fails_and_leaves_no_file_or_part() {
    let server = Server::start();
    let install = asset("install.yaml", "kind: List\n");
    let mut lying = checksums_txt(&[&install]);
    lying.body = format!("{}  install.yaml\n", sha(b"other bytes")).into_bytes();
    publish(&server, "v1.2.3", &[install, lying], false);
    let dest = tempfile::tempdir().unwrap();
    let result = run(&plan(dest.path()), &env(&server)).result;
    assert!(
        matches!(&result, Err(ArtifactError::Download { asset, error: download::DownloadError::ChecksumMismatch { .. } }) if asset == "install.yaml"),
        "{result:?}"
    );
    let left = files(dest.path());
    assert!(
        !left.iter().any(|f| f.starts_with("install.yaml")),
        "{left:?}"
    );
    assert!(!left.contains(&"artifacts.json".to_owned()));
}

fn conflicting_published_sums_are_refused() {
    let server = Server::start();
    let mut install = asset("install.yaml", "kind: List\n");
    install.digest = Some(format!("sha256:{}", sha(b"something else")));
    let sums = checksums_txt(&[&install]);
    publish(&server, "v1.2.3", &[install, sums], false);
    let dest = tempfile::tempdir().unwrap();
    let result = run(&plan(dest.path()), &env(&server)).result;
    assert!(
        matches!(result, Err(ArtifactError::ChecksumConflict { .. })),
        "{result:?}"
    );
    assert!(server.requests_for("dl/v1.2.3/install.yaml").is_empty());
}

fn traversal_asset_name_is_refused_before_any_write() {
    let server = Server::start();
    let evil = asset("../evil.yaml", "kind: List\n");
    let sums = checksums_txt(&[&evil]);
    publish(&server, "v1.2.3", &[evil, sums], false);
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("dest");
    let result = run(&plan(&dest), &env(&server)).result;
    assert!(
        matches!(result, Err(ArtifactError::UnsafeName(_))),
        "{result:?}"
    );
    assert!(!dest.exists(), "the destination was created");
    assert!(files(parent.path()).is_empty());
    assert!(
        !server
            .requests()
            .iter()
            .any(|r| r.path().starts_with("/dl/")),
        "an asset was requested"
    );
}

fn draft_and_missing_releases_are_clear_errors() {
    let server = Server::start();
    publish(&server, "v1.2.3", &[asset("a.yaml", "x: 1\n")], true);
    let dest = tempfile::tempdir().unwrap();
    let result = run(&plan(dest.path()), &env(&server)).result;
    assert!(
        matches!(result, Err(ArtifactError::Draft { .. })),
        "{result:?}"
    );
    let mut missing = plan(dest.path());
    missing.tag = "v9.9.9".into();
    let error = run(&missing, &env(&server)).result.unwrap_err();
    assert!(
        matches!(error, ArtifactError::ReleaseNotFound { .. }),
        "{error:?}"
    );
    assert!(error.is_bad_input());
    assert!(error.to_string().contains("v9.9.9"), "{error}");
    assert!(files(dest.path()).is_empty());
}

fn rate_limit_names_the_reset_time_and_the_token() {
    let server = Server::start();
    server.route(
        "repos/o/r/releases/tags/v1.2.3",
        Reply::status(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "4102444800")
            .body("{\"message\":\"API rate limit exceeded\"}"),
    );
    let dest = tempfile::tempdir().unwrap();
    let error = run(&plan(dest.path()), &env(&server)).result.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("2100-01-01 00:00:00 UTC"), "{message}");
    assert!(message.contains("GITHUB_TOKEN"), "{message}");
}

fn token_reaches_the_api_but_not_the_download_host() {
    let api = Server::start();
    let cdn = Server::start_on("127.0.0.2");
    let (install, _) = standard_release(&api);
    // With a token, assets come through the API's asset endpoint, which redirects to a
    // storage host, as GitHub's does. install.yaml is asset 0.
    cdn.route("/blob/install.yaml", Reply::ok(install.body.clone()));
    api.route(
        "repos/o/r/releases/assets/0",
        Reply::redirect(cdn.url("blob/install.yaml")),
    );
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.patterns = vec!["install.yaml".into()];
    let mut env = env(&api);
    env.token = Some("ghp_secretvalue".into());
    let run = run(&plan, &env);
    let outcome = run.result.unwrap();
    let release_call = &api.requests_for("repos/o/r/releases/tags/v1.2.3")[0];
    assert_eq!(
        release_call.header("authorization"),
        Some("Bearer ghp_secretvalue")
    );
    assert_eq!(
        release_call.header("x-github-api-version"),
        Some("2022-11-28")
    );
    let asset_call = &api.requests_for("repos/o/r/releases/assets/0")[0];
    assert_eq!(
        asset_call.header("authorization"),
        Some("Bearer ghp_secretvalue")
    );
    assert_eq!(
        asset_call.header("accept"),
        Some("application/octet-stream")
    );
    let cdn_calls = cdn.requests();
    assert_eq!(cdn_calls.len(), 1);
    assert_eq!(
        cdn_calls[0].header("authorization"),
        None,
        "the token followed the redirect"
    );
    assert_eq!(
        std::fs::read(dest.path().join("install.yaml")).unwrap(),
        install.body
    );
    let recorded = outcome
        .record
        .assets
        .iter()
        .find(|a| a.name == "install.yaml")
        .unwrap();
    assert_eq!(recorded.url, api.url("repos/o/r/releases/assets/0"));
    let written = std::fs::read_to_string(&outcome.record_path).unwrap();
    assert!(!written.contains("ghp_secretvalue"));
    assert!(!format!("{:?}", run.events).contains("ghp_secretvalue"));
}

fn without_a_token_the_public_download_url_is_used() {
    let server = Server::start();
    standard_release(&server);
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.patterns = vec!["install.yaml".into()];
    run(&plan, &env(&server)).result.unwrap();
    assert_eq!(server.requests_for("dl/v1.2.3/install.yaml").len(), 1);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.path().contains("/releases/assets/"))
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
}

fn dropped_body_resumes_and_server_errors_are_retried() {
    let server = Server::start();
    let (_, chart) = standard_release(&server);
    server.script(
        "dl/v1.2.3/chart-v1.2.3.tgz",
        vec![
            Reply::status(500),
            Reply::status(500),
            Reply::ok(chart.body.clone()).ranges().drop_after(100_000),
        ],
        Reply::ok(chart.body.clone()).ranges(),
    );
    server.script(
        "dl/v1.2.3/install.yaml",
        vec![Reply::status(429).header("Retry-After", "1")],
        Reply::ok(b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n".to_vec()),
    );
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.patterns = vec!["*.yaml".into(), "*.tgz".into()];
    let run = run(&plan, &env(&server));
    run.result.unwrap();
    assert_eq!(
        std::fs::read(dest.path().join("chart-v1.2.3.tgz")).unwrap(),
        chart.body
    );
    let chart_requests = server.requests_for("dl/v1.2.3/chart-v1.2.3.tgz");
    assert_eq!(chart_requests.len(), 4);
    assert!(
        chart_requests[3].header("range").is_some(),
        "the last attempt did not resume"
    );
    let waited = run.events.iter().any(|e| {
        matches!(e, Event::Download { asset, event: download::Event::Retrying { delay, .. } }
            if asset == "install.yaml" && *delay == Duration::from_secs(1))
    });
    assert!(waited, "429 Retry-After: 1 was not honoured");
}

fn truncated_and_oversized_bodies_are_never_accepted() {
    let server = Server::start();
    let (_, chart) = standard_release(&server);
    server.route(
        "dl/v1.2.3/chart-v1.2.3.tgz",
        Reply::ok(chart.body.clone()).drop_after(1000),
    );
    let dest = tempfile::tempdir().unwrap();
    let mut plan = plan(dest.path());
    plan.patterns = vec!["*.tgz".into()];
    let result = run(&plan, &env(&server)).result;
    assert!(
        matches!(
            &result,
            Err(ArtifactError::Download {
                error: download::DownloadError::GaveUp { .. },
                ..
            })
        ),
        "{result:?}"
    );
    assert!(!files(dest.path()).iter().any(|f| f.starts_with("chart")));

    // The API says 300 000 bytes; a body of twice that is refused.
    let mut bigger = chart.body.clone();
    bigger.extend_from_slice(&chart.body);
    server.route("dl/v1.2.3/chart-v1.2.3.tgz", Reply::ok(bigger));
    let result = run(&plan, &env(&server)).result;
    assert!(
        matches!(
            &result,
            Err(ArtifactError::Download {
                error: download::DownloadError::TooLarge { .. },
                ..
            })
        ),
        "{result:?}"
    );
    assert!(!files(dest.path()).iter().any(|f| f.starts_with("chart")));
}

fn second_run_downloads_nothing() {
    let server = Server::start();
    let install = asset("install.yaml", "kind: List\n");
    let chart = asset("chart-v1.2.3.tgz", payload(7, 300_000));
    let mut sums = checksums_txt(&[&install, &chart]);
    // GitHub records a digest for every uploaded asset, the checksum file included, so
    // everything is known before a byte is downloaded.
    sums.digest = Some(format!("sha256:{}", sha(&sums.body)));
    publish(&server, "v1.2.3", &[install, chart, sums], false);
    let cache = tempfile::tempdir().unwrap();
    let mut env = env(&server);
    env.download.cache_dir = Some(cache.path().to_owned());
    let first = tempfile::tempdir().unwrap();
    run(&plan(first.path()), &env).result.unwrap();
    let downloads = |server: &Server| {
        server
            .requests()
            .iter()
            .filter(|r| r.path().starts_with("/dl/"))
            .count()
    };
    assert_eq!(downloads(&server), 3);
    let second = tempfile::tempdir().unwrap();
    let run = run(&plan(second.path()), &env);
    run.result.unwrap();
    assert_eq!(downloads(&server), 3, "the second run downloaded");
    assert!(run.events.iter().all(|e| !matches!(
        e,
        Event::Fetched {
            from_cache: false,
            ..
        }
    )));
    assert_eq!(files(first.path()), files(second.path()));
}

fn checksum_file_without_a_digest_is_fetched_again_but_payloads_come_from_the_cache() {
    let server = Server::start();
    standard_release(&server);
    let cache = tempfile::tempdir().unwrap();
    let mut env = env(&server);
    env.download.cache_dir = Some(cache.path().to_owned());
    let first = tempfile::tempdir().unwrap();
    run(&plan(first.path()), &env).result.unwrap();
    let downloads = |server: &Server| {
        server
            .requests()
            .iter()
            .filter(|r| r.path().starts_with("/dl/"))
            .count()
    };
    let after_first = downloads(&server);
    let second = tempfile::tempdir().unwrap();
    run(&plan(second.path()), &env).result.unwrap();
    // Nothing published states the checksum file's own sum, so it is the one thing fetched
    // again: it is what proves the cached payloads are still the published ones.
    assert_eq!(downloads(&server) - after_first, 1);
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.path() == "/dl/v1.2.3/checksums.txt")
            .count(),
        2
    );
}

fn failed_run_removes_the_previous_record() {
    let server = Server::start();
    standard_release(&server);
    let dest = tempfile::tempdir().unwrap();
    run(&plan(dest.path()), &env(&server)).result.unwrap();
    assert!(dest.path().join("artifacts.json").exists());
    server.route("dl/v1.2.3/install.yaml", Reply::status(404));
    assert!(run(&plan(dest.path()), &env(&server)).result.is_err());
    assert!(
        !dest.path().join("artifacts.json").exists(),
        "a stale record survived a failed run"
    );
}

fn record_reader_refuses_a_tampered_folder() {
    let server = Server::start();
    standard_release(&server);
    let dest = tempfile::tempdir().unwrap();
    run(&plan(dest.path()), &env(&server)).result.unwrap();
    let record = record::read(dest.path()).unwrap();
    record::verify_files(dest.path(), &record).unwrap();
    // Same size, other bytes: only re-hashing notices.
    let manifest = dest.path().join("install.yaml");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&manifest, &bytes).unwrap();
    let error = record::verify_files(dest.path(), &record).unwrap_err();
    assert!(error.to_string().contains("install.yaml"), "{error}");
    std::fs::write(&manifest, "short").unwrap();
    let error = record::read(dest.path()).unwrap_err();
    assert!(error.to_string().contains("install.yaml"), "{error}");
}

fn plain_http_download_url_off_loopback_is_refused() {
    let server = Server::start();
    let install = asset("install.yaml", "kind: List\n");
    let sums = checksums_txt(&[&install]);
    publish(&server, "v1.2.3", &[install, sums], false);
    // Rewrite the release so the manifest lives on a plain-http remote host.
    let release = serde_json::json!({
        "tag_name": "v1.2.3", "draft": false, "prerelease": false, "html_url": "",
        "assets": [
            {"name": "install.yaml", "size": 11, "browser_download_url": "http://downloads.example.invalid/install.yaml",
             "digest": format!("sha256:{}", sha(b"kind: List\n"))},
        ],
    });
    server.route(
        "repos/o/r/releases/tags/v1.2.3",
        Reply::json(release.to_string()),
    );
    let dest = tempfile::tempdir().unwrap();
    let result = run(&plan(dest.path()), &env(&server)).result;
    assert!(
        matches!(
            &result,
            Err(ArtifactError::Download {
                error: download::DownloadError::InsecureUrl { .. },
                ..
            })
        ),
        "{result:?}"
    );
    assert!(files(dest.path()).is_empty());
}

fn leftovers_of_an_interrupted_run_are_cleared() {
    let server = Server::start();
    standard_release(&server);
    let dest = tempfile::tempdir().unwrap();
    // What a killed run leaves: a half-written download and a half-written record.
    std::fs::write(dest.path().join("chart-v1.2.3.tgz.part"), b"half").unwrap();
    std::fs::write(dest.path().join("artifacts.json.part"), b"{").unwrap();
    let mut plan = plan(dest.path());
    plan.patterns = vec!["*.tgz".into()];
    run(&plan, &env(&server)).result.unwrap();
    assert_eq!(
        files(dest.path()),
        ["artifacts.json", "chart-v1.2.3.tgz", "checksums.txt"]
    );
}

/// The tests of this binary, run by the workspace's test runner (a test whose component is
/// missing is reported as ignored, with why).
fn main() -> std::process::ExitCode {
    test_harness::run(tests())
}

fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        fetches_verifies_and_records,
        latest_resolves_to_the_published_tag,
        a_pattern_the_release_does_not_carry_fails_naming_it_before_any_download,
        sidecars_and_github_digests_verify_too,
        asset_without_checksum_fails_closed_and_writes_nothing,
        allow_unverified_records_it_as_unverified,
        wrong_checksum_fails_and_leaves_no_file_or_part,
        conflicting_published_sums_are_refused,
        traversal_asset_name_is_refused_before_any_write,
        draft_and_missing_releases_are_clear_errors,
        rate_limit_names_the_reset_time_and_the_token,
        token_reaches_the_api_but_not_the_download_host,
        without_a_token_the_public_download_url_is_used,
        dropped_body_resumes_and_server_errors_are_retried,
        truncated_and_oversized_bodies_are_never_accepted,
        second_run_downloads_nothing,
        checksum_file_without_a_digest_is_fetched_again_but_payloads_come_from_the_cache,
        failed_run_removes_the_previous_record,
        record_reader_refuses_a_tampered_folder,
        plain_http_download_url_off_loopback_is_refused,
        leftovers_of_an_interrupted_run_are_cleared,
        ;
        docker_real,
        fake_docker,
    ]
}

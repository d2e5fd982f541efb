//! Fault tests for downloads against the scriptable local server: every fault ends in a
//! verified file or a clear error, and never in a file or `.part` left behind.

use std::path::Path;
use std::time::Duration;

use download::{Bearer, Client, DownloadError, Event, Method, Options, Request};
use sha2::{Digest, Sha256};
use testkit::http::{Reply, Server};

fn client() -> Client {
    client_with(|_| {})
}

fn client_with(tweak: impl FnOnce(&mut Options)) -> Client {
    let mut options = Options {
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        request_timeout: Duration::from_secs(10),
        ..Options::default()
    };
    tweak(&mut options);
    Client::new(options)
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 % 251) as u8).collect()
}

fn sha(bytes: &[u8]) -> String {
    download::hex(&Sha256::digest(bytes))
}

fn fetch(
    client: &Client,
    request: &Request,
    dest: &Path,
) -> (Result<download::Fetched, DownloadError>, Vec<Event>) {
    let mut events = Vec::new();
    let result = client.fetch(request, dest, &mut |event| events.push(event));
    (result, events)
}

/// Nothing in the folder but what a successful fetch put there.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn fetches_verifies_and_renames() {
    let server = Server::start();
    let body = payload(300_000);
    server.route("/a.bin", Reply::ok(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("a.bin");
    let request = Request::new(server.url("a.bin"))
        .sha256(sha(&body))
        .size(body.len() as u64);
    let (result, events) = fetch(&client(), &request, &dest);
    let fetched = result.unwrap();
    assert_eq!(fetched.sha256, sha(&body));
    assert_eq!(fetched.attempts, 1);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(names_in(dir.path()), ["a.bin"]);
    assert!(matches!(
        events.last(),
        Some(Event::Progress { done: 300_000, .. })
    ));
}

#[test]
fn body_dropped_halfway_resumes_with_range() {
    let server = Server::start();
    let body = payload(1_000_000);
    server.script(
        "/a.bin",
        vec![Reply::ok(body.clone()).ranges().drop_after(400_000)],
        Reply::ok(body.clone()).ranges(),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("a.bin");
    let request = Request::new(server.url("a.bin")).sha256(sha(&body));
    let (result, events) = fetch(&client(), &request, &dest);
    assert_eq!(result.unwrap().attempts, 2);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let requests = server.requests_for("a.bin");
    assert_eq!(requests[0].header("range"), None);
    let resumed_at: u64 = requests[1]
        .header("range")
        .unwrap()
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(
        resumed_at > 0 && resumed_at <= 400_000,
        "resumed at {resumed_at}"
    );
    assert!(events.contains(&Event::Started {
        url: server.url("a.bin"),
        total: Some(1_000_000),
        offset: resumed_at
    }));
}

#[test]
fn server_ignoring_range_restarts_cleanly() {
    let server = Server::start();
    let body = payload(200_000);
    // No Range support: the second answer is the whole body again, which must not be appended.
    server.script(
        "/a.bin",
        vec![Reply::ok(body.clone()).drop_after(50_000)],
        Reply::ok(body.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("a.bin");
    let (result, _) = fetch(
        &client(),
        &Request::new(server.url("a.bin")).sha256(sha(&body)),
        &dest,
    );
    result.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

#[test]
fn server_errors_twice_then_ok_is_retried() {
    let server = Server::start();
    let body = payload(1000);
    server.script(
        "/a.bin",
        vec![Reply::status(500), Reply::status(503)],
        Reply::ok(body.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let (result, events) = fetch(
        &client(),
        &Request::new(server.url("a.bin")).sha256(sha(&body)),
        &dir.path().join("a.bin"),
    );
    assert_eq!(result.unwrap().attempts, 3);
    let retries: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Retrying { .. }))
        .collect();
    assert_eq!(retries.len(), 2, "{events:?}");
    assert_eq!(server.requests_for("a.bin").len(), 3);
}

#[test]
fn too_many_requests_waits_as_asked() {
    let server = Server::start();
    let body = payload(1000);
    server.script(
        "/a.bin",
        vec![Reply::status(429).header("Retry-After", "1")],
        Reply::ok(body.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let (result, events) = fetch(
        &client(),
        &Request::new(server.url("a.bin")).sha256(sha(&body)),
        &dir.path().join("a.bin"),
    );
    result.unwrap();
    // The wait is the server's, not our millisecond backoff.
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Retrying { delay, .. } if *delay == Duration::from_secs(1))
        ),
        "{events:?}"
    );
}

#[test]
fn retries_are_bounded() {
    let server = Server::start();
    server.route("/a.bin", Reply::status(502));
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(|options| options.retries = 2);
    let (result, _) = fetch(
        &client,
        &Request::new(server.url("a.bin")),
        &dir.path().join("a.bin"),
    );
    match result {
        Err(DownloadError::GaveUp {
            attempts: 3, last, ..
        }) => assert!(last.contains("502"), "{last}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests_for("a.bin").len(), 3);
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn not_found_is_final_and_not_retried() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = fetch(
        &client(),
        &Request::new(server.url("missing")),
        &dir.path().join("x"),
    );
    assert!(
        matches!(result, Err(DownloadError::Http { status: 404, .. })),
        "{result:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn wrong_checksum_leaves_nothing() {
    let server = Server::start();
    let body = payload(5000);
    server.route("/a.bin", Reply::ok(body));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("a.bin");
    let wrong = sha(b"something else");
    let (result, _) = fetch(
        &client(),
        &Request::new(server.url("a.bin")).sha256(wrong.clone()),
        &dest,
    );
    match result {
        Err(DownloadError::ChecksumMismatch { expected, .. }) => assert_eq!(expected, wrong),
        other => panic!("{other:?}"),
    }
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn truncated_body_with_honest_length_is_never_accepted() {
    let server = Server::start();
    let body = payload(10_000);
    // Every answer breaks off: retries run out and nothing is kept.
    server.route("/a.bin", Reply::ok(body.clone()).drop_after(4000));
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(|options| options.retries = 2);
    let (result, _) = fetch(
        &client,
        &Request::new(server.url("a.bin")),
        &dir.path().join("a.bin"),
    );
    assert!(
        matches!(result, Err(DownloadError::GaveUp { .. })),
        "{result:?}"
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn truncated_then_resumable_completes() {
    let server = Server::start();
    let body = payload(10_000);
    server.script(
        "/a.bin",
        vec![
            Reply::ok(body.clone()).ranges().drop_after(3000),
            Reply::ok(body.clone()).ranges().drop_after(3000),
        ],
        Reply::ok(body.clone()).ranges(),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("a.bin");
    let (result, _) = fetch(
        &client(),
        &Request::new(server.url("a.bin")).sha256(sha(&body)),
        &dest,
    );
    assert_eq!(result.unwrap().attempts, 3);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

#[test]
fn body_larger_than_published_is_refused() {
    let server = Server::start();
    server.route("/a.bin", Reply::ok(payload(5000)));
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = fetch(
        &client(),
        &Request::new(server.url("a.bin")).size(1000),
        &dir.path().join("a.bin"),
    );
    assert!(
        matches!(
            result,
            Err(DownloadError::TooLarge {
                limit: 1000,
                size: 5000,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn body_without_length_over_the_ceiling_is_cut_off() {
    let server = Server::start();
    server.route("/a.bin", Reply::ok(payload(2_000_000)).no_content_length());
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(|options| options.max_size = 1_000_000);
    let (result, _) = fetch(
        &client,
        &Request::new(server.url("a.bin")),
        &dir.path().join("a.bin"),
    );
    assert!(
        matches!(
            result,
            Err(DownloadError::TooLarge {
                limit: 1_000_000,
                ..
            })
        ),
        "{result:?}"
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn token_goes_only_to_its_own_host() {
    let api = Server::start();
    let cdn = Server::start_on("127.0.0.2");
    let body = payload(1000);
    cdn.route("/blob", Reply::ok(body.clone()));
    api.route("/asset", Reply::redirect(cdn.url("blob")));
    let dir = tempfile::tempdir().unwrap();
    let bearer = Bearer::new("t0ken-value", &api.base_url()).unwrap();
    let request = Request::new(api.url("asset"))
        .bearer(Some(bearer))
        .sha256(sha(&body));
    let (result, events) = fetch(&client(), &request, &dir.path().join("a"));
    result.unwrap();
    assert_eq!(
        api.requests()[0].header("authorization"),
        Some("Bearer t0ken-value")
    );
    assert_eq!(cdn.requests().len(), 1);
    assert_eq!(cdn.requests()[0].header("authorization"), None);
    assert!(!format!("{events:?}").contains("t0ken-value"));
}

#[test]
fn token_is_not_sent_to_another_port_on_the_same_ip() {
    let api = Server::start();
    let other = Server::start();
    other.route("/x", Reply::ok("x"));
    let bearer = Bearer::new("t0ken", &api.base_url()).unwrap();
    let page = client()
        .get(
            &Request::new(other.url("x")).bearer(Some(bearer)),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(page.body, b"x");
    assert_eq!(other.requests()[0].header("authorization"), None);
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = fetch(
        &client(),
        &Request::new("http://example.invalid/a"),
        &dir.path().join("a"),
    );
    assert!(
        matches!(result, Err(DownloadError::InsecureUrl { .. })),
        "{result:?}"
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn redirect_to_plain_http_elsewhere_is_refused() {
    let server = Server::start();
    server.route("/a", Reply::redirect("http://example.invalid/a"));
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = fetch(
        &client(),
        &Request::new(server.url("a")),
        &dir.path().join("a"),
    );
    assert!(
        matches!(result, Err(DownloadError::InsecureUrl { .. })),
        "{result:?}"
    );
}

#[test]
fn second_fetch_comes_from_the_cache() {
    let server = Server::start();
    let body = payload(70_000);
    server.route("/a.bin", Reply::ok(body.clone()));
    let cache = tempfile::tempdir().unwrap();
    let client = client_with(|options| options.cache_dir = Some(cache.path().to_owned()));
    let request = Request::new(server.url("a.bin")).sha256(sha(&body));
    let first = tempfile::tempdir().unwrap();
    assert!(
        !fetch(&client, &request, &first.path().join("a.bin"))
            .0
            .unwrap()
            .from_cache
    );
    let second = tempfile::tempdir().unwrap();
    let fetched = fetch(&client, &request, &second.path().join("a.bin"))
        .0
        .unwrap();
    assert!(fetched.from_cache);
    assert_eq!(std::fs::read(second.path().join("a.bin")).unwrap(), body);
    assert_eq!(server.requests().len(), 1, "the second fetch downloaded");
}

#[test]
fn corrupted_cache_entry_is_dropped_and_downloaded_again() {
    let server = Server::start();
    let body = payload(5000);
    server.route("/a.bin", Reply::ok(body.clone()));
    let cache_dir = tempfile::tempdir().unwrap();
    let client = client_with(|options| options.cache_dir = Some(cache_dir.path().to_owned()));
    let entry = download::Cache::new(cache_dir.path()).entry(&sha(&body));
    std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
    std::fs::write(&entry, vec![0u8; 5000]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetched = fetch(
        &client,
        &Request::new(server.url("a.bin")).sha256(sha(&body)),
        &dir.path().join("a.bin"),
    )
    .0
    .unwrap();
    assert!(!fetched.from_cache);
    assert_eq!(std::fs::read(&entry).unwrap(), body);
}

#[test]
fn rate_limit_says_when_it_resets() {
    let server = Server::start();
    server.route(
        "/api",
        Reply::status(403)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "4102444800")
            .body("{\"message\":\"API rate limit exceeded\"}"),
    );
    let error = client()
        .get(&Request::new(server.url("api")), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(
            error,
            DownloadError::RateLimited {
                status: 403,
                reset_at: Some(4_102_444_800),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("2100-01-01 00:00:00 UTC"),
        "{error}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn stalled_answer_times_out_and_is_retried() {
    let server = Server::start();
    let body = payload(100);
    server.script(
        "/a",
        vec![Reply::ok(body.clone()).delay(Duration::from_secs(3))],
        Reply::ok(body.clone()),
    );
    let client = client_with(|options| options.request_timeout = Duration::from_millis(300));
    let dir = tempfile::tempdir().unwrap();
    let (result, events) = fetch(
        &client,
        &Request::new(server.url("a")).sha256(sha(&body)),
        &dir.path().join("a"),
    );
    assert_eq!(result.unwrap().attempts, 2, "{events:?}");
}

#[test]
fn total_timeout_ends_the_fetch() {
    let server = Server::start();
    server.route("/a", Reply::status(503).header("Retry-After", "2"));
    let client = client_with(|options| options.total_timeout = Duration::from_millis(500));
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = fetch(
        &client,
        &Request::new(server.url("a")),
        &dir.path().join("a"),
    );
    assert!(
        matches!(result, Err(DownloadError::TimedOut { .. })),
        "{result:?}"
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn malformed_expected_checksum_is_refused_before_any_request() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = fetch(
        &client(),
        &Request::new(server.url("a")).sha256("ABC"),
        &dir.path().join("a"),
    );
    assert!(
        matches!(result, Err(DownloadError::BadChecksum { .. })),
        "{result:?}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn connection_refused_is_retried_then_reported() {
    // A port that was just free: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(|options| options.retries = 2);
    let url = format!("http://127.0.0.1:{port}/a");
    let (result, events) = fetch(&client, &Request::new(url), &dir.path().join("a"));
    assert!(
        matches!(result, Err(DownloadError::GaveUp { attempts: 3, .. })),
        "{result:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Retrying { .. }))
            .count(),
        2
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn cancel_mid_body_stops_and_keeps_nothing() {
    let server = Server::start();
    server.route("/a.bin", Reply::ok(payload(4_000_000)));
    let token = cancel::Token::new();
    let client = client_with({
        let token = token.clone();
        move |options| options.cancel = token
    });
    let dir = tempfile::tempdir().unwrap();
    // Cancelled from the progress callback, once the body has started.
    let mut events = Vec::new();
    let result = client.fetch(
        &Request::new(server.url("a.bin")),
        &dir.path().join("a.bin"),
        &mut |event| {
            if matches!(event, Event::Progress { .. }) {
                token.cancel(cancel::Reason::Signal(2));
            }
            events.push(event.clone());
        },
    );
    assert_eq!(
        result.as_ref().err().and_then(DownloadError::cancelled),
        Some(&cancel::Reason::Signal(2)),
        "the error carries the token's reason: {result:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::Progress { .. })),
        "cancelled before the body"
    );
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn cancel_interrupts_a_long_retry_wait() {
    let server = Server::start();
    server.route("/a", Reply::status(503).header("Retry-After", "100"));
    let token = cancel::Token::new();
    let client = client_with({
        let token = token.clone();
        move |options| {
            options.max_retry_after = Duration::from_secs(1000);
            options.cancel = token;
        }
    });
    // Cancelled from another thread while the client waits out the 100 s Retry-After.
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            token.cancel(cancel::Reason::Signal(15));
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let (result, events) = fetch(
        &client,
        &Request::new(server.url("a")),
        &dir.path().join("a"),
    );
    assert_eq!(
        result.as_ref().err().and_then(DownloadError::cancelled),
        Some(&cancel::Reason::Signal(15)),
        "{result:?}"
    );
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Retrying { delay, .. } if *delay == Duration::from_secs(100))
        )
    );
    assert_eq!(server.requests().len(), 1);
    canceller.join().unwrap();
}

#[test]
fn writes_send_their_body_retry_like_gets_and_follow_only_307_and_308() {
    let server = Server::start();
    server.script(
        "/hook",
        vec![Reply::status(503)],
        Reply::status(307).header("Location", "/moved"),
    );
    server.route_method("PATCH", "/moved", Reply::json(r#"{"ok":true}"#));
    let request = Request::new(server.url("/hook")).header("Content-Type", "application/json");
    let page = client()
        .send(
            Method::Patch,
            &request,
            br#"{"state":"closed"}"#,
            &mut |_| {},
        )
        .unwrap();
    assert_eq!((page.status, page.attempts), (200, 2));
    assert_eq!(page.body, br#"{"ok":true}"#);
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|r| r.method == "PATCH"));
    assert!(seen.iter().all(|r| r.body == br#"{"state":"closed"}"#));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));

    // A 302 would turn a write into a GET elsewhere: it is the answer, not followed.
    server.route("/found", Reply::redirect("/moved"));
    let error = client()
        .send(
            Method::Post,
            &Request::new(server.url("/found")),
            b"{}",
            &mut |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(error, DownloadError::Http { status: 302, .. }),
        "{error}"
    );
}

//! The webhook: posted once, retried after a 500, bounded when nobody answers, and the secret
//! URL never shown.

use std::net::TcpListener;
use std::time::Duration;

use download::Secret;
use notify::{Delivery, NotifyError, WebhookOptions, post_webhook};
use serde_json::Value;
use testkit::http::{Reply, Server};

use crate::failed;

/// Fast retries for tests: waits of milliseconds, a bound of seconds.
fn options(url: String) -> WebhookOptions {
    WebhookOptions {
        backoff_base: Duration::from_millis(10),
        request_timeout: Duration::from_secs(5),
        ..WebhookOptions::new(Secret::new(url))
    }
}

#[test]
fn posts_the_message_once() {
    let server = Server::start();
    server.route_method("POST", "/hooks/T0/secret", Reply::status(200).body("ok"));
    let delivery = post_webhook(&failed(), &options(server.url("/hooks/T0/secret"))).unwrap();
    assert_eq!(
        delivery,
        Delivery {
            attempts: 1,
            status: 200
        }
    );
    let posts = server.requests();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].method, "POST");
    assert_eq!(posts[0].header("content-type"), Some("application/json"));
    let json: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(json["release"], "kgateway v2.1.0");
    assert_eq!(json["project"], "kgateway");
    assert_eq!(json["tag"], "v2.1.0");
    assert_eq!(json["verdict"], "failed");
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["failing_step"]["name"], "conformance");
    assert_eq!(json["failing_cases"][1], "health-eviction");
    assert_eq!(json["run_url"], "https://github.com/o/r/actions/runs/7");
    let text = json["text"].as_str().unwrap();
    assert!(
        text.starts_with("kgateway v2.1.0: verification failed"),
        "{text}"
    );
    assert!(
        text.contains("weighted-split") && text.contains("/actions/runs/7"),
        "{text}"
    );
}

#[test]
fn retries_after_a_500_then_delivers() {
    let server = Server::start();
    server.script(
        "/hook",
        vec![
            Reply::status(500),
            Reply::status(429).header("Retry-After", "0"),
        ],
        Reply::status(204),
    );
    let delivery = post_webhook(&failed(), &options(server.url("/hook"))).unwrap();
    assert_eq!(
        delivery,
        Delivery {
            attempts: 3,
            status: 204
        }
    );
    let bodies: Vec<String> = server.requests().iter().map(|r| r.body_text()).collect();
    assert_eq!(bodies.len(), 3);
    assert!(
        bodies.iter().all(|body| *body == bodies[0]),
        "the same message each time"
    );
}

#[test]
fn a_webhook_that_never_answers_fails_within_its_bound() {
    // Connections are accepted by the kernel and never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let options = WebhookOptions {
        attempts: 3,
        request_timeout: Duration::from_millis(200),
        total_timeout: Duration::from_secs(1),
        ..options(url)
    };
    let error = post_webhook(&failed(), &options).unwrap_err();
    assert!(
        matches!(error, NotifyError::Undelivered { .. }),
        "{error:?}"
    );
}

#[test]
fn the_secret_url_appears_in_no_error_or_debug_output() {
    let server = Server::start();
    server.route(
        "/services/T0/B0/s3cr3t",
        Reply::status(404).body("no_service"),
    );
    let gone = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!(
        "http://{}/services/T0/B0/s3cr3t",
        gone.local_addr().unwrap()
    );
    drop(gone);
    let urls = [
        server.url("/services/T0/B0/s3cr3t"),
        refused,
        "http://hooks.example/services/T0/B0/s3cr3t".to_owned(),
        "ftp://hooks.example/services/T0/B0/s3cr3t".to_owned(),
    ];
    for url in urls {
        let options = WebhookOptions {
            attempts: 2,
            total_timeout: Duration::from_secs(2),
            ..options(url.clone())
        };
        let error = post_webhook(&failed(), &options).unwrap_err();
        let shown = format!("{error} {error:?} {options:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("T0/B0"), "{shown}");
        assert!(!shown.contains(&url), "{shown}");
    }
}

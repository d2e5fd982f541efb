//! The request engine against scripted servers: the framings a gateway may use, a reused
//! connection the server closed meanwhile, and bounded-concurrency driving.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conformance::client::{self, BaseUrl, Client, Request};

/// Serves each connection with `respond(request_index_on_connection)` raw bytes, then applies
/// `close_after` (close after that many responses on a connection). Counts connections.
fn scripted(responses: Vec<&'static str>, close_after: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let responses = responses.clone();
            std::thread::spawn(move || serve(stream, &responses, close_after));
        }
    });
    (url, connections)
}

fn serve(stream: TcpStream, responses: &[&str], close_after: usize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for index in 0..close_after {
        // Read one request head.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
        }
        let response = responses[index % responses.len()];
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn client_for(url: &str) -> Client {
    Client::new(BaseUrl::parse(url).unwrap(), Duration::from_secs(5))
}

fn reads_content_length_chunked_and_close_delimited_bodies() {
    let (url, _) = scripted(
        vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
            "HTTP/1.0 200 OK\r\n\r\nuntil close",
        ],
        3,
    );
    let client = client_for(&url);
    let first = client.send(&Request::get("/a")).unwrap();
    assert_eq!((first.status, first.body.as_slice()), (200, &b"hello"[..]));
    let second = client.send(&Request::get("/b")).unwrap();
    assert_eq!(
        (second.status, second.body.as_slice()),
        (404, &b"abcde"[..])
    );
    let third = client.send(&Request::get("/c")).unwrap();
    assert_eq!(third.body, b"until close");
}

fn keeps_connections_alive_and_retries_one_the_server_closed_while_idle() {
    // The server answers one request per connection without saying it will close.
    let (url, connections) = scripted(vec!["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], 1);
    let client = client_for(&url);
    for _ in 0..3 {
        let response = client.send(&Request::get("/")).unwrap();
        assert_eq!(response.body, b"ok");
        // Give the server's close time to arrive, so the pooled connection is stale.
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        3,
        "each stale connection was replaced"
    );

    let (url, connections) = scripted(
        vec!["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
        usize::MAX,
    );
    let client = client_for(&url);
    for _ in 0..20 {
        client.send(&Request::get("/")).unwrap();
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one keep-alive connection carries all"
    );
}

fn drive_stops_when_told_and_bounds_concurrency() {
    let fixture = conformance::fixture::LocalFixture::start(&[0; 6]).unwrap();
    let client = client_for(&fixture.replicas[0].server.url());
    let mut seen = 0u64;
    let sent = client::drive(
        &client,
        4,
        1000,
        |index| Request::get(&format!("/{index}")),
        |result| {
            assert_eq!(result.unwrap().status, 200);
            seen += 1;
            seen < 50
        },
    );
    assert!(seen >= 50 && sent >= 50, "seen {seen}, sent {sent}");
    assert!(
        sent <= 50 + 4 + 16,
        "at most the in-flight and queued requests run past the stop: {sent}"
    );
    let all = client::drive(&client, 3, 30, |_| Request::get("/"), |_| true);
    assert_eq!(all, 30);
}

pub(crate) fn tests() -> Vec<test_harness::Test> {
    test_harness::tests![
        reads_content_length_chunked_and_close_delimited_bodies,
        keeps_connections_alive_and_retries_one_the_server_closed_while_idle,
        drive_stops_when_told_and_bounds_concurrency,
    ]
}

//! echo's integration tests: a real server on a free loopback port, spoken to over raw TCP so
//! the exact bytes on the wire are what is asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};

fn start() -> (echo::Server, Arc<Mutex<Vec<String>>>) {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&lines);
    let log: echo::RequestLog =
        Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_owned()));
    let identity = echo::Identity {
        pod: "infra-backend-v1-local-0".into(),
        namespace: "gateway-conformance-infra".into(),
        ..echo::Identity::default()
    };
    let address: SocketAddr = "127.0.0.1:0".parse().unwrap();
    (
        echo::Server::start(address, identity, Some(log)).unwrap(),
        lines,
    )
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        stdx::http::header(&self.headers, name)
    }

    fn echo(&self) -> echo::EchoBody {
        serde_json::from_slice(&self.body).expect("an echo body")
    }
}

/// Sends raw bytes and reads one response (Content-Length framed) from the same connection.
fn exchange(reader: &mut BufReader<TcpStream>, raw: &str) -> Reply {
    reader.get_mut().write_all(raw.as_bytes()).unwrap();
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let length: usize = stdx::http::header(&headers, "content-length")
        .map(|v| v.parse().unwrap())
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

fn connect(server: &echo::Server) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(server.local_addr()).unwrap())
}

#[test]
fn echoes_the_request_in_the_echo_basic_shape() {
    let (server, log) = start();
    let mut connection = connect(&server);
    let reply = exchange(
        &mut connection,
        "GET /v1/x?a=1&b=%20 HTTP/1.1\r\nHost: example.com\r\nx-custom: one\r\nX-CUSTOM: two\r\nversion: two\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
    let body = reply.echo();
    assert_eq!(body.path, "/v1/x?a=1&b=%20");
    assert_eq!(body.host, "example.com");
    assert_eq!(body.method, "GET");
    assert_eq!(body.proto, "HTTP/1.1");
    assert_eq!(body.headers["X-Custom"], ["one", "two"]);
    assert_eq!(body.header("VERSION"), Some("two"));
    assert!(!body.headers.contains_key("Host"));
    assert_eq!(body.pod, "infra-backend-v1-local-0");
    assert_eq!(body.namespace, "gateway-conformance-infra");
    // The field order is echo-basic's: clients that stream the JSON rely on nothing else.
    let text = String::from_utf8(reply.body).unwrap();
    let order: Vec<usize> = [
        "\"path\"",
        "\"host\"",
        "\"method\"",
        "\"proto\"",
        "\"headers\"",
        "\"namespace\"",
        "\"pod\"",
    ]
    .iter()
    .map(|key| text.find(key).unwrap())
    .collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    assert_eq!(
        log.lock()
            .unwrap()
            .last()
            .unwrap()
            .split(" to client")
            .next()
            .unwrap(),
        "Echoing back request made to /v1/x?a=1&b=%20"
    );
}

#[test]
fn keeps_the_connection_alive_and_honours_close() {
    let (server, _) = start();
    let mut connection = connect(&server);
    for path in ["/a", "/b", "/c"] {
        let reply = exchange(
            &mut connection,
            &format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n"),
        );
        assert_eq!(reply.echo().path, path);
        assert!(reply.header("Connection").is_none());
    }
    let reply = exchange(
        &mut connection,
        "POST /d HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(reply.echo().method, "POST");
    assert_eq!(reply.header("Connection"), Some("close"));
    let mut rest = Vec::new();
    connection.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the server closed after Connection: close");
}

#[test]
fn head_gets_the_headers_without_a_body() {
    let (server, _) = start();
    let mut connection = connect(&server);
    connection
        .get_mut()
        .write_all(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut head = String::new();
    loop {
        let mut line = String::new();
        connection.read_line(&mut line).unwrap();
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    // The same connection answers the next request at once: no stray body bytes in between.
    let reply = exchange(&mut connection, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(reply.echo().path, "/after");
}

#[test]
fn expect_100_continue_gets_the_interim_response_before_the_body() {
    let (server, _) = start();
    let mut connection = connect(&server);
    connection
        .get_mut()
        .write_all(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    let mut interim = String::new();
    connection.read_line(&mut interim).unwrap();
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n");
    let mut blank = String::new();
    connection.read_line(&mut blank).unwrap();
    let reply = exchange(&mut connection, "body");
    assert_eq!((reply.status, reply.echo().path.as_str()), (200, "/upload"));
}

#[test]
fn status_paths_and_set_header() {
    let (server, _) = start();
    let mut connection = connect(&server);
    let reply = exchange(
        &mut connection,
        "GET /status/418 HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(reply.status, 418);
    assert!(reply.body.is_empty());
    let reply = exchange(
        &mut connection,
        "GET /status/abc HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(reply.status, 400);
    let reply = exchange(
        &mut connection,
        "GET /x HTTP/1.1\r\nHost: h\r\nX-Echo-Set-Header: x-one:1, X-Two: b\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("X-One"), Some("1"));
    assert_eq!(reply.header("X-Two"), Some("b"));
}

#[test]
fn health_flips_with_the_control_endpoints() {
    let (server, _) = start();
    let mut connection = connect(&server);
    let health = |connection: &mut BufReader<TcpStream>| {
        exchange(connection, "GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
    };
    let reply = health(&mut connection);
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"OK"[..]));
    let reply = exchange(
        &mut connection,
        "GET /_echo/health/fail HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(reply.status, 405, "a GET must not flip health");
    assert_eq!(health(&mut connection).status, 200);
    let reply = exchange(
        &mut connection,
        "POST /_echo/health/fail HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(reply.status, 200);
    assert!(!server.is_healthy());
    assert_eq!(health(&mut connection).status, 503);
    // Unhealthy replicas still echo: eviction is the gateway's job.
    assert_eq!(
        exchange(&mut connection, "GET /v1 HTTP/1.1\r\nHost: h\r\n\r\n").status,
        200
    );
    exchange(
        &mut connection,
        "POST /_echo/health/ok HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert_eq!(health(&mut connection).status, 200);
}

#[test]
fn malformed_requests_get_400_and_dropping_the_server_closes_connections() {
    let (server, _) = start();
    let mut connection = connect(&server);
    let reply = exchange(&mut connection, "HELLO\r\n\r\n");
    assert_eq!(reply.status, 400);
    let mut idle = connect(&server);
    exchange(&mut idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    drop(server);
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap_or(0), 0);
}

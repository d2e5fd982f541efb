//! A scriptable HTTP/1.1 server on 127.0.0.1 for tests: each path answers with scripted
//! replies (status, headers, body, a dropped connection after N bytes, a delay, `Range`
//! support), and every request is recorded with its headers so a test can assert what a client
//! sent (a token that must not reach a host, a `Range` header on a resume).
//!
//! It binds port 0 and reports the port it got; it speaks just enough HTTP for GET, HEAD and
//! writes with a `Content-Length` body (POST, PATCH, PUT: the body is recorded), and closes the
//! connection after every response, so no client pool state leaks between replies.
//!
//! Routes match by path ([`Server::route`], any method) or by method and path
//! ([`Server::route_method`], which wins); a [`Server::handler`] answers what no route does, for
//! a stand-in that keeps state (an API whose list grows with every POST).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

// Poison-tolerant: a panicking connection thread must not hide what the test asserts on.
use stdx::lock;

mod reply;

pub use reply::{Body, Recorded, Reply};

/// Answers requests no route matches; `None` falls through to 404.
pub type Handler = dyn Fn(&Recorded) -> Option<Reply> + Send + Sync;

/// Requests bodies larger than this are refused: the server is for small API writes.
const MAX_REQUEST_BODY: u64 = 16 * 1024 * 1024;

struct Route {
    script: VecDeque<Reply>,
    then: Reply,
}

#[derive(Default)]
struct Shared {
    /// Keyed by (method, path); the method is empty for routes that take any method.
    routes: Mutex<HashMap<(String, String), Route>>,
    handler: Mutex<Option<Arc<Handler>>>,
    log: Mutex<Vec<Recorded>>,
}

/// The running server; stops accepting on drop.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server on 127.0.0.1 and a free port. Unknown paths answer 404.
    pub fn start() -> Server {
        Server::start_on("127.0.0.1")
    }

    /// Starts a server on another loopback address (`127.0.0.2` is a second "host").
    pub fn start_on(ip: &str) -> Server {
        let listener =
            TcpListener::bind((ip, 0)).expect("bind a loopback port for the test server");
        let addr = listener.local_addr().expect("read back the bound port");
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    thread::spawn(move || {
                        // A client hanging up mid-reply is a normal event in fault tests.
                        let _ = serve(stream, &shared);
                    });
                }
            })
        };
        Server {
            addr,
            shared,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url(), path.trim_start_matches('/'))
    }

    /// `path` always answers `reply`.
    pub fn route(&self, path: &str, reply: Reply) {
        self.script(path, Vec::new(), reply);
    }

    /// `path` answers each of `script` once, in order, then `then` for every later request.
    pub fn script(&self, path: &str, script: Vec<Reply>, then: Reply) {
        self.script_method("", path, script, then);
    }

    /// `method` on `path` always answers `reply`; other methods on `path` fall back to a route
    /// for any method, then to the handler.
    pub fn route_method(&self, method: &str, path: &str, reply: Reply) {
        self.script_method(method, path, Vec::new(), reply);
    }

    /// [`Server::script`] for one method (`""` means any method).
    pub fn script_method(&self, method: &str, path: &str, script: Vec<Reply>, then: Reply) {
        lock(&self.shared.routes).insert(
            (method.to_ascii_uppercase(), normalize(path)),
            Route {
                script: script.into(),
                then,
            },
        );
    }

    /// Answers every request no route matches (`None`: 404). It sees the whole request, body
    /// included, so a test can keep state in it: an API whose answers follow earlier writes.
    pub fn handler(&self, handler: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static) {
        *lock(&self.shared.handler) = Some(Arc::new(handler));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    /// The requests for one path (query ignored).
    pub fn requests_for(&self, path: &str) -> Vec<Recorded> {
        let path = normalize(path);
        self.requests()
            .into_iter()
            .filter(|request| request.path() == path)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn normalize(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("").to_owned();
    let target = words.next().unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: u64 = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST_BODY {
        let request = Recorded {
            method,
            target,
            headers,
            body: Vec::new(),
        };
        lock(&shared.log).push(request.clone());
        return respond(stream, &request, &Reply::status(413));
    }
    let mut body = Vec::new();
    reader.by_ref().take(length).read_to_end(&mut body)?;
    let request = Recorded {
        method,
        target,
        headers,
        body,
    };
    lock(&shared.log).push(request.clone());

    let routed = {
        let mut routes = lock(&shared.routes);
        let exact = (
            request.method.to_ascii_uppercase(),
            request.path().to_owned(),
        );
        let any = (String::new(), request.path().to_owned());
        let key = if routes.contains_key(&exact) {
            Some(exact)
        } else if routes.contains_key(&any) {
            Some(any)
        } else {
            None
        };
        key.and_then(|key| routes.get_mut(&key)).map(|route| {
            route
                .script
                .pop_front()
                .unwrap_or_else(|| route.then.clone())
        })
    };
    let reply = match routed {
        Some(reply) => reply,
        None => {
            // Cloned out so the handler runs without the lock (it may take its own).
            let handler = lock(&shared.handler).clone();
            handler
                .and_then(|handler| handler(&request))
                .unwrap_or_else(|| Reply::status(404).body("no such route"))
        }
    };
    if let Some(delay) = reply.delay {
        thread::sleep(delay);
    }
    respond(stream, &request, &reply)
}

fn respond(mut stream: TcpStream, request: &Recorded, reply: &Reply) -> io::Result<()> {
    let total = reply.body.len()?;
    let mut status = reply.status;
    let mut start = 0;
    let mut end = total; // exclusive
    let mut extra = Vec::new();
    if reply.ranges && status == 200 {
        extra.push(("Accept-Ranges".to_owned(), "bytes".to_owned()));
        if let Some((from, to)) = request.header("range").and_then(parse_range) {
            if from >= total {
                status = 416;
                end = 0;
                extra.push(("Content-Range".to_owned(), format!("bytes */{total}")));
            } else {
                status = 206;
                start = from;
                end = to.map_or(total, |to| (to + 1).min(total));
                extra.push((
                    "Content-Range".to_owned(),
                    format!("bytes {start}-{}/{total}", end - 1),
                ));
            }
        }
    }
    let length = end - start;
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in reply.headers.iter().chain(&extra) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !reply.omit_length {
        let declared = reply.declared_length.unwrap_or(length);
        head.push_str(&format!("Content-Length: {declared}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    if request.method != "HEAD" {
        let send = reply.drop_after.map_or(length, |limit| limit.min(length));
        let (first, pause) = match reply.stall {
            Some((bytes, pause)) => (bytes.min(send), Some(pause)),
            None => (send, None),
        };
        send_paced(&mut stream, &reply.body, start, first, reply.rate)?;
        if let Some(pause) = pause {
            stream.flush()?;
            thread::sleep(pause);
            send_paced(
                &mut stream,
                &reply.body,
                start + first,
                send - first,
                reply.rate,
            )?;
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

/// Sends `count` bytes of `body` from `offset`, no faster than `rate` bytes a second if set:
/// in slices of a fiftieth of a second, each sent when the schedule from the start allows.
fn send_paced(
    stream: &mut TcpStream,
    body: &Body,
    offset: u64,
    count: u64,
    rate: Option<u64>,
) -> io::Result<()> {
    let Some(rate) = rate else {
        return send_body(stream, body, offset, count);
    };
    let slice = (rate / 50).max(1);
    let started = std::time::Instant::now();
    let mut sent = 0;
    while sent < count {
        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            thread::sleep(wait);
        }
        let now = slice.min(count - sent);
        send_body(stream, body, offset + sent, now)?;
        sent += now;
    }
    Ok(())
}

/// Sends `count` bytes of `body` from `offset`.
fn send_body(stream: &mut TcpStream, body: &Body, offset: u64, count: u64) -> io::Result<()> {
    match body {
        Body::Bytes(bytes) => {
            let from = offset as usize;
            stream.write_all(&bytes[from..from + count as usize])
        }
        Body::File(path) => {
            let mut file = File::open(path)?;
            io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
            // File to socket: std uses sendfile here, so the server is not the bottleneck
            // when a benchmark compares clients.
            io::copy(&mut file.take(count), stream).map(|_| ())
        }
    }
}

fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.strip_prefix("bytes=")?;
    let (from, to) = spec.split_once('-')?;
    let from = from.trim().parse().ok()?;
    let to = match to.trim() {
        "" => None,
        to => Some(to.parse().ok()?),
    };
    Some((from, to))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(server: &Server, path: &str, extra: &str) -> String {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn scripts_then_repeats_and_records() {
        let server = Server::start();
        server.script("/a", vec![Reply::status(500)], Reply::ok("fine").ranges());
        assert!(get(&server, "/a", "").starts_with("HTTP/1.1 500"));
        assert!(get(&server, "/a", "").ends_with("\r\n\r\nfine"));
        let ranged = get(&server, "/a?x=1", "Range: bytes=2-\r\n");
        assert!(ranged.starts_with("HTTP/1.1 206"), "{ranged}");
        assert!(ranged.contains("Content-Range: bytes 2-3/4"), "{ranged}");
        assert!(ranged.ends_with("ne"), "{ranged}");
        assert!(get(&server, "/missing", "").starts_with("HTTP/1.1 404"));
        let seen = server.requests_for("a");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2].header("Range"), Some("bytes=2-"));
    }

    fn send(server: &Server, method: &str, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn routes_by_method_records_bodies_and_falls_back_to_the_handler() {
        let server = Server::start();
        server.route("/items", Reply::json("[]"));
        server.route_method("POST", "/items", Reply::status(201).body("made"));
        server.handler(|request| {
            (request.method == "PATCH").then(|| Reply::ok(format!("patched {}", request.path())))
        });
        assert!(get(&server, "/items?page=2", "").ends_with("\r\n\r\n[]"));
        let created = send(&server, "POST", "/items", "{\"a\":1}");
        assert!(created.starts_with("HTTP/1.1 201 Created"), "{created}");
        assert!(send(&server, "PATCH", "/items/7", "{}").ends_with("patched /items/7"));
        assert!(send(&server, "PUT", "/nothing", "x").starts_with("HTTP/1.1 404"));
        let seen = server.requests();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].query(), "page=2");
        assert_eq!(
            (seen[1].method.as_str(), seen[1].body_text()),
            ("POST", "{\"a\":1}".to_owned())
        );
        assert_eq!(seen[2].body, b"{}");
    }

    #[test]
    fn drops_after_n_bytes_with_honest_length() {
        let server = Server::start();
        server.route("/big", Reply::ok(vec![7u8; 100]).drop_after(10));
        let text = get(&server, "/big", "");
        assert!(text.contains("Content-Length: 100"), "{text}");
        assert_eq!(text.split("\r\n\r\n").nth(1).unwrap().len(), 10);
    }

    #[test]
    fn a_rate_paces_the_body_without_changing_it() {
        let server = Server::start();
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        // 200 kB at 400 kB/s in 8 kB slices: the 25th slice is due 0.48 s after the first.
        server.route("/slow", Reply::ok(body.clone()).rate(400_000));
        let started = std::time::Instant::now();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        write!(stream, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let elapsed = started.elapsed();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(&raw[split..], &body[..]);
        // Sleeps never end early, so this lower bound holds on any machine, however slow.
        assert!(
            elapsed >= Duration::from_millis(480),
            "took only {elapsed:?}"
        );
    }
}

//! echo: the test backend. It serves the echo-basic contract of the Gateway API conformance
//! images (every request answered with a JSON description of itself, `/status/NNN`,
//! `X-Echo-Set-Header`) plus a health endpoint the tests can flip: `GET /health` answers 200 `OK`,
//! or 503 while the replica is marked unhealthy by `POST /_echo/health/fail` (and healthy again
//! by `POST /_echo/health/ok`).
//!
//! Hand-written HTTP/1.1 on std (a thread per connection, keep-alive) so the exact bytes are
//! ours: `Content-Type: application/json` with no charset, the raw request target, Go's
//! canonical header names. The library never prints: request lines go to an optional callback.

mod http;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use serde::{Deserialize, Serialize};

pub use http::canonical_header_name;

/// The JSON body of an echoed request, in echo-basic's field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EchoBody {
    /// The raw request target, query included.
    pub path: String,
    pub host: String,
    pub method: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub proto: String,
    /// Canonical header name → values in arrival order; `Host` is not in it.
    pub headers: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub http_port: String,
    pub namespace: String,
    pub ingress: String,
    pub service: String,
    pub pod: String,
}

impl EchoBody {
    /// The first value of a header, looked up by any spelling of its name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&canonical_header_name(name))
            .and_then(|values| values.first())
            .map(String::as_str)
    }
}

/// Who this replica says it is (echo-basic reads these from its environment).
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub pod: String,
    pub namespace: String,
    pub ingress: String,
    pub service: String,
    /// Reported as `httpPort`; left out of the body when empty.
    pub http_port: String,
}

/// Called once per echoed request with echo-basic's log line.
pub type RequestLog = Arc<dyn Fn(&str) + Send + Sync>;

struct State {
    identity: Identity,
    healthy: AtomicBool,
    shutting_down: AtomicBool,
    requests: AtomicU64,
    log: Option<RequestLog>,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
}

/// A running echo server. Dropping it stops accepting, closes every open connection and joins
/// the accept thread.
pub struct Server {
    address: SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `address` (port 0 picks a free port) and starts serving on background threads.
    pub fn start(
        address: SocketAddr,
        identity: Identity,
        log: Option<RequestLog>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            identity,
            healthy: AtomicBool::new(true),
            shutting_down: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            log,
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
        });
        let accept_state = Arc::clone(&state);
        let acceptor = thread::Builder::new()
            .name(format!("echo-accept-{}", address.port()))
            .spawn(move || accept_loop(&listener, &accept_state))?;
        Ok(Server {
            address,
            state,
            acceptor: Some(acceptor),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// `http://ADDRESS`, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn pod(&self) -> &str {
        &self.state.identity.pod
    }

    /// What `GET /health` answers from now on (the same switch as the POST endpoints).
    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn is_healthy(&self) -> bool {
        self.state.healthy.load(Ordering::SeqCst)
    }

    /// Requests answered so far, health checks included.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Blocks the calling thread until the server stops (the binary's main thread).
    pub fn wait(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.shutting_down.store(true, Ordering::SeqCst);
        // accept() only returns on a connection: make one so the loop sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let connections = std::mem::take(&mut *stdx::lock(&self.state.connections));
        for stream in connections.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, state: &Arc<State>) {
    for stream in listener.incoming() {
        if state.shutting_down.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors or an aborted handshake: the next accept may work.
            continue;
        };
        let _ = stream.set_nodelay(true);
        let id = state.next_connection.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            stdx::lock(&state.connections).insert(id, clone);
        }
        let connection_state = Arc::clone(state);
        let spawned = thread::Builder::new()
            .name("echo-conn".to_owned())
            .spawn(move || {
                let _ = serve_connection(stream, &connection_state);
                stdx::lock(&connection_state.connections).remove(&id);
            });
        if spawned.is_err() {
            stdx::lock(&state.connections).remove(&id);
        }
    }
}

fn serve_connection(stream: TcpStream, state: &State) -> io::Result<()> {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut reader = BufReader::with_capacity(16 * 1024, stream.try_clone()?);
    let mut writer = io::BufWriter::with_capacity(16 * 1024, stream);
    loop {
        let continue_100 = || {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()
        };
        let request = match http::read_request(&mut reader, continue_100) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(http::ReadError::Io(error)) => return Err(error),
            Err(http::ReadError::Malformed(why)) => {
                let response = http::Response::text(400, &format!("bad request: {why}\n"));
                response.write(&mut writer, false, false)?;
                writer.flush()?;
                return Ok(());
            }
        };
        if state.shutting_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        state.requests.fetch_add(1, Ordering::Relaxed);
        let keep_alive = request.keep_alive();
        let response = respond(&request, state, &peer);
        response.write(&mut writer, keep_alive, request.method == "HEAD")?;
        writer.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// The answer to one request: the whole contract in one place.
fn respond(request: &http::Request, state: &State, peer: &str) -> http::Response {
    let path_only = request.target.split('?').next().unwrap_or_default();
    let mut response = match path_only {
        "/health" => {
            if state.healthy.load(Ordering::SeqCst) {
                http::Response::text(200, "OK")
            } else {
                http::Response::text(503, "unhealthy")
            }
        }
        "/_echo/health/fail" | "/_echo/health/ok" => {
            if request.method == "POST" {
                let healthy = path_only.ends_with("/ok");
                state.healthy.store(healthy, Ordering::SeqCst);
                http::Response::text(200, if healthy { "healthy\n" } else { "unhealthy\n" })
            } else {
                let mut response = http::Response::text(405, "use POST\n");
                response.headers.push(("Allow".into(), "POST".into()));
                response
            }
        }
        _ if path_only.starts_with("/status/") => {
            match path_only["/status/".len()..].parse::<u16>() {
                Ok(code) if (200..=599).contains(&code) => http::Response::empty(code),
                _ => http::Response::text(400, "status must be a number between 200 and 599\n"),
            }
        }
        _ => {
            if let Some(log) = &state.log {
                log(&format!(
                    "Echoing back request made to {} to client ({peer})",
                    request.target
                ));
            }
            http::Response::json(200, echo_body(request, &state.identity))
        }
    };
    for value in request.header_values("X-Echo-Set-Header") {
        for pair in value.split(',') {
            if let Some((name, value)) = pair.split_once(':') {
                let name = name.trim();
                if !name.is_empty() {
                    response
                        .headers
                        .push((canonical_header_name(name), value.trim().to_owned()));
                }
            }
        }
    }
    response
}

fn echo_body(request: &http::Request, identity: &Identity) -> Vec<u8> {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut host = String::new();
    for (name, value) in &request.headers {
        let canonical = canonical_header_name(name);
        if canonical == "Host" {
            host.clone_from(value);
            continue;
        }
        headers.entry(canonical).or_default().push(value.clone());
    }
    let body = EchoBody {
        path: request.target.clone(),
        host,
        method: request.method.clone(),
        proto: request.version.clone(),
        headers,
        http_port: identity.http_port.clone(),
        namespace: identity.namespace.clone(),
        ingress: identity.ingress.clone(),
        service: identity.service.clone(),
        pod: identity.pod.clone(),
    };
    serde_json::to_vec(&body).expect("an echo body always serializes")
}

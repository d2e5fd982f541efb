//! The request engine: an HTTP/1.1 client on std with keep-alive connection reuse, and a
//! bounded-concurrency driver for the statistical cases and the benchmark.
//!
//! Hand-written so the suite controls the exact request (raw target, Host header) and stays
//! fast to compile; it speaks only plain `http://`, which is all the fixture listens on.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

/// A parsed `http://host:port` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `host:port` as written (the default Host header).
    pub authority: String,
    pub address: SocketAddr,
}

impl BaseUrl {
    /// Parses `http://HOST[:PORT][/]`; anything else is a user mistake with a fix in the message.
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(format!(
                "`{url}` is not an http:// URL; the suite speaks plain HTTP, e.g. http://127.0.0.1:8080"
            ));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{url}` must be a bare base URL without a path, e.g. http://127.0.0.1:8080"
            ));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let address = with_port
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve `{authority}` in `{url}`: {error}"))?
            .next()
            .ok_or_else(|| format!("`{authority}` in `{url}` resolves to no address"))?;
        Ok(BaseUrl {
            authority: authority.to_owned(),
            address,
        })
    }
}

/// One request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The raw request target, e.g. `/v1/x?a=b`.
    pub target: String,
    /// The Host header; None sends the base URL's authority.
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn get(target: &str) -> Request {
        Request {
            method: "GET".to_owned(),
            target: target.to_owned(),
            host: None,
            headers: Vec::new(),
        }
    }

    pub fn post(target: &str) -> Request {
        Request {
            method: "POST".to_owned(),
            ..Request::get(target)
        }
    }

    pub fn with_host(mut self, host: &str) -> Request {
        self.host = Some(host.to_owned());
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// How a person would write it: `GET /headers (Host: v3.example.com, version: two)`.
    pub fn describe(&self) -> String {
        let mut extras: Vec<String> = Vec::new();
        if let Some(host) = &self.host {
            extras.push(format!("Host: {host}"));
        }
        extras.extend(self.headers.iter().map(|(n, v)| format!("{n}: {v}")));
        if extras.is_empty() {
            format!("{} {}", self.method, self.target)
        } else {
            format!("{} {} ({})", self.method, self.target, extras.join(", "))
        }
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        stdx::http::header(&self.headers, name)
    }

    /// The echo body, when this response came from an echo replica.
    pub fn echo(&self) -> Option<echo::EchoBody> {
        if self.header("Content-Type") != Some("application/json") {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }
}

/// Why a request got no response.
#[derive(Debug)]
pub struct RequestError {
    pub request: String,
    pub source: io::Error,
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} got no response: {}", self.request, self.source)
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

struct Connection {
    reader: BufReader<TcpStream>,
}

/// A client for one base URL with a pool of idle keep-alive connections; share it by reference
/// across threads.
pub struct Client {
    base: BaseUrl,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

/// Upper bound on a response body we read (echo bodies are a few hundred bytes).
const MAX_BODY: u64 = 8 * 1024 * 1024;

impl Client {
    pub fn new(base: BaseUrl, timeout: Duration) -> Client {
        Client {
            base,
            timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// Sends `request`, reusing an idle connection when there is one. A reused connection the
    /// server closed meanwhile is retried once on a fresh one (safe: the server never saw it).
    pub fn send(&self, request: &Request) -> Result<Response, RequestError> {
        let pooled = stdx::lock(&self.idle).pop();
        if let Some(mut connection) = pooled {
            match self.exchange(&mut connection, request) {
                Ok((response, reusable)) => {
                    self.release(connection, reusable);
                    return Ok(response);
                }
                Err(Failure::BeforeResponse(_)) => {}
                Err(Failure::After(source)) => {
                    return Err(RequestError {
                        request: request.describe(),
                        source,
                    });
                }
            }
        }
        let fail = |source| RequestError {
            request: request.describe(),
            source,
        };
        let mut connection = self.connect().map_err(fail)?;
        match self.exchange(&mut connection, request) {
            Ok((response, reusable)) => {
                self.release(connection, reusable);
                Ok(response)
            }
            Err(Failure::BeforeResponse(source) | Failure::After(source)) => Err(fail(source)),
        }
    }

    /// Opens a TCP connection and closes it: whether anything listens.
    pub fn probe_tcp(&self) -> io::Result<()> {
        TcpStream::connect_timeout(&self.base.address, self.timeout).map(drop)
    }

    fn connect(&self) -> io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&self.base.address, self.timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        Ok(Connection {
            reader: BufReader::with_capacity(16 * 1024, stream),
        })
    }

    fn release(&self, connection: Connection, reusable: bool) {
        if reusable {
            stdx::lock(&self.idle).push(connection);
        }
    }

    fn exchange(
        &self,
        connection: &mut Connection,
        request: &Request,
    ) -> Result<(Response, bool), Failure> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            request.method,
            request.target,
            request.host.as_deref().unwrap_or(&self.base.authority)
        );
        for (name, value) in &request.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if request.method == "POST" || request.method == "PUT" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        connection
            .reader
            .get_mut()
            .write_all(head.as_bytes())
            .map_err(Failure::BeforeResponse)?;
        read_response(&mut connection.reader, &request.method)
    }
}

enum Failure {
    /// Nothing came back: on a reused connection the server may have closed it while idle.
    BeforeResponse(io::Error),
    After(io::Error),
}

fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(64 * 1024)
        .read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 response head"))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// Reads one response; the bool says whether the connection can carry another request.
fn read_response(
    reader: &mut BufReader<TcpStream>,
    method: &str,
) -> Result<(Response, bool), Failure> {
    let status_line = read_line(reader).map_err(Failure::BeforeResponse)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Failure::After(invalid(&format!("bad status line `{status_line}`"))))?;
    if !version.starts_with("HTTP/1.") {
        return Err(Failure::After(invalid(&format!(
            "bad status line `{status_line}`"
        ))));
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader).map_err(Failure::After)?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| stdx::http::header(&headers, name).map(str::to_owned);
    let connection = header("Connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut reusable = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let mut body = Vec::new();
    let no_body =
        method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
    if no_body {
    } else if header("Transfer-Encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let size_line = read_line(reader).map_err(Failure::After)?;
            let size =
                u64::from_str_radix(size_line.split(';').next().unwrap_or_default().trim(), 16)
                    .map_err(|_| Failure::After(invalid("bad chunk size")))?;
            if size == 0 {
                while !read_line(reader).map_err(Failure::After)?.is_empty() {}
                break;
            }
            if body.len() as u64 + size > MAX_BODY {
                return Err(Failure::After(invalid("response body too large")));
            }
            read_exact_into(reader, size, &mut body).map_err(Failure::After)?;
            read_line(reader).map_err(Failure::After)?;
        }
    } else if let Some(length) = header("Content-Length") {
        let length: u64 = length
            .parse()
            .map_err(|_| Failure::After(invalid("bad Content-Length")))?;
        if length > MAX_BODY {
            return Err(Failure::After(invalid("response body too large")));
        }
        read_exact_into(reader, length, &mut body).map_err(Failure::After)?;
    } else {
        // Delimited by the connection closing.
        reader
            .by_ref()
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(Failure::After)?;
        reusable = false;
    }
    Ok((
        Response {
            status,
            headers,
            body,
        },
        reusable,
    ))
}

fn read_exact_into(reader: &mut impl Read, length: u64, body: &mut Vec<u8>) -> io::Result<()> {
    let before = body.len();
    reader.by_ref().take(length).read_to_end(body)?;
    if (body.len() - before) as u64 != length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Sends requests from `concurrency` threads until `observe` returns false or `limit` requests
/// were sent. `make` builds the n-th request; `observe` sees every result, one at a time, in
/// completion order (called under a lock on the sending threads: no channel hop per response),
/// including the few already in flight when it said stop. Returns how many requests were sent.
pub fn drive<M, O>(client: &Client, concurrency: usize, limit: u64, make: M, observe: O) -> u64
where
    M: Fn(u64) -> Request + Sync,
    O: FnMut(Result<Response, RequestError>) -> bool + Send,
{
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let observe = Mutex::new(observe);
    std::thread::scope(|scope| {
        for _ in 0..concurrency.max(1) {
            let (next, stop, make, observe) = (&next, &stop, &make, &observe);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= limit {
                        break;
                    }
                    let result = client.send(&make(index));
                    let mut observe = stdx::lock(observe);
                    if !(*observe)(result) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    next.load(Ordering::Relaxed).min(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse_and_bad_ones_say_how_to_fix() {
        let base = BaseUrl::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(base.authority, "127.0.0.1:8080");
        assert_eq!(base.address.port(), 8080);
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1").unwrap().address.port(),
            80
        );
        assert!(
            BaseUrl::parse("https://x:1")
                .unwrap_err()
                .contains("http://")
        );
        assert!(
            BaseUrl::parse("http://127.0.0.1:1/path")
                .unwrap_err()
                .contains("without a path")
        );
        assert!(BaseUrl::parse("127.0.0.1:80").is_err());
    }

    #[test]
    fn describe_names_host_and_headers() {
        let request = Request::get("/headers")
            .with_host("v3.example.com")
            .with_header("version", "two");
        assert_eq!(
            request.describe(),
            "GET /headers (Host: v3.example.com, version: two)"
        );
    }
}

//! The server side of HTTP/1.1, as much as a test backend needs: request line, headers,
//! Content-Length and chunked bodies (read and dropped), keep-alive, size limits.

use std::io::{self, BufRead, Read, Write};

/// The longest request line or header line we accept; longer ones are answered with 400.
const MAX_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 200;

pub struct Request {
    pub method: String,
    /// The raw request target as sent (`/path?query`).
    pub target: String,
    pub version: String,
    /// As received, names in their original spelling.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        stdx::http::header_values(&self.headers, name)
    }

    fn connection_has(&self, token: &str) -> bool {
        self.header_values("Connection")
            .flat_map(|value| value.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 only when asked.
    pub fn keep_alive(&self) -> bool {
        if self.version == "HTTP/1.0" {
            self.connection_has("keep-alive")
        } else {
            !self.connection_has("close")
        }
    }
}

pub enum ReadError {
    Io(io::Error),
    /// The peer sent something that is not HTTP/1.x; the reason goes into the 400 body.
    Malformed(&'static str),
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> ReadError {
        ReadError::Io(error)
    }
}

/// Reads one line without its CRLF; None at a clean end of stream before any byte.
fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > MAX_LINE {
            ReadError::Malformed("line too long")
        } else {
            ReadError::Io(io::ErrorKind::UnexpectedEof.into())
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| ReadError::Malformed("non-UTF-8 bytes in the head"))
}

/// Reads the next request on a connection. Ok(None) when the peer closed between requests.
/// `continue_100` is called before the body of a request that sent `Expect: 100-continue`
/// (clients such as curl wait for the interim response before sending a large body).
pub fn read_request(
    reader: &mut impl BufRead,
    mut continue_100: impl FnMut() -> io::Result<()>,
) -> Result<Option<Request>, ReadError> {
    let mut line = match read_line(reader)? {
        Some(line) => line,
        None => return Ok(None),
    };
    // RFC 9112: a server should ignore empty lines before the request line.
    while line.is_empty() {
        line = match read_line(reader)? {
            Some(line) => line,
            None => return Ok(None),
        };
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") || method.is_empty() || target.is_empty() {
        return Err(ReadError::Malformed(
            "only HTTP/1.0 and HTTP/1.1 are served",
        ));
    }
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader)? else {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        };
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ReadError::Malformed("too many headers"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Malformed("header line without a colon"));
        };
        if name.is_empty() || name.ends_with([' ', '\t']) {
            return Err(ReadError::Malformed("bad header name"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
    };
    let has_body = request.header_values("Transfer-Encoding").next().is_some()
        || request
            .header_values("Content-Length")
            .next()
            .is_some_and(|length| length != "0");
    if has_body
        && request.version == "HTTP/1.1"
        && request
            .header_values("Expect")
            .any(|value| value.eq_ignore_ascii_case("100-continue"))
    {
        continue_100()?;
    }
    discard_body(reader, &request)?;
    Ok(Some(request))
}

fn discard_body(reader: &mut impl BufRead, request: &Request) -> Result<(), ReadError> {
    let chunked = request
        .header_values("Transfer-Encoding")
        .any(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            let Some(size_line) = read_line(reader)? else {
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            };
            let size_text = size_line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| ReadError::Malformed("bad chunk size"))?;
            if size == 0 {
                // Trailers until the empty line.
                while let Some(line) = read_line(reader)? {
                    if line.is_empty() {
                        return Ok(());
                    }
                }
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            skip(reader, size)?;
            read_line(reader)?;
        }
    }
    if let Some(length) = request.header_values("Content-Length").next() {
        let length: u64 = length
            .parse()
            .map_err(|_| ReadError::Malformed("bad Content-Length"))?;
        skip(reader, length)?;
    }
    Ok(())
}

fn skip(reader: &mut impl BufRead, length: u64) -> Result<(), ReadError> {
    let copied = io::copy(&mut reader.by_ref().take(length), &mut io::sink())?;
    if copied < length {
        return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Content-Type-Options".into(), "nosniff".into()),
            ],
            body,
        }
    }

    /// Writes the response; `head_only` (a HEAD request) keeps the Content-Length of the body
    /// it would have sent but sends no body, as HTTP requires.
    pub fn write(
        &self,
        writer: &mut impl Write,
        keep_alive: bool,
        head_only: bool,
    ) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        if head_only {
            return Ok(());
        }
        writer.write_all(&self.body)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: the first letter and each letter after a hyphen
/// upper case, the rest lower case. Names with bytes outside a token are returned unchanged,
/// as Go does.
pub fn canonical_header_name(name: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(token) {
        return name.to_owned();
    }
    let mut upper = true;
    name.bytes()
        .map(|b| {
            let out = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
            out as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_follow_go() {
        assert_eq!(
            canonical_header_name("x-echo-set-header"),
            "X-Echo-Set-Header"
        );
        assert_eq!(canonical_header_name("VERSION"), "Version");
        assert_eq!(canonical_header_name("content-length"), "Content-Length");
        assert_eq!(canonical_header_name("weird header"), "weird header");
    }

    #[test]
    fn parses_pipelined_requests_with_bodies() {
        let raw = b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
GET /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n\
GET /c HTTP/1.0\r\n\r\n";
        let mut reader = io::BufReader::new(&raw[..]);
        let first = read_request(&mut reader, || Ok(())).ok().flatten().unwrap();
        assert_eq!(
            (first.method.as_str(), first.target.as_str()),
            ("POST", "/a?x=1")
        );
        assert!(first.keep_alive());
        let second = read_request(&mut reader, || Ok(())).ok().flatten().unwrap();
        assert_eq!(second.target, "/b");
        let third = read_request(&mut reader, || Ok(())).ok().flatten().unwrap();
        assert_eq!(third.version, "HTTP/1.0");
        assert!(!third.keep_alive());
        assert!(matches!(read_request(&mut reader, || Ok(())), Ok(None)));
    }

    #[test]
    fn rejects_garbage() {
        let mut reader = io::BufReader::new(&b"NOT HTTP\r\n\r\n"[..]);
        assert!(matches!(
            read_request(&mut reader, || Ok(())),
            Err(ReadError::Malformed(_))
        ));
    }
}

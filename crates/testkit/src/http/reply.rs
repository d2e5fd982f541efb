//! What the test server answers ([`Reply`]: a status, headers, a body from memory or a file,
//! and the faults a test scripts: delays, stalls, drops, a paced rate) and what it recorded of
//! each request ([`Recorded`]).

use std::io::{self};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where a reply's body comes from: memory, or a file streamed from disk (large bodies).
#[derive(Clone, Debug)]
pub enum Body {
    Bytes(Arc<Vec<u8>>),
    File(PathBuf),
}

impl Body {
    pub(super) fn len(&self) -> io::Result<u64> {
        match self {
            Body::Bytes(bytes) => Ok(bytes.len() as u64),
            Body::File(path) => Ok(std::fs::metadata(path)?.len()),
        }
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Body,
    pub(super) ranges: bool,
    pub(super) drop_after: Option<u64>,
    pub(super) declared_length: Option<u64>,
    pub(super) omit_length: bool,
    pub(super) delay: Option<Duration>,
    pub(super) stall: Option<(u64, Duration)>,
    pub(super) rate: Option<u64>,
}

impl Reply {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Arc::new(Vec::new())),
            ranges: false,
            drop_after: None,
            declared_length: None,
            omit_length: false,
            delay: None,
            stall: None,
            rate: None,
        }
    }

    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200).body(body)
    }

    /// 200 with a JSON body and its content type.
    pub fn json(text: impl Into<String>) -> Reply {
        Reply::ok(text.into().into_bytes()).header("Content-Type", "application/json")
    }

    /// 200 streaming a file from disk, with `Range` support (as a CDN would).
    pub fn file(path: impl Into<PathBuf>) -> Reply {
        Reply {
            body: Body::File(path.into()),
            ranges: true,
            ..Reply::status(200)
        }
    }

    /// 302 to `location`.
    pub fn redirect(location: impl Into<String>) -> Reply {
        Reply::status(302).header("Location", location)
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = Body::Bytes(Arc::new(body.into()));
        self
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Honour `Range: bytes=N-` / `bytes=N-M` with 206 and `Content-Range` (416 past the end).
    pub fn ranges(mut self) -> Reply {
        self.ranges = true;
        self
    }

    /// Send the headers (with the full, honest Content-Length) and only `bytes` of the body,
    /// then close the connection: a body dropped halfway.
    pub fn drop_after(mut self, bytes: u64) -> Reply {
        self.drop_after = Some(bytes);
        self
    }

    /// Declare this Content-Length whatever the body's real size.
    pub fn content_length(mut self, length: u64) -> Reply {
        self.declared_length = Some(length);
        self
    }

    /// No Content-Length: the body ends when the connection closes.
    pub fn no_content_length(mut self) -> Reply {
        self.omit_length = true;
        self
    }

    /// Send `bytes` of the body, pause for `pause`, then send the rest: a download that is
    /// still running when a test acts (interrupts it, say).
    pub fn stall_after(mut self, bytes: u64, pause: Duration) -> Reply {
        self.stall = Some((bytes, pause));
        self
    }

    /// Send the body at no more than `bytes_per_second`: a network link slower than loopback,
    /// for benchmarks that compare clients the way users' downloads run.
    pub fn rate(mut self, bytes_per_second: u64) -> Reply {
        self.rate = Some(bytes_per_second.max(1));
        self
    }

    /// Wait this long before answering (for timeout tests).
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }
}

/// A request as the server saw it. Header names are lower-cased.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The body a `Content-Length` announced (empty for GET and HEAD).
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        stdx::http::header(&self.headers, name)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query string without the `?`, empty when there is none.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// The body as text (lossy), for assertions and JSON parsing.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

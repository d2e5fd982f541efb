//! [`Client::fetch`]: a body streamed to `DEST.part` while hashed, resumed with `Range` after
//! a break, verified for size and sha256, and only then renamed into place.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::Path;
use std::time::Instant;

use crate::client::Failure;
use crate::hasher::BackgroundHasher;
use crate::{
    CHUNK, Cache, Client, DownloadError, Event, Fetched, Request, check_transport, is_sha256_hex,
    part_path,
};

/// The state of a body being written: kept across attempts so a resume continues it.
struct Sink<'a> {
    file: File,
    path: &'a Path,
    hasher: BackgroundHasher,
    written: u64,
}

impl Sink<'_> {
    fn restart(&mut self) -> Result<(), DownloadError> {
        let io = |source| DownloadError::Io {
            path: self.path.to_owned(),
            action: "truncate",
            source,
        };
        self.file.set_len(0).map_err(io)?;
        self.file.rewind().map_err(|source| DownloadError::Io {
            path: self.path.to_owned(),
            action: "rewind",
            source,
        })?;
        self.hasher = BackgroundHasher::new(CHUNK);
        self.written = 0;
        Ok(())
    }
}

impl Client {
    /// Downloads `request` to `dest`, verified. See the crate docs for the guarantees.
    pub fn fetch(
        &self,
        request: &Request,
        dest: &Path,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Fetched, DownloadError> {
        check_transport(&request.url)?;
        if let Some(expected) = &request.expected_sha256
            && !is_sha256_hex(expected)
        {
            return Err(DownloadError::BadChecksum {
                value: expected.clone(),
            });
        }
        let part = part_path(dest);
        if let Some(parent) = dest.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent).map_err(|source| DownloadError::Io {
                path: parent.to_owned(),
                action: "create the folder",
                source,
            })?;
        }
        let cache = self.options.cache_dir.as_ref().map(Cache::new);
        if let (Some(cache), Some(expected)) = (&cache, &request.expected_sha256) {
            let restored = cache
                .restore(expected, request.expected_size, &part)
                .map_err(|source| {
                    let _ = fs::remove_file(&part);
                    DownloadError::Io {
                        path: cache.entry(expected),
                        action: "read the cache entry",
                        source,
                    }
                })?;
            if restored {
                let size = fs::metadata(&part).map(|m| m.len()).unwrap_or_default();
                fs::rename(&part, dest).map_err(|source| {
                    let _ = fs::remove_file(&part);
                    DownloadError::Io {
                        path: dest.to_owned(),
                        action: "move into place",
                        source,
                    }
                })?;
                on_event(Event::CacheHit {
                    sha256: expected.clone(),
                });
                return Ok(Fetched {
                    path: dest.to_owned(),
                    sha256: expected.clone(),
                    size,
                    from_cache: true,
                    attempts: 0,
                });
            }
        }
        let result =
            self.download(request, &part, on_event)
                .and_then(|(sha256, size, attempts)| {
                    verify(request, &sha256, size)?;
                    fs::rename(&part, dest).map_err(|source| DownloadError::Io {
                        path: dest.to_owned(),
                        action: "move into place",
                        source,
                    })?;
                    Ok(Fetched {
                        path: dest.to_owned(),
                        sha256,
                        size,
                        from_cache: false,
                        attempts,
                    })
                });
        match result {
            Ok(fetched) => {
                if let Some(cache) = &cache {
                    // A cache that cannot be written only costs a later download.
                    let _ = cache.store(dest, &fetched.sha256);
                }
                Ok(fetched)
            }
            Err(error) => {
                let _ = fs::remove_file(&part);
                Err(error)
            }
        }
    }

    /// Downloads into `part`, retrying and resuming; returns (sha256, size, attempts).
    fn download(
        &self,
        request: &Request,
        part: &Path,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(String, u64, u32), DownloadError> {
        let file = File::create(part).map_err(|source| DownloadError::Io {
            path: part.to_owned(),
            action: "create",
            source,
        })?;
        let mut sink = Sink {
            file,
            path: part,
            hasher: BackgroundHasher::new(CHUNK),
            written: 0,
        };
        let limit = request.expected_size.map_or(self.options.max_size, |size| {
            size.min(self.options.max_size)
        });
        let attempts = self.with_retries(&request.url, on_event, &mut |deadline, on_event| {
            self.attempt_body(request, &mut sink, limit, deadline, on_event)
        })?;
        let Sink {
            hasher, written, ..
        } = sink;
        Ok((hasher.finish(), written, attempts))
    }

    /// One GET whose body goes into `sink`, continuing at `sink.written` with `Range`.
    fn attempt_body(
        &self,
        request: &Request,
        sink: &mut Sink<'_>,
        limit: u64,
        deadline: Instant,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), Failure> {
        let offset = sink.written;
        let range = (offset > 0).then_some(offset);
        let (response, url) = self.exchange(request, range, deadline)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let content_length: Option<u64> =
            header("content-length").and_then(|v| v.trim().parse().ok());
        match status {
            200 if offset > 0 => {
                // The server ignored our Range: start over rather than append a second copy.
                sink.restart()?;
            }
            200 => {}
            206 => {
                let start = header("content-range").and_then(content_range_start);
                if start != Some(offset) {
                    sink.restart()?;
                    return Err(Failure::Retry {
                        reason: format!("the server resumed at {start:?}, not at byte {offset}"),
                        retry_after: None,
                    });
                }
            }
            416 if offset > 0 => {
                sink.restart()?;
                return Err(Failure::Retry {
                    reason: format!("the server cannot resume at byte {offset} (HTTP 416)"),
                    retry_after: None,
                });
            }
            _ => return Err(self.classify_status(&url, status, &headers, "")),
        }
        let total = content_length.map(|length| sink.written + length);
        if let Some(total) = total
            && total > limit
        {
            return Err(Failure::Fatal(DownloadError::TooLarge {
                url,
                limit,
                size: total,
            }));
        }
        on_event(Event::Started {
            url: url.clone(),
            total,
            offset: sink.written,
        });
        let mut reader = response.into_body().into_reader();
        loop {
            // Whatever one read returns is written at once: waiting to fill a whole chunk
            // stalls the socket and measured three times slower on loopback.
            let mut buffer = sink.hasher.buffer();
            let mut broke = None;
            let mut ended = false;
            let filled = loop {
                match reader.read(&mut buffer) {
                    Ok(0) => {
                        ended = true;
                        break 0;
                    }
                    Ok(read) => break read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => {
                        broke = Some(error);
                        break 0;
                    }
                }
            };
            if filled > 0 {
                if sink.written + filled as u64 > limit {
                    return Err(Failure::Fatal(DownloadError::TooLarge {
                        url,
                        limit,
                        size: sink.written + filled as u64,
                    }));
                }
                sink.file
                    .write_all(&buffer[..filled])
                    .map_err(|source| DownloadError::Io {
                        path: sink.path.to_owned(),
                        action: "write",
                        source,
                    })?;
                sink.hasher.update(buffer, filled);
                sink.written += filled as u64;
                on_event(Event::Progress {
                    done: sink.written,
                    total,
                });
            }
            if let Some(error) = broke {
                // What arrived is kept: the next attempt asks for the rest with Range.
                return Err(Failure::Retry {
                    reason: format!("the body broke off after {} bytes: {error}", sink.written),
                    retry_after: None,
                });
            }
            if let Some(reason) = self.options.cancel.reason() {
                return Err(Failure::Fatal(DownloadError::Cancelled { url, reason }));
            }
            if ended {
                break;
            }
        }
        if let Some(total) = total
            && sink.written < total
        {
            return Err(Failure::Retry {
                reason: format!("the body ended after {} of {total} bytes", sink.written),
                retry_after: None,
            });
        }
        Ok(())
    }
}

/// `bytes START-END/TOTAL` → START.
pub(crate) fn content_range_start(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn verify(request: &Request, sha256: &str, size: u64) -> Result<(), DownloadError> {
    if let Some(expected) = request.expected_size
        && expected != size
    {
        return Err(DownloadError::SizeMismatch {
            url: request.url.clone(),
            expected,
            actual: size,
        });
    }
    if let Some(expected) = &request.expected_sha256
        && expected != sha256
    {
        return Err(DownloadError::ChecksumMismatch {
            url: request.url.clone(),
            expected: expected.clone(),
            actual: sha256.to_owned(),
        });
    }
    Ok(())
}

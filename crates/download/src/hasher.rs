//! sha256 on a second thread, so hashing overlaps reading the network and writing the disk
//! instead of adding to them. Buffers travel to the hashing thread and come back for reuse:
//! at most a handful exist, so memory stays flat however large the file.

use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::{self, JoinHandle};

use sha2::{Digest, Sha256};

/// Chunks queued for hashing before the reader waits for the hasher.
const IN_FLIGHT: usize = 4;

pub(crate) struct BackgroundHasher {
    chunks: Option<SyncSender<(Vec<u8>, usize)>>,
    returned: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<Sha256>>,
    chunk_size: usize,
}

impl BackgroundHasher {
    pub(crate) fn new(chunk_size: usize) -> BackgroundHasher {
        let (chunks, queue) = sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
        let (give_back, returned) = channel();
        let worker = thread::spawn(move || {
            let mut hasher = Sha256::new();
            for (buffer, length) in queue {
                hasher.update(&buffer[..length]);
                // The reader may be gone (a failed fetch): then the buffer is simply freed.
                let _ = give_back.send(buffer);
            }
            hasher
        });
        BackgroundHasher {
            chunks: Some(chunks),
            returned,
            worker: Some(worker),
            chunk_size,
        }
    }

    /// A buffer to read the next chunk into: a returned one when there is one.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        self.returned
            .try_recv()
            .unwrap_or_else(|_| vec![0; self.chunk_size])
    }

    /// Hands `buffer[..length]` to the hashing thread.
    pub(crate) fn update(&self, buffer: Vec<u8>, length: usize) {
        if let Some(chunks) = &self.chunks {
            // Sending fails only if the worker died, which `finish` then reports.
            let _ = chunks.send((buffer, length));
        }
    }

    /// Waits for every queued chunk and returns the hex digest.
    pub(crate) fn finish(mut self) -> String {
        drop(self.chunks.take());
        let hasher = self
            .worker
            .take()
            .and_then(|worker| worker.join().ok())
            .expect("the hashing thread does not panic");
        crate::hex(&hasher.finalize())
    }
}

impl Drop for BackgroundHasher {
    fn drop(&mut self) {
        // Closing the queue ends the worker; joining keeps no thread behind a dropped fetch.
        drop(self.chunks.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_direct_hash_across_many_chunks() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 253) as u8).collect();
        let hasher = BackgroundHasher::new(4096);
        for piece in data.chunks(4000) {
            let mut buffer = hasher.buffer();
            buffer[..piece.len()].copy_from_slice(piece);
            hasher.update(buffer, piece.len());
        }
        assert_eq!(hasher.finish(), crate::hex(&Sha256::digest(&data)));
    }
}

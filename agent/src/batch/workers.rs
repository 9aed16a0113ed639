//! Compression worker pool: chunks in, compressed chunks out, on dedicated threads.
//!
//! Jobs carry their partition id and chunk number so the batcher can write results in order;
//! workers keep one reusable compressor per gzip level. The results channel is unbounded but the
//! batcher caps jobs in flight, so memory stays bounded.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::encode::gzip::{Checksum, ChunkCompressor};

/// A chunk to compress.
pub struct Job {
    pub partition: u64,
    pub chunk: u64,
    pub level: u32,
    /// Uncompressed bytes preceding `data` in the file (see [`ChunkCompressor::compress`]).
    pub dictionary: Vec<u8>,
    pub data: Vec<u8>,
}

/// A compressed chunk.
pub struct Done {
    pub partition: u64,
    pub chunk: u64,
    pub compressed: Vec<u8>,
    pub sum: Checksum,
}

/// Starts `threads` workers at nice value `nice` ([`crate::priority`]); they exit when `jobs`
/// is closed.
pub fn spawn(
    threads: usize,
    nice: i32,
    jobs: Receiver<Job>,
    done: Sender<Done>,
) -> Vec<JoinHandle<()>> {
    (0..threads.max(1))
        .map(|i| {
            let jobs = jobs.clone();
            let done = done.clone();
            std::thread::Builder::new()
                .name(format!("ot-gzip-{i}"))
                .spawn(move || {
                    crate::priority::lower_current_thread(nice);
                    let mut compressors: Vec<Option<ChunkCompressor>> =
                        (0..10).map(|_| None).collect();
                    for job in jobs {
                        let c = compressors[job.level.min(9) as usize]
                            .get_or_insert_with(|| ChunkCompressor::new(job.level));
                        let mut compressed = Vec::with_capacity(job.data.len() / 6 + 256);
                        let sum = c.compress(&job.dictionary, &job.data, &mut compressed);
                        let out = Done {
                            partition: job.partition,
                            chunk: job.chunk,
                            compressed,
                            sum,
                        };
                        if done.send(out).is_err() {
                            break;
                        }
                    }
                })
                .unwrap_or_else(|e| panic!("cannot start compression thread: {e}"))
        })
        .collect()
}

//! Delivery: one worker thread and queue per destination, so a slow or failing destination
//! neither blocks nor duplicates the others. Each worker delivers sealed files in order, retrying
//! with exponential backoff and full jitter, and reports each success to the batcher, which
//! releases a file once every destination has it.
//!
//! Destination contract: `put_file` MUST be idempotent for a given `(bucket, key)` (a retry after
//! a crash finds the object already there) and MUST NOT overwrite an object it did not write.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use rand::Rng;

use crate::metrics::Metrics;

/// A sealed, complete log file in the staging folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    pub id: u64,
    /// The trail the file belongs to (for status reporting).
    pub trail: String,
    /// A digest file rather than a log file.
    pub digest: bool,
    pub path: PathBuf,
    pub bucket: String,
    pub key: String,
    pub records: u64,
    pub bytes: u64,
    /// User metadata stored with the object (`x-amz-meta-*`).
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A destination confirmed a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub id: u64,
    pub destination: usize,
}

/// What a successful put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// An earlier attempt had already stored this exact object.
    AlreadyThere,
}

/// A failed put.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// Worth retrying soon (I/O hiccup, throttling, endpoint down).
    #[error("{0}")]
    Transient(String),
    /// Needs an operator (permissions, missing bucket, bad key): retried slowly, logged loudly.
    #[error("{0}")]
    Permanent(String),
}

/// A place log files are delivered to.
pub trait Destination: Send + Sync {
    /// Label used in logs and metrics.
    fn name(&self) -> &str;
    /// Stores `file` at `(file.bucket, file.key)`. Durable when it returns `Ok` unless called
    /// from [`Self::put_files`].
    fn put_file(&self, file: &SealedFile) -> Result<Outcome, DestinationError>;

    /// Stores several files; one result per file, in order. Everything reported `Ok` is durable.
    fn put_files(&self, files: &[SealedFile]) -> Vec<Result<Outcome, DestinationError>> {
        files.iter().map(|f| self.put_file(f)).collect()
    }
}

/// Told of every delivery attempt (the control-plane API's `GetTrailStatus` reads it).
pub trait DeliveryObserver: Send + Sync {
    /// `file` was stored (`Ok`) or not (`Err(error text)`) by a destination at `now` (Unix s).
    fn attempted(&self, file: &SealedFile, result: Result<(), &str>, now: i64);
}

/// Files handed to a destination per call.
const BATCH: usize = 256;

/// Backoff bounds.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Exponential backoff with full jitter: a random delay in `[0, min(max, min·2^attempt)]`.
pub fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF_MIN
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_MAX);
    let ms = rand::rng().random_range(cap.as_millis() as u64 / 2..=cap.as_millis() as u64);
    Duration::from_millis(ms.max(1))
}

/// Starts the worker for destination number `index`. It exits when `files` closes or `stop` is
/// set.
pub fn spawn(
    index: usize,
    dest: Arc<dyn Destination>,
    files: Receiver<SealedFile>,
    done: Sender<Delivered>,
    metrics: Arc<Metrics>,
    observer: Arc<dyn DeliveryObserver>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    metrics.register_destination(dest.name());
    std::thread::Builder::new()
        .name(format!("ot-deliver-{}", dest.name()))
        .spawn(move || {
            run_worker(
                index,
                dest.as_ref(),
                &files,
                &done,
                &metrics,
                observer.as_ref(),
                &stop,
            )
        })
}

fn run_worker(
    index: usize,
    dest: &dyn Destination,
    files: &Receiver<SealedFile>,
    done: &Sender<Delivered>,
    metrics: &Metrics,
    observer: &dyn DeliveryObserver,
    stop: &AtomicBool,
) {
    let mut queue: std::collections::VecDeque<SealedFile> = std::collections::VecDeque::new();
    let mut attempt = 0u32;
    loop {
        if stop.load(Relaxed) {
            return;
        }
        if queue.is_empty() {
            match files.recv_timeout(Duration::from_millis(100)) {
                Ok(f) => queue.push_back(f),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        }
        while queue.len() < BATCH * 4 {
            match files.try_recv() {
                Ok(f) => queue.push_back(f),
                Err(_) => break,
            }
        }
        let batch: Vec<SealedFile> = queue.drain(..queue.len().min(BATCH)).collect();
        let results = dest.put_files(&batch);
        let mut failed = Vec::new();
        let mut worst = None;
        let now = chrono::Utc::now().timestamp();
        for (file, result) in batch.into_iter().zip(results) {
            let error = result.as_ref().err().map(ToString::to_string);
            observer.attempted(&file, error.as_deref().map_or(Ok(()), Err), now);
            match result {
                Ok(outcome) => {
                    metrics.delivered_to(dest.name(), file.records);
                    tracing::debug!(
                        destination = dest.name(), bucket = %file.bucket, key = %file.key,
                        records = file.records, bytes = file.bytes, ?outcome, "log file delivered"
                    );
                    let _ = done.send(Delivered {
                        id: file.id,
                        destination: index,
                    });
                }
                Err(e) => {
                    metrics.delivery_errors.fetch_add(1, Relaxed);
                    metrics.retries.fetch_add(1, Relaxed);
                    tracing::error!(destination = dest.name(), key = %file.key, error = %e, "delivery failed; will retry");
                    worst = Some(match (&worst, &e) {
                        (Some(BACKOFF_MAX), _) | (_, DestinationError::Permanent(_)) => BACKOFF_MAX,
                        _ => backoff(attempt),
                    });
                    failed.push(file);
                }
            }
        }
        match worst {
            None => attempt = 0,
            Some(wait) => {
                for f in failed.into_iter().rev() {
                    queue.push_front(f);
                }
                attempt = attempt.saturating_add(1);
                let deadline = std::time::Instant::now() + wait;
                while std::time::Instant::now() < deadline {
                    if stop.load(Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50).min(wait));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert!(backoff(0) <= Duration::from_millis(100));
        assert!(backoff(3) >= Duration::from_millis(400));
        for a in [10, 20, 100] {
            assert!(backoff(a) <= BACKOFF_MAX && backoff(a) >= BACKOFF_MAX / 2);
        }
    }
}

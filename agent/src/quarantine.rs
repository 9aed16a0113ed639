//! The quarantine (dead-letter file): every refused record, one JSON line each.
//!
//! `<data_dir>/quarantine/quarantine.jsonl`, with `{"time","reason","detail","source",
//! "position","record_bytes","record"}` per entry. `record` is the input as text (invalid UTF-8
//! replaced, cut at 64 KiB; `record_bytes` is the full length). Sources call [`Quarantine::sync`]
//! before persisting a checkpoint, so a line read past is always either in the WAL or here.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use parking_lot::Mutex;
use serde::Serialize;

use crate::metrics::Metrics;
use crate::record::Rejection;

/// Largest excerpt of a refused record kept in the quarantine.
const MAX_EXCERPT: usize = 64 * 1024;
/// The file is rotated to `quarantine.jsonl.1` past this size.
const ROTATE_BYTES: u64 = 256 * 1024 * 1024;

/// Where a refused record came from.
#[derive(Debug, Clone, Serialize)]
pub struct Origin {
    /// Source name, e.g. `file:/var/log/app/audit.jsonl`, `http:127.0.0.1:4590`, `ffi`.
    pub source: String,
    /// Position within the source: byte offset, line number or array index.
    pub position: String,
}

#[derive(Serialize)]
struct Entry<'a> {
    time: String,
    reason: &'static str,
    detail: &'a str,
    source: &'a str,
    position: &'a str,
    record_bytes: usize,
    record: String,
}

/// The dead-letter writer; cheap to share.
pub struct Quarantine {
    path: PathBuf,
    file: Mutex<(File, u64)>,
    metrics: Arc<Metrics>,
}

impl Quarantine {
    /// Opens (creating) `<dir>/quarantine.jsonl`.
    pub fn open(dir: &Path, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("quarantine.jsonl");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path,
            file: Mutex::new((file, len)),
            metrics,
        })
    }

    /// Path of the current quarantine file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a refusal: counts it and appends the entry. I/O errors are counted and logged,
    /// never propagated (a full disk must not stop intake of valid records).
    pub fn put(&self, rejection: &Rejection, origin: &Origin, record: &[u8]) {
        self.metrics.reject(rejection.reason);
        self.write(rejection.reason.as_str(), &rejection.detail, origin, record);
    }

    /// Records an accepted record that a record stream (CloudWatch Logs, EventBridge) could
    /// not send: `reason` is `<destination>_<why>`. Counted by the stream, not as a rejection
    /// (the record was accepted and is in the log files).
    pub fn put_skipped(&self, reason: &'static str, detail: &str, origin: &Origin, record: &[u8]) {
        self.write(reason, detail, origin, record);
    }

    fn write(&self, reason: &'static str, detail: &str, origin: &Origin, record: &[u8]) {
        let excerpt = &record[..record.len().min(MAX_EXCERPT)];
        let entry = Entry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            reason,
            detail,
            source: &origin.source,
            position: &origin.position,
            record_bytes: record.len(),
            record: String::from_utf8_lossy(excerpt).into_owned(),
        };
        let mut line = match serde_json::to_vec(&entry) {
            Ok(l) => l,
            Err(_) => return,
        };
        line.push(b'\n');
        tracing::debug!(reason, detail, source = %origin.source, position = %origin.position, "record quarantined");
        let mut guard = self.file.lock();
        if guard.1 + line.len() as u64 > ROTATE_BYTES {
            if let Err(e) = self.rotate(&mut guard) {
                tracing::warn!(error = %e, "cannot rotate quarantine file");
            }
        }
        match guard.0.write_all(&line) {
            Ok(()) => guard.1 += line.len() as u64,
            Err(e) => {
                self.metrics.quarantine_write_errors.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, path = %self.path.display(), "cannot write quarantine entry");
            }
        }
    }

    /// Makes every entry written so far durable.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.lock().0.sync_data()
    }

    fn rotate(&self, guard: &mut (File, u64)) -> std::io::Result<()> {
        guard.0.sync_data()?;
        std::fs::rename(&self.path, self.path.with_extension("jsonl.1"))?;
        guard.0 = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        guard.1 = 0;
        Ok(())
    }
}

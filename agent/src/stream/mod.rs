//! Record streams: destinations that take every record on its own rather than whole log files
//! (CloudWatch Logs, EventBridge; see [`crate::destination::cloudwatch`] and
//! [`crate::destination::eventbridge`]).
//!
//! Each stream runs on its own thread with its own cursor over the write-ahead log: it reads
//! durable records from disk ([`crate::wal::WalTail`]), routes them to trails like the batcher
//! does, and hands them to its [`Sink`] until every one is sent or skipped. So a throttled or
//! unreachable stream lags on disk: it neither blocks nor duplicates the log files or the other
//! streams.
//!
//! Invariants:
//! * the cursor (`<data_dir>/streams/<name>.cursor`) only moves past records the sink sent or
//!   skipped (skipped = in the quarantine with a reason); after a crash the stream resumes from
//!   the saved cursor, so delivery is at least once;
//! * the WAL keeps every segment holding a record at or past the cursor (a consumer slot);
//! * a stream new to a data dir starts with the records accepted from then on.

mod cursor;
mod targets;

pub use targets::{Skips, Targets, keep_undone};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::deliver::{DestinationError, backoff};
use crate::metrics::Metrics;
use crate::record::{AccountId, Limits, Region, validate};
use crate::route::SharedRouter;
use crate::wal::{WalHandle, WalTail};

/// Records read from the WAL per round (and bytes, whichever comes first).
const ROUND_RECORDS: usize = 10_000;
const ROUND_BYTES: usize = 8 * 1024 * 1024;
/// The cursor is saved at most this often while records flow (and always at exit).
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// Wait between looks at the WAL when there is nothing new.
const IDLE: Duration = Duration::from_millis(50);

/// One record on its way to one target of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// WAL sequence number.
    pub seq: u64,
    /// The sink's target (log group, event bus) the record goes to.
    pub target: u16,
    pub account: AccountId,
    /// Region the record is filed under (us-east-1 for global-service events).
    pub region: Region,
    /// `eventTime`, seconds since the epoch.
    pub event_time: i64,
    pub bytes: Vec<u8>,
}

/// A destination that takes records one by one (in batches of its own making).
pub trait Sink: Send {
    /// Label used in logs, metrics and the cursor file name.
    fn name(&self) -> &'static str;
    /// The target that records of trail number `trail` go to, if any. Trails sharing a target
    /// get each record once.
    fn target(&self, trail: usize) -> Option<u16>;
    /// Sends `batch`. On return `batch` holds exactly the records still to be sent (none after
    /// `Ok`); records the destination can never take are quarantined and removed, not kept.
    fn send(&mut self, batch: &mut Vec<StreamRecord>) -> Result<(), DestinationError>;
}

/// What a stream needs from the agent.
pub struct StreamParts {
    pub wal: WalHandle,
    pub router: Arc<SharedRouter>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// `<data_dir>/streams`.
    pub state_dir: PathBuf,
    /// Where a stream without a saved cursor starts.
    pub start_seq: u64,
    /// Set to stop the stream (after the current attempt).
    pub stop: Arc<AtomicBool>,
}

/// A running stream.
pub struct Stream {
    pub name: &'static str,
    /// Every record below this sequence number was sent or skipped.
    pub delivered: Arc<AtomicU64>,
    pub handle: JoinHandle<()>,
}

/// Starts `sink` on its own thread. Registers its WAL consumer slot before returning, so call
/// it before the WAL writer may release segments.
pub fn spawn(sink: Box<dyn Sink>, parts: StreamParts) -> std::io::Result<Stream> {
    let name = sink.name();
    std::fs::create_dir_all(&parts.state_dir)?;
    let cursor_path = parts.state_dir.join(format!("{name}.cursor"));
    // A new stream's starting point is saved at once: a crash before its first delivery must
    // not move it past the records accepted meanwhile.
    let from = match cursor::load(&cursor_path) {
        Some(seq) => seq,
        None => {
            cursor::save(&cursor_path, parts.start_seq)?;
            parts.start_seq
        }
    };
    let slot = parts.wal.register_consumer(from);
    parts.metrics.register_destination(name);
    let runner = Runner {
        tail: WalTail::new(parts.wal.dir().to_path_buf(), from),
        sink,
        cursor_path,
        slot: slot.clone(),
        parts,
    };
    let handle = std::thread::Builder::new()
        .name(format!("ot-stream-{name}"))
        .spawn(move || runner.run())?;
    Ok(Stream {
        name,
        delivered: slot,
        handle,
    })
}

struct Runner {
    tail: WalTail,
    sink: Box<dyn Sink>,
    cursor_path: PathBuf,
    /// Progress: the WAL consumer slot, also read by flush and shutdown.
    slot: Arc<AtomicU64>,
    parts: StreamParts,
}

impl Runner {
    fn run(mut self) {
        let name = self.sink.name();
        let mut read = Vec::new();
        let mut batch = Vec::new();
        let mut trails = Vec::new();
        let mut targets: Vec<u16> = Vec::new();
        let mut saved = self.slot.load(Relaxed);
        let mut last_save = Instant::now();
        let mut failing = false;
        while !self.parts.stop.load(Relaxed) {
            let durable = self.parts.wal.durable_seq();
            let done = self.slot.load(Relaxed);
            self.parts
                .metrics
                .set_stream_lag(name, durable.saturating_sub(done));
            read.clear();
            if let Err(e) = self
                .tail
                .read(durable, ROUND_RECORDS, ROUND_BYTES, &mut read)
            {
                tracing::error!(stream = name, error = %e, "cannot read the write-ahead log; retrying");
                self.pause(Duration::from_secs(1));
                continue;
            }
            if read.is_empty() {
                if done != saved {
                    saved = self.save(done);
                    last_save = Instant::now();
                }
                std::thread::sleep(IDLE);
                continue;
            }
            let next = self.tail.next_seq();
            batch.clear();
            let router = self.parts.router.load();
            for (seq, bytes) in read.drain(..) {
                // Records in the WAL passed intake, so they validate again (to the same bytes);
                // one that does not (a changed max_record_bytes, say) was quarantined at replay.
                let Ok(record) = validate(&bytes, &self.parts.limits) else {
                    continue;
                };
                let region = router.route(&record, &mut trails);
                targets.clear();
                targets.extend(trails.iter().filter_map(|&t| self.sink.target(t as usize)));
                targets.sort_unstable();
                targets.dedup();
                let mut bytes = record.bytes;
                for (k, &target) in targets.iter().enumerate() {
                    // The last target takes the bytes; only extra targets cost a copy.
                    let bytes = if k + 1 == targets.len() {
                        std::mem::take(&mut bytes)
                    } else {
                        bytes.clone()
                    };
                    batch.push(StreamRecord {
                        seq,
                        target,
                        account: record.account,
                        region,
                        event_time: record.event_time,
                        bytes,
                    });
                }
            }
            let mut attempt = 0u32;
            while !batch.is_empty() {
                match self.sink.send(&mut batch) {
                    Ok(()) => {
                        if failing {
                            tracing::info!(stream = name, "stream delivers again");
                            failing = false;
                        }
                    }
                    Err(e) => {
                        failing = true;
                        let m = &self.parts.metrics;
                        m.delivery_errors.fetch_add(1, Relaxed);
                        m.retries.fetch_add(1, Relaxed);
                        let wait = match e {
                            DestinationError::Permanent(_) => backoff(16),
                            DestinationError::Transient(_) => backoff(attempt),
                        };
                        tracing::error!(stream = name, error = %e, pending = batch.len(), retry_in_ms = wait.as_millis() as u64, "stream delivery failed; will retry");
                        attempt = attempt.saturating_add(1);
                        if !self.pause(wait) {
                            // Stopped: the cursor stays before this round; it is sent again
                            // after the restart.
                            self.save(self.slot.load(Relaxed));
                            return;
                        }
                    }
                }
            }
            self.slot.store(next, Relaxed);
            if last_save.elapsed() >= SAVE_EVERY {
                saved = self.save(next);
                last_save = Instant::now();
            }
        }
        self.save(self.slot.load(Relaxed));
    }

    /// Sleeps up to `wait`; false when stopped meanwhile.
    fn pause(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if self.parts.stop.load(Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50).min(wait));
        }
        !self.parts.stop.load(Relaxed)
    }

    /// Saves the cursor; returns the value now on disk (the old one if saving failed).
    fn save(&self, seq: u64) -> u64 {
        match cursor::save(&self.cursor_path, seq) {
            Ok(()) => seq,
            Err(e) => {
                tracing::error!(path = %self.cursor_path.display(), error = %e, "cannot save stream cursor");
                cursor::load(&self.cursor_path).unwrap_or(0)
            }
        }
    }
}

//! The write-ahead log: the durability point of every accepted record.
//!
//! Sources append batches of validated records (plus, for file sources, the read position the
//! batch reaches). One writer thread assigns each record a sequence number, appends the batch to
//! the current segment, fsyncs once per group of batches (group commit), publishes the durable
//! sequence number, and only then forwards the records to the batcher. Hence:
//!
//! * a record acknowledged to a client (HTTP 200, `durability = "spool"` submit) is in the WAL;
//! * a source position is durable exactly when the records before it are: after a crash, sources
//!   resume from the positions recovered from the WAL and re-read nothing that was spooled;
//! * segments are deleted only after the batcher checkpointed every record in them
//!   ([`WalHandle::release_before`]) and every record stream ([`crate::stream`]) delivered them
//!   (its [`WalHandle::register_consumer`] slot), after the positions they carried were saved to
//!   `positions.json`;
//! * record streams read the segments themselves ([`WalTail`]), never past the durable sequence
//!   number, so a slow stream lags on disk instead of holding records in memory.
//!
//! Entry format: `u32 body_len | u32 crc32(body) | body`, body = `u64 first_seq | u32 n |
//! (u32 len | bytes)*n | u16 m | (u16 key_len | key | u64 pos)*m`, little-endian. A torn or
//! corrupt tail (crash mid-write) is detected by the length/CRC and cut off at open.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::metrics::Metrics;
use crate::record::Record;

mod tail;
pub use tail::WalTail;

/// Segments roll over past this size.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Largest group written before one fsync.
const GROUP_BYTES: usize = 8 * 1024 * 1024;

/// WAL errors.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log I/O error in {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the write-ahead log is closed")]
    Closed,
    #[error("the write-ahead log stopped: {0}")]
    Stopped(String),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        error: source,
    }
}

/// A batch on its way from the WAL to the batcher: records numbered from `first_seq`.
#[derive(Debug)]
pub struct Spooled {
    pub first_seq: u64,
    pub records: Vec<Record>,
}

/// A read position a source reached (`key` names the source and file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub key: String,
    pub offset: u64,
}

struct Append {
    records: Vec<Record>,
    positions: Vec<Position>,
}

/// Durable progress, shared between the writer thread and waiters.
#[derive(Default)]
struct Progress {
    /// Every record with a sequence number below this is durable.
    durable_seq: u64,
    /// Number of appends (tickets) made durable.
    committed: u64,
    /// Latest durable position per source key.
    positions: HashMap<String, u64>,
    /// Set when the writer stopped (closed or failed).
    stopped: Option<String>,
}

struct Shared {
    dir: PathBuf,
    /// Ticket counter; held while sending so ticket order equals queue order.
    next_ticket: Mutex<u64>,
    /// Set (under `next_ticket`) when close was asked: later appends are refused, never queued
    /// behind `Close` and silently dropped.
    closing: std::sync::atomic::AtomicBool,
    /// Highest `release_before` asked for. An atomic, not a queued command: the batcher must
    /// never block on the writer's queue while the writer blocks on the batcher's.
    release_seq: std::sync::atomic::AtomicU64,
    /// Further consumers (record streams): each holds the sequence number below which it is
    /// done. Segments are released below the minimum of these and `release_seq`.
    consumers: Mutex<Vec<Arc<std::sync::atomic::AtomicU64>>>,
    progress: Mutex<Progress>,
    changed: Condvar,
    async_changed: tokio::sync::watch::Sender<u64>,
}

/// Handle used by sources (append, wait) and the batcher (release).
#[derive(Clone)]
pub struct WalHandle {
    tx: Sender<Command>,
    shared: Arc<Shared>,
}

enum Command {
    Append(Append),
    Close,
}

/// What [`open`] recovered.
pub struct Recovered {
    pub handle: WalHandle,
    /// The writer; run it on its own thread with [`Writer::run`].
    pub writer: Writer,
    /// Positions recovered (saved file merged with the WAL's entries).
    pub positions: HashMap<String, u64>,
    /// Next sequence number to assign.
    pub next_seq: u64,
}

/// The single WAL writer.
pub struct Writer {
    dir: PathBuf,
    rx: Receiver<Command>,
    shared: Arc<Shared>,
    segments: BTreeMap<u64, PathBuf>,
    current: File,
    current_len: u64,
    next_seq: u64,
    out: Sender<Spooled>,
    metrics: Arc<Metrics>,
    positions_dirty: bool,
}

/// Opens the WAL in `dir`, repairing a torn tail. `out` receives every record once durable.
pub fn open(
    dir: &Path,
    out: Sender<Spooled>,
    metrics: Arc<Metrics>,
) -> Result<Recovered, WalError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut positions = load_positions(&dir.join("positions.json"));
    let mut segments = list_segments(dir)?;
    let mut next_seq = segments.keys().next_back().copied().unwrap_or(0);
    let last = segments.keys().next_back().copied();
    let mut total = 0u64;
    for (&first, path) in &segments {
        let scan = scan_segment(path, |first_seq, recs, pos| {
            next_seq = next_seq.max(first_seq + recs.len() as u64);
            for p in pos {
                let e = positions.entry(p.key).or_insert(0);
                *e = (*e).max(p.offset);
            }
        })
        .map_err(io_err(path))?;
        if scan.valid_len < scan.file_len {
            if Some(first) == last {
                tracing::warn!(path = %path.display(), at = scan.valid_len, "cutting torn tail of the write-ahead log");
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_err(path))?;
                f.set_len(scan.valid_len).map_err(io_err(path))?;
                f.sync_all().map_err(io_err(path))?;
            } else {
                tracing::error!(path = %path.display(), at = scan.valid_len, "corrupt write-ahead log segment; entries after the damage are skipped");
            }
        }
        total += scan.valid_len;
    }
    metrics.wal_bytes.store(total, Relaxed);
    let (current, current_len) = match segments.iter().next_back() {
        Some((_, path)) => {
            let f = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(io_err(path))?;
            let len = f.metadata().map_err(io_err(path))?.len();
            (f, len)
        }
        None => {
            let path = segment_path(dir, next_seq);
            let f = create_segment(&path)?;
            segments.insert(next_seq, path);
            (f, 0)
        }
    };
    let (async_changed, _) = tokio::sync::watch::channel(next_seq);
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        next_ticket: Mutex::new(0),
        closing: std::sync::atomic::AtomicBool::new(false),
        release_seq: std::sync::atomic::AtomicU64::new(0),
        consumers: Mutex::new(Vec::new()),
        progress: Mutex::new(Progress {
            durable_seq: next_seq,
            committed: 0,
            positions: positions.clone(),
            stopped: None,
        }),
        changed: Condvar::new(),
        async_changed,
    });
    // Many small appends (single submits) queue here and are committed as one group with one
    // fsync; memory is bounded by the intake budget, not by this count.
    let (tx, rx) = crossbeam_channel::bounded(8192);
    let writer = Writer {
        dir: dir.to_path_buf(),
        rx,
        shared: shared.clone(),
        segments,
        current,
        current_len,
        next_seq,
        out,
        metrics,
        positions_dirty: false,
    };
    Ok(Recovered {
        handle: WalHandle { tx, shared },
        writer,
        positions,
        next_seq,
    })
}

/// Streams every record with sequence number ≥ `from` to `f`, in order.
pub fn replay(dir: &Path, from: u64, mut f: impl FnMut(u64, Vec<u8>)) -> Result<(), WalError> {
    let segs: Vec<(u64, PathBuf)> = list_segments(dir)?.into_iter().collect();
    for (i, (_, path)) in segs.iter().enumerate() {
        if segs.get(i + 1).is_some_and(|(next, _)| *next <= from) {
            continue;
        }
        scan_segment(path, |first_seq, recs, _| {
            for (i, r) in recs.into_iter().enumerate() {
                let seq = first_seq + i as u64;
                if seq >= from {
                    f(seq, r);
                }
            }
        })
        .map_err(io_err(path))?;
    }
    Ok(())
}

impl WalHandle {
    /// Queues records (and the positions they reach) and returns a ticket; the append is durable
    /// once [`Self::wait`] for that ticket returns true. Blocks while the writer's queue is full.
    pub fn append(&self, records: Vec<Record>, positions: Vec<Position>) -> Result<u64, WalError> {
        let mut ticket = self.shared.next_ticket.lock();
        if self.shared.closing.load(Relaxed) || self.shared.progress.lock().stopped.is_some() {
            return Err(WalError::Closed);
        }
        *ticket += 1;
        self.tx
            .send(Command::Append(Append { records, positions }))
            .map_err(|_| WalError::Closed)?;
        Ok(*ticket)
    }

    /// Blocks until the append with `ticket` is durable, or the timeout passes (false), or the
    /// writer stopped (error).
    pub fn wait(&self, ticket: u64, timeout: Duration) -> Result<bool, WalError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut p = self.shared.progress.lock();
        loop {
            if p.committed >= ticket {
                return Ok(true);
            }
            if let Some(why) = &p.stopped {
                return Err(WalError::Stopped(why.clone()));
            }
            if self.shared.changed.wait_until(&mut p, deadline).timed_out() {
                return Ok(p.committed >= ticket);
            }
        }
    }

    /// Async variant of [`Self::wait`] (no timeout).
    pub async fn wait_async(&self, ticket: u64) -> Result<(), WalError> {
        let mut rx = self.shared.async_changed.subscribe();
        loop {
            {
                let p = self.shared.progress.lock();
                if p.committed >= ticket {
                    return Ok(());
                }
                if let Some(why) = &p.stopped {
                    return Err(WalError::Stopped(why.clone()));
                }
            }
            if rx.changed().await.is_err() {
                return Err(WalError::Closed);
            }
        }
    }

    /// True when the append with `ticket` is durable.
    pub fn is_durable(&self, ticket: u64) -> bool {
        self.shared.progress.lock().committed >= ticket
    }

    /// Blocks until everything queued before the call is durable (false on timeout).
    pub fn sync(&self, timeout: Duration) -> Result<bool, WalError> {
        let ticket = self.append(Vec::new(), Vec::new())?;
        self.wait(ticket, timeout)
    }

    /// Latest durable position for `key`.
    pub fn position(&self, key: &str) -> Option<u64> {
        self.shared.progress.lock().positions.get(key).copied()
    }

    /// Allows segments holding only records below `seq` to be deleted.
    pub fn release_before(&self, seq: u64) {
        self.shared.release_seq.fetch_max(seq, Relaxed);
    }

    /// Sequence number below which every record is durable.
    pub fn durable_seq(&self) -> u64 {
        self.shared.progress.lock().durable_seq
    }

    /// Adds a consumer that must see every record from `from` on: no segment holding a record
    /// at or above the slot's value is deleted. The consumer stores its progress in the slot.
    pub fn register_consumer(&self, from: u64) -> Arc<std::sync::atomic::AtomicU64> {
        let slot = Arc::new(std::sync::atomic::AtomicU64::new(from));
        self.shared.consumers.lock().push(slot.clone());
        slot
    }

    /// True once the writer stopped (closed or failed): `durable_seq` is final.
    pub fn is_stopped(&self) -> bool {
        self.shared.progress.lock().stopped.is_some()
    }

    /// The directory the segments live in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Commits everything queued, then stops the writer (which closes the batcher's input).
    pub fn close(&self) {
        let _guard = self.shared.next_ticket.lock();
        self.shared.closing.store(true, Relaxed);
        let _ = self.tx.send(Command::Close);
    }
}

impl Writer {
    /// Runs until every [`WalHandle`] is dropped; then returns.
    pub fn run(mut self) {
        let mut last_positions_save = std::time::Instant::now();
        let mut released = 0u64;
        loop {
            let first = match self.rx.recv_timeout(Duration::from_millis(500)) {
                Ok(cmd) => Some(cmd),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            let mut group: Vec<Append> = Vec::new();
            let mut close = false;
            let mut bytes = 0usize;
            let mut next = first;
            while let Some(cmd) = next.take() {
                match cmd {
                    Command::Append(a) => {
                        bytes += a.records.iter().map(|r| r.bytes.len()).sum::<usize>();
                        group.push(a);
                    }
                    Command::Close => close = true,
                }
                if bytes < GROUP_BYTES && !close {
                    next = self.rx.try_recv().ok();
                }
            }
            if !group.is_empty() {
                if let Err(e) = self.commit(group) {
                    tracing::error!(error = %e, "write-ahead log failed; intake stops");
                    let mut p = self.shared.progress.lock();
                    p.stopped = Some(e.to_string());
                    self.shared.changed.notify_all();
                    let _ = self.shared.async_changed.send(p.durable_seq);
                    return;
                }
            }
            let release = self.release_floor();
            if release > released {
                self.release(release);
                released = release;
            }
            if close {
                break;
            }
            if self.positions_dirty && last_positions_save.elapsed() > Duration::from_secs(1) {
                self.save_positions();
                last_positions_save = std::time::Instant::now();
            }
        }
        self.save_positions();
        let mut p = self.shared.progress.lock();
        p.stopped = Some("closed".into());
        self.shared.changed.notify_all();
        let _ = self.shared.async_changed.send(p.durable_seq);
    }

    fn commit(&mut self, group: Vec<Append>) -> Result<(), WalError> {
        // Sized exactly: a group is up to GROUP_BYTES plus one append, and a buffer that grew by
        // doubling would reach twice that (and copy it on the way).
        let size = group
            .iter()
            .map(|a| entry_len(&a.records, &a.positions))
            .sum();
        let mut buf = Vec::with_capacity(size);
        let mut batches = Vec::with_capacity(group.len());
        let mut positions = Vec::new();
        let appends = group.len() as u64;
        for a in group {
            let first_seq = self.next_seq;
            self.next_seq += a.records.len() as u64;
            encode_entry(&mut buf, first_seq, &a.records, &a.positions);
            positions.extend(a.positions);
            if !a.records.is_empty() {
                batches.push(Spooled {
                    first_seq,
                    records: a.records,
                });
            }
        }
        let path = self
            .segments
            .values()
            .next_back()
            .cloned()
            .unwrap_or_default();
        // A failed write (disk full, I/O error) is undone and retried with backoff: nothing in
        // this group was acknowledged yet, and intake backs up behind the writer meanwhile.
        let mut attempt = 0u32;
        loop {
            let written = self
                .current
                .write_all(&buf)
                .and_then(|()| self.current.sync_data());
            match written {
                Ok(()) => break,
                Err(e) => {
                    let wait = crate::deliver::backoff(attempt.min(8));
                    tracing::error!(path = %path.display(), error = %e, retry_in_ms = wait.as_millis() as u64,
                        "write-ahead log write failed; retrying (intake waits)");
                    if let Err(e) = self.current.set_len(self.current_len) {
                        return Err(io_err(&path)(e));
                    }
                    std::thread::sleep(wait);
                    attempt += 1;
                }
            }
        }
        self.current_len += buf.len() as u64;
        self.metrics.wal_bytes.fetch_add(buf.len() as u64, Relaxed);
        {
            let mut p = self.shared.progress.lock();
            p.durable_seq = self.next_seq;
            p.committed += appends;
            for pos in positions {
                self.positions_dirty = true;
                let e = p.positions.entry(pos.key).or_insert(0);
                *e = (*e).max(pos.offset);
            }
        }
        self.shared.changed.notify_all();
        let _ = self.shared.async_changed.send(self.next_seq);
        for b in batches {
            if self.out.send(b).is_err() {
                return Err(WalError::Closed);
            }
        }
        if self.current_len >= SEGMENT_BYTES {
            let path = segment_path(&self.dir, self.next_seq);
            self.current = create_segment(&path)?;
            self.segments.insert(self.next_seq, path);
            self.current_len = 0;
        }
        Ok(())
    }

    /// The lowest progress among the batcher and the registered consumers.
    fn release_floor(&self) -> u64 {
        let batcher = self.shared.release_seq.load(Relaxed);
        self.shared
            .consumers
            .lock()
            .iter()
            .map(|c| c.load(Relaxed))
            .fold(batcher, u64::min)
    }

    fn release(&mut self, seq: u64) {
        let deletable: Vec<u64> = {
            let firsts: Vec<u64> = self.segments.keys().copied().collect();
            firsts
                .windows(2)
                .filter(|w| w[1] <= seq)
                .map(|w| w[0])
                .collect()
        };
        if deletable.is_empty() {
            return;
        }
        // Positions carried by the segments must outlive them.
        self.save_positions();
        for first in deletable {
            if let Some(path) = self.segments.remove(&first) {
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        self.metrics
                            .wal_bytes
                            .fetch_sub(len.min(self.metrics.wal_bytes.load(Relaxed)), Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot delete WAL segment")
                    }
                }
            }
        }
    }

    fn save_positions(&mut self) {
        let map: BTreeMap<String, u64> = {
            let p = self.shared.progress.lock();
            p.positions.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        let path = self.dir.join("positions.json");
        match serde_json::to_vec(&map) {
            Ok(bytes) => match crate::fsutil::write_atomic(&path, &bytes) {
                Ok(()) => self.positions_dirty = false,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot save source positions")
                }
            },
            Err(e) => tracing::error!(error = %e, "cannot encode source positions"),
        }
    }
}

fn load_positions(path: &Path) -> HashMap<String, u64> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::error!(path = %path.display(), error = %e, "unreadable positions file; starting from the WAL alone");
            HashMap::new()
        }),
        Err(_) => HashMap::new(),
    }
}

pub(crate) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("wal-{first_seq:016x}.log"))
}

/// The segment files in `dir`, by first sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<BTreeMap<u64, PathBuf>, WalError> {
    let mut segments = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if let Some(seq) = segment_seq(&path) {
            segments.insert(seq, path);
        }
    }
    Ok(segments)
}

fn segment_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    u64::from_str_radix(name.strip_prefix("wal-")?.strip_suffix(".log")?, 16).ok()
}

fn create_segment(path: &Path) -> Result<File, WalError> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        crate::fsutil::sync_dir(dir).map_err(io_err(dir))?;
    }
    Ok(f)
}

/// Length of the entry [`encode_entry`] writes for `records` and `positions`.
fn entry_len(records: &[Record], positions: &[Position]) -> usize {
    let records: usize = records.iter().map(|r| 4 + r.bytes.len()).sum();
    let positions: usize = positions
        .iter()
        .map(|p| 2 + p.key.len().min(u16::MAX as usize) + 8)
        .sum();
    8 + 8 + 4 + records + 2 + positions
}

fn encode_entry(buf: &mut Vec<u8>, first_seq: u64, records: &[Record], positions: &[Position]) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; 8]);
    buf.extend_from_slice(&first_seq.to_le_bytes());
    buf.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        buf.extend_from_slice(&(r.bytes.len() as u32).to_le_bytes());
        buf.extend_from_slice(&r.bytes);
    }
    buf.extend_from_slice(&(positions.len() as u16).to_le_bytes());
    for p in positions {
        let key = &p.key.as_bytes()[..p.key.len().min(u16::MAX as usize)];
        buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
        buf.extend_from_slice(key);
        buf.extend_from_slice(&p.offset.to_le_bytes());
    }
    let body_len = (buf.len() - start - 8) as u32;
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(buf.len() - start, entry_len(records, positions));
}

struct Scan {
    valid_len: u64,
    file_len: u64,
}

/// Reads entries until the end or the first damaged entry.
fn scan_segment(
    path: &Path,
    mut f: impl FnMut(u64, Vec<Vec<u8>>, Vec<Position>),
) -> std::io::Result<Scan> {
    let mut file = std::io::BufReader::with_capacity(1 << 20, File::open(path)?);
    let file_len = std::fs::metadata(path)?.len();
    let mut valid_len = 0u64;
    let mut head = [0u8; 8];
    loop {
        if read_full(&mut file, &mut head)? < 8 {
            break;
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len as u64 > file_len - valid_len - 8 {
            break;
        }
        let mut body = vec![0u8; len];
        if read_full(&mut file, &mut body)? < len || crc32fast::hash(&body) != crc {
            break;
        }
        match decode_body(&body) {
            Some((first_seq, recs, pos)) => f(first_seq, recs, pos),
            None => break,
        }
        valid_len += 8 + len as u64;
    }
    Ok(Scan {
        valid_len,
        file_len,
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

type Decoded = (u64, Vec<Vec<u8>>, Vec<Position>);

fn decode_body(body: &[u8]) -> Option<Decoded> {
    let mut cur = body;
    let mut take = |n: usize| -> Option<&[u8]> {
        if cur.len() < n {
            return None;
        }
        let (a, b) = cur.split_at(n);
        cur = b;
        Some(a)
    };
    let first_seq = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut recs = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        recs.push(take(len)?.to_vec());
    }
    let m = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    let mut pos = Vec::with_capacity(m);
    for _ in 0..m {
        let klen = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        let key = String::from_utf8(take(klen)?.to_vec()).ok()?;
        let offset = u64::from_le_bytes(take(8)?.try_into().ok()?);
        pos.push(Position { key, offset });
    }
    Some((first_seq, recs, pos))
}

//! The file source, `format = "lines"`: tails JSON-lines files matched by glob patterns.
//!
//! * New files are picked up at every poll; files are identified by content
//!   ([`super::fingerprint`]), and each is read through its own open descriptor, so rename
//!   rotation finishes the old file before the new one is started, and a deleted file is read to
//!   its end.
//! * Truncation (and copytruncate) is detected when a file becomes shorter than what was read;
//!   the copy keeps the fingerprint and continues from the old offset, the truncated file starts
//!   again as a new one.
//! * Only complete lines are consumed: a last line without `\n` waits. Lines longer than
//!   `max_record_bytes` are quarantined without being buffered whole.
//! * The read position travels with the records into the WAL, so it becomes durable exactly when
//!   they do, and a restart resumes there: nothing is lost and nothing spooled is read twice.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::fingerprint::{self, Fingerprint};
use crate::intake::Intake;
use crate::quarantine::Origin;
use crate::record::{RejectReason, Rejection};
use crate::wal::Position;

/// Bytes read per step.
const READ_BYTES: usize = 1 << 20;
/// A file that left the globs and has been idle this long is closed.
const IDLE_CLOSE: Duration = Duration::from_secs(30);
/// Excerpt of an oversize line kept for the quarantine.
const OVERSIZE_EXCERPT: usize = 4096;

struct Tracked {
    key: String,
    path: PathBuf,
    file: File,
    inode: (u64, u64),
    /// Bytes consumed (complete lines).
    offset: u64,
    /// Unconsumed bytes already read (a partial line).
    buf: Vec<u8>,
    /// Inside a line longer than the limit: bytes of it seen so far and an excerpt.
    oversize: Option<(u64, Vec<u8>)>,
    last_data: Instant,
    last_seen: Instant,
}

impl Tracked {
    fn read_pos(&self) -> u64 {
        self.offset + self.buf.len() as u64 + self.oversize.as_ref().map_or(0, |(n, _)| *n)
    }
}

/// A tailing file source.
pub struct TailSource {
    pub patterns: Vec<String>,
    pub poll: Duration,
    pub intake: Arc<Intake>,
    pub stop: Arc<AtomicBool>,
}

impl TailSource {
    /// Runs until `stop` is set. Everything read is spooled before it returns.
    pub fn run(self) {
        let mut tracked: HashMap<Fingerprint, Tracked> = HashMap::new();
        let mut consumed: HashMap<Fingerprint, u64> = HashMap::new();
        let mut last_scan = Instant::now() - self.poll;
        while !self.stop.load(Relaxed) {
            if last_scan.elapsed() >= self.poll {
                self.scan(&mut tracked, &consumed);
                last_scan = Instant::now();
            }
            let mut progressed = false;
            for (fp, t) in tracked.iter_mut() {
                if self.stop.load(Relaxed) {
                    break;
                }
                match self.read(t) {
                    Ok(true) => {
                        progressed = true;
                        consumed.insert(*fp, t.offset);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(path = %t.path.display(), error = %e, "read failed; will retry")
                    }
                }
            }
            if !progressed {
                std::thread::sleep(self.poll.min(Duration::from_millis(100)));
            }
        }
    }

    fn scan(
        &self,
        tracked: &mut HashMap<Fingerprint, Tracked>,
        consumed: &HashMap<Fingerprint, u64>,
    ) {
        let now = Instant::now();
        for path in super::expand_globs(&self.patterns) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let inode = (meta.dev(), meta.ino());
            if let Some(fp) = tracked
                .iter()
                .find(|(_, t)| t.inode == inode)
                .map(|(fp, _)| *fp)
            {
                let truncated = tracked.get(&fp).is_some_and(|t| meta.len() < t.read_pos());
                if !truncated {
                    if let Some(t) = tracked.get_mut(&fp) {
                        t.path = path;
                        t.last_seen = now;
                    }
                    continue;
                }
                tracing::info!(path = %path.display(), "file truncated; reading it again from the start");
                tracked.remove(&fp);
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let fp = match fingerprint::of_file(&file) {
                Ok(Some(fp)) => fp,
                _ => continue, // no complete first line yet
            };
            if tracked.contains_key(&fp) {
                continue; // a copy of a file still being read (copytruncate in progress)
            }
            let key = fp.key("file");
            let known = consumed
                .get(&fp)
                .copied()
                .max(self.intake.wal.position(&key))
                .unwrap_or(0);
            let offset = if known > meta.len() { 0 } else { known };
            tracing::info!(path = %path.display(), offset, "tailing file");
            tracked.insert(
                fp,
                Tracked {
                    key,
                    path,
                    file,
                    inode,
                    offset,
                    buf: Vec::new(),
                    oversize: None,
                    last_data: now,
                    last_seen: now,
                },
            );
        }
        tracked.retain(|_, t| {
            let keep = t.last_seen.elapsed() < IDLE_CLOSE || t.last_data.elapsed() < IDLE_CLOSE;
            if !keep {
                tracing::info!(path = %t.path.display(), "closing file that left the globs");
            }
            keep
        });
    }

    /// Reads one block; returns whether anything was consumed.
    fn read(&self, t: &mut Tracked) -> std::io::Result<bool> {
        let start = t.buf.len();
        let read_pos = t.read_pos();
        // Seek, then read into the buffer's spare capacity (no zeroing of the block).
        (&t.file).seek(SeekFrom::Start(read_pos))?;
        t.buf.reserve(READ_BYTES);
        let n = match (&t.file).take(READ_BYTES as u64).read_to_end(&mut t.buf) {
            Ok(n) => n,
            Err(e) => {
                t.buf.truncate(start);
                return Err(e);
            }
        };
        if n == 0 {
            return Ok(false);
        }
        t.last_data = Instant::now();
        let max = self.intake.limits.max_record_bytes;
        let mut records = Vec::new();
        let mut rejected = false;
        let mut pos = 0usize;
        while let Some(nl) = memchr::memchr(b'\n', &t.buf[pos..]) {
            let line = &t.buf[pos..pos + nl];
            let line_offset = t.offset;
            if let Some((skipped, excerpt)) = t.oversize.take() {
                let total = skipped + nl as u64;
                t.offset += total + 1;
                let rej = Rejection::new(
                    RejectReason::Oversize,
                    format!("record is at least {total} bytes; max_record_bytes is {max}"),
                );
                let origin = Origin {
                    source: format!("file:{}", t.path.display()),
                    position: format!("offset {}", line_offset - skipped),
                };
                self.intake.quarantine.put(&rej, &origin, &excerpt);
                rejected = true;
            } else {
                t.offset += nl as u64 + 1;
                let trimmed = line.trim_ascii();
                if !trimmed.is_empty() {
                    let path = &t.path;
                    let origin = || Origin {
                        source: format!("file:{}", path.display()),
                        position: format!("offset {line_offset}"),
                    };
                    match self.intake.check(trimmed, origin) {
                        Ok(r) => records.push(r),
                        Err(_) => rejected = true,
                    }
                }
            }
            pos += nl + 1;
        }
        t.buf.drain(..pos);
        // A partial line that is already too long: stop buffering it.
        if t.buf.len() > max + 2 {
            let (seen, mut excerpt) = t.oversize.take().unwrap_or((0, Vec::new()));
            if excerpt.len() < OVERSIZE_EXCERPT {
                let take = (OVERSIZE_EXCERPT - excerpt.len()).min(t.buf.len());
                excerpt.extend_from_slice(&t.buf[..take]);
            }
            t.oversize = Some((seen + t.buf.len() as u64, excerpt));
            t.buf.clear();
        } else if let Some((seen, excerpt)) = t.oversize.as_mut() {
            *seen += t.buf.len() as u64;
            let _ = excerpt;
            t.buf.clear();
        }
        if pos == 0 {
            return Ok(false);
        }
        if rejected {
            if let Err(e) = self.intake.quarantine.sync() {
                tracing::warn!(error = %e, "cannot fsync quarantine");
            }
        }
        let positions = vec![Position {
            key: t.key.clone(),
            offset: t.offset,
        }];
        if let Err(e) = self.intake.spool(records, positions, None) {
            // The WAL failed: nothing more can be accepted; stop reading this file.
            tracing::error!(error = %e, path = %t.path.display(), "cannot spool records");
            self.stop.store(true, Relaxed);
        }
        Ok(true)
    }
}

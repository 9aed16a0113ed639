//! The batcher: routes spooled records into per-(trail, account, region) staged gzip files,
//! seals them on the delivery interval or the size cap, and hands sealed files to destinations.
//!
//! It runs on one thread and owns all partition state; compression runs on the worker pool.
//! Checkpoints are taken by quiescing: every pending byte is compressed and written, staged files
//! are fsynced, the [`manifest::Manifest`] is saved, and only then are WAL segments released and
//! sealed files handed out. So after a crash, truncating staged files to their checkpointed
//! length and replaying the WAL from `next_seq` rebuilds exactly the pre-crash state: no record is
//! lost and none is staged twice. Sealed files keep their object key across restarts, and
//! destinations write with no-overwrite semantics, so re-delivery after a crash is idempotent.

pub mod manifest;
pub mod partition;
pub mod workers;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};

use crate::config::Trail;
use crate::deliver::{Delivered, SealedFile};
use crate::digest::log_hash::{LANES, LogHasher};
use crate::encode::gzip::Checksum;
use crate::encode::object_key;
use crate::metrics::Metrics;
use crate::record::{AccountId, Region};
use crate::route::Router;
use crate::wal::{Spooled, WalHandle};
use manifest::{Manifest, OpenEntry, SealedEntry};
use partition::{FxMap, PartKey, Partition, RECORDS_CLOSE};

/// Chunk size handed to a compression worker.
const CHUNK_BYTES: usize = 1 << 20;
/// Take a checkpoint at least this often while data flows.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);
/// …or once this much was received since the last one (bounds WAL size and replay time).
const CHECKPOINT_BYTES: u64 = 256 * 1024 * 1024;

/// Requests from the agent.
pub enum Control {
    /// Seal every open file now and answer once all records with sequence number < `upto_seq`
    /// are delivered to every destination.
    Flush { upto_seq: u64, reply: Sender<()> },
    /// Trails changed: seal the open files of trails that stopped or whose storage changed
    /// (under the settings they were written with), then route with `router`; answer when done.
    Reconfigure {
        router: Arc<Router>,
        reply: Sender<()>,
    },
}

/// Everything the batcher needs.
pub struct BatcherParts {
    pub data_dir: PathBuf,
    pub router: Arc<Router>,
    pub wal: WalHandle,
    pub metrics: Arc<Metrics>,
    /// Released as records arrive from the WAL.
    pub budget: Arc<crate::intake::Budget>,
    pub records: Receiver<Spooled>,
    pub control: Receiver<Control>,
    pub delivered: Receiver<Delivered>,
    /// One queue per destination.
    pub destinations: Vec<Sender<SealedFile>>,
    pub compression_threads: usize,
    /// Nice value of the compression workers ([`crate::priority`]).
    pub background_nice: i32,
    /// Bytes of pending (uncompressed) data across partitions before the largest are flushed.
    pub pending_limit: usize,
    /// Digest files for trails with log file validation (told about every delivered file).
    pub digester: crate::digest::Digester,
}

/// Owner of all partition state.
pub struct Batcher {
    parts: BatcherParts,
    staging: PathBuf,
    manifest_path: PathBuf,
    open: FxMap<PartKey, Partition>,
    ids: FxMap<u64, PartKey>,
    sealed: HashMap<u64, SealedEntry>,
    next_id: u64,
    /// Every record with a sequence number below this has been received.
    received_seq: u64,
    pending_bytes: usize,
    inflight: usize,
    max_inflight: usize,
    /// Staged files kept open at most (the rest are opened per write).
    max_open_files: usize,
    jobs: Option<Sender<workers::Job>>,
    /// Chunks of hashed files (trails with log file validation), each of a different file,
    /// waiting to be hashed together ([`crate::digest::log_hash`]) and then sent: at most
    /// `LANES - 1`, never one of a file that is about to take another chunk, none after a
    /// checkpoint. Releasing them may put up to `LANES - 1` jobs beyond `max_inflight` in
    /// flight (at most 1 MiB each), so the bound on compression memory still holds.
    held: Vec<(PartKey, workers::Job)>,
    results: Receiver<workers::Done>,
    worker_threads: Vec<std::thread::JoinHandle<()>>,
    last_checkpoint: Instant,
    bytes_since_checkpoint: u64,
    manifest_dirty: bool,
    /// The manifest as of the last checkpoint: the only consistent view of open files and
    /// `next_seq` (between checkpoints only the sealed list changes, by deliveries).
    snapshot: Manifest,
    /// Staged files delivered everywhere; deleted once a saved manifest no longer names them.
    garbage: Vec<u64>,
    flushes: Vec<(u64, Vec<u64>, Sender<()>)>,
    route_buf: Vec<u16>,
    /// Final digests were written (at shutdown).
    digests_closed: bool,
    /// Trails whose digest chains end once their last sealed files are delivered.
    ending_chains: Vec<String>,
}

/// Errors that stop the batcher.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("staging I/O error on {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read the batcher checkpoint: {0}")]
    Manifest(std::io::Error),
}

/// How many staged files may stay open: half the descriptor limit, after raising the soft limit
/// to the hard one.
fn open_file_budget() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 256;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    ((lim.rlim_cur / 2) as usize).clamp(64, 65_536)
}

/// Runs a file-system step until it succeeds. Staging errors (disk full, I/O hiccups) leave
/// every record safe in the WAL, so waiting is the right answer: intake backs up (sources slow
/// down, HTTP answers 503) instead of the agent failing or dropping data.
fn retry_io<T>(what: &str, mut f: impl FnMut() -> std::io::Result<T>) -> T {
    let mut attempt = 0;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) => {
                let wait = crate::deliver::backoff(attempt.min(8));
                tracing::error!(error = %e, step = what, retry_in_ms = wait.as_millis() as u64, "staging I/O failed; retrying");
                std::thread::sleep(wait);
                attempt += 1;
            }
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> BatchError + '_ {
    move |source| BatchError::Io {
        path: path.to_path_buf(),
        error: source,
    }
}

impl Batcher {
    /// Restores state from the manifest; returns the batcher and the WAL sequence number replay
    /// must start from.
    pub fn recover(parts: BatcherParts) -> Result<(Self, u64), BatchError> {
        let dir = parts.data_dir.join("batcher");
        let staging = dir.join("staging");
        std::fs::create_dir_all(&staging).map_err(io_at(&staging))?;
        let manifest_path = dir.join("manifest.json");
        let manifest = Manifest::load(&manifest_path).map_err(BatchError::Manifest)?;
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded(parts.compression_threads * 2);
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let worker_threads = workers::spawn(
            parts.compression_threads,
            parts.background_nice,
            jobs_rx,
            done_tx,
        );
        let max_inflight = parts.compression_threads * 2;
        let mut b = Batcher {
            staging,
            manifest_path,
            open: FxMap::default(),
            ids: FxMap::default(),
            sealed: HashMap::new(),
            next_id: manifest.next_id,
            received_seq: manifest.next_seq,
            pending_bytes: 0,
            inflight: 0,
            max_inflight,
            max_open_files: open_file_budget(),
            jobs: Some(jobs_tx),
            held: Vec::with_capacity(LANES),
            results: done_rx,
            worker_threads,
            last_checkpoint: Instant::now(),
            bytes_since_checkpoint: 0,
            manifest_dirty: false,
            snapshot: manifest.clone(),
            garbage: Vec::new(),
            flushes: Vec::new(),
            route_buf: Vec::new(),
            digests_closed: false,
            ending_chains: Vec::new(),
            parts,
        };
        let mut pending = 0u64;
        let mut orphans = Vec::new();
        for e in &manifest.open {
            pending += e.records;
            match b.recover_open(e) {
                Ok(()) => {}
                Err(err) => {
                    tracing::error!(error = %err, file = e.id, "cannot recover staged file; sealing what is durable");
                    orphans.push(e.clone());
                }
            }
        }
        for s in &manifest.sealed {
            pending += s.records;
            b.sealed.insert(s.id, s.clone());
        }
        b.parts.metrics.records_pending.store(pending, Relaxed);
        // Staged files the checkpoint does not name were created after it: their records are
        // still in the WAL.
        let known: std::collections::HashSet<u64> = manifest
            .open
            .iter()
            .map(|e| e.id)
            .chain(manifest.sealed.iter().map(|s| s.id))
            .collect();
        if let Ok(dir) = std::fs::read_dir(&b.staging) {
            for entry in dir.flatten() {
                let p = entry.path();
                let id = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| u64::from_str_radix(s, 16).ok());
                if id.is_none_or(|id| !known.contains(&id)) {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        for e in orphans {
            // Its trail is gone from the configuration (or the file is damaged): close the file
            // as it stands and deliver it where it was headed, rather than drop accepted data.
            match b.seal_orphan(&e) {
                Ok(entry) => {
                    tracing::warn!(file = e.id, key = %entry.key, records = e.records, "sealed a staged file whose trail is no longer configured");
                    b.snapshot.open.retain(|o| o.id != e.id);
                    b.sealed.insert(entry.id, entry);
                }
                Err(err) => tracing::error!(
                    file = e.id,
                    records = e.records,
                    error = %err,
                    "staged file lost; its records cannot be recovered"
                ),
            }
        }
        b.save_manifest();
        let next_seq = manifest.next_seq;
        // Hand sealed files out again (idempotent at the destinations).
        let sealed: Vec<SealedEntry> = b.sealed.values().cloned().collect();
        for s in sealed {
            b.dispatch_sealed(&s);
        }
        b.parts.digester.redispatch(&b.parts.destinations);
        Ok((b, next_seq))
    }

    fn recover_open(&mut self, e: &OpenEntry) -> Result<(), String> {
        let trail = self
            .parts
            .router
            .trails()
            .iter()
            .position(|t| t.name == e.trail)
            .ok_or_else(|| format!("trail {} no longer configured", e.trail))?;
        let account = AccountId::parse(&e.account).ok_or("bad account")?;
        let region = Region::parse(&e.region).ok_or("bad region")?;
        let key = PartKey {
            trail: trail as u16,
            account,
            region,
        };
        let level = self.parts.router.trails()[trail].gzip_level;
        let sum = Checksum {
            crc: e.crc,
            len: e.raw_len,
        };
        let hashed = self.parts.router.trails()[trail]
            .digest_interval_secs
            .is_some();
        let mut p = Partition::recover(
            e.id,
            key,
            self.staging_path(e.id),
            level,
            e.written,
            sum,
            e.records,
            e.opened_at,
            hashed,
        )
        .map_err(|err| err.to_string())?;
        p.oldest = e.oldest;
        p.newest = e.newest;
        self.ids.insert(e.id, key);
        self.open.insert(key, p);
        Ok(())
    }

    /// Closes a recovered staged file that no partition will continue: `]}`, the final block
    /// and the trailer go after its durable length.
    fn seal_orphan(&self, e: &OpenEntry) -> Result<SealedEntry, String> {
        let account = AccountId::parse(&e.account).ok_or("bad account in checkpoint")?;
        let region = Region::parse(&e.region).ok_or("bad region in checkpoint")?;
        let key = PartKey {
            trail: 0,
            account,
            region,
        };
        let sum = Checksum {
            crc: e.crc,
            len: e.raw_len,
        };
        let mut p = Partition::recover(
            e.id,
            key,
            self.staging_path(e.id),
            6,
            e.written,
            sum,
            e.records,
            e.opened_at,
            false,
        )
        .map_err(|err| err.to_string())?;
        p.pending.extend_from_slice(RECORDS_CLOSE);
        let (chunk, dictionary, data) = p.take_chunk().ok_or("nothing to close")?;
        p.hash_chunk(&data);
        let mut compressed = Vec::new();
        let sum = crate::encode::gzip::ChunkCompressor::new(6).compress(
            &dictionary,
            &data,
            &mut compressed,
        );
        p.complete(chunk, compressed, sum);
        p.write_ready().map_err(|err| err.to_string())?;
        let bytes = p.finish().map_err(|err| err.to_string())?;
        crate::fsutil::sync_filesystem(&self.staging).map_err(|err| err.to_string())?;
        let object_key = object_key::log_file_key(
            &e.prefix,
            None,
            account,
            region,
            chrono::Utc::now(),
            &object_key::unique_suffix(),
        );
        Ok(SealedEntry {
            id: e.id,
            trail: e.trail.clone(),
            bucket: e.bucket.clone(),
            key: object_key,
            records: e.records,
            bytes,
            pending: (0..self.parts.destinations.len()).collect(),
            hash: None,
        })
    }

    fn staging_path(&self, id: u64) -> PathBuf {
        self.staging.join(format!("{id:016x}.gz"))
    }

    /// Feeds a replayed record (from the WAL, before the writer starts).
    pub fn replay(&mut self, seq: u64, record: crate::record::Record) -> Result<(), BatchError> {
        self.add(Spooled {
            first_seq: seq,
            records: vec![record],
        })
    }

    /// Runs until the record channel closes and everything is sealed and delivered (or the
    /// grace period after close passes). `grace` is read when the record channel closes.
    pub fn run(mut self, grace: Arc<dyn Fn() -> Duration + Send + Sync>) -> Result<(), BatchError> {
        let result = self.run_loop(grace);
        if let Err(e) = &result {
            tracing::error!(error = %e, "batcher stopped");
        }
        self.jobs = None;
        for t in self.worker_threads.drain(..) {
            let _ = t.join();
        }
        result
    }

    fn run_loop(
        &mut self,
        grace: Arc<dyn Fn() -> Duration + Send + Sync>,
    ) -> Result<(), BatchError> {
        let tick = crossbeam_channel::tick(Duration::from_millis(250));
        let records = self.parts.records.clone();
        let control = self.parts.control.clone();
        let delivered = self.parts.delivered.clone();
        let mut closed_at: Option<Instant> = None;
        let mut records_rx = Some(records);
        loop {
            let never = crossbeam_channel::never();
            let rx = records_rx.as_ref().unwrap_or(&never);
            select! {
                recv(rx) -> msg => match msg {
                    Ok(batch) => self.receive(batch)?,
                    Err(_) => {
                        records_rx = None;
                        closed_at = Some(Instant::now());
                        self.checkpoint(|_| true)?;
                    }
                },
                recv(self.results) -> done => if let Ok(done) = done { self.on_compressed(done)? },
                recv(control) -> c => if let Ok(c) = c { self.on_control(c, records_rx.as_ref())? },
                recv(delivered) -> d => if let Ok(d) = d { self.on_delivered(d) },
                recv(tick) -> _ => self.on_tick()?,
            }
            if let Some(at) = closed_at {
                if self.sealed.is_empty() && self.open.is_empty() && !self.digests_closed {
                    // Everything read is delivered: a final digest covers it.
                    self.digests_closed = true;
                    let now = chrono::Utc::now().timestamp();
                    self.parts.digester.close_all(now, &self.parts.destinations);
                }
                if self.sealed.is_empty() && self.open.is_empty() && self.parts.digester.idle() {
                    self.save_manifest();
                    return Ok(());
                }
                if at.elapsed() > grace() {
                    self.save_manifest();
                    tracing::warn!(
                        files = self.sealed.len(),
                        "shutdown grace period over; undelivered files stay staged for the next start"
                    );
                    return Ok(());
                }
            }
        }
    }

    /// Takes a batch from the WAL and returns its bytes to the memory budget.
    fn receive(&mut self, batch: Spooled) -> Result<(), BatchError> {
        let bytes: u64 = batch
            .records
            .iter()
            .map(crate::record::Record::footprint)
            .sum();
        let result = self.add(batch);
        self.parts.budget.release(bytes);
        result
    }

    fn add(&mut self, batch: Spooled) -> Result<(), BatchError> {
        let mut copies = 0u64;
        let mut route = std::mem::take(&mut self.route_buf);
        let mut full: Vec<PartKey> = Vec::new();
        for (i, record) in batch.records.iter().enumerate() {
            let region = self.parts.router.route(record, &mut route);
            for &trail in &route {
                let key = PartKey {
                    trail,
                    account: record.account,
                    region,
                };
                if !self.open.contains_key(&key) {
                    self.open_partition(key)?;
                }
                let Some(part) = self.open.get_mut(&key) else {
                    continue;
                };
                part.push(&record.bytes);
                if part.hash.is_some() {
                    part.note_time(record.event_time);
                }
                let chunk_full = part.pending.len() >= CHUNK_BYTES;
                copies += 1;
                self.pending_bytes += record.bytes.len() + 1;
                self.bytes_since_checkpoint += record.bytes.len() as u64;
                if chunk_full {
                    self.flush_partition(key)?;
                }
                if self
                    .open
                    .get(&key)
                    .is_some_and(|p| p.size_bound() >= self.max_file_bytes(trail))
                {
                    full.push(key);
                }
            }
            // This record is now in every partition it belongs to: a checkpoint taken from here
            // on covers it (and must, or replay would stage it twice).
            self.received_seq = self.received_seq.max(batch.first_seq + i as u64 + 1);
            if !full.is_empty() {
                let seal = std::mem::take(&mut full);
                self.checkpoint(|p| seal.contains(&p.key))?;
            }
        }
        self.route_buf = route;
        self.parts
            .metrics
            .records_pending
            .fetch_add(copies, Relaxed);
        if self.pending_bytes > self.parts.pending_limit {
            self.relieve_memory()?;
        }
        if self.bytes_since_checkpoint >= CHECKPOINT_BYTES {
            self.checkpoint(|_| false)?;
        }
        Ok(())
    }

    fn max_file_bytes(&self, trail: u16) -> u64 {
        self.parts.router.trails()[trail as usize].max_file_bytes
    }

    fn open_partition(&mut self, key: PartKey) -> Result<(), BatchError> {
        let id = self.next_id;
        self.next_id += 1;
        let path = self.staging_path(id);
        let trail = &self.parts.router.trails()[key.trail as usize];
        let (level, hashed) = (trail.gzip_level, trail.digest_interval_secs.is_some());
        let now = chrono::Utc::now().timestamp();
        let keep_open = self.open.len() < self.max_open_files;
        let p = retry_io("create staged file", || {
            Partition::create(id, key, path.clone(), level, now, keep_open, hashed)
        });
        self.ids.insert(id, key);
        self.open.insert(key, p);
        Ok(())
    }

    /// Hands the partition's pending bytes to a worker; a hashed file's chunk first waits in
    /// [`Self::held`] until it can be hashed with others.
    fn flush_partition(&mut self, key: PartKey) -> Result<(), BatchError> {
        while self.inflight >= self.max_inflight {
            self.wait_one_result()?;
        }
        if self.held.iter().any(|(k, _)| *k == key) {
            // A file's chunks are hashed in order.
            self.release_held()?;
        }
        let Some(p) = self.open.get_mut(&key) else {
            return Ok(());
        };
        let Some((chunk, dictionary, data)) = p.take_chunk() else {
            return Ok(());
        };
        self.pending_bytes = self.pending_bytes.saturating_sub(data.len());
        let job = workers::Job {
            partition: p.id,
            chunk,
            level: p.level,
            dictionary,
            data,
        };
        if p.hash.is_none() {
            return self.send(job);
        }
        self.held.push((key, job));
        if self.held.len() == LANES {
            self.release_held()?;
        }
        Ok(())
    }

    /// Hashes the held chunks together and sends them.
    fn release_held(&mut self) -> Result<(), BatchError> {
        let held = std::mem::take(&mut self.held);
        // The hashers step out of their files for the call.
        let mut hashers: Vec<Option<LogHasher>> = held
            .iter()
            .map(|(k, _)| self.open.get_mut(k).and_then(|p| p.hash.take()))
            .collect();
        let mut lanes: Vec<(&mut LogHasher, &[u8])> = hashers
            .iter_mut()
            .zip(&held)
            .filter_map(|(h, (_, job))| Some((h.as_mut()?, job.data.as_slice())))
            .collect();
        LogHasher::update_many(&mut lanes);
        for ((key, _), hasher) in held.iter().zip(hashers) {
            if let Some(p) = self.open.get_mut(key) {
                p.hash = hasher;
            }
        }
        for (_, job) in held {
            self.send(job)?;
        }
        Ok(())
    }

    fn send(&mut self, job: workers::Job) -> Result<(), BatchError> {
        self.inflight += 1;
        if let Some(jobs) = &self.jobs {
            if jobs.send(job).is_err() {
                return Err(BatchError::Io {
                    path: self.staging.clone(),
                    error: std::io::Error::other("compression workers stopped"),
                });
            }
        }
        Ok(())
    }

    /// Flushes the largest pending buffers until pending bytes are under half the limit.
    fn relieve_memory(&mut self) -> Result<(), BatchError> {
        let mut sizes: Vec<(usize, PartKey)> = self
            .open
            .iter()
            .filter(|(_, p)| !p.pending.is_empty())
            .map(|(k, p)| (p.pending.len(), *k))
            .collect();
        sizes.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
        for (_, key) in sizes {
            if self.pending_bytes <= self.parts.pending_limit / 2 {
                break;
            }
            self.flush_partition(key)?;
        }
        Ok(())
    }

    fn wait_one_result(&mut self) -> Result<(), BatchError> {
        match self.results.recv() {
            Ok(done) => self.on_compressed(done),
            Err(_) => Err(BatchError::Io {
                path: self.staging.clone(),
                error: std::io::Error::other("compression workers stopped"),
            }),
        }
    }

    fn on_compressed(&mut self, done: workers::Done) -> Result<(), BatchError> {
        let Some(key) = self.ids.get(&done.partition).copied() else {
            return Ok(());
        };
        let Some(p) = self.open.get_mut(&key) else {
            return Ok(());
        };
        p.complete(done.chunk, done.compressed, done.sum);
        let n = retry_io("write staged file", || p.write_ready());
        self.inflight -= n as usize;
        Ok(())
    }

    /// Quiesces, seals the partitions `seal` selects, fsyncs, saves the manifest, releases the
    /// WAL and hands sealed files to destinations.
    fn checkpoint(&mut self, seal: impl Fn(&Partition) -> bool) -> Result<(), BatchError> {
        let keys: Vec<PartKey> = self.open.keys().copied().collect();
        let mut to_seal = Vec::new();
        for key in keys {
            if let Some(p) = self.open.get_mut(&key) {
                if seal(p) {
                    p.pending.extend_from_slice(RECORDS_CLOSE);
                    to_seal.push(key);
                }
            }
            self.flush_partition(key)?;
        }
        self.release_held()?;
        while self.inflight > 0 {
            self.wait_one_result()?;
        }
        let now = chrono::Utc::now();
        let mut new_sealed = Vec::new();
        for key in to_seal {
            let Some(mut p) = self.open.remove(&key) else {
                continue;
            };
            self.ids.remove(&p.id);
            let bytes = retry_io("seal staged file", || p.finish());
            let trail: &Trail = &self.parts.router.trails()[key.trail as usize];
            let object_key = object_key::log_file_key(
                &trail.prefix,
                trail.organization.as_deref(),
                key.account,
                key.region,
                now,
                &object_key::unique_suffix(),
            );
            let hash = p.hash.take().map(|h| crate::digest::LogHash {
                account: key.account.to_string(),
                region: key.region.to_string(),
                sha256: h.finalize_hex(),
                oldest: p.oldest,
                newest: p.newest,
                sealed_at: Some(now.timestamp()),
            });
            let entry = SealedEntry {
                id: p.id,
                trail: trail.name.clone(),
                bucket: trail.bucket.clone(),
                key: object_key,
                records: p.records,
                bytes,
                pending: (0..self.parts.destinations.len()).collect(),
                hash,
            };
            self.sealed.insert(p.id, entry.clone());
            new_sealed.push(entry);
        }
        // One syncfs makes every staged file (and the folder) durable.
        retry_io("sync staged files", || {
            crate::fsutil::sync_filesystem(&self.staging)
        });
        self.save_checkpoint();
        self.parts.wal.release_before(self.received_seq);
        self.last_checkpoint = Instant::now();
        self.bytes_since_checkpoint = 0;
        for s in &new_sealed {
            self.dispatch_sealed(s);
        }
        Ok(())
    }

    /// Saves a full checkpoint of the current (quiesced) state.
    fn save_checkpoint(&mut self) {
        let open = self
            .open
            .values()
            .map(|p| {
                let trail = &self.parts.router.trails()[p.key.trail as usize];
                OpenEntry {
                    id: p.id,
                    trail: trail.name.clone(),
                    bucket: trail.bucket.clone(),
                    prefix: trail.prefix.clone(),
                    account: p.key.account.to_string(),
                    region: p.key.region.to_string(),
                    written: p.written,
                    crc: p.sum.crc,
                    raw_len: p.sum.len,
                    records: p.records,
                    opened_at: p.opened_at,
                    oldest: p.oldest,
                    newest: p.newest,
                }
            })
            .collect();
        self.snapshot = Manifest {
            version: 1,
            next_seq: self.received_seq,
            next_id: self.next_id,
            open,
            sealed: Vec::new(),
        };
        self.save_manifest();
    }

    /// Saves the last checkpoint with the current list of sealed files (deliveries shrink it).
    fn save_manifest(&mut self) {
        // Files the manifest forgets below must already be in the digest state.
        retry_io("save digest state", || {
            self.parts
                .digester
                .save_if_dirty()
                .map_err(std::io::Error::other)
        });
        let mut m = self.snapshot.clone();
        m.sealed = self.sealed.values().cloned().collect();
        m.sealed.sort_by_key(|s| s.id);
        retry_io("save batcher checkpoint", || m.save(&self.manifest_path));
        self.parts
            .digester
            .checkpoint_saved(|id| m.sealed.iter().any(|s| s.id == id));
        self.manifest_dirty = false;
        for id in std::mem::take(&mut self.garbage) {
            let _ = std::fs::remove_file(self.staging_path(id));
        }
    }

    fn dispatch_sealed(&self, s: &SealedEntry) {
        let file = SealedFile {
            id: s.id,
            trail: s.trail.clone(),
            digest: false,
            path: self.staging_path(s.id),
            bucket: s.bucket.clone(),
            key: s.key.clone(),
            records: s.records,
            bytes: s.bytes,
            metadata: Default::default(),
        };
        for &d in &s.pending {
            if let Some(q) = self.parts.destinations.get(d) {
                let _ = q.send(file.clone());
            }
        }
    }

    fn on_delivered(&mut self, d: Delivered) {
        if d.id & crate::digest::DIGEST_ID_BIT != 0 {
            self.parts.digester.confirmed(d.id, d.destination);
            return;
        }
        let done = match self.sealed.get_mut(&d.id) {
            Some(s) => {
                s.pending.retain(|&x| x != d.destination);
                s.pending.is_empty()
            }
            None => false,
        };
        self.manifest_dirty = true;
        if done {
            if let Some(s) = self.sealed.remove(&d.id) {
                let m = &self.parts.metrics;
                // Delivered everywhere: the file, its bytes and its records count as delivered.
                m.files_delivered.fetch_add(1, Relaxed);
                m.bytes_delivered.fetch_add(s.bytes, Relaxed);
                m.records_delivered.fetch_add(s.records, Relaxed);
                m.records_pending
                    .fetch_sub(s.records.min(m.records_pending.load(Relaxed)), Relaxed);
                self.garbage.push(s.id);
                self.parts.digester.delivered(
                    s.id,
                    &s.trail,
                    &s.bucket,
                    &s.key,
                    s.hash.as_ref(),
                    chrono::Utc::now().timestamp(),
                    &self.parts.destinations,
                );
            }
            self.answer_flushes();
        }
    }

    fn on_control(
        &mut self,
        c: Control,
        records: Option<&Receiver<Spooled>>,
    ) -> Result<(), BatchError> {
        match c {
            Control::Reconfigure { router, reply } => {
                self.reconfigure(router)?;
                let _ = reply.send(());
            }
            Control::Flush { upto_seq, reply } => {
                // Take in everything the WAL forwarded before the flush was asked for.
                if let Some(rx) = records {
                    while self.received_seq < upto_seq {
                        match rx.recv_timeout(Duration::from_secs(5)) {
                            Ok(batch) => self.receive(batch)?,
                            Err(_) => break,
                        }
                    }
                }
                self.checkpoint(|_| true)?;
                let waiting: Vec<u64> = self.sealed.keys().copied().collect();
                self.flushes.push((upto_seq, waiting, reply));
                self.answer_flushes();
            }
        }
        Ok(())
    }

    /// Switches to a new trail set (see [`Control::Reconfigure`]). Trail indices are stable, so
    /// open partitions of unchanged trails carry on.
    fn reconfigure(&mut self, router: Arc<Router>) -> Result<(), BatchError> {
        let old = self.parts.router.trails();
        let new = router.trails();
        let closes = |i: usize| match (old.get(i), new.get(i)) {
            (Some(o), Some(n)) => {
                !n.logging
                    || (&o.name, &o.bucket, &o.prefix, &o.organization)
                        != (&n.name, &n.bucket, &n.prefix, &n.organization)
                    || o.digest_interval_secs.is_some() != n.digest_interval_secs.is_some()
            }
            _ => true,
        };
        let seal: Vec<u16> = (0..old.len())
            .filter(|&i| closes(i))
            .map(|i| i as u16)
            .collect();
        // Chains of trails that stop validating end after their last files are delivered.
        for (i, o) in old.iter().enumerate() {
            let validates = new
                .get(i)
                .is_some_and(|n| n.logging && n.digest_interval_secs.is_some() && n.name == o.name);
            if !validates
                && self.parts.digester.validates(&o.name)
                && !self.ending_chains.contains(&o.name)
            {
                self.ending_chains.push(o.name.clone());
            }
        }
        if self.open.values().any(|p| seal.contains(&p.key.trail)) {
            self.checkpoint(|p| seal.contains(&p.key.trail))?;
        }
        let now = chrono::Utc::now().timestamp();
        self.ending_chains.retain(|name| {
            !new.iter()
                .any(|n| &n.name == name && n.logging && n.digest_interval_secs.is_some())
        });
        self.parts.digester.add_trails(new, now);
        self.parts.router = router;
        self.end_finished_chains(now);
        Ok(())
    }

    /// Ends the digest chains of [`Self::ending_chains`] whose trails have no file left to
    /// deliver.
    fn end_finished_chains(&mut self, now: i64) {
        let sealed = &self.sealed;
        let (done, waiting): (Vec<String>, Vec<String>) = std::mem::take(&mut self.ending_chains)
            .into_iter()
            .partition(|name| !sealed.values().any(|s| &s.trail == name));
        self.ending_chains = waiting;
        for name in done {
            self.parts
                .digester
                .end_trail(&name, now, &self.parts.destinations);
        }
    }

    fn answer_flushes(&mut self) {
        let sealed = &self.sealed;
        self.flushes.retain(|(_, ids, reply)| {
            if ids.iter().all(|id| !sealed.contains_key(id)) {
                let _ = reply.send(());
                false
            } else {
                true
            }
        });
    }

    fn on_tick(&mut self) -> Result<(), BatchError> {
        let now = chrono::Utc::now().timestamp();
        self.parts.digester.tick(now, &self.parts.destinations);
        if !self.ending_chains.is_empty() {
            self.end_finished_chains(now);
        }
        self.parts.digester.save_soon();
        let trails = self.parts.router.trails();
        let due: Vec<PartKey> = self
            .open
            .values()
            .filter(|p| {
                now - p.opened_at >= trails[p.key.trail as usize].delivery_interval_secs as i64
            })
            .map(|p| p.key)
            .collect();
        if !due.is_empty() {
            self.checkpoint(|p| due.contains(&p.key))?;
        } else if self.bytes_since_checkpoint > 0
            && self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY
        {
            self.checkpoint(|_| false)?;
        } else if self.manifest_dirty && self.last_checkpoint.elapsed() >= Duration::from_secs(1) {
            self.save_manifest();
        }
        Ok(())
    }
}

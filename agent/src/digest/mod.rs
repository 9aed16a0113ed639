//! Log file integrity validation: signed digest files that the stock
//! `aws cloudtrail validate-logs` accepts.
//!
//! For each trail with `enable_log_file_validation = true` the [`Digester`] keeps one chain per
//! (account, source region). Every `digest_interval_secs` a chain's open period closes: a digest
//! listing the log files delivered (to every destination) during the period, empty or not, is
//! built ([`file`]), signed with the region's key ([`keys`], [`sign`]) and delivered through the
//! same destinations as log files, with `signature` / `signature-algorithm` user metadata.
//!
//! It runs on the batcher thread: the batcher reports each log file delivered everywhere
//! ([`Digester::delivered`]), forwards confirmations of digest files (ids with
//! [`DIGEST_ID_BIT`]), and calls [`Digester::tick`] four times a second. The batcher thread only
//! does bookkeeping: building, hashing, signing (local key or AWS KMS) and writing a digest run
//! on the signing threads ([`signer`]), whose results `tick` collects, so a slow or failing KMS
//! delays digests, never log files. State lives in `<data_dir>/digest/` ([`state`] states the
//! crash invariants).
//!
//! Backfill: a log file sealed in a period whose digest was already closed when the file was
//! finally confirmed (a delivery retried across an outage or a restart) is listed by the chain's
//! next `_backfill` digest (same window and end time as that period's standard digest, key
//! `…_<end>_backfill.json.gz`, metadata `backfill-generation-timestamp`), as CloudTrail does.
//! Backfill digests form a chain of their own per (trail, account, region).
//!
//! Chains: a chain continues across an agent restart when no period ended while the agent was
//! down; otherwise the overdue digest is written (dated its period's end) and a new chain starts
//! (all `previousDigest*` null), as CloudTrail does after logging restarts. A clean shutdown
//! writes a final digest covering everything delivered up to then.

pub mod file;
pub mod keys;
pub mod log_hash;
pub mod sign;
pub mod signer;
pub mod state;
pub mod validate;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::config::Trail;
use crate::deliver::SealedFile;
use crate::encode::object_key::logs_root;
use file::{DigestBody, LogFileEntry, iso};
use keys::{KeyError, KeyStore};
use state::{Chain, Closed, DeliveredLog, Link, Outgoing, State};

/// Set in the id of every digest file handed to destinations (log file ids never reach it).
pub const DIGEST_ID_BIT: u64 = 1 << 63;

/// What the batcher learns about a log file while staging it (for trails with validation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHash {
    pub account: String,
    pub region: String,
    /// Lowercase hex SHA-256 of the uncompressed file.
    pub sha256: String,
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// Unix seconds the file was sealed (its object key's time): decides whether its delivery
    /// is late (see the module docs). `None` in checkpoints of older versions.
    #[serde(default)]
    pub sealed_at: Option<i64>,
}

/// Why digests cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("digest state {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Sign(#[from] sign::SignError),
    #[error("cannot set up KMS signing: {0}")]
    Kms(String),
}

/// Delivery times and errors of one trail (`GetTrailStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailStatus {
    /// Last log file confirmed by every destination.
    pub latest_delivery: Option<i64>,
    /// Last attempt to store a log file, and the last one that worked.
    pub latest_delivery_attempt: Option<i64>,
    pub latest_delivery_attempt_succeeded: Option<i64>,
    /// The error of the last failed log file attempt (kept after later successes, as
    /// CloudTrail reports it).
    pub latest_delivery_error: Option<String>,
    pub latest_digest_delivery: Option<i64>,
    pub latest_digest_error: Option<String>,
}

/// What the digest writer shares with the control-plane API.
pub struct Shared {
    pub keys: Arc<KeyStore>,
    /// Unix seconds the agent started (`StartLoggingTime`).
    pub started: i64,
    status: Mutex<HashMap<String, TrailStatus>>,
    /// KMS keys of the trails that sign with one, by trail name.
    kms: HashMap<String, Arc<signer::KmsKey>>,
}

impl Shared {
    /// Opens the key store under `<data_dir>/digest/keys`.
    pub fn open(data_dir: &Path) -> Result<Self, KeyError> {
        Ok(Self {
            keys: Arc::new(KeyStore::open(
                &data_dir.join("digest").join("keys"),
                keys::DEFAULT_ROTATION_SECS,
            )?),
            started: chrono::Utc::now().timestamp(),
            status: Mutex::new(HashMap::new()),
            kms: HashMap::new(),
        })
    }

    /// Sets up the KMS keys of trails with `digest_signing_kms_key_id` (no call is made here:
    /// the public key is fetched by the first signing).
    pub fn with_kms(mut self, config: &crate::config::Config) -> Result<Self, DigestError> {
        let wanted = config.digest_signing_kms_keys();
        if wanted.is_empty() {
            return Ok(self);
        }
        let aws = Arc::new(
            crate::destination::AwsRuntime::new(&config.aws)
                .map_err(|e| DigestError::Kms(e.to_string()))?,
        );
        let mut by_key: HashMap<String, Arc<signer::KmsKey>> = HashMap::new();
        for (trail, key) in wanted {
            let k = by_key
                .entry(key.clone())
                .or_insert_with(|| Arc::new(signer::KmsKey::new(aws.clone(), &key)))
                .clone();
            self.kms.insert(trail, k);
        }
        Ok(self)
    }

    /// The trail's delivery status.
    pub fn status(&self, trail: &str) -> TrailStatus {
        self.status.lock().get(trail).cloned().unwrap_or_default()
    }

    fn update(&self, trail: &str, f: impl FnOnce(&mut TrailStatus)) {
        f(self.status.lock().entry(trail.to_string()).or_default());
    }
}

impl crate::deliver::DeliveryObserver for Shared {
    fn attempted(&self, file: &SealedFile, result: Result<(), &str>, now: i64) {
        self.update(&file.trail, |s| match (file.digest, result) {
            (false, Ok(())) => {
                s.latest_delivery_attempt = Some(now);
                s.latest_delivery_attempt_succeeded = Some(now);
            }
            (false, Err(e)) => {
                s.latest_delivery_attempt = Some(now);
                s.latest_delivery_error = Some(e.to_string());
            }
            (true, Ok(())) => {}
            (true, Err(e)) => s.latest_digest_error = Some(e.to_string()),
        });
    }
}

/// A trail's digest settings.
#[derive(Clone)]
struct DigestTrail {
    name: String,
    bucket: String,
    /// `[prefix/]AWSLogs/[o-id/]`: where the trail's log files and digests go.
    root: String,
    home_region: String,
    interval: i64,
    kms: Option<Arc<signer::KmsKey>>,
}

impl DigestTrail {
    /// The digest settings of `t`, which validates every `interval` seconds.
    fn new(t: &Trail, interval: u64, shared: &Shared) -> Self {
        Self {
            name: t.name.clone(),
            bucket: t.bucket.clone(),
            root: logs_root(&t.prefix, t.organization.as_deref()),
            home_region: t.home_region.to_string(),
            interval: interval as i64,
            kms: shared.kms.get(&t.name).cloned(),
        }
    }
}

/// The digest writer (see the module docs).
pub struct Digester {
    state_path: PathBuf,
    outbox: PathBuf,
    state: State,
    trails: Vec<DigestTrail>,
    shared: Arc<Shared>,
    destinations: usize,
    dirty: bool,
    /// When the state was last saved (saves after digest confirmations are batched).
    saved_at: std::time::Instant,
    /// Outbox files confirmed everywhere; deleted once a saved state no longer names them.
    garbage: Vec<u64>,
    pool: signer::Pool,
    /// Chains with a job at the signers.
    signing: HashSet<usize>,
    /// Chains whose last job failed: not before this instant, and how many failures in a row.
    retry: HashMap<usize, (std::time::Instant, u32)>,
    /// Digests signed whose state is not saved yet (handed out after the save).
    signed: Vec<Outgoing>,
    /// The account whose chains start with a trail (even before its first file).
    default_account: Option<String>,
}

/// Signing threads: with local keys signing is CPU work (two threads keep two cores busy at a
/// shutdown that signs thousands of final digests); KMS calls mostly wait on the network.
const LOCAL_SIGNING_THREADS: usize = 2;
const KMS_SIGNING_THREADS: usize = 8;

impl Digester {
    /// Loads the state, closes periods that fell due while the agent was down (and restarts
    /// those chains), and starts a chain for the default account in each validating trail's
    /// home region. Nothing here signs: digests are signed on the signing threads.
    pub fn open(
        data_dir: &Path,
        trails: &[Trail],
        default_account: Option<&str>,
        shared: Arc<Shared>,
        destinations: usize,
        now: i64,
    ) -> Result<Self, DigestError> {
        let dir = data_dir.join("digest");
        let outbox = dir.join("outbox");
        std::fs::create_dir_all(&outbox).map_err(|error| DigestError::Io {
            path: outbox.clone(),
            error,
        })?;
        let state_path = dir.join("state.json");
        let state = State::load(&state_path).map_err(|error| DigestError::Io {
            path: state_path.clone(),
            error,
        })?;
        let logging: Vec<&str> = trails
            .iter()
            .filter(|t| t.logging)
            .map(|t| t.name.as_str())
            .collect();
        // Stopped trails keep their settings: their ended chains may still have digests to sign.
        let trails = trails
            .iter()
            .filter_map(|t| {
                t.digest_interval_secs
                    .map(|interval| DigestTrail::new(t, interval, &shared))
            })
            .collect();
        let threads = if shared.kms.is_empty() {
            LOCAL_SIGNING_THREADS
        } else {
            KMS_SIGNING_THREADS
        };
        let pool = signer::Pool::spawn(threads, shared.keys.clone());
        let mut d = Self {
            state_path,
            outbox,
            state,
            trails,
            shared,
            destinations,
            dirty: true,
            saved_at: std::time::Instant::now(),
            garbage: Vec::new(),
            pool,
            signing: HashSet::new(),
            retry: HashMap::new(),
            signed: Vec::new(),
            default_account: default_account.map(str::to_string),
        };
        // Digests written but not in the saved state were never handed out: drop them (closed
        // ones are signed and written again).
        let known: HashSet<u64> = d.state.outbox.iter().map(|o| o.id).collect();
        if let Ok(entries) = std::fs::read_dir(&d.outbox) {
            for e in entries.flatten() {
                let id = e
                    .path()
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_suffix(".json"))
                    .and_then(|s| u64::from_str_radix(s, 16).ok());
                if id.is_none_or(|id| !known.contains(&(id | DIGEST_ID_BIT))) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let before = d.state.chains.len();
        let names: Vec<String> = d.trails.iter().map(|t| t.name.clone()).collect();
        // No job is in flight yet, so chains can be dropped here without shifting an index
        // a signer holds: ended chains with nothing left to sign go.
        d.state
            .chains
            .retain(|c| names.contains(&c.trail) && !(c.ended && c.closing.is_empty()));
        for c in &mut d.state.chains {
            if !c.ended && !logging.contains(&c.trail.as_str()) {
                // Stopped while the agent was down (config edit): the chain ends here.
                c.ended = true;
                c.restart = true;
                c.restart_backfill = true;
            }
        }
        if d.state.chains.len() < before {
            tracing::warn!(
                "log file validation was turned off for some trails: their digest chains end"
            );
        }
        // Periods that ended while the agent was down: close them, then restart the chain.
        for i in 0..d.state.chains.len() {
            let end = d.state.chains[i].period_end;
            if now >= end && !d.state.chains[i].ended {
                d.close(i, end, None, now);
                let interval = d.interval(&d.state.chains[i].trail);
                let c = &mut d.state.chains[i];
                c.restart = true;
                c.restart_backfill = true;
                c.period_start = now;
                c.period_end = now + interval;
            }
        }
        if let Some(account) = default_account {
            for t in d.trails.clone() {
                if logging.contains(&t.name.as_str()) {
                    d.chain(&t.name, account, &t.home_region, now);
                }
            }
        }
        d.save()?;
        Ok(d)
    }

    /// True when some trail has log file validation enabled.
    pub fn enabled(&self) -> bool {
        !self.trails.is_empty()
    }

    fn interval(&self, trail: &str) -> i64 {
        self.trails
            .iter()
            .find(|t| t.name == trail)
            .map_or(3600, |t| t.interval)
    }

    /// The chain for (trail, account, region), started at `start` if new.
    fn chain(&mut self, trail: &str, account: &str, region: &str, start: i64) -> usize {
        if let Some(i) = self
            .state
            .chains
            .iter()
            .position(|c| c.trail == trail && c.account == account && c.region == region)
        {
            let interval = self.interval(trail);
            let c = &mut self.state.chains[i];
            if c.ended {
                // Logging started again: a new chain, its first digest links to nothing.
                c.ended = false;
                c.restart = true;
                c.restart_backfill = true;
                c.period_start = start;
                c.period_end = start + interval;
                c.closed_until = start;
                self.dirty = true;
            }
            return i;
        }
        let interval = self.interval(trail);
        if !self
            .trails
            .iter()
            .any(|t| t.name == trail && t.kms.is_some())
        {
            self.shared.keys.prepare(region);
        }
        self.state.chains.push(Chain {
            trail: trail.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            period_start: start,
            period_end: start + interval,
            previous: None,
            files: Vec::new(),
            closed_until: 0,
            late: Vec::new(),
            previous_backfill: None,
            closing: Vec::new(),
            restart: false,
            restart_backfill: false,
            ended: false,
        });
        self.dirty = true;
        self.state.chains.len() - 1
    }

    /// Hands every digest not yet confirmed to the destinations that owe it (after a restart),
    /// and starts signing the closed ones.
    pub fn redispatch(&mut self, queues: &[Sender<SealedFile>]) {
        for o in &self.state.outbox {
            self.dispatch(o, queues);
        }
        self.pump();
    }

    fn outbox_path(&self, id: u64) -> PathBuf {
        self.outbox
            .join(format!("{:016x}.json.gz", id & !DIGEST_ID_BIT))
    }

    fn dispatch(&self, o: &Outgoing, queues: &[Sender<SealedFile>]) {
        let mut metadata: std::collections::BTreeMap<String, String> = [
            ("signature".to_string(), o.signature.clone()),
            (
                "signature-algorithm".to_string(),
                sign::SIGNATURE_ALGORITHM.to_string(),
            ),
        ]
        .into();
        if let Some(at) = o.backfill {
            metadata.insert("backfill-generation-timestamp".to_string(), iso(at));
        }
        let file = SealedFile {
            id: o.id,
            trail: o.trail.clone(),
            digest: true,
            path: self.outbox_path(o.id),
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            records: 0,
            bytes: o.bytes,
            metadata: metadata.into_iter().collect(),
        };
        for &d in &o.pending {
            if let Some(q) = queues.get(d) {
                let _ = q.send(file.clone());
            }
        }
    }

    /// Closes every period that has ended, collects signed digests (saves the state, then
    /// delivers them) and starts signing what is ready.
    pub fn tick(&mut self, now: i64, queues: &[Sender<SealedFile>]) {
        for i in 0..self.state.chains.len() {
            while !self.state.chains[i].ended && self.state.chains[i].period_end <= now {
                let end = self.state.chains[i].period_end;
                let next = end + self.interval(&self.state.chains[i].trail);
                self.close(i, end, Some(next), now);
            }
        }
        self.collect(queues);
        self.pump();
    }

    /// Takes in finished signing jobs; saves the state and hands the signed digests out.
    fn collect(&mut self, queues: &[Sender<SealedFile>]) {
        while let Some(done) = self.pool.try_done() {
            self.finish_job(done);
        }
        if self.signed.is_empty() {
            return;
        }
        // One sync makes every digest just written durable, before the state names them.
        let saved = crate::fsutil::sync_filesystem(&self.outbox)
            .map_err(|error| DigestError::Io {
                path: self.outbox.clone(),
                error,
            })
            .and_then(|()| self.save());
        if let Err(e) = saved {
            // Not handed out until the state naming them is saved (retried on the next call).
            tracing::error!(error = %e, "cannot save digest state; retrying");
            return;
        }
        for o in std::mem::take(&mut self.signed) {
            self.dispatch(&o, queues);
        }
    }

    fn finish_job(&mut self, done: signer::Done) {
        self.signing.remove(&done.chain);
        let signed = match done.result {
            Ok(s) => s,
            Err(e) => {
                let failures = self.retry.get(&done.chain).map_or(0, |r| r.1) + 1;
                let wait = crate::deliver::backoff(failures.min(10));
                tracing::error!(trail = %done.trail, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot sign digest; retrying");
                self.shared
                    .update(&done.trail, |s| s.latest_digest_error = Some(e.clone()));
                self.retry
                    .insert(done.chain, (std::time::Instant::now() + wait, failures));
                return;
            }
        };
        self.retry.remove(&done.chain);
        let Some(c) = self.state.chains.get_mut(done.chain) else {
            return;
        };
        if c.closing.first().is_none_or(|h| h.id != done.id) {
            return;
        }
        let closed = c.closing.remove(0);
        let Some(trail) = self.trails.iter().find(|t| t.name == c.trail) else {
            return;
        };
        let key = closed_key(trail, c, &closed);
        let link = Link {
            bucket: trail.bucket.clone(),
            key: key.clone(),
            sha256: signed.sha256,
            signature: signed.signature.clone(),
        };
        if closed.backfill.is_some() {
            c.previous_backfill = Some(link);
        } else {
            c.previous = Some(link);
        }
        let out = Outgoing {
            id: closed.id,
            trail: trail.name.clone(),
            bucket: trail.bucket.clone(),
            key,
            signature: signed.signature,
            bytes: signed.bytes,
            pending: (0..self.destinations).collect(),
            backfill: closed.backfill,
        };
        self.state.outbox.push(out.clone());
        self.signed.push(out);
        self.dirty = true;
    }

    /// Hands each chain's oldest closed digest to the signers (one job per chain at a time).
    fn pump(&mut self) {
        let now = std::time::Instant::now();
        for i in 0..self.state.chains.len() {
            let c = &self.state.chains[i];
            if c.closing.is_empty()
                || self.signing.contains(&i)
                || self.retry.get(&i).is_some_and(|r| r.0 > now)
            {
                continue;
            }
            let Some(trail) = self.trails.iter().find(|t| t.name == c.trail) else {
                continue;
            };
            let closed = &c.closing[0];
            let previous = match (closed.fresh, closed.backfill) {
                (true, _) => None,
                (false, None) => c.previous.as_ref(),
                (false, Some(_)) => c.previous_backfill.as_ref(),
            };
            let key = closed_key(trail, c, closed);
            let body = DigestBody {
                aws_account_id: c.account.clone(),
                digest_start_time: iso(closed.start),
                digest_end_time: iso(closed.end),
                digest_s3_bucket: trail.bucket.clone(),
                digest_s3_object: key,
                digest_public_key_fingerprint: String::new(),
                digest_signature_algorithm: sign::SIGNATURE_ALGORITHM.to_string(),
                newest_event_time: closed.files.iter().filter_map(|f| f.newest).max().map(iso),
                oldest_event_time: closed.files.iter().filter_map(|f| f.oldest).min().map(iso),
                previous_digest_s3_bucket: previous.map(|p| p.bucket.clone()),
                previous_digest_s3_object: previous.map(|p| p.key.clone()),
                previous_digest_hash_value: previous.map(|p| p.sha256.clone()),
                previous_digest_hash_algorithm: previous.map(|_| "SHA-256".to_string()),
                previous_digest_signature: previous.map(|p| p.signature.clone()),
                log_files: closed
                    .files
                    .iter()
                    .map(|f| LogFileEntry {
                        s3_bucket: f.bucket.clone(),
                        s3_object: f.key.clone(),
                        hash_value: f.sha256.clone(),
                        hash_algorithm: "SHA-256".to_string(),
                        newest_event_time: f.newest.map(iso),
                        oldest_event_time: f.oldest.map(iso),
                    })
                    .collect(),
            };
            let job = signer::Job {
                chain: i,
                id: closed.id,
                trail: trail.name.clone(),
                region: c.region.clone(),
                end: closed.end,
                body,
                kms: trail.kms.clone(),
                path: self.outbox_path(closed.id),
            };
            self.signing.insert(i);
            self.pool.submit(job);
        }
    }

    /// Log file `id` (the batcher's) was confirmed by every destination at `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn delivered(
        &mut self,
        id: u64,
        trail: &str,
        bucket: &str,
        key: &str,
        hash: Option<&LogHash>,
        now: i64,
        queues: &[Sender<SealedFile>],
    ) {
        self.shared.update(trail, |s| s.latest_delivery = Some(now));
        let Some(hash) = hash else {
            return;
        };
        if !self.trails.iter().any(|t| t.name == trail) {
            return;
        }
        // Close any period that ended before this delivery first.
        self.tick(now, queues);
        if self.state.recorded.contains(&id) {
            return;
        }
        self.state.recorded.push(id);
        // A new chain starts no later than the file was sealed (nothing is late in it).
        let start = hash.sealed_at.map_or(now, |t| t.min(now));
        let i = self.chain(trail, &hash.account, &hash.region, start);
        let c = &mut self.state.chains[i];
        let log = DeliveredLog {
            bucket: bucket.to_string(),
            key: key.to_string(),
            sha256: hash.sha256.clone(),
            oldest: hash.oldest,
            newest: hash.newest,
        };
        if hash.sealed_at.is_some_and(|t| t < c.closed_until) {
            // Sealed in a period whose digest is already closed: a backfill digest lists it.
            c.late.push(log);
        } else {
            c.files.push(log);
        }
        self.dirty = true;
    }

    /// A destination confirmed a digest file (`id` has [`DIGEST_ID_BIT`]).
    pub fn confirmed(&mut self, id: u64, destination: usize) {
        let Some(pos) = self.state.outbox.iter().position(|o| o.id == id) else {
            return;
        };
        let o = &mut self.state.outbox[pos];
        o.pending.retain(|&d| d != destination);
        if o.pending.is_empty() {
            let o = self.state.outbox.remove(pos);
            let now = chrono::Utc::now().timestamp();
            self.shared.update(&o.trail, |s| {
                s.latest_digest_delivery = Some(now);
                s.latest_digest_error = None;
            });
            tracing::debug!(key = %o.key, "digest delivered");
            self.dirty = true;
            self.garbage.push(o.id);
        }
    }

    /// At shutdown: a final digest for every chain with an open period, ending now.
    pub fn close_all(&mut self, now: i64, queues: &[Sender<SealedFile>]) {
        self.tick(now, queues);
        for i in 0..self.state.chains.len() {
            let c = &self.state.chains[i];
            if c.ended || (now <= c.period_start && c.files.is_empty() && c.late.is_empty()) {
                continue;
            }
            // A digest ends after it starts (and its key, dated by the end, is new).
            let end = now.max(c.period_start + 1);
            let next_end = c.period_end.max(end + 1);
            self.close(i, end, Some(next_end), now);
        }
        self.pump();
    }

    /// The batcher saved a checkpoint naming `still_sealed` (ids) as sealed: recorded files it
    /// no longer names will not be confirmed again, so they need no remembering.
    pub fn checkpoint_saved(&mut self, still_sealed: impl Fn(u64) -> bool) {
        let before = self.state.recorded.len();
        self.state.recorded.retain(|&id| still_sealed(id));
        if self.state.recorded.len() != before {
            self.dirty = true;
        }
    }

    /// True when no digest waits for signing or for a destination.
    pub fn idle(&self) -> bool {
        self.state.outbox.is_empty() && self.state.chains.iter().all(|c| c.closing.is_empty())
    }

    /// Saves the state if it changed (the batcher calls this before its checkpoint, so files it
    /// forgets are already listed here).
    pub fn save_if_dirty(&mut self) -> Result<(), DigestError> {
        if self.dirty { self.save() } else { Ok(()) }
    }

    /// Saves a changed state at most once a second (for changes that may wait: confirmations).
    pub fn save_soon(&mut self) {
        if self.dirty && self.saved_at.elapsed() >= std::time::Duration::from_secs(1) {
            if let Err(e) = self.save() {
                tracing::error!(error = %e, "cannot save digest state; retrying");
            }
        }
    }

    fn save(&mut self) -> Result<(), DigestError> {
        self.state
            .save(&self.state_path)
            .map_err(|error| DigestError::Io {
                path: self.state_path.clone(),
                error,
            })?;
        self.dirty = false;
        self.saved_at = std::time::Instant::now();
        for id in std::mem::take(&mut self.garbage) {
            let _ = std::fs::remove_file(self.outbox_path(id));
        }
        Ok(())
    }

    /// Closes chain `i`'s open period at `end`: its files (and late files, as a backfill digest
    /// generated at `now`) become closed digests to sign, and the chain moves on to
    /// `[end, next_end)` (unchanged end when `None`).
    fn close(&mut self, i: usize, end: i64, next_end: Option<i64>, now: i64) {
        let base = self.state.next_id;
        let c = &mut self.state.chains[i];
        let mut used = 0;
        let standard = Closed {
            id: DIGEST_ID_BIT | base,
            start: c.period_start,
            end,
            files: std::mem::take(&mut c.files),
            fresh: std::mem::take(&mut c.restart),
            backfill: None,
        };
        c.closing.push(standard);
        used += 1;
        if !c.late.is_empty() {
            c.closing.push(Closed {
                id: DIGEST_ID_BIT | (base + 1),
                start: c.period_start,
                end,
                files: std::mem::take(&mut c.late),
                fresh: std::mem::take(&mut c.restart_backfill),
                backfill: Some(now.max(end)),
            });
            used += 1;
        }
        c.period_start = end;
        c.closed_until = end;
        if let Some(next) = next_end {
            c.period_end = next;
        }
        self.state.next_id = base + used;
        self.dirty = true;
    }
}

#[cfg(test)]
impl Digester {
    /// Waits until every closed digest is signed, collected and handed out.
    fn settle(&mut self, queues: &[Sender<SealedFile>]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.state.chains.iter().any(|c| !c.closing.is_empty())
            && std::time::Instant::now() < deadline
        {
            self.pump();
            if let Some(done) = self.pool.done_timeout(std::time::Duration::from_millis(50)) {
                self.finish_job(done);
            }
            self.collect(queues);
        }
        self.collect(queues);
    }
}

/// The object key of a closed digest (`…_<end>.json.gz`, or `…_<end>_backfill.json.gz`).
fn closed_key(trail: &DigestTrail, c: &Chain, closed: &Closed) -> String {
    let key = file::digest_key(
        &trail.root,
        &c.account,
        &c.region,
        &trail.name,
        &trail.home_region,
        closed.end,
    );
    if closed.backfill.is_some() {
        file::backfill_key(&key)
    } else {
        key
    }
}

/// Trails changed through the API while the agent runs.
impl Digester {
    /// `trails` is the new trail set: validating trails that are logging get (or update) their
    /// digest settings, and new ones start a chain for the default account. Trails that stopped
    /// validating keep their chains until [`Self::end_trail`], so the files they still deliver are
    /// covered.
    pub fn add_trails(&mut self, trails: &[Trail], now: i64) {
        for t in trails.iter().filter(|t| t.logging) {
            let Some(interval) = t.digest_interval_secs else {
                continue;
            };
            let dt = DigestTrail::new(t, interval, &self.shared);
            match self.trails.iter_mut().find(|x| x.name == dt.name) {
                Some(x) => *x = dt.clone(),
                None => self.trails.push(dt.clone()),
            }
            // Starts the default account's chain, or restarts it after a StopLogging.
            if let Some(account) = self.default_account.clone() {
                self.chain(&dt.name, &account, &dt.home_region, now);
            }
            self.dirty = true;
        }
    }

    /// True when `trail` has a digest chain that has not ended.
    pub fn validates(&self, trail: &str) -> bool {
        self.state
            .chains
            .iter()
            .any(|c| c.trail == trail && !c.ended)
    }

    /// Ends `trail`'s chains (StopLogging, DeleteTrail, validation turned off): a final digest
    /// for each, covering the files delivered since the previous one, and no more digests. A
    /// later StartLogging begins new chains. Chains stay in place (a signer may hold an index)
    /// until the next start drops the ended ones.
    pub fn end_trail(&mut self, trail: &str, now: i64, queues: &[Sender<SealedFile>]) {
        self.tick(now, queues);
        for i in 0..self.state.chains.len() {
            let c = &self.state.chains[i];
            if c.trail != trail || c.ended {
                continue;
            }
            let end = now.max(c.period_start + 1);
            self.close(i, end, None, now);
            self.state.chains[i].ended = true;
        }
        self.dirty = true;
        self.pump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::Destination;
    use crate::destination::LocalDestination;
    use crate::record::Region;

    const ACCOUNT: &str = "123456789012";
    const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn trail(interval: u64) -> Trail {
        Trail {
            name: "main".into(),
            home_region: Region::parse("us-east-1").expect("region"),
            bucket: "audit-logs".into(),
            prefix: String::new(),
            multi_region: false,
            include_global: true,
            delivery_interval_secs: 300,
            gzip_level: 6,
            max_file_bytes: 50_000_000,
            digest_interval_secs: Some(interval),
            logging: true,
            organization: None,
            selectors: None,
        }
    }

    /// Signs every closed digest, delivers every queued one to `dest` and confirms it.
    fn deliver(
        rx: &crossbeam_channel::Receiver<SealedFile>,
        queues: &[Sender<SealedFile>],
        dest: &LocalDestination,
        d: &mut Digester,
    ) -> Vec<DigestBody> {
        d.settle(queues);
        let mut out = Vec::new();
        while let Ok(f) = rx.try_recv() {
            dest.put_file(&f).expect("put digest");
            d.confirmed(f.id, 0);
            let gz = std::fs::read(dest.object_path(&f.bucket, &f.key).expect("path"))
                .expect("read digest");
            let mut raw = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw)
                .expect("gunzip");
            out.push(serde_json::from_slice(&raw).expect("digest json"));
        }
        out
    }

    /// Runs `validate-logs` over the local destination for `T0..T0 + 1000`:
    /// (summary, stdout, stderr).
    fn validate_local(
        root: &Path,
        data: &Path,
        keys: &KeyStore,
    ) -> (validate::Summary, String, String) {
        let store = validate::LocalStore::new(root.to_path_buf(), data.to_path_buf());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let t = trail(60);
        let req = validate::Request {
            trail: &t,
            arn: "arn".into(),
            start: T0,
            end: T0 + 1000,
            verbose: true,
        };
        let summary = validate::Validator::new(&store, keys, &mut out, &mut err)
            .run(&req)
            .expect("validate");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (summary, text(out), text(err))
    }

    #[test]
    fn config_keys() {
        let base = "account_id = \"123456789012\"\n[api]\nlisten = \"127.0.0.1:4591\"\n\
                    [trail_defaults]\ndigest_interval_secs = 900\n\
                    [[trails]]\nname = \"main\"\ns3_bucket_name = \"audit-logs\"\n";
        let parse = |extra: &str| {
            crate::config::Config::from_toml(&format!("{base}{extra}"), Path::new("."), "t")
        };
        let cfg = parse("").expect("valid");
        assert_eq!(cfg.trails()[0].digest_interval_secs, None, "off by default");
        assert_eq!(cfg.api.listen.map(|a| a.port()), Some(4591));
        let cfg = parse("enable_log_file_validation = true\n").expect("valid");
        assert_eq!(
            cfg.trails()[0].digest_interval_secs,
            Some(900),
            "trail_defaults"
        );
        let cfg =
            parse("enable_log_file_validation = true\ndigest_interval_secs = 5\n").expect("valid");
        assert_eq!(cfg.trails()[0].digest_interval_secs, Some(5));
        let cfg =
            parse("enable_log_file_validation = true\ndigest_signing_kms_key_id = \"alias/k\"\n")
                .expect("KMS signing is accepted");
        assert_eq!(
            cfg.digest_signing_kms_keys(),
            vec![("main".to_string(), "alias/k".to_string())]
        );
        assert!(
            parse("")
                .expect("valid")
                .digest_signing_kms_keys()
                .is_empty()
        );
        for (extra, key) in [
            (
                "digest_interval_secs = 0\n",
                "trails[0].digest_interval_secs",
            ),
            (
                "digest_signing_kms_key_id = \"alias/k\"\n",
                "trails[0].digest_signing_kms_key_id",
            ),
            (
                "enable_log_file_validation = true\ndigest_signing_kms_key_id = \"a b\"\n",
                "trails[0].digest_signing_kms_key_id",
            ),
        ] {
            let err = parse(extra).expect_err(key).to_string();
            assert!(err.contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn chains_across_periods_restarts_and_gaps_and_validate() {
        let dir = tempfile::tempdir().expect("tmp");
        let (data, root) = (dir.path().join("data"), dir.path().join("out"));
        let dest = LocalDestination::new(&root, &data).expect("dest");
        let shared = Arc::new(Shared::open(&data).expect("keys"));
        let (tx, rx) = crossbeam_channel::unbounded();
        let queues = vec![tx];
        let trails = [trail(60)];
        let open = |now| {
            Digester::open(&data, &trails, Some(ACCOUNT), shared.clone(), 1, now).expect("open")
        };

        // One log file, delivered at T0+10 (confirmed twice, as after a crash).
        let raw = br#"{"Records":[{"eventTime":"2026-01-01T00:00:05Z"}]}"#;
        let staged = dir.path().join("log.gz");
        std::fs::write(&staged, file::gzip(raw).expect("gzip")).expect("stage");
        let log_key = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/01/123456789012_CloudTrail_us-east-1_20260101T0000Z_AbCdEfGh12345678.json.gz";
        let log = SealedFile {
            id: 1,
            trail: "main".into(),
            digest: false,
            path: staged,
            bucket: "audit-logs".into(),
            key: log_key.into(),
            records: 1,
            bytes: 0,
            metadata: Default::default(),
        };
        dest.put_file(&log).expect("put log");
        let hash = LogHash {
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            sha256: sign::sha256_hex(raw),
            oldest: Some(T0 + 5),
            newest: Some(T0 + 5),
            sealed_at: Some(T0 + 9),
        };
        let mut d = open(T0);
        d.delivered(
            1,
            "main",
            "audit-logs",
            log_key,
            Some(&hash),
            T0 + 10,
            &queues,
        );
        d.delivered(
            1,
            "main",
            "audit-logs",
            log_key,
            Some(&hash),
            T0 + 11,
            &queues,
        );
        d.tick(T0 + 59, &queues);
        assert!(
            deliver(&rx, &queues, &dest, &mut d).is_empty(),
            "period not over"
        );
        d.tick(T0 + 130, &queues);
        let got = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(got.len(), 2, "the period with the file and an empty one");
        assert_eq!(got[0].log_files.len(), 1);
        assert_eq!(got[0].log_files[0].hash_value, hash.sha256);
        assert_eq!(
            got[0].oldest_event_time.as_deref(),
            Some("2026-01-01T00:00:05Z")
        );
        assert_eq!(got[0].previous_digest_signature, None);
        assert_eq!(
            (
                got[0].digest_start_time.as_str(),
                got[0].digest_end_time.as_str()
            ),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z")
        );
        assert!(got[1].log_files.is_empty() && got[1].newest_event_time.is_none());
        assert_eq!(
            got[1].previous_digest_s3_object.as_deref(),
            Some(got[0].digest_s3_object.as_str())
        );
        assert_eq!(
            got[1].previous_digest_hash_value,
            Some(sign::sha256_hex(&got[0].to_bytes()))
        );
        // Restart inside the open period: the chain continues. The file is confirmed again
        // (the batcher's checkpoint still named it): not listed twice.
        d.save_if_dirty().expect("save");
        drop(d);
        let mut d = open(T0 + 150);
        d.delivered(
            1,
            "main",
            "audit-logs",
            log_key,
            Some(&hash),
            T0 + 151,
            &queues,
        );
        assert!(d.state.chains[0].files.is_empty());
        d.checkpoint_saved(|id| id == 1);
        assert_eq!(d.state.recorded, vec![1], "still named by the checkpoint");
        d.checkpoint_saved(|_| false);
        assert!(d.state.recorded.is_empty());
        d.tick(T0 + 180, &queues);
        let got3 = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(got3.len(), 1);
        assert_eq!(
            got3[0].previous_digest_s3_object.as_deref(),
            Some(got[1].digest_s3_object.as_str())
        );

        // Restart after a gap: the overdue period is written, then a new chain starts.
        d.save_if_dirty().expect("save");
        drop(d);
        let mut d = open(T0 + 400);
        d.redispatch(&queues);
        let overdue = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(overdue.len(), 1);
        assert_eq!(overdue[0].digest_end_time, "2026-01-01T00:04:00Z");
        d.tick(T0 + 460, &queues);
        let fresh = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].previous_digest_signature, None, "a new chain");
        assert_eq!(fresh[0].digest_start_time, "2026-01-01T00:06:40Z");
        assert!(d.idle());

        // Every digest and the log validate; signatures were stored as metadata.
        let (summary, out, err) = validate_local(&root, &data, &shared.keys);
        assert!(summary.ok(), "{out}\n{err}");
        assert_eq!((summary.digests_valid, summary.logs_valid), (5, 1), "{out}");
        assert!(
            out.contains("5/5 digest files valid\n1/1 log files valid\n"),
            "{out}"
        );
    }

    /// A log file written to `dest` (as the batcher would deliver it) and what the batcher knows
    /// of it.
    fn put_log(dir: &Path, dest: &LocalDestination, id: u64, sealed_at: i64) -> (String, LogHash) {
        let raw = format!(
            r#"{{"Records":[{{"eventTime":"{}","n":{id}}}]}}"#,
            file::iso(sealed_at - 1)
        );
        let staged = dir.join(format!("log-{id}.gz"));
        std::fs::write(&staged, file::gzip(raw.as_bytes()).expect("gzip")).expect("stage");
        let key = format!(
            "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/01/123456789012_CloudTrail_us-east-1_20260101T0000Z_Log{id:013}.json.gz"
        );
        let log = SealedFile {
            id,
            trail: "main".into(),
            digest: false,
            path: staged,
            bucket: "audit-logs".into(),
            key: key.clone(),
            records: 1,
            bytes: 0,
            metadata: Default::default(),
        };
        dest.put_file(&log).expect("put log");
        let hash = LogHash {
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            sha256: sign::sha256_hex(raw.as_bytes()),
            oldest: Some(sealed_at - 1),
            newest: Some(sealed_at - 1),
            sealed_at: Some(sealed_at),
        };
        (key, hash)
    }

    #[test]
    fn late_deliveries_go_to_backfill_digests_across_restarts_and_validate() {
        let dir = tempfile::tempdir().expect("tmp");
        let (data, root) = (dir.path().join("data"), dir.path().join("out"));
        let dest = LocalDestination::new(&root, &data).expect("dest");
        let shared = Arc::new(Shared::open(&data).expect("keys"));
        let (tx, rx) = crossbeam_channel::unbounded();
        let queues = vec![tx];
        let trails = [trail(60)];
        let open = |now| {
            Digester::open(&data, &trails, Some(ACCOUNT), shared.clone(), 1, now).expect("open")
        };
        let mut d = open(T0);
        // A: sealed and confirmed in the first period.
        let (ka, ha) = put_log(dir.path(), &dest, 1, T0 + 10);
        d.delivered(1, "main", "audit-logs", &ka, Some(&ha), T0 + 20, &queues);
        d.tick(T0 + 61, &queues);
        let first = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].log_files.len(), 1);
        // B: sealed in the first period, confirmed after its digest was written (an outage).
        let (kb, hb) = put_log(dir.path(), &dest, 2, T0 + 50);
        d.delivered(2, "main", "audit-logs", &kb, Some(&hb), T0 + 70, &queues);
        // C: sealed in the second period, confirmed in it: a standard entry.
        let (kc, hc) = put_log(dir.path(), &dest, 3, T0 + 75);
        d.delivered(3, "main", "audit-logs", &kc, Some(&hc), T0 + 80, &queues);
        // Crash (state saved by the batcher's checkpoint), restart within the period.
        d.save_if_dirty().expect("save");
        drop(d);
        let mut d = open(T0 + 100);
        d.redispatch(&queues);
        // D: sealed before the crash in the first period, re-delivered after the restart.
        let (kd, hd) = put_log(dir.path(), &dest, 4, T0 + 55);
        d.delivered(4, "main", "audit-logs", &kd, Some(&hd), T0 + 101, &queues);
        // A confirmation repeated after the crash is not listed again.
        d.delivered(2, "main", "audit-logs", &kb, Some(&hb), T0 + 102, &queues);
        d.tick(T0 + 121, &queues);
        let second = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(second.len(), 2, "a standard and a backfill digest");
        let (std2, back1) = (&second[0], &second[1]);
        assert!(!std2.digest_s3_object.ends_with("_backfill.json.gz"));
        assert_eq!(
            std2.log_files
                .iter()
                .map(|f| f.s3_object.as_str())
                .collect::<Vec<_>>(),
            vec![kc.as_str()]
        );
        assert_eq!(
            back1.digest_s3_object,
            file::backfill_key(&std2.digest_s3_object),
            "same end time, _backfill suffix"
        );
        assert_eq!(
            back1
                .log_files
                .iter()
                .map(|f| f.s3_object.as_str())
                .collect::<Vec<_>>(),
            vec![kb.as_str(), kd.as_str()]
        );
        assert_eq!(back1.previous_digest_signature, None, "first of its chain");
        assert_eq!(
            std2.previous_digest_s3_object.as_deref(),
            Some(first[0].digest_s3_object.as_str()),
            "the standard chain continues past the backfill"
        );
        // E: late again, after a restart with a gap: the overdue digest is written, both
        // chains restart, E goes to the next backfill.
        let (ke, he) = put_log(dir.path(), &dest, 5, T0 + 170);
        d.save_if_dirty().expect("save");
        drop(d);
        let mut d = open(T0 + 400);
        d.redispatch(&queues);
        d.delivered(5, "main", "audit-logs", &ke, Some(&he), T0 + 401, &queues);
        d.tick(T0 + 461, &queues);
        let third = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(
            third.len(),
            3,
            "overdue, fresh standard, backfill: {third:?}"
        );
        assert_eq!(third[2].log_files[0].s3_object, ke);
        assert_eq!(third[2].previous_digest_signature, None, "restarted chain");
        // F: a second late file in the same chain run links to the previous backfill.
        let (kf, hf) = put_log(dir.path(), &dest, 6, T0 + 455);
        d.delivered(6, "main", "audit-logs", &kf, Some(&hf), T0 + 470, &queues);
        d.close_all(T0 + 480, &queues);
        let fourth = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(fourth.len(), 2);
        assert_eq!(
            fourth[1].previous_digest_s3_object.as_deref(),
            Some(third[2].digest_s3_object.as_str())
        );
        assert!(d.idle());
        // Every file listed exactly once; everything validates, backfill counted apart.
        let mut listed: Vec<String> = first
            .iter()
            .chain(&second)
            .chain(&third)
            .chain(&fourth)
            .flat_map(|b| b.log_files.iter().map(|f| f.s3_object.clone()))
            .collect();
        listed.sort();
        let mut want = vec![ka, kb, kc, kd, ke, kf];
        want.sort();
        assert_eq!(listed, want);
        let (summary, out, err) = validate_local(&root, &data, &shared.keys);
        assert!(summary.ok(), "{out}\n{err}");
        assert_eq!(
            (
                summary.digests_valid,
                summary.backfill_valid,
                summary.logs_valid
            ),
            (5, 3, 6),
            "{out}"
        );
        assert!(
            out.contains("(backfill) Digest file\ts3://audit-logs/"),
            "{out}"
        );
        assert!(
            out.contains(
                "5/5 digest files valid\n3/3 backfill digest files valid\n6/6 log files valid\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn unconfirmed_and_unsigned_digests_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let (data, root) = (dir.path().join("data"), dir.path().join("out"));
        let dest = LocalDestination::new(&root, &data).expect("dest");
        let shared = Arc::new(Shared::open(&data).expect("keys"));
        let (tx, rx) = crossbeam_channel::unbounded();
        let queues = vec![tx];
        let trails = [trail(60)];
        let open = |now| {
            Digester::open(&data, &trails, Some(ACCOUNT), shared.clone(), 1, now).expect("open")
        };
        let mut d = open(T0);
        d.tick(T0 + 61, &queues);
        d.settle(&queues);
        let first = rx.try_recv().expect("first digest handed out");
        // Crash before any destination confirmed it: the outbox file and its entry survive.
        d.save_if_dirty().expect("save");
        drop(d);
        let mut d = open(T0 + 70);
        d.redispatch(&queues);
        let again = rx.try_recv().expect("handed out again");
        assert_eq!((again.id, &again.key), (first.id, &first.key));
        assert!(again.path.exists(), "outbox file kept across the restart");
        dest.put_file(&again).expect("put");
        d.confirmed(again.id, 0);
        // A period closed, crash before its digest was signed and saved: signed again after
        // the restart, continuing the chain.
        d.tick(T0 + 121, &queues);
        d.save_if_dirty().expect("save");
        drop(d);
        let mut d = open(T0 + 130);
        d.redispatch(&queues);
        let got = deliver(&rx, &queues, &dest, &mut d);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digest_end_time, "2026-01-01T00:02:00Z");
        assert_eq!(
            got[0].previous_digest_s3_object.as_deref(),
            Some(first.key.as_str())
        );
        assert!(d.idle());
    }
}

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
//! [`DIGEST_ID_BIT`]), and calls [`Digester::tick`] four times a second. State lives in
//! `<data_dir>/digest/` ([`state`] states the crash invariants).
//!
//! Chains: a chain continues across an agent restart when no period ended while the agent was
//! down; otherwise the overdue digest is written (dated its period's end) and a new chain starts
//! (all `previousDigest*` null), as CloudTrail does after logging restarts. A clean shutdown
//! writes a final digest covering everything delivered up to then.

pub mod file;
pub mod keys;
pub mod sign;
pub mod state;
pub mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::config::Trail;
use crate::deliver::SealedFile;
use file::{DigestBody, LogFileEntry, iso};
use keys::{KeyError, KeyStore};
use state::{Chain, DeliveredLog, Link, Outgoing, State};

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
        })
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
#[derive(Debug, Clone)]
struct DigestTrail {
    name: String,
    bucket: String,
    prefix: String,
    home_region: String,
    interval: i64,
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
    /// The account whose chains start with a trail (even before its first file).
    default_account: Option<String>,
}

impl Digester {
    /// Loads the state, writes digests that fell due while the agent was down (and restarts
    /// those chains), and starts a chain for the default account in each validating trail's
    /// home region.
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
        let trails = trails
            .iter()
            .filter(|t| t.logging)
            .filter_map(|t| {
                t.digest_interval_secs.map(|interval| DigestTrail {
                    name: t.name.clone(),
                    bucket: t.bucket.clone(),
                    prefix: t.prefix.clone(),
                    home_region: t.home_region.to_string(),
                    interval: interval as i64,
                })
            })
            .collect();
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
            default_account: default_account.map(str::to_string),
        };
        // Digests written but not in the saved state were never handed out: drop them.
        let known: std::collections::HashSet<u64> = d.state.outbox.iter().map(|o| o.id).collect();
        if let Ok(entries) = std::fs::read_dir(&d.outbox) {
            for e in entries.flatten() {
                let id = e
                    .path()
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_suffix(".json"))
                    .and_then(|s| u64::from_str_radix(s, 16).ok());
                if id.is_none_or(|id| !known.contains(&id)) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let before = d.state.chains.len();
        let names: Vec<String> = d.trails.iter().map(|t| t.name.clone()).collect();
        d.state.chains.retain(|c| names.contains(&c.trail));
        if d.state.chains.len() < before {
            tracing::warn!(
                "log file validation was turned off for some trails: their digest chains end"
            );
        }
        // Periods that ended while the agent was down: write them, then restart the chain.
        for i in 0..d.state.chains.len() {
            let end = d.state.chains[i].period_end;
            if now >= end {
                d.emit(i, end, None)?;
                let interval = d.interval(&d.state.chains[i].trail);
                let c = &mut d.state.chains[i];
                c.previous = None;
                c.period_start = now;
                c.period_end = now + interval;
            }
        }
        if let Some(account) = default_account {
            for t in d.trails.clone() {
                d.chain(&t.name, account, &t.home_region, now);
            }
        }
        crate::fsutil::sync_filesystem(&d.outbox).map_err(|error| DigestError::Io {
            path: d.outbox.clone(),
            error,
        })?;
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

    /// The chain for (trail, account, region), started now if new.
    fn chain(&mut self, trail: &str, account: &str, region: &str, now: i64) -> usize {
        if let Some(i) = self
            .state
            .chains
            .iter()
            .position(|c| c.trail == trail && c.account == account && c.region == region)
        {
            return i;
        }
        let interval = self.interval(trail);
        self.shared.keys.prepare(region);
        self.state.chains.push(Chain {
            trail: trail.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            period_start: now,
            period_end: now + interval,
            previous: None,
            files: Vec::new(),
        });
        self.dirty = true;
        self.state.chains.len() - 1
    }

    /// Hands every digest not yet confirmed to the destinations that owe it (after a restart).
    pub fn redispatch(&self, queues: &[Sender<SealedFile>]) {
        for o in &self.state.outbox {
            self.dispatch(o, queues);
        }
    }

    fn outbox_path(&self, id: u64) -> PathBuf {
        self.outbox
            .join(format!("{:016x}.json.gz", id & !DIGEST_ID_BIT))
    }

    fn dispatch(&self, o: &Outgoing, queues: &[Sender<SealedFile>]) {
        let file = SealedFile {
            id: o.id,
            trail: o.trail.clone(),
            digest: true,
            path: self.outbox_path(o.id),
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            records: 0,
            bytes: o.bytes,
            metadata: [
                ("signature".to_string(), o.signature.clone()),
                (
                    "signature-algorithm".to_string(),
                    sign::SIGNATURE_ALGORITHM.to_string(),
                ),
            ]
            .into(),
        };
        for &d in &o.pending {
            if let Some(q) = queues.get(d) {
                let _ = q.send(file.clone());
            }
        }
    }

    /// Closes every period that has ended and delivers its digest.
    pub fn tick(&mut self, now: i64, queues: &[Sender<SealedFile>]) {
        let mut emitted = Vec::new();
        for i in 0..self.state.chains.len() {
            while self.state.chains[i].period_end <= now {
                let end = self.state.chains[i].period_end;
                match self.emit(
                    i,
                    end,
                    Some(end + self.interval(&self.state.chains[i].trail)),
                ) {
                    Ok(o) => emitted.push(o),
                    Err(e) => {
                        let trail = self.state.chains[i].trail.clone();
                        tracing::error!(%trail, error = %e, "cannot write digest; retrying");
                        self.shared
                            .update(&trail, |s| s.latest_digest_error = Some(e.to_string()));
                        break;
                    }
                }
            }
        }
        self.flush_emitted(emitted, queues);
    }

    /// Saves the state, then hands freshly written digests out.
    fn flush_emitted(&mut self, emitted: Vec<Outgoing>, queues: &[Sender<SealedFile>]) {
        if emitted.is_empty() {
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
        for o in &emitted {
            self.dispatch(o, queues);
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
        let i = self.chain(trail, &hash.account, &hash.region, now);
        let c = &mut self.state.chains[i];
        c.files.push(DeliveredLog {
            bucket: bucket.to_string(),
            key: key.to_string(),
            sha256: hash.sha256.clone(),
            oldest: hash.oldest,
            newest: hash.newest,
        });
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
        let mut emitted = Vec::new();
        for i in 0..self.state.chains.len() {
            let c = &self.state.chains[i];
            if now <= c.period_start && c.files.is_empty() {
                continue;
            }
            // A digest ends after it starts (and its key, dated by the end, is new).
            let end = now.max(c.period_start + 1);
            let next_end = c.period_end.max(end + 1);
            match self.emit(i, end, Some(next_end)) {
                Ok(o) => emitted.push(o),
                Err(e) => tracing::error!(error = %e, "cannot write final digest"),
            }
        }
        self.flush_emitted(emitted, queues);
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

    /// True when no digest waits for a destination.
    pub fn idle(&self) -> bool {
        self.state.outbox.is_empty()
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

    /// Builds, signs and writes (to the outbox) chain `i`'s digest for `[period_start, end]`,
    /// advances the chain to `[end, next_end)` (unchanged end when `None`) and queues the digest
    /// in the state. The caller saves the state before dispatching.
    fn emit(&mut self, i: usize, end: i64, next_end: Option<i64>) -> Result<Outgoing, DigestError> {
        let c = &self.state.chains[i];
        let Some(trail) = self.trails.iter().find(|t| t.name == c.trail) else {
            return Err(DigestError::Io {
                path: self.state_path.clone(),
                error: std::io::Error::other(format!("trail {} is not validating", c.trail)),
            });
        };
        let key = file::digest_key(
            &trail.prefix,
            &c.account,
            &c.region,
            &trail.name,
            &trail.home_region,
            end,
        );
        let signing = self.shared.keys.active(&c.region, end)?;
        let body = DigestBody {
            aws_account_id: c.account.clone(),
            digest_start_time: iso(c.period_start),
            digest_end_time: iso(end),
            digest_s3_bucket: trail.bucket.clone(),
            digest_s3_object: key.clone(),
            digest_public_key_fingerprint: signing.fingerprint.clone(),
            digest_signature_algorithm: sign::SIGNATURE_ALGORITHM.to_string(),
            newest_event_time: c.files.iter().filter_map(|f| f.newest).max().map(iso),
            oldest_event_time: c.files.iter().filter_map(|f| f.oldest).min().map(iso),
            previous_digest_s3_bucket: c.previous.as_ref().map(|p| p.bucket.clone()),
            previous_digest_s3_object: c.previous.as_ref().map(|p| p.key.clone()),
            previous_digest_hash_value: c.previous.as_ref().map(|p| p.sha256.clone()),
            previous_digest_hash_algorithm: c.previous.as_ref().map(|_| "SHA-256".to_string()),
            previous_digest_signature: c.previous.as_ref().map(|p| p.signature.clone()),
            log_files: c
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
        let raw = body.to_bytes();
        let sha = sign::sha256_hex(&raw);
        let to_sign = sign::string_to_sign(
            &body.digest_end_time,
            &body.digest_s3_bucket,
            &body.digest_s3_object,
            &sha,
            body.previous_digest_signature.as_deref(),
        );
        let signature = hex::encode(sign::sign(&signing.private, to_sign.as_bytes())?);
        let gz = file::gzip(&raw).map_err(|error| DigestError::Io {
            path: self.outbox.clone(),
            error,
        })?;
        let id = DIGEST_ID_BIT | self.state.next_id;
        let path = self.outbox_path(id);
        std::fs::write(&path, &gz).map_err(|error| DigestError::Io {
            path: path.clone(),
            error,
        })?;
        let out = Outgoing {
            id,
            trail: trail.name.clone(),
            bucket: trail.bucket.clone(),
            key: key.clone(),
            signature: signature.clone(),
            bytes: gz.len() as u64,
            pending: (0..self.destinations).collect(),
        };
        let bucket = trail.bucket.clone();
        self.state.next_id += 1;
        let c = &mut self.state.chains[i];
        c.files.clear();
        c.previous = Some(Link {
            bucket,
            key,
            sha256: sha,
            signature,
        });
        c.period_start = end;
        if let Some(next) = next_end {
            c.period_end = next;
        }
        self.state.outbox.push(out.clone());
        self.dirty = true;
        Ok(out)
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
            let dt = DigestTrail {
                name: t.name.clone(),
                bucket: t.bucket.clone(),
                prefix: t.prefix.clone(),
                home_region: t.home_region.to_string(),
                interval: interval as i64,
            };
            match self.trails.iter_mut().find(|x| x.name == dt.name) {
                Some(x) => *x = dt,
                None => {
                    self.trails.push(dt.clone());
                    if let Some(account) = self.default_account.clone() {
                        self.chain(&dt.name, &account, &dt.home_region, now);
                    }
                    self.dirty = true;
                }
            }
        }
    }

    /// True when `trail` has digest chains (it validates, or did until its last files land).
    pub fn validates(&self, trail: &str) -> bool {
        self.trails.iter().any(|t| t.name == trail)
    }

    /// Ends `trail`'s chains (StopLogging, DeleteTrail, validation turned off): a final digest
    /// for each, covering the files delivered since the previous one, and no more digests. A
    /// later StartLogging begins new chains.
    pub fn end_trail(&mut self, trail: &str, now: i64, queues: &[Sender<SealedFile>]) {
        self.tick(now, queues);
        let mut emitted = Vec::new();
        for i in 0..self.state.chains.len() {
            let c = &self.state.chains[i];
            if c.trail != trail {
                continue;
            }
            let end = now.max(c.period_start + 1);
            match self.emit(i, end, None) {
                Ok(o) => emitted.push(o),
                Err(e) => tracing::error!(%trail, error = %e, "cannot write final digest"),
            }
        }
        self.state.chains.retain(|c| c.trail != trail);
        self.trails.retain(|t| t.name != trail);
        self.dirty = true;
        self.flush_emitted(emitted, queues);
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

    /// Delivers every queued digest to `dest` and confirms it.
    fn deliver(
        rx: &crossbeam_channel::Receiver<SealedFile>,
        dest: &LocalDestination,
        d: &mut Digester,
    ) -> Vec<DigestBody> {
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
        for (extra, key) in [
            (
                "digest_interval_secs = 0\n",
                "trails[0].digest_interval_secs",
            ),
            (
                "digest_signing_kms_key_id = \"alias/k\"\n",
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
        assert!(deliver(&rx, &dest, &mut d).is_empty(), "period not over");
        d.tick(T0 + 130, &queues);
        let got = deliver(&rx, &dest, &mut d);
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
        let got3 = deliver(&rx, &dest, &mut d);
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
        let overdue = deliver(&rx, &dest, &mut d);
        assert_eq!(overdue.len(), 1);
        assert_eq!(overdue[0].digest_end_time, "2026-01-01T00:04:00Z");
        d.tick(T0 + 460, &queues);
        let fresh = deliver(&rx, &dest, &mut d);
        assert_eq!(fresh.len(), 1);
        assert_eq!(fresh[0].previous_digest_signature, None, "a new chain");
        assert_eq!(fresh[0].digest_start_time, "2026-01-01T00:06:40Z");
        assert!(d.idle());

        // Every digest and the log validate; signatures were stored as metadata.
        let store = validate::LocalStore::new(root.clone(), data.clone());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let t = trail(60);
        let req = validate::Request {
            trail: &t,
            arn: "arn".into(),
            start: T0,
            end: T0 + 1000,
            verbose: true,
        };
        let summary = validate::Validator::new(&store, &shared.keys, &mut out, &mut err)
            .run(&req)
            .expect("validate");
        let (out, err) = (String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
        assert!(summary.ok(), "{out}\n{err}");
        assert_eq!((summary.digests_valid, summary.logs_valid), (5, 1), "{out}");
        assert!(
            out.contains("5/5 digest files valid\n1/1 log files valid\n"),
            "{out}"
        );
    }
}

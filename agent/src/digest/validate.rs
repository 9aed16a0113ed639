//! `opentrail validate-logs`: the checks of `aws cloudtrail validate-logs`, on the local
//! destination or S3, plus two the AWS CLI skips: each digest's `previousDigestHashValue` must be
//! the SHA-256 of the previous digest's uncompressed bytes, and its `previousDigestSignature` the
//! previous digest's signature metadata (chain continuity).
//!
//! Public keys come from the agent's key store in the data dir (never from the objects checked).
//! Output follows the AWS CLI's wording: verbose `… valid` lines on stdout, `… INVALID: …` lines
//! on stderr, then the summary. Every chain (account × source region) of the trail is walked
//! newest to oldest.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::file::iso;
use super::keys::KeyStore;
use super::sign;
use crate::config::{Config, Trail};
use crate::destination::AwsRuntime;
use crate::destination::local::read_journal;
use crate::encode::object_key::logs_root;

/// Why validation could not run at all (as opposed to finding invalid files).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("no trail named {0:?} in the configuration")]
    NoTrail(String),
    #[error("cannot read {what}: {error}")]
    Read { what: String, error: String },
}

/// An object read from the store.
pub struct Object {
    pub bytes: Vec<u8>,
    pub metadata: BTreeMap<String, String>,
}

/// Where delivered objects are read from.
pub trait Store {
    /// Every key under `prefix`, sorted.
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ValidateError>;
    /// The object, `Ok(None)` when it does not exist.
    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, ValidateError>;
}

/// Key → user metadata of one bucket.
type BucketMetadata = HashMap<String, BTreeMap<String, String>>;

/// The local destination's tree and metadata journal.
pub struct LocalStore {
    root: PathBuf,
    data_dir: PathBuf,
    /// Bucket → key → user metadata, read once per bucket.
    journals: parking_lot::Mutex<HashMap<String, BucketMetadata>>,
}

impl LocalStore {
    pub fn new(root: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            root,
            data_dir,
            journals: parking_lot::Mutex::new(HashMap::new()),
        }
    }
}

impl Store for LocalStore {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ValidateError> {
        let base = self.root.join(bucket);
        let mut out = Vec::new();
        let mut stack = vec![base.join(prefix.trim_end_matches('/'))];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(&base) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, ValidateError> {
        if crate::config::check_bucket_name(bucket).is_err()
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Ok(None);
        }
        let bytes = match std::fs::read(self.root.join(bucket).join(key)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ValidateError::Read {
                    what: key.to_string(),
                    error: e.to_string(),
                });
            }
        };
        let mut journals = self.journals.lock();
        if !journals.contains_key(bucket) {
            let path = self
                .data_dir
                .join("local-metadata")
                .join(format!("{bucket}.jsonl"));
            let j = read_journal(&path).map_err(|e| ValidateError::Read {
                what: path.display().to_string(),
                error: e.to_string(),
            })?;
            journals.insert(
                bucket.to_string(),
                j.into_iter().map(|(k, m)| (k, m.metadata)).collect(),
            );
        }
        let metadata = journals
            .get(bucket)
            .and_then(|j| j.get(key))
            .cloned()
            .unwrap_or_default();
        Ok(Some(Object { bytes, metadata }))
    }
}

/// S3 through the agent's AWS settings.
pub struct S3Store {
    aws: Arc<AwsRuntime>,
    client: aws_sdk_s3::Client,
}

impl S3Store {
    pub fn new(aws: Arc<AwsRuntime>) -> Self {
        let client = aws.s3_client();
        Self { aws, client }
    }
}

impl Store for S3Store {
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, ValidateError> {
        self.aws.block_on(async {
            let mut out = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| ValidateError::Read {
                    what: format!("s3://{bucket}/{prefix}"),
                    error: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                })?;
                out.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(String::from)),
                );
            }
            out.sort();
            Ok(out)
        })
    }

    fn get(&self, bucket: &str, key: &str) -> Result<Option<Object>, ValidateError> {
        self.aws.block_on(async {
            let r = match self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
            {
                Ok(r) => r,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                    return Ok(None);
                }
                Err(e) => {
                    return Err(ValidateError::Read {
                        what: format!("s3://{bucket}/{key}"),
                        error: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                    });
                }
            };
            let metadata: BTreeMap<String, String> = r
                .metadata()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let bytes = r
                .body
                .collect()
                .await
                .map_err(|e| ValidateError::Read {
                    what: format!("s3://{bucket}/{key}"),
                    error: e.to_string(),
                })?
                .into_bytes()
                .to_vec();
            Ok(Some(Object { bytes, metadata }))
        })
    }
}

/// Counts, as the summary reports them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub digests_valid: u64,
    pub digests_invalid: u64,
    pub logs_valid: u64,
    pub logs_invalid: u64,
    /// `_backfill` digests (a chain of their own, counted apart as the AWS CLI does).
    pub backfill_valid: u64,
    pub backfill_invalid: u64,
    /// Earliest `digestStartTime` / latest `digestEndTime` of valid digests (Unix seconds).
    pub found_from: Option<i64>,
    pub found_to: Option<i64>,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.digests_invalid == 0 && self.backfill_invalid == 0 && self.logs_invalid == 0
    }
}

/// What to validate.
pub struct Request<'a> {
    pub trail: &'a Trail,
    /// The trail's ARN (printed in the header).
    pub arn: String,
    pub start: i64,
    pub end: i64,
    pub verbose: bool,
}

/// One run's output and counters.
pub struct Validator<'a, S: Store> {
    store: &'a S,
    keys: &'a KeyStore,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    summary: Summary,
    progress: bool,
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

fn parse_iso(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// The timestamp of a digest key (`…_<YYYYMMDDTHHMMSSZ>[_backfill].json.gz`).
fn key_time(key: &str) -> Option<i64> {
    let stem = key.strip_suffix(".json.gz")?;
    let stem = stem.strip_suffix("_backfill").unwrap_or(stem);
    let ts = stem.get(stem.len().checked_sub(16)?..)?;
    chrono::NaiveDateTime::parse_from_str(ts, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// What a digest says about its predecessor.
struct Claim {
    newer: String,
    bucket: String,
    previous: String,
    hash: Option<String>,
    sig: Option<String>,
}

const REQUIRED: [&str; 6] = [
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
];

impl<'a, S: Store> Validator<'a, S> {
    pub fn new(
        store: &'a S,
        keys: &'a KeyStore,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
    ) -> Self {
        Self {
            store,
            keys,
            out,
            err,
            summary: Summary::default(),
            progress: std::io::stderr().is_terminal(),
        }
    }

    fn invalid(&mut self, kind: &str, bucket: &str, key: &str, why: &str) {
        if self.progress {
            let _ = write!(self.err, "\r\x1b[K");
        }
        let _ = writeln!(self.err, "{kind}\ts3://{bucket}/{key}\tINVALID: {why}");
    }

    fn valid(&mut self, verbose: bool, kind: &str, bucket: &str, key: &str) {
        if verbose {
            let _ = writeln!(self.out, "{kind}\ts3://{bucket}/{key}\tvalid");
        }
    }

    fn good_digest(&mut self, backfill: bool) {
        if backfill {
            self.summary.backfill_valid += 1;
        } else {
            self.summary.digests_valid += 1;
        }
    }

    fn bad_digest(&mut self, backfill: bool) {
        if backfill {
            self.summary.backfill_invalid += 1;
        } else {
            self.summary.digests_invalid += 1;
        }
    }

    fn tick(&mut self) {
        if self.progress {
            let s = &self.summary;
            let _ = write!(
                self.err,
                "\r\x1b[Kchecked {} digest files, {} log files",
                s.digests_valid + s.digests_invalid + s.backfill_valid + s.backfill_invalid,
                s.logs_valid + s.logs_invalid
            );
        }
    }

    /// Validates every chain of the trail in the window; prints the CLI's lines and summary.
    pub fn run(mut self, req: &Request) -> Result<Summary, ValidateError> {
        let t = req.trail;
        let _ = writeln!(
            self.out,
            "Validating log files for trail {} between {} and {}\n",
            req.arn,
            iso(req.start),
            iso(req.end)
        );
        let root = logs_root(&t.prefix, t.organization.as_deref());
        let all = self.store.list(&t.bucket, &root)?;
        // Chains: (account, region) folders that hold this trail's digests.
        let marker = "_CloudTrail-Digest_";
        // (backfill, account, region) -> digests; standard chains first, as the AWS CLI walks.
        let mut chains: BTreeMap<(bool, String, String), Vec<(i64, String)>> = BTreeMap::new();
        for key in &all {
            let Some(rest) = key.strip_prefix(&root) else {
                continue;
            };
            let parts: Vec<&str> = rest.split('/').collect();
            if parts.len() != 7 || parts[1] != "CloudTrail-Digest" {
                continue;
            }
            let (account, region, name) = (parts[0], parts[2], parts[6]);
            let want = format!("{account}{marker}{region}_{}_{}_", t.name, t.home_region);
            if !name.starts_with(&want) {
                continue;
            }
            let backfill = name.ends_with("_backfill.json.gz");
            let Some(ts) = key_time(name) else { continue };
            if ts < req.start || ts > req.end + 3600 {
                continue;
            }
            chains
                .entry((backfill, account.to_string(), region.to_string()))
                .or_default()
                .push((ts, key.clone()));
        }
        if chains.is_empty() {
            self.finish(req);
            return Ok(self.summary);
        }
        for ((backfill, _, region), mut digests) in chains {
            digests.sort();
            self.walk(
                req,
                &t.bucket,
                &region,
                &t.home_region.to_string(),
                &digests,
                backfill,
            )?;
        }
        self.finish(req);
        Ok(self.summary)
    }

    /// Walks one chain newest to oldest.
    fn walk(
        &mut self,
        req: &Request,
        bucket: &str,
        region: &str,
        home: &str,
        digests: &[(i64, String)],
        backfill: bool,
    ) -> Result<(), ValidateError> {
        let kind = if backfill {
            "(backfill) Digest file"
        } else {
            "Digest file"
        };
        // What the digest checked just before (the next newer one) claimed about its
        // predecessor: (newer key, previous key, previous hash, previous signature).
        let mut claimed: Option<Claim> = None;
        for (_, key) in digests.iter().rev() {
            self.tick();
            let mut claim = claimed.take();
            if let Some(c) = claim.take_if(|c| c.previous != *key) {
                // The chain names a digest other than the next one listed: it must exist.
                if !digests.iter().any(|(_, k)| *k == c.previous)
                    && self.store.get(&c.bucket, &c.previous)?.is_none()
                {
                    self.invalid(kind, &c.bucket, &c.previous, "not found");
                    self.bad_digest(backfill);
                }
            }
            let Some(obj) = self.store.get(bucket, key)? else {
                self.invalid(kind, bucket, key, "not found");
                self.bad_digest(backfill);
                continue;
            };
            let Some(raw) = gunzip(&obj.bytes) else {
                self.invalid(kind, bucket, key, "invalid format");
                self.bad_digest(backfill);
                continue;
            };
            let body: Value = match serde_json::from_slice(&raw) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    self.invalid(kind, bucket, key, "invalid format");
                    self.bad_digest(backfill);
                    continue;
                }
            };
            if REQUIRED.iter().any(|k| body.get(k).is_none())
                || !body.get("logFiles").is_some_and(Value::is_array)
            {
                self.invalid(kind, bucket, key, "invalid format");
                self.bad_digest(backfill);
                continue;
            }
            let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            if backfill && !obj.metadata.contains_key("backfill-generation-timestamp") {
                self.invalid(kind, bucket, key, "invalid format");
                self.bad_digest(backfill);
                continue;
            }
            let (Some(sig_hex), Some(_)) = (
                obj.metadata.get("signature"),
                obj.metadata.get("signature-algorithm"),
            ) else {
                self.invalid(kind, bucket, key, "signature verification failed");
                self.bad_digest(backfill);
                continue;
            };
            if s("digestS3Bucket").as_deref() != Some(bucket)
                || s("digestS3Object").as_deref() != Some(key.as_str())
            {
                self.invalid(
                    kind,
                    bucket,
                    key,
                    "has been moved from its original location",
                );
                self.bad_digest(backfill);
                continue;
            }
            let fp = s("digestPublicKeyFingerprint").unwrap_or_default();
            let Some(public) = self
                .keys
                .public_keys(Some(region), i64::MIN, i64::MAX)
                .into_iter()
                .find(|k| k.fingerprint == fp)
            else {
                let why = format!("public key not found in region {home} for fingerprint {fp}");
                self.invalid(kind, bucket, key, &why);
                self.bad_digest(backfill);
                continue;
            };
            let Ok(public) = sign::public_from_der(&public.der) else {
                let why = format!("Unable to load PKCS #1 key with fingerprint {fp}");
                self.invalid(kind, bucket, key, &why);
                self.bad_digest(backfill);
                continue;
            };
            let sha = sign::sha256_hex(&raw);
            let prev_sig = s("previousDigestSignature");
            let to_sign = sign::string_to_sign(
                &s("digestEndTime").unwrap_or_default(),
                bucket,
                key,
                &sha,
                prev_sig.as_deref(),
            );
            let signature = hex::decode(sig_hex).unwrap_or_default();
            if !sign::verify(&public, to_sign.as_bytes(), &signature) {
                self.invalid(kind, bucket, key, "signature verification failed");
                self.bad_digest(backfill);
                continue;
            }
            // What the AWS CLI skips: the newer digest's claims about this one.
            if let Some(Claim {
                newer, hash, sig, ..
            }) = &claim
            {
                if hash.as_deref() != Some(sha.as_str()) {
                    let why = format!("previousDigestHashValue in {newer} doesn't match");
                    self.invalid(kind, bucket, key, &why);
                    self.bad_digest(backfill);
                    continue;
                }
                if sig.as_deref() != Some(sig_hex.as_str()) {
                    let why = format!("previousDigestSignature in {newer} doesn't match");
                    self.invalid(kind, bucket, key, &why);
                    self.bad_digest(backfill);
                    continue;
                }
            }
            self.good_digest(backfill);
            let (from, to) = (
                s("digestStartTime").as_deref().and_then(parse_iso),
                s("digestEndTime").as_deref().and_then(parse_iso),
            );
            if let Some(from) = from {
                let f = from.max(req.start);
                self.summary.found_from = Some(self.summary.found_from.map_or(f, |x| x.min(f)));
            }
            if let Some(to) = to {
                let t = to.min(req.end);
                self.summary.found_to = Some(self.summary.found_to.map_or(t, |x| x.max(t)));
            }
            self.valid(req.verbose, kind, bucket, key);
            if let Some(previous) = s("previousDigestS3Object") {
                claimed = Some(Claim {
                    newer: key.clone(),
                    bucket: s("previousDigestS3Bucket").unwrap_or_else(|| bucket.to_string()),
                    previous,
                    hash: s("previousDigestHashValue"),
                    sig: prev_sig.clone(),
                });
            }
            let logs = body
                .get("logFiles")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for log in logs {
                self.tick();
                let lb = log.get("s3Bucket").and_then(Value::as_str).unwrap_or("");
                let lk = log.get("s3Object").and_then(Value::as_str).unwrap_or("");
                let want = log.get("hashValue").and_then(Value::as_str).unwrap_or("");
                match self.store.get(lb, lk)? {
                    None => {
                        self.invalid("Log file", lb, lk, "not found");
                        self.summary.logs_invalid += 1;
                    }
                    Some(o) => match gunzip(&o.bytes) {
                        None => {
                            self.invalid("Log file", lb, lk, "invalid format");
                            self.summary.logs_invalid += 1;
                        }
                        Some(raw) if sign::sha256_hex(&raw) != want => {
                            self.invalid("Log file", lb, lk, "hash value doesn't match");
                            self.summary.logs_invalid += 1;
                        }
                        Some(_) => {
                            self.summary.logs_valid += 1;
                            self.valid(req.verbose, "Log file", lb, lk);
                        }
                    },
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, req: &Request) {
        if self.progress {
            let _ = write!(self.err, "\r\x1b[K");
        }
        let s = self.summary;
        let _ = writeln!(
            self.out,
            "\nResults requested for {} to {}",
            iso(req.start),
            iso(req.end)
        );
        let digests = s.digests_valid + s.digests_invalid + s.backfill_valid + s.backfill_invalid;
        if digests == 0 {
            let _ = writeln!(self.out, "No digests found");
            return;
        }
        match (s.found_from, s.found_to) {
            (Some(a), Some(b)) => {
                let _ = writeln!(self.out, "Results found for {} to {}:", iso(a), iso(b));
            }
            _ => {
                let _ = writeln!(self.out, "No valid digests found in range");
            }
        }
        let _ = writeln!(self.out);
        let part = |valid: u64, invalid: u64, what: &str| {
            let n = valid + invalid;
            if invalid == 0 {
                format!("{valid}/{n} {what} valid")
            } else {
                format!("{valid}/{n} {what} valid, {invalid}/{n} {what} INVALID")
            }
        };
        for (valid, invalid, what) in [
            (s.digests_valid, s.digests_invalid, "digest files"),
            (
                s.backfill_valid,
                s.backfill_invalid,
                "backfill digest files",
            ),
            (s.logs_valid, s.logs_invalid, "log files"),
        ] {
            if valid + invalid > 0 {
                let _ = writeln!(self.out, "{}", part(valid, invalid, what));
            }
        }
    }
}

/// Runs `validate-logs` for `trail_name` of `config`; returns the summary (exit 1 when not
/// [`Summary::ok`]).
pub fn validate_logs(
    config: &Config,
    trail_name: &str,
    start: i64,
    end: i64,
    verbose: bool,
) -> Result<Summary, ValidateError> {
    let trails = config.trails();
    let trail = trails
        .iter()
        .find(|t| t.name == trail_name)
        .ok_or_else(|| ValidateError::NoTrail(trail_name.to_string()))?;
    let keys = KeyStore::open(
        &config.data_dir.join("digest").join("keys"),
        super::keys::DEFAULT_ROTATION_SECS,
    )
    .map_err(|e| ValidateError::Read {
        what: "the digest keys".into(),
        error: e.to_string(),
    })?;
    let req = Request {
        trail,
        arn: format!(
            "arn:aws:cloudtrail:{}:{}:trail/{}",
            trail.home_region,
            config.account_id.as_deref().unwrap_or("000000000000"),
            trail.name
        ),
        start,
        end,
        verbose,
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match &config.storage.local_root {
        Some(root) => {
            let store = LocalStore::new(root.clone(), config.data_dir.clone());
            Validator::new(&store, &keys, &mut out, &mut err).run(&req)
        }
        None => {
            let aws = AwsRuntime::new(&config.aws).map_err(|e| ValidateError::Read {
                what: "the AWS configuration".into(),
                error: e.to_string(),
            })?;
            let store = S3Store::new(Arc::new(aws));
            Validator::new(&store, &keys, &mut out, &mut err).run(&req)
        }
    }
}

//! Signing digests off the batcher thread: a small pool of `ot-digest-sign` threads turns a
//! digest body into the signed, gzipped outbox file.
//!
//! A job carries everything but the public key fingerprint; the worker picks the key (the
//! region's local key, made if due, or the trail's KMS key), fills in the fingerprint, serializes
//! the JSON, hashes and signs it, and writes `outbox/<id>.json.gz` (not synced: the digester syncs
//! the outbox once per batch before its state names the file). The digester hands out at most one
//! job per chain at a time (a digest signs over its predecessor's signature), so chains sign in
//! parallel while each chain stays in order.
//!
//! KMS: `Sign` with `SigningAlgorithm = RSASSA_PKCS1_V1_5_SHA_256` and `MessageType = RAW` (the
//! string to sign, well under KMS's 4,096-byte limit: at most ~2.9 KB with a 1,024-byte object
//! key). `RAW` rather than `DIGEST` because moto's KMS ignores `MessageType` (it would hash the
//! digest again); AWS accepts both and signs the same bytes either way. The public key comes from
//! `GetPublicKey` (SPKI DER, converted to PKCS#1 for `ListPublicKeys` and the fingerprint),
//! fetched once per key and cached. Transient failures (timeouts, throttling, 5xx) are retried
//! here a few times with backoff; then the job fails and the digester retries it later, so a
//! KMS outage delays digests, never log files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::file::DigestBody;
use super::keys::KeyStore;
use super::sign;
use crate::deliver::DestinationError;
use crate::destination::aws::{AwsRuntime, classify};

/// Attempts at a transient failure inside one job.
const ATTEMPTS: u32 = 3;

/// An AWS KMS asymmetric key (RSA_2048, SIGN_VERIFY) that signs a trail's digests.
pub struct KmsKey {
    pub key_id: String,
    aws: Arc<AwsRuntime>,
    client: aws_sdk_kms::Client,
    /// DER PKCS#1 public key, once fetched.
    public: Mutex<Option<Vec<u8>>>,
}

impl KmsKey {
    /// A key by id, ARN or alias; a key ARN's region is used for the calls.
    pub fn new(aws: Arc<AwsRuntime>, key_id: &str) -> Self {
        let region = key_id
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(2))
            .filter(|r| !r.is_empty());
        Self {
            key_id: key_id.to_string(),
            client: aws.kms_client(region),
            aws,
            public: Mutex::new(None),
        }
    }

    /// The public key (DER PKCS#1), fetched with `GetPublicKey` the first time.
    pub fn public(&self) -> Result<Vec<u8>, DestinationError> {
        if let Some(p) = self.public.lock().clone() {
            return Ok(p);
        }
        let what = format!("GetPublicKey {}", self.key_id);
        let out = self
            .aws
            .block_on(self.client.get_public_key().key_id(&self.key_id).send())
            .map_err(|e| classify(&e, &what))?;
        let usable = out
            .signing_algorithms()
            .contains(&aws_sdk_kms::types::SigningAlgorithmSpec::RsassaPkcs1V15Sha256);
        if !usable {
            return Err(DestinationError::Permanent(format!(
                "{what}: the key cannot sign with RSASSA_PKCS1_V1_5_SHA_256 (use an RSA \
                 SIGN_VERIFY key)"
            )));
        }
        let spki = out
            .public_key()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let pkcs1 = sign::spki_to_pkcs1(&spki)
            .map_err(|e| DestinationError::Permanent(format!("{what}: {e}")))?;
        *self.public.lock() = Some(pkcs1.clone());
        Ok(pkcs1)
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 signature of `message` (KMS `Sign`, `MessageType = RAW`).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DestinationError> {
        let what = format!("Sign {}", self.key_id);
        let out = self
            .aws
            .block_on(
                self.client
                    .sign()
                    .key_id(&self.key_id)
                    .message(aws_sdk_kms::primitives::Blob::new(message))
                    .message_type(aws_sdk_kms::types::MessageType::Raw)
                    .signing_algorithm(
                        aws_sdk_kms::types::SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
                    )
                    .send(),
            )
            .map_err(|e| classify(&e, &what))?;
        out.signature()
            .map(|b| b.as_ref().to_vec())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| DestinationError::Transient(format!("{what}: no signature returned")))
    }
}

/// A digest to sign and write.
pub struct Job {
    /// The digester's chain index and the digest's outbox id.
    pub chain: usize,
    pub id: u64,
    pub trail: String,
    pub region: String,
    /// The digest's end time (picks the local key).
    pub end: i64,
    /// Everything but `digestPublicKeyFingerprint`.
    pub body: DigestBody,
    pub kms: Option<Arc<KmsKey>>,
    pub path: PathBuf,
}

/// A digest signed and written to the outbox.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Hex SHA-256 of the uncompressed digest.
    pub sha256: String,
    /// Hex signature.
    pub signature: String,
    /// Size of the gzipped file.
    pub bytes: u64,
}

/// The outcome of a job.
pub struct Done {
    pub chain: usize,
    pub id: u64,
    pub trail: String,
    pub result: Result<Signed, String>,
}

/// The signing threads.
pub struct Pool {
    jobs: Sender<Job>,
    done: Receiver<Done>,
}

impl Pool {
    /// Starts `threads` signers over `keys`.
    pub fn spawn(threads: usize, keys: Arc<KeyStore>) -> Self {
        let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded::<Job>();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        for i in 0..threads.max(1) {
            let (jobs, done, keys) = (jobs_rx.clone(), done_tx.clone(), keys.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("ot-digest-sign-{i}"))
                .spawn(move || {
                    // One compressor and buffer per thread, reused: no per-digest allocations
                    // of deflate state (which, spread over per-thread malloc arenas, cost tens
                    // of MiB of resident memory when thousands of digests are made at once).
                    let mut gz = Gzip::new();
                    for job in jobs {
                        let result = run(&keys, &job, &mut gz);
                        let out = Done {
                            chain: job.chain,
                            id: job.id,
                            trail: job.trail,
                            result,
                        };
                        if done.send(out).is_err() {
                            break;
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a digest signing thread");
            }
        }
        Self {
            jobs: jobs_tx,
            done: done_rx,
        }
    }

    /// Queues a job (never blocks).
    pub fn submit(&self, job: Job) {
        let _ = self.jobs.send(job);
    }

    /// A finished job, if any.
    pub fn try_done(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// Waits up to `timeout` for a finished job (tests and shutdown).
    pub fn done_timeout(&self, timeout: Duration) -> Option<Done> {
        self.done.recv_timeout(timeout).ok()
    }
}

/// Runs `f`, retrying transient failures with backoff.
fn retried<T>(mut f: impl FnMut() -> Result<T, DestinationError>) -> Result<T, String> {
    let mut attempt = 0;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(DestinationError::Transient(e)) if attempt + 1 < ATTEMPTS => {
                tracing::warn!(error = %e, "digest signing failed; retrying");
                std::thread::sleep(crate::deliver::backoff(attempt));
                attempt += 1;
            }
            Err(DestinationError::Transient(e) | DestinationError::Permanent(e)) => return Err(e),
        }
    }
}

/// A reusable gzip writer (one member: header, deflate, CRC-32 and length).
struct Gzip {
    deflate: flate2::Compress,
    out: Vec<u8>,
}

impl Gzip {
    fn new() -> Self {
        Self {
            deflate: flate2::Compress::new(flate2::Compression::default(), false),
            out: Vec::new(),
        }
    }

    fn member(&mut self, raw: &[u8]) -> Result<&[u8], String> {
        self.deflate.reset();
        self.out.clear();
        self.out
            .extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        loop {
            self.out.reserve(raw.len() / 2 + 1024);
            let done = self.deflate.total_in() as usize;
            let status = self
                .deflate
                .compress_vec(&raw[done..], &mut self.out, flate2::FlushCompress::Finish)
                .map_err(|e| e.to_string())?;
            if status == flate2::Status::StreamEnd {
                break;
            }
        }
        self.out
            .extend_from_slice(&crc32fast::hash(raw).to_le_bytes());
        self.out
            .extend_from_slice(&(raw.len() as u32).to_le_bytes());
        Ok(&self.out)
    }
}

fn run(keys: &KeyStore, job: &Job, gz: &mut Gzip) -> Result<Signed, String> {
    let mut body = job.body.clone();
    let local = match &job.kms {
        Some(kms) => {
            let public = retried(|| kms.public())?;
            body.digest_public_key_fingerprint = keys
                .use_kms(&kms.key_id, &public, job.end)
                .map_err(|e| e.to_string())?;
            None
        }
        None => {
            let key = keys
                .active(&job.region, job.end)
                .map_err(|e| e.to_string())?;
            body.digest_public_key_fingerprint = key.fingerprint.clone();
            Some(key)
        }
    };
    let raw = body.to_bytes();
    let sha256 = sign::sha256_hex(&raw);
    let to_sign = sign::string_to_sign(
        &body.digest_end_time,
        &body.digest_s3_bucket,
        &body.digest_s3_object,
        &sha256,
        body.previous_digest_signature.as_deref(),
    );
    let signature = match (&local, &job.kms) {
        (Some(key), _) => key
            .fast
            .sign(to_sign.as_bytes())
            .map_err(|e| e.to_string())?,
        (None, Some(kms)) => retried(|| kms.sign(to_sign.as_bytes()))?,
        (None, None) => return Err("no signing key".into()),
    };
    let gz = gz.member(&raw)?;
    std::fs::write(&job.path, gz).map_err(|e| format!("{}: {e}", job.path.display()))?;
    Ok(Signed {
        sha256,
        signature: hex::encode(signature),
        bytes: gz.len() as u64,
    })
}

//! Digest signing keys: one RSA-2048 key pair per region, generated on first use and kept in
//! `<data_dir>/digest/keys/<region>.json` (mode 0600, written atomically).
//!
//! Rotation: a region's newest key signs for `rotation` seconds after it was made; then a new key
//! is generated. Each key's published validity window is `[created, created + rotation +
//! overlap]`, so windows of consecutive keys overlap and every old key stays listed (for the
//! digests it signed) by `ListPublicKeys`. Keys are never deleted.
//!
//! KMS keys (`digest_signing_kms_key_id`): only their public half is kept, in `_kms.json` (the
//! name cannot be a region), so that `ListPublicKeys` and `validate-logs` find it. A KMS key signs
//! for every region of its trails and is listed for every region. Its window starts when the
//! agent first used it and ends [`KMS_VALIDITY_SECS`] after its last use (extended as it signs).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use parking_lot::Mutex;
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use serde::{Deserialize, Serialize};

use super::sign::{self, SignError};

/// Default rotation period (CloudTrail's published keys are valid for 30 days).
pub const DEFAULT_ROTATION_SECS: i64 = 30 * 24 * 3600;
/// How long a key stays valid after its successor took over.
pub const OVERLAP_SECS: i64 = 24 * 3600;
/// A KMS key stays listed this long after it last signed.
pub const KMS_VALIDITY_SECS: i64 = 30 * 24 * 3600;
/// RSA modulus size.
const BITS: usize = 2048;

/// Why a key could not be loaded, made or saved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("key file {path} is damaged: {message}")]
    Damaged { path: PathBuf, message: String },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("cannot generate an RSA key: {0}")]
    Generate(rsa::Error),
}

/// One key pair and its validity window.
#[derive(Debug)]
pub struct SigningKey {
    pub region: String,
    pub private: RsaPrivateKey,
    /// The same key, for signing.
    pub fast: sign::FastKey,
    /// DER PKCS#1 `RSAPublicKey`.
    pub public_der: Vec<u8>,
    /// Lowercase hex MD5 of `public_der`.
    pub fingerprint: String,
    /// Unix seconds.
    pub valid_from: i64,
    pub valid_to: i64,
}

/// A public key as `ListPublicKeys` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub region: String,
    pub der: Vec<u8>,
    pub fingerprint: String,
    pub valid_from: i64,
    pub valid_to: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    /// Base64 DER PKCS#1 `RSAPrivateKey`.
    private_pkcs1: String,
    valid_from: i64,
    valid_to: i64,
}

#[derive(Serialize, Deserialize, Default)]
struct StoredRegion {
    keys: Vec<StoredKey>,
}

/// The public half of a KMS key (`_kms.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKms {
    key_id: String,
    /// Base64 DER PKCS#1 `RSAPublicKey`.
    public_pkcs1: String,
    valid_from: i64,
    valid_to: i64,
}

const KMS_FILE: &str = "_kms.json";

/// The key pairs of every region, shared by the digest writer and the API.
pub struct KeyStore {
    dir: PathBuf,
    rotation: i64,
    regions: Mutex<BTreeMap<String, Vec<Arc<SigningKey>>>>,
    /// Public keys of KMS keys (listed for every region).
    kms: Mutex<Vec<StoredKms>>,
    /// One lock per region, held while a key for it is generated (seconds of CPU), so that
    /// generation never blocks readers or other regions, and happens once.
    generating: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl KeyStore {
    /// Opens (and loads every region of) the key folder; `rotation` in seconds.
    pub fn open(dir: &Path, rotation: i64) -> Result<Self, KeyError> {
        std::fs::create_dir_all(dir).map_err(|error| KeyError::Io {
            path: dir.to_path_buf(),
            error,
        })?;
        let store = Self {
            dir: dir.to_path_buf(),
            rotation: rotation.max(60),
            regions: Mutex::new(BTreeMap::new()),
            kms: Mutex::new(Vec::new()),
            generating: Mutex::new(HashMap::new()),
        };
        let kms_path = dir.join(KMS_FILE);
        match std::fs::read(&kms_path) {
            Ok(bytes) => {
                *store.kms.lock() =
                    serde_json::from_slice(&bytes).map_err(|e| KeyError::Damaged {
                        path: kms_path.clone(),
                        message: e.to_string(),
                    })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(KeyError::Io {
                    path: kms_path,
                    error,
                });
            }
        }
        let entries = std::fs::read_dir(dir).map_err(|error| KeyError::Io {
            path: dir.to_path_buf(),
            error,
        })?;
        let mut regions = store.regions.lock();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(region) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|r| crate::record::Region::parse(r).is_some())
            else {
                continue;
            };
            regions.insert(region.to_string(), load_region(&path, region)?);
        }
        drop(regions);
        Ok(store)
    }

    /// The key that signs in `region` for a digest ending at `at`: the newest key made at or
    /// before `at` while it is within its rotation period. A new key (valid from `at`) is made
    /// and saved when the region has none or its newest one is due for rotation; a time before
    /// the newest key takes the key whose window holds it.
    pub fn active(&self, region: &str, at: i64) -> Result<Arc<SigningKey>, KeyError> {
        if let Some(key) = self.current(region, at) {
            return Ok(key);
        }
        let gen_lock = self
            .generating
            .lock()
            .entry(region.to_string())
            .or_default()
            .clone();
        let _generating = gen_lock.lock();
        // Another caller may have made it meanwhile.
        if let Some(key) = self.current(region, at) {
            return Ok(key);
        }
        let private =
            RsaPrivateKey::new(&mut rsa::rand_core::OsRng, BITS).map_err(KeyError::Generate)?;
        let key = Arc::new(make_key(
            region,
            private,
            at,
            at + self.rotation + OVERLAP_SECS,
        )?);
        let mut regions = self.regions.lock();
        let keys = regions.entry(region.to_string()).or_default();
        keys.push(key.clone());
        if let Err(e) = save_region(&self.dir.join(format!("{region}.json")), keys) {
            keys.pop();
            return Err(e);
        }
        tracing::info!(region, fingerprint = %key.fingerprint, "new digest signing key");
        Ok(key)
    }

    /// The key that signs in `region` at `at` without making one; `None` when one is due.
    fn current(&self, region: &str, at: i64) -> Option<Arc<SigningKey>> {
        let regions = self.regions.lock();
        let keys = regions.get(region)?;
        let newest = keys.last()?;
        if at >= newest.valid_from && at < newest.valid_from + self.rotation {
            return Some(newest.clone());
        }
        if at < newest.valid_from {
            let holder = keys
                .iter()
                .rev()
                .find(|k| k.valid_from <= at && at <= k.valid_to)
                .unwrap_or(newest);
            return Some(holder.clone());
        }
        None
    }

    /// Makes `region`'s key ahead of need, on a background thread, if it has none valid now
    /// (key generation takes a second or more; signing should not wait for it).
    pub fn prepare(self: &Arc<Self>, region: &str) {
        let now = chrono::Utc::now().timestamp();
        if self.current(region, now).is_some() {
            return;
        }
        let (store, region) = (self.clone(), region.to_string());
        let spawned = std::thread::Builder::new()
            .name("ot-digest-keygen".into())
            .spawn(move || {
                if let Err(e) = store.active(&region, now) {
                    tracing::error!(%region, error = %e, "cannot make a digest signing key");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start key generation thread");
        }
    }

    /// Records that KMS key `key_id` (public key `pkcs1`, DER PKCS#1) signs at `at`: the key is
    /// listed from its first use until [`KMS_VALIDITY_SECS`] after its last one. Saved when new
    /// or when the window grew by more than a day. Returns the fingerprint.
    pub fn use_kms(&self, key_id: &str, pkcs1: &[u8], at: i64) -> Result<String, KeyError> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(pkcs1);
        let mut kms = self.kms.lock();
        let want_to = at + KMS_VALIDITY_SECS;
        let pos = kms
            .iter()
            .position(|k| k.key_id == key_id && k.public_pkcs1 == encoded);
        let changed = match pos {
            Some(i) if kms[i].valid_to >= want_to - 24 * 3600 && kms[i].valid_from <= at => false,
            Some(i) => {
                kms[i].valid_from = kms[i].valid_from.min(at);
                kms[i].valid_to = kms[i].valid_to.max(want_to);
                true
            }
            None => {
                kms.push(StoredKms {
                    key_id: key_id.to_string(),
                    public_pkcs1: encoded,
                    valid_from: at,
                    valid_to: want_to,
                });
                true
            }
        };
        if changed {
            let path = self.dir.join(KMS_FILE);
            let bytes = serde_json::to_vec_pretty(&*kms).map_err(|e| KeyError::Io {
                path: path.clone(),
                error: std::io::Error::other(e),
            })?;
            write_private(&path, &bytes)?;
        }
        Ok(sign::fingerprint(pkcs1))
    }

    /// Every public key whose validity window overlaps `[from, to]`, in `region` or (`None`) in
    /// every region; ordered by region, then age; KMS keys (any region) last.
    pub fn public_keys(&self, region: Option<&str>, from: i64, to: i64) -> Vec<PublicKey> {
        let kms: Vec<PublicKey> = self
            .kms
            .lock()
            .iter()
            .filter(|k| k.valid_from <= to && k.valid_to >= from)
            .filter_map(|k| {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(&k.public_pkcs1)
                    .ok()?;
                Some(PublicKey {
                    region: region.unwrap_or("*").to_string(),
                    fingerprint: sign::fingerprint(&der),
                    der,
                    valid_from: k.valid_from,
                    valid_to: k.valid_to,
                })
            })
            .collect();
        let regions = self.regions.lock();
        let mut out: Vec<PublicKey> = regions
            .iter()
            .filter(|(r, _)| region.is_none_or(|want| want == r.as_str()))
            .flat_map(|(_, keys)| keys.iter())
            .filter(|k| k.valid_from <= to && k.valid_to >= from)
            .map(|k| PublicKey {
                region: k.region.clone(),
                der: k.public_der.clone(),
                fingerprint: k.fingerprint.clone(),
                valid_from: k.valid_from,
                valid_to: k.valid_to,
            })
            .collect();
        out.extend(kms);
        out
    }
}

fn make_key(
    region: &str,
    private: RsaPrivateKey,
    valid_from: i64,
    valid_to: i64,
) -> Result<SigningKey, KeyError> {
    let public_der = sign::public_der(&private.to_public_key())?;
    let fast =
        sign::FastKey::from_pkcs1_der(private.to_pkcs1_der().map_err(SignError::from)?.as_bytes())?;
    Ok(SigningKey {
        region: region.to_string(),
        fast,
        fingerprint: sign::fingerprint(&public_der),
        public_der,
        private,
        valid_from,
        valid_to,
    })
}

fn load_region(path: &Path, region: &str) -> Result<Vec<Arc<SigningKey>>, KeyError> {
    let bytes = std::fs::read(path).map_err(|error| KeyError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let damaged = |message: String| KeyError::Damaged {
        path: path.to_path_buf(),
        message,
    };
    let stored: StoredRegion =
        serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    let mut keys = Vec::new();
    for k in stored.keys {
        let der = base64::engine::general_purpose::STANDARD
            .decode(&k.private_pkcs1)
            .map_err(|e| damaged(e.to_string()))?;
        let private = RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| damaged(e.to_string()))?;
        keys.push(Arc::new(make_key(
            region,
            private,
            k.valid_from,
            k.valid_to,
        )?));
    }
    keys.sort_by_key(|k| k.valid_from);
    Ok(keys)
}

/// Writes the region's keys atomically with mode 0600 (temp file created 0600, fsync, rename).
fn save_region(path: &Path, keys: &[Arc<SigningKey>]) -> Result<(), KeyError> {
    let io = |error| KeyError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut stored = StoredRegion::default();
    for k in keys {
        let der = k.private.to_pkcs1_der().map_err(SignError::from)?;
        stored.keys.push(StoredKey {
            private_pkcs1: base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
            valid_from: k.valid_from,
            valid_to: k.valid_to,
        });
    }
    let bytes = serde_json::to_vec_pretty(&stored).map_err(|e| io(std::io::Error::other(e)))?;
    write_private(path, &bytes)
}

/// Writes `bytes` to `path` atomically with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |error| KeyError::Io {
        path: path.to_path_buf(),
        error,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("keys")
    ));
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    crate::fsutil::sync_dir(dir).map_err(io)
}

/// A fixed 2048-bit key for unit tests (generated once per test process).
#[cfg(test)]
pub fn test_key() -> RsaPrivateKey {
    static KEY: std::sync::OnceLock<RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, BITS).expect("test key generation")
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_persist_rotate_and_overlap() {
        let dir = tempfile::tempdir().expect("tmp");
        let rotation = 1000;
        let store = KeyStore::open(dir.path(), rotation).expect("open");
        let a = store.active("us-east-1", 10_000).expect("key");
        assert_eq!(a.valid_from, 10_000);
        assert_eq!(a.valid_to, 10_000 + rotation + OVERLAP_SECS);
        // Same key within the rotation period, and after a restart.
        assert_eq!(
            store.active("us-east-1", 10_999).expect("key").fingerprint,
            a.fingerprint
        );
        let path = dir.path().join("us-east-1.json");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let store = KeyStore::open(dir.path(), rotation).expect("reopen");
        assert_eq!(
            store.active("us-east-1", 10_500).expect("key").fingerprint,
            a.fingerprint
        );
        // Rotation: a new key; both are listed over a range that covers both.
        let b = store.active("us-east-1", 11_000).expect("rotated");
        assert_ne!(b.fingerprint, a.fingerprint);
        let listed = store.public_keys(Some("us-east-1"), 10_000, 11_500);
        assert_eq!(listed.len(), 2);
        assert!(listed[0].valid_to > listed[1].valid_from, "windows overlap");
        assert_eq!(listed[0].fingerprint, sign::fingerprint(&listed[0].der));
        // Only the old key for an old range; nothing in another region.
        assert_eq!(store.public_keys(Some("us-east-1"), 0, 10_500).len(), 1);
        assert!(store.public_keys(Some("eu-west-1"), 0, i64::MAX).is_empty());
    }

    #[test]
    fn kms_public_keys_are_listed_for_every_region_and_persist() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = KeyStore::open(dir.path(), DEFAULT_ROTATION_SECS).expect("open");
        let der = sign::public_der(&test_key().to_public_key()).expect("der");
        let fp = store.use_kms("alias/k", &der, 10_000).expect("use");
        assert_eq!(fp, sign::fingerprint(&der));
        // Any region, within [first use, last use + KMS_VALIDITY_SECS].
        for region in [Some("eu-west-1"), Some("us-east-1"), None] {
            let listed = store.public_keys(region, 9_000, 10_500);
            assert_eq!(listed.len(), 1, "{region:?}");
            assert_eq!(
                (listed[0].der.clone(), listed[0].fingerprint.clone()),
                (der.clone(), fp.clone())
            );
        }
        assert!(
            store.public_keys(None, 0, 9_999).is_empty(),
            "before first use"
        );
        let far = 10_000 + KMS_VALIDITY_SECS + 10;
        assert!(store.public_keys(None, far, far).is_empty());
        // Signing later extends the window; it is saved (0600) and loaded again.
        store.use_kms("alias/k", &der, far).expect("use later");
        let store = KeyStore::open(dir.path(), DEFAULT_ROTATION_SECS).expect("reopen");
        let listed = store.public_keys(None, far, far);
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].valid_from, listed[0].valid_to),
            (10_000, far + KMS_VALIDITY_SECS)
        );
        let mode = std::fs::metadata(dir.path().join(KMS_FILE))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            store.public_keys(Some("us-east-1"), 0, i64::MAX).len() == 1,
            "no local key made"
        );
    }

    #[test]
    fn prepare_makes_the_key_in_the_background() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(KeyStore::open(dir.path(), DEFAULT_ROTATION_SECS).expect("open"));
        store.prepare("eu-west-1");
        // `active` waits for the generation under way instead of making a second key.
        let now = chrono::Utc::now().timestamp();
        let key = store.active("eu-west-1", now).expect("key");
        store.prepare("eu-west-1");
        assert_eq!(
            store.active("eu-west-1", now).expect("key").fingerprint,
            key.fingerprint
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline
            && store.public_keys(Some("eu-west-1"), 0, i64::MAX).len() != 1
        {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(store.public_keys(Some("eu-west-1"), 0, i64::MAX).len(), 1);
    }
}

//! The API credentials file: `{"keys": [{"access_key_id", "secret_access_key", "principal"}]}`.
//!
//! Invariants:
//! - The file is refused (error naming it) when group or others have any permission bit, or when
//!   it is not a regular file; entries are validated (key id shape, non-empty secret, IAM
//!   principal ARN, no duplicate key ids, no unknown fields, at least one key).
//! - A secret never appears in `Debug` output, errors or logs: it lives in [`Secret`], whose
//!   `Debug` prints `***`.
//! - [`create`] writes a new file with mode 0600 from the first byte (the temporary file is
//!   opened with that mode), publishes it with a no-replace link so an existing file is never
//!   overwritten, and syncs the folder. Generated keys come from the thread CSPRNG (ChaCha seeded
//!   by the OS): `AKIA` + 16 uppercase alphanumerics, a 40-character secret.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::AuthLoadError;

/// A secret access key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself; only for computing signatures.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One access key of the credentials file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    /// E.g. `AKIAEXAMPLEADMIN0001`.
    pub access_key_id: String,
    /// The secret (never logged).
    pub secret_access_key: Secret,
    /// IAM principal ARN, e.g. `arn:aws:iam::111122223333:user/admin`.
    pub principal: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    keys: Vec<AccessKey>,
}

/// The loaded credentials, by access key id.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    keys: HashMap<String, AccessKey>,
}

/// The account id (fifth field) of an IAM/STS principal ARN, when it is one:
/// `arn:<partition>:(iam|sts)::<12 digits>:<resource>`.
pub fn principal_account(principal: &str) -> Option<&str> {
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    match parts[..] {
        ["arn", partition, "iam" | "sts", "", account, resource]
            if !partition.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && !resource.is_empty() =>
        {
            Some(account)
        }
        _ => None,
    }
}

fn valid_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Credentials {
    /// Loads and validates `path` (see the module invariants).
    pub fn load(path: &Path) -> Result<Self, AuthLoadError> {
        let meta = fs::metadata(path).map_err(|source| AuthLoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(AuthLoadError::invalid(path, "not a regular file"));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(AuthLoadError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = fs::read_to_string(path).map_err(|source| AuthLoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates the file's text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, AuthLoadError> {
        // serde_json's message can quote input, which may be the secret: keep only the position.
        let file: File = serde_json::from_str(text).map_err(|e| {
            AuthLoadError::invalid(
                path,
                format!(
                    "not a valid credentials file (line {}, column {}): expected \
                     {{\"keys\": [{{\"access_key_id\", \"secret_access_key\", \"principal\"}}]}}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if file.keys.is_empty() {
            return Err(AuthLoadError::invalid(path, "no keys"));
        }
        let mut keys = HashMap::new();
        for (i, k) in file.keys.into_iter().enumerate() {
            let n = i + 1;
            if !valid_key_id(&k.access_key_id) {
                return Err(AuthLoadError::invalid(
                    path,
                    format!(
                        "key {n}: access_key_id {:?} must be 16-128 letters or digits",
                        k.access_key_id
                    ),
                ));
            }
            if k.secret_access_key.expose().len() < 16
                || k.secret_access_key
                    .expose()
                    .chars()
                    .any(char::is_whitespace)
            {
                return Err(AuthLoadError::invalid(
                    path,
                    format!(
                        "key {n} ({}): secret_access_key must be at least 16 characters without \
                         whitespace",
                        k.access_key_id
                    ),
                ));
            }
            if principal_account(&k.principal).is_none() {
                return Err(AuthLoadError::invalid(
                    path,
                    format!(
                        "key {n} ({}): principal {:?} is not an IAM principal ARN \
                         (arn:aws:iam::<12-digit account>:user/<name>)",
                        k.access_key_id, k.principal
                    ),
                ));
            }
            let id = k.access_key_id.clone();
            if keys.insert(id.clone(), k).is_some() {
                return Err(AuthLoadError::invalid(
                    path,
                    format!("access_key_id {id} appears twice"),
                ));
            }
        }
        Ok(Self { keys })
    }

    /// The key with this id.
    pub fn get(&self, access_key_id: &str) -> Option<&AccessKey> {
        self.keys.get(access_key_id)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `true` when there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A fresh key for `principal`: `AKIA` + 16 uppercase alphanumerics, 40-character secret.
pub fn generate(principal: &str) -> AccessKey {
    AccessKey {
        access_key_id: format!("AKIA{}", random_string(KEY_ALPHABET, 16)),
        secret_access_key: Secret(random_string(SECRET_ALPHABET, 40)),
        principal: principal.to_string(),
    }
}

/// Serialises `keys` as a credentials file.
pub fn to_json(keys: &[AccessKey]) -> String {
    let mut s = serde_json::to_string_pretty(&File {
        keys: keys.to_vec(),
    })
    .unwrap_or_default();
    s.push('\n');
    s
}

/// Creates `path` with `bytes` and mode 0600, atomically, never replacing an existing file;
/// the parent folder is created (mode 0700) when missing.
pub fn create(path: &Path, bytes: &[u8]) -> Result<(), AuthLoadError> {
    let io = |source| AuthLoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("credentials");
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::hard_link(&tmp, path)?;
        crate::fsutil::sync_dir(&dir)
    })();
    let _ = fs::remove_file(&tmp);
    result.map_err(io)
}

//! The embedded local destination: bucket `B`, key `K` is stored at `<local_root>/B/K`, so the
//! tree is exactly what the S3 bucket would hold.
//!
//! Invariants: the tree holds only complete, final objects (published by a no-replace hard link
//! or, across file systems, a copy made in a scratch folder beside the root and then linked);
//! keys are checked so nothing can be written outside the root; object metadata (what S3 keeps
//! beside an object: content type, user metadata such as digest signatures) lives outside the
//! tree, in an append-only journal `<data_dir>/local-metadata/B.jsonl` (one JSON line per object,
//! the last line for a key wins), appended before the object appears.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::deliver::{Destination, DestinationError, Outcome, SealedFile};
use crate::fsutil::{Published, publish, sync_filesystem};

/// What S3 would keep beside an object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectMetadata {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "ContentType")]
    pub content_type: String,
    #[serde(rename = "ContentLength")]
    pub content_length: u64,
    /// User metadata (`x-amz-meta-*` without the prefix).
    #[serde(rename = "Metadata", default)]
    pub metadata: BTreeMap<String, String>,
}

/// Local file-system destination.
pub struct LocalDestination {
    root: PathBuf,
    scratch: PathBuf,
    metadata: PathBuf,
    /// Folders known to exist (mkdir is costly; most files share their folders).
    made: Mutex<HashSet<PathBuf>>,
    journals: Mutex<HashMap<String, File>>,
}

impl LocalDestination {
    /// `root` is `[storage] local_root`; metadata goes under `data_dir`.
    pub fn new(root: &Path, data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let metadata = data_dir.join("local-metadata");
        std::fs::create_dir_all(&metadata)?;
        let name = root.file_name().and_then(|n| n.to_str()).unwrap_or("root");
        let scratch = root
            .parent()
            .unwrap_or(Path::new("."))
            .join(format!(".{name}.opentrail-tmp"));
        Ok(Self {
            root: root.to_path_buf(),
            scratch,
            metadata,
            made: Mutex::new(HashSet::new()),
            journals: Mutex::new(HashMap::new()),
        })
    }

    /// Where `(bucket, key)` lives, or `None` for a bucket or key that could escape the root.
    pub fn object_path(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        crate::config::check_bucket_name(bucket).ok()?;
        let mut path = self.root.join(bucket);
        if key.is_empty() || key.starts_with('/') {
            return None;
        }
        for seg in key.split('/') {
            if seg.is_empty()
                || seg == "."
                || seg == ".."
                || seg.contains('\0')
                || seg.contains('\\')
            {
                return None;
            }
            path.push(seg);
        }
        Some(path)
    }

    /// Reads the metadata journal of `bucket`: key → latest metadata.
    pub fn read_metadata(&self, bucket: &str) -> std::io::Result<HashMap<String, ObjectMetadata>> {
        read_journal(&self.metadata.join(format!("{bucket}.jsonl")))
    }

    fn ensure_parent(&self, path: &Path) -> std::io::Result<()> {
        let Some(dir) = path.parent() else {
            return Ok(());
        };
        if self.made.lock().contains(dir) {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        self.made.lock().insert(dir.to_path_buf());
        Ok(())
    }

    fn append_metadata(&self, bucket: &str, meta: &ObjectMetadata) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut journals = self.journals.lock();
        let file = match journals.get_mut(bucket) {
            Some(f) => f,
            None => {
                let path = self.metadata.join(format!("{bucket}.jsonl"));
                let f = OpenOptions::new().create(true).append(true).open(path)?;
                journals.entry(bucket.to_string()).or_insert(f)
            }
        };
        file.write_all(&line)
    }
}

/// Parses a metadata journal; a torn last line (crash mid-append) is ignored.
pub fn read_journal(path: &Path) -> std::io::Result<HashMap<String, ObjectMetadata>> {
    let mut out = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::new(file).lines() {
        if let Ok(meta) = serde_json::from_str::<ObjectMetadata>(&line?) {
            out.insert(meta.key.clone(), meta);
        }
    }
    Ok(out)
}

impl Destination for LocalDestination {
    fn name(&self) -> &str {
        "local"
    }

    /// Publishes every file, then makes all of them durable with one file-system sync.
    fn put_files(&self, files: &[SealedFile]) -> Vec<Result<Outcome, DestinationError>> {
        let mut results: Vec<_> = files.iter().map(|f| self.publish_one(f)).collect();
        if results.iter().any(Result::is_ok) {
            let synced = sync_filesystem(&self.root).and_then(|()| sync_filesystem(&self.metadata));
            if let Err(e) = synced {
                let msg = format!("cannot sync {}: {e}", self.root.display());
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(DestinationError::Transient(msg.clone()));
                }
            }
        }
        results
    }

    fn put_file(&self, file: &SealedFile) -> Result<Outcome, DestinationError> {
        self.put_files(std::slice::from_ref(file))
            .pop()
            .unwrap_or_else(|| Err(DestinationError::Transient("no result".into())))
    }
}

impl LocalDestination {
    fn publish_one(&self, file: &SealedFile) -> Result<Outcome, DestinationError> {
        let target = self.object_path(&file.bucket, &file.key).ok_or_else(|| {
            DestinationError::Permanent(format!(
                "unsafe object key {:?}/{:?}",
                file.bucket, file.key
            ))
        })?;
        if !file.path.exists() {
            // Delivered before a crash, then cleaned up; the object is the proof.
            return if target.exists() {
                Ok(Outcome::AlreadyThere)
            } else {
                Err(DestinationError::Permanent(format!(
                    "staged file {} is missing",
                    file.path.display()
                )))
            };
        }
        let meta = ObjectMetadata {
            key: file.key.clone(),
            content_type: "application/json".into(),
            content_length: file.bytes,
            metadata: file.metadata.clone(),
        };
        self.ensure_parent(&target)
            .and_then(|()| self.append_metadata(&file.bucket, &meta))
            .map_err(|e| DestinationError::Transient(format!("{}: {e}", file.key)))?;
        match publish(&file.path, &target, &self.scratch) {
            Ok(Published::Created) => Ok(Outcome::Created),
            Ok(Published::AlreadyThere) => Ok(Outcome::AlreadyThere),
            Ok(Published::Conflict) => Err(DestinationError::Permanent(format!(
                "{} already exists with different content; not overwritten",
                target.display()
            ))),
            Err(e) => Err(DestinationError::Transient(format!(
                "{}: {e}",
                target.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().expect("tmp");
        let d =
            LocalDestination::new(&dir.path().join("out"), &dir.path().join("data")).expect("new");
        assert!(d.object_path("bucket", "AWSLogs/1/x.json.gz").is_some());
        for key in ["../x", "a/../../x", "/etc/passwd", "a//b", ""] {
            assert!(d.object_path("bucket", key).is_none(), "{key}");
        }
        assert!(d.object_path("..", "x").is_none());
    }

    #[test]
    fn delivers_once_and_records_metadata() {
        let dir = tempfile::tempdir().expect("tmp");
        let d =
            LocalDestination::new(&dir.path().join("out"), &dir.path().join("data")).expect("new");
        let staged = dir.path().join("staged.gz");
        std::fs::write(&staged, b"data").expect("write");
        let file = SealedFile {
            id: 1,
            trail: "main".into(),
            digest: false,
            path: staged,
            bucket: "bkt".into(),
            key: "AWSLogs/1/a.json.gz".into(),
            records: 1,
            bytes: 4,
            metadata: BTreeMap::from([("signature".to_string(), "ab".to_string())]),
        };
        assert_eq!(d.put_file(&file).expect("put"), Outcome::Created);
        assert_eq!(d.put_file(&file).expect("again"), Outcome::AlreadyThere);
        let meta = d.read_metadata("bkt").expect("meta");
        assert_eq!(meta["AWSLogs/1/a.json.gz"].metadata["signature"], "ab");
        let tree: Vec<_> = walk(&dir.path().join("out"));
        assert_eq!(tree, vec![dir.path().join("out/bkt/AWSLogs/1/a.json.gz")]);
    }

    fn walk(p: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).expect("ls").flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }
}

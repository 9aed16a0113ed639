//! The embedded local destination: bucket `B`, key `K` is stored at `<local_root>/B/K`, so the
//! tree is exactly what the S3 bucket would hold.
//!
//! Invariants: the tree holds only complete, final objects (published by a no-replace hard link
//! or, across file systems, a copy made in a scratch folder beside the root and then linked);
//! object metadata lives outside the tree, in `<data_dir>/local-metadata/B/K.json`, written before
//! the object appears; keys are checked so nothing can be written outside the root.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::deliver::{Destination, DestinationError, Outcome, SealedFile};
use crate::fsutil::{Published, publish, write_atomic};

/// Local file-system destination.
pub struct LocalDestination {
    root: PathBuf,
    scratch: PathBuf,
    metadata: PathBuf,
}

#[derive(Serialize)]
struct ObjectMetadata<'a> {
    #[serde(rename = "ContentType")]
    content_type: &'a str,
    #[serde(rename = "ContentLength")]
    content_length: u64,
    #[serde(rename = "Metadata")]
    metadata: std::collections::BTreeMap<String, String>,
}

impl LocalDestination {
    /// `root` is `[storage] local_root`; metadata goes under `data_dir`.
    pub fn new(root: &Path, data_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let name = root.file_name().and_then(|n| n.to_str()).unwrap_or("root");
        let scratch = root
            .parent()
            .unwrap_or(Path::new("."))
            .join(format!(".{name}.opentrail-tmp"));
        Ok(Self {
            root: root.to_path_buf(),
            scratch,
            metadata: data_dir.join("local-metadata"),
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

    /// Path of the metadata record of `(bucket, key)`.
    pub fn metadata_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.metadata.join(bucket).join(format!("{key}.json"))
    }
}

impl Destination for LocalDestination {
    fn name(&self) -> &str {
        "local"
    }

    fn put_file(&self, file: &SealedFile) -> Result<Outcome, DestinationError> {
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
            content_type: "application/json",
            content_length: file.bytes,
            metadata: Default::default(),
        };
        let meta_bytes =
            serde_json::to_vec(&meta).map_err(|e| DestinationError::Permanent(e.to_string()))?;
        write_atomic(&self.metadata_path(&file.bucket, &file.key), &meta_bytes)
            .map_err(|e| DestinationError::Transient(format!("metadata for {}: {e}", file.key)))?;
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
}

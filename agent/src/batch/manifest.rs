//! The batcher's checkpoint: which staged files exist, how much of each is durable, which sealed
//! files each destination still has to receive, and the WAL sequence number replay starts from.
//!
//! Invariant: every record with sequence number < `next_seq` is inside a staged file at a length
//! recorded here (or in a file already delivered everywhere); every record ≥ `next_seq` is in the
//! WAL. Written atomically (temp, fsync, rename) after the staged files it names were fsynced.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A staged file still accepting records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpenEntry {
    pub id: u64,
    pub trail: String,
    pub bucket: String,
    pub prefix: String,
    pub account: String,
    pub region: String,
    /// Durable compressed length after the gzip header.
    pub written: u64,
    pub crc: u32,
    pub raw_len: u64,
    pub records: u64,
    /// Unix seconds when the file received its first record.
    pub opened_at: i64,
    /// Event time range of the durable records (trails with log file validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<i64>,
}

/// A sealed file waiting for one or more destinations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealedEntry {
    pub id: u64,
    pub trail: String,
    pub bucket: String,
    pub key: String,
    pub records: u64,
    pub bytes: u64,
    /// Indices of destinations that have not confirmed delivery.
    pub pending: Vec<usize>,
    /// Hash and event times for the trail's digest (trails with log file validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<crate::digest::LogHash>,
}

/// The whole checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub version: u32,
    pub next_seq: u64,
    pub next_id: u64,
    pub open: Vec<OpenEntry>,
    pub sealed: Vec<SealedEntry>,
}

impl Manifest {
    /// Loads the manifest; a missing file is an empty manifest.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        Ok(crate::fsutil::read_json(path)?.unwrap_or(Self {
            version: 1,
            ..Self::default()
        }))
    }

    /// Saves atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::fsutil::write_json_atomic(path, self)
    }
}

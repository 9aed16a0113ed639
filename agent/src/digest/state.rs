//! The digest writer's durable state, `<data_dir>/digest/state.json` (saved atomically).
//!
//! Invariants:
//! - A log file enters a chain's `files` only once it is confirmed by every destination, and the
//!   state naming it is saved before the batcher's checkpoint forgets the file: a delivered file
//!   is never left out of a digest, and an undelivered one is never listed.
//! - A period that ends is *closed*: its files move, in the same state change, into a
//!   [`Closed`] entry of the chain (with its outbox id), and the chain's next period starts. The
//!   closed digest is then signed off the batcher thread; once signed and written to
//!   `outbox/<id>.json.gz`, the state (the chain's link advanced, the digest in `outbox`) is
//!   saved before the digest is handed to destinations. A crash in between re-signs the closed
//!   entry from the saved state (same body, same deterministic PKCS#1 v1.5 signature): a digest
//!   key is only ever written with one content, and re-delivery after a crash is idempotent.
//! - A file sealed before the chain's last closed period ended (`closed_until`) but confirmed
//!   only afterwards missed that period's digest: it goes to `late` and then into the chain's
//!   next `_backfill` digest, which has a chain (`previous_backfill`) of its own.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A link to the last digest of a chain (what the next digest's `previousDigest*` name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the uncompressed digest.
    pub sha256: String,
    /// Hex signature (also the object's `signature` metadata).
    pub signature: String,
}

/// A log file delivered everywhere, waiting for its chain's next digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredLog {
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the uncompressed log file.
    pub sha256: String,
    /// Unix seconds of the oldest and newest `eventTime` in the file.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

/// One chain: a trail's digests for one account and source region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub trail: String,
    pub account: String,
    pub region: String,
    /// The open period `[period_start, period_end)` (Unix seconds).
    pub period_start: i64,
    pub period_end: i64,
    /// The chain's last digest; `None` for a chain that starts (or restarts) with the next one.
    pub previous: Option<Link>,
    /// Files delivered in the open period.
    pub files: Vec<DeliveredLog>,
    /// End of the last closed period (0 before the first): files sealed before it are late.
    #[serde(default)]
    pub closed_until: i64,
    /// Late files, for the next `_backfill` digest.
    #[serde(default)]
    pub late: Vec<DeliveredLog>,
    /// The chain's last backfill digest.
    #[serde(default)]
    pub previous_backfill: Option<Link>,
    /// Periods closed, digests not yet signed, oldest first.
    #[serde(default)]
    pub closing: Vec<Closed>,
    /// The next standard / backfill digest starts a new chain (after a gap).
    #[serde(default)]
    pub restart: bool,
    #[serde(default)]
    pub restart_backfill: bool,
    /// Ended by StopLogging (or validation turned off): no more periods close; the closed
    /// ones are still signed and delivered. A later StartLogging restarts it as a new chain.
    #[serde(default)]
    pub ended: bool,
}

/// A closed period whose digest is not signed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// Outbox id of the digest.
    pub id: u64,
    pub start: i64,
    pub end: i64,
    pub files: Vec<DeliveredLog>,
    /// All `previousDigest*` null.
    pub fresh: bool,
    /// A `_backfill` digest, generated at this time (Unix seconds).
    pub backfill: Option<i64>,
}

/// A digest written and signed, not yet confirmed by every destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub id: u64,
    pub trail: String,
    pub bucket: String,
    pub key: String,
    pub signature: String,
    pub bytes: u64,
    /// Destinations that have not confirmed it.
    pub pending: Vec<usize>,
    /// For a backfill digest: its generation time (`backfill-generation-timestamp`).
    #[serde(default)]
    pub backfill: Option<i64>,
}

/// The whole state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub next_id: u64,
    pub chains: Vec<Chain>,
    pub outbox: Vec<Outgoing>,
    /// Batcher ids of files recorded here that the batcher's saved checkpoint may still name as
    /// sealed: a delivery confirmed again after a crash is not recorded twice. Cleared once the
    /// checkpoint is saved (ids are never reused).
    #[serde(default)]
    pub recorded: Vec<u64>,
}

impl State {
    /// Loads the state; a missing file is an empty state.
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

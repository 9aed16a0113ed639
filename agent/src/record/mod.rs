//! Records: the unit that flows through the pipeline.
//!
//! A [`Record`] is one element of CloudTrail's `"Records"` array, kept as the raw JSON bytes the
//! caller sent (after [`validate`] normalised `eventTime` and added a missing `eventID`) plus the
//! few fields the pipeline routes on. Invariant: `bytes` is a compact-or-not but always valid JSON
//! object, and `account` / `region` are safe to use as path components.

mod extras;
#[cfg(test)]
mod fast_path_tests;
mod fields;
mod identity;
mod ids;
mod resources;
mod scan;
mod shape;
mod time;
mod top;
mod validate;

pub use fields::{Category, Fields, Resource, Span, StrField};
pub use ids::{AccountId, Region};
pub use time::normalize_event_time;
pub use validate::{Limits, RejectReason, Rejection, validate, validate_line};

/// One accepted CloudTrail record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's JSON, byte-identical to the input except for a normalised `eventTime` and an
    /// added `eventID`.
    pub bytes: Vec<u8>,
    /// Account the record is filed under (12 digits).
    pub account: AccountId,
    /// `awsRegion` as sent (validated: `[a-z0-9-]{1,32}`).
    pub region: Region,
    /// True when `eventSource` is one of the global services (IAM, STS, CloudFront).
    pub global_service: bool,
    /// `eventTime` as seconds since the Unix epoch.
    pub event_time: i64,
    /// The fields event selectors match on ([`crate::selector`]), extracted by [`validate`];
    /// `Fields::default()` (a management event with no other field) for hand-made records.
    pub fields: Fields,
}

impl Record {
    /// The memory this record holds while it waits for the batcher: its bytes, the struct and
    /// the heap parts of its selector fields. The memory budget ([`crate::intake::Budget`])
    /// counts this, so `memory_limit_mb` bounds what queued records really take. A record is
    /// never changed between admission and the batcher, so both sides compute the same value.
    pub fn footprint(&self) -> u64 {
        (self.bytes.capacity() + std::mem::size_of::<Record>() + self.fields.heap_bytes()) as u64
    }
}

/// Event sources CloudTrail records as global-service events (delivered to us-east-1).
pub const GLOBAL_SERVICE_SOURCES: &[&str] = &[
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "cloudfront.amazonaws.com",
];

/// True when `event_source` names a global service.
pub fn is_global_service(event_source: &str) -> bool {
    GLOBAL_SERVICE_SOURCES.contains(&event_source)
}

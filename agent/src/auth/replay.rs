//! Replay protection: a signature accepted once is refused for as long as it could still be valid.
//!
//! A request signed at time `T` passes the clock check while `now ≤ T + 15 min`, so its signature
//! is remembered until then and forgotten after (expired entries are purged on every call).
//! Memory is bounded: at most `capacity` live signatures. When full, new requests are refused
//! (`ThrottlingException`) rather than forgetting a live signature, i.e. the cache fails closed;
//! the default capacity (200,000 ≈ 220 requests/s sustained for 15 minutes, ~20 MB) is far above
//! CloudTrail's own 1–10 TPS limits.

use std::collections::{BTreeSet, HashSet};

use parking_lot::Mutex;

use super::denied::Denied;
use super::sigv4::MAX_SKEW_SECS;

/// Default number of live signatures remembered.
pub const DEFAULT_CAPACITY: usize = 200_000;

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<[u8; 32]>,
    by_expiry: BTreeSet<(i64, [u8; 32])>,
}

/// Signatures accepted within the window.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl ReplayCache {
    /// A cache remembering at most `capacity` live signatures.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// Records `signature` (of a request signed at `signed_at`, Unix seconds) as used at `now`;
    /// refuses it when it was already used and is still within the window.
    pub fn check_and_record(
        &self,
        signature: [u8; 32],
        signed_at: i64,
        now: i64,
    ) -> Result<(), Denied> {
        let mut inner = self.inner.lock();
        while let Some(&first) = inner.by_expiry.first() {
            if first.0 >= now {
                break;
            }
            inner.by_expiry.pop_first();
            inner.seen.remove(&first.1);
        }
        if inner.seen.contains(&signature) {
            return Err(Denied::invalid_signature(
                "Replayed request: this exact signature was already used. Sign every request \
                 anew.",
            ));
        }
        if inner.seen.len() >= self.capacity {
            return Err(Denied::throttled());
        }
        inner.seen.insert(signature);
        inner
            .by_expiry
            .insert((signed_at.saturating_add(MAX_SKEW_SECS), signature));
        Ok(())
    }

    /// Live signatures remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().seen.len()
    }

    /// `true` when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_within_window_forgets_after_and_caps() {
        let c = ReplayCache::new(2);
        let (a, b, d) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        c.check_and_record(a, 1000, 1000).expect("first use");
        let e = c.check_and_record(a, 1000, 1001).expect_err("replay");
        assert_eq!(e.exception, "InvalidSignatureException");
        c.check_and_record(b, 1000, 1002).expect("other signature");
        // Full: fail closed.
        assert_eq!(
            c.check_and_record(d, 1000, 1003)
                .expect_err("full")
                .exception,
            "ThrottlingException"
        );
        // Still refused at the last valid second, forgotten after it.
        assert!(c.check_and_record(a, 1000, 1000 + MAX_SKEW_SECS).is_err());
        c.check_and_record(d, 1000, 1001 + MAX_SKEW_SECS)
            .expect("expired entries purged, room again");
        assert_eq!(c.len(), 1);
        c.check_and_record(a, 1000, 1001 + MAX_SKEW_SECS)
            .expect("a is forgotten once it can no longer pass the clock check");
    }
}

//! Intake: the one door every source uses — validate, route-check, quarantine, admit, spool.
//!
//! * [`Intake::check`] applies the record rules ([`crate::record::validate`]) and refuses records
//!   no trail would receive; refusals are counted and quarantined with their origin.
//! * [`Budget`] bounds the bytes between sources and the batcher: when full, callers block (file
//!   source), answer 503 (HTTP), or time out with BUSY (C ABI). Memory therefore stays bounded
//!   whatever the input rate or destination speed.
//! * [`Intake::spool`] appends accepted records to the WAL; the returned ticket tells when they
//!   are durable. While the WAL holds more than `disk_limit_mb` (a destination is far behind),
//!   spooling waits exactly like a full memory budget: disk use stays bounded too.
//! * [`Intake::reserve`] takes budget alone, for the embedding API's submit buffer
//!   ([`crate::gather`]), which hands its records to the WAL later in batches.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::metrics::Metrics;
use crate::quarantine::{Origin, Quarantine};
use crate::record::{Limits, Record, RejectReason, Rejection, validate};
use crate::route::SharedRouter;
use crate::wal::{Position, WalError, WalHandle};

/// A byte budget shared by producers (acquire) and the batcher (release).
pub struct Budget {
    used: Mutex<u64>,
    freed: Condvar,
    limit: u64,
    metrics: Arc<Metrics>,
}

impl Budget {
    pub fn new(limit: u64, metrics: Arc<Metrics>) -> Self {
        Self {
            used: Mutex::new(0),
            freed: Condvar::new(),
            limit,
            metrics,
        }
    }

    /// Reserves `n` bytes, waiting up to `timeout` (`None`: forever). A request larger than the
    /// whole budget is granted once nothing else is held, so it cannot starve.
    pub fn acquire(&self, n: u64, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut used = self.used.lock();
        let mut counted_busy = false;
        while *used > 0 && *used + n > self.limit {
            if !counted_busy {
                self.metrics.busy.fetch_add(1, Relaxed);
                counted_busy = true;
            }
            match deadline {
                Some(d) => {
                    if self.freed.wait_until(&mut used, d).timed_out()
                        && *used > 0
                        && *used + n > self.limit
                    {
                        return false;
                    }
                }
                None => self.freed.wait(&mut used),
            }
        }
        *used += n;
        self.metrics.memory_in_flight_bytes.store(*used, Relaxed);
        true
    }

    /// Returns `n` bytes.
    pub fn release(&self, n: u64) {
        let mut used = self.used.lock();
        *used = used.saturating_sub(n);
        self.metrics.memory_in_flight_bytes.store(*used, Relaxed);
        self.freed.notify_all();
    }

    /// Bytes currently held.
    pub fn used(&self) -> u64 {
        *self.used.lock()
    }
}

/// Why a batch could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("memory or disk budget full; retry later")]
    Busy,
    #[error(transparent)]
    Wal(#[from] WalError),
}

/// Shared intake state; cheap to clone behind an `Arc`.
pub struct Intake {
    pub limits: Limits,
    pub router: Arc<SharedRouter>,
    pub quarantine: Arc<Quarantine>,
    pub metrics: Arc<Metrics>,
    pub wal: WalHandle,
    pub budget: Arc<Budget>,
    /// Largest WAL size (bytes) at which new records are still spooled.
    pub disk_limit: u64,
    /// Set while spooling waits for the WAL to shrink (logged once per episode).
    pub disk_waiting: std::sync::atomic::AtomicBool,
}

impl Intake {
    /// Validates one record. A refusal is counted and quarantined (with `origin`) and returned.
    /// Surrounding whitespace (including a `\r` before the newline) is ignored.
    pub fn check(
        &self,
        bytes: &[u8],
        origin: impl FnOnce() -> Origin,
    ) -> Result<Record, Rejection> {
        let bytes = bytes.trim_ascii();
        let result = validate(bytes, &self.limits).and_then(|r| {
            if !self.router.load().receives(&r) {
                Err(Rejection::new(
                    RejectReason::NoTrail,
                    format!(
                        "no trail receives account {} region {}",
                        r.account, r.region
                    ),
                ))
            } else {
                Ok(r)
            }
        });
        if let Err(rej) = &result {
            self.quarantine.put(rej, &origin(), bytes);
        }
        result
    }

    /// Reserves `bytes` of the memory budget for records handed to the WAL later without
    /// [`Self::spool`] (the embedding API's submit buffer, [`crate::gather`]). Waits like
    /// `spool` for room in the disk and memory budgets; the batcher releases the bytes.
    pub fn reserve(&self, bytes: u64, timeout: Option<Duration>) -> Result<(), IntakeError> {
        if !self.wait_for_disk(timeout) || !self.budget.acquire(bytes, timeout) {
            return Err(IntakeError::Busy);
        }
        Ok(())
    }

    /// Admits and appends `records` (and the positions they reach) to the WAL. Waits up to
    /// `timeout` for room in the memory budget (`None`: forever). Returns the WAL ticket.
    pub fn spool(
        &self,
        records: Vec<Record>,
        positions: Vec<Position>,
        timeout: Option<Duration>,
    ) -> Result<u64, IntakeError> {
        let bytes: u64 = records.iter().map(Record::footprint).sum();
        if !records.is_empty() && !self.wait_for_disk(timeout) {
            return Err(IntakeError::Busy);
        }
        if !self.budget.acquire(bytes, timeout) {
            return Err(IntakeError::Busy);
        }
        let n = records.len() as u64;
        match self.wal.append(records, positions) {
            Ok(ticket) => {
                self.metrics.records_accepted.fetch_add(n, Relaxed);
                Ok(ticket)
            }
            Err(e) => {
                self.budget.release(bytes);
                Err(e.into())
            }
        }
    }
}

impl Intake {
    /// Waits until the WAL is below the disk limit (false on timeout).
    fn wait_for_disk(&self, timeout: Option<Duration>) -> bool {
        let over = || self.metrics.wal_bytes.load(Relaxed) >= self.disk_limit;
        if !over() {
            if self.disk_waiting.swap(false, Relaxed) {
                tracing::info!("write-ahead log back under disk_limit_mb; intake resumes");
            }
            return true;
        }
        self.metrics.busy.fetch_add(1, Relaxed);
        if !self.disk_waiting.swap(true, Relaxed) {
            tracing::warn!(
                wal_bytes = self.metrics.wal_bytes.load(Relaxed),
                limit = self.disk_limit,
                "write-ahead log over disk_limit_mb (a destination is behind); intake waits"
            );
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        while over() {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_blocks_then_frees() {
        let b = Arc::new(Budget::new(100, Arc::new(Metrics::default())));
        assert!(b.acquire(80, Some(Duration::ZERO)));
        assert!(!b.acquire(30, Some(Duration::from_millis(10))));
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.acquire(30, Some(Duration::from_secs(5))));
        std::thread::sleep(Duration::from_millis(20));
        b.release(80);
        assert!(t.join().expect("join"));
        assert_eq!(b.used(), 30);
        b.release(30);
        // Larger than the whole budget: granted when nothing else is held.
        assert!(b.acquire(1000, Some(Duration::ZERO)));
    }
}

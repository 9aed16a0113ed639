//! Counters and gauges, rendered in the Prometheus text format.
//!
//! Plain atomics: incrementing is one relaxed `fetch_add`, cheap enough for the hot path. Names
//! start with `opentrail_`; counters end in `_total`. The set and the labels are stable (scripts
//! and dashboards rely on them, see docs/interfaces.md).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::record::RejectReason;

/// All metrics of one agent.
#[derive(Debug, Default)]
pub struct Metrics {
    pub records_accepted: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    pub records_delivered: AtomicU64,
    pub files_delivered: AtomicU64,
    pub bytes_delivered: AtomicU64,
    pub records_pending: AtomicU64,
    pub retries: AtomicU64,
    pub delivery_errors: AtomicU64,
    pub duplicates: AtomicU64,
    pub records_replayed: AtomicU64,
    pub busy: AtomicU64,
    pub memory_in_flight_bytes: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub quarantine_write_errors: AtomicU64,
    /// Records delivered per destination name (a file counts once per destination).
    by_destination: parking_lot::Mutex<Vec<(String, u64)>>,
    /// Records a record stream did not send (CloudWatch Logs / EventBridge limits), by
    /// destination and reason; each is in the quarantine.
    stream_skipped: parking_lot::Mutex<Vec<(String, &'static str, u64)>>,
    /// Records a record stream delivered, across all streams, and its backlog in the WAL.
    stream_lag: parking_lot::Mutex<Vec<(String, u64)>>,
}

impl Metrics {
    /// Counts one rejected record.
    pub fn reject(&self, reason: RejectReason) {
        self.rejected[reason as usize].fetch_add(1, Relaxed);
    }

    /// Makes `destination` appear in the exposition (with 0) before its first delivery.
    pub fn register_destination(&self, destination: &str) {
        let mut v = self.by_destination.lock();
        if !v.iter().any(|(d, _)| d == destination) {
            v.push((destination.to_string(), 0));
        }
    }

    /// Counts records a destination confirmed.
    pub fn delivered_to(&self, destination: &str, records: u64) {
        let mut v = self.by_destination.lock();
        match v.iter_mut().find(|(d, _)| d == destination) {
            Some((_, n)) => *n += records,
            None => v.push((destination.to_string(), records)),
        }
    }

    /// Counts a record a stream could not send (it went to the quarantine).
    pub fn stream_skipped(&self, destination: &str, reason: &'static str) {
        let mut v = self.stream_skipped.lock();
        match v
            .iter_mut()
            .find(|(d, r, _)| d == destination && *r == reason)
        {
            Some((_, _, n)) => *n += 1,
            None => v.push((destination.to_string(), reason, 1)),
        }
    }

    /// Records a stream skipped for `reason` (all destinations).
    pub fn stream_skipped_total(&self, reason: &str) -> u64 {
        self.stream_skipped
            .lock()
            .iter()
            .filter(|(_, r, _)| *r == reason)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Sets how many durable records `stream` has yet to deliver.
    pub fn set_stream_lag(&self, stream: &str, records: u64) {
        let mut v = self.stream_lag.lock();
        match v.iter_mut().find(|(d, _)| d == stream) {
            Some((_, n)) => *n = records,
            None => v.push((stream.to_string(), records)),
        }
    }

    /// Rejected records for one reason.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected[reason as usize].load(Relaxed)
    }

    /// Rejected records, all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n"
            );
        };
        counter(
            "opentrail_records_accepted_total",
            "Records accepted at intake.",
            self.records_accepted.load(Relaxed),
        );
        counter(
            "opentrail_files_delivered_total",
            "Log files delivered.",
            self.files_delivered.load(Relaxed),
        );
        counter(
            "opentrail_bytes_delivered_total",
            "Compressed bytes delivered.",
            self.bytes_delivered.load(Relaxed),
        );
        counter(
            "opentrail_retries_total",
            "Delivery attempts retried.",
            self.retries.load(Relaxed),
        );
        counter(
            "opentrail_delivery_errors_total",
            "Failed delivery attempts.",
            self.delivery_errors.load(Relaxed),
        );
        counter(
            "opentrail_duplicates_total",
            "Records known to have been delivered more than once.",
            self.duplicates.load(Relaxed),
        );
        counter(
            "opentrail_records_replayed_total",
            "Records replayed from the write-ahead log at startup.",
            self.records_replayed.load(Relaxed),
        );
        counter(
            "opentrail_busy_total",
            "Submissions refused or delayed because the memory budget was full.",
            self.busy.load(Relaxed),
        );
        counter(
            "opentrail_quarantine_write_errors_total",
            "Quarantine entries that could not be written.",
            self.quarantine_write_errors.load(Relaxed),
        );
        let _ = write!(
            out,
            "# HELP opentrail_records_rejected_total Records refused at intake, by reason.\n# TYPE opentrail_records_rejected_total counter\n"
        );
        for reason in RejectReason::ALL {
            let _ = writeln!(
                out,
                "opentrail_records_rejected_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.rejected(reason)
            );
        }
        let _ = write!(
            out,
            "# HELP opentrail_records_delivered_total Records delivered, by destination.\n# TYPE opentrail_records_delivered_total counter\n"
        );
        for (dest, n) in self.by_destination.lock().iter() {
            let _ = writeln!(
                out,
                "opentrail_records_delivered_total{{destination=\"{dest}\"}} {n}"
            );
        }
        let _ = write!(
            out,
            "# HELP opentrail_stream_records_skipped_total Records a record stream did not send (kept in the quarantine), by destination and reason.\n# TYPE opentrail_stream_records_skipped_total counter\n"
        );
        for (dest, reason, n) in self.stream_skipped.lock().iter() {
            let _ = writeln!(
                out,
                "opentrail_stream_records_skipped_total{{destination=\"{dest}\",reason=\"{reason}\"}} {n}"
            );
        }
        let _ = write!(
            out,
            "# HELP opentrail_stream_lag_records Durable records a record stream has not delivered yet.\n# TYPE opentrail_stream_lag_records gauge\n"
        );
        for (dest, n) in self.stream_lag.lock().iter() {
            let _ = writeln!(
                out,
                "opentrail_stream_lag_records{{destination=\"{dest}\"}} {n}"
            );
        }
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
            );
        };
        gauge(
            "opentrail_records_pending",
            "Records accepted and not yet delivered.",
            self.records_pending.load(Relaxed),
        );
        gauge(
            "opentrail_memory_in_flight_bytes",
            "Record bytes held in memory.",
            self.memory_in_flight_bytes.load(Relaxed),
        );
        gauge(
            "opentrail_wal_bytes",
            "Bytes in the write-ahead log.",
            self.wal_bytes.load(Relaxed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_required_names() {
        let m = Metrics::default();
        m.register_destination("local");
        m.reject(RejectReason::InvalidJson);
        m.records_accepted.fetch_add(3, Relaxed);
        let text = m.render();
        for needle in [
            "opentrail_records_accepted_total 3",
            "opentrail_records_rejected_total{reason=\"invalid_json\"} 1",
            "opentrail_records_delivered_total{destination=\"local\"} 0",
            "opentrail_files_delivered_total 0",
            "opentrail_duplicates_total 0",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        assert_eq!(m.rejected_total(), 1);
    }
}

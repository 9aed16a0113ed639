//! What every stream sink needs besides its API calls: the table of distinct targets (log
//! groups, buses) the trails stream to, the quarantine for records it cannot send, and the
//! bookkeeping of which records of a batch are done.

use std::sync::Arc;

use super::StreamRecord;
use crate::config::TrailStreams;
use crate::metrics::Metrics;
use crate::quarantine::{Origin, Quarantine};

/// Distinct targets and the target of each trail (trails sharing a target share its id).
pub struct Targets<T> {
    pub list: Vec<T>,
    by_trail: Vec<Option<u16>>,
}

impl<T: Clone + PartialEq> Targets<T> {
    /// Interns `pick(trail)` for every trail, in configuration order; `None` when no trail has
    /// a target.
    pub fn new(
        trails: &[TrailStreams],
        pick: impl Fn(&TrailStreams) -> Option<&T>,
    ) -> Option<Self> {
        let mut list: Vec<T> = Vec::new();
        let by_trail = trails
            .iter()
            .map(|t| {
                let target = pick(t)?;
                let id = list.iter().position(|x| x == target).unwrap_or_else(|| {
                    list.push(target.clone());
                    list.len() - 1
                });
                u16::try_from(id).ok()
            })
            .collect();
        (!list.is_empty()).then_some(Self { list, by_trail })
    }

    /// Target id of trail number `trail`.
    pub fn of_trail(&self, trail: usize) -> Option<u16> {
        self.by_trail.get(trail).copied().flatten()
    }

    /// The target a record goes to.
    pub fn of(&self, record: &StreamRecord) -> &T {
        &self.list[record.target as usize]
    }
}

/// Quarantines and counts the records a sink cannot send.
pub struct Skips {
    pub destination: &'static str,
    pub quarantine: Arc<Quarantine>,
    pub metrics: Arc<Metrics>,
}

impl Skips {
    /// `target` names the log group or bus in the quarantine entry's source.
    pub fn skip(&self, record: &StreamRecord, reason: &'static str, target: &str, detail: &str) {
        self.metrics.stream_skipped(self.destination, reason);
        let origin = Origin {
            source: format!("{}:{target}", self.destination),
            position: format!("seq {}", record.seq),
        };
        self.quarantine
            .put_skipped(reason, detail, &origin, &record.bytes);
    }
}

/// Keeps in `batch` the records whose `done` flag is false.
pub fn keep_undone(batch: &mut Vec<StreamRecord>, done: &[bool]) {
    let mut i = 0;
    batch.retain(|_| {
        i += 1;
        !done[i - 1]
    });
}

//! `ot_stats`: the agent's counters, copied into a caller-owned struct.

use crate::agent::{ot_agent, poison_target};
use crate::boundary;
use crate::ptr;
use crate::status::ot_status;

/// Counters of one agent since it started. Plain data: the caller owns the struct.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ot_stats {
    /// Records taken by submit / submit_batch (and any configured source).
    pub records_accepted: u64,
    /// Records refused by validation.
    pub records_rejected: u64,
    /// Records in log files every destination has confirmed.
    pub records_delivered: u64,
    /// Records accepted but not yet delivered.
    pub records_pending: u64,
    /// Log files delivered.
    pub files_delivered: u64,
    /// Compressed bytes delivered.
    pub bytes_delivered: u64,
}

impl From<opentrail::Stats> for ot_stats {
    fn from(s: opentrail::Stats) -> Self {
        Self {
            records_accepted: s.records_accepted,
            records_rejected: s.records_rejected,
            records_delivered: s.records_delivered,
            records_pending: s.records_pending,
            files_delivered: s.files_delivered,
            bytes_delivered: s.bytes_delivered,
        }
    }
}

/// Copies the agent's counters into `*stats_out` (written only on success). Works after
/// shutdown too (the counters keep their final values).
///
/// Returns `OT_STATUS_NULL_PARAMETER` when `agent` or `stats_out` is NULL, `OT_STATUS_POISONED`
/// after a panic.
///
/// # Safety
/// `agent` is NULL or a live agent; `stats_out` is NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_agent_stats(
    agent: *const ot_agent,
    stats_out: *mut ot_stats,
) -> ot_status {
    // SAFETY: the caller guarantees `agent` is NULL or live.
    let agent = unsafe { agent.as_ref() };
    // SAFETY: NULL error_out: nothing is written.
    unsafe {
        boundary::run(poison_target(agent), std::ptr::null_mut(), || {
            let agent = agent.ok_or_else(|| ptr::null("agent"))?;
            if stats_out.is_null() {
                return Err(ptr::null("stats_out"));
            }
            let stats = ot_stats::from(agent.inner().stats());
            // SAFETY: checked non-NULL; the caller guarantees it is writable.
            ptr::write_opt(stats_out, stats);
            Ok(())
        })
    }
}

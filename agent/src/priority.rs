//! Scheduling priority of the pipeline's background threads.
//!
//! Compression (and the write-ahead log's copying in memory-durability mode) is throughput
//! work: a few milliseconds of delay cost nothing. The threads that hand records to the agent —
//! an embedding service's request threads, the HTTP and file sources — are latency work. On a
//! busy machine the background threads therefore run at a higher nice value
//! (`background_nice`, default 10), so the scheduler gives the callers their core first and
//! the pipeline every cycle left over. Invariant: only ever *lowers* this thread's priority
//! (raising it needs privileges), and a failure is logged, never fatal.

/// Lowers the calling thread's priority to `nice` (0 = leave it as it is; clamped to 19).
pub fn lower_current_thread(nice: i32) {
    if nice <= 0 {
        return;
    }
    lower(nice.min(19));
}

#[cfg(target_os = "linux")]
fn lower(nice: i32) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // SAFETY: setpriority with PRIO_PROCESS and a thread id changes only that thread on Linux;
    // no memory is passed.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice) };
    if rc != 0 {
        tracing::debug!(nice, error = %std::io::Error::last_os_error(), "cannot lower background thread priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn lowers_only_the_calling_thread() {
        let own = || {
            // SAFETY: as above.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
        };
        let before = own();
        let lowered = std::thread::spawn(move || {
            super::lower_current_thread(before + 3);
            own()
        })
        .join()
        .expect("thread");
        assert_eq!(lowered, (before + 3).min(19));
        assert_eq!(own(), before);
    }
}

//! Gather: the embedding API's submit buffer for `durability = "memory"`.
//!
//! [`crate::Agent::submit`] validates on the caller's thread and answers synchronously; what it
//! accepts is put here instead of being appended to the WAL one record at a time (one channel
//! send, one writer wake-up and one batcher hand-off per record cost more than validation).
//! The buffer is appended to the WAL as one batch when it holds [`MAX_RECORDS`] or
//! [`MAX_BYTES`], when its oldest record is [`LINGER`] old (the `ot-gather` thread), and on
//! [`Gather::drain`] (flush) and [`Gather::close`] (shutdown).
//!
//! Invariants:
//! * a record enters the buffer only after its footprint ([`Record::footprint`]) was reserved in
//!   the intake budget ([`crate::intake::Intake::reserve`]); the batcher releases it as for any
//!   spooled record, so memory stays bounded and BUSY is decided per submit, before it returns;
//! * appends to the WAL happen under the buffer's lock, so once [`Gather::drain`] returns every
//!   record accepted before the call is queued in the WAL (a following `WalHandle::sync` covers
//!   it), and records keep their acceptance order;
//! * after [`Gather::close`] nothing is accepted any more (CLOSED), so no record can be left
//!   behind in the buffer once the WAL is closed.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::intake::Intake;
use crate::record::Record;
use crate::wal::WalError;

/// The buffer is appended once it holds this many records…
pub const MAX_RECORDS: usize = 4096;
/// …or this many bytes…
pub const MAX_BYTES: u64 = 4 * 1024 * 1024;
/// …or its oldest record waited this long.
pub const LINGER: Duration = Duration::from_millis(5);

/// Why records were not put in the buffer.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error("the agent is shut down")]
    Closed,
    #[error(transparent)]
    Wal(#[from] WalError),
}

struct State {
    records: Vec<Record>,
    bytes: u64,
    /// When the oldest record in `records` arrived.
    since: Instant,
    closed: bool,
}

struct Shared {
    intake: Arc<Intake>,
    state: Mutex<State>,
    /// Notified when the buffer stops being empty, and on close.
    wake: Condvar,
}

/// The submit buffer and its linger thread.
pub struct Gather {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Gather {
    /// Starts the linger thread.
    pub fn start(intake: Arc<Intake>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            intake,
            state: Mutex::new(State {
                records: Vec::new(),
                bytes: 0,
                since: Instant::now(),
                closed: false,
            }),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ot-gather".into())
            .spawn(move || s.linger_loop())?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Takes `records`, whose footprints (`bytes`, their total) were already reserved in the
    /// intake budget. On error the reservation is returned and none of them was taken.
    pub fn put(
        &self,
        records: impl IntoIterator<Item = Record>,
        bytes: u64,
    ) -> Result<(), GatherError> {
        let sh = &self.shared;
        let mut st = sh.state.lock();
        if st.closed {
            drop(st);
            sh.intake.budget.release(bytes);
            return Err(GatherError::Closed);
        }
        let was_empty = st.records.is_empty();
        let before = st.records.len();
        st.records.extend(records);
        let n = (st.records.len() - before) as u64;
        st.bytes += bytes;
        sh.intake.metrics.records_accepted.fetch_add(n, Relaxed);
        if st.records.len() >= MAX_RECORDS || st.bytes >= MAX_BYTES {
            return sh.append(&mut st).map_err(GatherError::from);
        }
        if was_empty {
            st.since = Instant::now();
            drop(st);
            sh.wake.notify_one();
        }
        Ok(())
    }

    /// Appends whatever the buffer holds to the WAL.
    pub fn drain(&self) -> Result<(), WalError> {
        let mut st = self.shared.state.lock();
        self.shared.append(&mut st)
    }

    /// Refuses further records, appends the rest and stops the linger thread. Idempotent.
    pub fn close(&self) -> Result<(), WalError> {
        let result = {
            let mut st = self.shared.state.lock();
            st.closed = true;
            self.shared.append(&mut st)
        };
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        result
    }
}

impl Shared {
    /// Appends the buffer to the WAL (caller holds the lock). On failure the records are lost
    /// (the WAL refuses appends only once it is closed or failed) and their budget is returned.
    fn append(&self, st: &mut State) -> Result<(), WalError> {
        if st.records.is_empty() {
            return Ok(());
        }
        // The next buffer is allocated as large as this one got, so a steady stream of submits
        // never grows (reallocates and copies) it.
        let next = Vec::with_capacity(st.records.len().min(MAX_RECORDS));
        let records = std::mem::replace(&mut st.records, next);
        let bytes = std::mem::take(&mut st.bytes);
        let n = records.len();
        match self.intake.wal.append(records, Vec::new()) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.intake.budget.release(bytes);
                tracing::error!(records = n, error = %e, "submitted records could not be appended to the write-ahead log");
                Err(e)
            }
        }
    }

    fn linger_loop(&self) {
        let mut st = self.state.lock();
        loop {
            if st.closed {
                return;
            }
            if st.records.is_empty() {
                self.wake.wait(&mut st);
                continue;
            }
            let due = st.since + LINGER;
            if Instant::now() < due {
                self.wake.wait_until(&mut st, due);
                continue;
            }
            let _ = self.append(&mut st);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use crate::{Agent, Config, SubmitError};

    fn record(n: u64) -> Vec<u8> {
        format!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","accountId":"123456789012"}},"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","eventID":"{n:08x}-0000-4000-8000-{n:012x}"}}"#
        )
        .into_bytes()
    }

    fn agent(dir: &std::path::Path) -> Agent {
        let toml = format!(
            "data_dir = \"{d}/data\"\naccount_id = \"123456789012\"\ndurability = \"memory\"\n\
             [storage]\nlocal_root = \"{d}/out\"\n\
             [[trails]]\nname = \"main\"\ns3_bucket_name = \"audit-logs\"\nis_multi_region_trail = true\n",
            d = dir.display()
        );
        let config = Config::from_toml(&toml, dir, "test").expect("config");
        Agent::start(config).expect("start")
    }

    /// Records accepted from several threads, singly and in batches, are all delivered by
    /// flush: below the size trigger (linger or drain) and above it (size-triggered appends).
    #[test]
    fn flush_delivers_everything_accepted_from_many_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agent = agent(dir.path());
        let next = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (agent, next) = (&agent, &next);
                s.spawn(move || {
                    for _ in 0..1500 {
                        let n = next.fetch_add(1, Relaxed);
                        agent.submit(&record(n)).expect("submit");
                    }
                    let lines: Vec<u8> = (0..300)
                        .flat_map(|_| {
                            let mut r = record(next.fetch_add(1, Relaxed));
                            r.push(b'\n');
                            r
                        })
                        .collect();
                    let (accepted, refused) = agent.submit_batch(&lines).expect("batch");
                    assert_eq!((accepted, refused.len()), (300, 0), "thread {t}");
                });
            }
        });
        // A few below MAX_RECORDS, left for flush to drain.
        for _ in 0..7 {
            agent
                .submit(&record(next.fetch_add(1, Relaxed)))
                .expect("submit");
        }
        let total = next.load(Relaxed);
        assert!(agent.flush(std::time::Duration::from_secs(60)));
        let stats = agent.stats();
        assert_eq!(stats.records_accepted, total);
        assert_eq!(stats.records_delivered, total);
        assert!(agent.shutdown(std::time::Duration::from_secs(30)));
    }

    /// Without flush, the linger thread hands a partial buffer on; shutdown delivers the rest
    /// and refuses later submits.
    #[test]
    fn linger_and_shutdown_lose_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agent = agent(dir.path());
        for n in 0..10 {
            agent.submit(&record(n)).expect("submit");
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while agent.wal().durable_seq() < 10 {
            assert!(
                std::time::Instant::now() < deadline,
                "linger never appended"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for n in 10..20 {
            agent.submit(&record(n)).expect("submit");
        }
        assert!(agent.shutdown(std::time::Duration::from_secs(30)));
        assert_eq!(agent.stats().records_delivered, 20);
        assert!(matches!(
            agent.submit(&record(99)),
            Err(SubmitError::Closed)
        ));
    }

    /// Refusals stay synchronous and nothing refused is counted or delivered.
    #[test]
    fn invalid_records_are_refused_at_submit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let agent = agent(dir.path());
        assert!(matches!(
            agent.submit(b"{\"eventName\":1}"),
            Err(SubmitError::Invalid(_))
        ));
        agent.submit(&record(1)).expect("submit");
        assert!(agent.flush(std::time::Duration::from_secs(30)));
        let stats = agent.stats();
        assert_eq!((stats.records_accepted, stats.records_delivered), (1, 1));
        assert_eq!(stats.records_rejected, 1);
    }
}

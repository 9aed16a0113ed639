//! `ot_agent`: a running agent — create, submit records, flush, shut down, free.
//!
//! Ownership: `ot_agent_new` returns a heap handle (a `Box` around [`opentrail::Agent`]) that
//! the caller frees exactly once with `ot_agent_free`. Threads: the agent is `Send + Sync`, so
//! every `ot_agent_*` function except `ot_agent_free` may be called concurrently from any
//! thread; `ot_agent_free` must not race with any other call on the same agent.

use std::ffi::c_char;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use opentrail::{Agent, AgentError, Config, ConfigError, SubmitError};

use crate::boundary::{self, Poison};
use crate::error::{Failure, ot_error};
use crate::ptr;
use crate::status::ot_status;
use crate::version::OT_TIMEOUT_DEFAULT;

/// A running agent. Opaque; create with `ot_agent_new`, free with `ot_agent_free`.
pub struct ot_agent {
    inner: Agent,
    poisoned: AtomicBool,
    /// Set first thing by `ot_agent_shutdown`; submits that see it return CLOSED.
    closing: AtomicBool,
    /// Submits hold it shared; flush holds it exclusively, shutdown takes it once (after setting
    /// `closing`) to wait out submits in flight. It works around two agent issues (ffi/README.md,
    /// "Known issues"): a flush racing submits can deadlock the WAL writer and the batcher, and
    /// a submit racing shutdown can be acknowledged yet dropped. Remove once the agent fixes them.
    flush_gate: RwLock<()>,
}

impl ot_agent {
    /// The wrapped agent.
    pub fn inner(&self) -> &Agent {
        &self.inner
    }

    /// Shared hold on the gate for the duration of one submit; CLOSED once shutdown started.
    fn submit_gate(&self) -> Result<RwLockReadGuard<'_, ()>, Failure> {
        let guard = self
            .flush_gate
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if self.closing.load(SeqCst) {
            return Err(closed());
        }
        Ok(guard)
    }
}

impl Poison for ot_agent {
    fn poison_flag(&self) -> &AtomicBool {
        &self.poisoned
    }
}

/// The poisoning target of a call on `agent` (none when the pointer was NULL).
pub(crate) fn poison_target(agent: Option<&ot_agent>) -> Option<&dyn Poison> {
    agent.map(|a| a as &dyn Poison)
}

/// How many refused lines a batch error message names.
const NAMED_REFUSALS: usize = 10;

/// Parses `config_toml` (the agent's TOML configuration; relative paths resolve against the
/// current directory), starts the agent and writes it to `*agent_out` (only on success).
///
/// Errors: `OT_STATUS_NULL_PARAMETER` (`config_toml` or `agent_out` NULL),
/// `OT_STATUS_INVALID_UTF8`, `OT_STATUS_CONFIG_PARSE`, `OT_STATUS_CONFIG_INVALID` (the message
/// names the key), `OT_STATUS_DATA_DIR_LOCKED`, `OT_STATUS_START_FAILED`.
///
/// # Safety
/// `config_toml` is NULL or NUL-terminated; `agent_out` and `error_out` are NULL or valid for
/// one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_agent_new(
    config_toml: *const c_char,
    agent_out: *mut *mut ot_agent,
    error_out: *mut *mut ot_error,
) -> ot_status {
    // SAFETY: `error_out` is forwarded under the same contract.
    unsafe {
        boundary::run(None, error_out, || {
            if agent_out.is_null() {
                return Err(ptr::null("agent_out"));
            }
            // SAFETY: the caller guarantees NULL or NUL-terminated.
            let text = ptr::utf8(config_toml, "config_toml")?;
            let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let config = Config::from_toml(text, &base, "config_toml").map_err(config_failure)?;
            let agent = Agent::start(config).map_err(start_failure)?;
            let handle = Box::new(ot_agent {
                inner: agent,
                poisoned: AtomicBool::new(false),
                closing: AtomicBool::new(false),
                flush_gate: RwLock::new(()),
            });
            // SAFETY: checked non-NULL; the caller guarantees it is writable.
            ptr::write_opt(agent_out, Box::into_raw(handle));
            Ok(())
        })
    }
}

/// Validates one CloudTrail record (one element of `"Records"`, as JSON bytes; surrounding
/// whitespace ignored) and takes it. With `durability = "spool"` it returns once the record is
/// durable on disk, with `"memory"` once it is queued.
///
/// Errors: `OT_STATUS_INVALID_RECORD` (invalid UTF-8 or JSON, larger than `max_record_bytes`,
/// missing or malformed fields; `ot_error_reason` tells which), `OT_STATUS_BUSY` (memory budget
/// full for `submit_timeout_ms`), `OT_STATUS_CLOSED`, `OT_STATUS_TIMEOUT`,
/// `OT_STATUS_SPOOL_FAILED`, `OT_STATUS_NULL_PARAMETER` (`agent` NULL, or `record` NULL with
/// `record_len > 0`; NULL with length 0 is an empty, hence invalid, record).
///
/// # Safety
/// `agent` is NULL or live; `record` is NULL or valid for `record_len` bytes; `error_out` is
/// NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_agent_submit(
    agent: *mut ot_agent,
    record: *const u8,
    record_len: usize,
    error_out: *mut *mut ot_error,
) -> ot_status {
    // SAFETY: the caller guarantees `agent` is NULL or live.
    let agent = unsafe { agent.as_ref() };
    // SAFETY: `error_out` is forwarded under the same contract.
    unsafe {
        boundary::run(poison_target(agent), error_out, || {
            let agent = agent.ok_or_else(|| ptr::null("agent"))?;
            // SAFETY: the caller guarantees `record_len` readable bytes.
            let bytes = ptr::bytes(record, record_len, "record")?;
            let _gate = agent.submit_gate()?;
            agent.inner.submit(bytes).map_err(submit_failure)
        })
    }
}

/// Submits JSON lines (one record per line; blank lines skipped). Each line is judged alone:
/// valid lines are taken even when others are refused. `*accepted_out` (when non-NULL) is always
/// written with the number of lines taken (0 on any other failure).
///
/// Returns `OT_STATUS_OK` only when every non-blank line was taken; otherwise
/// `OT_STATUS_INVALID_RECORD` with an error naming the first refused lines (0-based line
/// numbers) and the first one's reason, or the status that stopped the whole batch (`BUSY`,
/// `CLOSED`, …; then nothing was taken).
///
/// # Safety
/// `agent` is NULL or live; `json_lines` is NULL or valid for `len` bytes; `accepted_out` is
/// NULL or valid for one `size_t` write; `error_out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_agent_submit_batch(
    agent: *mut ot_agent,
    json_lines: *const u8,
    len: usize,
    accepted_out: *mut usize,
    error_out: *mut *mut ot_error,
) -> ot_status {
    // SAFETY: the caller guarantees `accepted_out` is NULL or writable.
    unsafe { ptr::write_opt(accepted_out, 0) };
    // SAFETY: the caller guarantees `agent` is NULL or live.
    let agent = unsafe { agent.as_ref() };
    // SAFETY: `error_out` is forwarded under the same contract.
    unsafe {
        boundary::run(poison_target(agent), error_out, || {
            let agent = agent.ok_or_else(|| ptr::null("agent"))?;
            // SAFETY: the caller guarantees `len` readable bytes.
            let bytes = ptr::bytes(json_lines, len, "json_lines")?;
            let (accepted, refused) = {
                let _gate = agent.submit_gate()?;
                agent.inner.submit_batch(bytes).map_err(submit_failure)?
            };
            // SAFETY: the caller guarantees NULL or writable.
            ptr::write_opt(accepted_out, accepted);
            match refused.first() {
                None => Ok(()),
                Some((_, first)) => {
                    let mut msg = format!(
                        "{} of {} lines refused, {accepted} accepted; first refused (0-based line numbers):",
                        refused.len(),
                        refused.len() + accepted,
                    );
                    for (line, rej) in refused.iter().take(NAMED_REFUSALS) {
                        let _ = write!(msg, " line {line}: {rej};");
                    }
                    msg.pop();
                    if refused.len() > NAMED_REFUSALS {
                        msg.push_str(" …");
                    }
                    Err(Failure::new(ot_status::InvalidRecord, msg)
                        .with_reason(first.reason.as_str()))
                }
            }
        })
    }
}

/// Seals every open log file now and waits until every record submitted before the call is
/// delivered, or `timeout_ms` passes (`OT_TIMEOUT_DEFAULT`: no practical limit).
///
/// Errors: `OT_STATUS_TIMEOUT`, `OT_STATUS_DESTINATION_FAILED` (timed out while a destination
/// reported errors), `OT_STATUS_CLOSED`, `OT_STATUS_NULL_PARAMETER`.
///
/// # Safety
/// `agent` is NULL or live; `error_out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_agent_flush(
    agent: *mut ot_agent,
    timeout_ms: u32,
    error_out: *mut *mut ot_error,
) -> ot_status {
    // SAFETY: the caller guarantees `agent` is NULL or live.
    let agent = unsafe { agent.as_ref() };
    // SAFETY: `error_out` is forwarded under the same contract.
    unsafe {
        boundary::run(poison_target(agent), error_out, || {
            let agent = agent.ok_or_else(|| ptr::null("agent"))?;
            if agent.closing.load(SeqCst) || agent.inner.is_closed() {
                return Err(closed());
            }
            let errors_before = agent.inner.metrics().delivery_errors.load(Relaxed);
            let _gate = agent
                .flush_gate
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if agent.inner.flush(Duration::from_millis(timeout_ms.into())) {
                return Ok(());
            }
            if agent.inner.is_closed() {
                return Err(closed());
            }
            Err(undelivered(
                agent,
                "flush",
                timeout_ms.into(),
                errors_before,
            ))
        })
    }
}

/// Shuts the agent down: stops taking records, delivers everything taken (waiting at most
/// `timeout_ms`; `OT_TIMEOUT_DEFAULT` = the configured `shutdown_grace_secs`) and stops its
/// threads. Idempotent; later submits return `OT_STATUS_CLOSED`. The handle stays valid (stats
/// still work) until `ot_agent_free`.
///
/// Errors: `OT_STATUS_TIMEOUT` (records not delivered in time; they stay in `data_dir` and are
/// delivered by the next agent started on it), `OT_STATUS_DESTINATION_FAILED`,
/// `OT_STATUS_NULL_PARAMETER`.
///
/// # Safety
/// `agent` is NULL or live; `error_out` is NULL or valid for one pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_agent_shutdown(
    agent: *mut ot_agent,
    timeout_ms: u32,
    error_out: *mut *mut ot_error,
) -> ot_status {
    // SAFETY: the caller guarantees `agent` is NULL or live.
    let agent = unsafe { agent.as_ref() };
    // SAFETY: `error_out` is forwarded under the same contract.
    unsafe {
        boundary::run(poison_target(agent), error_out, || {
            let agent = agent.ok_or_else(|| ptr::null("agent"))?;
            let grace_ms = if timeout_ms == OT_TIMEOUT_DEFAULT {
                agent
                    .inner
                    .config()
                    .shutdown_grace_secs
                    .saturating_mul(1000)
            } else {
                timeout_ms.into()
            };
            agent.closing.store(true, SeqCst);
            // Wait for submits in flight: none may reach the agent once its WAL is closing.
            drop(
                agent
                    .flush_gate
                    .write()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            let errors_before = agent.inner.metrics().delivery_errors.load(Relaxed);
            if agent.inner.shutdown(Duration::from_millis(grace_ms)) {
                Ok(())
            } else {
                Err(undelivered(agent, "shutdown", grace_ms, errors_before))
            }
        })
    }
}

/// Frees the agent, shutting it down first if `ot_agent_shutdown` was not called (waiting up to
/// the configured `shutdown_grace_secs`). NULL is a no-op. Must not race with any other call on
/// the same agent; freeing twice is undefined behaviour (set your pointer to NULL).
///
/// # Safety
/// `agent` is NULL or a live agent from `ot_agent_new`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_agent_free(agent: *mut ot_agent) {
    if agent.is_null() {
        return;
    }
    // SAFETY: the caller passes ownership of a pointer made by Box::into_raw in ot_agent_new.
    let handle = unsafe { Box::from_raw(agent) };
    boundary::run_or((), move || drop(handle));
}

fn closed() -> Failure {
    Failure::new(ot_status::Closed, "the agent is shut down")
}

/// The failure for a flush or shutdown that did not deliver everything in time.
fn undelivered(agent: &ot_agent, what: &str, waited_ms: u64, errors_before: u64) -> Failure {
    let pending = agent.inner.stats().records_pending;
    let errors = agent
        .inner
        .metrics()
        .delivery_errors
        .load(Relaxed)
        .saturating_sub(errors_before);
    if errors > 0 {
        Failure::new(
            ot_status::DestinationFailed,
            format!(
                "{what}: {pending} records still pending after {waited_ms} ms; the destination reported {errors} errors meanwhile"
            ),
        )
    } else {
        Failure::new(
            ot_status::Timeout,
            format!("{what}: {pending} records still pending after {waited_ms} ms"),
        )
    }
}

fn submit_failure(e: SubmitError) -> Failure {
    match e {
        SubmitError::Invalid(rej) => {
            Failure::new(ot_status::InvalidRecord, format!("invalid record: {rej}"))
                .with_reason(rej.reason.as_str())
        }
        SubmitError::Busy => Failure::new(ot_status::Busy, e.to_string()),
        SubmitError::Closed => Failure::new(ot_status::Closed, e.to_string()),
        SubmitError::Timeout => Failure::new(ot_status::Timeout, e.to_string()),
        SubmitError::Wal(_) => Failure::new(ot_status::SpoolFailed, e.to_string()),
    }
}

fn config_failure(e: ConfigError) -> Failure {
    let status = match e {
        ConfigError::Parse { .. } => ot_status::ConfigParse,
        ConfigError::Invalid { .. } | ConfigError::Read { .. } => ot_status::ConfigInvalid,
    };
    Failure::new(status, e.to_string())
}

fn start_failure(e: AgentError) -> Failure {
    let status = match e {
        AgentError::Locked(_) => ot_status::DataDirLocked,
        _ => ot_status::StartFailed,
    };
    Failure::new(status, e.to_string())
}

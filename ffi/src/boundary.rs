//! The panic boundary every exported function goes through.
//!
//! [`run`] executes a body under `catch_unwind`, so a panic never unwinds into C (which would be
//! undefined behaviour before Rust 1.81 and an abort after). A caught panic becomes
//! `OT_STATUS_PANIC` with the panic message in the error; the agent the call was made on (if any)
//! is marked poisoned, and every later call on it returns `OT_STATUS_POISONED` without touching
//! the agent again. The library must therefore be built with unwinding (`panic = "unwind"`, the
//! default); `abort` would make the boundary useless.
//!
//! The boundary also owns the error write-back: a body returns `Result<(), Failure>` and the
//! boundary converts that into the status and, when `error_out` is non-NULL, an `ot_error`.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Failure, ot_error, write_error};
use crate::status::ot_status;

/// Something that can be poisoned by a panic (the agent handle).
pub trait Poison {
    fn poison_flag(&self) -> &AtomicBool;
}

/// Runs `body` inside the boundary.
///
/// * `target`: the object whose poisoning this call checks and sets, if any.
/// * `error_out`: where a failure is written (NULL: not written).
///
/// # Safety
/// `error_out` is NULL or valid for one pointer-sized write.
pub unsafe fn run<F>(
    target: Option<&dyn Poison>,
    error_out: *mut *mut ot_error,
    body: F,
) -> ot_status
where
    F: FnOnce() -> Result<(), Failure>,
{
    let result = match target {
        Some(t) if t.poison_flag().load(Ordering::Acquire) => Err(Failure::new(
            ot_status::Poisoned,
            "the agent is poisoned: an earlier call panicked; free it and start a new one",
        )),
        _ => match catch_unwind(AssertUnwindSafe(body)) {
            Ok(r) => r,
            Err(payload) => {
                if let Some(t) = target {
                    t.poison_flag().store(true, Ordering::Release);
                }
                Err(Failure::new(
                    ot_status::Panic,
                    format!("internal panic: {}", panic_message(payload.as_ref())),
                ))
            }
        },
    };
    match result {
        Ok(()) => ot_status::Ok,
        Err(failure) => {
            let status = failure.status;
            // Allocating the error object could itself panic (out of memory aborts instead).
            let write = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: forwarded from this function's contract.
                unsafe { write_error(error_out, failure) }
            }));
            if write.is_err() {
                return ot_status::Panic;
            }
            status
        }
    }
}

/// Runs an infallible body (no status to report) and swallows a panic, returning `default`.
pub fn run_or<T, F: FnOnce() -> T>(default: T, body: F) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(default)
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ot_error_free, ot_error_status};

    struct Target(AtomicBool);
    impl Poison for Target {
        fn poison_flag(&self) -> &AtomicBool {
            &self.0
        }
    }

    #[test]
    fn panic_becomes_status_and_poisons() {
        let t = Target(AtomicBool::new(false));
        let mut err: *mut ot_error = std::ptr::null_mut();
        // SAFETY: `err` is a valid local out-pointer; each error is freed once.
        unsafe {
            let st = run(Some(&t), &mut err, || panic!("boom"));
            assert_eq!(st, ot_status::Panic);
            assert_eq!(ot_error_status(err), ot_status::Panic);
            let msg = (*err).message().to_string_lossy().into_owned();
            assert!(msg.contains("boom"), "{msg}");
            ot_error_free(err);

            let mut ran = false;
            let st = run(Some(&t), std::ptr::null_mut(), || {
                ran = true;
                Ok(())
            });
            assert_eq!(st, ot_status::Poisoned);
            assert!(!ran, "a poisoned target is not touched again");
        }
    }

    #[test]
    fn ok_and_failure_pass_through() {
        // SAFETY: NULL error_out is allowed.
        unsafe {
            assert_eq!(run(None, std::ptr::null_mut(), || Ok(())), ot_status::Ok);
            let st = run(None, std::ptr::null_mut(), || {
                Err(Failure::new(ot_status::Busy, "full"))
            });
            assert_eq!(st, ot_status::Busy);
        }
        assert_eq!(run_or(7, || -> i32 { panic!("x") }), 7);
    }
}

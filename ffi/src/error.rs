//! `ot_error`: the owned error object a failing call writes through its `error_out` argument.
//!
//! An error carries its status, a NUL-terminated UTF-8 message and, for refused records, the
//! stable rejection reason (`"invalid_json"`, `"oversize"`, …). It is immutable once created, so
//! the accessors may be called from any thread; it is freed exactly once with `ot_error_free`.
//! There is no thread-local "last error": a Go goroutine or a Python thread may change OS thread
//! between two calls, so the error travels with the call that failed.

use std::ffi::{CStr, CString, c_char};

use crate::status::ot_status;

/// An error returned through an `ot_error **error_out` argument. Opaque; free with
/// `ot_error_free`.
#[derive(Debug)]
pub struct ot_error {
    status: ot_status,
    message: CString,
    reason: Option<CString>,
}

/// A failure on the Rust side, before it becomes an `ot_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: ot_status,
    pub message: String,
    /// Stable rejection reason for `InvalidRecord` (the first refused line's for a batch).
    pub reason: Option<&'static str>,
}

impl Failure {
    pub fn new(status: ot_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            reason: None,
        }
    }

    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The heap object handed to C.
    pub fn into_error(self) -> Box<ot_error> {
        Box::new(ot_error {
            status: self.status,
            message: c_string(self.message),
            reason: self.reason.map(c_string),
        })
    }
}

/// Converts to a C string, escaping interior NULs (a message may quote caller input).
fn c_string(text: impl Into<String>) -> CString {
    let text = text.into();
    match CString::new(text) {
        Ok(c) => c,
        Err(e) => {
            let escaped = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0");
            CString::new(escaped).unwrap_or_default()
        }
    }
}

/// Writes `failure` through `error_out` when `error_out` is non-NULL.
///
/// # Safety
/// `error_out` is NULL or valid for one pointer-sized write.
pub(crate) unsafe fn write_error(error_out: *mut *mut ot_error, failure: Failure) {
    if error_out.is_null() {
        return;
    }
    let raw = Box::into_raw(failure.into_error());
    // SAFETY: non-NULL, and the caller guarantees it is valid for writes.
    unsafe { error_out.write(raw) };
}

/// Returns the error's message: NUL-terminated UTF-8, valid until `ot_error_free(error)`.
/// For a NULL `error` returns an empty static string (never NULL).
///
/// # Safety
/// `error` is NULL or a live error returned by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_error_message(error: *const ot_error) -> *const c_char {
    // SAFETY: the caller guarantees `error` is NULL or live.
    match unsafe { error.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// Returns the error's status; `OT_STATUS_NULL_PARAMETER` for a NULL `error`.
///
/// # Safety
/// `error` is NULL or a live error returned by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_error_status(error: *const ot_error) -> ot_status {
    // SAFETY: the caller guarantees `error` is NULL or live.
    match unsafe { error.as_ref() } {
        Some(e) => e.status,
        None => ot_status::NullParameter,
    }
}

/// For `OT_STATUS_INVALID_RECORD`: the stable reason the (first) refused record was refused,
/// e.g. `"invalid_json"`, `"invalid_utf8"`, `"oversize"`, `"missing_field"`. NULL for other
/// errors and for a NULL `error`. Valid until `ot_error_free(error)`.
///
/// # Safety
/// `error` is NULL or a live error returned by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_error_reason(error: *const ot_error) -> *const c_char {
    // SAFETY: the caller guarantees `error` is NULL or live.
    match unsafe { error.as_ref() }.and_then(|e| e.reason.as_deref()) {
        Some(r) => r.as_ptr(),
        None => std::ptr::null(),
    }
}

/// Frees an error. NULL is a no-op. Freeing the same error twice is undefined behaviour: set
/// your pointer to NULL after freeing.
///
/// # Safety
/// `error` is NULL or a live error returned by this library, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ot_error_free(error: *mut ot_error) {
    if error.is_null() {
        return;
    }
    // SAFETY: the caller passes ownership of a pointer made by `Box::into_raw` in write_error.
    drop(unsafe { Box::from_raw(error) });
}

impl ot_error {
    /// The message, for Rust callers and tests.
    pub fn message(&self) -> &CStr {
        &self.message
    }

    /// The status, for Rust callers and tests.
    pub fn status(&self) -> ot_status {
        self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_nul_is_escaped() {
        let e = Failure::new(ot_status::InvalidRecord, "a\0b").into_error();
        assert_eq!(e.message(), c"a\\0b");
    }

    #[test]
    fn null_accessors_have_defaults() {
        // SAFETY: NULL is an accepted argument for every accessor.
        unsafe {
            assert_eq!(ot_error_status(std::ptr::null()), ot_status::NullParameter);
            assert!(!ot_error_message(std::ptr::null()).is_null());
            assert!(ot_error_reason(std::ptr::null()).is_null());
            ot_error_free(std::ptr::null_mut());
        }
    }

    #[test]
    fn write_and_free() {
        let mut out: *mut ot_error = std::ptr::null_mut();
        let f = Failure::new(ot_status::InvalidRecord, "bad").with_reason("invalid_json");
        // SAFETY: `out` is a valid local; the error is read then freed once.
        unsafe {
            write_error(&mut out, f);
            assert_eq!(ot_error_status(out), ot_status::InvalidRecord);
            assert_eq!(CStr::from_ptr(ot_error_message(out)), c"bad");
            assert_eq!(CStr::from_ptr(ot_error_reason(out)), c"invalid_json");
            ot_error_free(out);
            write_error(std::ptr::null_mut(), Failure::new(ot_status::Busy, "x"));
        }
    }
}

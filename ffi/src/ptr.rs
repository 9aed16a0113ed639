//! Checked conversions of raw C pointers into Rust references and slices.
//!
//! Every pointer that crosses the ABI goes through one of these helpers, so a NULL argument is
//! an `OT_STATUS_NULL_PARAMETER` failure (naming the parameter) rather than undefined behaviour.
//! What cannot be checked — that a non-NULL pointer is live and points to as many bytes as the
//! caller says — is the caller's side of the contract (see `ffi/README.md`).

use std::ffi::{CStr, c_char};

use crate::error::Failure;
use crate::status::ot_status;

/// The failure for a NULL `name` argument.
pub fn null(name: &str) -> Failure {
    Failure::new(ot_status::NullParameter, format!("`{name}` is NULL"))
}

/// Borrows `(ptr, len)` as bytes. A NULL `ptr` with `len == 0` is an empty slice.
///
/// # Safety
/// `ptr` is NULL or valid for reads of `len` bytes for `'a`.
pub unsafe fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(name)) };
    }
    if len > isize::MAX as usize {
        return Err(Failure::new(
            ot_status::InvalidRecord,
            format!("`{name}` length {len} is larger than any real buffer"),
        )
        .with_reason("oversize"));
    }
    // SAFETY: non-NULL, len fits isize, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for `'a`.
pub unsafe fn utf8<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| {
        Failure::new(
            ot_status::InvalidUtf8,
            format!("`{name}` is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Writes `value` through `out` when `out` is non-NULL; returns whether it wrote.
///
/// # Safety
/// `out` is NULL or valid for one aligned write of `T`.
pub unsafe fn write_opt<T>(out: *mut T, value: T) -> bool {
    if out.is_null() {
        return false;
    }
    // SAFETY: non-NULL and valid per the caller's contract.
    unsafe { out.write(value) };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_null_rules() {
        // SAFETY: NULL pointers and a live local buffer.
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0, "r").expect("empty"), b"");
            let e = bytes(std::ptr::null(), 3, "r").expect_err("null");
            assert_eq!(e.status, ot_status::NullParameter);
            let buf = [1u8, 2, 3];
            assert_eq!(bytes(buf.as_ptr(), 3, "r").expect("ok"), &buf);
            let e = bytes(buf.as_ptr(), usize::MAX, "r").expect_err("huge");
            assert_eq!(e.status, ot_status::InvalidRecord);
        }
    }

    #[test]
    fn utf8_rules() {
        // SAFETY: NULL and NUL-terminated literals.
        unsafe {
            assert_eq!(
                utf8(std::ptr::null(), "c").expect_err("null").status,
                ot_status::NullParameter
            );
            assert_eq!(utf8(c"héllo".as_ptr(), "c").expect("ok"), "héllo");
            let bad = c"\xff\xfe";
            assert_eq!(
                utf8(bad.as_ptr(), "c").expect_err("bad").status,
                ot_status::InvalidUtf8
            );
        }
    }
}

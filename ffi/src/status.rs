//! `ot_status`: the result code every fallible function returns.
//!
//! `OT_STATUS_OK` is 0, so `if (status)` means failure. Other codes come in blocks by origin:
//! 1xx caller misuse, 2xx configuration and start-up, 3xx record intake, 4xx destinations,
//! 9xx internal faults. Values are never renumbered; a retired value stays reserved (leave a
//! comment here) and new codes take the next free number in their block. No variant is
//! feature-gated, so the numbering is the same in every build.

use std::ffi::{CStr, c_char};

/// Result code of every fallible `ot_*` function. Values are stable (see `ffi/README.md`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ot_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 100,
    /// A text argument (the configuration) was not valid UTF-8.
    InvalidUtf8 = 101,
    /// The configuration is not valid TOML or has an unknown key.
    ConfigParse = 200,
    /// A configuration value is out of range or inconsistent; the message names the key.
    ConfigInvalid = 201,
    /// Another agent (in this or another process) holds the configured `data_dir`.
    DataDirLocked = 210,
    /// The agent could not start (I/O on the data dir, write-ahead-log recovery, listen address).
    StartFailed = 211,
    /// A record was refused by validation (invalid UTF-8 or JSON, oversize, missing or malformed
    /// fields, no trail receives it). For a batch: at least one line was refused.
    InvalidRecord = 300,
    /// The memory budget stayed full for `submit_timeout_ms`; retry later.
    Busy = 301,
    /// The agent is shut down (or shutting down).
    Closed = 302,
    /// The operation did not finish within its timeout.
    Timeout = 303,
    /// The write-ahead log failed (disk full, I/O error).
    SpoolFailed = 310,
    /// Delivery failed: a flush or shutdown timed out while the destination reported errors.
    DestinationFailed = 400,
    /// An internal panic was caught at the boundary; the agent is now poisoned.
    Panic = 900,
    /// An earlier call on this agent panicked; only `ot_agent_free` is still meaningful.
    Poisoned = 901,
}

/// The raw value C passes where an `ot_status` is expected. Rust never trusts a value from C to
/// be a valid enum discriminant, so inputs are taken as this integer and checked with
/// [`ot_status::from_u32`]. cbindgen prints it as `ot_status` (see `cbindgen.toml`).
pub type ot_status_value = u32;

/// Every status, in numeric order.
const ALL: [ot_status; 15] = [
    ot_status::Ok,
    ot_status::NullParameter,
    ot_status::InvalidUtf8,
    ot_status::ConfigParse,
    ot_status::ConfigInvalid,
    ot_status::DataDirLocked,
    ot_status::StartFailed,
    ot_status::InvalidRecord,
    ot_status::Busy,
    ot_status::Closed,
    ot_status::Timeout,
    ot_status::SpoolFailed,
    ot_status::DestinationFailed,
    ot_status::Panic,
    ot_status::Poisoned,
];

impl ot_status {
    /// Every status, in numeric order.
    pub fn all() -> &'static [ot_status] {
        &ALL
    }

    /// The status with numeric value `value`, if there is one.
    pub fn from_u32(value: u32) -> Option<Self> {
        ALL.iter().copied().find(|s| *s as u32 == value)
    }

    /// Static, NUL-terminated description.
    pub fn description(self) -> &'static CStr {
        match self {
            Self::Ok => c"ok",
            Self::NullParameter => c"a required pointer argument was NULL",
            Self::InvalidUtf8 => c"text argument is not valid UTF-8",
            Self::ConfigParse => c"configuration is not valid TOML or has an unknown key",
            Self::ConfigInvalid => c"configuration value is invalid",
            Self::DataDirLocked => c"data_dir is in use by another agent",
            Self::StartFailed => c"the agent could not start",
            Self::InvalidRecord => c"invalid record",
            Self::Busy => c"busy: the memory budget is full",
            Self::Closed => c"the agent is shut down",
            Self::Timeout => c"timed out",
            Self::SpoolFailed => c"the write-ahead log failed",
            Self::DestinationFailed => c"delivery to a destination failed",
            Self::Panic => c"internal panic (the agent is now poisoned)",
            Self::Poisoned => c"the agent is poisoned by an earlier panic",
        }
    }
}

/// Returns a static, NUL-terminated description of `status` (never NULL; "unknown status" for a
/// value that is not an `ot_status`). The string must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn ot_status_str(status: ot_status_value) -> *const c_char {
    match ot_status::from_u32(status) {
        Some(s) => s.description().as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_complete_sorted_and_round_trips() {
        let values: Vec<u32> = ot_status::all().iter().map(|s| *s as u32).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
        for &s in ot_status::all() {
            assert_eq!(ot_status::from_u32(s as u32), Some(s));
        }
        assert_eq!(ot_status::from_u32(12345), None);
    }

    #[test]
    fn status_str_never_null() {
        for v in [0, 100, 300, 901, 7, u32::MAX] {
            assert!(!ot_status_str(v).is_null());
        }
        // SAFETY: ot_status_str returns a pointer to a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(ot_status_str(999)) };
        assert_eq!(s, c"unknown status");
    }
}

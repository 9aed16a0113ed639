//! Versions: the library version string and the ABI version number.
//!
//! `OT_VERSION_MAJOR/MINOR/PATCH` and `OT_VERSION_NUMBER` are written into the header from
//! Cargo.toml when it is generated (see `tests/header.rs`); `OT_ABI_VERSION` is bumped on every
//! incompatible change to the C ABI. Before 1.0 there is no ABI stability across versions:
//! bindings refuse to load a library whose `ot_abi_version()` differs from the header's.

use std::ffi::c_char;

/// ABI version of this header and library. Bindings compare it with `ot_abi_version()`.
pub const OT_ABI_VERSION: u32 = 1;

/// A timeout meaning "as long as it takes" for `ot_agent_flush` (about 49 days), and "the
/// configured `shutdown_grace_secs`" for `ot_agent_shutdown`.
pub const OT_TIMEOUT_DEFAULT: u32 = 0xFFFF_FFFF;

const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!("opentrail-ffi/", env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("version string has an interior NUL"),
};

/// Returns `"opentrail-ffi/x.y.z"`: a static string, never NULL, never freed.
#[unsafe(no_mangle)]
pub extern "C" fn ot_version() -> *const c_char {
    VERSION.as_ptr()
}

/// Returns the ABI version the library was built with (`OT_ABI_VERSION` in its header).
#[unsafe(no_mangle)]
pub extern "C" fn ot_abi_version() -> u32 {
    OT_ABI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_string() {
        // SAFETY: ot_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(ot_version()) };
        assert_eq!(
            v.to_str().expect("utf8"),
            format!("opentrail-ffi/{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(ot_abi_version(), OT_ABI_VERSION);
    }
}

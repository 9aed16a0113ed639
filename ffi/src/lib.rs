//! `opentrail-ffi`: the C ABI for embedding the OpenTrail agent in other languages.
//!
//! The contract (ownership, errors, NULL handling, threads, panics, versioning) is in
//! `ffi/README.md`; the generated header `ffi/include/opentrail.h` is the reference for each
//! function. This crate only translates: every exported function checks its pointers, runs its
//! body inside the panic boundary ([`boundary`]), calls [`opentrail::Agent`], and turns the result
//! into an [`ot_status`] plus, on failure, an owned [`ot_error`].
//!
//! Module map (one C "class" per file):
//!
//! * [`status`] — `ot_status` codes and `ot_status_str`.
//! * [`error`] — the `ot_error` object and its accessors.
//! * [`boundary`] — `catch_unwind`, poisoning and error write-back shared by every export.
//! * [`ptr`] — checked conversions of raw C pointers.
//! * [`agent`] — `ot_agent`: new, submit, submit_batch, flush, shutdown, free.
//! * [`stats`] — `ot_stats` and `ot_agent_stats`.
//! * [`version`] — `ot_version`, `ot_abi_version` and the version constants.

#![allow(
    non_camel_case_types,
    reason = "C type names (ot_agent, ot_status, …) are part of the ABI"
)]

pub mod agent;
pub mod boundary;
pub mod error;
pub mod ptr;
pub mod stats;
pub mod status;
pub mod version;

pub use agent::ot_agent;
pub use error::ot_error;
pub use stats::ot_stats;
pub use status::ot_status;

/// The library's allocator (feature `mimalloc`, on by default): a submit burst queues records
/// faster than the pipeline frees them, and glibc's heap grows a 4 KiB page fault at a time
/// (≈ 0.35 µs per 1.2 KB record); mimalloc's segments do not. See `ffi/BENCHMARKS.md`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

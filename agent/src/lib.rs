//! OpenTrail: a self-hosted, CloudTrail-compatible audit-trail agent.
//!
//! Records (one CloudTrail `Records` element each) flow through one pipeline:
//!
//! ```text
//! sources ──► intake ──► WAL ──► batcher ──► compression workers ──► staged gzip files
//! (file,       (validate,  (fsync,  (route per     (chunked, parallel)        │ seal: interval
//!  http,        quarantine, group    trail/account/                           ▼  or size cap
//!  C ABI)       budget)     commit)  region)                        delivery workers, one per
//!                                                                   destination (local, …)
//! ```
//!
//! See `ARCHITECTURE.md` for the invariants; the module docs state each part's.

pub mod agent;
pub mod api;
pub mod auth;
pub mod batch;
pub mod config;
pub mod deliver;
pub mod destination;
pub mod digest;
pub mod encode;
pub mod fsutil;
pub mod gather;
pub mod intake;
pub mod metrics;
pub mod priority;
pub mod probe;
pub mod quarantine;
pub mod record;
pub mod route;
pub mod selector;
pub mod source;
pub mod stream;
#[cfg(test)]
pub(crate) mod test_corpus;
pub mod trails;
pub mod wal;

pub use agent::{Agent, AgentError, Stats, SubmitError};
pub use config::{Config, ConfigError};

/// Crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

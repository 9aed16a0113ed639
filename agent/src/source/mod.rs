//! Sources: where records come from. Each validates through [`crate::intake::Intake`] and
//! spools to the WAL; none keeps accepted data anywhere else.

pub mod cloudtrail;
pub mod fingerprint;
pub mod http;
pub mod tail;

//! Sources: where records come from. Each validates through [`crate::intake::Intake`] and
//! spools to the WAL; none keeps accepted data anywhere else.

pub mod cloudtrail;
pub mod fingerprint;
pub mod http;
pub mod tail;

use std::path::PathBuf;

/// Expands glob patterns into the matching paths, sorted and without duplicates.
pub(crate) fn expand_globs(patterns: &[String]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        match glob::glob(pattern) {
            Ok(iter) => paths.extend(iter.flatten()),
            Err(e) => tracing::warn!(pattern, error = %e, "bad glob"),
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

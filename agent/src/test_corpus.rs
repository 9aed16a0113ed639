//! The shared corpus of real CloudTrail records for unit tests: `$OPENTRAIL_CORPUS`, or
//! `../shared/corpus` beside the workspace.

use std::path::PathBuf;

/// The text of corpus file `name` (e.g. `records.jsonl`); panics naming the path when missing.
pub(crate) fn read(name: &str) -> String {
    let path = std::env::var_os("OPENTRAIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"))
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

//! The file source, `format = "cloudtrail"`: imports whole CloudTrail log files
//! (`{"Records":[...]}`, plain or gzip, compact or pretty-printed) once each.
//!
//! A file is read when its size has been stable for one poll. Its records are minified (only
//! insignificant whitespace is removed; member order and values stay byte-identical), validated
//! like any other record, and spooled in slices; the position stored with each slice is the
//! number of records consumed, so a restart resumes mid-file. A file that is not a CloudTrail log
//! is quarantined whole once.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::fingerprint;
use crate::intake::Intake;
use crate::quarantine::Origin;
use crate::record::{RejectReason, Rejection};
use crate::wal::Position;

/// Position value meaning "file fully imported".
const DONE: u64 = u64::MAX;
/// Records spooled per WAL append.
const SLICE: usize = 1000;
/// Largest decompressed file accepted (guards against gzip bombs).
const MAX_FILE_BYTES: u64 = 4 << 30;

#[derive(Deserialize)]
struct LogFile<'a> {
    #[serde(borrow, rename = "Records")]
    records: Vec<&'a RawValue>,
}

/// The CloudTrail-file import source.
pub struct CloudTrailSource {
    pub patterns: Vec<String>,
    pub poll: Duration,
    pub intake: Arc<Intake>,
    pub stop: Arc<AtomicBool>,
}

impl CloudTrailSource {
    /// Runs until `stop` is set.
    pub fn run(self) {
        let mut sizes: HashMap<PathBuf, u64> = HashMap::new();
        while !self.stop.load(Relaxed) {
            for path in super::expand_globs(&self.patterns) {
                if self.stop.load(Relaxed) {
                    break;
                }
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let stable = sizes.insert(path.clone(), meta.len()) == Some(meta.len());
                if stable {
                    if let Err(e) = self.import(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "cannot import CloudTrail file; will retry");
                    }
                }
            }
            std::thread::sleep(self.poll);
        }
    }

    fn import(&self, path: &Path) -> std::io::Result<()> {
        let file = std::fs::File::open(path)?;
        let Some(fp) = fingerprint::of_file(&file)? else {
            return Ok(());
        };
        let key = fp.key("cloudtrail");
        let start = self.intake.wal.position(&key).unwrap_or(0);
        if start == DONE {
            return Ok(());
        }
        let raw = read_maybe_gzip(file)?;
        let source = format!("file:{}", path.display());
        let text = match std::str::from_utf8(&raw) {
            Ok(t) => t,
            Err(e) => {
                return self.refuse_file(
                    &key,
                    &source,
                    &raw,
                    RejectReason::InvalidUtf8,
                    e.to_string(),
                );
            }
        };
        let log: LogFile<'_> = match serde_json::from_str(text) {
            Ok(l) => l,
            Err(e) => {
                let why = format!("not a CloudTrail log file ({{\"Records\":[...]}}): {e}");
                return self.refuse_file(&key, &source, &raw, RejectReason::InvalidJson, why);
            }
        };
        tracing::info!(path = %path.display(), records = log.records.len(), from = start, "importing CloudTrail log file");
        let total = log.records.len() as u64;
        let mut index = start as usize;
        while index < log.records.len() {
            let end = (index + SLICE).min(log.records.len());
            let mut records = Vec::with_capacity(end - index);
            let mut rejected = false;
            for (i, raw) in log.records[index..end].iter().enumerate() {
                let compact = minify(raw.get());
                let origin = || Origin {
                    source: source.clone(),
                    position: format!("record {}", index + i),
                };
                match self.intake.check(&compact, origin) {
                    Ok(r) => records.push(r),
                    Err(_) => rejected = true,
                }
            }
            if rejected {
                self.intake.quarantine.sync()?;
            }
            let offset = if end as u64 == total {
                DONE
            } else {
                end as u64
            };
            self.intake
                .spool(
                    records,
                    vec![Position {
                        key: key.clone(),
                        offset,
                    }],
                    None,
                )
                .map_err(std::io::Error::other)?;
            index = end;
        }
        if total == 0 {
            self.intake
                .spool(Vec::new(), vec![Position { key, offset: DONE }], None)
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    }

    fn refuse_file(
        &self,
        key: &str,
        source: &str,
        raw: &[u8],
        reason: RejectReason,
        why: String,
    ) -> std::io::Result<()> {
        let origin = Origin {
            source: source.to_string(),
            position: "whole file".into(),
        };
        self.intake
            .quarantine
            .put(&Rejection::new(reason, why), &origin, raw);
        self.intake.quarantine.sync()?;
        self.intake
            .spool(
                Vec::new(),
                vec![Position {
                    key: key.to_string(),
                    offset: DONE,
                }],
                None,
            )
            .map_err(std::io::Error::other)?;
        Ok(())
    }
}

fn read_maybe_gzip(mut file: std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    file.read_to_end(&mut raw)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Removes whitespace outside JSON strings (the input is valid JSON); other bytes are kept.
pub fn minify(json: &str) -> Vec<u8> {
    let b = json.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut in_string = false;
    let mut escaped = false;
    for &c in b {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            if c == b'"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings() {
        let pretty = "{\n  \"a\" : \"x y\\\" z\",\n  \"b\": [1, 2]\n}";
        assert_eq!(minify(pretty), br#"{"a":"x y\" z","b":[1,2]}"#);
        let compact = r#"{"a":"b"}"#;
        assert_eq!(minify(compact), compact.as_bytes());
    }
}

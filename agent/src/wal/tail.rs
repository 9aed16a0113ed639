//! Reading the write-ahead log in order while it is being written: the input of a record stream
//! ([`crate::stream`]).
//!
//! Invariants: a [`WalTail`] hands out each record once, in sequence order, and never reads at
//! or past the durable sequence number it is given, so it never sees a half-written entry (every
//! byte before a durable record was written before that record became durable). Segments it has
//! not finished cannot be deleted while its consumer slot (see
//! [`super::WalHandle::register_consumer`]) is at or below their records; a segment unlinked after
//! it was finished stays readable through the open descriptor.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{WalError, decode_body, io_err, list_segments};

/// A cursor over the records of a WAL directory.
pub struct WalTail {
    dir: PathBuf,
    /// Sequence number of the next record to hand out.
    next_seq: u64,
    /// Open segment: its first sequence number, the file, and the read offset.
    segment: Option<(u64, File, u64)>,
    /// Records of the last entry read that were not handed out yet.
    buffered: VecDeque<(u64, Vec<u8>)>,
    body: Vec<u8>,
}

impl WalTail {
    /// A cursor whose first record will be `from`.
    pub fn new(dir: PathBuf, from: u64) -> Self {
        Self {
            dir,
            next_seq: from,
            segment: None,
            buffered: VecDeque::new(),
            body: Vec::new(),
        }
    }

    /// Sequence number of the next record [`Self::read`] returns.
    pub fn next_seq(&self) -> u64 {
        self.buffered.front().map_or(self.next_seq, |(s, _)| *s)
    }

    /// Appends to `out` the records from [`Self::next_seq`] on, in order, stopping before
    /// `durable`, after `max_records`, or once `max_bytes` were added.
    pub fn read(
        &mut self,
        durable: u64,
        max_records: usize,
        max_bytes: usize,
        out: &mut Vec<(u64, Vec<u8>)>,
    ) -> Result<(), WalError> {
        let (mut n, mut bytes) = (0usize, 0usize);
        while n < max_records && bytes < max_bytes {
            if let Some((seq, _)) = self.buffered.front() {
                if *seq >= durable {
                    break;
                }
                let Some((seq, rec)) = self.buffered.pop_front() else {
                    break;
                };
                bytes += rec.len();
                n += 1;
                out.push((seq, rec));
                continue;
            }
            if self.next_seq >= durable || !self.read_entry()? {
                break;
            }
        }
        Ok(())
    }

    /// Reads the next entry into `buffered`; false when there is none yet.
    fn read_entry(&mut self) -> Result<bool, WalError> {
        loop {
            if self.segment.is_none() && !self.open_segment()? {
                return Ok(false);
            }
            let Some((first, file, offset)) = self.segment.take() else {
                return Ok(false);
            };
            let path = super::segment_path(&self.dir, first);
            let mut head = [0u8; 8];
            let got = read_at_most(&file, &mut head, offset).map_err(io_err(&path))?;
            if got < head.len() {
                // End of this segment: move on once a later one exists (the writer starts a new
                // segment only after finishing the previous one).
                let later = list_segments(&self.dir)?
                    .range(first + 1..)
                    .next()
                    .is_some();
                if !later {
                    self.segment = Some((first, file, offset));
                    return Ok(false);
                }
                if got > 0 {
                    tracing::error!(path = %path.display(), offset, "torn entry in a finished WAL segment; skipping the rest of it");
                }
                self.open_next(first)?;
                continue;
            }
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            self.body.resize(len, 0);
            let got = read_at_most(&file, &mut self.body, offset + 8).map_err(io_err(&path))?;
            let decoded = (got == len && crc32fast::hash(&self.body) == crc)
                .then(|| decode_body(&self.body))
                .flatten();
            let Some((first_seq, records, _)) = decoded else {
                // Same rule as replay: what follows damage in a segment is skipped.
                if list_segments(&self.dir)?
                    .range(first + 1..)
                    .next()
                    .is_none()
                {
                    return Err(WalError::Stopped(format!(
                        "damaged entry in {} at offset {offset} while streaming",
                        path.display()
                    )));
                }
                tracing::error!(path = %path.display(), offset, "damaged WAL entry; a stream skips the rest of the segment");
                self.open_next(first)?;
                continue;
            };
            self.segment = Some((first, file, offset + 8 + len as u64));
            for (i, r) in records.into_iter().enumerate() {
                let seq = first_seq + i as u64;
                if seq >= self.next_seq {
                    self.buffered.push_back((seq, r));
                }
            }
            if let Some((last, _)) = self.buffered.back() {
                self.next_seq = last + 1;
            }
            return Ok(true);
        }
    }

    /// Opens the segment holding `next_seq` (or the oldest one, when that was deleted).
    fn open_segment(&mut self) -> Result<bool, WalError> {
        let segments = list_segments(&self.dir)?;
        let Some((&first, path)) = segments
            .range(..=self.next_seq)
            .next_back()
            .or_else(|| segments.iter().next())
        else {
            return Ok(false);
        };
        if first > self.next_seq {
            tracing::warn!(
                from = self.next_seq,
                oldest = first,
                "records a stream had not delivered were already deleted from the WAL; \
                 it resumes at the oldest record kept"
            );
            self.next_seq = first;
        }
        let file = File::open(path).map_err(io_err(path))?;
        self.segment = Some((first, file, 0));
        Ok(true)
    }

    fn open_next(&mut self, after: u64) -> Result<(), WalError> {
        let segments = list_segments(&self.dir)?;
        if let Some((&first, path)) = segments.range(after + 1..).next() {
            let file = File::open(path).map_err(io_err(path))?;
            self.segment = Some((first, file, 0));
        }
        Ok(())
    }
}

/// Reads up to `buf.len()` bytes at `offset`; returns how many were there.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AccountId, Region};

    fn rec(i: u64) -> crate::record::Record {
        crate::record::Record {
            bytes: format!("{{\"n\":{i}}}").into_bytes(),
            account: AccountId::parse("123456789012").expect("account"),
            region: Region::us_east_1(),
            global_service: false,
            event_time: 0,
            fields: Default::default(),
        }
    }

    /// Writes segments holding entries of the given sizes, numbered from 0.
    fn write_segments(dir: &std::path::Path, segments: &[&[u64]]) {
        let mut seq = 0;
        for entries in segments {
            let mut buf = Vec::new();
            let first = seq;
            for &n in *entries {
                let recs: Vec<_> = (seq..seq + n).map(rec).collect();
                super::super::encode_entry(&mut buf, seq, &recs, &[]);
                seq += n;
            }
            std::fs::write(super::super::segment_path(dir, first), buf).expect("write");
        }
    }

    fn seqs(out: &[(u64, Vec<u8>)]) -> Vec<u64> {
        out.iter().map(|(s, _)| *s).collect()
    }

    #[test]
    fn reads_in_order_across_segments_and_stops_at_durable() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Segment 0: entries of 3 and 0 (a sync) and 2 records; segment 5: 4 records.
        write_segments(dir.path(), &[&[3, 0, 2], &[4]]);
        let mut tail = WalTail::new(dir.path().to_path_buf(), 0);
        let mut out = Vec::new();
        tail.read(4, 100, usize::MAX, &mut out).expect("read");
        assert_eq!(seqs(&out), vec![0, 1, 2, 3]);
        assert_eq!(tail.next_seq(), 4);
        out.clear();
        tail.read(9, 2, usize::MAX, &mut out).expect("read");
        assert_eq!(seqs(&out), vec![4, 5]);
        out.clear();
        tail.read(9, 100, usize::MAX, &mut out).expect("read");
        assert_eq!(seqs(&out), vec![6, 7, 8]);
        assert_eq!(out[2].1, b"{\"n\":8}".to_vec());
        out.clear();
        tail.read(9, 100, usize::MAX, &mut out).expect("read");
        assert!(out.is_empty());
    }

    #[test]
    fn starts_in_the_middle_of_an_entry_and_of_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_segments(dir.path(), &[&[3, 2], &[4]]);
        let mut tail = WalTail::new(dir.path().to_path_buf(), 4);
        let mut out = Vec::new();
        tail.read(100, 100, usize::MAX, &mut out).expect("read");
        assert_eq!(seqs(&out), vec![4, 5, 6, 7, 8]);
        // A cursor older than every segment left resumes at the oldest record kept.
        std::fs::remove_file(super::super::segment_path(dir.path(), 0)).expect("rm");
        let mut tail = WalTail::new(dir.path().to_path_buf(), 1);
        out.clear();
        tail.read(100, 100, usize::MAX, &mut out).expect("read");
        assert_eq!(seqs(&out), vec![5, 6, 7, 8]);
    }
}

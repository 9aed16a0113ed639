//! One open log file: a (trail, account, region) partition's staged gzip file and its pending,
//! not yet compressed bytes.
//!
//! Layout of the uncompressed stream: `{"Records":[` record (`,` record)* `]}`. The staged file
//! holds the gzip header and every compressed chunk written so far, in chunk order; `written`,
//! `sum` and `records` describe exactly those bytes. Results that arrive out of order wait in
//! `reorder` until their turn.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::digest::log_hash::LogHasher;
use crate::encode::gzip::{Checksum, GZIP_HEADER};
use crate::record::{AccountId, Region};

/// Uncompressed tail kept per partition as the next chunk's dictionary. Records are ~1.3 KB, so
/// 8 KiB holds half a dozen: most of deflate's gain, at 8 KiB per open file.
const DICT_BYTES: usize = 8 * 1024;

/// Prefix of every log file's JSON.
pub const RECORDS_OPEN: &[u8] = b"{\"Records\":[";
/// Suffix of every log file's JSON.
pub const RECORDS_CLOSE: &[u8] = b"]}";

/// Identity of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartKey {
    pub trail: u16,
    pub account: AccountId,
    pub region: Region,
}

/// A fast, non-cryptographic hasher for the batcher's maps (FxHash's mixing step). Keys are
/// produced by the agent from validated fields, not chosen freely enough to matter for HashDoS:
/// at most one map entry exists per (trail, account, region).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// `HashMap` with [`FxHasher`].
pub type FxMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// An open staged file.
pub struct Partition {
    pub id: u64,
    pub key: PartKey,
    pub path: PathBuf,
    /// Kept open while the process has descriptors to spare (else opened per write).
    file: Option<std::fs::File>,
    pub level: u32,
    /// Compressed bytes in the staged file after the header.
    pub written: u64,
    /// Checksum of the uncompressed bytes whose compressed form is written.
    pub sum: Checksum,
    /// Records in the file, counting pending and in-flight ones.
    pub records: u64,
    /// Uncompressed bytes not yet handed to a worker.
    pub pending: Vec<u8>,
    /// True once `{"Records":[` was emitted.
    pub started: bool,
    /// Uncompressed bytes at workers (upper bound of what they add).
    pub inflight_raw: u64,
    pub inflight: u32,
    pub next_chunk: u64,
    pub next_write: u64,
    pub reorder: BTreeMap<u64, (Vec<u8>, Checksum)>,
    /// The last uncompressed bytes handed to workers: the next chunk's dictionary.
    pub tail: Vec<u8>,
    /// Unix seconds of the first record.
    pub opened_at: i64,
    /// For trails with log file validation: SHA-256 of the uncompressed bytes taken by
    /// [`Self::take_chunk`], in order (so of the whole file once sealed). The caller hashes what
    /// it takes (with [`Self::hash_chunk`], or several files' chunks at once with
    /// [`LogHasher::update_many`]) before the chunk reaches a worker.
    pub hash: Option<LogHasher>,
    /// The event time range (for digests).
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

impl Partition {
    /// Creates the staged file (gzip header only).
    pub fn create(
        id: u64,
        key: PartKey,
        path: PathBuf,
        level: u32,
        now: i64,
        keep_open: bool,
        hashed: bool,
    ) -> std::io::Result<Self> {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        f.write_all(&GZIP_HEADER)?;
        Ok(Self {
            id,
            key,
            path,
            file: keep_open.then_some(f),
            level,
            written: 0,
            sum: Checksum::default(),
            records: 0,
            pending: Vec::new(),
            started: false,
            inflight_raw: 0,
            inflight: 0,
            next_chunk: 0,
            next_write: 0,
            reorder: BTreeMap::new(),
            tail: Vec::new(),
            opened_at: now,
            hash: hashed.then(LogHasher::new),
            oldest: None,
            newest: None,
        })
    }

    /// Re-opens a staged file recovered from the manifest, cutting anything past the durable
    /// length. With `hashed`, the SHA-256 state is rebuilt by inflating the durable bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn recover(
        id: u64,
        key: PartKey,
        path: PathBuf,
        level: u32,
        written: u64,
        sum: Checksum,
        records: u64,
        opened_at: i64,
        hashed: bool,
    ) -> std::io::Result<Self> {
        let f = OpenOptions::new().read(true).write(true).open(&path)?;
        let want = GZIP_HEADER.len() as u64 + written;
        let have = f.metadata()?.len();
        if have < want {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} is {have} bytes, checkpoint says {want}", path.display()),
            ));
        }
        f.set_len(want)?;
        f.sync_all()?;
        let hash = if hashed {
            Some(rehash(&f, written)?)
        } else {
            None
        };
        Ok(Self {
            id,
            key,
            path,
            file: Some(f),
            level,
            written,
            sum,
            records,
            pending: Vec::new(),
            started: records > 0 || sum.len > 0,
            inflight_raw: 0,
            inflight: 0,
            next_chunk: 0,
            next_write: 0,
            reorder: BTreeMap::new(),
            tail: Vec::new(),
            opened_at,
            hash,
            oldest: None,
            newest: None,
        })
    }

    /// Widens the file's event time range.
    pub fn note_time(&mut self, event_time: i64) {
        self.oldest = Some(self.oldest.map_or(event_time, |t| t.min(event_time)));
        self.newest = Some(self.newest.map_or(event_time, |t| t.max(event_time)));
    }

    /// Appends one record's bytes to the pending buffer.
    pub fn push(&mut self, record: &[u8]) {
        if self.started {
            self.pending.push(b',');
        } else {
            self.pending.extend_from_slice(RECORDS_OPEN);
            self.started = true;
        }
        self.pending.extend_from_slice(record);
        self.records += 1;
    }

    /// Upper bound of the compressed file size if sealed now.
    pub fn size_bound(&self) -> u64 {
        let raw = self.pending.len() as u64 + self.inflight_raw + RECORDS_CLOSE.len() as u64;
        // Deflate never expands by more than ~0.1% plus a few bytes per block.
        GZIP_HEADER.len() as u64 + self.written + raw + raw / 500 + 1024 + 10
    }

    /// Adds a chunk taken by [`Self::take_chunk`] to the file's hash (if it has one).
    pub fn hash_chunk(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.hash {
            h.update(data);
        }
    }

    /// Takes the pending bytes as the next chunk: `(chunk number, dictionary, bytes)`. For a
    /// hashed file the caller must hash the bytes before it takes the next chunk.
    pub fn take_chunk(&mut self) -> Option<(u64, Vec<u8>, Vec<u8>)> {
        if self.pending.is_empty() {
            return None;
        }
        // The next chunk is likely about as large: size its buffer once instead of regrowing.
        let next = Vec::with_capacity(self.pending.len().min(1 << 20));
        let data = std::mem::replace(&mut self.pending, next);
        // Dictionary: up to DICT_BYTES of what precedes this chunk. The next one is allocated
        // at its exact size (at most DICT_BYTES): it is kept for every open file.
        let dictionary = std::mem::take(&mut self.tail);
        let keep = DICT_BYTES.min(data.len());
        let from_old = (DICT_BYTES - keep).min(dictionary.len());
        let mut tail = Vec::with_capacity(from_old + keep);
        tail.extend_from_slice(&dictionary[dictionary.len() - from_old..]);
        tail.extend_from_slice(&data[data.len() - keep..]);
        self.tail = tail;
        self.inflight_raw += data.len() as u64;
        self.inflight += 1;
        let n = self.next_chunk;
        self.next_chunk += 1;
        Some((n, dictionary, data))
    }

    /// Accepts a compressed chunk (kept until its turn comes; see [`Self::write_ready`]).
    pub fn complete(&mut self, chunk: u64, compressed: Vec<u8>, sum: Checksum) {
        self.reorder.insert(chunk, (compressed, sum));
    }

    /// Writes every chunk whose turn has come; returns how many. On an I/O error the file is cut
    /// back to its previous length and the state is unchanged, so the call can be retried.
    pub fn write_ready(&mut self) -> std::io::Result<u32> {
        let mut ready = Vec::new();
        let mut n = 0u64;
        while let Some((bytes, _)) = self.reorder.get(&(self.next_write + n)) {
            ready.extend_from_slice(bytes);
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        let at = GZIP_HEADER.len() as u64 + self.written;
        let opened;
        let f = match &self.file {
            Some(f) => f,
            None => {
                opened = OpenOptions::new().write(true).open(&self.path)?;
                &opened
            }
        };
        if let Err(e) = f.write_all_at(&ready, at) {
            let _ = f.set_len(at);
            return Err(e);
        }
        for _ in 0..n {
            if let Some((_, s)) = self.reorder.remove(&self.next_write) {
                self.inflight -= 1;
                self.inflight_raw = self.inflight_raw.saturating_sub(s.len);
                self.sum = self.sum.combine(s);
            }
            self.next_write += 1;
        }
        self.written += ready.len() as u64;
        Ok(n as u32)
    }

    /// Closes the gzip member (all chunks must be written). Returns the file size. The caller
    /// makes it durable. Retriable: the trailer is written at a fixed offset.
    pub fn finish(&mut self) -> std::io::Result<u64> {
        debug_assert_eq!(self.inflight, 0);
        let f = match self.file.take() {
            Some(f) => f,
            None => OpenOptions::new().write(true).open(&self.path)?,
        };
        let at = GZIP_HEADER.len() as u64 + self.written;
        let done = f
            .write_all_at(&self.sum.trailer(), at)
            .and_then(|()| f.set_len(at + 10));
        if done.is_err() {
            self.file = Some(f);
        }
        done.map(|()| at + 10)
    }
}

/// SHA-256 state of the uncompressed bytes behind the first `written` compressed bytes of a
/// staged file (chunks end in sync flushes, so every byte they hold comes out).
fn rehash(f: &std::fs::File, written: u64) -> std::io::Result<LogHasher> {
    use std::io::{Read, Seek};
    let mut reader = std::io::BufReader::new(f);
    reader.seek(std::io::SeekFrom::Start(GZIP_HEADER.len() as u64))?;
    let mut inflate = flate2::Decompress::new(false);
    let mut hash = LogHasher::new();
    let mut input = vec![0u8; 64 * 1024];
    let mut output = vec![0u8; 256 * 1024];
    let mut left = written;
    while left > 0 {
        let n = reader.read(&mut input[..left.min(64 * 1024) as usize])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        left -= n as u64;
        let mut chunk = &input[..n];
        loop {
            let (before_in, before_out) = (inflate.total_in(), inflate.total_out());
            inflate
                .decompress(chunk, &mut output, flate2::FlushDecompress::Sync)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let used = (inflate.total_in() - before_in) as usize;
            let produced = (inflate.total_out() - before_out) as usize;
            hash.update(&output[..produced]);
            chunk = &chunk[used..];
            if chunk.is_empty() && produced < output.len() {
                break;
            }
            if used == 0 && produced == 0 {
                break;
            }
        }
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash rebuilt from a staged file after a crash equals the one kept while staging.
    #[test]
    fn rehash_matches_incremental_hash() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = PartKey {
            trail: 0,
            account: AccountId::parse("123456789012").expect("acct"),
            region: Region::parse("us-east-1").expect("region"),
        };
        let path = dir.path().join("f.gz");
        let mut p = Partition::create(1, key, path.clone(), 6, 0, true, true).expect("create");
        let mut compressor = crate::encode::gzip::ChunkCompressor::new(6);
        for round in 0..3 {
            for i in 0..200 {
                p.push(
                    format!(
                        "{{\"eventID\":\"{round}-{i}\",\"pad\":\"{}\"}}",
                        "x".repeat(i)
                    )
                    .as_bytes(),
                );
            }
            let (chunk, dict, data) = p.take_chunk().expect("chunk");
            p.hash_chunk(&data);
            let mut out = Vec::new();
            let sum = compressor.compress(&dict, &data, &mut out);
            p.complete(chunk, out, sum);
            p.write_ready().expect("write");
        }
        let expected = p.hash.clone().expect("hashed").finalize();
        let again = Partition::recover(1, key, path, 6, p.written, p.sum, p.records, 0, true)
            .expect("recover");
        assert_eq!(again.hash.expect("hashed").finalize(), expected);
    }
}

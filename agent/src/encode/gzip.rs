//! Single-member gzip assembled from independently compressed chunks (the pigz technique).
//!
//! Each chunk is compressed by a fresh raw-deflate stream and ended with a sync flush, so it ends
//! on a byte boundary with no final block; such chunks concatenate into one valid deflate stream.
//! A file is then `header ‖ chunk₁ ‖ … ‖ chunkₙ ‖ final empty block ‖ crc32 ‖ isize`: exactly one
//! gzip member, as `aws cloudtrail validate-logs` requires. This lets compression run on worker
//! threads, in parallel even within one partition, while the per-partition state kept between
//! chunks is just a CRC and a length (no 256 KiB deflate state per open file).

use flate2::{Compress, Compression, FlushCompress, Status};

/// gzip header: magic, CM=deflate, no flags, mtime 0, XFL 0, OS=255 (unknown).
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// An empty final fixed-Huffman deflate block (BFINAL=1, BTYPE=01, end-of-block).
pub const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Running CRC-32 and length of the uncompressed bytes of one gzip member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    pub crc: u32,
    pub len: u64,
}

impl Checksum {
    /// Checksum of `data`.
    pub fn of(data: &[u8]) -> Self {
        let mut h = crc32fast::Hasher::new();
        h.update(data);
        Self {
            crc: h.finalize(),
            len: data.len() as u64,
        }
    }

    /// The checksum of `self`'s bytes followed by `next`'s bytes.
    pub fn combine(self, next: Checksum) -> Self {
        let mut a = crc32fast::Hasher::new_with_initial_len(self.crc, self.len);
        let b = crc32fast::Hasher::new_with_initial_len(next.crc, next.len);
        a.combine(&b);
        Self {
            crc: a.finalize(),
            len: self.len + next.len,
        }
    }

    /// The gzip trailer that closes a member holding these bytes (with the final block first).
    pub fn trailer(self) -> [u8; 10] {
        let mut t = [0u8; 10];
        t[..2].copy_from_slice(&FINAL_BLOCK);
        t[2..6].copy_from_slice(&self.crc.to_le_bytes());
        t[6..].copy_from_slice(&(self.len as u32).to_le_bytes());
        t
    }
}

/// Compresses chunks; one per worker thread, reused across chunks.
pub struct ChunkCompressor {
    deflate: Compress,
}

impl ChunkCompressor {
    /// `level` 0–9.
    pub fn new(level: u32) -> Self {
        Self {
            deflate: Compress::new(Compression::new(level.min(9)), false),
        }
    }

    /// Appends the compressed form of `input` to `out` and returns the input's checksum.
    /// `dictionary` is the uncompressed data that precedes `input` in the member (at most the
    /// last 32 KiB are used): back-references into it keep small chunks compressing as well as
    /// one continuous stream would, and the output stays decodable by a plain inflater because
    /// the dictionary bytes are exactly what the decoder has already produced.
    pub fn compress(&mut self, dictionary: &[u8], input: &[u8], out: &mut Vec<u8>) -> Checksum {
        self.deflate.reset();
        // Hashing the dictionary costs like compressing it: keep it at about a quarter of the
        // chunk (4 KiB to 32 KiB), which keeps most of the ratio for small chunks.
        let dict_len = (input.len() / 4)
            .clamp(4 * 1024, 32 * 1024)
            .min(dictionary.len());
        if dict_len > 0 {
            let dict = &dictionary[dictionary.len() - dict_len..];
            if self.deflate.set_dictionary(dict).is_err() {
                self.deflate.reset();
            }
        }
        out.reserve(input.len() / 2 + 64);
        let mut consumed = 0usize;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(&input[consumed..], out, FlushCompress::Sync);
            consumed += (self.deflate.total_in() - before) as usize;
            match status {
                // A sync flush is complete once all input is consumed and spare room remains.
                Ok(Status::Ok | Status::BufError)
                    if consumed == input.len() && out.len() < out.capacity() =>
                {
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    // zlib only errors on stream misuse; fall back to stored blocks via a fresh
                    // stream so the chunk is never lost.
                    self.deflate = Compress::new(Compression::new(0), false);
                    return self.compress(&[], input, out);
                }
            }
        }
        Checksum::of(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn assemble(chunks: &[&[u8]], level: u32) -> Vec<u8> {
        let mut c = ChunkCompressor::new(level);
        let mut file = GZIP_HEADER.to_vec();
        let mut sum = Checksum::default();
        let mut seen: Vec<u8> = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            // Alternate: with and without a dictionary, both must decode.
            let dict: &[u8] = if i % 2 == 0 { &seen } else { &[] };
            sum = sum.combine(c.compress(dict, chunk, &mut file));
            seen.extend_from_slice(chunk);
        }
        file.extend_from_slice(&sum.trailer());
        file
    }

    #[test]
    fn chunks_form_one_member() {
        let a = br#"{"Records":[{"a":1},"#.repeat(1000);
        let b = br#"{"b":2}]}"#.to_vec();
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for level in [0, 1, 6, 9] {
            let file = assemble(&[&a, &[], &big, &b], level);
            let mut out = Vec::new();
            let mut dec = flate2::read::GzDecoder::new(&file[..]);
            dec.read_to_end(&mut out).expect("decodes");
            assert_eq!(out, [a.clone(), big.clone(), b.clone()].concat());
            // Exactly one member: the decoder consumed every byte.
            let mut multi = flate2::read::MultiGzDecoder::new(&file[..]);
            let mut all = Vec::new();
            multi.read_to_end(&mut all).expect("decodes");
            assert_eq!(all, out);
        }
    }

    #[test]
    fn empty_member_is_valid() {
        let file = assemble(&[], 6);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&file[..])
            .read_to_end(&mut out)
            .expect("decodes");
        assert!(out.is_empty());
    }
}

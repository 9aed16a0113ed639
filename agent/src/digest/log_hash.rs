//! SHA-256 of log files' uncompressed bytes, two files at a time where the CPU has SHA-NI.
//!
//! A digest lists the SHA-256 of every log file's uncompressed bytes, so every byte delivered
//! for a validated trail is hashed once, on the batcher thread, as chunks go to the compression
//! workers. One SHA-256 stream is bound by the latency of `sha256rnds2` (each pair of rounds
//! waits for the one before); a second, independent stream issued in the same loop fills the
//! slots the first leaves idle. [`LogHasher::update_pair`] hashes two files' chunks that way
//! (about 1.8× the throughput of one stream on this project's machine, see benches/README.md);
//! when one chunk is longer, its rest is hashed alone. Without SHA-NI (or off x86-64) both
//! forms use the `sha2` crate's block function.
//!
//! Invariant: [`LogHasher::finalize`] returns SHA-256 of everything given to that hasher through
//! [`LogHasher::update`] and [`LogHasher::update_pair`], in call order, whatever the mix of the
//! two; the tests hold it to the `sha2` crate on random splits and pairings.

/// SHA-256 block size in bytes.
const BLOCK: usize = 64;

/// SHA-256 initial hash value (FIPS 180-4 §5.3.3).
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Incremental SHA-256 of one log file.
#[derive(Clone)]
pub struct LogHasher {
    state: [u32; 8],
    /// Bytes of an incomplete block (the first `buffered`).
    buf: [u8; BLOCK],
    buffered: usize,
    /// Bytes hashed so far.
    len: u64,
}

impl Default for LogHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LogHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHasher").field("len", &self.len).finish()
    }
}

impl LogHasher {
    pub fn new() -> Self {
        Self {
            state: H0,
            buf: [0; BLOCK],
            buffered: 0,
            len: 0,
        }
    }

    /// Hashes `data` after everything before.
    pub fn update(&mut self, data: &[u8]) {
        let rest = self.fill(data);
        let (blocks, tail) = split_blocks(rest);
        compress(&mut self.state, blocks);
        self.keep(tail);
    }

    /// `a.update(da); b.update(db)`, with the blocks both have hashed as two interleaved
    /// streams. `a` and `b` are different hashers by construction (two `&mut`).
    pub fn update_pair(a: &mut Self, da: &[u8], b: &mut Self, db: &[u8]) {
        let (ra, rb) = (a.fill(da), b.fill(db));
        let (ba, ta) = split_blocks(ra);
        let (bb, tb) = split_blocks(rb);
        let n = ba.len().min(bb.len());
        compress2(&mut a.state, &ba[..n], &mut b.state, &bb[..n]);
        compress(&mut a.state, &ba[n..]);
        compress(&mut b.state, &bb[n..]);
        a.keep(ta);
        b.keep(tb);
    }

    /// The SHA-256 of everything hashed.
    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut last = [0u8; 2 * BLOCK];
        last[..self.buffered].copy_from_slice(&self.buf[..self.buffered]);
        last[self.buffered] = 0x80;
        let end = if self.buffered < BLOCK - 8 {
            BLOCK
        } else {
            2 * BLOCK
        };
        last[end - 8..end].copy_from_slice(&bits.to_be_bytes());
        let (blocks, _) = split_blocks(&last[..end]);
        compress(&mut self.state, blocks);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// [`Self::finalize`] as lowercase hex, as digests list it.
    pub fn finalize_hex(self) -> String {
        hex::encode(self.finalize())
    }

    /// Counts `data`, completes a partly filled block from its front and returns the rest
    /// (which then starts on a block boundary, or is empty).
    fn fill<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        self.len += data.len() as u64;
        if self.buffered == 0 {
            return data;
        }
        let take = (BLOCK - self.buffered).min(data.len());
        self.buf[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
        self.buffered += take;
        if self.buffered == BLOCK {
            let block = self.buf;
            compress(&mut self.state, &[block]);
            self.buffered = 0;
        }
        &data[take..]
    }

    /// Keeps the bytes after the last whole block of what [`Self::fill`] returned.
    fn keep(&mut self, tail: &[u8]) {
        if !tail.is_empty() {
            debug_assert_eq!(self.buffered, 0);
            self.buf[..tail.len()].copy_from_slice(tail);
            self.buffered = tail.len();
        }
    }
}

/// `data` as whole blocks and the bytes after them (`<[u8]>::as_chunks`, newer than the MSRV).
fn split_blocks(data: &[u8]) -> (&[[u8; BLOCK]], &[u8]) {
    let n = data.len() / BLOCK;
    let (whole, tail) = data.split_at(n * BLOCK);
    // SAFETY: `whole` is `n * BLOCK` bytes, and `[u8; BLOCK]` has alignment 1 and no padding.
    let blocks = unsafe { std::slice::from_raw_parts(whole.as_ptr().cast(), n) };
    (blocks, tail)
}

/// Applies the SHA-256 block function for each block.
fn compress(state: &mut [u32; 8], blocks: &[[u8; BLOCK]]) {
    if blocks.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        // SAFETY: the CPU has the features `shani::compress1` is compiled for.
        unsafe { shani::compress1(state, blocks) };
        return;
    }
    portable(state, blocks);
}

/// [`compress`] for two states and as many blocks each.
fn compress2(a: &mut [u32; 8], ba: &[[u8; BLOCK]], b: &mut [u32; 8], bb: &[[u8; BLOCK]]) {
    debug_assert_eq!(ba.len(), bb.len());
    if ba.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        // SAFETY: as in `compress`.
        unsafe { shani::compress2(a, ba, b, bb) };
        return;
    }
    portable(a, ba);
    portable(b, bb);
}

/// The `sha2` crate's block function (which uses SHA-NI or other CPU extensions itself).
fn portable(state: &mut [u32; 8], blocks: &[[u8; BLOCK]]) {
    use sha2::digest::generic_array::GenericArray;
    for block in blocks {
        sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

/// The block function on the SHA extensions (Intel's published sequence, as in the `sha2`
/// crate), for one stream or two interleaved.
///
/// Every function here is an `unsafe fn` compiled for the SHA extensions, SSSE3 and SSE4.1, and
/// its only contract is that the CPU has them ([`available`]); the bodies are the intrinsics
/// themselves, so they are not wrapped in `unsafe` blocks one by one (which of them are unsafe
/// calls differs between the MSRV and newer compilers).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_op_in_unsafe_fn)]
mod shani {
    use std::arch::x86_64::*;

    /// FIPS 180-4 §4.2.2 round constants.
    static K: [u32; 64] = [
        0x428a_2f98,
        0x7137_4491,
        0xb5c0_fbcf,
        0xe9b5_dba5,
        0x3956_c25b,
        0x59f1_11f1,
        0x923f_82a4,
        0xab1c_5ed5,
        0xd807_aa98,
        0x1283_5b01,
        0x2431_85be,
        0x550c_7dc3,
        0x72be_5d74,
        0x80de_b1fe,
        0x9bdc_06a7,
        0xc19b_f174,
        0xe49b_69c1,
        0xefbe_4786,
        0x0fc1_9dc6,
        0x240c_a1cc,
        0x2de9_2c6f,
        0x4a74_84aa,
        0x5cb0_a9dc,
        0x76f9_88da,
        0x983e_5152,
        0xa831_c66d,
        0xb003_27c8,
        0xbf59_7fc7,
        0xc6e0_0bf3,
        0xd5a7_9147,
        0x06ca_6351,
        0x1429_2967,
        0x27b7_0a85,
        0x2e1b_2138,
        0x4d2c_6dfc,
        0x5338_0d13,
        0x650a_7354,
        0x766a_0abb,
        0x81c2_c92e,
        0x9272_2c85,
        0xa2bf_e8a1,
        0xa81a_664b,
        0xc24b_8b70,
        0xc76c_51a3,
        0xd192_e819,
        0xd699_0624,
        0xf40e_3585,
        0x106a_a070,
        0x19a4_c116,
        0x1e37_6c08,
        0x2748_774c,
        0x34b0_bcb5,
        0x391c_0cb3,
        0x4ed8_aa4a,
        0x5b9c_ca4f,
        0x682e_6ff3,
        0x748f_82ee,
        0x78a5_636f,
        0x84c8_7814,
        0x8cc7_0208,
        0x90be_fffa,
        0xa450_6ceb,
        0xbef9_a3f7,
        0xc671_78f2,
    ];

    /// Whether this CPU can run [`compress1`] and [`compress2`] (detected once; the check is a
    /// cached load).
    pub fn available() -> bool {
        std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("ssse3")
            && std::is_x86_feature_detected!("sse4.1")
    }

    /// Four rounds: `w` holds message words i..i+4 of this block.
    macro_rules! quad {
        ($abef:ident, $cdgh:ident, $w:ident, $i:expr) => {{
            let k = _mm_loadu_si128(K.as_ptr().add(4 * $i).cast());
            let t = _mm_add_epi32($w, k);
            $cdgh = _mm_sha256rnds2_epu32($cdgh, $abef, t);
            $abef = _mm_sha256rnds2_epu32($abef, $cdgh, _mm_shuffle_epi32(t, 0x0E));
        }};
    }

    /// Message schedule: replaces `w0` (words i-16..i-12) by words i..i+4.
    macro_rules! schedule {
        ($w0:ident, $w1:ident, $w2:ident, $w3:ident) => {{
            let t = _mm_add_epi32(_mm_sha256msg1_epu32($w0, $w1), _mm_alignr_epi8($w3, $w2, 4));
            $w0 = _mm_sha256msg2_epu32(t, $w3);
        }};
    }

    /// Quad-round `i` of one block for each listed stream `(abef, cdgh, w…)`, its message words
    /// named in rotation order (the oldest first).
    macro_rules! step {
        ($i:expr, $(($abef:ident, $cdgh:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident)),+) => {{
            $(
                if $i >= 4 {
                    schedule!($w0, $w1, $w2, $w3);
                }
                quad!($abef, $cdgh, $w0, $i);
            )+
        }};
    }

    /// The 16 quad-rounds of one block for each listed stream `(abef, cdgh, w0, w1, w2, w3)`,
    /// `w…` loaded with the block's 16 message words.
    macro_rules! rounds {
        ($(($e:ident, $c:ident, $w0:ident, $w1:ident, $w2:ident, $w3:ident)),+) => {{
            step!(0, $(($e, $c, $w0, $w1, $w2, $w3)),+);
            step!(1, $(($e, $c, $w1, $w2, $w3, $w0)),+);
            step!(2, $(($e, $c, $w2, $w3, $w0, $w1)),+);
            step!(3, $(($e, $c, $w3, $w0, $w1, $w2)),+);
            step!(4, $(($e, $c, $w0, $w1, $w2, $w3)),+);
            step!(5, $(($e, $c, $w1, $w2, $w3, $w0)),+);
            step!(6, $(($e, $c, $w2, $w3, $w0, $w1)),+);
            step!(7, $(($e, $c, $w3, $w0, $w1, $w2)),+);
            step!(8, $(($e, $c, $w0, $w1, $w2, $w3)),+);
            step!(9, $(($e, $c, $w1, $w2, $w3, $w0)),+);
            step!(10, $(($e, $c, $w2, $w3, $w0, $w1)),+);
            step!(11, $(($e, $c, $w3, $w0, $w1, $w2)),+);
            step!(12, $(($e, $c, $w0, $w1, $w2, $w3)),+);
            step!(13, $(($e, $c, $w1, $w2, $w3, $w0)),+);
            step!(14, $(($e, $c, $w2, $w3, $w0, $w1)),+);
            step!(15, $(($e, $c, $w3, $w0, $w1, $w2)),+);
        }};
    }

    /// The block's 16 message words, big-endian, as four registers.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn words(block: &[u8; 64]) -> [__m128i; 4] {
        let mask = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let p: *const __m128i = block.as_ptr().cast();
        // The block is 64 bytes; unaligned loads.
        [
            _mm_shuffle_epi8(_mm_loadu_si128(p), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask),
        ]
    }

    /// Loads `state` (a..h) as the two registers the SHA instructions use: ABEF and CDGH.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn load(state: &[u32; 8]) -> (__m128i, __m128i) {
        // `state` is 32 bytes; unaligned loads.
        let p: *const __m128i = state.as_ptr().cast();
        let (dcba, hgfe) = (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1)));
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        (
            _mm_alignr_epi8(cdab, efgh, 8),
            _mm_blend_epi16(efgh, cdab, 0xF0),
        )
    }

    /// Stores ABEF and CDGH back as a..h.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn store(state: &mut [u32; 8], abef: __m128i, cdgh: __m128i) {
        let feba = _mm_shuffle_epi32(abef, 0x1B);
        let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        let dcba = _mm_blend_epi16(feba, dchg, 0xF0);
        let hgef = _mm_alignr_epi8(dchg, feba, 8);
        // `state` is 32 bytes; unaligned stores.
        let p: *mut __m128i = state.as_mut_ptr().cast();
        _mm_storeu_si128(p, dcba);
        _mm_storeu_si128(p.add(1), hgef);
    }

    /// One stream.
    ///
    /// # Safety
    /// The CPU must have the SHA extensions, SSSE3 and SSE4.1 ([`available`]).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn compress1(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
        let (mut e, mut c) = load(state);
        for block in blocks {
            let (e0, c0) = (e, c);
            let [mut w0, mut w1, mut w2, mut w3] = words(block);
            rounds!((e, c, w0, w1, w2, w3));
            e = _mm_add_epi32(e, e0);
            c = _mm_add_epi32(c, c0);
        }
        store(state, e, c);
    }

    /// Two streams, the same number of blocks each, their quad-rounds issued alternately.
    ///
    /// # Safety
    /// As [`compress1`].
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn compress2(a: &mut [u32; 8], ba: &[[u8; 64]], b: &mut [u32; 8], bb: &[[u8; 64]]) {
        let ((mut ea, mut ca), (mut eb, mut cb)) = (load(a), load(b));
        for (x, y) in ba.iter().zip(bb) {
            let (ea0, ca0, eb0, cb0) = (ea, ca, eb, cb);
            let [mut a0, mut a1, mut a2, mut a3] = words(x);
            let [mut b0, mut b1, mut b2, mut b3] = words(y);
            rounds!((ea, ca, a0, a1, a2, a3), (eb, cb, b0, b1, b2, b3));
            ea = _mm_add_epi32(ea, ea0);
            ca = _mm_add_epi32(ca, ca0);
            eb = _mm_add_epi32(eb, eb0);
            cb = _mm_add_epi32(cb, cb0);
        }
        store(a, ea, ca);
        store(b, eb, cb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn sha2_hex(parts: &[&[u8]]) -> String {
        let mut h = sha2::Sha256::new();
        for p in parts {
            h.update(p);
        }
        hex::encode(h.finalize())
    }

    #[test]
    fn known_answers() {
        // FIPS 180-4 examples, and the padding edges (55, 56, 63, 64, 65 bytes).
        assert_eq!(
            LogHasher::new().finalize_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = LogHasher::new();
        h.update(b"abc");
        assert_eq!(
            h.finalize_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for n in [55, 56, 63, 64, 65, 119, 120, 128] {
            let data = bytes(n as u64, n);
            let mut h = LogHasher::new();
            h.update(&data);
            assert_eq!(h.finalize_hex(), sha2_hex(&[&data]), "{n} bytes");
        }
    }

    #[test]
    fn pairs_and_singles_in_any_mix_agree_with_sha2() {
        // Two files hashed chunk by chunk, sometimes alone and sometimes as a pair, with chunk
        // sizes on and off block boundaries and of very different lengths.
        let sizes = [0, 1, 63, 64, 65, 127, 200, 1024, 4096 + 7, 70_000];
        for seed in 0..40u64 {
            let (mut a, mut b) = (LogHasher::new(), LogHasher::new());
            let (mut ka, mut kb): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
            for step in 0..12u64 {
                let r = seed.wrapping_mul(31).wrapping_add(step * 7);
                let da = bytes(r + 1, sizes[(r % 10) as usize]);
                let db = bytes(r + 2, sizes[((r / 3 + step) % 10) as usize]);
                match (seed + step) % 3 {
                    0 => LogHasher::update_pair(&mut a, &da, &mut b, &db),
                    1 => {
                        a.update(&da);
                        b.update(&db);
                    }
                    _ => LogHasher::update_pair(&mut b, &db, &mut a, &da),
                }
                ka.push(da);
                kb.push(db);
            }
            let refs =
                |k: &Vec<Vec<u8>>| sha2_hex(&k.iter().map(Vec::as_slice).collect::<Vec<_>>());
            assert_eq!(a.finalize_hex(), refs(&ka), "seed {seed}, file a");
            assert_eq!(b.finalize_hex(), refs(&kb), "seed {seed}, file b");
        }
    }

    #[test]
    fn the_sha_extension_paths_agree_with_the_portable_block_function() {
        #[cfg(target_arch = "x86_64")]
        if shani::available() {
            let data = bytes(9, 64 * 37);
            let (blocks, _) = split_blocks(&data);
            let (other, _) = blocks.split_at(blocks.len() / 2);
            let mut want = H0;
            portable(&mut want, blocks);
            let mut want_other = H0;
            portable(&mut want_other, other);
            let mut one = H0;
            // SAFETY: checked above.
            unsafe { shani::compress1(&mut one, blocks) };
            assert_eq!(one, want);
            let (mut x, mut y) = (H0, H0);
            let n = other.len();
            // SAFETY: checked above.
            unsafe { shani::compress2(&mut x, &blocks[..n], &mut y, other) };
            portable(&mut x, &blocks[n..]);
            assert_eq!((x, y), (want, want_other));
        }
    }
}

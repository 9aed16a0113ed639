//! SHA-256 of log files' uncompressed bytes, up to four files at a time where the CPU has
//! SHA-NI.
//!
//! A digest lists the SHA-256 of every log file's uncompressed bytes, so every byte delivered
//! for a validated trail is hashed once, on the batcher thread, as chunks go to the compression
//! workers. One SHA-256 stream is bound by the latency of `sha256rnds2` (each pair of rounds
//! waits for the one before); independent streams issued in the same loop fill the slots the
//! first leaves idle. [`LogHasher::update_many`] hashes chunks of up to [`LANES`] files that
//! way: on this project's machine one stream runs at 2.1 GB/s, two at 3.0 and four at 3.8 (see
//! benches/README.md). Chunks of unequal length share the lanes while they last: four streams
//! while four have blocks left, then two, then one. Without SHA-NI (or off x86-64) every form
//! uses the `sha2` crate's block function.
//!
//! Invariant: [`LogHasher::finalize`] returns SHA-256 of everything given to that hasher through
//! [`LogHasher::update`] and [`LogHasher::update_many`], in call order, whatever the mix; the
//! tests hold it to the `sha2` crate on random splits and groupings.

/// Files hashed together at most.
pub const LANES: usize = 4;

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

    /// `h.update(data)` for each `(h, data)`, the blocks of up to [`LANES`] of them hashed as
    /// interleaved streams. The hashers are distinct by construction (`&mut`).
    pub fn update_many(lanes: &mut [(&mut Self, &[u8])]) {
        let mut blocks = Vec::with_capacity(lanes.len());
        let mut tails = Vec::with_capacity(lanes.len());
        for (h, data) in lanes.iter_mut() {
            let (whole, tail) = split_blocks(h.fill(data));
            blocks.push(whole);
            tails.push(tail);
        }
        loop {
            // The lanes with blocks left, longest first: four streams, else two, else one, for
            // as many blocks as the shortest of them has.
            let mut live: Vec<usize> = (0..lanes.len())
                .filter(|&i| !blocks[i].is_empty())
                .collect();
            live.sort_by_key(|&i| std::cmp::Reverse(blocks[i].len()));
            let width = match live.len() {
                0 => break,
                1 => 1,
                2 | 3 => 2,
                _ => LANES,
            };
            let group = &live[..width];
            let n = blocks[group[width - 1]].len();
            let mut states = [H0; LANES];
            let mut parts: [&[[u8; BLOCK]]; LANES] = [&[]; LANES];
            for (k, &i) in group.iter().enumerate() {
                states[k] = lanes[i].0.state;
                parts[k] = &blocks[i][..n];
                blocks[i] = &blocks[i][n..];
            }
            match width {
                1 => compress(&mut states[0], parts[0]),
                2 => compress2(&mut states, &parts),
                _ => compress4(&mut states, &parts),
            }
            for (k, &i) in group.iter().enumerate() {
                lanes[i].0.state = states[k];
            }
        }
        for ((h, _), tail) in lanes.iter_mut().zip(tails) {
            h.keep(tail);
        }
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

/// [`compress`] for the first two states, as many blocks each.
fn compress2(states: &mut [[u32; 8]; LANES], blocks: &[&[[u8; BLOCK]]; LANES]) {
    debug_assert_eq!(blocks[0].len(), blocks[1].len());
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        let [a, b, ..] = states;
        // SAFETY: as in `compress`.
        unsafe { shani::compress2(a, blocks[0], b, blocks[1]) };
        return;
    }
    portable(&mut states[0], blocks[0]);
    portable(&mut states[1], blocks[1]);
}

/// [`compress`] for four states, as many blocks each.
fn compress4(states: &mut [[u32; 8]; LANES], blocks: &[&[[u8; BLOCK]]; LANES]) {
    debug_assert!(blocks.iter().all(|b| b.len() == blocks[0].len()));
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        // SAFETY: as in `compress`.
        unsafe { shani::compress4(states, blocks) };
        return;
    }
    for (state, blocks) in states.iter_mut().zip(blocks) {
        portable(state, blocks);
    }
}

/// The `sha2` crate's block function (which uses SHA-NI or other CPU extensions itself).
fn portable(state: &mut [u32; 8], blocks: &[[u8; BLOCK]]) {
    use sha2::digest::generic_array::GenericArray;
    for block in blocks {
        sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

/// The block function on the SHA extensions (Intel's published sequence, as in the `sha2`
/// crate), for one stream or two or four interleaved.
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

    /// Whether this CPU can run [`compress1`], [`compress2`] and [`compress4`] (detected once;
    /// the check is a cached load).
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

    /// Four streams, the same number of blocks each, their quad-rounds issued in turn.
    ///
    /// # Safety
    /// As [`compress1`].
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn compress4(states: &mut [[u32; 8]; 4], blocks: &[&[[u8; 64]]; 4]) {
        let [
            (mut e0, mut c0),
            (mut e1, mut c1),
            (mut e2, mut c2),
            (mut e3, mut c3),
        ] = [
            load(&states[0]),
            load(&states[1]),
            load(&states[2]),
            load(&states[3]),
        ];
        let [p0, p1, p2, p3] = *blocks;
        for (((x0, x1), x2), x3) in p0.iter().zip(p1).zip(p2).zip(p3) {
            let saved = [e0, c0, e1, c1, e2, c2, e3, c3];
            let [mut a0, mut a1, mut a2, mut a3] = words(x0);
            let [mut b0, mut b1, mut b2, mut b3] = words(x1);
            let [mut d0, mut d1, mut d2, mut d3] = words(x2);
            let [mut f0, mut f1, mut f2, mut f3] = words(x3);
            rounds!(
                (e0, c0, a0, a1, a2, a3),
                (e1, c1, b0, b1, b2, b3),
                (e2, c2, d0, d1, d2, d3),
                (e3, c3, f0, f1, f2, f3)
            );
            e0 = _mm_add_epi32(e0, saved[0]);
            c0 = _mm_add_epi32(c0, saved[1]);
            e1 = _mm_add_epi32(e1, saved[2]);
            c1 = _mm_add_epi32(c1, saved[3]);
            e2 = _mm_add_epi32(e2, saved[4]);
            c2 = _mm_add_epi32(c2, saved[5]);
            e3 = _mm_add_epi32(e3, saved[6]);
            c3 = _mm_add_epi32(c3, saved[7]);
        }
        store(&mut states[0], e0, c0);
        store(&mut states[1], e1, c1);
        store(&mut states[2], e2, c2);
        store(&mut states[3], e3, c3);
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
    fn groups_and_singles_in_any_mix_agree_with_sha2() {
        // Five files hashed chunk by chunk: each step takes a group of one to five of them (in
        // varying order; five is more lanes than there are) or updates one alone, with chunk
        // sizes on and off block boundaries and of very different lengths.
        let sizes = [0, 1, 63, 64, 65, 127, 200, 1024, 4096 + 7, 70_000];
        for seed in 0..60u64 {
            let mut hashers: Vec<LogHasher> = (0..5).map(|_| LogHasher::new()).collect();
            let mut given: Vec<Vec<u8>> = vec![Vec::new(); 5];
            for step in 0..10u64 {
                let r = seed
                    .wrapping_mul(0x9e37_79b9)
                    .wrapping_add(step * 0x85eb_ca6b);
                let width = 1 + (r % 5) as usize;
                let first = (r / 5 % 5) as usize;
                let members: Vec<usize> = (0..width).map(|k| (first + 3 * k) % 5).collect();
                let data: Vec<Vec<u8>> = members
                    .iter()
                    .enumerate()
                    .map(|(k, _)| bytes(r + k as u64, sizes[((r >> 8) as usize + 3 * k) % 10]))
                    .collect();
                for (&m, d) in members.iter().zip(&data) {
                    given[m].extend_from_slice(d);
                }
                if step % 4 == 3 {
                    for (&m, d) in members.iter().zip(&data) {
                        hashers[m].update(d);
                    }
                    continue;
                }
                let mut taken: Vec<LogHasher> = members
                    .iter()
                    .map(|&m| std::mem::take(&mut hashers[m]))
                    .collect();
                let mut lanes: Vec<(&mut LogHasher, &[u8])> = taken
                    .iter_mut()
                    .zip(&data)
                    .map(|(h, d)| (h, d.as_slice()))
                    .collect();
                LogHasher::update_many(&mut lanes);
                for (&m, h) in members.iter().zip(taken) {
                    hashers[m] = h;
                }
            }
            for (i, (h, g)) in hashers.into_iter().zip(&given).enumerate() {
                assert_eq!(h.finalize_hex(), sha2_hex(&[g]), "seed {seed}, file {i}");
            }
        }
    }

    #[test]
    fn the_sha_extension_paths_agree_with_the_portable_block_function() {
        #[cfg(target_arch = "x86_64")]
        if shani::available() {
            let data = bytes(9, 64 * 40);
            let (blocks, _) = split_blocks(&data);
            let parts: [&[[u8; BLOCK]]; LANES] = [0, 10, 20, 30].map(|i| &blocks[i..i + 10]);
            let want = parts.map(|p| {
                let mut s = H0;
                portable(&mut s, p);
                s
            });
            let mut one = H0;
            // SAFETY: checked above.
            unsafe { shani::compress1(&mut one, parts[0]) };
            assert_eq!(one, want[0]);
            let (mut x, mut y) = (H0, H0);
            // SAFETY: checked above.
            unsafe { shani::compress2(&mut x, parts[0], &mut y, parts[1]) };
            assert_eq!([x, y], [want[0], want[1]]);
            let mut four = [H0; LANES];
            // SAFETY: checked above.
            unsafe { shani::compress4(&mut four, &parts) };
            assert_eq!(four, want);
        }
    }
}

//! File identity by content: a 64-bit fingerprint of the file's first line (at most 8 KiB).
//!
//! Paths change under rotation and inodes are reused, but the first line of an audit log (a
//! record with a unique `eventID` and timestamp) identifies it. A file without a complete first
//! line (and shorter than 8 KiB) has no fingerprint yet and is not read until it grows — so a
//! partial line is never mistaken for a file's identity.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Bytes of the head that are fingerprinted at most.
pub const HEAD_BYTES: usize = 8 * 1024;

/// A content fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    /// The WAL position key for a tailed file.
    pub fn key(self, prefix: &str) -> String {
        format!("{prefix}:{:016x}", self.0)
    }
}

/// Computes the fingerprint of `head` (the first bytes of a file), or `None` when there is no
/// complete first line yet and fewer than [`HEAD_BYTES`] bytes.
pub fn of_head(head: &[u8]) -> Option<Fingerprint> {
    let end = match head.iter().position(|&c| c == b'\n') {
        Some(i) => i + 1,
        None if head.len() >= HEAD_BYTES => HEAD_BYTES,
        None => return None,
    };
    let bytes = &head[..end.min(HEAD_BYTES)];
    let a = crc32fast::hash(bytes);
    let mut h = crc32fast::Hasher::new_with_initial(0x5bd1_e995);
    h.update(bytes);
    h.update(&(bytes.len() as u32).to_le_bytes());
    Some(Fingerprint((u64::from(a) << 32) | u64::from(h.finalize())))
}

/// Reads the head of `file` and fingerprints it.
pub fn of_file(file: &File) -> std::io::Result<Option<Fingerprint>> {
    let mut head = vec![0u8; HEAD_BYTES];
    let mut n = 0;
    while n < head.len() {
        match file.read_at(&mut head[n..], n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(of_head(&head[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_full_line() {
        assert_eq!(of_head(b"{\"a\":1"), None);
        let a = of_head(b"{\"a\":1}\n{\"b\"").expect("fp");
        assert_eq!(Some(a), of_head(b"{\"a\":1}\nother tail\n"));
        assert_ne!(Some(a), of_head(b"{\"a\":2}\n"));
        assert!(of_head(&vec![b'x'; HEAD_BYTES]).is_some());
    }
}

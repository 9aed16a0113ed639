//! A stream's saved cursor: one decimal sequence number in a file, replaced atomically.

use std::path::Path;

/// The saved cursor, if there is a readable one.
pub fn load(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    match text.trim().parse() {
        Ok(seq) => Some(seq),
        Err(_) => {
            tracing::error!(path = %path.display(), "unreadable stream cursor; starting anew");
            None
        }
    }
}

/// Saves `seq` durably (write to a temporary file, fsync, rename, fsync the folder).
pub fn save(path: &Path, seq: u64) -> std::io::Result<()> {
    crate::fsutil::write_atomic(path, format!("{seq}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.cursor");
        assert_eq!(super::load(&p), None);
        super::save(&p, 42).expect("save");
        assert_eq!(super::load(&p), Some(42));
        std::fs::write(&p, "junk").expect("write");
        assert_eq!(super::load(&p), None);
    }
}

//! Crash-safe file-system primitives shared by the state files and the local destination.
//!
//! Invariant: after [`write_atomic`] or [`publish`] returns `Ok`, the target exists with the full
//! content and survives a power cut; before, the target is either absent or its previous version.
//! Temporary files are never created next to the target (callers pass a scratch folder on the
//! same file system), so tools scanning the target tree never see them.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// fsyncs a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Flushes every file of the file system holding `path` to stable storage (Linux `syncfs`): one
/// call instead of one fsync per file, for checkpoints that touch hundreds of files.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    // SAFETY: syncfs on a valid descriptor owned by `dir`.
    let rc = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Replaces `path` with `bytes` atomically (temp file beside it, fsync, rename, fsync folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Reads a JSON state file: `Ok(None)` when it does not exist, `InvalidData` naming the file
/// when it does not parse.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `value` as JSON, atomically ([`write_atomic`]).
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Outcome of [`publish`].
#[derive(Debug, PartialEq, Eq)]
pub enum Published {
    /// The file now exists at the target.
    Created,
    /// The target already existed with identical length (an earlier attempt succeeded).
    AlreadyThere,
    /// The target exists with other content; nothing was changed.
    Conflict,
}

/// Publishes the complete file `src` at `target` without ever replacing an existing file:
/// a hard link when both are on one file system (atomic, no copy), otherwise a copy into
/// `scratch` (same file system as `target`) and a no-replace link. `src` is left in place. The
/// caller makes the result durable ([`sync_filesystem`]) before relying on it. The target's
/// folder must exist.
pub fn publish(src: &Path, target: &Path, scratch: &Path) -> io::Result<Published> {
    let linked = match std::fs::hard_link(src, target) {
        Ok(()) => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::EXDEV) || e.kind() == io::ErrorKind::Unsupported =>
        {
            std::fs::create_dir_all(scratch)?;
            let tmp = scratch.join(format!(
                "publish-{}-{}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::copy(src, &tmp)?;
            let r = std::fs::hard_link(&tmp, target);
            let _ = std::fs::remove_file(&tmp);
            r
        }
        Err(e) => Err(e),
    };
    match linked {
        Ok(()) => Ok(Published::Created),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let same = std::fs::metadata(src)?.len() == std::fs::metadata(target)?.len();
            Ok(if same {
                Published::AlreadyThere
            } else {
                Published::Conflict
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_never_replaces() {
        let dir = tempfile::tempdir().expect("tmp");
        let src = dir.path().join("src");
        std::fs::write(&src, b"abc").expect("write");
        let target = dir.path().join("tree/a/b/file");
        std::fs::create_dir_all(dir.path().join("tree/a/b")).expect("mkdir");
        let scratch = dir.path().join("scratch");
        assert_eq!(
            publish(&src, &target, &scratch).expect("publish"),
            Published::Created
        );
        assert_eq!(
            publish(&src, &target, &scratch).expect("again"),
            Published::AlreadyThere
        );
        let other = dir.path().join("other");
        std::fs::write(&other, b"abcd").expect("write");
        assert_eq!(
            publish(&other, &target, &scratch).expect("conflict"),
            Published::Conflict
        );
        assert_eq!(std::fs::read(&target).expect("read"), b"abc");
    }

    #[test]
    fn write_atomic_replaces() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("state.json");
        write_atomic(&p, b"1").expect("w1");
        write_atomic(&p, b"22").expect("w2");
        assert_eq!(std::fs::read(&p).expect("read"), b"22");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}

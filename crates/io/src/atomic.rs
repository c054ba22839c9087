//! Atomic file writes.
//!
//! Every writer of this crate goes through [`write_atomic`]: the content is written to a fresh
//! temporary file *in the destination's directory* (so the final step never crosses a file
//! system), flushed and `fsync`ed, and then renamed over the destination. A reader therefore sees
//! either the complete old file or the complete new one, never a half-written file, even if the
//! process dies mid-write; on any error the temporary file is removed and the destination is left
//! untouched.

use crate::error::{IoError, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use tempfile::NamedTempFile;

/// Write `path` atomically: `fill` writes the whole content into a buffered temporary file that
/// then replaces `path` by a rename. Errors from `fill` are reported against `path`.
pub fn write_atomic<F>(path: impl AsRef<Path>, fill: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
{
    let path = path.as_ref();
    let mut tmp = temp_next_to(path)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(|e| IoError::io("write", path, e))?;
        w.flush().map_err(|e| IoError::io("write", path, e))?;
    }
    commit(tmp, path)
}

/// [`write_atomic`] for writers that need a file *path* (HDF5): `build` creates and closes the
/// file at the temporary path it is given, which then replaces `path` by a rename.
pub(crate) fn write_atomic_at(path: &Path, build: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_next_to(path)?;
    build(tmp.path())?;
    commit(tmp, path)
}

/// A fresh temporary file `.<name>.XXXXXX.tmp` in `path`'s directory, created with 0o666 minus
/// the umask like any ordinary file (tempfile's default is 0o600).
fn temp_next_to(path: &Path) -> Result<NamedTempFile> {
    let file_name = path
        .file_name()
        .ok_or_else(|| IoError::argument("path", path.display(), "has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{}.", file_name.to_string_lossy());
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(dir)
        .map_err(|e| IoError::io("create a temporary file next to", path, e))
}

/// `fsync` the finished temporary file and rename it over `path`.
fn commit(tmp: NamedTempFile, path: &Path) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| IoError::io("sync", path, e))?;
    tmp.persist(path)
        .map_err(|e| IoError::io("rename into place", path, e.error))?;
    Ok(())
}

/// Names of the temporary files [`write_atomic`] left in `dir` (tests assert there are none).
#[cfg(test)]
pub(crate) fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// `n` deterministic pseudo-random bytes (a 64-bit LCG seeded with `seed`): junk "files" for the
/// corrupt-input tests of the readers.
#[cfg(test)]
pub(crate) fn junk_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_atomic(&p, |w| w.write_all(b"first")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        write_atomic(&p, |w| w.write_all(b"second, longer")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second, longer");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn failed_write_leaves_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keep.bin");
        write_atomic(&p, |w| w.write_all(b"old")).unwrap();
        let err = write_atomic(&p, |w| {
            w.write_all(b"partial new content")?;
            Err(std::io::Error::other("encoder failed"))
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("keep.bin") && msg.contains("encoder failed"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no_such_dir").join("x.bin");
        let msg = write_atomic(&p, |w| w.write_all(b"x"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no_such_dir"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn result_is_readable_by_others_like_an_ordinary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("perm.bin");
        write_atomic(&p, |w| w.write_all(b"x")).unwrap();
        let atomic_mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        let q = dir.path().join("plain.bin");
        std::fs::write(&q, b"x").unwrap();
        let plain_mode = std::fs::metadata(&q).unwrap().permissions().mode() & 0o777;
        assert_eq!(atomic_mode, plain_mode);
    }
}

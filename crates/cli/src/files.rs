//! File access for the binary: thin wrappers over `fedrecon-io` that add the path to errors.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// A real array read from disk.
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    /// The array as a 2-D image `(ny, nx)`, or an error naming the file.
    pub fn dims2(&self, path: &Path) -> Result<[usize; 2]> {
        match self.shape[..] {
            [ny, nx] => Ok([ny, nx]),
            [1, ny, nx] => Ok([ny, nx]),
            _ => bail!("{}: expected a 2-D array, found shape {:?}", path.display(), self.shape),
        }
    }
}

/// Read a `.npy` file as f32.
pub fn read_npy(path: &Path) -> Result<Array> {
    let a = fedrecon_io::npy::read_f32(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Array { shape: a.shape, data: a.data })
}

/// Write an f32 array as `.npy` (atomically).
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    fedrecon_io::npy::write(path, shape, data).with_context(|| format!("writing {}", path.display()))
}

/// Write text (atomically).
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    fedrecon_io::write_atomic(path, |w| w.write_all(text.as_bytes())).with_context(|| format!("writing {}", path.display()))
}

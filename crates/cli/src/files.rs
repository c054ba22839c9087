//! File access for the binary: thin wrappers over `fedrecon-io` that add the path to errors.

use anyhow::{Context, Result, bail};
use fedrecon_io::Window;
use std::path::Path;

/// A real array read from disk.
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// Pixel size in mm when the file says it (DICOM).
    pub pixel_size_mm: Option<f64>,
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
        pixel_size_mm: None,
    })
}

/// Whether `path` is a DICOM file (`.dcm` extension or the `DICM` magic at byte 128).
fn is_dicom(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("dcm"))
    {
        return true;
    }
    let mut head = [0u8; 132];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| &head[128..] == b"DICM")
}

/// Read a 2-D image: `.npy`, or a DICOM CT slice converted HU → μ in mm⁻¹
/// (`μ = μ_water·(1 + HU/1000)`, μ_water = 0.01937 mm⁻¹ at 70 keV, negatives clamped to 0),
/// with its pixel spacing kept so that line integrals come out dimensionless.
pub fn read_image(path: &Path) -> Result<Array> {
    if !is_dicom(path) {
        return read_npy(path);
    }
    let img =
        fedrecon_io::read_dicom_ct(path).with_context(|| format!("reading {}", path.display()))?;
    let [dy, dx] = img.pixel_spacing_mm;
    if (dy - dx).abs() > 1e-6 * dx.abs().max(1e-12) {
        bail!(
            "{}: non-square pixels (PixelSpacing {dy} \\ {dx} mm) are not supported",
            path.display()
        );
    }
    let mu = fedrecon_io::hu_image_to_mu(&img.hu, fedrecon_io::MU_WATER_70KEV_PER_MM);
    Ok(Array {
        shape: vec![img.ny, img.nx],
        data: mu,
        pixel_size_mm: Some(dx),
    })
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

//! `fedrecon mri recon`: k-space → magnitude image.
//!
//! Inputs: a fastMRI `.h5` (every slice, or `--slice i`), a complex `.npy` `(coils, ny, nx)` /
//! `(ny, nx)`, or a BART `.cfl` (row-major view of its dimensions, e.g. `[nx, ny, 1, coils]` →
//! `(coils, 1, ny, nx)`; singleton axes are dropped). Methods:
//! - `zf`: zero-filled root-sum-of-squares `√(Σ_c |ifft2c(k_c)|²)` (fastMRI's baseline,
//!   `fastmri/data/transforms.py` + `run_zero_filled.py`); for fastMRI files the image is
//!   centre-cropped to the header's `reconSpace` matrix (clamped to the image), as the
//!   fastMRI targets are.
//!
//! Output: `.npy` float32 `(ny, nx)` for one slice, `(slices, ny, nx)` otherwise, or a fastMRI
//! submission `.h5` (dataset `reconstruction`, `(slices, H, W)`) that `fedrecon mri eval` reads.

use super::read_complex;
use crate::{common, files};
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use fedrecon_io::FastmriFile;
use fedrecon_physics::mri::eval::center_crop;
use fedrecon_physics::mri::rss_from_kspace;
use num_complex::Complex32;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Reconstruction method.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
pub enum Method {
    /// Zero-filled root-sum-of-squares.
    Zf,
}

/// Arguments of `fedrecon mri recon`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Reconstruction method.
    #[arg(long, value_enum, default_value = "zf")]
    pub method: Method,
    /// k-space: fastMRI `.h5`, complex `.npy` (coils, ny, nx) or BART `.cfl`.
    #[arg(long)]
    pub input: PathBuf,
    /// Only this slice of a fastMRI file (default: all).
    #[arg(long)]
    pub slice: Option<usize>,
    /// Output image: `.npy` (float32) or a fastMRI submission `.h5`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also save a PNG of the (middle) slice, min/max window.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Run the reconstruction N times and print its median time (`time_ms:`) on stderr.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

/// One k-space slice `(coils, ny, nx)`.
struct KSlice {
    coils: usize,
    ny: usize,
    nx: usize,
    data: Vec<Complex32>,
}

/// Slices to reconstruct and the crop `(H, W)` to apply to each image, if any.
fn load(a: &Args) -> Result<(Vec<KSlice>, Option<[usize; 2]>)> {
    let is_h5 = a
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("h5"));
    if is_h5 {
        let f = FastmriFile::open(&a.input)
            .with_context(|| format!("reading {}", a.input.display()))?;
        let indices: Vec<usize> = match a.slice {
            Some(i) if i < f.num_slices() => vec![i],
            Some(i) => bail!(
                "--slice {i}: {} has {} slices",
                a.input.display(),
                f.num_slices()
            ),
            None => (0..f.num_slices()).collect(),
        };
        let mut out = Vec::with_capacity(indices.len());
        for i in indices {
            let (shape, data) = f
                .read_kspace_slice(i)
                .with_context(|| format!("reading {}", a.input.display()))?;
            out.push(kslice(&a.input, &shape, data)?);
        }
        let r = f.encoding().recon_matrix;
        return Ok((out, Some([r.x, r.y])));
    }
    if a.slice.is_some() {
        bail!("--slice applies to fastMRI .h5 inputs only");
    }
    let (shape, data) = read_complex(&a.input)?;
    Ok((vec![kslice(&a.input, &shape, data)?], None))
}

fn kslice(path: &Path, shape: &[usize], data: Vec<Complex32>) -> Result<KSlice> {
    let dims: Vec<usize> = shape.iter().copied().filter(|&d| d != 1).collect();
    let (coils, ny, nx) = match dims[..] {
        [ny, nx] => (1, ny, nx),
        [c, ny, nx] => (c, ny, nx),
        _ => bail!(
            "{}: expected k-space (coils, ny, nx) or (ny, nx) (singleton axes ignored), found {shape:?}",
            path.display()
        ),
    };
    Ok(KSlice {
        coils,
        ny,
        nx,
        data,
    })
}

/// Reconstruct one slice with `method`: the `(ny, nx)` magnitude image.
fn reconstruct(method: Method, k: &KSlice) -> Result<Vec<f32>> {
    match method {
        Method::Zf => Ok(rss_from_kspace(&k.data, k.coils, k.ny, k.nx)?),
    }
}

/// Run `fedrecon mri recon`.
pub fn run(a: Args) -> Result<()> {
    let (slices, crop) = load(&a)?;
    let (ny, nx) = (slices[0].ny, slices[0].nx);
    if slices.iter().any(|s| (s.ny, s.nx) != (ny, nx)) {
        bail!("{}: slices differ in size", a.input.display());
    }
    let images = common::timed(a.repeat, || {
        slices
            .iter()
            .map(|k| reconstruct(a.method, k))
            .collect::<Result<Vec<_>>>()
    })?;
    let mut data: Vec<f32> = images.into_iter().flatten().collect();
    let mut shape = [slices.len(), ny, nx];
    if let Some([h, w]) = crop {
        let (h, w) = (h.min(ny), w.min(nx));
        if (h, w) != (ny, nx) && h > 0 && w > 0 {
            data = center_crop("image", &data, shape, [h, w])?;
            shape = [shape[0], h, w];
        }
    }
    let is_h5 = a
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("h5"));
    if is_h5 {
        fedrecon_io::write_reconstruction(&a.output, shape, &data)
            .with_context(|| format!("writing {}", a.output.display()))?;
    } else if shape[0] == 1 {
        files::write_npy(&a.output, &shape[1..], &data)?;
    } else {
        files::write_npy(&a.output, &shape, &data)?;
    }
    if let Some(png) = &a.png {
        let plane = shape[1] * shape[2];
        let mid = shape[0] / 2;
        files::write_png(
            png,
            [shape[1], shape[2]],
            &data[mid * plane..(mid + 1) * plane],
            None,
        )?;
    }
    common::write_sidecar(&a.output, "mri recon", &a, &shape)
}

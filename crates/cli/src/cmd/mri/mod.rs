//! `fedrecon mri …`: MRI subcommands, one file each, and the complex-array / trajectory file
//! helpers they share.

pub mod eval;
pub mod nufft;
pub mod recon;
pub mod simulate;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use num_complex::Complex32;
use std::path::Path;

/// MRI subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Non-uniform FFT of type 1 (points → image) or type 2 (image → points), batched over coils.
    Nufft(nufft::Args),
    /// Simulate multi-coil k-space of a phantom: a fastMRI HDF5 file (Cartesian) or a
    /// non-Cartesian `.npy` with its trajectory.
    Simulate(simulate::Args),
    /// Reconstruct k-space (fastMRI `.h5`, `.npy` or BART `.cfl`; non-Cartesian with --traj) to
    /// a magnitude image: zero-filled/gridding, CG-SENSE, L1-wavelet or TV.
    Recon(recon::Args),
    /// Evaluate fastMRI reconstructions against targets (NMSE, PSNR, SSIM as fastMRI's
    /// evaluate.py).
    Eval(eval::Args),
}

/// Dispatch an MRI subcommand.
pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Nufft(a) => nufft::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Recon(a) => recon::run(a),
        Command::Eval(a) => eval::run(a),
    }
}

/// A trajectory read from disk: `(M, 2)` `(kx, ky)` row-major in cycles/pixel, and the shape of
/// its point axes (`[M]` for a real `(…, 2)` file, the whole shape for a complex file).
pub struct Trajectory {
    pub points_shape: Vec<usize>,
    pub kxy: Vec<f32>,
}

impl Trajectory {
    /// Number of points `M`.
    pub fn len(&self) -> usize {
        self.kxy.len() / 2
    }
}

/// Read a trajectory `.npy`: real (float or integer) of shape `(…, 2)` with columns `(kx, ky)`,
/// or complex `kx + i·ky` of any shape, in cycles/pixel.
pub fn read_trajectory(path: &Path) -> Result<Trajectory> {
    let header = fedrecon_io::read_npy_header(path)
        .with_context(|| format!("reading {}", path.display()))?;
    if header.dtype.is_complex() {
        let a = fedrecon_io::read_npy_as_c32(path)
            .with_context(|| format!("reading {}", path.display()))?;
        if a.data.is_empty() {
            bail!("{}: the trajectory has no points", path.display());
        }
        let kxy = a.data.iter().flat_map(|z| [z.re, z.im]).collect();
        return Ok(Trajectory {
            points_shape: a.shape,
            kxy,
        });
    }
    let a = fedrecon_io::read_npy_as_f32(path)
        .with_context(|| format!("reading {}", path.display()))?;
    match a.shape.split_last() {
        Some((2, lead)) if !a.data.is_empty() => Ok(Trajectory {
            points_shape: vec![lead.iter().product()],
            kxy: a.data,
        }),
        _ => bail!(
            "{}: a real trajectory must have shape (M, 2) with columns (kx, ky), found {:?} \
             (or store it as complex kx + i·ky)",
            path.display(),
            a.shape
        ),
    }
}

/// Read a complex array: `.npy` (complex64/complex128) as is, or BART `.cfl`/`.hdr` (given as
/// the base name or either file) as its row-major shape (reversed BART dimensions, trailing 1s
/// dropped).
pub fn read_complex(path: &Path) -> Result<(Vec<usize>, Vec<Complex32>)> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("cfl") || ext.eq_ignore_ascii_case("hdr") {
        let base = path.with_extension("");
        let (dims, data) =
            fedrecon_io::read_cfl(&base).with_context(|| format!("reading {}", path.display()))?;
        return Ok((fedrecon_io::cfl_dims_to_row_major_shape(&dims), data));
    }
    let a = fedrecon_io::read_npy_as_c32(path)
        .with_context(|| format!("reading {} (expected a complex .npy)", path.display()))?;
    Ok((a.shape, a.data))
}

/// Write a complex64 `.npy`.
pub fn write_complex_npy(path: &Path, shape: &[usize], data: &[Complex32]) -> Result<()> {
    fedrecon_io::write_npy(path, shape, data).with_context(|| format!("writing {}", path.display()))
}

//! `fedrecon mri nufft`: the 2-D NUFFT (`fedrecon_physics::mri::nufft`) on `.npy` files.
//!
//! Type 2 maps images `(…, N, N)` to samples `(…, <trajectory point shape>)`; type 1 maps
//! samples `(…, <point shape>)` (or `(…, M)`) back to images `(…, N, N)`. Leading axes (coils)
//! are a batch. Conventions (signs, pixel coordinates, no normalisation): see the physics module.

use super::{read_complex, read_trajectory, write_complex_npy};
use crate::common;
use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use fedrecon_physics::mri::{NufftOptions, NufftPlan, Upsampling};
use num_complex::Complex32;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `fedrecon mri nufft`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// NUFFT type: 1 (points → image, the adjoint) or 2 (image → points, the forward model).
    #[arg(long = "type", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub kind: u8,
    /// Trajectory `.npy`: real (M, 2) columns (kx, ky), or complex kx + i·ky of any shape; in
    /// cycles/pixel, within [−0.5, 0.5].
    #[arg(long)]
    pub traj: PathBuf,
    /// Input complex `.npy`: images (…, N, N) for type 2, samples (…, points) for type 1.
    #[arg(long)]
    pub input: PathBuf,
    /// Image side N.
    #[arg(long)]
    pub size: usize,
    /// Requested relative tolerance.
    #[arg(long, default_value_t = 1e-6)]
    pub eps: f64,
    /// Fine-grid upsampling factor σ: 2 or 1.25.
    #[arg(long, default_value_t = 2.0)]
    pub upsampling: f64,
    /// Output complex64 `.npy`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The batch (coil) axis is the last axis of input and output instead of the first, e.g.
    /// samples (readout, spokes, coils); images are then (N, N, coils).
    #[arg(long)]
    pub coils_last: bool,
    /// Run the transform N times and print its median time (`time_ms:`) on stderr.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Compute device (cuda: deapodisation, oversampled FFT and gridding on the GPU; the timing
    /// then includes the host↔device copies).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: common::Device,
}

/// What the plan resolved to, for the sidecar.
#[derive(Serialize)]
struct Resolved {
    points: usize,
    batch: usize,
    fine_grid: (usize, usize),
    kernel_width: usize,
}

/// Run `fedrecon mri nufft`.
pub fn run(a: Args) -> Result<()> {
    let traj = read_trajectory(&a.traj)?;
    let (mut shape, mut data) = read_complex(&a.input)?;
    if a.coils_last {
        if shape.len() < 2 {
            bail!(
                "{}: --coils-last needs at least two axes, found {shape:?}",
                a.input.display()
            );
        }
        data = move_axis(&data, &shape, false);
        shape.rotate_right(1);
    }
    let options = NufftOptions {
        eps: a.eps,
        upsampling: Upsampling::from_sigma(a.upsampling)?,
    };
    let n = a.size;
    // the oversampled grid (σ ≤ 2, so ≤ 4n²) and the image, complex64, with scratch
    common::ensure_fits("--size", n, &[n, n, 8], 8)?;
    let plan = NufftPlan::new(n, n, &traj.kxy, options)?;
    let gpu = match common::cuda_kernels(a.device)? {
        None => None,
        Some(dev) => Some(fedrecon_cuda::NufftPlanCuda::new(&dev, &plan)?),
    };
    let m = traj.len();
    let (out_shape, out, batch) = if a.kind == 2 {
        let lead = match shape.len().checked_sub(2) {
            Some(k) if shape[k..] == [n, n] => shape[..k].to_vec(),
            _ => bail!(
                "{}: type 2 needs images of shape (…, {n}, {n}) (--size {n}), found {shape:?}",
                a.input.display()
            ),
        };
        let batch: usize = lead.iter().product();
        let mut y = vec![Complex32::default(); batch * m];
        common::timed(a.repeat, || match &gpu {
            None => Ok(plan.type2(&data, &mut y)?),
            Some(g) => Ok(g.try_forward(&data, &mut y)?),
        })?;
        let mut out_shape = lead;
        out_shape.extend_from_slice(&traj.points_shape);
        (out_shape, y, batch)
    } else {
        let p = &traj.points_shape;
        let lead = if shape.len() >= p.len() && shape[shape.len() - p.len()..] == p[..] {
            shape[..shape.len() - p.len()].to_vec()
        } else if shape.last() == Some(&m) {
            shape[..shape.len() - 1].to_vec()
        } else {
            bail!(
                "{}: type 1 needs samples of shape (…, {}) matching the trajectory {}, found {shape:?}",
                a.input.display(),
                p.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                a.traj.display()
            )
        };
        let batch: usize = lead.iter().product();
        let mut f = vec![Complex32::default(); batch * n * n];
        common::timed(a.repeat, || match &gpu {
            None => Ok(plan.type1(&data, &mut f)?),
            Some(g) => Ok(g.try_adjoint(&data, &mut f)?),
        })?;
        let mut out_shape = lead;
        out_shape.extend_from_slice(&[n, n]);
        (out_shape, f, batch)
    };
    let (out_shape, out) = if a.coils_last && out_shape.len() >= 2 {
        let moved = move_axis(&out, &out_shape, true);
        let mut s = out_shape;
        s.rotate_left(1);
        (s, moved)
    } else {
        (out_shape, out)
    };
    write_complex_npy(&a.output, &out_shape, &out)?;
    let resolved = Resolved {
        points: m,
        batch,
        fine_grid: plan.fine_shape(),
        kernel_width: plan.kernel().width,
    };
    common::write_sidecar(&a.output, "mri nufft", &a, &resolved)
}

/// Move the last axis of a row-major array of `shape` to the front (`to_last = false`), or the
/// first axis to the back (`to_last = true`).
fn move_axis(data: &[Complex32], shape: &[usize], to_last: bool) -> Vec<Complex32> {
    let (outer, inner) = if to_last {
        (shape[0], data.len() / shape[0].max(1))
    } else {
        let last = shape[shape.len() - 1];
        (data.len() / last.max(1), last)
    };
    // transpose the (outer, inner) matrix
    let mut out = vec![Complex32::default(); data.len()];
    for o in 0..outer {
        for i in 0..inner {
            out[i * outer + o] = data[o * inner + i];
        }
    }
    out
}

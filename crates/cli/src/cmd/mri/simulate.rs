//! `fedrecon mri simulate`: multi-coil k-space of an ellipse phantom.
//!
//! Coil images are `x_c = S_c · f` with `f` the rasterised phantom (real, ≥ 0) and `S_c` smooth
//! birdcage sensitivities (`fedrecon_physics::mri::coils::birdcage_maps`, sigpy's, coil ring radius
//! 1.5 half fields of view) normalised so that `Σ_c |S_c|² = 1`; the RSS of the coil images is
//! therefore `f` itself.
//!
//! - **Cartesian** (default): `k_c = fft2c(x_c) + n_c` (orthonormal centred FFT, complex Gaussian
//!   noise of standard deviation `σ` per real and imaginary part), written as a fastMRI
//!   multi-coil file: `kspace (1, C, N, N)`, `reconstruction_rss = rss(ifft2c(k))` of the fully
//!   sampled noisy data (fastMRI's target), a minimal ISMRMRD header (encoded and recon matrix
//!   `N × N`, centre line `N/2`), attributes `acquisition`, `max`, `norm`, `patient_id`. With
//!   `--mask`, the k-space columns outside a fastMRI mask are zeroed and the file also carries
//!   the test-set fields `mask`, `acceleration` and `num_low_frequency`. `--mask poisson` is a 2-D
//!   variable-density Poisson-disc mask (`fedrecon_physics::mri::poisson_disc`) with a fully
//!   sampled centred `c × c` calibration square, `c = round(center_fraction · N)`; as fastMRI's
//!   `mask` dataset is a 1-D column mask, the file then has no `mask` dataset: the unsampled
//!   k-space entries are zero (`fedrecon mri recon` reads the pattern from the zeros), and
//!   `num_low_frequency` is `c`.
//! - **Non-Cartesian** (`--traj radial|spiral`): `y_c = NUFFT₂(x_c) + n_c` (the unnormalised
//!   type-2 NUFFT: on the Cartesian grid it is `N` × `fft2c`), written as `(C, M)` complex64 with
//!   the `(M, 2)` trajectory.

use super::write_complex_npy;
use crate::cmd::phantom::{self, Kind};
use crate::{common, files};
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use fedrecon_io::{FastmriAttrs, FastmriVolume, ImageStack, write_fastmri};
use fedrecon_physics::ImageGrid;
use fedrecon_physics::mri::mask::{MaskKind, fastmri_mask, num_low_frequencies};
use fedrecon_physics::mri::traj::{self, RadialOrdering};
use fedrecon_physics::mri::{
    Fft2Plan, NufftOptions, NufftPlan, PoissonDiscOptions, birdcage_maps, poisson_disc_mask,
    rss_from_kspace,
};
use num_complex::Complex32;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;
use std::f64::consts::PI;
use std::path::PathBuf;

/// fastMRI undersampling mask (`fastmri/data/subsample.py`).
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
pub enum Mask {
    /// `RandomMaskFunc`: centre block plus random columns.
    Random,
    /// `EquispacedMaskFunc`: centre block plus every R-th column (integer R).
    Equispaced,
    /// `EquispacedMaskFractionFunc`: equispaced with the acceleration adjusted for the centre.
    EquispacedFraction,
    /// 2-D variable-density Poisson-disc mask with a centred calibration square (no `mask`
    /// dataset is written: unsampled k-space is zero).
    Poisson,
}

/// Non-Cartesian trajectory.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
pub enum Traj {
    /// Radial spokes through the centre, N samples each.
    Radial,
    /// Archimedean spiral interleaves meeting Nyquist for the N-pixel field of view.
    Spiral,
}

/// Arguments of `fedrecon mri simulate`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Phantom.
    #[arg(long, value_enum, default_value = "modified-shepp-logan")]
    pub phantom: Kind,
    /// Image side N.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Number of receive coils.
    #[arg(long, default_value_t = 8)]
    pub coils: usize,
    /// Cartesian undersampling mask (omit for fully sampled k-space).
    #[arg(long, value_enum, conflicts_with = "traj")]
    pub mask: Option<Mask>,
    /// Acceleration R of --mask.
    #[arg(long, default_value_t = 4.0)]
    pub accel: f64,
    /// Fraction of fully sampled centre columns of --mask (poisson: side of the calibration
    /// square as a fraction of N).
    #[arg(long, default_value_t = 0.08)]
    pub center_fraction: f64,
    /// Standard deviation of the complex Gaussian k-space noise (per real/imaginary part).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Seed of the mask, the noise and `--phantom ellipses`. The fastMRI masks (random,
    /// equispaced, equispaced-fraction) equal fastMRI's mask functions called with this seed
    /// (numpy's `RandomState(seed)`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `acquisition` attribute of the fastMRI file.
    #[arg(long, default_value = "SIMULATED")]
    pub acquisition: String,
    /// Non-Cartesian trajectory instead of a fastMRI file (output: `.npy` samples (coils, M)).
    #[arg(long, value_enum, requires = "traj_out")]
    pub traj: Option<Traj>,
    /// Radial spokes or spiral interleaves.
    #[arg(long, default_value_t = 64)]
    pub spokes: usize,
    /// Samples per spoke/interleave (default: N radial, ⌈π N² / (4 · interleaves)⌉ spiral).
    #[arg(long)]
    pub readout: Option<usize>,
    /// Golden-angle instead of uniform spoke ordering (radial).
    #[arg(long)]
    pub golden: bool,
    /// Where to write the (M, 2) float32 trajectory (with --traj).
    #[arg(long)]
    pub traj_out: Option<PathBuf>,
    /// Output: fastMRI `.h5` (Cartesian) or complex64 `.npy` (with --traj).
    #[arg(short, long)]
    pub output: PathBuf,
}

fn add_noise(data: &mut [Complex32], sigma: f64, seed: u64) -> Result<()> {
    if sigma == 0.0 {
        return Ok(());
    }
    let normal = Normal::new(0.0, sigma)
        .ok()
        .filter(|_| sigma.is_finite() && sigma > 0.0)
        .with_context(|| format!("--noise {sigma} must be finite and ≥ 0"))?;
    // a stream separate from the mask's
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6e6f_6973_6521);
    for z in data {
        *z += Complex32::new(
            normal.sample(&mut rng) as f32,
            normal.sample(&mut rng) as f32,
        );
    }
    Ok(())
}

/// Run `fedrecon mri simulate`.
pub fn run(a: Args) -> Result<()> {
    let n = a.size;
    if n < 2 {
        bail!("--size {n} must be at least 2");
    }
    if a.coils == 0 {
        bail!("--coils must be at least 1");
    }
    // coil images, k-space and one scratch copy, complex64
    crate::common::ensure_fits(
        "--size × --coils",
        format!("{n} × {}", a.coils),
        &[n, n, a.coils, 3],
        8,
    )?;
    let grid = ImageGrid::square(n)?;
    let image = phantom::load(a.phantom, None, a.seed, 10)?
        .fit_to(&grid)
        .rasterize(&grid, 4);
    let mut coil_images = birdcage_maps(a.coils, n, n, 1.5)?;
    for ch in coil_images.chunks_exact_mut(n * n) {
        for (z, &f) in ch.iter_mut().zip(&image) {
            *z *= f;
        }
    }
    match a.traj {
        Some(kind) => simulate_noncartesian(&a, kind, &coil_images),
        None => simulate_cartesian(&a, coil_images),
    }
}

fn simulate_cartesian(a: &Args, mut kspace: Vec<Complex32>) -> Result<()> {
    let n = a.size;
    let c = a.coils;
    Fft2Plan::new(n, n)?.fft2c(&mut kspace)?;
    add_noise(&mut kspace, a.noise, a.seed)?;
    let target = rss_from_kspace(&kspace, c, n, n)?;
    let max = target.iter().fold(0.0f64, |m, &v| m.max(v as f64));
    let norm = target
        .iter()
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let mut attrs = FastmriAttrs {
        acquisition: Some(a.acquisition.clone()),
        max: Some(max),
        norm: Some(norm),
        patient_id: Some(format!("fedrecon-simulate-{:?}-seed{}", a.phantom, a.seed)),
        acceleration: None,
        num_low_frequency: None,
    };
    let mut mask_out = None;
    match a.mask {
        Some(Mask::Poisson) => {
            let calib = (a.center_fraction * n as f64).round() as usize;
            let mask = poisson_disc_mask(
                n,
                n,
                &PoissonDiscOptions {
                    acceleration: a.accel,
                    calib: (calib, calib),
                    seed: a.seed,
                    ..Default::default()
                },
            )?;
            let keep = mask.to_dense(n, n)?;
            for coil in kspace.chunks_exact_mut(n * n) {
                for (z, &k) in coil.iter_mut().zip(&keep) {
                    if !k {
                        *z = Complex32::default();
                    }
                }
            }
            attrs.acceleration = Some(a.accel.round() as i64);
            attrs.num_low_frequency = Some(calib as i64);
        }
        Some(m) => {
            let kind = match m {
                Mask::Random => MaskKind::Random,
                Mask::Equispaced => MaskKind::Equispaced,
                _ => MaskKind::EquispacedFraction,
            };
            let mask = fastmri_mask(kind, n, a.center_fraction, a.accel, a.seed)?;
            let cols = mask.to_dense(1, n)?;
            for row in kspace.chunks_exact_mut(n) {
                for (z, &keep) in row.iter_mut().zip(&cols) {
                    if !keep {
                        *z = Complex32::default();
                    }
                }
            }
            attrs.acceleration = Some(a.accel.round() as i64);
            attrs.num_low_frequency = Some(num_low_frequencies(n, a.center_fraction) as i64);
            mask_out = Some(cols);
        }
        None => {}
    }
    let mut vol = FastmriVolume::multicoil(
        [1, c, n, n],
        kspace,
        ImageStack {
            shape: [1, n, n],
            data: target,
        },
    );
    vol.mask = mask_out;
    vol.attrs = attrs;
    write_fastmri(&a.output, &vol).with_context(|| format!("writing {}", a.output.display()))?;
    common::write_sidecar(&a.output, "mri simulate", a, &())
}

fn simulate_noncartesian(a: &Args, kind: Traj, coil_images: &[Complex32]) -> Result<()> {
    let n = a.size;
    let Some(traj_out) = &a.traj_out else {
        bail!("--traj needs --traj-out FILE for the trajectory");
    };
    let readout = a.readout.unwrap_or(n);
    // trajectory (2 × f64) and samples per coil (complex64)
    crate::common::ensure_fits(
        "--spokes × --readout",
        format!("{} × {readout}", a.spokes),
        &[a.spokes, readout, a.coils + 2],
        8,
    )?;
    let kxy = match kind {
        Traj::Radial => {
            let ordering = if a.golden {
                RadialOrdering::GoldenAngle
            } else {
                RadialOrdering::Uniform
            };
            traj::radial(a.spokes, a.readout.unwrap_or(n), ordering)?
        }
        Traj::Spiral => {
            let readout = a.readout.unwrap_or_else(|| {
                (PI * (n * n) as f64 / (4.0 * a.spokes.max(1) as f64)).ceil() as usize
            });
            traj::spiral(
                a.spokes,
                readout,
                traj::spiral_turns_for_nyquist(n, a.spokes),
            )?
        }
    };
    let plan = NufftPlan::new(n, n, &kxy, NufftOptions::default())?;
    let m = plan.n_points();
    let mut y = vec![Complex32::default(); a.coils * m];
    plan.type2(coil_images, &mut y)?;
    add_noise(&mut y, a.noise, a.seed)?;
    write_complex_npy(&a.output, &[a.coils, m], &y)?;
    files::write_npy(traj_out, &[m, 2], &kxy)?;
    common::write_sidecar(&a.output, "mri simulate", a, &())
}

//! `fedrecon mri recon`: k-space → magnitude image.
//!
//! Inputs: a fastMRI `.h5` (every slice, or `--slice i`), a complex `.npy` `(coils, ny, nx)` /
//! `(ny, nx)`, or a BART `.cfl` (row-major view of its dimensions, e.g. `[nx, ny, 1, coils]` →
//! `(coils, 1, ny, nx)`; singleton axes are dropped). With `--traj` the input is non-Cartesian
//! samples `(coils, <points>)` or `(<points>, coils)` on the trajectory's points (see
//! `fedrecon mri nufft`) and `--size N` gives the `N × N` image.
//!
//! Methods (`fedrecon_physics::mri::recon`):
//! - `zf`: zero-filled root-sum-of-squares `√(Σ_c |ifft2c(k_c)|²)` (fastMRI's baseline); with
//!   `--traj`, gridding (Pipe–Menon density compensation, type-1 NUFFT, RSS).
//! - `cgsense`: CG-SENSE on `(AᴴA + λI) x = Aᴴy` (λ Tikhonov, default 0).
//! - `l1`: L1-wavelet (Daubechies-4, 4 levels) by FISTA, `min ½‖Ax − y‖² + λ‖Wx‖₁`.
//! - `tv`: isotropic total variation by PDHG, `min ½‖Ax − y‖² + λ TV(x)`.
//!
//! `A` is Cartesian SENSE `M F S` with the sampling mask `M` taken from the file's `mask` dataset
//! when present, otherwise from the zero pattern of the k-space: a location is sampled when any
//! coil is non-zero there; if that pattern is a set of whole columns (fastMRI's 1-D masks) it is
//! used as a column mask, else as a 2-D mask. With `--traj`, `A` is the NUFFT SENSE operator with
//! the Toeplitz normal operator. Coil maps `S` come from `--maps` (complex `(coils, ny, nx)`) or
//! are estimated (`--estimate-maps`, the default): ESPIRiT (Cartesian default; it needs a
//! calibration square of at least 12 × 12, else `auto` falls back to Walsh) or Walsh
//! (non-Cartesian default) from the largest fully sampled centred calibration block (at most
//! 24 × 24); non-Cartesian data are first gridded and the maps estimated from the centre of the
//! gridded k-space.
//!
//! **Scaling.** The λ values are absolute, so each slice's data are first scaled by `s` such
//! that the zero-filled (or gridded) RSS image peaks at 1; the reconstruction is divided by `s`
//! again, so outputs are on the input's scale and λ is relative to the image peak.
//!
//! Output: `.npy` float32 magnitude `(ny, nx)` for one slice, `(slices, ny, nx)` otherwise, or a
//! fastMRI submission `.h5` (dataset `reconstruction`, `(slices, H, W)`) that `fedrecon mri eval`
//! reads. fastMRI images are centre-cropped to the header's `reconSpace` matrix (clamped to the
//! image), as the fastMRI targets are.

use super::{Trajectory, read_complex, read_trajectory};
use crate::{common, files};
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use fedrecon_io::FastmriFile;
use fedrecon_physics::LinearOperator;
use fedrecon_physics::mri::pipeline::{
    self, SliceOptions, SliceReport, reconstruct_cartesian, reconstruct_noncartesian,
};
use fedrecon_physics::mri::{NufftPlan, SamplingMask};
use num_complex::Complex32;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Reconstruction method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
pub enum Method {
    /// Zero-filled root-sum-of-squares (gridding with --traj).
    Zf,
    /// CG-SENSE (Tikhonov λ, default 0; 20 iterations).
    Cgsense,
    /// Least squares by CGLS through the forward and adjoint operators (20 iterations).
    Cgls,
    /// L1-wavelet by FISTA (λ default 2e-3; 100 iterations).
    L1,
    /// Total variation by PDHG (λ default 2e-3; 150 iterations).
    Tv,
    /// A network trained by `fedrecon train` (--model DIR; Cartesian only). The k-space is
    /// scaled as in training (zero-filled RSS peak 1) and the image scaled back.
    Model,
}

/// Coil-map estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
pub enum MapEstimator {
    /// ESPIRiT for Cartesian data with a calibration square ≥ 12 × 12, else Walsh.
    Auto,
    /// ESPIRiT (Uecker et al. 2014), 6 × 6 kernels.
    Espirit,
    /// Walsh's adaptive combination (Walsh et al. 2000), 7 × 7 windows.
    Walsh,
}

/// Arguments of `fedrecon mri recon`.
#[derive(Debug, ClapArgs, Serialize)]
#[command(
    after_help = "Scaling: each slice's k-space is scaled so that its zero-filled (or \
gridded) RSS image peaks at 1 before the iterative methods run, and the result is scaled back; \
--lambda is therefore relative to the image peak."
)]
pub struct Args {
    /// Reconstruction method.
    #[arg(long, value_enum, default_value = "zf")]
    pub method: Method,
    /// k-space: fastMRI `.h5`, complex `.npy` (coils, ny, nx) or BART `.cfl`; with --traj,
    /// samples (coils, points…) or (points…, coils).
    #[arg(long)]
    pub input: PathBuf,
    /// Only this slice of a fastMRI file (default: all).
    #[arg(long)]
    pub slice: Option<usize>,
    /// Coil maps: complex `.npy` or `.cfl` (coils, ny, nx).
    #[arg(long, conflicts_with = "estimate_maps")]
    pub maps: Option<PathBuf>,
    /// Estimate the coil maps from the calibration region (the default without --maps).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "auto")]
    pub estimate_maps: Option<MapEstimator>,
    /// Non-Cartesian trajectory `.npy` (as `mri nufft --traj`), in cycles/pixel.
    #[arg(long, requires = "size")]
    pub traj: Option<PathBuf>,
    /// Image side N for --traj.
    #[arg(long)]
    pub size: Option<usize>,
    /// Iterations (default: per method, see --method).
    #[arg(long)]
    pub iters: Option<usize>,
    /// Regularisation weight λ relative to the image peak (see Scaling below).
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Trained model directory (`runs/<name>/model` from `fedrecon train`) for --method model.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Output image: `.npy` (float32) or a fastMRI submission `.h5`.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also save a PNG of the (middle) slice, min/max window.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Run the reconstruction N times and print its median time (`time_ms:`) on stderr.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Device of the SENSE operator inside cgsense, cgls, l1 and tv (cuda: coil weighting, FFT or full
    /// NUFFT and mask on the GPU; coil-map estimation, gridding and the solver's vector updates stay
    /// on the CPU).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: common::Device,
}

/// One Cartesian k-space slice `(coils, ny, nx)` and the file's column mask, if any.
struct KSlice {
    coils: usize,
    ny: usize,
    nx: usize,
    data: Vec<Complex32>,
    file_mask: Option<Vec<bool>>,
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
            let mut k = kslice(&a.input, &shape, data)?;
            if let Some(m) = f.mask() {
                if m.len() != k.nx {
                    bail!(
                        "{}: mask has {} entries but k-space has {} columns",
                        a.input.display(),
                        m.len(),
                        k.nx
                    );
                }
                k.file_mask = Some(m.to_vec());
            }
            out.push(k);
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
        file_mask: None,
    })
}

/// The sampling mask of a Cartesian slice: the file's column mask, or the zero pattern.
fn sampling_mask(k: &KSlice) -> Result<SamplingMask> {
    Ok(pipeline::sampling_mask(
        &k.data,
        k.coils,
        k.ny,
        k.nx,
        k.file_mask.clone().map(SamplingMask::columns),
    )?)
}

/// What was resolved for one slice, for the sidecar.
#[derive(Debug, Clone, Serialize)]
struct Resolved {
    method: Method,
    iterations: usize,
    lambda: f64,
    /// Normalisation factor `s`: data × s so the zero-filled image peaks at 1, image ÷ s after.
    scale: f64,
    /// Sampled fraction of the Cartesian grid (1 for non-Cartesian).
    sampled_fraction: f64,
    maps: String,
    calibration: (usize, usize),
}

/// Coil maps from `--maps` (complex `(coils, ny, nx)`), checked against the k-space, if given.
fn given_maps(a: &Args, coils: usize, ny: usize, nx: usize) -> Result<Option<Vec<Complex32>>> {
    let Some(path) = &a.maps else {
        return Ok(None);
    };
    let (shape, data) = read_complex(path)?;
    let dims: Vec<usize> = shape.iter().copied().filter(|&d| d != 1).collect();
    let want: Vec<usize> = if coils == 1 {
        vec![ny, nx]
    } else {
        vec![coils, ny, nx]
    };
    if dims != want {
        bail!(
            "{}: coil maps of shape {shape:?} do not match the k-space of {} ({coils} coils, {ny} × {nx}): need ({coils}, {ny}, {nx})",
            path.display(),
            a.input.display()
        );
    }
    Ok(Some(data))
}

/// The slice settings of `a` (method defaults for unset `--iters` / `--lambda`).
fn slice_options(a: &Args) -> SliceOptions {
    let method = match a.method {
        Method::Zf | Method::Model => pipeline::Method::Zf,
        Method::Cgsense => pipeline::Method::CgSense,
        Method::Cgls => pipeline::Method::Cgls,
        Method::L1 => pipeline::Method::L1,
        Method::Tv => pipeline::Method::Tv,
    };
    let estimator = a.estimate_maps.map(|e| match e {
        MapEstimator::Auto => pipeline::MapEstimator::Auto,
        MapEstimator::Espirit => pipeline::MapEstimator::Espirit,
        MapEstimator::Walsh => pipeline::MapEstimator::Walsh,
    });
    SliceOptions::new(method, a.iters, a.lambda, estimator)
}

impl Resolved {
    fn new(a: &Args, r: SliceReport) -> Self {
        let o = slice_options(a);
        let maps = match (&a.maps, r.maps) {
            (Some(p), "given") => p.display().to_string(),
            (_, name) => name.to_string(),
        };
        Resolved {
            method: a.method,
            iterations: o.iterations,
            lambda: o.lambda,
            scale: r.scale,
            sampled_fraction: r.sampled_fraction,
            maps,
            calibration: r.calibration,
        }
    }
}

/// Reconstruct one Cartesian slice: the `(ny, nx)` magnitude image.
fn reconstruct(
    a: &Args,
    k: &KSlice,
    dev: Option<&fedrecon_cuda::CudaDevice>,
) -> Result<(Vec<f32>, Resolved)> {
    let (coils, ny, nx) = (k.coils, k.ny, k.nx);
    let mask = sampling_mask(k)?;
    if a.method == Method::Model {
        let Some(dir) = &a.model else {
            bail!(
                "--method model needs --model DIR (runs/<name>/model written by `fedrecon train`)"
            );
        };
        let tm = fedrecon_nn::train::TrainedModel::load(dir, &a.device.open()?)
            .with_context(|| format!("loading the model in {}", dir.display()))?;
        let maps = given_maps(a, coils, ny, nx)?;
        let img = tm
            .reconstruct_mri(&k.data, coils, ny, nx, &mask, maps.as_deref())
            .with_context(|| format!("reconstructing {}", a.input.display()))?;
        let report = SliceReport {
            scale: 1.0,
            sampled_fraction: mask.sampled_fraction(ny, nx)?,
            maps: if a.maps.is_some() { "given" } else { "none" },
            calibration: (0, 0),
        };
        return Ok((img, Resolved::new(a, report)));
    }
    let maps = given_maps(a, coils, ny, nx)?;
    let (img, report) = reconstruct_cartesian(
        &k.data,
        coils,
        ny,
        nx,
        mask,
        maps,
        &slice_options(a),
        |maps, mask| -> Result<Box<dyn LinearOperator<Complex32>>> {
            Ok(match dev {
                None => pipeline::cpu_cartesian(maps, coils, ny, nx, mask)?,
                Some(dev) => Box::new(fedrecon_cuda::SenseOperatorCuda::new(
                    dev,
                    &maps,
                    coils,
                    ny,
                    nx,
                    Some(&mask),
                )?),
            })
        },
    )
    .with_context(|| a.input.display().to_string())?;
    Ok((img, Resolved::new(a, report)))
}

/// Non-Cartesian samples `(coils, M)` from `(coils, points…)`, `(points…, coils)`, `(coils, M)`
/// or `(M, coils)`.
fn noncartesian_samples(
    path: &Path,
    shape: &[usize],
    data: Vec<Complex32>,
    traj: &Trajectory,
    traj_path: &Path,
) -> Result<(usize, Vec<Complex32>)> {
    let m = traj.len();
    let p = &traj.points_shape;
    let total = data.len();
    let coils = total / m.max(1);
    if total == 0 || !total.is_multiple_of(m) {
        bail!(
            "{}: samples of shape {shape:?} do not fit the {m} points of {}",
            path.display(),
            traj_path.display()
        );
    }
    let first = shape.len() > p.len() && shape[shape.len() - p.len()..] == p[..];
    let last = shape.len() > p.len() && shape[..p.len()] == p[..];
    let coils_first = if first || (shape.len() == 2 && shape[1] == m) || coils == 1 {
        true
    } else if last || (shape.len() == 2 && shape[0] == m) {
        false
    } else {
        bail!(
            "{}: samples of shape {shape:?} must be (coils, {}) or ({}, coils) for the trajectory {}",
            path.display(),
            fmt_shape(p),
            fmt_shape(p),
            traj_path.display()
        )
    };
    if coils_first {
        return Ok((coils, data));
    }
    let mut out = vec![Complex32::default(); total];
    for q in 0..m {
        for c in 0..coils {
            out[c * m + q] = data[q * coils + c];
        }
    }
    Ok((coils, out))
}

fn fmt_shape(p: &[usize]) -> String {
    p.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reconstruct non-Cartesian samples `(coils, M)` on an `n × n` image.
fn reconstruct_noncart(
    a: &Args,
    traj: &Trajectory,
    n: usize,
    coils: usize,
    samples: &[Complex32],
    dev: Option<&fedrecon_cuda::CudaDevice>,
) -> Result<(Vec<f32>, Resolved)> {
    let maps = given_maps(a, coils, n, n)?;
    let (img, report) = reconstruct_noncartesian(
        &traj.kxy,
        n,
        coils,
        samples,
        maps,
        &slice_options(a),
        |plan: NufftPlan, maps| -> Result<Box<dyn LinearOperator<Complex32>>> {
            Ok(match dev {
                None => pipeline::cpu_noncartesian(plan, maps, coils)?,
                // the full NUFFT per iteration (no Toeplitz embedding on the GPU)
                Some(dev) => Box::new(fedrecon_cuda::NufftSenseOperatorCuda::new(
                    dev, &plan, &maps, coils,
                )?),
            })
        },
    )
    .with_context(|| a.input.display().to_string())?;
    Ok((img, Resolved::new(a, report)))
}

/// Run `fedrecon mri recon`.
pub fn run(a: Args) -> Result<()> {
    if a.method == Method::Zf
        && (a.maps.is_some()
            || a.estimate_maps.is_some()
            || a.iters.is_some()
            || a.lambda.is_some())
    {
        bail!(
            "--maps, --estimate-maps, --iters and --lambda apply to --method cgsense, cgls, l1 or tv, not zf"
        );
    }
    if let (Method::Cgls, Some(l)) = (a.method, a.lambda) {
        bail!("--lambda {l} does not apply to --method cgls (unregularised least squares)");
    }
    if a.model.is_some() != (a.method == Method::Model) {
        bail!("--method model needs --model DIR, and --model applies to --method model only");
    }
    if a.method == Method::Model
        && (a.estimate_maps.is_some()
            || a.iters.is_some()
            || a.lambda.is_some()
            || a.traj.is_some())
    {
        bail!(
            "--estimate-maps, --iters, --lambda and --traj do not apply to --method model (Cartesian k-space; --maps is passed to models that take coil maps)"
        );
    }
    if a.method == Method::Zf {
        common::require_cpu(a.device, "--method zf (no operator to run)")?;
    }
    // the classical operators' kernels; a model runs on burn's backend for --device instead
    let dev = match a.method {
        Method::Model => None,
        _ => common::cuda_kernels(a.device)?,
    };
    let (mut data, mut shape, crop, resolved) = if let Some(tp) = &a.traj {
        let is_h5 = a
            .input
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("h5"));
        if is_h5 || a.slice.is_some() {
            bail!("--traj needs non-Cartesian samples in a .npy or .cfl, not a fastMRI file");
        }
        let n = a.size.unwrap_or(0);
        if n < 2 {
            bail!("--size {n} must be at least 2");
        }
        // the NUFFT's oversampled grid (≤ 4n²), the image and the solver's vectors, complex64
        common::ensure_fits("--size", n, &[n, n, 12], 8)?;
        let traj = read_trajectory(tp)?;
        let (shape, raw) = read_complex(&a.input)?;
        let (coils, samples) = noncartesian_samples(&a.input, &shape, raw, &traj, tp)?;
        let (img, res) = common::timed(a.repeat, || {
            reconstruct_noncart(&a, &traj, n, coils, &samples, dev.as_ref())
        })?;
        (img, [1, n, n], None, vec![res])
    } else {
        if a.size.is_some() {
            bail!("--size applies to non-Cartesian inputs (--traj) only");
        }
        let (slices, crop) = load(&a)?;
        let (ny, nx) = (slices[0].ny, slices[0].nx);
        if slices.iter().any(|s| (s.ny, s.nx) != (ny, nx)) {
            bail!("{}: slices differ in size", a.input.display());
        }
        let out = common::timed(a.repeat, || {
            slices
                .iter()
                .map(|k| reconstruct(&a, k, dev.as_ref()))
                .collect::<Result<Vec<_>>>()
        })?;
        let (imgs, res): (Vec<_>, Vec<_>) = out.into_iter().unzip();
        (
            imgs.into_iter().flatten().collect(),
            [slices.len(), ny, nx],
            crop,
            res,
        )
    };
    if let Some(recon_size) = crop {
        (data, shape) = pipeline::crop_to_recon_size(data, shape, recon_size)?;
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
    common::write_sidecar(&a.output, "mri recon", &a, &resolved)
}

//! `fedrecon ct recon`: sinogram → image with FBP or an iterative solver.

use super::Projector;
use super::backproject::sinogram_geometry;
use crate::common::{self, GeometryArgs};
use crate::files;
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use fedrecon_physics::ct::fbp::{Fbp, FbpFilter, FbpOptions};
use fedrecon_physics::error::check_finite;
use fedrecon_physics::solvers::{self, Iteration, L1WaveletOptions, SirtOptions, TvOptions};
use fedrecon_physics::{CtGeometry, LinearOperator, metrics};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Reconstruction method.
#[derive(Debug, Clone, Copy, ValueEnum, Serialize)]
pub enum Method {
    /// Filtered back-projection (pixel-driven back-projector).
    Fbp,
    /// SIRT (ASTRA's row/column-sum weighting).
    Sirt,
    /// Conjugate gradients on the normal equations.
    Cgls,
    /// ½‖Ax − y‖² + λ TV(x) by Chambolle–Pock PDHG.
    Tv,
    /// ½‖Ax − y‖² + λ‖Wx‖₁ (db4 wavelet, 4 levels) by FISTA.
    L1,
    /// A network trained by `fedrecon train` (--model DIR).
    Model,
}

/// Reconstruction settings shared by `ct recon`, `ct lodopab` and the demo.
#[derive(Debug, Clone, ClapArgs, Serialize)]
pub struct ReconArgs {
    /// Method.
    #[arg(long, value_enum, default_value = "fbp")]
    pub method: Method,
    /// FBP filter: ram-lak, shepp-logan, cosine, hamming, hann.
    #[arg(long, default_value = "ram-lak")]
    pub filter: String,
    /// FBP cut-off as a fraction of Nyquist, in (0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub frequency_scaling: f64,
    /// FBP zero-padded FFT length (default: next power of two ≥ 2·detectors).
    #[arg(long)]
    pub padding: Option<usize>,
    /// Iterations (SIRT, CGLS, TV, L1).
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Regularisation weight λ (TV, L1).
    #[arg(long, default_value_t = 0.01)]
    pub lambda: f64,
    /// Constrain the image to be ≥ 0 (SIRT, TV).
    #[arg(long)]
    pub nonneg: bool,
    /// SIRT relaxation in (0, 2).
    #[arg(long, default_value_t = 1.0)]
    pub relaxation: f64,
    /// Projector model of the iterative methods.
    #[arg(long, value_enum, default_value = "joseph")]
    pub projector: Projector,
    /// Trained model directory (`runs/<name>/model` from `fedrecon train`) for --method model.
    /// Without geometry flags the model's training geometry is used.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

impl ReconArgs {
    /// The trained model of `--method model`.
    pub fn trained_model(
        &self,
        device: common::Device,
    ) -> Result<fedrecon_nn::train::TrainedModel> {
        let Some(dir) = &self.model else {
            bail!(
                "--method model needs --model DIR (runs/<name>/model written by `fedrecon train`)"
            );
        };
        fedrecon_nn::train::TrainedModel::load(dir, &device.open()?)
            .with_context(|| format!("loading the model in {}", dir.display()))
    }
}

/// Whether no geometry flag (nor a geometry file) was given.
fn geometry_unset(g: &GeometryArgs) -> bool {
    g.geometry.is_none()
        && g.beam.is_none()
        && g.angles.is_none()
        && g.arc.is_none()
        && g.detectors.is_none()
        && g.detector_spacing.is_none()
        && g.detector_offset.is_none()
        && g.sod.is_none()
        && g.sdd.is_none()
        && !g.curved
        && g.size.is_none()
        && g.pixel_size.is_none()
}

impl ReconArgs {
    /// Reconstruct `sino` on `g`, with a progress bar for iterative methods when `show` is set.
    pub fn reconstruct(
        &self,
        g: &CtGeometry,
        sino: &[f32],
        show: bool,
        device: common::Device,
    ) -> Result<Vec<f32>> {
        if self.model.is_some() && !matches!(self.method, Method::Model) {
            bail!("--model applies to --method model only");
        }
        if self.nonneg && matches!(self.method, Method::L1) {
            bail!("--nonneg applies to --method sirt or tv, not l1");
        }
        Ok(match self.method {
            // the network on burn's backend for `device` (CUDA: our kernels inside)
            Method::Model => self.trained_model(device)?.reconstruct_ct(g, sino)?,
            Method::Fbp => {
                let opts = FbpOptions {
                    filter: self.filter.parse::<FbpFilter>()?,
                    frequency_scaling: self.frequency_scaling,
                    padded_len: self.padding,
                };
                match common::cuda_kernels(device)? {
                    None => Fbp::new(g.clone(), &opts)?.reconstruct(sino)?,
                    // filter and pixel-driven back-projection both on the GPU
                    Some(dev) => {
                        fedrecon_cuda::FbpCuda::new(&dev, g.clone(), &opts)?.reconstruct(sino)?
                    }
                }
            }
            method => {
                if self.iters == 0 {
                    bail!("--iters must be at least 1");
                }
                let op: Box<dyn LinearOperator<f32>> = self.projector.build(g.clone(), device)?;
                let pb = show.then(|| {
                    common::progress(self.iters as u64, &format!("{method:?}").to_lowercase())
                });
                let mut tick = |it: &Iteration<'_>| {
                    if let Some(pb) = &pb {
                        pb.set_position(it.index as u64);
                    }
                };
                let x = match method {
                    Method::Sirt => {
                        let opts = SirtOptions {
                            iterations: self.iters,
                            relaxation: self.relaxation,
                            nonneg: self.nonneg,
                        };
                        solvers::sirt(op.as_ref(), sino, None, &opts, Some(&mut tick))?
                    }
                    Method::Cgls => {
                        solvers::cgls(op.as_ref(), sino, None, self.iters, Some(&mut tick))?
                    }
                    Method::L1 => {
                        let opts = L1WaveletOptions {
                            iterations: self.iters,
                            lambda: self.lambda,
                            ..L1WaveletOptions::default()
                        };
                        solvers::l1_wavelet(op.as_ref(), sino, None, &opts, Some(&mut tick))?
                    }
                    _ => {
                        let opts = TvOptions {
                            iterations: self.iters,
                            lambda: self.lambda,
                            nonneg: self.nonneg,
                            ..TvOptions::default()
                        };
                        solvers::tv_pdhg(op.as_ref(), sino, None, &opts, Some(&mut tick))?
                    }
                };
                if let Some(pb) = pb {
                    pb.finish_and_clear();
                }
                x
            }
        })
    }
}

/// Arguments of `fedrecon ct recon`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Input sinogram `.npy` (float, shape (angles, detectors)).
    #[arg(long)]
    pub input: PathBuf,
    /// Output image `.npy` (float32, shape (size, size)).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub geometry: GeometryArgs,
    #[command(flatten)]
    pub recon: ReconArgs,
    /// Also save a PNG of the result (min/max window, or --window).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// PNG window `lo,hi`.
    #[arg(long, value_parser = parse_window, allow_hyphen_values = true)]
    pub window: Option<(f32, f32)>,
    /// Ground-truth image `.npy`: print PSNR / SSIM / NMSE of the result against it.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Run the reconstruction N times and print its median time (`time_ms:`) on stderr.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Compute device.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: common::Device,
}

/// Parse `lo,hi`.
pub fn parse_window(s: &str) -> std::result::Result<(f32, f32), String> {
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| format!("window {s:?}: expected lo,hi"))?;
    let lo: f32 = lo
        .trim()
        .parse()
        .map_err(|e| format!("window lo {lo:?}: {e}"))?;
    let hi: f32 = hi
        .trim()
        .parse()
        .map_err(|e| format!("window hi {hi:?}: {e}"))?;
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Err(format!("window {s:?}: need finite lo < hi"));
    }
    Ok((lo, hi))
}

/// Print PSNR (range = reference max − min), SSIM and NMSE of `img` against the file `reference`.
pub fn report_metrics(img: &[f32], shape: [usize; 2], reference: &Path) -> Result<()> {
    let r = files::read_npy(reference)?;
    if r.dims2(reference)? != shape {
        bail!(
            "{}: reference shape {:?} differs from the reconstruction's {:?}",
            reference.display(),
            r.shape,
            shape
        );
    }
    let psnr = metrics::psnr(img, &r.data, None)?;
    let ssim = metrics::ssim(img, &r.data, shape, None)?;
    let nmse = metrics::nmse(img, &r.data)?;
    common::say(&format!(
        "psnr_db: {psnr:.3}\nssim: {ssim:.4}\nnmse: {nmse:.5}"
    ));
    Ok(())
}

/// Run `fedrecon ct recon`.
pub fn run(a: Args) -> Result<()> {
    let sino = files::read_npy(&a.input)?;
    check_finite("input sinogram", &sino.data)?;
    let dims = sino.dims2(&a.input)?;
    let g = if matches!(a.recon.method, Method::Model) && geometry_unset(&a.geometry) {
        let g = a
            .recon
            .trained_model(common::Device::Cpu)?
            .ct_geometry()?
            .clone();
        if g.sino_shape() != dims {
            bail!(
                "{}: sinogram shape {dims:?} differs from the model's training geometry (angles, detectors) = {:?}; give the geometry flags of this scan",
                a.input.display(),
                g.sino_shape()
            );
        }
        g
    } else {
        sinogram_geometry(&a.geometry, dims)?
    };
    let img = common::timed(a.repeat, || {
        a.recon.reconstruct(&g, &sino.data, a.repeat <= 1, a.device)
    })?;
    let shape = g.image_shape();
    files::write_npy(&a.output, &shape, &img)?;
    if let Some(png) = &a.png {
        files::write_png(png, shape, &img, a.window)?;
    }
    common::write_sidecar(&a.output, "ct recon", &a, &g)?;
    if let Some(r) = &a.reference {
        report_metrics(&img, shape, r)?;
    }
    Ok(())
}

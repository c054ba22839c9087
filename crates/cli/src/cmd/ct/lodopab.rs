//! `fedrecon ct lodopab`: reconstruct one LoDoPaB-CT sample and score it against its ground truth.

use super::recon::ReconArgs;
use crate::common;
use crate::files;
use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use fedrecon_io::{LODOPAB, LodopabFile, lodopab::odl_image_to_row_major};
use fedrecon_physics::geometry::{Detector, ImageGrid, ParallelBeam};
use fedrecon_physics::{CtGeometry, metrics};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `fedrecon ct lodopab`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// `observation_<part>_<NNN>.hdf5`.
    #[arg(long)]
    pub observation: PathBuf,
    /// The matching `ground_truth_<part>_<NNN>.hdf5`.
    #[arg(long)]
    pub ground_truth: PathBuf,
    /// Sample index within the files (0-based).
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    #[command(flatten)]
    pub recon: ReconArgs,
    /// Compute device.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: common::Device,
    /// Output reconstruction `.npy` (362 × 362, normalised μ like the ground truth).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also save PNGs: `<png>` for the reconstruction; the ground truth goes next to it.
    #[arg(long)]
    pub png: Option<PathBuf>,
}

/// The LoDoPaB acquisition in fedrecon's conventions, for an observation of shape `sino` and a
/// ground-truth side `n`.
pub fn lodopab_geometry(sino: [usize; 2], n: usize) -> Result<CtGeometry> {
    let std_sino = [LODOPAB.n_angles, LODOPAB.n_detectors];
    if sino != std_sino || n != LODOPAB.image_size {
        bail!(
            "observation shape {sino:?} / ground truth side {n} differ from LoDoPaB's {std_sino:?} / {}",
            LODOPAB.image_size
        );
    }
    let image = ImageGrid::new(n, n, LODOPAB.pixel_size_m())?;
    let det = Detector::new(sino[1], LODOPAB.detector_spacing_m(), 0.0)?;
    Ok(ParallelBeam::new(image, LODOPAB.angles(), det)?.into())
}

/// Run `fedrecon ct lodopab`.
pub fn run(a: Args) -> Result<()> {
    let obs = LodopabFile::open(&a.observation)
        .with_context(|| format!("opening {}", a.observation.display()))?;
    let gt = LodopabFile::open(&a.ground_truth)
        .with_context(|| format!("opening {}", a.ground_truth.display()))?;
    let (sino_shape, sino) = obs
        .read(a.index)
        .with_context(|| format!("reading {}", a.observation.display()))?;
    let (gt_shape, gt_odl) = gt
        .read(a.index)
        .with_context(|| format!("reading {}", a.ground_truth.display()))?;
    if gt_shape[0] != gt_shape[1] {
        bail!(
            "{}: ground truth is not square: {gt_shape:?}",
            a.ground_truth.display()
        );
    }
    fedrecon_physics::error::check_finite("observation", &sino)?;
    let truth = odl_image_to_row_major(gt_shape[0], &gt_odl)?;
    let g = lodopab_geometry(sino_shape, gt_shape[0])?;
    let img = a.recon.reconstruct(&g, &sino, true, a.device)?;
    let shape = g.image_shape();
    let psnr = metrics::psnr(&img, &truth, None)?;
    let ssim = metrics::ssim(&img, &truth, shape, None)?;
    common::say(&format!(
        "sample: {}\npsnr_db: {psnr:.3}\nssim: {ssim:.4}",
        a.index
    ));
    if let Some(out) = &a.output {
        files::write_npy(out, &shape, &img)?;
        common::write_sidecar(out, "ct lodopab", &a, &g)?;
    }
    if let Some(png) = &a.png {
        let (lo, hi) = truth
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        files::write_png(png, shape, &img, Some((lo, hi.max(lo + 1e-6))))?;
        let mut gt_png = png.clone().into_os_string();
        gt_png.push(".truth.png");
        files::write_png(
            &PathBuf::from(gt_png),
            shape,
            &truth,
            Some((lo, hi.max(lo + 1e-6))),
        )?;
    }
    Ok(())
}

//! `fedrecon ct project`: image → sinogram.

use super::Projector;
use crate::cmd::phantom::{self, Kind};
use crate::common::{self, GeometryArgs};
use crate::files;
use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use fedrecon_physics::error::check_finite;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `fedrecon ct project`.
#[derive(Debug, ClapArgs, Serialize)]
pub struct Args {
    /// Input image: `.npy` (float, shape (ny, nx)) or a DICOM CT slice (HU → μ in mm⁻¹ at
    /// 70 keV; the pixel spacing becomes --pixel-size unless given).
    #[arg(long, required_unless_present = "analytic")]
    pub input: Option<PathBuf>,
    /// Output sinogram `.npy` (float32, shape (angles, detectors)).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub geometry: GeometryArgs,
    /// Projector model.
    #[arg(long, value_enum, default_value = "joseph")]
    pub projector: Projector,
    /// Exact line integrals of an ellipse phantom instead of projecting an image
    /// (uses --phantom/--table, and --size for the field of view).
    #[arg(long)]
    pub analytic: bool,
    /// Phantom for --analytic.
    #[arg(long, value_enum, default_value = "modified-shepp-logan")]
    pub phantom: Kind,
    /// Ellipse table for --analytic.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Seed for --phantom ellipses.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run the operator N times and print its median time (`time_ms:`) on stderr.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Compute device.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: common::Device,
}

/// Run `fedrecon ct project`.
pub fn run(a: Args) -> Result<()> {
    let (g, sino) = if a.analytic {
        if a.input.is_some() {
            bail!("--analytic projects a phantom; do not also give --input");
        }
        common::require_cpu(a.device, "--analytic (closed-form line integrals)")?;
        let g = a.geometry.build(None)?;
        let ph = phantom::load(a.phantom, a.table.as_deref(), a.seed, 10)?.fit_to(g.image());
        let sino = common::timed(a.repeat, || Ok(ph.sinogram(&g)))?;
        (g, sino)
    } else {
        let Some(path) = a.input.as_ref() else {
            bail!("--input is required without --analytic")
        };
        let img = files::read_image(path)?;
        check_finite("input image", &img.data)?;
        let mut flags = a.geometry.clone();
        flags.pixel_size = flags.pixel_size.or(img.pixel_size_mm);
        let g = flags.build(Some(img.dims2(path)?))?;
        let op = a.projector.build(g.clone(), a.device)?;
        let sino = common::timed(a.repeat, || Ok(op.forward_vec(&img.data)?))?;
        (g, sino)
    };
    files::write_npy(&a.output, &g.sino_shape(), &sino)?;
    common::write_sidecar(&a.output, "ct project", &a, &g)?;
    Ok(())
}

//! `fedrecon ct backproject`: sinogram → image with the exact adjoint of the projector.

use super::Projector;
use crate::common::{self, GeometryArgs};
use crate::files;
use anyhow::Result;
use clap::Args as ClapArgs;
use fedrecon_physics::error::check_finite;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `fedrecon ct backproject`.
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
    /// Projector whose transpose is applied.
    #[arg(long, value_enum, default_value = "joseph")]
    pub projector: Projector,
    /// Run the operator N times and print its median time (`time_ms:`) on stderr.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Compute device.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: common::Device,
}

/// Check that a sinogram file matches the geometry; `--angles`/`--detectors` default to its shape.
pub fn sinogram_geometry(
    geometry: &GeometryArgs,
    shape: [usize; 2],
) -> Result<fedrecon_physics::CtGeometry> {
    geometry.resolve(None, Some(shape))
}

/// Run `fedrecon ct backproject`.
pub fn run(a: Args) -> Result<()> {
    let sino = files::read_npy(&a.input)?;
    check_finite("input sinogram", &sino.data)?;
    let g = sinogram_geometry(&a.geometry, sino.dims2(&a.input)?)?;
    let op = a.projector.build(g.clone(), a.device)?;
    let img = common::timed(a.repeat, || Ok(op.adjoint_vec(&sino.data)?))?;
    files::write_npy(&a.output, &g.image_shape(), &img)?;
    common::write_sidecar(&a.output, "ct backproject", &a, &g)?;
    Ok(())
}

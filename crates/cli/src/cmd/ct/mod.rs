//! `fedrecon ct …`: CT subcommands, one file each.

pub mod backproject;
pub mod lodopab;
pub mod matrix;
pub mod noise;
pub mod project;
pub mod recon;

use anyhow::Result;
use clap::Subcommand;

/// CT subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Forward-project an image (or an ellipse phantom analytically) to a sinogram.
    Project(project::Args),
    /// Back-project a sinogram with the exact adjoint of the projector.
    Backproject(backproject::Args),
    /// Add Poisson transmission (low-dose) noise to a post-log sinogram.
    Noise(noise::Args),
    /// Reconstruct a sinogram: FBP, SIRT, CGLS or TV.
    Recon(recon::Args),
    /// Reconstruct a LoDoPaB-CT sample and print PSNR / SSIM against its ground truth.
    Lodopab(lodopab::Args),
    /// Write the projector as an explicit sparse matrix (COO `.npy` triplets, scipy-ready).
    Matrix(matrix::Args),
}

/// Dispatch a CT subcommand.
pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Project(a) => project::run(a),
        Command::Backproject(a) => backproject::run(a),
        Command::Noise(a) => noise::run(a),
        Command::Recon(a) => recon::run(a),
        Command::Lodopab(a) => lodopab::run(a),
        Command::Matrix(a) => matrix::run(a),
    }
}

/// Discrete projector model.
#[derive(Debug, Clone, Copy, clap::ValueEnum, serde::Serialize, Default)]
pub enum Projector {
    /// Joseph (linear interpolation), fast; the default.
    #[default]
    Joseph,
    /// Exact ray–pixel intersection lengths (Siddon), slow reference.
    Siddon,
}

impl Projector {
    /// Build the operator on `device`.
    pub fn build(
        self,
        g: fedrecon_physics::CtGeometry,
        device: crate::common::Device,
    ) -> Result<Box<dyn fedrecon_physics::LinearOperator<f32>>> {
        use crate::common::Device;
        Ok(match (self, device) {
            (Projector::Joseph, Device::Cpu) => {
                Box::new(fedrecon_physics::ct::JosephProjector::new(g))
            }
            (Projector::Siddon, Device::Cpu) => {
                Box::new(fedrecon_physics::ct::SiddonProjector::new(g))
            }
            (Projector::Joseph, Device::Cuda(n)) => {
                let dev = fedrecon_cuda::CudaDevice::new(n)?;
                Box::new(fedrecon_cuda::JosephProjectorCuda::new(&dev, g)?)
            }
            (Projector::Siddon, Device::Cuda(_)) => {
                anyhow::bail!(
                    "--device {device}: the Siddon reference projector runs on the CPU only"
                )
            }
        })
    }
}

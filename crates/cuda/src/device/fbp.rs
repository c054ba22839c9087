//! Filtered back-projection on the GPU (`kernels/fbp.cu`).

use super::CudaDevice;
use crate::CudaError;
use crate::pipeline::{FbpPipeline, batch_of};
use cudarc::driver::CudaSlice;
use fedrecon_physics::CtGeometry;
use fedrecon_physics::ct::fbp::FbpOptions;

/// Filtered back-projection on the GPU: the filter (direct convolution with the taps of the CPU
/// `Fbp`'s frequency response, after the fan pre-weights) and the pixel-driven FBP
/// back-projector, both on the device (`fedrecon_physics::ct::fbp::Fbp`; the emulation tests hold
/// the back-projection bit-exact and the whole FBP within 1e-5 relative L2 of the CPU).
pub struct FbpCuda {
    dev: CudaDevice,
    geom: CtGeometry,
    pipe: FbpPipeline<CudaDevice>,
}

impl std::fmt::Debug for FbpCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FbpCuda")
            .field("device", &self.dev)
            .field("pipeline", &self.pipe)
            .finish()
    }
}

impl FbpCuda {
    /// Plan an FBP of `geom` with `opts` on `dev` (option and geometry errors as `Fbp::new`).
    pub fn new(
        dev: &CudaDevice,
        geom: impl Into<CtGeometry>,
        opts: &FbpOptions,
    ) -> Result<Self, CudaError> {
        let geom = geom.into();
        Ok(Self {
            pipe: FbpPipeline::new(dev, &geom, opts)?,
            dev: dev.clone(),
            geom,
        })
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    /// Device-resident `img (batch, ny, nx)` from `sino (batch, n_angles, n_det)`.
    pub fn reconstruct_device(
        &self,
        sino: &CudaSlice<f32>,
        img: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.reconstruct(&self.dev, sino, img)
    }
    /// Device-resident filtering step only.
    pub fn filter_device(
        &self,
        sino: &CudaSlice<f32>,
        q: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.filter(&self.dev, sino, q)
    }
    /// Device-resident pixel-driven back-projection of filtered rows.
    pub fn backproject_device(
        &self,
        q: &CudaSlice<f32>,
        img: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.backproject(&self.dev, q, img)
    }
    /// Host-buffer FBP of a batch of sinograms (`sino.len()` a multiple of `n_angles·n_det`).
    pub fn reconstruct(&self, sino: &[f32]) -> Result<Vec<f32>, CudaError> {
        fedrecon_physics::error::check_finite("sinogram", sino)?;
        let b = batch_of(
            "sinogram (batch, angles, detectors)",
            &self.geom.sino_shape(),
            sino.len(),
        )?;
        let ds = self.dev.upload("the sinogram", sino)?;
        let mut di = self
            .dev
            .zeros::<f32>("the image", b * self.geom.image().len())?;
        self.reconstruct_device(&ds, &mut di)?;
        let mut out = vec![0.0f32; di.len()];
        self.dev.download("the image", &di, &mut out)?;
        Ok(out)
    }
}

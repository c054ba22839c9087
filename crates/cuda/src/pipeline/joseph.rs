//! Joseph's projector (Joseph 1982, IEEE TMI 1(3)) and its exact transpose: the ray table is
//! prepared once on the backend; x-major rays read (and scatter into) a transposed copy of the
//! images so that a warp's accesses are consecutive (see `kernels/joseph.cu`).

use super::{Backend, HostOp, LinearPipeline, batch_i32, batch_of, debug_fields};
use crate::{CudaDevice, CudaError, JosephGeometryTables, launch};
use fedrecon_physics::CtGeometry;
use fedrecon_physics::error::check_len;

/// Joseph's projector `P: (ny, nx) → (n_angles, n_det)` (`f32`) on a backend.
pub struct JosephPipeline<B: Backend> {
    geom: CtGeometry,
    dom: [usize; 2],
    ran: [usize; 2],
    ray_f: B::Buf<f32>,
    ray_i: B::Buf<i32>,
}

debug_fields!(JosephPipeline {
    "domain": |s| s.dom,
    "range": |s| s.ran,
});

impl<B: Backend> JosephPipeline<B> {
    /// Prepare the rays of `geom` (one `joseph_prepare_rays` launch).
    pub fn new(be: &B, geom: &CtGeometry) -> Result<Self, CudaError> {
        let t = JosephGeometryTables::new(geom)?;
        let trig = be.upload("angle table", &t.trig)?;
        let det = be.upload("detector table", &t.det)?;
        let mut ray_f = be.zeros::<f32>("ray table", 3 * t.n_rays())?;
        let mut ray_i = be.zeros::<i32>("ray table", 3 * t.n_rays())?;
        let [h, sod, sdd] = t.lengths();
        launch::joseph_prepare_rays(
            be, t.kind, t.ny, t.nx, t.n_angles, t.n_det, h, sod, sdd, &trig, &det, &mut ray_f,
            &mut ray_i,
        )?;
        Ok(Self {
            geom: geom.clone(),
            dom: geom.image_shape(),
            ran: geom.sino_shape(),
            ray_f,
            ray_i,
        })
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    fn n_rays(&self) -> i64 {
        (self.ran[0] * self.ran[1]) as i64
    }
    fn ny_nx(&self) -> (i32, i32) {
        (self.dom[0] as i32, self.dom[1] as i32)
    }
}

impl<B: Backend> LinearPipeline<B> for JosephPipeline<B> {
    type Elem = f32;
    const NAME: &'static str = "JosephProjectorCuda";
    const X: &'static str = "x (batched image)";
    const Y: &'static str = "y (batched sinogram)";
    fn shape(&self) -> [&[usize]; 2] {
        [&self.dom, &self.ran]
    }
    /// `y = P x`; the x-major rays read a transposed copy of the images, made here in scratch
    /// memory.
    fn forward(&self, be: &B, x: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let b = batch_of(Self::X, &self.dom, be.len(x))?;
        check_len(Self::Y, &[b, self.ran[0], self.ran[1]], be.len(y))?;
        let ((ny, nx), bi) = (self.ny_nx(), batch_i32(b)?);
        let mut xt = be.zeros::<f32>("the transposed image", be.len(x))?;
        launch::joseph_transpose(be, ny, nx, bi, 0, x, &mut xt)?;
        let rays = (&self.ray_f, &self.ray_i);
        launch::joseph_forward(be, ny, nx, self.n_rays(), bi, rays.0, rays.1, x, &xt, y)?;
        Ok(b)
    }
    /// `x = Pᵀ y`; the x-major rays scatter into a transposed accumulator that is then added into
    /// `x`.
    fn adjoint(&self, be: &B, y: &B::Buf<f32>, x: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let b = batch_of(Self::Y, &self.ran, be.len(y))?;
        check_len(Self::X, &[b, self.dom[0], self.dom[1]], be.len(x))?;
        let ((ny, nx), bi) = (self.ny_nx(), batch_i32(b)?);
        be.fill_zero::<f32>("the image", x)?;
        let mut xt = be.zeros::<f32>("the transposed accumulator", be.len(x))?;
        let rays = (&self.ray_f, &self.ray_i);
        launch::joseph_backward(be, ny, nx, self.n_rays(), bi, rays.0, rays.1, y, x, &mut xt)?;
        launch::joseph_transpose(be, nx, ny, bi, 1, &xt, x)?;
        Ok(b)
    }
}

/// Joseph projector on the GPU: the same operator as `fedrecon_physics::ct::JosephProjector`
/// (domain `(ny, nx)` image, range `(n_angles, n_det)` sinogram, `f32`), with its exact
/// transpose; the rays are prepared once, on the device, at construction.
pub type JosephProjectorCuda = HostOp<CudaDevice, JosephPipeline<CudaDevice>>;

impl JosephProjectorCuda {
    /// Compile (once per device) the kernels and prepare the rays of `geom` on `dev`.
    pub fn new(dev: &CudaDevice, geom: impl Into<CtGeometry>) -> Result<Self, CudaError> {
        let pipe = JosephPipeline::new(dev, &geom.into())?;
        Ok(Self::from_pipeline(dev.clone(), pipe))
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        self.pipeline().geometry()
    }
}

//! Joseph's projector on the GPU (`kernels/joseph.cu`).

use super::memory::{batch_i32, config, launch};
use super::{CudaDevice, guarded};
use crate::kernels::KernelFile;
use crate::pipeline::batch_of;
use crate::{CudaError, JOSEPH_BLOCK, JOSEPH_TRANSPOSE_BLOCK, JosephGeometryTables, blocks_for};
use cudarc::driver::{CudaSlice, PushKernelArg};
use fedrecon_physics::error::check_len;
use fedrecon_physics::{CtGeometry, LinearOperator};

/// Joseph projector on the GPU: the same operator as `fedrecon_physics::ct::JosephProjector`
/// (domain `(ny, nx)` image, range `(n_angles, n_det)` sinogram, `f32`), with its exact transpose.
///
/// The rays are prepared once, on the device, at construction. The [`LinearOperator`] methods copy
/// host buffers to the device and back; [`Self::forward_device`] and [`Self::adjoint_device`] work
/// on device-resident batches. Because the trait's `apply_*` methods have no error channel, they
/// panic (with the driver's message) if the device fails after construction (e.g. out of memory);
/// [`Self::try_forward`] and [`Self::try_adjoint`] return that as an error instead.
pub struct JosephProjectorCuda {
    dev: CudaDevice,
    geom: CtGeometry,
    dom: [usize; 2],
    ran: [usize; 2],
    ray_f: CudaSlice<f32>,
    ray_i: CudaSlice<i32>,
}

impl std::fmt::Debug for JosephProjectorCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JosephProjectorCuda")
            .field("device", &self.dev)
            .field("domain", &self.dom)
            .field("range", &self.ran)
            .finish()
    }
}

impl JosephProjectorCuda {
    /// Compile (once per device) the kernels and prepare the rays of `geom` on `dev`.
    pub fn new(dev: &CudaDevice, geom: impl Into<CtGeometry>) -> Result<Self, CudaError> {
        let geom = geom.into();
        let t = JosephGeometryTables::new(&geom)?;
        let prep = dev.function(KernelFile::Joseph, "joseph_prepare_rays")?;
        let trig = dev.upload("angle table", &t.trig)?;
        let det = dev.upload("detector table", &t.det)?;
        let mut ray_f = dev.zeros::<f32>("ray table", 3 * t.n_rays())?;
        let mut ray_i = dev.zeros::<i32>("ray table", 3 * t.n_rays())?;
        let [h, sod, sdd] = t.lengths();
        let stream = dev.stream();
        let mut launch = stream.launch_builder(&prep);
        launch
            .arg(&t.kind)
            .arg(&t.ny)
            .arg(&t.nx)
            .arg(&t.n_angles)
            .arg(&t.n_det)
            .arg(&h)
            .arg(&sod)
            .arg(&sdd)
            .arg(&trig)
            .arg(&det)
            .arg(&mut ray_f)
            .arg(&mut ray_i);
        // SAFETY: the argument list matches `joseph_prepare_rays`' signature (int ×5, double ×3,
        // const double* ×2, float*, int*); `trig`/`det` hold 2·n_angles / 2·n_det values and the
        // ray tables 3·n_rays, and the grid covers n_rays threads, each of which writes only its
        // own record.
        guarded("launching joseph_prepare_rays", || unsafe {
            launch.launch(config(t.grid(), JOSEPH_BLOCK))
        })?;
        Ok(Self {
            dev: dev.clone(),
            dom: geom.image_shape(),
            ran: geom.sino_shape(),
            geom,
            ray_f,
            ray_i,
        })
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    /// The device.
    pub fn device(&self) -> &CudaDevice {
        &self.dev
    }
    fn n_rays(&self) -> usize {
        self.ran[0] * self.ran[1]
    }
    fn dims(&self, batch: usize) -> Result<(i32, i32, i64, i32, u32), CudaError> {
        Ok((
            self.dom[0] as i32,
            self.dom[1] as i32,
            self.n_rays() as i64,
            batch_i32(batch)?,
            blocks_for("angles × detectors", self.n_rays(), JOSEPH_BLOCK)?,
        ))
    }
    /// `dst = srcᵀ` (or `+=`) for `batch` arrays `(rows, cols)`.
    fn transpose(
        &self,
        [rows, cols]: [usize; 2],
        batch: usize,
        accumulate: bool,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let (r, c, b, acc) = (
            rows as i32,
            cols as i32,
            batch_i32(batch)?,
            accumulate as i32,
        );
        let grid = blocks_for(
            "batch × ny × nx",
            batch * rows * cols,
            JOSEPH_TRANSPOSE_BLOCK,
        )?;
        // SAFETY (launch contract): matches `joseph_transpose` (int ×4, const float*, float*);
        // both buffers hold batch·rows·cols values (checked by the callers).
        launch!(
            self.dev,
            KernelFile::Joseph,
            "joseph_transpose",
            grid,
            JOSEPH_TRANSPOSE_BLOCK,
            [&r, &c, &b, &acc, src, dst]
        )
    }
    /// `y = P x` for a batch of device-resident images `(batch, ny, nx)` into `(batch, n_angles,
    /// n_det)`; returns the batch size. The x-major rays read a transposed copy of the images
    /// (coalesced reads; see `kernels/joseph.cu`), made here in device scratch memory.
    pub fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of("x (batched image)", &self.dom, x.len())?;
        check_len(
            "y (batched sinogram)",
            &[b, self.ran[0], self.ran[1]],
            y.len(),
        )?;
        let mut xt = self.dev.zeros::<f32>("the transposed image", x.len())?;
        self.transpose(self.dom, b, false, x, &mut xt)?;
        let (ny, nx, n_rays, bi, grid) = self.dims(b)?;
        // SAFETY (launch contract): matches `joseph_forward` (int, int, long long, int,
        // const float*, const int*, const float* ×2, float*); `x`/`xt` hold `batch` images
        // (ny, nx)/(nx, ny) and `y` `batch` sinograms (checked above), the ray table was built for
        // this geometry so its step ranges lie inside the image, and the grid covers every ray.
        launch!(
            self.dev,
            KernelFile::Joseph,
            "joseph_forward",
            grid,
            JOSEPH_BLOCK,
            [&ny, &nx, &n_rays, &bi, &self.ray_f, &self.ray_i, x, &xt, y]
        )?;
        Ok(b)
    }
    /// `x = Pᵀ y` for a batch of device-resident sinograms; returns the batch size. The x-major
    /// rays scatter into a transposed accumulator that is then added into `x`.
    pub fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of("y (batched sinogram)", &self.ran, y.len())?;
        check_len("x (batched image)", &[b, self.dom[0], self.dom[1]], x.len())?;
        guarded("zeroing the image", || self.dev.stream().memset_zeros(x))?;
        let mut xt = self
            .dev
            .zeros::<f32>("the transposed accumulator", x.len())?;
        let (ny, nx, n_rays, bi, grid) = self.dims(b)?;
        // SAFETY (launch contract): matches `joseph_backward` (int, int, long long, int,
        // const float*, const int*, const float*, float* ×2); buffers as in `forward_device`,
        // every atomic add lands inside `x` or `xt`.
        launch!(
            self.dev,
            KernelFile::Joseph,
            "joseph_backward",
            grid,
            JOSEPH_BLOCK,
            [
                &ny,
                &nx,
                &n_rays,
                &bi,
                &self.ray_f,
                &self.ray_i,
                y,
                &mut *x,
                &mut xt
            ]
        )?;
        self.transpose([self.dom[1], self.dom[0]], b, true, &xt, x)?;
        Ok(b)
    }
    /// Host-buffer forward projection of a batch (`x.len()` a multiple of `ny·nx`).
    pub fn try_forward(&self, x: &[f32], y: &mut [f32]) -> Result<usize, CudaError> {
        let b = batch_of("x (batched image)", &self.dom, x.len())?;
        check_len(
            "y (batched sinogram)",
            &[b, self.ran[0], self.ran[1]],
            y.len(),
        )?;
        let dx = self.dev.upload("the image", x)?;
        let mut dy = self.dev.zeros::<f32>("the sinogram", y.len())?;
        self.forward_device(&dx, &mut dy)?;
        self.dev.download("the sinogram", &dy, y)?;
        Ok(b)
    }
    /// Host-buffer back-projection of a batch (`y.len()` a multiple of `n_angles·n_det`).
    pub fn try_adjoint(&self, y: &[f32], x: &mut [f32]) -> Result<usize, CudaError> {
        let b = batch_of("y (batched sinogram)", &self.ran, y.len())?;
        check_len("x (batched image)", &[b, self.dom[0], self.dom[1]], x.len())?;
        let dy = self.dev.upload("the sinogram", y)?;
        let mut dx = self.dev.zeros::<f32>("the image", x.len())?;
        self.adjoint_device(&dy, &mut dx)?;
        self.dev.download("the image", &dx, x)?;
        Ok(b)
    }
}

impl LinearOperator<f32> for JosephProjectorCuda {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, x: &[f32], y: &mut [f32]) {
        if let Err(e) = self.try_forward(x, y) {
            panic!("JosephProjectorCuda forward failed on the device: {e}");
        }
    }
    fn apply_adjoint(&self, y: &[f32], x: &mut [f32]) {
        if let Err(e) = self.try_adjoint(y, x) {
            panic!("JosephProjectorCuda adjoint failed on the device: {e}");
        }
    }
    fn forward_batch(&self, x: &[f32], y: &mut [f32]) -> fedrecon_physics::Result<usize> {
        // one batched launch instead of one per image; shape errors are reported as errors
        let b = match batch_of("x (batched domain)", &self.dom, x.len()) {
            Ok(b) => b,
            Err(CudaError::Physics(e)) => return Err(e),
            Err(e) => panic!("{e}"),
        };
        check_len("y (batched range)", &[b, self.ran[0], self.ran[1]], y.len())?;
        self.apply_forward(x, y);
        Ok(b)
    }
    fn adjoint_batch(&self, y: &[f32], x: &mut [f32]) -> fedrecon_physics::Result<usize> {
        let b = match batch_of("y (batched range)", &self.ran, y.len()) {
            Ok(b) => b,
            Err(CudaError::Physics(e)) => return Err(e),
            Err(e) => panic!("{e}"),
        };
        check_len(
            "x (batched domain)",
            &[b, self.dom[0], self.dom[1]],
            x.len(),
        )?;
        self.apply_adjoint(y, x);
        Ok(b)
    }
}

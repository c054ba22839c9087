//! The 2-D NUFFT (`fedrecon_physics::mri::NufftPlan`): gridding with FINUFFT's
//! exponential-of-semicircle kernel ψ (Barnett, Magland, af Klinteberg 2019) — spreading of point
//! values onto the periodic fine grid and its transpose, interpolation — and the full transform,
//! type 2 = deapodise and zero-pad, FFT on the fine grid, interpolate; type 1 = its adjoint.

use super::{Backend, Fft2Pipeline, HostOp, LinearPipeline, batch_i32, batch_of, debug_fields};
use crate::{CudaDevice, CudaError, NUFFT_BLOCK, NufftTables, blocks_for, launch};
use fedrecon_physics::PhysicsError;
use fedrecon_physics::error::check_len;
use fedrecon_physics::mri::NufftPlan;
use fedrecon_physics::mri::nufft::{EsKernel, MAX_KERNEL_WIDTH, check_trajectory};
use num_complex::Complex32;

/// Spreading `c (M) ↦ G (nfy, nfx)` and its transpose, interpolation, on a backend (interleaved
/// complex, batched).
pub struct GriddingPipeline<B: Backend> {
    traj: B::Buf<f32>,
    m: [usize; 1],
    nf: [usize; 2],
    kernel: EsKernel,
}

debug_fields!(GriddingPipeline {
    "points": |s| s.m[0],
    "fine_shape": |s| s.nf,
    "kernel": |s| &s.kernel,
});

impl<B: Backend> GriddingPipeline<B> {
    /// The gridding of `plan` (its trajectory, fine grid and kernel).
    pub fn from_plan(be: &B, plan: &NufftPlan) -> Result<Self, CudaError> {
        Self::new(be, plan.trajectory(), plan.fine_shape(), plan.kernel())
    }
    /// Gridding of the `(M, 2)` trajectory `traj` (`(kx, ky)` in cycles/pixel, in `[−0.5, 0.5]`)
    /// onto a fine grid `(nfy, nfx)` with `kernel`.
    pub fn new(
        be: &B,
        traj: &[f32],
        (nfy, nfx): (usize, usize),
        kernel: EsKernel,
    ) -> Result<Self, CudaError> {
        let m = check_trajectory(traj)?;
        if !(2..=MAX_KERNEL_WIDTH).contains(&kernel.width) {
            return Err(PhysicsError::InvalidArgument {
                name: "kernel.width",
                value: kernel.width.to_string(),
                reason: format!("must be in 2..={MAX_KERNEL_WIDTH}"),
            }
            .into());
        }
        for (field, n) in [("nfy", nfy), ("nfx", nfx)] {
            if n < kernel.width {
                return Err(PhysicsError::InvalidArgument {
                    name: field,
                    value: n.to_string(),
                    reason: format!(
                        "fine grid must be at least the kernel width {}",
                        kernel.width
                    ),
                }
                .into());
            }
            crate::tables::to_i32(field, n)?;
        }
        blocks_for("points", m, NUFFT_BLOCK)?;
        Ok(Self {
            traj: be.upload("the trajectory", traj)?,
            m: [m],
            nf: [nfy, nfx],
            kernel,
        })
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.m[0]
    }
    /// Fine grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        (self.nf[0], self.nf[1])
    }
    fn args(&self) -> (i64, i32, i32, i32, f32) {
        let k = &self.kernel;
        let [nfy, nfx] = self.nf;
        (
            self.m[0] as i64,
            nfy as i32,
            nfx as i32,
            k.width as i32,
            k.beta as f32,
        )
    }
}

impl<B: Backend> LinearPipeline<B> for GriddingPipeline<B> {
    type Elem = Complex32;
    const NAME: &'static str = "NufftGriddingCuda";
    fn shape(&self) -> [&[usize]; 2] {
        [&self.m, &self.nf]
    }
    /// `grid (batch, nfy, nfx) = spread(c (batch, M))`.
    fn forward(&self, be: &B, c: &B::Buf<f32>, grid: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let b = batch_of(
            "c (batched interleaved point values)",
            &[self.m[0], 2],
            be.len(c),
        )?;
        let [nfy, nfx] = self.nf;
        check_len(
            "grid (batched interleaved fine grid)",
            &[b, nfy, nfx, 2],
            be.len(grid),
        )?;
        be.fill_zero::<f32>("the fine grid", grid)?;
        let (m, nfy, nfx, w, beta) = self.args();
        launch::nufft_spread(be, m, nfy, nfx, w, beta, batch_i32(b)?, &self.traj, c, grid)?;
        Ok(b)
    }
    /// `y (batch, M) = interp(grid (batch, nfy, nfx))`.
    fn adjoint(&self, be: &B, grid: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let [nfy, nfx] = self.nf;
        let b = batch_of(
            "grid (batched interleaved fine grid)",
            &[nfy, nfx, 2],
            be.len(grid),
        )?;
        check_len(
            "y (batched interleaved point values)",
            &[b, self.m[0], 2],
            be.len(y),
        )?;
        let (m, nfy, nfx, w, beta) = self.args();
        launch::nufft_interp(be, m, nfy, nfx, w, beta, batch_i32(b)?, &self.traj, grid, y)?;
        Ok(b)
    }
}

/// The full 2-D NUFFT of a plan (type 2 forward, type 1 adjoint), batched, on a backend.
pub struct NufftPipeline<B: Backend> {
    tables: NufftTables,
    dy: B::Buf<f32>,
    dx: B::Buf<f32>,
    fft: Fft2Pipeline<B>,
    gridding: GriddingPipeline<B>,
}

debug_fields!(NufftPipeline {
    "image": |s| s.tables.image,
    "fine": |s| s.tables.fine,
    "gridding": |s| &s.gridding,
});

impl<B: Backend> NufftPipeline<B> {
    /// The NUFFT of `plan` (its trajectory, fine grid, kernel and deapodisation).
    pub fn new(be: &B, plan: &NufftPlan) -> Result<Self, CudaError> {
        let tables = NufftTables::new(plan)?;
        let [nfy, nfx] = tables.fine;
        Ok(Self {
            dy: be.upload("deapodisation", &tables.deapod_y)?,
            dx: be.upload("deapodisation", &tables.deapod_x)?,
            fft: Fft2Pipeline::new(be, nfy, nfx)?,
            gridding: GriddingPipeline::from_plan(be, plan)?,
            tables,
        })
    }
    /// Image `(ny, nx)`.
    pub fn image_shape(&self) -> (usize, usize) {
        (self.tables.image[0], self.tables.image[1])
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.gridding.n_points()
    }
    /// Fine grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        (self.tables.fine[0], self.tables.fine[1])
    }
    fn dims(&self) -> (i32, i32, i32, i32) {
        let [ny, nx] = self.tables.image;
        let [nfy, nfx] = self.tables.fine;
        (ny as i32, nx as i32, nfy as i32, nfx as i32)
    }
    fn fine_grids(&self, be: &B, b: usize) -> Result<[B::Buf<f32>; 2], CudaError> {
        let [nfy, nfx] = self.tables.fine;
        Ok([
            be.zeros::<f32>("the fine grid", 2 * b * nfy * nfx)?,
            be.zeros::<f32>("the fine grid", 2 * b * nfy * nfx)?,
        ])
    }
    /// Type 2 of `f` `(batch, ny, nx)` into `y` `(batch, M)`; returns the batch size.
    pub fn type2(&self, be: &B, f: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let [ny, nx] = self.tables.image;
        let b = batch_of("f (batch, ny, nx, re/im)", &[ny, nx, 2], be.len(f))?;
        check_len("y (batch, M, re/im)", &[b, self.n_points(), 2], be.len(y))?;
        let [mut g1, mut g2] = self.fine_grids(be, b)?;
        let (ny, nx, nfy, nfx) = self.dims();
        let bi = batch_i32(b)?;
        launch::nufft_deapod_pad(be, ny, nx, nfy, nfx, bi, &self.dy, &self.dx, f, &mut g1)?;
        let in_g2 = self.fft.run(be, b, false, &mut g1, &mut g2)?;
        self.gridding.adjoint(be, if in_g2 { &g2 } else { &g1 }, y)
    }
    /// Type 1 of `c` `(batch, M)` into `f` `(batch, ny, nx)`; returns the batch size.
    pub fn type1(&self, be: &B, c: &B::Buf<f32>, f: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let [ny, nx] = self.tables.image;
        let b = batch_of("c (batch, M, re/im)", &[self.n_points(), 2], be.len(c))?;
        check_len("f (batch, ny, nx, re/im)", &[b, ny, nx, 2], be.len(f))?;
        let [mut g1, mut g2] = self.fine_grids(be, b)?;
        self.gridding.forward(be, c, &mut g1)?;
        let in_g2 = self.fft.run(be, b, true, &mut g1, &mut g2)?;
        let g = if in_g2 { &g2 } else { &g1 };
        let (ny, nx, nfy, nfx) = self.dims();
        launch::nufft_crop_deapod(
            be,
            ny,
            nx,
            nfy,
            nfx,
            batch_i32(b)?,
            &self.dy,
            &self.dx,
            g,
            f,
        )?;
        Ok(b)
    }
}

impl<B: Backend> LinearPipeline<B> for NufftPipeline<B> {
    type Elem = Complex32;
    const NAME: &'static str = "NufftPlanCuda";
    fn shape(&self) -> [&[usize]; 2] {
        [&self.tables.image, &self.gridding.m]
    }
    fn forward(&self, be: &B, x: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        self.type2(be, x, y)
    }
    fn adjoint(&self, be: &B, y: &B::Buf<f32>, x: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        self.type1(be, y, x)
    }
}

/// NUFFT gridding on the GPU: the `ψ`-convolution steps of `fedrecon_physics::mri::NufftPlan`
/// (without FFT or deapodisation) as the operator `spread: (M) → (nfy, nfx)`, whose adjoint is
/// the interpolation. Values are interleaved complex `f32` on the device, batched.
pub type NufftGriddingCuda = HostOp<CudaDevice, GriddingPipeline<CudaDevice>>;

impl NufftGriddingCuda {
    /// The gridding of `plan` (its trajectory, fine grid and kernel) on `dev`.
    pub fn from_plan(dev: &CudaDevice, plan: &NufftPlan) -> Result<Self, CudaError> {
        Ok(Self::from_pipeline(
            dev.clone(),
            GriddingPipeline::from_plan(dev, plan)?,
        ))
    }
    /// Gridding of the `(M, 2)` trajectory `traj` onto a fine grid `(nfy, nfx)` with `kernel`.
    pub fn new(
        dev: &CudaDevice,
        traj: &[f32],
        fine_shape: (usize, usize),
        kernel: EsKernel,
    ) -> Result<Self, CudaError> {
        let pipe = GriddingPipeline::new(dev, traj, fine_shape, kernel)?;
        Ok(Self::from_pipeline(dev.clone(), pipe))
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.pipeline().n_points()
    }
    /// Fine grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        self.pipeline().fine_shape()
    }
    /// Host-buffer spreading of a batch of point-value vectors.
    pub fn spread(&self, c: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        self.try_forward_vec(c)
    }
    /// Host-buffer interpolation of a batch of fine grids.
    pub fn interp(&self, grid: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        self.try_adjoint_vec(grid)
    }
}

/// The full 2-D NUFFT on the GPU as the [`fedrecon_physics::LinearOperator`] `(ny, nx) → (M)` of
/// `NufftPlan` (forward type 2, adjoint type 1), batched over a leading (coil) axis in one launch
/// sequence.
pub type NufftPlanCuda = HostOp<CudaDevice, NufftPipeline<CudaDevice>>;

impl NufftPlanCuda {
    /// The NUFFT of `plan` (trajectory, fine grid, kernel, deapodisation) on `dev`.
    pub fn new(dev: &CudaDevice, plan: &NufftPlan) -> Result<Self, CudaError> {
        Ok(Self::from_pipeline(
            dev.clone(),
            NufftPipeline::new(dev, plan)?,
        ))
    }
    /// Device-resident type 2 of `f (batch, ny, nx)` (interleaved complex) into `y (batch, M)`.
    pub fn type2_device(
        &self,
        f: &<CudaDevice as Backend>::Buf<f32>,
        y: &mut <CudaDevice as Backend>::Buf<f32>,
    ) -> Result<usize, CudaError> {
        self.forward_device(f, y)
    }
    /// Device-resident type 1 of `c (batch, M)` into `f (batch, ny, nx)`.
    pub fn type1_device(
        &self,
        c: &<CudaDevice as Backend>::Buf<f32>,
        f: &mut <CudaDevice as Backend>::Buf<f32>,
    ) -> Result<usize, CudaError> {
        self.adjoint_device(c, f)
    }
}

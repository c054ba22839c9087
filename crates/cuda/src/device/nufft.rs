//! The NUFFT on the GPU (`kernels/nufft.cu` with the FFT of `kernels/fft.cu`).

use super::host::{complex_operator, host_apply};
use super::memory::{batch_i32, config};
use super::{CudaDevice, guarded};
use crate::kernels::KernelFile;
use crate::pipeline::{NufftPipeline, NufftSensePipeline, batch_of, deinterleave, interleave};
use crate::{CudaError, NUFFT_BLOCK, blocks_for};
use cudarc::driver::{CudaFunction, CudaSlice, PushKernelArg};
use fedrecon_physics::LinearOperator;
use fedrecon_physics::PhysicsError;
use fedrecon_physics::error::check_len;
use fedrecon_physics::mri::NufftPlan;
use fedrecon_physics::mri::nufft::{EsKernel, MAX_KERNEL_WIDTH, check_trajectory};
use num_complex::Complex32;

/// NUFFT gridding on the GPU with FINUFFT's exponential-of-semicircle kernel ψ: spreading of
/// point values onto the periodic fine grid `(nfy, nfx)` and its transpose, interpolation (the
/// `ψ`-convolution steps of `fedrecon_physics::mri::NufftPlan`, without FFT or deapodisation).
/// Values are interleaved complex `f32`, batched over a leading axis.
pub struct NufftGriddingCuda {
    dev: CudaDevice,
    traj: CudaSlice<f32>,
    m: usize,
    nf: [usize; 2],
    kernel: EsKernel,
    spread: CudaFunction,
    interp: CudaFunction,
}

impl std::fmt::Debug for NufftGriddingCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NufftGriddingCuda")
            .field("device", &self.dev)
            .field("points", &self.m)
            .field("fine_shape", &self.nf)
            .field("kernel", &self.kernel)
            .finish()
    }
}

impl NufftGriddingCuda {
    /// The gridding of `plan` (its trajectory, fine grid and kernel) on `dev`.
    pub fn from_plan(dev: &CudaDevice, plan: &NufftPlan) -> Result<Self, CudaError> {
        Self::new(dev, plan.trajectory(), plan.fine_shape(), plan.kernel())
    }
    /// Gridding of the `(M, 2)` trajectory `traj` (`(kx, ky)` in cycles/pixel, in `[−0.5, 0.5]`)
    /// onto a fine grid `(nfy, nfx)` with `kernel`.
    pub fn new(
        dev: &CudaDevice,
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
            i32::try_from(n).map_err(|_| CudaError::TooLarge {
                field,
                value: n,
                reason: "must fit in a 32-bit signed integer",
            })?;
        }
        blocks_for("points", m, NUFFT_BLOCK)?;
        Ok(Self {
            dev: dev.clone(),
            traj: dev.upload("the trajectory", traj)?,
            m,
            nf: [nfy, nfx],
            kernel,
            spread: dev.function(KernelFile::Nufft, "nufft_spread")?,
            interp: dev.function(KernelFile::Nufft, "nufft_interp")?,
        })
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.m
    }
    /// Fine grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        (self.nf[0], self.nf[1])
    }
    fn launch(
        &self,
        func: &CudaFunction,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
        batch: usize,
    ) -> Result<(), CudaError> {
        let m = self.m as i64;
        let (nfy, nfx) = (self.nf[0] as i32, self.nf[1] as i32);
        let w = self.kernel.width as i32;
        let beta = self.kernel.beta as f32;
        let b = batch_i32(batch)?;
        let blocks = blocks_for("points", self.m, NUFFT_BLOCK)?;
        let stream = self.dev.stream();
        let mut l = stream.launch_builder(func);
        l.arg(&m)
            .arg(&nfy)
            .arg(&nfx)
            .arg(&w)
            .arg(&beta)
            .arg(&b)
            .arg(&self.traj)
            .arg(src)
            .arg(dst);
        // SAFETY: matches `nufft_spread`/`nufft_interp` (long long, int ×3, float, int,
        // const float* ×2, float*); the trajectory holds 2·M values, the callers checked the
        // interleaved lengths 2·batch·M and 2·batch·nfy·nfx, grid indices are wrapped in the kernel,
        // w ≤ FEDRECON_NUFFT_MAX_WIDTH, and the grid covers M threads.
        guarded("launching a NUFFT gridding kernel", || unsafe {
            l.launch(config(blocks, NUFFT_BLOCK))
        })?;
        Ok(())
    }
    /// Device-resident `grid (batch, nfy, nfx) = spread(c (batch, M))`; returns the batch size.
    pub fn spread_device(
        &self,
        c: &CudaSlice<f32>,
        grid: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "c (batched interleaved point values)",
            &[self.m, 2],
            c.len(),
        )?;
        check_len(
            "grid (batched interleaved fine grid)",
            &[b, self.nf[0], self.nf[1], 2],
            grid.len(),
        )?;
        guarded("zeroing the fine grid", || {
            self.dev.stream().memset_zeros(grid)
        })?;
        self.launch(&self.spread, c, grid, b)?;
        Ok(b)
    }
    /// Device-resident `y (batch, M) = interp(grid (batch, nfy, nfx))`; returns the batch size.
    pub fn interp_device(
        &self,
        grid: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "grid (batched interleaved fine grid)",
            &[self.nf[0], self.nf[1], 2],
            grid.len(),
        )?;
        check_len(
            "y (batched interleaved point values)",
            &[b, self.m, 2],
            y.len(),
        )?;
        self.launch(&self.interp, grid, y, b)?;
        Ok(b)
    }
    /// Host-buffer spreading of a batch of point-value vectors.
    pub fn spread(&self, c: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of("c (batched point values)", &[self.m], c.len())?;
        let dc = self.dev.upload("point values", &interleave(c))?;
        let mut dg = self
            .dev
            .zeros::<f32>("the fine grid", 2 * b * self.nf[0] * self.nf[1])?;
        self.spread_device(&dc, &mut dg)?;
        let mut g = vec![0.0f32; dg.len()];
        self.dev.download("the fine grid", &dg, &mut g)?;
        Ok(deinterleave(&g))
    }
    /// Host-buffer interpolation of a batch of fine grids.
    pub fn interp(&self, grid: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of("grid (batched fine grid)", &self.nf, grid.len())?;
        let dg = self.dev.upload("the fine grid", &interleave(grid))?;
        let mut dy = self.dev.zeros::<f32>("point values", 2 * b * self.m)?;
        self.interp_device(&dg, &mut dy)?;
        let mut y = vec![0.0f32; dy.len()];
        self.dev.download("point values", &dy, &mut y)?;
        Ok(deinterleave(&y))
    }
}

/// The full 2-D NUFFT on the GPU — deapodisation, the oversampled-grid FFT (the mixed-radix
/// Stockham kernel) and ES-kernel interpolation/spreading — as the [`LinearOperator`]
/// `(ny, nx) → (M)` of `fedrecon_physics::mri::NufftPlan` (forward type 2, adjoint type 1),
/// batched over a leading (coil) axis in one launch sequence. [`Self::type2_device`] and
/// [`Self::type1_device`] keep data on the device; the trait methods copy host buffers (and panic
/// with the driver's message if the device fails after construction; `try_*` return it).
pub struct NufftPlanCuda {
    dev: CudaDevice,
    pipe: NufftPipeline<CudaDevice>,
    dom: [usize; 2],
    ran: [usize; 1],
}

impl NufftPlanCuda {
    /// The NUFFT of `plan` (trajectory, fine grid, kernel, deapodisation) on `dev`.
    pub fn new(dev: &CudaDevice, plan: &NufftPlan) -> Result<Self, CudaError> {
        let (ny, nx) = plan.image_shape();
        Ok(Self {
            pipe: NufftPipeline::new(dev, plan)?,
            dev: dev.clone(),
            dom: [ny, nx],
            ran: [plan.n_points()],
        })
    }
    /// Device-resident type 2 of `f (batch, ny, nx)` (interleaved complex) into `y (batch, M)`.
    pub fn type2_device(
        &self,
        f: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.type2(&self.dev, f, y)
    }
    /// Device-resident type 1 of `c (batch, M)` into `f (batch, ny, nx)`.
    pub fn type1_device(
        &self,
        c: &CudaSlice<f32>,
        f: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.type1(&self.dev, c, f)
    }
    fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.type2_device(x, y)
    }
    fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.type1_device(y, x)
    }
}

complex_operator!(NufftPlanCuda, "NufftPlanCuda");

/// Non-Cartesian multi-coil SENSE `y_c = A(S_c ⊙ x)` on the GPU (`NufftSenseOperator` without the
/// Toeplitz option): coil weighting and the full NUFFT of all coils in one batched sequence,
/// `(ny, nx) → (coils, M)`.
pub struct NufftSenseOperatorCuda {
    dev: CudaDevice,
    pipe: NufftSensePipeline<CudaDevice>,
    dom: [usize; 2],
    ran: [usize; 2],
}

impl NufftSenseOperatorCuda {
    /// Coil `maps (coils, ny, nx)` with the NUFFT of `plan`, on `dev`.
    pub fn new(
        dev: &CudaDevice,
        plan: &NufftPlan,
        maps: &[Complex32],
        coils: usize,
    ) -> Result<Self, CudaError> {
        let (ny, nx) = plan.image_shape();
        Ok(Self {
            pipe: NufftSensePipeline::new(dev, plan, maps, coils)?,
            dev: dev.clone(),
            dom: [ny, nx],
            ran: [coils, plan.n_points()],
        })
    }
    /// Device-resident `y (batch, coils, M) = A S x (batch, ny, nx)`.
    pub fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.forward(&self.dev, x, y)
    }
    /// Device-resident `x = Sᴴ Aᴴ y`.
    pub fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.adjoint(&self.dev, y, x)
    }
}

complex_operator!(NufftSenseOperatorCuda, "NufftSenseOperatorCuda");

//! SENSE on the GPU (`kernels/sense.cu` with the FFT of `kernels/fft.cu`).

use super::host::{complex_operator, host_apply};
use super::memory::{batch_i32, config};
use super::{CudaDevice, guarded};
use crate::kernels::KernelFile;
use crate::pipeline::{SensePipeline, batch_of, deinterleave, interleave};
use crate::{CudaError, SENSE_BLOCK, blocks_for};
use cudarc::driver::{CudaFunction, CudaSlice, PushKernelArg};
use fedrecon_physics::LinearOperator;
use fedrecon_physics::PhysicsError;
use fedrecon_physics::error::check_len;
use fedrecon_physics::mri::SamplingMask;
use num_complex::Complex32;

/// Coil sensitivities resident on the GPU, for the SENSE weighting kernels:
/// `expand: x (ny, nx) ↦ S_c ⊙ x (coils, ny, nx)` and `reduce: t ↦ Σ_c conj(S_c) ⊙ t_c`, each
/// batched over a leading axis. (The centred FFT between them is not part of these kernels.)
pub struct SenseMapsCuda {
    dev: CudaDevice,
    maps: CudaSlice<f32>,
    coils: usize,
    ny: usize,
    nx: usize,
    expand: CudaFunction,
    reduce: CudaFunction,
}

impl std::fmt::Debug for SenseMapsCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenseMapsCuda")
            .field("device", &self.dev)
            .field("coils", &self.coils)
            .field("ny", &self.ny)
            .field("nx", &self.nx)
            .finish()
    }
}

impl SenseMapsCuda {
    /// Upload `maps (coils, ny, nx)`.
    pub fn new(
        dev: &CudaDevice,
        maps: &[Complex32],
        coils: usize,
        ny: usize,
        nx: usize,
    ) -> Result<Self, CudaError> {
        if coils == 0 {
            return Err(PhysicsError::InvalidArgument {
                name: "coils",
                value: coils.to_string(),
                reason: "need at least one coil".into(),
            }
            .into());
        }
        check_len("maps (coils, ny, nx)", &[coils, ny, nx], maps.len())?;
        i32::try_from(coils).map_err(|_| CudaError::TooLarge {
            field: "coils",
            value: coils,
            reason: "must fit in a 32-bit signed integer",
        })?;
        Ok(Self {
            dev: dev.clone(),
            maps: dev.upload("the coil maps", &interleave(maps))?,
            coils,
            ny,
            nx,
            expand: dev.function(KernelFile::Sense, "sense_expand")?,
            reduce: dev.function(KernelFile::Sense, "sense_reduce")?,
        })
    }
    fn launch(
        &self,
        func: &CudaFunction,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
        batch: usize,
    ) -> Result<(), CudaError> {
        let n_pix = (self.ny * self.nx) as i64;
        let coils = self.coils as i32;
        let b = batch_i32(batch)?;
        let blocks = blocks_for("batch × ny × nx", batch * self.ny * self.nx, SENSE_BLOCK)?;
        let stream = self.dev.stream();
        let mut l = stream.launch_builder(func);
        l.arg(&n_pix)
            .arg(&coils)
            .arg(&b)
            .arg(&self.maps)
            .arg(src)
            .arg(dst);
        // SAFETY: matches `sense_expand`/`sense_reduce` (long long, int, int, const float* ×3,
        // float*); the callers checked the interleaved lengths 2·batch·n_pix and
        // 2·batch·coils·n_pix, and the grid covers batch·n_pix threads.
        guarded("launching a SENSE kernel", || unsafe {
            l.launch(config(blocks, SENSE_BLOCK))
        })?;
        Ok(())
    }
    /// Device-resident `out (batch, coils, ny, nx) = S ⊙ x (batch, ny, nx)`, interleaved
    /// complex `f32`; returns the batch size.
    pub fn expand_device(
        &self,
        x: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "x (batched interleaved image)",
            &[self.ny, self.nx, 2],
            x.len(),
        )?;
        check_len(
            "out (batched interleaved coil images)",
            &[b, self.coils, self.ny, self.nx, 2],
            out.len(),
        )?;
        self.launch(&self.expand, x, out, b)?;
        Ok(b)
    }
    /// Device-resident `x (batch, ny, nx) = Σ_c conj(S_c) ⊙ t_c`; returns the batch size.
    pub fn reduce_device(
        &self,
        t: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "t (batched interleaved coil images)",
            &[self.coils, self.ny, self.nx, 2],
            t.len(),
        )?;
        check_len(
            "x (batched interleaved image)",
            &[b, self.ny, self.nx, 2],
            x.len(),
        )?;
        self.launch(&self.reduce, t, x, b)?;
        Ok(b)
    }
    /// Host-buffer `S ⊙ x` for a batch of images.
    pub fn expand(&self, x: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of("x (batched image)", &[self.ny, self.nx], x.len())?;
        let dx = self.dev.upload("the image", &interleave(x))?;
        let mut dout = self
            .dev
            .zeros::<f32>("coil images", 2 * b * self.coils * self.ny * self.nx)?;
        self.expand_device(&dx, &mut dout)?;
        let mut out = vec![0.0f32; dout.len()];
        self.dev.download("coil images", &dout, &mut out)?;
        Ok(deinterleave(&out))
    }
    /// Host-buffer `Σ_c conj(S_c) ⊙ t_c` for a batch of coil-image stacks.
    pub fn reduce(&self, t: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of(
            "t (batched coil images)",
            &[self.coils, self.ny, self.nx],
            t.len(),
        )?;
        let dt = self.dev.upload("coil images", &interleave(t))?;
        let mut dx = self
            .dev
            .zeros::<f32>("the image", 2 * b * self.ny * self.nx)?;
        self.reduce_device(&dt, &mut dx)?;
        let mut x = vec![0.0f32; dx.len()];
        self.dev.download("the image", &dx, &mut x)?;
        Ok(deinterleave(&x))
    }
}

/// Cartesian multi-coil SENSE `y_c = M ⊙ fft2c(S_c ⊙ x)` on the GPU (`SenseOperator`): the coil
/// weighting, the centred orthonormal FFT (exact shifts around the Stockham kernel) and the mask,
/// `(ny, nx) → (coils, ny, nx)`, batched over a leading axis. Device-resident
/// [`Self::forward_device`] / [`Self::adjoint_device`]; host-buffer trait methods as
/// [`NufftPlanCuda`]'s.
pub struct SenseOperatorCuda {
    dev: CudaDevice,
    pipe: SensePipeline<CudaDevice>,
    dom: [usize; 2],
    ran: [usize; 3],
}

impl SenseOperatorCuda {
    /// Coil `maps (coils, ny, nx)` and an optional sampling mask, on `dev`.
    pub fn new(
        dev: &CudaDevice,
        maps: &[Complex32],
        coils: usize,
        ny: usize,
        nx: usize,
        mask: Option<&SamplingMask>,
    ) -> Result<Self, CudaError> {
        fedrecon_physics::error::check_finite(
            "maps",
            &maps.iter().flat_map(|c| [c.re, c.im]).collect::<Vec<f32>>(),
        )?;
        Ok(Self {
            pipe: SensePipeline::new(dev, maps, coils, (ny, nx), mask)?,
            dev: dev.clone(),
            dom: [ny, nx],
            ran: [coils, ny, nx],
        })
    }
    /// Device-resident `y (batch, coils, ny, nx) = M F S x (batch, ny, nx)`.
    pub fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.forward(&self.dev, x, y)
    }
    /// Device-resident `x = Sᴴ Fᴴ M y`.
    pub fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.adjoint(&self.dev, y, x)
    }
}

complex_operator!(SenseOperatorCuda, "SenseOperatorCuda");

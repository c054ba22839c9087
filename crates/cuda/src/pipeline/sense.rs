//! Multi-coil SENSE (Pruessmann et al. 1999, MRM 42(5)): the coil weighting `S_c ⊙ x` and its
//! adjoint `Σ_c conj(S_c) ⊙ t_c`, followed per coil by a transform `T` — Cartesian SENSE
//! `y_c = M ⊙ fft2c(S_c ⊙ x)`, non-Cartesian SENSE `y_c = A(S_c ⊙ x)` with the NUFFT `A` — as
//! `fedrecon_physics::mri::sense`.

use super::{
    Backend, Fft2Pipeline, HostOp, LinearPipeline, NufftPipeline, batch_i32, batch_of,
    debug_fields, interleave,
};
use crate::{CudaDevice, CudaError, launch};
use fedrecon_physics::PhysicsError;
use fedrecon_physics::error::{check_finite, check_len};
use fedrecon_physics::mri::{NufftPlan, SamplingMask};
use num_complex::Complex32;

/// Coil maps on a backend: `expand: x (ny, nx) ↦ S ⊙ x (coils, ny, nx)` and its adjoint
/// `reduce: t ↦ Σ_c conj(S_c) ⊙ t_c`, batched (the FFT between them is not part of these).
pub struct SenseWeights<B: Backend> {
    maps: B::Buf<f32>,
    dom: [usize; 2],
    ran: [usize; 3],
}

debug_fields!(SenseWeights {
    "coils": |s| s.ran[0],
    "shape": |s| s.dom,
});

impl<B: Backend> SenseWeights<B> {
    /// Upload `maps (coils, ny, nx)`.
    pub fn new(
        be: &B,
        maps: &[Complex32],
        coils: usize,
        (ny, nx): (usize, usize),
    ) -> Result<Self, CudaError> {
        if coils == 0 {
            return Err(PhysicsError::InvalidArgument {
                name: "coils",
                value: coils.to_string(),
                reason: "need at least one coil".into(),
            }
            .into());
        }
        crate::tables::to_i32("coils", coils)?;
        check_len("maps (coils, ny, nx)", &[coils, ny, nx], maps.len())?;
        Ok(Self {
            maps: be.upload("the coil maps", &interleave(maps))?,
            dom: [ny, nx],
            ran: [coils, ny, nx],
        })
    }
    /// Number of coils.
    pub fn coils(&self) -> usize {
        self.ran[0]
    }
    fn n_pix(&self) -> i64 {
        (self.dom[0] * self.dom[1]) as i64
    }
    fn image_batch(&self, what: &'static str, len: usize) -> Result<usize, CudaError> {
        batch_of(what, &[self.dom[0], self.dom[1], 2], len)
    }
}

impl<B: Backend> LinearPipeline<B> for SenseWeights<B> {
    type Elem = Complex32;
    const NAME: &'static str = "SenseMapsCuda";
    fn shape(&self) -> [&[usize]; 2] {
        [&self.dom, &self.ran]
    }
    /// `out (batch, coils, ny, nx) = S ⊙ x (batch, ny, nx)`.
    fn forward(&self, be: &B, x: &B::Buf<f32>, out: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let b = self.image_batch("x (batched interleaved image)", be.len(x))?;
        check_len(
            "out (batched interleaved coil images)",
            &[b, 2 * self.ran.iter().product::<usize>()],
            be.len(out),
        )?;
        let (c, bi) = (self.coils() as i32, batch_i32(b)?);
        launch::sense_expand(be, self.n_pix(), c, bi, &self.maps, x, out)?;
        Ok(b)
    }
    /// `x (batch, ny, nx) = Σ_c conj(S_c) ⊙ t_c`.
    fn adjoint(&self, be: &B, t: &B::Buf<f32>, x: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let b = batch_of(
            "t (batched interleaved coil images)",
            &[self.ran[0], self.ran[1], self.ran[2], 2],
            be.len(t),
        )?;
        check_len(
            "x (batched interleaved image)",
            &[b, self.dom[0], self.dom[1], 2],
            be.len(x),
        )?;
        let (c, bi) = (self.coils() as i32, batch_i32(b)?);
        launch::sense_reduce(be, self.n_pix(), c, bi, &self.maps, t, x)?;
        Ok(b)
    }
}

/// The transform of every coil image after the weighting: Cartesian SENSE's masked centred FFT
/// or the NUFFT.
pub trait CoilTransform<B: Backend>: LinearPipeline<B, Elem = Complex32> {
    /// Name of the SENSE operator built on it.
    const SENSE: &'static str;
}

/// fastMRI's centred orthonormal FFT followed by an optional sampling mask, `y = M fft2c(x)`, of
/// `(ny, nx)` images on a backend (its adjoint is `ifft2c(M y)`).
pub struct MaskedFft<B: Backend> {
    fft: Fft2Pipeline<B>,
    mask: Option<B::Buf<f32>>,
    shape: [usize; 2],
}

debug_fields!(MaskedFft {
    "shape": |s| s.shape,
    "masked": |s| s.mask.is_some(),
});

impl<B: Backend> MaskedFft<B> {
    /// The FFT of `(ny, nx)` images and an optional mask.
    pub fn new(
        be: &B,
        (ny, nx): (usize, usize),
        mask: Option<&SamplingMask>,
    ) -> Result<Self, CudaError> {
        let mask = match mask {
            None => None,
            Some(m) => {
                m.check_shape(ny, nx)?;
                let dense: Vec<f32> = m
                    .to_dense(ny, nx)?
                    .into_iter()
                    .map(|s| if s { 1.0 } else { 0.0 })
                    .collect();
                Some(be.upload("the sampling mask", &dense)?)
            }
        };
        Ok(Self {
            fft: Fft2Pipeline::new(be, ny, nx)?,
            mask,
            shape: [ny, nx],
        })
    }
    /// `dst = fft2c(src)` masked at the output, or (`inverse`) `ifft2c` of `src` masked at the input.
    fn apply(
        &self,
        be: &B,
        inverse: bool,
        src: &B::Buf<f32>,
        dst: &mut B::Buf<f32>,
    ) -> Result<usize, CudaError> {
        let [ny, nx] = self.shape;
        let b = batch_of("images (batch, ny, nx, re/im)", &[ny, nx, 2], be.len(src))?;
        check_len(
            "images (batch, ny, nx, re/im)",
            &[b, ny, nx, 2],
            be.len(dst),
        )?;
        let (mut s1, mut s2) = (
            be.zeros::<f32>("FFT scratch", be.len(src))?,
            be.zeros::<f32>("FFT scratch", be.len(src))?,
        );
        let mask = self.mask.as_ref().map(|m| (m, inverse));
        self.fft
            .centred(be, b, inverse, mask, src, dst, &mut s1, &mut s2)?;
        Ok(b)
    }
}

impl<B: Backend> LinearPipeline<B> for MaskedFft<B> {
    type Elem = Complex32;
    const NAME: &'static str = "MaskedFft";
    fn shape(&self) -> [&[usize]; 2] {
        [&self.shape, &self.shape]
    }
    fn forward(&self, be: &B, x: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        self.apply(be, false, x, y)
    }
    fn adjoint(&self, be: &B, y: &B::Buf<f32>, x: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        self.apply(be, true, y, x)
    }
}

impl<B: Backend> CoilTransform<B> for MaskedFft<B> {
    const SENSE: &'static str = "SenseOperatorCuda";
}

impl<B: Backend> CoilTransform<B> for NufftPipeline<B> {
    const SENSE: &'static str = "NufftSenseOperatorCuda";
}

/// Multi-coil SENSE `y_c = T(S_c ⊙ x)` on a backend, for a per-coil transform `T`, all coils in
/// one batched sequence; its adjoint is `x = Σ_c conj(S_c) ⊙ Tᴴ y_c`.
pub struct CoilPipeline<B: Backend, T> {
    weights: SenseWeights<B>,
    transform: T,
    ran: Vec<usize>,
}

impl<B: Backend, T: std::fmt::Debug> std::fmt::Debug for CoilPipeline<B, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoilPipeline")
            .field("weights", &self.weights)
            .field("transform", &self.transform)
            .finish()
    }
}

impl<B: Backend, T: CoilTransform<B>> CoilPipeline<B, T> {
    fn from_parts(weights: SenseWeights<B>, transform: T) -> Self {
        let ran = std::iter::once(weights.coils())
            .chain(transform.range().iter().copied())
            .collect();
        Self {
            weights,
            transform,
            ran,
        }
    }
    /// Number of coils.
    pub fn coils(&self) -> usize {
        self.weights.coils()
    }
    /// `(ny, nx)`.
    pub fn image_shape(&self) -> (usize, usize) {
        (self.weights.dom[0], self.weights.dom[1])
    }
    /// The per-coil transform.
    pub fn transform(&self) -> &T {
        &self.transform
    }
    fn coil_images(&self, be: &B, batch: usize) -> Result<B::Buf<f32>, CudaError> {
        be.zeros::<f32>(
            "coil images",
            2 * batch * self.weights.ran.iter().product::<usize>(),
        )
    }
}

impl<B: Backend, T: CoilTransform<B>> LinearPipeline<B> for CoilPipeline<B, T> {
    type Elem = Complex32;
    const NAME: &'static str = T::SENSE;
    fn shape(&self) -> [&[usize]; 2] {
        [&self.weights.dom, &self.ran]
    }
    /// `y (batch, coils, …) = T S x (batch, ny, nx)`.
    fn forward(&self, be: &B, x: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let (ny, nx) = self.image_shape();
        let b = batch_of("x (batch, ny, nx, re/im)", &[ny, nx, 2], be.len(x))?;
        let n_ran: usize = self.ran.iter().product();
        check_len("y (batch, coils, …, re/im)", &[b, n_ran, 2], be.len(y))?;
        let mut t = self.coil_images(be, b)?;
        self.weights.forward(be, x, &mut t)?;
        self.transform.forward(be, &t, y)?;
        Ok(b)
    }
    /// `x = Sᴴ Tᴴ y`.
    fn adjoint(&self, be: &B, y: &B::Buf<f32>, x: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        let (ny, nx) = self.image_shape();
        let n_ran: usize = self.ran.iter().product();
        let b = batch_of("y (batch, coils, …, re/im)", &[n_ran, 2], be.len(y))?;
        check_len("x (batch, ny, nx, re/im)", &[b, ny, nx, 2], be.len(x))?;
        let mut t = self.coil_images(be, b)?;
        self.transform.adjoint(be, y, &mut t)?;
        self.weights.adjoint(be, &t, x)
    }
}

/// Cartesian multi-coil SENSE `y_c = M ⊙ fft2c(S_c ⊙ x)` on a backend (`SenseOperator`).
pub type SensePipeline<B> = CoilPipeline<B, MaskedFft<B>>;

impl<B: Backend> SensePipeline<B> {
    /// Coil `maps` `(coils, ny, nx)` and an optional mask.
    pub fn new(
        be: &B,
        maps: &[Complex32],
        coils: usize,
        shape: (usize, usize),
        mask: Option<&SamplingMask>,
    ) -> Result<Self, CudaError> {
        let weights = SenseWeights::new(be, maps, coils, shape)?;
        Ok(Self::from_parts(weights, MaskedFft::new(be, shape, mask)?))
    }
}

/// Non-Cartesian multi-coil SENSE `y_c = A(S_c ⊙ x)` with the NUFFT `A` on a backend
/// (`NufftSenseOperator`).
pub type NufftSensePipeline<B> = CoilPipeline<B, NufftPipeline<B>>;

impl<B: Backend> NufftSensePipeline<B> {
    /// Coil `maps` `(coils, ny, nx)` with the NUFFT of `plan`.
    pub fn new(
        be: &B,
        plan: &NufftPlan,
        maps: &[Complex32],
        coils: usize,
    ) -> Result<Self, CudaError> {
        let weights = SenseWeights::new(be, maps, coils, plan.image_shape())?;
        Ok(Self::from_parts(weights, NufftPipeline::new(be, plan)?))
    }
    /// The NUFFT.
    pub fn nufft(&self) -> &NufftPipeline<B> {
        &self.transform
    }
}

/// Coil sensitivities resident on the GPU, for the SENSE weighting kernels: `S ⊙ x` (forward,
/// [`Self::expand`]) and `Σ_c conj(S_c) ⊙ t_c` (adjoint, [`Self::reduce`]), batched.
pub type SenseMapsCuda = HostOp<CudaDevice, SenseWeights<CudaDevice>>;

impl SenseMapsCuda {
    /// Upload `maps (coils, ny, nx)`.
    pub fn new(
        dev: &CudaDevice,
        maps: &[Complex32],
        coils: usize,
        ny: usize,
        nx: usize,
    ) -> Result<Self, CudaError> {
        Ok(Self::from_pipeline(
            dev.clone(),
            SenseWeights::new(dev, maps, coils, (ny, nx))?,
        ))
    }
    /// Host-buffer `S ⊙ x` for a batch of images.
    pub fn expand(&self, x: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        self.try_forward_vec(x)
    }
    /// Host-buffer `Σ_c conj(S_c) ⊙ t_c` for a batch of coil-image stacks.
    pub fn reduce(&self, t: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        self.try_adjoint_vec(t)
    }
}

/// fastMRI's centred orthonormal 2-D FFT `y = M ⊙ fft2c(x)` (optional mask `M`) on the GPU
/// (`fedrecon_physics::mri::CenteredFft2`), `(ny, nx) → (ny, nx)` complex, batched over a leading
/// axis; its adjoint is `ifft2c(M ⊙ y)`.
pub type CentredFft2Cuda = HostOp<CudaDevice, MaskedFft<CudaDevice>>;

impl CentredFft2Cuda {
    /// The FFT of `(ny, nx)` images with an optional sampling mask, on `dev`.
    pub fn new(
        dev: &CudaDevice,
        ny: usize,
        nx: usize,
        mask: Option<&SamplingMask>,
    ) -> Result<Self, CudaError> {
        let pipe = MaskedFft::new(dev, (ny, nx), mask)?;
        Ok(Self::from_pipeline(dev.clone(), pipe))
    }
}

/// Cartesian multi-coil SENSE `y_c = M ⊙ fft2c(S_c ⊙ x)` on the GPU (`SenseOperator`): the coil
/// weighting, the centred orthonormal FFT (exact shifts around the Stockham kernel) and the mask,
/// `(ny, nx) → (coils, ny, nx)`, batched over a leading axis.
pub type SenseOperatorCuda = HostOp<CudaDevice, SensePipeline<CudaDevice>>;

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
        check_finite("maps", &interleave(maps))?;
        let pipe = SensePipeline::new(dev, maps, coils, (ny, nx), mask)?;
        Ok(Self::from_pipeline(dev.clone(), pipe))
    }
}

/// Non-Cartesian multi-coil SENSE `y_c = A(S_c ⊙ x)` on the GPU (`NufftSenseOperator` without the
/// Toeplitz option): coil weighting and the full NUFFT of all coils in one batched sequence,
/// `(ny, nx) → (coils, M)`.
pub type NufftSenseOperatorCuda = HostOp<CudaDevice, NufftSensePipeline<CudaDevice>>;

impl NufftSenseOperatorCuda {
    /// Coil `maps (coils, ny, nx)` with the NUFFT of `plan`, on `dev`.
    pub fn new(
        dev: &CudaDevice,
        plan: &NufftPlan,
        maps: &[Complex32],
        coils: usize,
    ) -> Result<Self, CudaError> {
        let pipe = NufftSensePipeline::new(dev, plan, maps, coils)?;
        Ok(Self::from_pipeline(dev.clone(), pipe))
    }
}

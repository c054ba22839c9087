//! The launch sequences of the GPU operators, written once, generically over a [`Backend`]
//! that launches single kernels, and the host-buffer operators built on them.
//!
//! The device back end (feature `cuda`) implements [`Backend`] with cudarc launches on device
//! buffers; the emulation tests implement it with the host-C++ kernels of `fedrecon-cuda-emu` on
//! `Vec`s. So the tests run *this* code — the pass order, the ping-pong between buffers, the
//! strides, shifts, batch sizes, and the host plumbing of [`HostOp`] — not a copy of it.
//!
//! Operators (all values interleaved complex `f32` unless stated; leading axes are batches):
//! - [`JosephPipeline`]: Joseph's projector `P` and its exact transpose (real `f32`);
//! - [`FbpPipeline`]: `Q = filter(pre ⊙ p)` then `f = B Q` (pixel-driven), `fedrecon_physics::ct::
//!   fbp::Fbp`'s two steps;
//! - [`Fft2Pipeline`]: uncentred 2-D FFTs and fastMRI's centred orthonormal `fft2c`/`ifft2c`
//!   (`ifftshift`, FFT, `fftshift`, scale `1/√(ny·nx)`: shifts are exact copies);
//! - [`GriddingPipeline`]: ES-kernel spreading onto the fine grid and its transpose, interpolation;
//! - [`NufftPipeline`]: type 2 = deapodise and zero-pad, FFT on the fine grid, interpolate;
//!   type 1 = spread, inverse FFT, crop and deapodise (`NufftPlan::type2` / `type1`);
//! - [`SenseWeights`]: `S_c ⊙ x` and `Σ_c conj(S_c) ⊙ t_c`;
//! - [`SensePipeline`]: `y_c = M ⊙ fft2c(S_c ⊙ x)` and `x = Σ_c conj(S_c) ⊙ ifft2c(M ⊙ y_c)`;
//! - [`NufftSensePipeline`]: `y_c = A(S_c ⊙ x)`, `x = Σ_c conj(S_c) ⊙ Aᴴ y_c`.

mod fbp;
mod fft;
mod joseph;
mod nufft;
mod sense;

pub use crate::backend::{
    Arg, Backend, Buffer, Elem, HostBackend, HostCall, HostLaunch, KernelDecl, Launch,
};
pub use fbp::{FbpCuda, FbpPipeline};
pub use fft::Fft2Pipeline;
pub use joseph::{JosephPipeline, JosephProjectorCuda};
pub use nufft::{GriddingPipeline, NufftGriddingCuda, NufftPipeline, NufftPlanCuda};
pub use sense::{
    CentredFft2Cuda, CoilPipeline, CoilTransform, MaskedFft, NufftSenseOperatorCuda,
    NufftSensePipeline, SenseMapsCuda, SenseOperatorCuda, SensePipeline, SenseWeights,
};

use crate::CudaError;
use fedrecon_physics::error::check_len;
use fedrecon_physics::scalar::Scalar;
use fedrecon_physics::{LinearOperator, PhysicsError};
use num_complex::Complex32;

/// `len / per` when `len` is a positive multiple of `per`, else a shape error naming `what`.
pub(crate) fn batch_of(
    what: &'static str,
    shape: &[usize],
    len: usize,
) -> Result<usize, CudaError> {
    let n: usize = shape.iter().product();
    if n == 0 || len == 0 || !len.is_multiple_of(n) {
        return Err(PhysicsError::ShapeMismatch {
            what,
            expected: n,
            shape: std::iter::once(1).chain(shape.iter().copied()).collect(),
            got: len,
        }
        .into());
    }
    Ok(len / n)
}

/// `batch` as the kernels' `int`.
fn batch_i32(batch: usize) -> Result<i32, CudaError> {
    crate::tables::to_i32("batch", batch)
}

/// Interleave complex values as `(re, im)` floats.
pub fn interleave(z: &[Complex32]) -> Vec<f32> {
    z.iter().flat_map(|c| [c.re, c.im]).collect()
}

/// The inverse of [`interleave`].
pub fn deinterleave(f: &[f32]) -> Vec<Complex32> {
    f.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

/// A host value type of the operators: `f32`, or `Complex32` stored as two floats.
pub trait HostElem: Scalar {
    /// Floats per value.
    const FLOATS: usize;
    /// The values as the kernels store them.
    fn to_floats(x: &[Self]) -> Vec<f32>;
    /// The inverse of [`Self::to_floats`] into `out`.
    fn from_floats(f: &[f32], out: &mut [Self]);
}

impl HostElem for f32 {
    const FLOATS: usize = 1;
    fn to_floats(x: &[f32]) -> Vec<f32> {
        x.to_vec()
    }
    fn from_floats(f: &[f32], out: &mut [f32]) {
        out.copy_from_slice(f);
    }
}

impl HostElem for Complex32 {
    const FLOATS: usize = 2;
    fn to_floats(x: &[Complex32]) -> Vec<f32> {
        interleave(x)
    }
    fn from_floats(f: &[f32], out: &mut [Complex32]) {
        for (o, p) in out.iter_mut().zip(f.chunks_exact(2)) {
            *o = Complex32::new(p[0], p[1]);
        }
    }
}

/// Upload `x`, run `f` on the backend into a zeroed buffer of `out.len()` values, download into
/// `out`; returns what `f` returns (the batch size).
pub(crate) fn run_on_host<B: Backend, E: HostElem>(
    be: &B,
    x: &[E],
    out: &mut [E],
    f: impl FnOnce(&B::Buf<f32>, &mut B::Buf<f32>) -> Result<usize, CudaError>,
) -> Result<usize, CudaError> {
    let dx = be.upload("the input", &E::to_floats(x))?;
    let mut dy = be.zeros::<f32>("the output", E::FLOATS * out.len())?;
    let b = f(&dx, &mut dy)?;
    E::from_floats(&be.to_host::<f32>("the output", &dy)?, out);
    Ok(b)
}

/// A launch sequence with a forward map and its adjoint, on backend buffers.
pub trait LinearPipeline<B: Backend> {
    /// The host value type (`f32`, or `Complex32` interleaved on the backend).
    type Elem: HostElem;
    /// The operator's name in messages.
    const NAME: &'static str;
    /// Name of the batched domain in shape errors.
    const X: &'static str = "x (batched domain)";
    /// Name of the batched range in shape errors.
    const Y: &'static str = "y (batched range)";
    /// Shapes of one domain and one range item (host values).
    fn shape(&self) -> [&[usize]; 2];
    /// Shape of one domain item.
    fn domain(&self) -> &[usize] {
        self.shape()[0]
    }
    /// Shape of one range item.
    fn range(&self) -> &[usize] {
        self.shape()[1]
    }
    /// `y = A x` for a batch; returns the batch size.
    fn forward(&self, be: &B, x: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError>;
    /// `x = Aᴴ y` for a batch; returns the batch size.
    fn adjoint(&self, be: &B, y: &B::Buf<f32>, x: &mut B::Buf<f32>) -> Result<usize, CudaError>;
}

/// A [`LinearPipeline`] with its backend: backend-resident `*_device` maps and host-buffer
/// `try_*` maps, and the [`LinearOperator`] on top. The trait's `apply_*` methods have no error
/// channel, so they panic (with the driver's message) if the backend fails after construction
/// (e.g. out of memory); the `try_*` methods return that as an error.
pub struct HostOp<B: Backend, P> {
    be: B,
    pipe: P,
}

impl<B: Backend, P: LinearPipeline<B>> HostOp<B, P> {
    /// `pipe` on `be`.
    pub fn from_pipeline(be: B, pipe: P) -> Self {
        Self { be, pipe }
    }
    /// The backend (the device).
    pub fn device(&self) -> &B {
        &self.be
    }
    /// The launch sequence.
    pub fn pipeline(&self) -> &P {
        &self.pipe
    }
    /// Backend-resident forward map of a batch; returns the batch size.
    pub fn forward_device(&self, x: &B::Buf<f32>, y: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        self.pipe.forward(&self.be, x, y)
    }
    /// Backend-resident adjoint of a batch; returns the batch size.
    pub fn adjoint_device(&self, y: &B::Buf<f32>, x: &mut B::Buf<f32>) -> Result<usize, CudaError> {
        self.pipe.adjoint(&self.be, y, x)
    }
    fn checked(
        &self,
        (what_in, shape_in): (&'static str, &[usize]),
        in_len: usize,
        (what_out, shape_out): (&'static str, &[usize]),
        out_len: usize,
    ) -> Result<usize, CudaError> {
        let b = batch_of(what_in, shape_in, in_len)?;
        let n: usize = shape_out.iter().product();
        check_len(what_out, &[b, n], out_len)?;
        Ok(b)
    }
    /// Host-buffer forward map of a batch (leading axis); returns the batch size.
    pub fn try_forward(&self, x: &[P::Elem], y: &mut [P::Elem]) -> Result<usize, CudaError> {
        let (dom, ran) = ((P::X, self.pipe.domain()), (P::Y, self.pipe.range()));
        self.checked(dom, x.len(), ran, y.len())?;
        run_on_host(&self.be, x, y, |dx, dy| self.forward_device(dx, dy))
    }
    /// Host-buffer adjoint of a batch; returns the batch size.
    pub fn try_adjoint(&self, y: &[P::Elem], x: &mut [P::Elem]) -> Result<usize, CudaError> {
        let (dom, ran) = ((P::X, self.pipe.domain()), (P::Y, self.pipe.range()));
        self.checked(ran, y.len(), dom, x.len())?;
        run_on_host(&self.be, y, x, |dy, dx| self.adjoint_device(dy, dx))
    }
    /// Host-buffer normal map `AᴴA x` with the intermediate kept on the backend.
    pub fn try_normal(&self, x: &[P::Elem], z: &mut [P::Elem]) -> Result<usize, CudaError> {
        let dom = (P::X, self.pipe.domain());
        let b = self.checked(dom, x.len(), ("z (batched domain)", dom.1), z.len())?;
        let mid = <P::Elem as HostElem>::FLOATS * b * self.pipe.range().iter().product::<usize>();
        run_on_host(&self.be, x, z, |dx, dz| {
            let mut t = self.be.zeros::<f32>("the intermediate", mid)?;
            self.forward_device(dx, &mut t)?;
            self.adjoint_device(&t, dz)
        })
    }
    /// Host-buffer forward map of a batch into a new `Vec`.
    pub fn try_forward_vec(&self, x: &[P::Elem]) -> Result<Vec<P::Elem>, CudaError> {
        let b = batch_of(P::X, self.pipe.domain(), x.len())?;
        let mut y = vec![P::Elem::default(); b * self.pipe.range().iter().product::<usize>()];
        self.try_forward(x, &mut y)?;
        Ok(y)
    }
    /// Host-buffer adjoint of a batch into a new `Vec`.
    pub fn try_adjoint_vec(&self, y: &[P::Elem]) -> Result<Vec<P::Elem>, CudaError> {
        let b = batch_of(P::Y, self.pipe.range(), y.len())?;
        let mut x = vec![P::Elem::default(); b * self.pipe.domain().iter().product::<usize>()];
        self.try_adjoint(y, &mut x)?;
        Ok(x)
    }
}

impl<B: Backend + std::fmt::Debug, P: std::fmt::Debug> std::fmt::Debug for HostOp<B, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostOp")
            .field("device", &self.be)
            .field("pipeline", &self.pipe)
            .finish()
    }
}

/// Shape errors are errors; a backend failure after construction panics with its message.
fn or_panic(
    name: &str,
    what: &str,
    r: Result<usize, CudaError>,
) -> fedrecon_physics::Result<usize> {
    match r {
        Ok(b) => Ok(b),
        Err(CudaError::Physics(e)) => Err(e),
        Err(e) => panic!("{name} {what} failed on the device: {e}"),
    }
}

impl<B, P> LinearOperator<P::Elem> for HostOp<B, P>
where
    B: Backend + Send + Sync,
    P: LinearPipeline<B> + Send + Sync,
{
    fn domain_shape(&self) -> &[usize] {
        self.pipe.domain()
    }
    fn range_shape(&self) -> &[usize] {
        self.pipe.range()
    }
    fn apply_forward(&self, x: &[P::Elem], y: &mut [P::Elem]) {
        if let Err(e) = self.try_forward(x, y) {
            panic!("{} forward failed on the device: {e}", P::NAME);
        }
    }
    fn apply_adjoint(&self, y: &[P::Elem], x: &mut [P::Elem]) {
        if let Err(e) = self.try_adjoint(y, x) {
            panic!("{} adjoint failed on the device: {e}", P::NAME);
        }
    }
    fn apply_normal(&self, x: &[P::Elem], z: &mut [P::Elem]) {
        if let Err(e) = self.try_normal(x, z) {
            panic!("{} normal map failed on the device: {e}", P::NAME);
        }
    }
    fn forward_batch(&self, x: &[P::Elem], y: &mut [P::Elem]) -> fedrecon_physics::Result<usize> {
        // one batched launch sequence (e.g. all coils at once)
        or_panic(P::NAME, "forward", self.try_forward(x, y))
    }
    fn adjoint_batch(&self, y: &[P::Elem], x: &mut [P::Elem]) -> fedrecon_physics::Result<usize> {
        or_panic(P::NAME, "adjoint", self.try_adjoint(y, x))
    }
}

/// `Debug` for a pipeline generic over its backend, showing the given fields.
macro_rules! debug_fields {
    ($t:ident { $($name:literal: |$s:ident| $v:expr),* $(,)? }) => {
        impl<B: Backend> std::fmt::Debug for $t<B> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($t));
                $(d.field($name, &{ let $s = self; $v });)*
                d.finish_non_exhaustive()
            }
        }
    };
}
pub(crate) use debug_fields;

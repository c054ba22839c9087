//! Physics operators as burn autodiff ops whose backward is the exact adjoint.
//!
//! For a real linear map `A : ℝⁿ → ℝᵐ` and a scalar loss `L(y)`, `y = A x`, the chain rule gives
//! `∂L/∂x = Aᵀ ∂L/∂y`; for `x = Aᵀ y` it gives `∂L/∂y = A ∂L/∂x`. So the custom op needs no saved
//! activations, only the operator: the backward of [`apply`] runs the operator's adjoint, the
//! backward of [`apply_adjoint`] runs the operator itself. Operators are fedrecon
//! [`LinearOperator`]s, whose adjoint is exact (`testing::assert_adjoint`).
//!
//! Complex operators `A : ℂⁿ → ℂᵐ` act on real tensors through their *real view*: a complex
//! vector is stored as interleaved `(re, im)` `f32` pairs (a trailing axis of length 2, fastMRI's
//! layout), i.e. `ℂⁿ ≅ ℝ²ⁿ`. Under the real inner product `⟨u, v⟩_ℝ = Re ⟨u, v⟩_ℂ` the real view of
//! `Aᴴ` is the transpose of the real view of `A`:
//! `Re⟨A x, y⟩ = Re⟨x, Aᴴ y⟩`, so gradients of real losses of complex-valued intermediates are
//! again given by `Aᴴ` (the convention of PyTorch's complex autograd for a real loss, up to the
//! conjugation that its Wirtinger calculus applies).
//!
//! Tensors are batched over the leading axis: [`apply`] takes `[B, n]` (or any shape whose
//! trailing dimensions multiply to the operator's real domain length `n`; see [`apply_nd`]) and
//! returns `[B, m]`. A [`LinOp`] holds one operator shared by the batch or one per batch element
//! (e.g. SENSE with per-slice coil maps).
//!
//! The op is a burn `#[backend_extension]`: a default body runs the CPU operator on host data
//! (`float_into_data` → operator → `float_from_data`), implemented for burn-flex; the
//! `Autodiff<B, C>` implementation records a [`Backward`] step. With the `cuda` feature, burn's
//! CUDA backend implements it by running fedrecon's CUDA kernels on burn's device buffers
//! (`ops/cuda.rs`): the operators built with [`LinOp::joseph`], [`LinOp::fbp`],
//! [`LinOp::centred_fft`], [`LinOp::sense`] and [`LinOp::nufft`] carry their GPU form.

use crate::error::{NnError, Result};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension, try_read_sync,
};
use burn::tensor::{Tensor, TensorData};
use fedrecon_physics::LinearOperator;
use fedrecon_physics::ct::fbp::{Fbp, FbpOptions};
use fedrecon_physics::ct::joseph::JosephProjector;
use fedrecon_physics::mri::{CenteredFft2, NufftPlan, SenseOperator};
use num_complex::Complex32;
use rayon::prelude::*;
use std::fmt;
use std::sync::Arc;

#[cfg(feature = "cuda")]
pub mod cuda;

/// A real linear map `ℝⁿ → ℝᵐ` with its exact transpose, on flat `f32` buffers.
pub trait RealLinearMap: Send + Sync {
    /// `n`, the real domain length.
    fn real_domain_len(&self) -> usize;
    /// `m`, the real range length.
    fn real_range_len(&self) -> usize;
    /// `y = A x` (`x.len() == n`, `y.len() == m`).
    fn real_forward(&self, x: &[f32], y: &mut [f32]);
    /// `x = Aᵀ y`.
    fn real_adjoint(&self, y: &[f32], x: &mut [f32]);
    /// A short name for error messages and debugging.
    fn name(&self) -> String;
}

/// A real [`LinearOperator<f32>`] (e.g. the Joseph projector) as a [`RealLinearMap`].
pub struct RealOp<O: ?Sized>(pub Arc<O>);

impl<O: LinearOperator<f32> + ?Sized> RealLinearMap for RealOp<O> {
    fn real_domain_len(&self) -> usize {
        self.0.domain_len()
    }
    fn real_range_len(&self) -> usize {
        self.0.range_len()
    }
    fn real_forward(&self, x: &[f32], y: &mut [f32]) {
        self.0.apply_forward(x, y)
    }
    fn real_adjoint(&self, y: &[f32], x: &mut [f32]) {
        self.0.apply_adjoint(y, x)
    }
    fn name(&self) -> String {
        format!(
            "real op {:?} -> {:?}",
            self.0.domain_shape(),
            self.0.range_shape()
        )
    }
}

/// The real view of a complex [`LinearOperator<Complex32>`] on interleaved `(re, im)` pairs.
pub struct ComplexAsReal<O: ?Sized>(pub Arc<O>);

fn to_complex(v: &[f32]) -> Vec<Complex32> {
    v.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

fn from_complex(c: &[Complex32], out: &mut [f32]) {
    for (o, z) in out.chunks_exact_mut(2).zip(c) {
        o[0] = z.re;
        o[1] = z.im;
    }
}

impl<O: LinearOperator<Complex32> + ?Sized> RealLinearMap for ComplexAsReal<O> {
    fn real_domain_len(&self) -> usize {
        2 * self.0.domain_len()
    }
    fn real_range_len(&self) -> usize {
        2 * self.0.range_len()
    }
    fn real_forward(&self, x: &[f32], y: &mut [f32]) {
        let mut out = vec![Complex32::default(); self.0.range_len()];
        self.0.apply_forward(&to_complex(x), &mut out);
        from_complex(&out, y);
    }
    fn real_adjoint(&self, y: &[f32], x: &mut [f32]) {
        let mut out = vec![Complex32::default(); self.0.domain_len()];
        self.0.apply_adjoint(&to_complex(y), &mut out);
        from_complex(&out, x);
    }
    fn name(&self) -> String {
        format!(
            "complex op {:?} -> {:?} (real view)",
            self.0.domain_shape(),
            self.0.range_shape()
        )
    }
}

/// A linear operator handle for the autodiff op: one map shared by the batch, or one per batch
/// element (all with the same lengths). Cheap to clone.
#[derive(Clone)]
pub struct LinOp {
    maps: Arc<[Arc<dyn RealLinearMap>]>,
    n: usize,
    m: usize,
    /// The GPU form (shared operators only).
    #[cfg(feature = "cuda")]
    gpu: Option<cuda::DeviceMaps>,
}

impl fmt::Debug for LinOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinOp")
            .field("map", &self.maps[0].name())
            .field("per_batch", &self.maps.len())
            .field("n", &self.n)
            .field("m", &self.m)
            .finish()
    }
}

impl LinOp {
    /// One map shared by every batch element.
    pub fn shared(map: Arc<dyn RealLinearMap>) -> Self {
        let (n, m) = (map.real_domain_len(), map.real_range_len());
        Self {
            maps: vec![map].into(),
            n,
            m,
            #[cfg(feature = "cuda")]
            gpu: None,
        }
    }

    /// A real operator (e.g. `JosephProjector`) shared by the batch.
    pub fn real<O: LinearOperator<f32> + 'static>(op: Arc<O>) -> Self {
        Self::shared(Arc::new(RealOp(op)))
    }

    /// A complex operator (e.g. `CenteredFft2`, `SenseOperator`, `NufftPlan`) shared by the
    /// batch, acting on interleaved `(re, im)` pairs.
    pub fn complex<O: LinearOperator<Complex32> + 'static>(op: Arc<O>) -> Self {
        Self::shared(Arc::new(ComplexAsReal(op)))
    }

    /// One map per batch element; errors if empty or if the lengths differ.
    pub fn per_batch(maps: Vec<Arc<dyn RealLinearMap>>) -> Result<Self> {
        let first = maps
            .first()
            .ok_or_else(|| NnError::argument("maps", "[]", "need at least one operator"))?;
        let (n, m) = (first.real_domain_len(), first.real_range_len());
        for (i, op) in maps.iter().enumerate() {
            if (op.real_domain_len(), op.real_range_len()) != (n, m) {
                return Err(NnError::argument(
                    "maps",
                    format!("element {i}: {}", op.name()),
                    format!("every per-batch operator must map {n} -> {m} reals"),
                ));
            }
        }
        Ok(Self {
            maps: maps.into(),
            n,
            m,
            #[cfg(feature = "cuda")]
            gpu: None,
        })
    }

    /// The Joseph projector `A` (image → sinogram), with its GPU form under `cuda`.
    pub fn joseph(op: Arc<JosephProjector>) -> Self {
        let lin = Self::real(op.clone());
        #[cfg(feature = "cuda")]
        let lin = lin.with_device_maps(move |dev| {
            Ok(Arc::new(fedrecon_cuda::JosephProjectorCuda::new(
                dev,
                op.geometry().clone(),
            )?))
        });
        lin
    }

    /// The FBP `f = B F D p` (sinogram → image; `fedrecon_physics::ct::fbp::Fbp`), planned with
    /// `opts`; under `cuda` its forward map runs on the GPU (its adjoint stays on the host:
    /// networks apply FBP to measured data only).
    pub fn fbp(fbp: Arc<Fbp>, opts: FbpOptions) -> Self {
        #[cfg(feature = "cuda")]
        let geom = fbp.geometry().clone();
        let lin = Self::real(fbp);
        #[cfg(feature = "cuda")]
        let lin = lin.with_device_maps(move |dev| {
            Ok(Arc::new(fedrecon_cuda::FbpCuda::new(
                dev,
                geom.clone(),
                &opts,
            )?))
        });
        #[cfg(not(feature = "cuda"))]
        let _ = opts;
        lin
    }

    /// fastMRI's centred orthonormal FFT of `(ny, nx)` complex images (interleaved).
    pub fn centred_fft(ny: usize, nx: usize) -> Result<Self> {
        let lin = Self::complex(Arc::new(CenteredFft2::new(ny, nx)?));
        #[cfg(feature = "cuda")]
        let lin = lin.with_device_maps(move |dev| {
            Ok(Arc::new(fedrecon_cuda::CentredFft2Cuda::new(
                dev, ny, nx, None,
            )?))
        });
        Ok(lin)
    }

    /// Cartesian multi-coil SENSE `y_c = M ⊙ fft2c(S_c ⊙ x)` (interleaved complex).
    pub fn sense(op: Arc<SenseOperator>) -> Self {
        let lin = Self::complex(op.clone());
        #[cfg(feature = "cuda")]
        let lin = lin.with_device_maps(move |dev| {
            let [coils, ny, nx] = [
                op.range_shape()[0],
                op.range_shape()[1],
                op.range_shape()[2],
            ];
            Ok(Arc::new(fedrecon_cuda::SenseOperatorCuda::new(
                dev,
                op.maps(),
                coils,
                ny,
                nx,
                op.mask(),
            )?))
        });
        lin
    }

    /// The type-2 NUFFT `y = A x` of `plan` (image → non-uniform samples; adjoint = type 1).
    pub fn nufft(plan: Arc<NufftPlan>) -> Self {
        let lin = Self::complex(plan.clone());
        #[cfg(feature = "cuda")]
        let lin = lin.with_device_maps(move |dev| {
            Ok(Arc::new(fedrecon_cuda::NufftPlanCuda::new(dev, &plan)?))
        });
        lin
    }

    /// This operator with a GPU form made by `build` (on first use on each device).
    #[cfg(feature = "cuda")]
    pub fn with_device_maps(
        mut self,
        build: impl Fn(
            &fedrecon_cuda::CudaDevice,
        ) -> std::result::Result<
            Arc<dyn fedrecon_cuda::DeviceMap>,
            fedrecon_cuda::CudaError,
        > + Send
        + Sync
        + 'static,
    ) -> Self {
        self.gpu = Some(cuda::DeviceMaps::new(Arc::new(build)));
        self
    }

    /// The GPU form, for a shared operator that has one.
    #[cfg(feature = "cuda")]
    pub fn device_maps(&self) -> Option<&cuda::DeviceMaps> {
        self.gpu.as_ref().filter(|_| self.maps.len() == 1)
    }

    /// Real domain length `n`.
    pub fn domain_len(&self) -> usize {
        self.n
    }

    /// Real range length `m`.
    pub fn range_len(&self) -> usize {
        self.m
    }

    /// Number of per-batch maps (1 = shared).
    pub fn n_maps(&self) -> usize {
        self.maps.len()
    }

    fn check_batch(&self, b: usize) -> Result<()> {
        if self.maps.len() != 1 && self.maps.len() != b {
            return Err(NnError::argument(
                "batch",
                b,
                format!("the operator holds {} per-batch maps", self.maps.len()),
            ));
        }
        Ok(())
    }

    /// Runs the operator (or its adjoint) on a host buffer of `b` stacked vectors.
    pub fn run_host(&self, input: &[f32], adjoint: bool) -> Vec<f32> {
        let (n_in, n_out) = if adjoint {
            (self.m, self.n)
        } else {
            (self.n, self.m)
        };
        let b = input.len() / n_in;
        let mut out = vec![0f32; b * n_out];
        let run = |(i, (xi, yi)): (usize, (&[f32], &mut [f32]))| {
            let op = &self.maps[if self.maps.len() == 1 { 0 } else { i }];
            if adjoint {
                op.real_adjoint(xi, yi)
            } else {
                op.real_forward(xi, yi)
            }
        };
        if b > 1 {
            input
                .par_chunks_exact(n_in)
                .zip(out.par_chunks_exact_mut(n_out))
                .enumerate()
                .for_each(run);
        } else {
            input
                .chunks_exact(n_in)
                .zip(out.chunks_exact_mut(n_out))
                .enumerate()
                .for_each(run);
        }
        out
    }
}

/// Runs the CPU operator on any backend's host data: `[B, n] → [B, m]` (or the adjoint).
pub(crate) fn host_apply<B: Backend>(
    x: FloatTensor<B>,
    op: &LinOp,
    adjoint: bool,
) -> FloatTensor<B> {
    let device = x.device();
    let b = x.shape().as_slice()[0];
    let data = try_read_sync(B::float_into_data(x))
        .expect("reading a tensor for a physics op")
        .expect("reading a tensor for a physics op");
    let host = data
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data after conversion");
    let out = op.run_host(&host, adjoint);
    let m = if adjoint { op.n } else { op.m };
    B::float_from_data(TensorData::new(out, [b, m]), &device)
}

/// Backend extension: a [`LinOp`] (or its adjoint) on `[B, n]` tensors.
#[backend_extension(Flex, Cube: cfg(feature = "cuda"), Autodiff)]
pub trait LinOpBackend: Backend {
    /// `[B, n] → [B, m]` (`adjoint = false`) or `[B, m] → [B, n]` (`adjoint = true`).
    fn linop_apply(x: FloatTensor<Self>, op: LinOp, adjoint: bool) -> FloatTensor<Self> {
        host_apply::<Self>(x, &op, adjoint)
    }
}

impl LinOpBackend for Flex {}

/// The backward step: the gradient of the op is the op's adjoint (of the adjoint, the op).
#[derive(Debug)]
struct LinOpBackward;

impl<B: LinOpBackend> Backward<B, 1> for LinOpBackward {
    type State = (LinOp, bool);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _c: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(parent) = parent {
            let (op, was_adjoint) = ops.state;
            // d/dx ⟨g, A x⟩ = Aᵀ g ;  d/dy ⟨g, Aᵀ y⟩ = A g.
            let gx = B::linop_apply(grad, op, !was_adjoint);
            grads.register::<B>(parent.id, gx);
        }
    }
}

impl<B: LinOpBackend, C: CheckpointStrategy> LinOpBackend for Autodiff<B, C> {
    fn linop_apply(x: FloatTensor<Self>, op: LinOp, adjoint: bool) -> FloatTensor<Self> {
        // Take the node guard with the primitive before consuming it (burn 0.22 contract).
        let (prim, guard) = x.into_parts();
        match LinOpBackward
            .prepare::<C>([guard])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::linop_apply(prim, op.clone(), adjoint);
                prep.finish((op, adjoint), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::linop_apply(prim, op, adjoint)),
        }
    }
}

fn check_input(x_dims: &[usize], len: usize, op: &LinOp, adjoint: bool) -> Result<usize> {
    let want = if adjoint { op.m } else { op.n };
    let b = x_dims.first().copied().unwrap_or(0);
    if b == 0 || len != want || x_dims.iter().product::<usize>() != b * want {
        return Err(NnError::Shape {
            what: if adjoint {
                "adjoint op input"
            } else {
                "op input"
            },
            expected: format!("[B ≥ 1, …] with {want} elements per batch entry"),
            got: x_dims.to_vec(),
        });
    }
    op.check_batch(b)?;
    Ok(b)
}

fn run<const D: usize, const E: usize>(
    x: Tensor<D>,
    op: &LinOp,
    adjoint: bool,
    out_shape: [usize; E],
) -> Result<Tensor<E>> {
    let dims = x.dims();
    let per: usize = dims[1..].iter().product();
    let b = check_input(&dims, per, op, adjoint)?;
    let out_per: usize = out_shape[1..].iter().product();
    let want_out = if adjoint { op.n } else { op.m };
    if out_shape[0] != b || out_per != want_out {
        return Err(NnError::Shape {
            what: "op output shape",
            expected: format!("[{b}, …] with {want_out} elements per batch entry"),
            got: out_shape.to_vec(),
        });
    }
    let flat = x.reshape([b, per]);
    let y = <Dispatch as LinOpBackend>::linop_apply(flat.into_dispatch(), op.clone(), adjoint);
    Ok(Tensor::<2>::from_dispatch(y).reshape(out_shape))
}

/// `y = A x` on `[B, n]` → `[B, m]`; differentiable with backward `Aᵀ`.
pub fn apply(x: Tensor<2>, op: &LinOp) -> Result<Tensor<2>> {
    let b = x.dims()[0];
    run(x, op, false, [b, op.m])
}

/// `x = Aᵀ y` on `[B, m]` → `[B, n]`; differentiable with backward `A`.
pub fn apply_adjoint(y: Tensor<2>, op: &LinOp) -> Result<Tensor<2>> {
    let b = y.dims()[0];
    run(y, op, true, [b, op.n])
}

/// `A` on an `D`-dimensional batch tensor (trailing dims multiply to `n`), reshaped to
/// `out_shape` (leading dim `B`, trailing dims multiplying to `m`).
pub fn apply_nd<const D: usize, const E: usize>(
    x: Tensor<D>,
    op: &LinOp,
    out_shape: [usize; E],
) -> Result<Tensor<E>> {
    run(x, op, false, out_shape)
}

/// `Aᵀ` on an `D`-dimensional batch tensor, reshaped to `out_shape`.
pub fn apply_adjoint_nd<const D: usize, const E: usize>(
    y: Tensor<D>,
    op: &LinOp,
    out_shape: [usize; E],
) -> Result<Tensor<E>> {
    run(y, op, true, out_shape)
}

//! Two-channel complex tensors (fastMRI layout: a trailing axis of length 2 holding `(re, im)`)
//! and the MRI building blocks of fastMRI's VarNet (`fastmri.fft2c`, `sens_expand`,
//! `sens_reduce`, `rss`, `complex_mul`, `complex_conj`, `complex_abs`).
//!
//! Images are `[B, 1, H, W, 2]`, coil images / k-space / maps `[B, C, H, W, 2]`. All functions
//! are differentiable: the complex arithmetic is composed of burn ops, and `fft2c` / `ifft2c` are
//! the exact-adjoint autodiff ops of [`crate::ops`] on the centred orthonormal FFT
//! ([`fedrecon_physics::mri::CenteredFft2`]; `ifft2c = fft2cᴴ`).

use crate::error::{NnError, Result};
use crate::ops::{LinOp, apply_adjoint_nd, apply_nd};
use burn::tensor::Tensor;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Real and imaginary parts, each with a trailing axis of length 1.
pub fn split<const D: usize>(x: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    (x.clone().narrow(D - 1, 0, 1), x.narrow(D - 1, 1, 1))
}

/// `(re, im)` → complex tensor (concatenated on the last axis).
pub fn join<const D: usize>(re: Tensor<D>, im: Tensor<D>) -> Tensor<D> {
    Tensor::cat(vec![re, im], D - 1)
}

/// `a · b` (broadcasting over axes of length 1).
pub fn complex_mul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    let (ar, ai) = split(a);
    let (br, bi) = split(b);
    join(
        ar.clone() * br.clone() - ai.clone() * bi.clone(),
        ar * bi + ai * br,
    )
}

/// `conj(a)`.
pub fn complex_conj<const D: usize>(a: Tensor<D>) -> Tensor<D> {
    let (r, i) = split(a);
    join(r, i.neg())
}

/// `|a|²`, keeping the trailing axis (length 1).
pub fn complex_abs_sq<const D: usize>(a: Tensor<D>) -> Tensor<D> {
    a.square().sum_dim(D - 1)
}

/// `|a|`, keeping the trailing axis (length 1). `√(|a|² + ε)` with `ε = 1e-24` so the gradient
/// is finite at zero (changes values by at most 1e-12).
pub fn complex_abs<const D: usize>(a: Tensor<D>) -> Tensor<D> {
    complex_abs_sq(a).add_scalar(ABS_EPS).sqrt()
}

/// The `ε` of [`complex_abs`] and [`rss`].
pub const ABS_EPS: f32 = 1e-24;

/// Root-sum-of-squares over coils of complex coil images: `√(Σ_c |x_c|²)`.
///
/// # Shapes
/// `[B, C, H, W, 2]` → `[B, 1, H, W]`.
pub fn rss(x: Tensor<5>) -> Tensor<4> {
    // [B, C, H, W, 1] → [B, 1, H, W, 1]
    let s = complex_abs_sq(x).sum_dim(1).add_scalar(ABS_EPS).sqrt();
    let [b, _, h, w, _] = s.dims();
    s.reshape([b, 1, h, w])
}

/// The centred FFT op of `(ny, nx)`, planned once per shape for the process (models build an
/// [`Fft2c`] per forward call; the plan and, under `cuda`, its GPU twiddles are kept).
fn centred_fft_op(ny: usize, nx: usize) -> Result<LinOp> {
    static PLANS: OnceLock<Mutex<HashMap<(usize, usize), LinOp>>> = OnceLock::new();
    let mut plans = PLANS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(op) = plans.get(&(ny, nx)) {
        return Ok(op.clone());
    }
    let op = LinOp::centred_fft(ny, nx)?;
    plans.insert((ny, nx), op.clone());
    Ok(op)
}

/// The centred orthonormal 2-D FFT of `(ny, nx)` images as an autodiff op.
#[derive(Clone, Debug)]
pub struct Fft2c {
    op: LinOp,
    shape: [usize; 2],
}

impl Fft2c {
    /// Plans the FFT for `(ny, nx)`.
    pub fn new(ny: usize, nx: usize) -> Result<Self> {
        Ok(Self {
            op: centred_fft_op(ny, nx)?,
            shape: [ny, nx],
        })
    }

    fn check(&self, x: &Tensor<5>) -> Result<[usize; 5]> {
        let d = x.dims();
        if d[2..] != [self.shape[0], self.shape[1], 2] {
            return Err(NnError::Shape {
                what: "fft2c input",
                expected: format!("[B, C, {}, {}, 2]", self.shape[0], self.shape[1]),
                got: d.to_vec(),
            });
        }
        Ok(d)
    }

    /// `fft2c` of every `[H, W]` complex image.
    ///
    /// # Shapes
    /// `[B, C, H, W, 2]` → `[B, C, H, W, 2]`.
    pub fn forward(&self, x: Tensor<5>) -> Result<Tensor<5>> {
        let d = self.check(&x)?;
        // [B·C, H·W·2]
        let flat = x.reshape([d[0] * d[1], d[2] * d[3] * 2]);
        Ok(apply_nd(flat, &self.op, [d[0] * d[1], d[2] * d[3] * 2])?.reshape(d))
    }

    /// `ifft2c = fft2cᴴ` of every `[H, W]` complex image.
    ///
    /// # Shapes
    /// `[B, C, H, W, 2]` → `[B, C, H, W, 2]`.
    pub fn inverse(&self, k: Tensor<5>) -> Result<Tensor<5>> {
        let d = self.check(&k)?;
        let flat = k.reshape([d[0] * d[1], d[2] * d[3] * 2]);
        Ok(apply_adjoint_nd(flat, &self.op, [d[0] * d[1], d[2] * d[3] * 2])?.reshape(d))
    }
}

/// fastMRI's `sens_expand`: `k_c = fft2c(S_c · x)`.
///
/// # Shapes
/// `x`: `[B, 1, H, W, 2]`, `maps`: `[B, C, H, W, 2]` → `[B, C, H, W, 2]`.
pub fn sens_expand(x: Tensor<5>, maps: Tensor<5>, fft: &Fft2c) -> Result<Tensor<5>> {
    fft.forward(complex_mul(x, maps))
}

/// fastMRI's `sens_reduce`: `x = Σ_c conj(S_c) · ifft2c(k_c)`.
///
/// # Shapes
/// `k`: `[B, C, H, W, 2]`, `maps`: `[B, C, H, W, 2]` → `[B, 1, H, W, 2]`.
pub fn sens_reduce(k: Tensor<5>, maps: Tensor<5>, fft: &Fft2c) -> Result<Tensor<5>> {
    Ok(complex_mul(fft.inverse(k)?, complex_conj(maps)).sum_dim(1))
}

/// `[B, C, H, W, 2]` → `[B, 2C, H, W]` (real parts of all channels, then imaginary parts), for
/// feeding complex images to a CNN (fastMRI's `complex_to_chan_dim`).
pub fn complex_to_channels(x: Tensor<5>) -> Tensor<4> {
    let [b, c, h, w, _] = x.dims();
    // [B, 2, C, H, W]
    x.permute([0, 4, 1, 2, 3]).reshape([b, 2 * c, h, w])
}

/// Inverse of [`complex_to_channels`]: `[B, 2C, H, W]` → `[B, C, H, W, 2]`.
pub fn channels_to_complex(x: Tensor<4>) -> Tensor<5> {
    let [b, c2, h, w] = x.dims();
    x.reshape([b, 2, c2 / 2, h, w]).permute([0, 2, 3, 4, 1])
}

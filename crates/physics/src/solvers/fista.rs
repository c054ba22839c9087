//! FISTA (Beck & Teboulle 2009, "A fast iterative shrinkage-thresholding algorithm for linear
//! inverse problems", SIAM J. Imaging Sci. 2(1)) for `min_x ½‖Ax − y‖² + g(x)` with a proximable
//! `g`, over any [`Scalar`]:
//!
//! `x_k = prox_{g/L}(z_k − (1/L) Aᴴ(A z_k − y))`, `t_{k+1} = (1 + √(1 + 4t_k²))/2`,
//! `z_{k+1} = x_k + ((t_k − 1)/t_{k+1})(x_k − x_{k−1})`,
//!
//! with `L = s·λ_max(AᴴA)` from power iteration on the operator's normal and the safety factor
//! `s` = [`NORM_SAFETY`]² (the estimate approaches from below).
//!
//! **L1-wavelet** ([`l1_wavelet`]) is BART's `pics -l1 -r λ` problem
//! `min_x ½‖Ax − y‖² + λ‖Wx‖₁` with the orthonormal wavelet `W` ([`crate::wavelet`]), on real CT
//! images and complex MRI images alike. As `W` is unitary, `prox_{t λ‖W·‖₁}(v) = Wᴴ soft(Wv, tλ)`
//! exactly. The coarsest approximation block (low-resolution content, not sparse) is left
//! unpenalised.

use super::{
    Callback, NORM_SAFETY, check_weight, image_domain, least_squares, report, start_image,
};
use crate::error::{PhysicsError, Result};
use crate::linop::LinearOperator;
use crate::scalar::Scalar;
use crate::wavelet::{Wavelet2, WaveletKind, l1_norm, soft_threshold};
use rayon::prelude::*;

/// `L = NORM_SAFETY² · λ_max(AᴴA)`, the Lipschitz constant of `∇ ½‖Ax − y‖²` with margin;
/// an error if the operator annihilates every image.
pub fn lipschitz_constant<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    power_iterations: usize,
) -> Result<f64> {
    let lip = NORM_SAFETY * NORM_SAFETY * super::normal_max_eigenvalue(a, power_iterations, 17)?;
    if lip > 0.0 {
        Ok(lip)
    } else {
        Err(PhysicsError::argument(
            "operator",
            "AᴴA = 0",
            "the operator annihilates every image",
        ))
    }
}

/// FISTA with step `1/lipschitz` (see the module docs). `prox(v)` overwrites `v` with
/// `prox_{g/L}(v)`.
pub fn fista<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x0: Option<&[T]>,
    iterations: usize,
    lipschitz: f64,
    prox: impl FnMut(&mut [T]),
    callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    let x = start_image(a, y, x0)?;
    fista_from(a, y, x, iterations, lipschitz, prox, callback)
}

/// [`fista`] from a start image `x` already checked against `a` (and `y` checked too).
fn fista_from<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    mut x: Vec<T>,
    iterations: usize,
    lipschitz: f64,
    mut prox: impl FnMut(&mut [T]),
    mut callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    if !(lipschitz.is_finite() && lipschitz > 0.0) {
        return Err(PhysicsError::argument(
            "lipschitz",
            lipschitz,
            "must be finite and > 0",
        ));
    }
    let step = T::real_from_f64(1.0 / lipschitz);
    let n = x.len();
    let mut aty = vec![T::default(); n];
    a.apply_adjoint(y, &mut aty);
    let mut z = x.clone();
    let mut v = vec![T::default(); n];
    let mut t = 1.0f64;
    for k in 0..iterations {
        // gradient step at z: v = z − (AᴴA z − Aᴴy)/L, then x⁺ = prox(v)
        a.apply_normal(&z, &mut v);
        v.par_iter_mut()
            .zip(z.par_iter().zip(&aty))
            .for_each(|(vi, (zi, bi))| *vi = *zi - (*vi - *bi).mul_real(step));
        prox(&mut v);
        let t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
        let mom = T::real_from_f64((t - 1.0) / t_new);
        z.par_iter_mut()
            .zip(v.par_iter().zip(&x))
            .for_each(|(zi, (xn, xo))| *zi = *xn + (*xn - *xo).mul_real(mom));
        std::mem::swap(&mut x, &mut v);
        t = t_new;
        report(&mut callback, k + 1, iterations, &x, None);
    }
    Ok(x)
}

/// L1-wavelet settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L1WaveletOptions {
    /// Number of FISTA iterations.
    pub iterations: usize,
    /// Regularisation weight `λ ≥ 0` (in the units of `Aᴴy`).
    pub lambda: f64,
    /// Wavelet family.
    pub wavelet: WaveletKind,
    /// Decomposition levels.
    pub levels: usize,
    /// Power iterations for the Lipschitz constant.
    pub power_iterations: usize,
}

impl Default for L1WaveletOptions {
    fn default() -> Self {
        Self {
            iterations: 50,
            lambda: 1e-3,
            wavelet: WaveletKind::Db4,
            levels: 4,
            power_iterations: 30,
        }
    }
}

/// Soft-threshold the wavelet coefficients of `w` (rows of length `nx`) by `t`, leaving the
/// approximation block `(ha, wa)` alone.
pub(crate) fn threshold_details<T: Scalar<Real = f32>>(
    w: &mut [T],
    nx: usize,
    approx: (usize, usize),
    t: f32,
) {
    let (ha, wa) = approx;
    w.par_chunks_mut(nx).enumerate().for_each(|(i, row)| {
        if i < ha {
            soft_threshold(&mut row[wa..], t);
        } else {
            soft_threshold(row, t);
        }
    });
}

/// `‖Wx‖₁` over the detail coefficients (the penalty [`l1_wavelet`] weights by `λ`).
pub fn wavelet_l1_penalty<T: Scalar<Real = f32>>(w: &Wavelet2, x: &[T]) -> Result<f64> {
    let c = w.forward_vec(x)?;
    let nx = w.shape().1;
    let (ha, wa) = w.approximation_shape();
    let total = l1_norm(&c);
    let approx: f64 = (0..ha).map(|i| l1_norm(&c[i * nx..i * nx + wa])).sum();
    Ok(total - approx)
}

/// The L1-wavelet objective `½‖Ax − y‖² + λ‖Wx‖₁` (details only, as [`l1_wavelet`] minimises).
pub fn l1_wavelet_objective<T: Scalar<Real = f32>, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x: &[T],
    w: &Wavelet2,
    lambda: f64,
) -> Result<f64> {
    Ok(least_squares(a, x, y)? + lambda * wavelet_l1_penalty(w, x)?)
}

/// L1-wavelet reconstruction by FISTA (see the module docs); `A`'s domain must be a 2-D image.
pub fn l1_wavelet<T: Scalar<Real = f32>, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x0: Option<&[T]>,
    opts: &L1WaveletOptions,
    callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    check_weight("lambda", opts.lambda)?;
    // checked before the power iteration, so bad data fail fast
    let x = start_image(a, y, x0)?;
    let (ny, nx) = image_domain(a, "L1-wavelet")?;
    let w = Wavelet2::new(ny, nx, opts.wavelet, opts.levels)?;
    let approx = w.approximation_shape();
    let lip = lipschitz_constant(a, opts.power_iterations)?;
    let thr = (opts.lambda / lip) as f32;
    let mut coef = vec![T::default(); ny * nx];
    let prox = |v: &mut [T]| {
        w.apply_forward(v, &mut coef);
        threshold_details(&mut coef, nx, approx, thr);
        w.apply_adjoint(&coef, v);
    };
    fista_from(a, y, x, opts.iterations, lip, prox, callback)
}

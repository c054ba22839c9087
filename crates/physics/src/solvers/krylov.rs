//! Krylov methods and power iteration, over any [`Scalar`].
//!
//! - **CGLS** (Hestenes & Stiefel 1952; Björck 1996, *Numerical Methods for Least Squares
//!   Problems*, §7.4): conjugate gradients on the normal equations `AᴴA x = Aᴴy` without forming
//!   them. In exact arithmetic the residual `‖y − Ax_k‖` decreases monotonically and the method
//!   terminates in at most `rank(A)` steps.
//! - **CG on the normal equations** `(AᴴA + λI) x = Aᴴy` with `AᴴA` applied through the operator's
//!   [`apply_normal`](LinearOperator::apply_normal) (the Toeplitz embedding for a NUFFT-SENSE
//!   operator built `with_toeplitz`): CG-SENSE (Pruessmann et al. 2001, MRM 46(4)) when `A` is a
//!   SENSE operator. `λ ≥ 0` is a Tikhonov weight; iterations stop early once
//!   `‖r‖ ≤ tol·‖Aᴴy‖`.
//! - **Power iteration** for `‖A‖` (step sizes of FISTA and PDHG): the estimate approaches from
//!   below; callers multiply by [`super::NORM_SAFETY`].

use super::{
    Callback, axpy, check_finite_all, check_weight, norm2, re_dot, report, start_from, start_image,
};
use crate::error::{PhysicsError, Result, check_len};
use crate::linop::LinearOperator;
use crate::linop::testing::random_vec;
use crate::scalar::Scalar;
use rayon::prelude::*;

/// `iterations` power-iteration steps from a seeded random start: normalise `x`, then
/// `step(x)` returns the estimate and leaves the next iterate in `x`.
fn power_iteration<T: Scalar>(
    n: usize,
    iterations: usize,
    seed: u64,
    mut step: impl FnMut(&mut Vec<T>) -> f64,
) -> Result<f64> {
    if iterations == 0 {
        return Err(PhysicsError::argument(
            "power_iterations",
            0,
            "need at least one power iteration",
        ));
    }
    let mut x: Vec<T> = random_vec(n, seed);
    let mut est = 0.0;
    for _ in 0..iterations {
        let norm = norm2(&x);
        if norm == 0.0 {
            return Ok(0.0);
        }
        x.par_iter_mut().for_each(|v| *v = v.scale(1.0 / norm));
        est = step(&mut x);
    }
    Ok(est)
}

/// Estimate `‖A‖₂` (largest singular value) by `iterations` steps of power iteration on `AᴴA`
/// (forward then adjoint) from a seeded random start. The estimate never exceeds the true norm
/// (up to rounding).
pub fn power_iteration_norm<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    iterations: usize,
    seed: u64,
) -> Result<f64> {
    let mut ax = vec![T::default(); a.range_len()];
    power_iteration(a.domain_len(), iterations, seed, |x: &mut Vec<T>| {
        a.apply_forward(x, &mut ax);
        a.apply_adjoint(&ax, x);
        norm2(&ax)
    })
}

/// `λ_max(AᴴA) = ‖A‖²` estimated by `iterations` power-iteration steps on the operator's normal
/// (Toeplitz when available) from a seeded random start; never above the true value up to
/// rounding.
pub fn normal_max_eigenvalue<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    iterations: usize,
    seed: u64,
) -> Result<f64> {
    let mut z = vec![T::default(); a.domain_len()];
    power_iteration(a.domain_len(), iterations, seed, |x: &mut Vec<T>| {
        a.apply_normal(x, &mut z);
        let est = re_dot(x, &z);
        std::mem::swap(x, &mut z);
        est
    })
}

/// CGLS (see the module docs): `iterations` steps of conjugate gradients on `AᴴA x = Aᴴy`,
/// stopping early only when the normal-equation residual `Aᴴ(y − Ax)` is exactly zero. The
/// callback's residual is `‖y − Ax‖`.
pub fn cgls<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x0: Option<&[T]>,
    iterations: usize,
    mut callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    let mut x = start_image(a, y, x0)?;
    // r = y − A x
    let mut r = vec![T::default(); a.range_len()];
    a.apply_forward(&x, &mut r);
    r.par_iter_mut().zip(y).for_each(|(ri, yi)| *ri = *yi - *ri);
    let mut s = vec![T::default(); a.domain_len()];
    a.apply_adjoint(&r, &mut s);
    let mut p = s.clone();
    let mut gamma = re_dot(&s, &s);
    let mut q = vec![T::default(); a.range_len()];
    for k in 0..iterations {
        if gamma == 0.0 {
            break;
        }
        a.apply_forward(&p, &mut q);
        let qq = re_dot(&q, &q);
        if qq == 0.0 {
            break;
        }
        let alpha = gamma / qq;
        axpy(&mut x, T::real_from_f64(alpha), &p);
        axpy(&mut r, T::real_from_f64(-alpha), &q);
        a.apply_adjoint(&r, &mut s);
        let gamma_new = re_dot(&s, &s);
        let beta = T::real_from_f64(gamma_new / gamma);
        gamma = gamma_new;
        p.par_iter_mut()
            .zip(&s)
            .for_each(|(pi, si)| *pi = *si + pi.mul_real(beta));
        report(&mut callback, k + 1, iterations, &x, Some(norm2(&r)));
    }
    Ok(x)
}

/// Settings of [`cg_normal`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgOptions {
    /// Maximum number of CG iterations.
    pub iterations: usize,
    /// Tikhonov weight `λ ≥ 0` in `(AᴴA + λI) x = Aᴴy`.
    pub lambda: f64,
    /// Stop once `‖r‖ ≤ tolerance · ‖Aᴴy‖` (0: run all iterations).
    pub tolerance: f64,
}

impl Default for CgOptions {
    fn default() -> Self {
        Self {
            iterations: 30,
            lambda: 0.0,
            tolerance: 1e-6,
        }
    }
}

/// Conjugate gradients on `(AᴴA + λI) x = Aᴴy` (see the module docs); the callback's residual is
/// the normal-equation residual `‖Aᴴy − (AᴴA + λ)x‖`.
pub fn cg_normal<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x0: Option<&[T]>,
    opts: &CgOptions,
    callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    check_weight("lambda", opts.lambda)?;
    check_weight("tolerance", opts.tolerance)?;
    let x = start_image(a, y, x0)?;
    let mut b = vec![T::default(); x.len()];
    a.apply_adjoint(y, &mut b);
    cg_normal_loop(a, b, x, opts, callback)
}

/// [`cg_normal`] given the right-hand side `b = Aᴴy` instead of `y`: conjugate gradients on
/// `(AᴴA + λI) x = b`, for a caller that has `Aᴴy` already (the Cartesian pipeline computes it
/// with the zero-filled image from the same coil images). `b` is image-shaped and finite.
pub fn cg_normal_rhs<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    b: Vec<T>,
    x0: Option<&[T]>,
    opts: &CgOptions,
    callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    check_weight("lambda", opts.lambda)?;
    check_weight("tolerance", opts.tolerance)?;
    check_len("b (Aᴴy)", a.domain_shape(), b.len())?;
    check_finite_all("b (Aᴴy)", &b)?;
    let x = start_from(a, x0)?;
    cg_normal_loop(a, b, x, opts, callback)
}

/// CG on `(AᴴA + λI) x = b` from `x` (all checked).
fn cg_normal_loop<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    b: Vec<T>,
    mut x: Vec<T>,
    opts: &CgOptions,
    mut callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    let lam = T::real_from_f64(opts.lambda);
    let n = x.len();
    let b_norm = norm2(&b);
    let mut q = vec![T::default(); n];
    let normal = |v: &[T], out: &mut [T]| {
        a.apply_normal(v, out);
        if opts.lambda != 0.0 {
            axpy(out, lam, v);
        }
    };
    // r = b − (AᴴA + λ) x
    let mut r = b;
    if x.iter().any(|v| *v != T::default()) {
        normal(&x, &mut q);
        r.par_iter_mut()
            .zip(&q)
            .for_each(|(ri, qi)| *ri = *ri - *qi);
    }
    let mut p = r.clone();
    let mut rr = re_dot(&r, &r);
    for k in 0..opts.iterations {
        if rr.sqrt() <= opts.tolerance * b_norm || rr == 0.0 {
            break;
        }
        normal(&p, &mut q);
        let pq = re_dot(&p, &q);
        if pq <= 0.0 {
            break;
        }
        let alpha = rr / pq;
        axpy(&mut x, T::real_from_f64(alpha), &p);
        axpy(&mut r, T::real_from_f64(-alpha), &q);
        let rr_new = re_dot(&r, &r);
        let beta = T::real_from_f64(rr_new / rr);
        rr = rr_new;
        p.par_iter_mut()
            .zip(&r)
            .for_each(|(pi, ri)| *pi = *ri + pi.mul_real(beta));
        report(&mut callback, k + 1, opts.iterations, &x, Some(rr.sqrt()));
    }
    Ok(x)
}

//! Total-variation regularised least squares by the primal–dual hybrid gradient method
//! (Chambolle & Pock 2011, "A first-order primal-dual algorithm for convex problems with
//! applications to imaging", J. Math. Imaging Vis. 40), over any [`Scalar`]:
//!
//! `min_x ½‖Ax − y‖² + λ·TV(x)` with the isotropic `TV(x) = Σ_pixels |(∇x)_p|₂` of the
//! forward-difference gradient [`FiniteDifferenceGradient`] (complex images: `|·|₂` over both
//! components of both differences). With `K = [A; μ∇]` (the gradient rescaled by `μ = ‖A‖/√8`
//! so that both blocks have comparable norms), `F₁(z) = ½‖z − y‖²`, `F₂(g) = (λ/μ)·Σ_p |g_p|₂`:
//! `p ← (p + σ(A x̄ − y)) / (1 + σ)`; `q ← Π_{|·| ≤ λ/μ}(q + σμ∇x̄)` pixel-wise;
//! `x⁺ ← x − τ(Aᴴp + μ∇ᴴq)` (then `max(·, 0)` if non-negative, real images only);
//! `x̄ ← 2x⁺ − x`. Steps `σ = τ = 1/L` with `L = √2·s·‖A‖_est ≥ ‖K‖` (`‖∇‖² ≤ 8`), where
//! `‖A‖_est` comes from [`power_iteration_norm`] and `s` = [`NORM_SAFETY`] covers its
//! underestimate, so that `στ‖K‖² < 1` as the convergence theorem requires.

use super::{
    Callback, NORM_SAFETY, check_weight, image_domain, least_squares, power_iteration_norm, report,
    start_image,
};
use crate::error::{PhysicsError, Result};
use crate::linop::LinearOperator;
use crate::scalar::Scalar;
use rayon::prelude::*;

/// Forward-difference image gradient with Neumann boundary (the last difference along each axis
/// is zero): `(∇x)₀[i, j] = x[i+1, j] − x[i, j]` (down the rows), `(∇x)₁[i, j] = x[i, j+1] − x[i, j]`
/// (along the columns), on real or complex images. Domain `(ny, nx)`, range `(2, ny, nx)`. The adjoint is the exact transpose
/// `−div` (backward differences with the matching boundary terms); `‖∇‖² ≤ 8`.
#[derive(Debug, Clone)]
pub struct FiniteDifferenceGradient {
    dom: [usize; 2],
    ran: [usize; 3],
}

impl FiniteDifferenceGradient {
    /// Gradient on `(ny, nx)` images.
    pub fn new(ny: usize, nx: usize) -> Self {
        Self {
            dom: [ny, nx],
            ran: [2, ny, nx],
        }
    }
    /// Upper bound of `‖∇‖²` (Chambolle 2004).
    pub const NORM_SQUARED_BOUND: f64 = 8.0;
}

impl<T: Scalar> LinearOperator<T> for FiniteDifferenceGradient {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, x: &[T], g: &mut [T]) {
        let [ny, nx] = self.dom;
        let (g0, g1) = g.split_at_mut(ny * nx);
        g0.par_chunks_mut(nx)
            .zip(g1.par_chunks_mut(nx))
            .enumerate()
            .for_each(|(i, (r0, r1))| {
                let row = &x[i * nx..(i + 1) * nx];
                if i + 1 < ny {
                    let next = &x[(i + 1) * nx..(i + 2) * nx];
                    r0.iter_mut()
                        .zip(next.iter().zip(row))
                        .for_each(|(o, (a, b))| *o = *a - *b);
                } else {
                    r0.fill(T::default());
                }
                for j in 0..nx - 1 {
                    r1[j] = row[j + 1] - row[j];
                }
                r1[nx - 1] = T::default();
            });
    }
    fn apply_adjoint(&self, g: &[T], x: &mut [T]) {
        let [ny, nx] = self.dom;
        let (g0, g1) = g.split_at(ny * nx);
        x.par_chunks_mut(nx).enumerate().for_each(|(i, out)| {
            let r1 = &g1[i * nx..(i + 1) * nx];
            for j in 0..nx {
                // transpose of the column differences: −g1[j] (as the left end) + g1[j−1] (right end)
                let mut v = T::default();
                if j + 1 < nx {
                    v = v - r1[j];
                }
                if j > 0 {
                    v += r1[j - 1];
                }
                // transpose of the row differences
                if i + 1 < ny {
                    v = v - g0[i * nx + j];
                }
                if i > 0 {
                    v += g0[(i - 1) * nx + j];
                }
                out[j] = v;
            }
        });
    }
}

/// Complex or real isotropic total variation `Σ_p |(∇x)_p|₂` of an `(ny, nx)` image.
pub fn total_variation<T: Scalar>(x: &[T], ny: usize, nx: usize) -> Result<f64> {
    let g = FiniteDifferenceGradient::new(ny, nx).forward_vec(x)?;
    let n = ny * nx;
    Ok((0..n)
        .into_par_iter()
        .map(|k| (g[k].abs2() + g[n + k].abs2()).sqrt())
        .sum())
}

/// The TV objective `½‖Ax − y‖² + λ TV(x)` that [`tv_pdhg`] minimises.
pub fn tv_objective<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x: &[T],
    lambda: f64,
) -> Result<f64> {
    let (ny, nx) = image_domain(a, "TV")?;
    Ok(least_squares(a, x, y)? + lambda * total_variation(x, ny, nx)?)
}

/// TV-PDHG settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TvOptions {
    /// Number of iterations.
    pub iterations: usize,
    /// TV weight `λ ≥ 0` (per unit of pixel difference).
    pub lambda: f64,
    /// Constrain `x ≥ 0` (real images only).
    pub nonneg: bool,
    /// Power-iteration steps for `‖A‖`.
    pub power_iterations: usize,
}

impl Default for TvOptions {
    fn default() -> Self {
        Self {
            iterations: 300,
            lambda: 0.01,
            nonneg: false,
            power_iterations: 30,
        }
    }
}

/// The full PDHG state: image and the two dual variables (`p` on the data, `q` on the *scaled*
/// gradient `μ∇x`), plus `μ`. The duals are read by the optimality (KKT) tests.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct PdhgState<T> {
    pub x: Vec<T>,
    pub p: Vec<T>,
    pub q: Vec<T>,
    pub mu: f64,
}

pub(crate) fn tv_pdhg_state<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x0: Option<&[T]>,
    opts: &TvOptions,
    mut callback: Callback<'_, T>,
) -> Result<PdhgState<T>> {
    check_weight("lambda", opts.lambda)?;
    if opts.nonneg && T::IS_COMPLEX {
        return Err(PhysicsError::argument(
            "nonneg",
            true,
            "x ≥ 0 needs real images",
        ));
    }
    let (ny, nx) = image_domain(a, "TV")?;
    let mut x = start_image(a, y, x0)?;
    let grad = FiniteDifferenceGradient::new(ny, nx);
    let norm_a = power_iteration_norm(a, opts.power_iterations, 0x7f4a_7c15)?;
    if norm_a == 0.0 {
        return Err(PhysicsError::argument(
            "operator",
            "A = 0",
            "the operator maps everything to zero",
        ));
    }
    let norm_a = NORM_SAFETY * norm_a;
    let mu = norm_a / FiniteDifferenceGradient::NORM_SQUARED_BOUND.sqrt();
    let l = (norm_a * norm_a + mu * mu * FiniteDifferenceGradient::NORM_SQUARED_BOUND).sqrt();
    let (sigma, tau) = (1.0 / l, 1.0 / l);
    let radius = opts.lambda / mu;
    let sf = T::real_from_f64(sigma);
    let shrink = T::real_from_f64(1.0 / (1.0 + sigma));
    let (smu, tf, tmu) = (
        T::real_from_f64(sigma * mu),
        T::real_from_f64(tau),
        T::real_from_f64(tau * mu),
    );
    let n = nx * ny;
    let mut xbar = x.clone();
    let mut p = vec![T::default(); a.range_len()];
    let mut q = vec![T::default(); 2 * n];
    let mut ax = vec![T::default(); a.range_len()];
    let mut gx = vec![T::default(); 2 * n];
    let mut atp = vec![T::default(); n];
    let mut gtq = vec![T::default(); n];
    for k in 0..opts.iterations {
        a.apply_forward(&xbar, &mut ax);
        p.par_iter_mut()
            .zip(ax.par_iter().zip(y))
            .for_each(|(pi, (axi, yi))| *pi = (*pi + (*axi - *yi).mul_real(sf)).mul_real(shrink));
        grad.apply_forward(&xbar, &mut gx);
        {
            let (q0, q1) = q.split_at_mut(n);
            let (g0, g1) = gx.split_at(n);
            q0.par_iter_mut()
                .zip(q1.par_iter_mut())
                .zip(g0.par_iter().zip(g1))
                .for_each(|((a0, a1), (b0, b1))| {
                    let (v0, v1) = (*a0 + b0.mul_real(smu), *a1 + b1.mul_real(smu));
                    let m = (v0.abs2() + v1.abs2()).sqrt();
                    if m > radius {
                        let s = T::real_from_f64(radius / m);
                        (*a0, *a1) = (v0.mul_real(s), v1.mul_real(s));
                    } else {
                        (*a0, *a1) = (v0, v1);
                    }
                });
        }
        a.apply_adjoint(&p, &mut atp);
        grad.apply_adjoint(&q, &mut gtq);
        x.par_iter_mut()
            .zip(xbar.par_iter_mut())
            .zip(atp.par_iter().zip(&gtq))
            .for_each(|((xi, xb), (ap, gq))| {
                let mut new = *xi - ap.mul_real(tf) - gq.mul_real(tmu);
                if opts.nonneg && new.to_c64().re < 0.0 {
                    new = T::default();
                }
                *xb = new + new - *xi;
                *xi = new;
            });
        report(&mut callback, k + 1, opts.iterations, &x, None);
    }
    Ok(PdhgState { x, p, q, mu })
}

/// `min_x ½‖Ax − y‖² + λ·TV(x)` by Chambolle–Pock PDHG (see the module docs); `A`'s domain must be
/// a 2-D image `(ny, nx)`.
pub fn tv_pdhg<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x0: Option<&[T]>,
    opts: &TvOptions,
    callback: Callback<'_, T>,
) -> Result<Vec<T>> {
    tv_pdhg_state(a, y, x0, opts, callback).map(|s| s.x)
}

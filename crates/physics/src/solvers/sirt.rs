//! SIRT in ASTRA's formulation (van Aarle et al. 2016, "Fast and flexible X-ray tomography using
//! the ASTRA toolbox", Opt. Express 24(22); Gregor & Benson 2008, IEEE TMI 27(7)):
//! `x ← x + ω·C·Aᵀ·R·(y − A x)`, `R = diag(1 / A𝟙)` (inverse row sums), `C = diag(1 / Aᵀ𝟙)`
//! (inverse column sums), zero where a sum vanishes; optionally projected onto `x ≥ 0`.
//! It is a gradient method on `‖y − Ax‖²_R` preconditioned by `C`; for `0 < ω < 2` and
//! non-negative `A` it converges (Jiang & Wang 2003). Real (`f32`) only: the row and column sums
//! of a non-negative system matrix are what make it a CT method.

use super::{Callback, report, start_image};
use crate::error::{PhysicsError, Result};
use crate::linop::LinearOperator;
use rayon::prelude::*;

/// SIRT settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SirtOptions {
    /// Number of iterations.
    pub iterations: usize,
    /// Relaxation `ω ∈ (0, 2)` (ASTRA's default 1).
    pub relaxation: f64,
    /// Project onto `x ≥ 0` after every step (ASTRA's `MinConstraint = 0`).
    pub nonneg: bool,
}

impl Default for SirtOptions {
    fn default() -> Self {
        Self {
            iterations: 100,
            relaxation: 1.0,
            nonneg: false,
        }
    }
}

/// Inverse of each entry, zero where the entry is not above `tol` times the largest.
fn inverse_sums(v: &mut [f32]) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let tol = max * 1e-6;
    v.par_iter_mut()
        .for_each(|s| *s = if *s > tol { 1.0 / *s } else { 0.0 });
}

/// SIRT (see the module docs). Rows or columns of `A` with a zero sum get zero weight.
pub fn sirt<O: LinearOperator<f32> + ?Sized>(
    a: &O,
    y: &[f32],
    x0: Option<&[f32]>,
    opts: &SirtOptions,
    mut callback: Callback<'_>,
) -> Result<Vec<f32>> {
    let w = opts.relaxation;
    if !(w.is_finite() && w > 0.0 && w < 2.0) {
        return Err(PhysicsError::argument("relaxation", w, "must be in (0, 2)"));
    }
    let mut x = start_image(a, y, x0)?;
    let mut r_w = vec![1.0f32; a.range_len()];
    let mut c_w = vec![1.0f32; a.domain_len()];
    {
        let ones_x = vec![1.0f32; a.domain_len()];
        a.apply_forward(&ones_x, &mut r_w);
        let ones_y = vec![1.0f32; a.range_len()];
        a.apply_adjoint(&ones_y, &mut c_w);
    }
    inverse_sums(&mut r_w);
    inverse_sums(&mut c_w);
    let mut res = vec![0.0f32; a.range_len()];
    let mut back = vec![0.0f32; a.domain_len()];
    for k in 0..opts.iterations {
        a.apply_forward(&x, &mut res);
        res.par_iter_mut()
            .zip(y.par_iter().zip(&r_w))
            .for_each(|(r, (yi, wi))| *r = (yi - *r) * wi);
        a.apply_adjoint(&res, &mut back);
        let step = w as f32;
        x.par_iter_mut()
            .zip(back.par_iter().zip(&c_w))
            .for_each(|(xi, (b, c))| {
                *xi += step * c * b;
                if opts.nonneg && *xi < 0.0 {
                    *xi = 0.0;
                }
            });
        report(&mut callback, k + 1, opts.iterations, &x, None);
    }
    Ok(x)
}

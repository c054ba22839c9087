//! Iterative reconstruction on any [`LinearOperator<T>`] over a [`Scalar`] `T`: CT sinograms
//! (`f32`) and multi-coil k-space (`Complex32`) go through one implementation of each method.
//!
//! | method | problem | module | used by |
//! |---|---|---|---|
//! | CGLS | `min ‖Ax − y‖²` | [`krylov`] | CT `recon --method cgls`, MRI `recon --method cgls` |
//! | CG on the normal equations | `(AᴴA + λI)x = Aᴴy` | [`krylov`] | MRI CG-SENSE |
//! | FISTA | `min ½‖Ax − y‖² + λ‖Wx‖₁` (wavelet) | [`fista`] | CT and MRI `--method l1` |
//! | PDHG | `min ½‖Ax − y‖² + λ TV(x)` | [`pdhg`] | CT and MRI `--method tv` |
//! | SIRT | weighted least squares (ASTRA) | [`sirt`] | CT `--method sirt` |
//!
//! Images and data are stored in `T`; inner products and norms accumulate in `f64`, step sizes
//! are in `T::Real` (`f32` for both `f32` and `Complex32`), so the generic code computes what a
//! hand-specialised one would. Each method takes an iteration count, an optional start image
//! (default zeros) and an optional callback called once per iteration with an [`Iteration`]
//! (progress bars, monitoring), and returns the final image. The optimality tests
//! (`solvers/tests.rs`) check every method against dense references and its KKT conditions, each
//! instantiated for `f32` and `Complex32` and for the CT and MRI operators.

pub mod fista;
pub mod krylov;
pub mod pdhg;
pub mod sirt;
#[cfg(test)]
mod tests;

pub use fista::{
    L1WaveletOptions, fista, l1_wavelet, l1_wavelet_objective, lipschitz_constant,
    wavelet_l1_penalty,
};
pub use krylov::{
    CgOptions, cg_normal, cg_normal_rhs, cgls, normal_max_eigenvalue, power_iteration_norm,
};
pub use pdhg::{FiniteDifferenceGradient, TvOptions, total_variation, tv_objective, tv_pdhg};
pub use sirt::{SirtOptions, sirt};

use crate::error::{PhysicsError, Result, check_len};
use crate::linop::LinearOperator;
use crate::scalar::Scalar;
use rayon::prelude::*;

/// What a solver reports after each iteration.
#[derive(Debug, Clone, Copy)]
pub struct Iteration<'a, T = f32> {
    /// 1-based index of the iteration just completed.
    pub index: usize,
    /// Total number of iterations requested.
    pub total: usize,
    /// The current image.
    pub x: &'a [T],
    /// The method's monitored residual when it has it for free: `‖y − Ax‖` for CGLS, the
    /// normal-equation residual `‖Aᴴy − (AᴴA + λ)x‖` for CG; `None` otherwise.
    pub residual: Option<f64>,
}

/// A per-iteration callback.
pub type Callback<'c, T = f32> = Option<&'c mut dyn FnMut(&Iteration<'_, T>)>;

/// Safety factor on the power-iteration estimate of `‖A‖`. Power iteration approaches the norm
/// from below; for a random start its relative error on `‖A‖²` is at worst of order
/// `ln(n)/k` after `k` steps (Kuczyński & Woźniakowski 1992), and in practice, for CT and MRI
/// operators whose top singular value is well separated, below 1 % after 30 steps. A 10 % margin
/// on the norm (21 % on `‖A‖²`) keeps step sizes inside the convergence bounds with room to spare
/// and costs about 10 % in step length.
pub const NORM_SAFETY: f64 = 1.1;

/// `Re⟨a, b⟩ = Re Σ conj(a_i) b_i`, accumulated in `f64`.
pub(crate) fn re_dot<T: Scalar>(a: &[T], b: &[T]) -> f64 {
    a.par_iter()
        .zip(b)
        .map(|(x, y)| {
            let (x, y) = (x.to_c64(), y.to_c64());
            x.re * y.re + x.im * y.im
        })
        .sum()
}

/// `‖a‖₂`, accumulated in `f64`.
pub(crate) fn norm2<T: Scalar>(a: &[T]) -> f64 {
    re_dot(a, a).sqrt()
}

/// `y ← y + α x`.
pub(crate) fn axpy<T: Scalar>(y: &mut [T], alpha: T::Real, x: &[T]) {
    y.par_iter_mut()
        .zip(x)
        .for_each(|(yi, xi)| *yi += xi.mul_real(alpha));
}

/// `½‖Ax − y‖²`.
pub fn least_squares<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    x: &[T],
    y: &[T],
) -> Result<f64> {
    let ax = a.forward_vec(x)?;
    check_len(data_name::<T>(), a.range_shape(), y.len())?;
    Ok(0.5
        * ax.par_iter()
            .zip(y)
            .map(|(p, q)| (*p - *q).abs2())
            .sum::<f64>())
}

/// How errors name the data: real data are CT measurements, complex data k-space.
fn data_name<T: Scalar>() -> &'static str {
    if T::IS_COMPLEX {
        "y (k-space)"
    } else {
        "y (measurements)"
    }
}

/// Error on the first NaN or infinity of `data`, naming it `what`.
pub(crate) fn check_finite_all<T: Scalar>(what: &'static str, data: &[T]) -> Result<()> {
    match crate::error::first_non_finite(data, T::is_finite) {
        None => Ok(()),
        Some(index) => {
            let c = data[index].to_c64();
            Err(PhysicsError::NonFinite {
                what,
                index,
                value: if c.re.is_finite() { c.im } else { c.re },
            })
        }
    }
}

/// Check the data `y` (length, finite) and return the start image (`x0`, checked, or zeros).
pub(crate) fn start_image<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    x0: Option<&[T]>,
) -> Result<Vec<T>> {
    check_len(data_name::<T>(), a.range_shape(), y.len())?;
    check_finite_all(data_name::<T>(), y)?;
    start_from(a, x0)
}

/// The start image: `x0` (length and values checked) or zeros.
pub(crate) fn start_from<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    x0: Option<&[T]>,
) -> Result<Vec<T>> {
    match x0 {
        None => Ok(vec![T::default(); a.domain_len()]),
        Some(x0) => {
            check_len("x0 (start image)", a.domain_shape(), x0.len())?;
            check_finite_all("x0 (start image)", x0)?;
            Ok(x0.to_vec())
        }
    }
}

/// A regularisation weight (or tolerance) must be finite and `≥ 0`.
pub(crate) fn check_weight(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(PhysicsError::argument(name, v, "must be finite and ≥ 0"))
    }
}

/// The operator's 2-D image domain `(ny, nx)`, or an error saying `method` needs one.
pub(crate) fn image_domain<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    method: &str,
) -> Result<(usize, usize)> {
    match *a.domain_shape() {
        [ny, nx] => Ok((ny, nx)),
        ref shape => Err(PhysicsError::argument(
            "operator domain",
            format!("{shape:?}"),
            format!("{method} needs a 2-D image domain (ny, nx)"),
        )),
    }
}

/// Report iteration `index` of `total` to the callback, if any.
pub(crate) fn report<T>(
    callback: &mut Callback<'_, T>,
    index: usize,
    total: usize,
    x: &[T],
    residual: Option<f64>,
) {
    if let Some(cb) = callback.as_deref_mut() {
        cb(&Iteration {
            index,
            total,
            x,
            residual,
        });
    }
}

//! numpy ↔ slices: C-contiguous inputs of the right dtype are borrowed (no copy), outputs are
//! moved into numpy (no copy), and an operator is applied over a leading batch axis with the GIL
//! released. The Python layer (`fedrecon/_arrays.py`) converts anything else once, with numpy.

use crate::error::{BindingError, Result};
use fedrecon_physics::LinearOperator;
use fedrecon_physics::scalar::Scalar;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{Element, IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// The data of a C-contiguous array, borrowed.
pub fn slice<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>, what: &str) -> Result<&'a [T]> {
    if !a.is_c_contiguous() {
        return Err(BindingError::arg(format!(
            "{what}: expected a C-contiguous array (numpy.ascontiguousarray)"
        )));
    }
    a.as_slice()
        .map_err(|e| BindingError::arg(format!("{what}: {e}")))
}

/// The leading (batch) axes of `shape` whose trailing axes must equal `tail`.
pub fn lead_axes(shape: &[usize], tail: &[usize], what: &str) -> Result<Vec<usize>> {
    match shape.len().checked_sub(tail.len()) {
        Some(k) if shape[k..] == *tail => Ok(shape[..k].to_vec()),
        _ => Err(BindingError::arg(format!(
            "{what}: expected shape (..., {}) (a leading batch axis is allowed), found {shape:?}",
            tail.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Move `data` into a numpy array of shape `lead + tail`.
pub fn to_numpy<'py, T: Element>(
    py: Python<'py>,
    lead: &[usize],
    tail: &[usize],
    data: Vec<T>,
) -> Result<Bound<'py, PyArrayDyn<T>>> {
    let mut dims = lead.to_vec();
    dims.extend_from_slice(tail);
    let a = ArrayD::from_shape_vec(IxDyn(&dims), data)
        .map_err(|e| BindingError::arg(format!("output of shape {dims:?}: {e}")))?;
    Ok(a.into_pyarray(py))
}

/// Which map of an operator to apply.
#[derive(Debug, Clone, Copy)]
pub enum Map {
    /// `A x`: domain → range.
    Forward,
    /// `Aᴴ y`: range → domain.
    Adjoint,
    /// `Aᴴ A x`: domain → domain.
    Normal,
}

/// Apply `op` to every item of `x` over its leading axes, with the GIL released.
pub fn apply<'py, T: Scalar + Element>(
    py: Python<'py>,
    op: &dyn LinearOperator<T>,
    x: &PyReadonlyArrayDyn<'py, T>,
    map: Map,
) -> Result<Bound<'py, PyArrayDyn<T>>> {
    let (from, to, what) = match map {
        Map::Forward => (op.domain_shape(), op.range_shape(), "forward input"),
        Map::Adjoint => (op.range_shape(), op.domain_shape(), "adjoint input"),
        Map::Normal => (op.domain_shape(), op.domain_shape(), "normal input"),
    };
    let lead = lead_axes(x.shape(), from, what)?;
    let data = slice(x, what)?;
    let (n_in, n_out) = (from.iter().product::<usize>(), to.iter().product::<usize>());
    let batch: usize = lead.iter().product();
    let out = py.detach(|| -> Result<Vec<T>> {
        let mut out = vec![T::default(); batch * n_out];
        if n_in > 0 && n_out > 0 {
            for (xi, yi) in data.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
                match map {
                    Map::Forward => op.forward(xi, yi)?,
                    Map::Adjoint => op.adjoint(xi, yi)?,
                    Map::Normal => op.normal(xi, yi)?,
                }
            }
        }
        Ok(out)
    })?;
    to_numpy(py, &lead, to, out)
}

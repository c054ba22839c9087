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

/// The input of `map` of `op` over its leading (batch) axes.
struct Batched<'a, T> {
    lead: Vec<usize>,
    out_tail: Vec<usize>,
    data: &'a [T],
    n_in: usize,
    n_out: usize,
}

impl<'a, T: Scalar + Element> Batched<'a, T> {
    fn new(op: &dyn LinearOperator<T>, x: &'a PyReadonlyArrayDyn<'_, T>, map: Map) -> Result<Self> {
        let (from, to, what) = match map {
            Map::Forward => (op.domain_shape(), op.range_shape(), "forward input"),
            Map::Adjoint => (op.range_shape(), op.domain_shape(), "adjoint input"),
            Map::Normal => (op.domain_shape(), op.domain_shape(), "normal input"),
        };
        Ok(Self {
            lead: lead_axes(x.shape(), from, what)?,
            out_tail: to.to_vec(),
            data: slice(x, what)?,
            n_in: from.iter().product(),
            n_out: to.iter().product(),
        })
    }

    fn out_len(&self) -> usize {
        self.lead.iter().product::<usize>() * self.n_out
    }

    /// `map` of `op` on every item into `out` (`out_len` long).
    fn run(&self, op: &dyn LinearOperator<T>, map: Map, out: &mut [T]) -> Result<()> {
        if self.n_in == 0 || self.n_out == 0 {
            return Ok(());
        }
        for (xi, yi) in self
            .data
            .chunks_exact(self.n_in)
            .zip(out.chunks_exact_mut(self.n_out))
        {
            match map {
                Map::Forward => op.forward(xi, yi)?,
                Map::Adjoint => op.adjoint(xi, yi)?,
                Map::Normal => op.normal(xi, yi)?,
            }
        }
        Ok(())
    }
}

/// Apply `op` to every item of `x` over its leading axes, with the GIL released.
pub fn apply<'py, T: Scalar + Element>(
    py: Python<'py>,
    op: &dyn LinearOperator<T>,
    x: &PyReadonlyArrayDyn<'py, T>,
    map: Map,
) -> Result<Bound<'py, PyArrayDyn<T>>> {
    let b = Batched::new(op, x, map)?;
    let out = py.detach(|| -> Result<Vec<T>> {
        let mut out = vec![T::default(); b.out_len()];
        b.run(op, map, &mut out)?;
        Ok(out)
    })?;
    to_numpy(py, &b.lead, &b.out_tail, out)
}

impl Map {
    /// `"forward"`, `"adjoint"` or `"normal"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "forward" => Ok(Map::Forward),
            "adjoint" => Ok(Map::Adjoint),
            "normal" => Ok(Map::Normal),
            other => Err(BindingError::arg(format!(
                "map = {other:?}: must be \"forward\", \"adjoint\" or \"normal\""
            ))),
        }
    }
}

/// The Rust operator alone, timed inside Rust: `repeat` runs of what [`apply`] computes for `x`
/// with the GIL released (allocate the output as `LinearOperator::forward_vec` does, run the
/// operator on every batch item of the same borrowed input, free the output); the wall time of
/// each run in milliseconds. [`apply`] from Python minus this is the binding's overhead (the
/// Python wrapper, argument extraction and checks, releasing and taking the GIL, handing the
/// result to numpy), measured in one process on one input.
pub fn time_rust<T: Scalar + Element>(
    py: Python<'_>,
    op: &dyn LinearOperator<T>,
    x: &PyReadonlyArrayDyn<'_, T>,
    map: &str,
    repeat: usize,
) -> Result<Vec<f64>> {
    let map = Map::parse(map)?;
    let b = Batched::new(op, x, map)?;
    py.detach(|| -> Result<Vec<f64>> {
        (0..repeat)
            .map(|_| {
                let t = std::time::Instant::now();
                let mut out = vec![T::default(); b.out_len()];
                b.run(op, map, &mut out)?;
                // freed inside the timing, as the Python call's result is when it is dropped
                drop(std::hint::black_box(out));
                Ok(t.elapsed().as_secs_f64() * 1e3)
            })
            .collect()
    })
}

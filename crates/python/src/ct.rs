//! CT: the projector (Joseph or Siddon) on a geometry resolved by the same rules as the CLI
//! (`GeometrySpec::resolve`, keywords named as the flags), and the classical reconstructions of
//! `fedrecon ct recon` with its defaults.

use crate::array::{Map, apply, lead_axes, slice, time_rust, to_numpy};
use crate::error::{BindingError, Result};
use fedrecon_physics::ct::fbp::{Fbp, FbpFilter, FbpOptions};
use fedrecon_physics::ct::{JosephProjector, SiddonProjector};
use fedrecon_physics::geometry::{CtGeometry, GeometrySpec, Naming};
use fedrecon_physics::solvers::{self, L1WaveletOptions, SirtOptions, TvOptions};
use fedrecon_physics::{LinearOperator, memory};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use std::path::PathBuf;

/// A CT projector: `forward` = image `(ny, nx)` → sinogram `(angles, detectors)`, `adjoint` = its
/// exact transpose; both over leading batch axes.
#[pyclass(frozen, module = "fedrecon._native")]
pub struct CtProjector {
    op: Box<dyn LinearOperator<f32>>,
    geometry: CtGeometry,
    projector: String,
}

fn build_projector(projector: &str, g: CtGeometry) -> Result<Box<dyn LinearOperator<f32>>> {
    Ok(match projector {
        "joseph" => Box::new(JosephProjector::new(g)),
        "siddon" => Box::new(SiddonProjector::new(g)),
        other => {
            return Err(BindingError::arg(format!(
                "projector = {other:?}: must be \"joseph\" or \"siddon\""
            )));
        }
    })
}

#[pymethods]
impl CtProjector {
    #[new]
    #[pyo3(signature = (*, size=None, beam=None, angles=None, angle_list=None, arc=None,
        detectors=None, detector_spacing=None, detector_offset=None, sod=None, sdd=None,
        curved=false, pixel_size=None, projector="joseph", geometry=None, image=None, sino=None))]
    fn new(
        size: Option<usize>,
        beam: Option<String>,
        angles: Option<usize>,
        angle_list: Option<Vec<f64>>,
        arc: Option<f64>,
        detectors: Option<usize>,
        detector_spacing: Option<f64>,
        detector_offset: Option<f64>,
        sod: Option<f64>,
        sdd: Option<f64>,
        curved: bool,
        pixel_size: Option<f64>,
        projector: &str,
        geometry: Option<PathBuf>,
        image: Option<[usize; 2]>,
        sino: Option<[usize; 2]>,
    ) -> Result<Self> {
        let keywords = GeometrySpec {
            beam,
            angles,
            angle_span: arc.map(f64::to_radians),
            angle_list,
            detectors,
            detector_spacing,
            detector_offset,
            size,
            ny: None,
            nx: None,
            pixel_size,
            sod,
            sdd,
            curved: curved.then_some(true),
        };
        let file = match &geometry {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| BindingError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Some(GeometrySpec::from_toml(&text)?)
            }
            None => None,
        };
        let g = keywords.resolve(file.as_ref(), image, sino, Naming::Keywords)?;
        Ok(Self {
            op: build_projector(projector, g.clone())?,
            geometry: g,
            projector: projector.to_string(),
        })
    }

    /// `(ny, nx)`.
    #[getter]
    fn shape_in(&self) -> (usize, usize) {
        let [ny, nx] = self.geometry.image_shape();
        (ny, nx)
    }

    /// `(angles, detectors)`.
    #[getter]
    fn shape_out(&self) -> (usize, usize) {
        let [na, nd] = self.geometry.sino_shape();
        (na, nd)
    }

    /// Projection angles in radians.
    #[getter]
    fn angles(&self) -> Vec<f64> {
        self.geometry.angles().to_vec()
    }

    /// `"joseph"` or `"siddon"`.
    #[getter]
    fn projector(&self) -> &str {
        &self.projector
    }

    fn __repr__(&self) -> String {
        let beam = match self.geometry {
            CtGeometry::Parallel(_) => "parallel",
            CtGeometry::Fan(_) => "fan",
        };
        format!(
            "Projector(beam={beam:?}, projector={:?}, shape_in={:?}, shape_out={:?})",
            self.projector,
            self.shape_in(),
            self.shape_out(),
        )
    }

    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
    ) -> Result<Bound<'py, PyArrayDyn<f32>>> {
        apply(py, self.op.as_ref(), &x, Map::Forward)
    }

    fn adjoint<'py>(
        &self,
        py: Python<'py>,
        y: PyReadonlyArrayDyn<'py, f32>,
    ) -> Result<Bound<'py, PyArrayDyn<f32>>> {
        apply(py, self.op.as_ref(), &y, Map::Adjoint)
    }

    fn normal<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
    ) -> Result<Bound<'py, PyArrayDyn<f32>>> {
        apply(py, self.op.as_ref(), &x, Map::Normal)
    }

    /// The operator alone timed inside Rust on `x` (ms per run, `repeat` runs; see
    /// `benches/peers/python_ops.py`): the reference for the overhead of calling it from Python.
    #[pyo3(signature = (map, x, repeat=1))]
    fn _time_rust(
        &self,
        py: Python<'_>,
        map: &str,
        x: PyReadonlyArrayDyn<'_, f32>,
        repeat: usize,
    ) -> Result<Vec<f64>> {
        time_rust(py, self.op.as_ref(), &x, map, repeat)
    }
}

/// `fedrecon ct recon` on `sino` `(..., angles, detectors)` with `projector`'s geometry (the
/// iterative methods use its projector model): images `(..., ny, nx)`.
#[pyfunction]
#[pyo3(signature = (projector, sino, *, method="fbp", filter="ram-lak", frequency_scaling=1.0,
    padding=None, iters=100, lambda_=0.01, nonneg=false, relaxation=1.0))]
pub fn ct_recon<'py>(
    py: Python<'py>,
    projector: &CtProjector,
    sino: PyReadonlyArrayDyn<'py, f32>,
    method: &str,
    filter: &str,
    frequency_scaling: f64,
    padding: Option<usize>,
    iters: usize,
    lambda_: f64,
    nonneg: bool,
    relaxation: f64,
) -> Result<Bound<'py, PyArrayDyn<f32>>> {
    let g = &projector.geometry;
    let [na, nd] = g.sino_shape();
    let lead = lead_axes(sino.shape(), &[na, nd], "sino")?;
    let data = slice(&sino, "sino")?;
    fedrecon_physics::error::check_finite("sino", data)?;
    let [ny, nx] = g.image_shape();
    if nonneg && method == "l1" {
        return Err(BindingError::arg(
            "nonneg applies to method \"sirt\" or \"tv\", not \"l1\"",
        ));
    }
    let op = projector.op.as_ref();
    let batch: usize = lead.iter().product();
    memory::ensure_fits(
        "sino",
        format!("{batch} × {ny} × {nx}"),
        memory::bytes_of(&[batch, ny, nx], 4),
    )?;
    let out = py.detach(|| -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(batch * ny * nx);
        let fbp = match method {
            "fbp" => Some(Fbp::new(
                g.clone(),
                &FbpOptions {
                    filter: filter.parse::<FbpFilter>()?,
                    frequency_scaling,
                    padded_len: padding,
                },
            )?),
            "sirt" | "cgls" | "tv" | "l1" => {
                if iters == 0 {
                    return Err(BindingError::arg("iters must be at least 1"));
                }
                None
            }
            other => {
                return Err(BindingError::arg(format!(
                    "method = {other:?}: must be \"fbp\", \"sirt\", \"cgls\", \"tv\" or \"l1\""
                )));
            }
        };
        for y in data.chunks_exact(na * nd) {
            let x = match (&fbp, method) {
                (Some(f), _) => f.reconstruct(y)?,
                (None, "sirt") => solvers::sirt(
                    op,
                    y,
                    None,
                    &SirtOptions {
                        iterations: iters,
                        relaxation,
                        nonneg,
                    },
                    None,
                )?,
                (None, "cgls") => solvers::cgls(op, y, None, iters, None)?,
                (None, "l1") => solvers::l1_wavelet(
                    op,
                    y,
                    None,
                    &L1WaveletOptions {
                        iterations: iters,
                        lambda: lambda_,
                        ..L1WaveletOptions::default()
                    },
                    None,
                )?,
                _ => solvers::tv_pdhg(
                    op,
                    y,
                    None,
                    &TvOptions {
                        iterations: iters,
                        lambda: lambda_,
                        nonneg,
                        ..TvOptions::default()
                    },
                    None,
                )?,
            };
            out.extend_from_slice(&x);
        }
        Ok(out)
    })?;
    to_numpy(py, &lead, &[ny, nx], out)
}

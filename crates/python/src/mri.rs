//! MRI: the 2-D NUFFT (type 2 forward, type 1 adjoint, Toeplitz-free normal), the multi-coil
//! SENSE operator (Cartesian with a mask, or on a trajectory with the Toeplitz normal) and the
//! fastMRI / Poisson-disc sampling masks of `fedrecon mri simulate` (same seed, same mask).

use crate::array::{Map, apply, slice, time_rust, to_numpy};
use crate::error::{BindingError, Result};
use fedrecon_physics::mri::mask::{MaskKind, fastmri_columns};
use fedrecon_physics::mri::{
    NufftOptions, NufftPlan, NufftSenseOperator, PoissonDiscOptions, SamplingMask, SenseOperator,
    Upsampling, poisson_disc_mask,
};
use fedrecon_physics::numpy_rng::Mt19937;
use fedrecon_physics::{LinearOperator, memory};
use num_complex::Complex32;
use numpy::{PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// `(kx, ky)` pairs of a `(M, 2)` float32 trajectory, in cycles/pixel.
fn trajectory<'a>(traj: &'a PyReadonlyArrayDyn<'_, f32>) -> Result<&'a [f32]> {
    match traj.shape() {
        [m, 2] if *m > 0 => slice(traj, "traj"),
        s => Err(BindingError::arg(format!(
            "traj: expected shape (M, 2) with columns (kx, ky) in cycles/pixel, found {s:?}"
        ))),
    }
}

/// [`trajectory`] of `m` points for an `n × n` image (`size`, at least 2, small enough to fit in
/// memory): `(kxy, m, n)`.
fn trajectory_on_grid<'a>(
    traj: &'a PyReadonlyArrayDyn<'_, f32>,
    size: Option<usize>,
) -> Result<(&'a [f32], usize, usize)> {
    let kxy = trajectory(traj)?;
    let n = size.unwrap_or(0);
    if n < 2 {
        return Err(BindingError::arg(format!(
            "size = {n}: give the image side (at least 2) for traj"
        )));
    }
    memory::ensure_fits("size", n, memory::bytes_of(&[n, n, 12], 8))?;
    Ok((kxy, kxy.len() / 2, n))
}

fn nufft_options(eps: f64, upsampling: f64) -> Result<NufftOptions> {
    Ok(NufftOptions {
        eps,
        upsampling: Upsampling::from_sigma(upsampling)?,
    })
}

/// The NUFFT on an `N × N` image: `forward` = type 2 (image → points, `exp(−2πi k·x)`),
/// `adjoint` = type 1 (points → image), `normal` = type 1 ∘ type 2.
#[pyclass(frozen, module = "fedrecon._native")]
pub struct Nufft {
    plan: NufftPlan,
}

#[pymethods]
impl Nufft {
    #[new]
    #[pyo3(signature = (traj, *, size, eps=1e-6, upsampling=2.0))]
    fn new(
        py: Python<'_>,
        traj: PyReadonlyArrayDyn<'_, f32>,
        size: usize,
        eps: f64,
        upsampling: f64,
    ) -> Result<Self> {
        let kxy = trajectory(&traj)?;
        memory::ensure_fits("size", size, memory::bytes_of(&[size, size, 8], 8))?;
        let options = nufft_options(eps, upsampling)?;
        let plan = py.detach(|| NufftPlan::new(size, size, kxy, options))?;
        Ok(Self { plan })
    }

    #[getter]
    fn shape_in(&self) -> (usize, usize) {
        self.plan.image_shape()
    }

    #[getter]
    fn shape_out(&self) -> (usize,) {
        (self.plan.n_points(),)
    }

    /// Kernel width (fine-grid cells) the tolerance resolved to.
    #[getter]
    fn kernel_width(&self) -> usize {
        self.plan.kernel().width
    }

    /// The oversampled grid `(ny, nx)`.
    #[getter]
    fn fine_shape(&self) -> (usize, usize) {
        self.plan.fine_shape()
    }

    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, Complex32>,
    ) -> Result<Bound<'py, PyArrayDyn<Complex32>>> {
        apply(py, &self.plan, &x, Map::Forward)
    }

    fn adjoint<'py>(
        &self,
        py: Python<'py>,
        y: PyReadonlyArrayDyn<'py, Complex32>,
    ) -> Result<Bound<'py, PyArrayDyn<Complex32>>> {
        apply(py, &self.plan, &y, Map::Adjoint)
    }

    fn normal<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, Complex32>,
    ) -> Result<Bound<'py, PyArrayDyn<Complex32>>> {
        apply(py, &self.plan, &x, Map::Normal)
    }

    /// The operator alone timed inside Rust on `x` (ms per run, `repeat` runs; see
    /// `benches/peers/python_ops.py`): the reference for the overhead of calling it from Python.
    #[pyo3(signature = (map, x, repeat=1))]
    fn _time_rust(
        &self,
        py: Python<'_>,
        map: &str,
        x: PyReadonlyArrayDyn<'_, Complex32>,
        repeat: usize,
    ) -> Result<Vec<f64>> {
        time_rust(py, &self.plan, &x, map, repeat)
    }
}

/// A Cartesian sampling mask from a float32 array of 0 / 1: `(nx,)` columns or `(ny, nx)`;
/// `grid` names what fixes `(ny, nx)` in the error.
fn sampling_mask(
    mask: &PyReadonlyArrayDyn<'_, f32>,
    ny: usize,
    nx: usize,
    grid: &str,
) -> Result<SamplingMask> {
    let values = slice(mask, "mask")?;
    let m = match mask.shape() {
        [n] if *n == nx => SamplingMask::columns_from_f32(values)?,
        [a, b] if (*a, *b) == (ny, nx) => SamplingMask::full_from_f32(ny, nx, values)?,
        s => {
            return Err(BindingError::arg(format!(
                "mask: expected shape ({nx},) (columns) or ({ny}, {nx}) for {grid}, found {s:?}"
            )));
        }
    };
    Ok(m)
}

/// Multi-coil SENSE: image `(ny, nx)` → k-space `(coils, ny, nx)` (Cartesian, masked) or samples
/// `(coils, M)` (on a trajectory).
#[pyclass(frozen, module = "fedrecon._native")]
pub struct Sense {
    op: Box<dyn LinearOperator<Complex32>>,
}

#[pymethods]
impl Sense {
    #[new]
    #[pyo3(signature = (maps, *, mask=None, traj=None, eps=1e-6, upsampling=2.0, toeplitz=true))]
    fn new(
        py: Python<'_>,
        maps: PyReadonlyArrayDyn<'_, Complex32>,
        mask: Option<PyReadonlyArrayDyn<'_, f32>>,
        traj: Option<PyReadonlyArrayDyn<'_, f32>>,
        eps: f64,
        upsampling: f64,
        toeplitz: bool,
    ) -> Result<Self> {
        let [coils, ny, nx] = match maps.shape() {
            [c, y, x] => [*c, *y, *x],
            s => {
                return Err(BindingError::arg(format!(
                    "maps: expected shape (coils, ny, nx), found {s:?}"
                )));
            }
        };
        let m = slice(&maps, "maps")?.to_vec();
        let op: Box<dyn LinearOperator<Complex32>> = match (&traj, &mask) {
            (Some(_), Some(_)) => {
                return Err(BindingError::arg(
                    "mask applies to Cartesian SENSE; a trajectory (traj) samples its own points",
                ));
            }
            (Some(t), None) => {
                let kxy = trajectory(t)?;
                let options = nufft_options(eps, upsampling)?;
                let op = py.detach(|| -> Result<NufftSenseOperator> {
                    let op = NufftSenseOperator::new(m, coils, ny, nx, kxy, options)?;
                    Ok(if toeplitz { op.with_toeplitz()? } else { op })
                })?;
                Box::new(op)
            }
            (None, mask) => {
                let mask = match mask {
                    Some(a) => Some(sampling_mask(
                        a,
                        ny,
                        nx,
                        &format!("maps (coils, {ny}, {nx})"),
                    )?),
                    None => None,
                };
                Box::new(SenseOperator::new(m, coils, ny, nx, mask)?)
            }
        };
        Ok(Self { op })
    }

    #[getter]
    fn shape_in(&self) -> Vec<usize> {
        self.op.domain_shape().to_vec()
    }

    #[getter]
    fn shape_out(&self) -> Vec<usize> {
        self.op.range_shape().to_vec()
    }

    fn forward<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, Complex32>,
    ) -> Result<Bound<'py, PyArrayDyn<Complex32>>> {
        apply(py, self.op.as_ref(), &x, Map::Forward)
    }

    fn adjoint<'py>(
        &self,
        py: Python<'py>,
        y: PyReadonlyArrayDyn<'py, Complex32>,
    ) -> Result<Bound<'py, PyArrayDyn<Complex32>>> {
        apply(py, self.op.as_ref(), &y, Map::Adjoint)
    }

    fn normal<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, Complex32>,
    ) -> Result<Bound<'py, PyArrayDyn<Complex32>>> {
        apply(py, self.op.as_ref(), &x, Map::Normal)
    }

    /// The operator alone timed inside Rust on `x` (ms per run, `repeat` runs; see
    /// `benches/peers/python_ops.py`): the reference for the overhead of calling it from Python.
    #[pyo3(signature = (map, x, repeat=1))]
    fn _time_rust(
        &self,
        py: Python<'_>,
        map: &str,
        x: PyReadonlyArrayDyn<'_, Complex32>,
        repeat: usize,
    ) -> Result<Vec<f64>> {
        time_rust(py, self.op.as_ref(), &x, map, repeat)
    }
}

/// The sampling mask of `fedrecon mri simulate --mask KIND` for an `ny × nx` k-space: bool
/// `(ny, nx)` (fastMRI masks repeat their column mask over the rows). The fastMRI kinds equal
/// fastMRI's `MaskFunc(...)(shape, seed=seed)`: `seed` is numpy's `RandomState(seed)`, or
/// `seed_key` a tuple seed (`RandomState(tuple)`, e.g. `tuple(map(ord, fname))`).
#[pyfunction]
#[pyo3(signature = (ny, nx, *, mask="random", accel=4.0, center_fraction=0.08, seed=0, seed_key=None))]
#[allow(clippy::too_many_arguments)]
pub fn mri_mask<'py>(
    py: Python<'py>,
    ny: usize,
    nx: usize,
    mask: &str,
    accel: f64,
    center_fraction: f64,
    seed: u64,
    seed_key: Option<Vec<u32>>,
) -> Result<Bound<'py, PyArrayDyn<bool>>> {
    memory::ensure_fits(
        "shape",
        format!("{ny} × {nx}"),
        memory::bytes_of(&[ny, nx], 1),
    )?;
    let m = match mask {
        "random" | "equispaced" | "equispaced-fraction" | "equispaced_fraction" => {
            let kind = match mask {
                "random" => MaskKind::Random,
                "equispaced" => MaskKind::Equispaced,
                _ => MaskKind::EquispacedFraction,
            };
            let mut rng = match &seed_key {
                Some(key) if key.is_empty() => {
                    return Err(BindingError::arg(
                        "seed: an empty sequence (numpy refuses it)",
                    ));
                }
                Some(key) => Mt19937::from_array(key),
                None => Mt19937::from_seed(seed),
            };
            SamplingMask::columns(fastmri_columns(kind, nx, center_fraction, accel, &mut rng)?)
        }
        _ if seed_key.is_some() => {
            return Err(BindingError::arg(format!(
                "seed: a sequence seeds the fastMRI kinds only, not mask = {mask:?}"
            )));
        }
        "poisson" => {
            // as `mri simulate`: a centred calibration square of side round(center_fraction·N)
            let calib = (center_fraction * ny.min(nx) as f64).round() as usize;
            poisson_disc_mask(
                ny,
                nx,
                &PoissonDiscOptions {
                    acceleration: accel,
                    calib: (calib, calib),
                    seed,
                    ..Default::default()
                },
            )?
        }
        other => {
            return Err(BindingError::arg(format!(
                "mask = {other:?}: must be \"random\", \"equispaced\", \"equispaced-fraction\" or \"poisson\""
            )));
        }
    };
    to_numpy(py, &[], &[ny, nx], m.to_dense(ny, nx)?)
}

/// `fedrecon mri recon` on arrays: Cartesian k-space `(ny, nx)`, `(coils, ny, nx)` or
/// `(slices, coils, ny, nx)` (sampled where `mask` — columns `(nx,)` or 2-D `(ny, nx)`, 0 / 1 —
/// is set, else where any coil is non-zero), or with `traj` `(M, 2)` non-Cartesian samples
/// `(coils, M)` on a `size × size` image. Magnitude images `(ny, nx)` / `(slices, ny, nx)`,
/// float32, centre-cropped to `recon_size` `(H, W)` (clamped; a fastMRI file's, as `mri recon`
/// crops fastMRI inputs).
#[pyfunction]
#[pyo3(signature = (ksp, *, method="zf", maps=None, mask=None, estimate_maps=None, traj=None,
    size=None, iters=None, lambda_=None, recon_size=None))]
#[allow(clippy::too_many_arguments)]
pub fn mri_recon<'py>(
    py: Python<'py>,
    ksp: PyReadonlyArrayDyn<'py, Complex32>,
    method: &str,
    maps: Option<PyReadonlyArrayDyn<'py, Complex32>>,
    mask: Option<PyReadonlyArrayDyn<'py, f32>>,
    estimate_maps: Option<&str>,
    traj: Option<PyReadonlyArrayDyn<'py, f32>>,
    size: Option<usize>,
    iters: Option<usize>,
    lambda_: Option<f64>,
    recon_size: Option<(usize, usize)>,
) -> Result<Bound<'py, PyArrayDyn<f32>>> {
    use fedrecon_physics::mri::pipeline::{self, MapEstimator, Method, SliceOptions};
    let method: Method = method.parse()?;
    if method == Method::Zf
        && (maps.is_some() || estimate_maps.is_some() || iters.is_some() || lambda_.is_some())
    {
        return Err(BindingError::arg(
            "maps, estimate_maps, iters and lambda_ apply to method \"cgsense\", \"cgls\", \"l1\" or \"tv\", not \"zf\"",
        ));
    }
    if let (Method::Cgls, Some(l)) = (method, lambda_) {
        return Err(BindingError::arg(format!(
            "lambda_ = {l} does not apply to method \"cgls\" (unregularised least squares)"
        )));
    }
    if maps.is_some() && estimate_maps.is_some() {
        return Err(BindingError::arg("give maps or estimate_maps, not both"));
    }
    let estimator = estimate_maps
        .map(|e| e.parse::<MapEstimator>())
        .transpose()?;
    let opts = SliceOptions::new(method, iters, lambda_, estimator);
    let shape = ksp.shape().to_vec();
    let data = slice(&ksp, "ksp")?;
    let maps_data = match &maps {
        Some(m) => Some((m.shape().to_vec(), slice(m, "maps")?)),
        None => None,
    };
    let check_maps = |coils: usize, ny: usize, nx: usize| -> Result<Option<Vec<Complex32>>> {
        match &maps_data {
            None => Ok(None),
            Some((s, d)) if s[..] == [coils, ny, nx] => Ok(Some(d.to_vec())),
            Some((s, _)) => Err(BindingError::arg(format!(
                "maps: shape {s:?} does not match the k-space ({coils} coils, {ny} × {nx}): need ({coils}, {ny}, {nx})"
            ))),
        }
    };
    if let Some(t) = &traj {
        if mask.is_some() || recon_size.is_some() {
            return Err(BindingError::arg(
                "mask and recon_size apply to Cartesian k-space; a trajectory (traj) samples its own points on a size × size image",
            ));
        }
        let (kxy, m, n) = trajectory_on_grid(t, size)?;
        let coils = match shape[..] {
            [c, mm] if mm == m => c,
            [mm] if mm == m => 1,
            _ => {
                return Err(BindingError::arg(format!(
                    "ksp: samples of shape {shape:?} must be (coils, {m}) for a trajectory of {m} points"
                )));
            }
        };
        let maps = check_maps(coils, n, n)?;
        let img = py.detach(|| {
            pipeline::reconstruct_noncartesian(
                kxy,
                n,
                coils,
                data,
                maps,
                &opts,
                |plan, maps| -> Result<Box<dyn LinearOperator<Complex32>>> {
                    Ok(pipeline::cpu_noncartesian(plan, maps, coils)?)
                },
            )
        })?;
        return to_numpy(py, &[], &[n, n], img.0);
    }
    if size.is_some() {
        return Err(BindingError::arg(
            "size applies to non-Cartesian k-space (with traj) only",
        ));
    }
    let (slices, coils, ny, nx, lead) = match shape[..] {
        [ny, nx] => (1, 1, ny, nx, vec![]),
        [c, ny, nx] => (1, c, ny, nx, vec![]),
        [s, c, ny, nx] => (s, c, ny, nx, vec![s]),
        _ => {
            return Err(BindingError::arg(format!(
                "ksp: expected k-space (ny, nx), (coils, ny, nx) or (slices, coils, ny, nx), found {shape:?}"
            )));
        }
    };
    let given = match &mask {
        Some(mk) => Some(sampling_mask(
            mk,
            ny,
            nx,
            &format!("k-space {shape:?} (2-D sampling may also be read from the zeros of ksp)"),
        )?),
        None => None,
    };
    let maps = check_maps(coils, ny, nx)?;
    if ny == 0 || nx == 0 || coils == 0 {
        return Err(BindingError::arg(format!("ksp: empty k-space {shape:?}")));
    }
    let out = py.detach(|| -> Result<(Vec<f32>, [usize; 3])> {
        let mut out = Vec::with_capacity(slices * ny * nx);
        for k in data.chunks_exact(coils * ny * nx) {
            let mask = pipeline::sampling_mask(k, coils, ny, nx, given.clone())?;
            let (img, _) = pipeline::reconstruct_cartesian(
                k,
                coils,
                ny,
                nx,
                mask,
                maps.clone(),
                &opts,
                |maps, mask| -> Result<Box<dyn LinearOperator<Complex32>>> {
                    Ok(pipeline::cpu_cartesian(maps, coils, ny, nx, mask)?)
                },
            )?;
            out.extend_from_slice(&img);
        }
        match recon_size {
            Some((h, w)) => Ok(pipeline::crop_to_recon_size(out, [slices, ny, nx], [h, w])?),
            None => Ok((out, [slices, ny, nx])),
        }
    })?;
    to_numpy(py, &lead, &[out.1[1], out.1[2]], out.0)
}

/// The coil maps `(coils, ny, nx)` complex64 that `fedrecon mri recon` estimates when it is given
/// none (`--estimate-maps`, default `auto`): Cartesian k-space `(coils, ny, nx)` sampled where
/// `mask` is set (else where any coil is non-zero), or with `traj` `(M, 2)` samples `(coils, M)`
/// gridded onto a `size × size` image (maps from the centre of the gridded k-space).
#[pyfunction]
#[pyo3(signature = (ksp, *, estimate_maps="auto", mask=None, traj=None, size=None))]
pub fn mri_estimate_maps<'py>(
    py: Python<'py>,
    ksp: PyReadonlyArrayDyn<'py, Complex32>,
    estimate_maps: &str,
    mask: Option<PyReadonlyArrayDyn<'py, f32>>,
    traj: Option<PyReadonlyArrayDyn<'py, f32>>,
    size: Option<usize>,
) -> Result<Bound<'py, PyArrayDyn<Complex32>>> {
    use fedrecon_physics::mri::pipeline::{self, MapEstimator};
    let estimator: MapEstimator = estimate_maps.parse()?;
    let shape = ksp.shape().to_vec();
    let data = slice(&ksp, "ksp")?;
    if let Some(t) = &traj {
        if mask.is_some() {
            return Err(BindingError::arg(
                "mask applies to Cartesian k-space; a trajectory (traj) samples its own points",
            ));
        }
        let (kxy, m, n) = trajectory_on_grid(t, size)?;
        let coils = match shape[..] {
            [c, mm] if mm == m && c > 0 => c,
            _ => {
                return Err(BindingError::arg(format!(
                    "ksp: samples of shape {shape:?} must be (coils, {m}) for a trajectory of {m} points"
                )));
            }
        };
        let maps = py.detach(|| -> Result<Vec<Complex32>> {
            let g = pipeline::grid_noncartesian(kxy, n, coils, data)?;
            Ok(pipeline::noncartesian_maps(&g, coils, estimator)?.0)
        })?;
        return to_numpy(py, &[], &[coils, n, n], maps);
    }
    if size.is_some() {
        return Err(BindingError::arg(
            "size applies to non-Cartesian k-space (with traj) only",
        ));
    }
    let [coils, ny, nx] = match shape[..] {
        [c, ny, nx] if c > 0 && ny > 0 && nx > 0 => [c, ny, nx],
        _ => {
            return Err(BindingError::arg(format!(
                "ksp: expected one slice of k-space (coils, ny, nx), found {shape:?}"
            )));
        }
    };
    let given = match &mask {
        Some(mk) => Some(sampling_mask(mk, ny, nx, &format!("k-space {shape:?}"))?),
        None => None,
    };
    let maps = py.detach(|| -> Result<Vec<Complex32>> {
        let mask = pipeline::sampling_mask(data, coils, ny, nx, given)?;
        Ok(pipeline::cartesian_maps(data, coils, ny, nx, &mask, estimator)?.0)
    })?;
    to_numpy(py, &[], &[coils, ny, nx], maps)
}

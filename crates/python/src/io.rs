//! File readers of `fedrecon-io` as numpy arrays, with the CLI's conventions: fastMRI volumes
//! as stored (C order), LoDoPaB ground truth turned from ODL's `(x, y)` order into `(ny, nx)`
//! row 0 at the top, DICOM CT in HU and in μ (mm⁻¹ at 70 keV), BART arrays in the row-major view
//! of their dimensions (reversed, trailing 1s dropped).

use crate::array::{slice, to_numpy};
use crate::error::{BindingError, Result};
use fedrecon_io::{
    FastmriFile, FastmriTarget, LodopabFile, MU_WATER_70KEV_PER_MM, cfl_dims_to_row_major_shape,
    hu_image_to_mu, lodopab::odl_image_to_row_major, row_major_shape_to_cfl_dims,
};
use num_complex::Complex32;
use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// A fastMRI HDF5 volume: `kspace` complex64 `(slices, coils, ny, nx)` (or `(slices, ny, nx)`
/// single-coil), `mask` (bool `(nx,)` or None), the target `reconstruction_rss`/`_esc` float32
/// `(slices, H, W)` if present, `recon_size` `(H, W)` of the header and the attributes.
#[pyfunction]
pub fn read_fastmri<'py>(py: Python<'py>, path: PathBuf) -> Result<Bound<'py, PyDict>> {
    let f = FastmriFile::open(&path)?;
    let n = f.num_slices();
    let slice_shape = f.kspace_slice_shape();
    let mut data = Vec::with_capacity(n * slice_shape.iter().product::<usize>());
    for i in 0..n {
        data.extend(f.read_kspace_slice(i)?.1);
    }
    let d = PyDict::new(py);
    let set = |k: &str, v: Bound<'py, PyAny>| d.set_item(k, v);
    let py_err = |e: PyErr| BindingError::arg(e.to_string());
    set("kspace", to_numpy(py, &[n], &slice_shape, data)?.into_any()).map_err(py_err)?;
    let mask = match f.mask() {
        Some(m) => to_numpy(py, &[], &[m.len()], m.to_vec())?.into_any(),
        None => py.None().into_bound(py),
    };
    set("mask", mask).map_err(py_err)?;
    for kind in [FastmriTarget::Rss, FastmriTarget::Esc] {
        if let Some(shape) = f.reconstruction_shape(kind) {
            let mut t = Vec::with_capacity(shape.iter().product());
            for i in 0..shape[0] {
                t.extend(f.read_reconstruction_slice(kind, i)?.1);
            }
            let a = to_numpy(py, &[], &shape, t)?;
            d.set_item(kind.dataset_name(), a).map_err(py_err)?;
        }
    }
    let r = f.encoding().recon_matrix;
    d.set_item("recon_size", (r.x, r.y)).map_err(py_err)?;
    let a = f.attrs();
    d.set_item("acquisition", a.acquisition.clone())
        .map_err(py_err)?;
    d.set_item("max", a.max).map_err(py_err)?;
    d.set_item("norm", a.norm).map_err(py_err)?;
    d.set_item("patient_id", a.patient_id.clone())
        .map_err(py_err)?;
    d.set_item("acceleration", a.acceleration).map_err(py_err)?;
    d.set_item("num_low_frequency", a.num_low_frequency)
        .map_err(py_err)?;
    d.set_item("ismrmrd_header", f.ismrmrd_header_xml())
        .map_err(py_err)?;
    Ok(d)
}

/// LoDoPaB-CT samples: `index` one sample or all (None) — observations `(angles, detectors)`
/// as stored, ground truth converted to `(ny, nx)`, row 0 at the top. Whether the file holds
/// ground truth comes from `ground_truth`, else from its LoDoPaB name (`ground_truth_*.hdf5`).
#[pyfunction]
#[pyo3(signature = (path, index=None, ground_truth=None))]
pub fn read_lodopab<'py>(
    py: Python<'py>,
    path: PathBuf,
    index: Option<usize>,
    ground_truth: Option<bool>,
) -> Result<Bound<'py, numpy::PyArrayDyn<f32>>> {
    let f = LodopabFile::open(&path)?;
    let ground_truth = ground_truth.unwrap_or(matches!(
        f.kind(),
        Some(fedrecon_io::LodopabKind::GroundTruth)
    ));
    let read = |i: usize| -> Result<([usize; 2], Vec<f32>)> {
        let (shape, data) = f.read(i)?;
        Ok(if ground_truth {
            (shape, odl_image_to_row_major(shape[0], &data)?)
        } else {
            (shape, data)
        })
    };
    match index {
        Some(i) => {
            let (shape, data) = read(i)?;
            to_numpy(py, &[], &shape, data)
        }
        None => {
            let shape = f.sample_shape();
            let mut all = Vec::with_capacity(f.len() * shape[0] * shape[1]);
            for i in 0..f.len() {
                all.extend(read(i)?.1);
            }
            to_numpy(py, &[f.len()], &shape, all)
        }
    }
}

/// A DICOM CT slice: `hu` float32 `(ny, nx)`, `mu` (μ in mm⁻¹ at 70 keV, as `ct project` reads
/// it), `pixel_spacing_mm` `(row, column)`.
#[pyfunction]
pub fn read_dicom_ct<'py>(py: Python<'py>, path: PathBuf) -> Result<Bound<'py, PyDict>> {
    let img = fedrecon_io::read_dicom_ct(&path)?;
    let d = PyDict::new(py);
    let py_err = |e: PyErr| BindingError::arg(e.to_string());
    let mu = hu_image_to_mu(&img.hu, MU_WATER_70KEV_PER_MM);
    d.set_item("mu", to_numpy(py, &[], &[img.ny, img.nx], mu)?)
        .map_err(py_err)?;
    d.set_item("hu", to_numpy(py, &[], &[img.ny, img.nx], img.hu)?)
        .map_err(py_err)?;
    let [dy, dx] = img.pixel_spacing_mm;
    d.set_item("pixel_spacing_mm", (dy, dx)).map_err(py_err)?;
    Ok(d)
}

/// Write `hu` float32 `(ny, nx)` as a minimal CT Image Storage file (signed 16-bit, HU rounded)
/// with `PixelSpacing` `pixel_spacing_mm` `(row, column)`.
#[pyfunction]
pub fn write_dicom_ct(
    path: PathBuf,
    hu: PyReadonlyArrayDyn<'_, f32>,
    pixel_spacing_mm: (f64, f64),
) -> Result<()> {
    let [ny, nx] = match hu.shape() {
        [ny, nx] => [*ny, *nx],
        s => {
            return Err(BindingError::arg(format!(
                "hu: expected shape (ny, nx), found {s:?}"
            )));
        }
    };
    let img = fedrecon_io::CtImage {
        ny,
        nx,
        hu: slice(&hu, "hu")?.to_vec(),
        pixel_spacing_mm: [pixel_spacing_mm.0, pixel_spacing_mm.1],
        rescale_slope: 1.0,
        rescale_intercept: 0.0,
    };
    Ok(fedrecon_io::write_dicom_ct(&path, &img)?)
}

/// A BART `.cfl`/`.hdr` pair (`base` with or without extension) as complex64 in the row-major
/// view of its dimensions (BART `[x, y, 1, coils]` → `(coils, 1, y, x)`), as `mri recon` reads it.
#[pyfunction]
pub fn read_cfl<'py>(
    py: Python<'py>,
    base: PathBuf,
) -> Result<Bound<'py, numpy::PyArrayDyn<Complex32>>> {
    let base = strip_cfl_ext(base);
    let (dims, data) = fedrecon_io::read_cfl(&base)?;
    to_numpy(py, &[], &cfl_dims_to_row_major_shape(&dims), data)
}

/// Write a complex64 C-order array as a BART pair; BART's dimensions are the reversed shape.
#[pyfunction]
pub fn write_cfl(base: PathBuf, array: PyReadonlyArrayDyn<'_, Complex32>) -> Result<()> {
    let base = strip_cfl_ext(base);
    let shape = array.shape().to_vec();
    if shape.is_empty() {
        return Err(BindingError::arg("array: needs at least one axis"));
    }
    let data = slice(&array, "array")?;
    Ok(fedrecon_io::write_cfl(
        &base,
        &row_major_shape_to_cfl_dims(&shape),
        data,
    )?)
}

fn strip_cfl_ext(p: PathBuf) -> PathBuf {
    match p.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("cfl") || e.eq_ignore_ascii_case("hdr") => {
            p.with_extension("")
        }
        _ => p,
    }
}

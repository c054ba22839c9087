//! # fedrecon-python
//!
//! The extension module `fedrecon._native` of the Python package `fedrecon` (built by maturin;
//! the package around it, `python/fedrecon`, is pure Python). It exposes the physics operators
//! (CT projectors, NUFFT, SENSE), the classical reconstructions and the file readers of
//! `fedrecon-physics` / `fedrecon-io` on numpy arrays: float32 / complex64, C-contiguous inputs
//! borrowed without a copy, outputs moved into numpy, leading batch axes, the GIL released while
//! computing, and Rust errors raised as `ValueError` (arguments, shapes) or `OSError` (files).
//! Why a binding rather than a port: Python results must equal the CLI's bit for bit, so both
//! run the same code; only the argument plumbing differs, and the geometry rules are shared
//! (`GeometrySpec::resolve`).

mod array;
mod ct;
mod error;
#[cfg(feature = "fed")]
mod fed;
mod io;
mod mri;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ct::CtProjector>()?;
    m.add_function(wrap_pyfunction!(ct::ct_recon, m)?)?;
    m.add_class::<mri::Nufft>()?;
    m.add_class::<mri::Sense>()?;
    m.add_function(wrap_pyfunction!(mri::mri_mask, m)?)?;
    m.add_function(wrap_pyfunction!(mri::mri_recon, m)?)?;
    m.add_function(wrap_pyfunction!(mri::mri_estimate_maps, m)?)?;
    m.add_function(wrap_pyfunction!(io::read_fastmri, m)?)?;
    m.add_function(wrap_pyfunction!(io::read_lodopab, m)?)?;
    m.add_function(wrap_pyfunction!(io::read_dicom_ct, m)?)?;
    m.add_function(wrap_pyfunction!(io::write_dicom_ct, m)?)?;
    m.add_function(wrap_pyfunction!(io::read_cfl, m)?)?;
    m.add_function(wrap_pyfunction!(io::write_cfl, m)?)?;
    #[cfg(feature = "fed")]
    m.add_class::<fed::FedSite>()?;
    #[cfg(feature = "fed")]
    m.add_class::<fed::FedServer>()?;
    #[cfg(feature = "fed")]
    m.add_function(wrap_pyfunction!(fed::read_coordinator_checkpoint, m)?)?;
    #[cfg(feature = "fed")]
    m.add_function(wrap_pyfunction!(fed::site_toml, m)?)?;
    Ok(())
}

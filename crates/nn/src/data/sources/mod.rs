//! The sample sources behind [`super::Dataset`] (see the module docs of [`super`]), one file per
//! source: simulated CT phantoms (and real-CT slices projected on the fly), simulated MRI
//! phantoms, LoDoPaB-CT files and fastMRI files.

mod ct_phantoms;
mod fastmri;
mod lodopab;
mod mri_phantoms;

pub(crate) use ct_phantoms::CtPhantoms;
pub use ct_phantoms::{area_resample, ct_phantom_sample};
pub(crate) use fastmri::Fastmri;
pub(crate) use lodopab::Lodopab;
pub use lodopab::lodopab_geometry;
pub(crate) use mri_phantoms::MriPhantoms;
pub use mri_phantoms::mri_phantom_sample;

use crate::error::NnError;
use std::path::Path;

fn io_err(path: &Path, e: impl std::fmt::Display) -> NnError {
    NnError::argument("file", path.display(), e.to_string())
}

//! # fedrecon-io
//!
//! File formats for fedrecon. Readers validate everything they read and report corrupt input as
//! an [`IoError`] naming the file, the field / dataset / tag and the offending value — never a
//! panic. Every writer is atomic ([`write_atomic`]: temporary file in the same directory, then a
//! rename).
//!
//! - [`npy`]: NumPy `.npy` read/write (f32, f64, complex; integer → f32 conversion; C and Fortran
//!   order).
//! - [`png_export`]: windowed 8/16-bit grayscale PNG export of 2-D images.
//! - [`lodopab`]: the LoDoPaB-CT HDF5 files and their acquisition geometry.
//! - [`dxchange`]: Data Exchange (TomoPy/APS) HDF5 projections and flat/dark correction.
//! - [`dicom_ct`]: single-frame uncompressed CT DICOM images in Hounsfield units.
//! - [`fastmri`]: fastMRI k-space volumes (HDF5) and challenge submission files.
//! - [`ismrmrd`]: the encoding part of the ISMRMRD XML header used by fastMRI.
//! - [`plot`]: line and bar charts as RGB PNG, drawn with `plotters` (embedded DejaVu Sans, nice
//!   ticks, legends, panels).
//! - [`cfl`]: BART `.cfl` / `.hdr` complex arrays (column-major).

pub mod atomic;
pub mod cfl;
pub mod dicom_ct;
pub mod dxchange;
pub mod error;
pub mod fastmri;
mod h5;
pub mod ismrmrd;
pub mod lodopab;
pub mod npy;
pub mod plot;
pub mod png_export;

pub use atomic::write_atomic;
pub use cfl::{
    BART_DIMS, cfl_dims_to_row_major_shape, cfl_linear_index, cfl_paths,
    cfl_to_row_major_same_axes, parse_cfl_header, read_cfl, row_major_linear_index,
    row_major_shape_to_cfl_dims, row_major_to_cfl_same_axes, write_cfl,
};
pub use dicom_ct::{
    CtImage, MU_WATER_70KEV_PER_MM, hu_image_to_mu, hu_to_mu, read_dicom_ct, write_dicom_ct,
};
pub use dxchange::{
    DxchangeScan, FLAT_DARK_EPSILON, flat_dark_correct, read_dxchange, sinogram_row,
};
pub use error::{IoError, Result};
pub use fastmri::{
    FastmriAttrs, FastmriFile, FastmriTarget, FastmriVolume, ImageStack, read_reconstruction,
    write_fastmri, write_reconstruction,
};
pub use h5::MAX_READ_ELEMENTS;
pub use ismrmrd::{ISMRMRD_NAMESPACE, IsmrmrdEncoding, MatrixSize};
pub use lodopab::{LODOPAB, LodopabFile, LodopabGeometry, LodopabKind};
pub use npy::{
    NdArray, NpyDtype, NpyElement, NpyHeader, read_npy, read_npy_as_c32, read_npy_as_f32,
    read_npy_header, write_npy, write_npy_array,
};
pub use plot::{BarChart, Figure, LinePlot, Panel, Series};
pub use png_export::{PngDepth, Window, encode_png, write_png, write_png_depth};

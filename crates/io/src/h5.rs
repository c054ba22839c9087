//! Small checked helpers over the `hdf5` crate shared by the HDF5 readers and writers.

use crate::atomic::write_atomic_at;
use crate::error::{IoError, Result};
use crate::npy::NdArray;
use hdf5::types::{TypeDescriptor, VarLenUnicode};
use std::path::Path;

/// Largest number of elements one read may allocate (2³⁰, i.e. 4 GiB of `f32`): a corrupt
/// header claiming a gigantic dataset gives an error instead of an allocation failure.
pub const MAX_READ_ELEMENTS: usize = 1 << 30;

pub(crate) fn h5err(path: &Path, object: &str, e: hdf5::Error) -> IoError {
    IoError::Hdf5 {
        path: path.to_path_buf(),
        object: object.to_string(),
        message: e.to_string(),
    }
}

/// Open an existing HDF5 file read-only.
pub(crate) fn open(path: &Path) -> Result<hdf5::File> {
    if !path.exists() {
        return Err(IoError::io(
            "open",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    hdf5::File::open(path).map_err(|e| h5err(path, "file", e))
}

/// The dataset `name`, which must exist.
pub(crate) fn dataset(file: &hdf5::File, path: &Path, name: &str) -> Result<hdf5::Dataset> {
    if !file.link_exists(name) {
        return Err(IoError::format(
            path,
            format!("HDF5 dataset `{name}`"),
            "missing",
        ));
    }
    file.dataset(name)
        .map_err(|e| h5err(path, &format!("dataset `{name}`"), e))
}

/// The element type of `ds`, which must be a real number (integer or float) type.
pub(crate) fn numeric_type(ds: &hdf5::Dataset, path: &Path, name: &str) -> Result<TypeDescriptor> {
    let td = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| h5err(path, &format!("dataset `{name}` type"), e))?;
    match td {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_) => {
            Ok(td)
        }
        other => Err(IoError::unsupported(
            path,
            format!("type of HDF5 dataset `{name}`"),
            format!("{other} (expected an integer or floating-point type)"),
        )),
    }
}

/// The shape of `ds` after checking its rank.
pub(crate) fn shape_of_rank(
    ds: &hdf5::Dataset,
    path: &Path,
    name: &str,
    ndim: usize,
) -> Result<Vec<usize>> {
    let shape = ds.shape();
    if shape.len() != ndim {
        return Err(IoError::format(
            path,
            format!("shape of HDF5 dataset `{name}`"),
            format!("{shape:?} has {} axes, expected {ndim}", shape.len()),
        ));
    }
    Ok(shape)
}

pub(crate) fn check_size(path: &Path, name: &str, shape: &[usize]) -> Result<usize> {
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match n {
        Some(n) if n <= MAX_READ_ELEMENTS => Ok(n),
        _ => Err(IoError::unsupported(
            path,
            format!("size of HDF5 dataset `{name}`"),
            format!("shape {shape:?} exceeds the limit of {MAX_READ_ELEMENTS} elements per read"),
        )),
    }
}

/// Read a whole numeric dataset of rank `ndim`, converted to `f32` by HDF5.
pub(crate) fn read_f32(
    file: &hdf5::File,
    path: &Path,
    name: &str,
    ndim: usize,
) -> Result<NdArray<f32>> {
    let ds = dataset(file, path, name)?;
    numeric_type(&ds, path, name)?;
    let shape = shape_of_rank(&ds, path, name, ndim)?;
    check_size(path, name, &shape)?;
    let data = ds
        .read_raw::<f32>()
        .map_err(|e| h5err(path, &format!("dataset `{name}`"), e))?;
    NdArray::new(shape, data)
}

/// Read a whole numeric 1-D dataset, converted to `f64` by HDF5.
pub(crate) fn read_f64_1d(file: &hdf5::File, path: &Path, name: &str) -> Result<Vec<f64>> {
    let ds = dataset(file, path, name)?;
    numeric_type(&ds, path, name)?;
    let shape = shape_of_rank(&ds, path, name, 1)?;
    check_size(path, name, &shape)?;
    ds.read_raw::<f64>()
        .map_err(|e| h5err(path, &format!("dataset `{name}`"), e))
}

/// Write an HDF5 file atomically ([`write_atomic_at`]): `build` fills a new file created at a
/// temporary path next to `path`, which is closed and renamed over `path`.
pub(crate) fn write_file(path: &Path, build: impl FnOnce(&hdf5::File) -> Result<()>) -> Result<()> {
    write_atomic_at(path, |tmp| {
        let f = hdf5::File::create(tmp).map_err(|e| h5err(path, "file", e))?;
        build(&f)?;
        f.close().map_err(|e| h5err(path, "file", e))
    })
}

/// Create the `f32` dataset `name` of `shape` holding `data` (C order).
pub(crate) fn write_f32(
    f: &hdf5::File,
    path: &Path,
    name: &str,
    shape: &[usize],
    data: &[f32],
) -> Result<()> {
    f.new_dataset::<f32>()
        .shape(shape)
        .create(name)
        .and_then(|ds| ds.write_raw(data))
        .map_err(|e| h5err(path, &format!("dataset `{name}`"), e))
}

/// Create the scalar variable-length UTF-8 string attribute `name` of the root group.
pub(crate) fn write_str_attr(f: &hdf5::File, path: &Path, name: &str, value: &str) -> Result<()> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| IoError::argument("attribute", name, format!("{e}")))?;
    f.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .map_err(|e| h5err(path, &format!("attribute `{name}`"), e))
}

/// Create the scalar numeric attribute `name` of the root group.
pub(crate) fn write_num_attr<T: hdf5::H5Type>(
    f: &hdf5::File,
    path: &Path,
    name: &str,
    v: T,
) -> Result<()> {
    f.new_attr::<T>()
        .shape(())
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .map_err(|e| h5err(path, &format!("attribute `{name}`"), e))
}

//! fastMRI HDF5 files (Zbontar et al., "fastMRI: An Open Dataset and Benchmarks for Accelerated
//! MRI", arXiv:1811.08839 (2018); Knoll et al., *Radiology: AI* 2(1), e190007 (2020)) and the
//! challenge submission layout.
//!
//! # Layout of a volume file
//! One HDF5 file per volume (a stack of 2-D slices of one scan), as read by fastMRI's
//! `SliceDataset` (facebookresearch/fastMRI, `fastmri/data/mri_data.py`):
//!
//! | object | type | shape | present |
//! |---|---|---|---|
//! | `kspace` | complex64 as h5py's compound `{r: f32, i: f32}` | `(slices, coils, rows, cols)` multi-coil, `(slices, rows, cols)` single-coil | always |
//! | `ismrmrd_header` | string (XML, see [`crate::ismrmrd`]) | scalar | always |
//! | `reconstruction_rss` | float32 | `(slices, H, W)` | train/val (multi-coil and knee single-coil) |
//! | `reconstruction_esc` | float32 | `(slices, H, W)` | train/val single-coil |
//! | `mask` | bool (h5py enum) or numeric 0/1 | `(cols,)` | test/challenge |
//! | attribute `acquisition` | string | | e.g. `CORPD_FBK`, `AXT2` |
//! | attribute `max`, `norm` | float | | train/val: max and norm of the target volume |
//! | attribute `patient_id` | string | | anonymised hash |
//! | attributes `acceleration`, `num_low_frequency` | integer | | test/challenge |
//!
//! The k-space rows are the readout direction (2× oversampled, e.g. 640 for the knee, length
//! `encodedSpace.matrixSize.x`) and the columns the phase-encoding direction (length
//! `encodedSpace.matrixSize.y`): undersampling masks and fastMRI's `padding_left` /
//! `padding_right` ([`FastmriFile::padding`]) act on the last axis. The target images are
//! `reconSpace.matrixSize` (e.g. 320 × 320): the RSS (multi-coil) or the emulated single-coil
//! (ESC) magnitude image, centre-cropped from the readout-oversampled reconstruction.
//!
//! The training target is the one fastMRI's `SliceDataset` picks: `reconstruction_esc` for
//! single-coil files, `reconstruction_rss` for multi-coil files ([`FastmriFile::target_name`]).
//!
//! # Complex numbers
//! HDF5 (before 2.0) has no complex type; h5py stores a numpy `complex64` as the compound
//! `{r: float32, i: float32}` and reads that compound back as `complex64`. fastMRI's files were
//! written by h5py (`hf.create_dataset("kspace", data=kspace.astype(np.complex64))`), so
//! [`write_fastmri`] writes the same compound and [`FastmriFile::open`] requires it (a
//! `{r: float64, i: float64}` complex128 compound is also read, converted to `f32`). A file
//! in the fastMRI layout written by h5py, as in fastMRI's own test fixtures
//! (`tests/create_temp_data.py`):
//!
//! ```python
//! import h5py, numpy as np
//! with h5py.File("file1000001.h5", "w") as hf:
//!     hf.create_dataset("kspace", data=kspace.astype(np.complex64))   # (slices, coils, rows, cols)
//!     hf.create_dataset("reconstruction_rss", data=rss.astype(np.float32))  # (slices, H, W)
//!     hf.create_dataset("ismrmrd_header", data=header_xml_bytes)      # scalar vlen string
//!     hf.attrs["acquisition"] = "CORPD_FBK"; hf.attrs["max"] = rss.max()
//!     hf.attrs["norm"] = np.linalg.norm(rss); hf.attrs["patient_id"] = "…"
//! ```
//!
//! reads with [`FastmriFile`]; the tests build exactly this layout with the `hdf5` crate
//! (compound `{r, i}`, variable-length UTF-8 / ASCII strings, h5py's `{FALSE, TRUE}` enum for a
//! bool mask) and were cross-checked against h5py 3.16 in both directions.
//!
//! # Submissions
//! fastMRI's `save_reconstructions` (`fastmri/utils.py`) writes one file per volume, named like
//! the input volume, holding the float32 dataset `reconstruction` of shape `(slices, H, W)`:
//! [`write_reconstruction`] / [`read_reconstruction`].
//!
//! # Writing
//! HDF5 needs a real file, so the writers build the file in a temporary file next to the
//! destination and then copy it into place with [`crate::write_atomic`]; a reader never sees a
//! half-written file and on error the destination is left untouched.

use crate::atomic::write_atomic;
use crate::error::{IoError, Result, check_finite, check_len};
use crate::h5::{self, h5err};
use crate::ismrmrd::IsmrmrdEncoding;
use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use num_complex::Complex32;
use std::path::{Path, PathBuf};

/// Name of the k-space dataset.
pub const KSPACE: &str = "kspace";
/// Name of the ISMRMRD XML header dataset.
pub const ISMRMRD_HEADER: &str = "ismrmrd_header";
/// Name of the sampling mask dataset of test-set files.
pub const MASK: &str = "mask";
/// Name of the dataset of a submission file.
pub const RECONSTRUCTION: &str = "reconstruction";

/// Largest string read from a fixed-length HDF5 string (bytes).
const MAX_FIXED_STRING: usize = 1 << 16;

/// The two target images of fastMRI files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastmriTarget {
    /// `reconstruction_rss`: root-sum-of-squares of the fully sampled coil images.
    Rss,
    /// `reconstruction_esc`: the emulated single-coil image.
    Esc,
}

impl FastmriTarget {
    /// The dataset name.
    pub fn dataset_name(self) -> &'static str {
        match self {
            Self::Rss => "reconstruction_rss",
            Self::Esc => "reconstruction_esc",
        }
    }
}

/// The root attributes of a fastMRI file (each `None` when absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FastmriAttrs {
    /// Sequence name, e.g. `CORPD_FBK`, `CORPDFS_FBK` (knee), `AXT1`, `AXT2`, `AXFLAIR` (brain).
    pub acquisition: Option<String>,
    /// Maximum of the target volume (train/val).
    pub max: Option<f64>,
    /// Euclidean norm of the target volume (train/val).
    pub norm: Option<f64>,
    /// Anonymised patient identifier.
    pub patient_id: Option<String>,
    /// Acceleration factor of the test-set mask.
    pub acceleration: Option<i64>,
    /// Number of fully sampled low-frequency columns of the test-set mask.
    pub num_low_frequency: Option<i64>,
}

/// A stack of real images `(slices, H, W)` in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageStack {
    pub shape: [usize; 3],
    pub data: Vec<f32>,
}

/// Everything [`write_fastmri`] writes: one volume in the fastMRI layout.
#[derive(Debug, Clone, PartialEq)]
pub struct FastmriVolume {
    /// `(slices, coils, rows, cols)` or `(slices, rows, cols)`.
    pub kspace_shape: Vec<usize>,
    /// K-space in C order.
    pub kspace: Vec<Complex32>,
    /// The ISMRMRD XML header (it must parse with [`IsmrmrdEncoding::from_xml`];
    /// [`IsmrmrdEncoding::to_xml`] makes a minimal one).
    pub ismrmrd_header: String,
    /// `reconstruction_rss`, if any.
    pub reconstruction_rss: Option<ImageStack>,
    /// `reconstruction_esc`, if any.
    pub reconstruction_esc: Option<ImageStack>,
    /// The test-set sampling mask over the last k-space axis, written as h5py writes a numpy
    /// bool array.
    pub mask: Option<Vec<bool>>,
    /// Root attributes (only the `Some` ones are written).
    pub attrs: FastmriAttrs,
}

impl FastmriVolume {
    /// A multi-coil volume `(slices, coils, ny, nx)` with a minimal ISMRMRD header (encoded and
    /// reconstruction matrix `ny × nx`, phase-encoding centre `nx / 2`), the RSS targets, no mask
    /// and no attributes (set `mask` / `attrs` afterwards for test-set style files).
    pub fn multicoil(shape: [usize; 4], kspace: Vec<Complex32>, rss: ImageStack) -> Self {
        let [_, _, ny, nx] = shape;
        let size = crate::MatrixSize { x: ny, y: nx, z: 1 };
        let enc = crate::IsmrmrdEncoding {
            encoded_matrix: size,
            recon_matrix: size,
            kspace_encoding_step_1_center: (nx / 2) as i64,
            kspace_encoding_step_1_maximum: nx as i64 - 1,
        };
        Self {
            kspace_shape: shape.to_vec(),
            kspace,
            ismrmrd_header: enc.to_xml(),
            reconstruction_rss: Some(rss),
            reconstruction_esc: None,
            mask: None,
            attrs: FastmriAttrs::default(),
        }
    }
}

/// One open fastMRI volume file. Opening validates the layout and reads the header, the
/// attributes and the mask; k-space and target slices are read on demand.
#[derive(Debug)]
pub struct FastmriFile {
    path: PathBuf,
    // Keeps the file open for the datasets' lifetime.
    _file: hdf5::File,
    kspace: hdf5::Dataset,
    kspace_shape: Vec<usize>,
    targets: Vec<(FastmriTarget, hdf5::Dataset, [usize; 3])>,
    header_xml: String,
    encoding: IsmrmrdEncoding,
    attrs: FastmriAttrs,
    mask: Option<Vec<bool>>,
}

impl FastmriFile {
    /// Open and validate a volume file: `kspace` (complex compound `{r, i}`, rank 3 or 4),
    /// `ismrmrd_header` (a string that parses, see [`crate::ismrmrd`]), the optional targets
    /// (float, rank 3, as many slices as `kspace`), the optional `mask` (rank 1, bool or 0/1)
    /// and the known attributes (right type when present). Anything else in the file is ignored.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = h5::open(path)?;
        let kspace = h5::dataset(&file, path, KSPACE)?;
        check_complex_type(&kspace, path, KSPACE)?;
        let kspace_shape = kspace.shape();
        if !(kspace_shape.len() == 3 || kspace_shape.len() == 4) {
            return Err(IoError::format(
                path,
                format!("shape of HDF5 dataset `{KSPACE}`"),
                format!(
                    "{kspace_shape:?} has {} axes, expected 4 (slices, coils, rows, cols) or \
                     3 (slices, rows, cols)",
                    kspace_shape.len()
                ),
            ));
        }
        h5::check_size(path, KSPACE, &kspace_shape[1..])?;
        let n_slices = kspace_shape[0];

        let header_ds = h5::dataset(&file, path, ISMRMRD_HEADER)?;
        let header_xml = read_string(&header_ds, path, &format!("dataset `{ISMRMRD_HEADER}`"))?;
        let encoding = IsmrmrdEncoding::from_xml_in(&header_xml, path)?;

        let mut targets = Vec::new();
        for kind in [FastmriTarget::Rss, FastmriTarget::Esc] {
            let name = kind.dataset_name();
            if !file.link_exists(name) {
                continue;
            }
            let ds = h5::dataset(&file, path, name)?;
            match h5::numeric_type(&ds, path, name)? {
                TypeDescriptor::Float(_) => {}
                other => {
                    return Err(IoError::unsupported(
                        path,
                        format!("type of HDF5 dataset `{name}`"),
                        format!("{other} (fastMRI stores float32)"),
                    ));
                }
            }
            let s = h5::shape_of_rank(&ds, path, name, 3)?;
            if s[0] != n_slices {
                return Err(IoError::format(
                    path,
                    format!("shape of HDF5 dataset `{name}`"),
                    format!("{s:?} has {} slices but `{KSPACE}` has {n_slices}", s[0]),
                ));
            }
            h5::check_size(path, name, &s[1..])?;
            targets.push((kind, ds, [s[0], s[1], s[2]]));
        }

        let mask = if file.link_exists(MASK) {
            Some(read_mask(&file, path)?)
        } else {
            None
        };
        let attrs = read_attrs(&file, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            _file: file,
            kspace,
            kspace_shape,
            targets,
            header_xml,
            encoding,
            attrs,
            mask,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Number of slices.
    pub fn num_slices(&self) -> usize {
        self.kspace_shape[0]
    }
    /// Whether `kspace` has a coil axis (rank 4).
    pub fn is_multicoil(&self) -> bool {
        self.kspace_shape.len() == 4
    }
    /// Number of coils (1 for a single-coil file).
    pub fn num_coils(&self) -> usize {
        if self.is_multicoil() {
            self.kspace_shape[1]
        } else {
            1
        }
    }
    /// The shape of the `kspace` dataset.
    pub fn kspace_shape(&self) -> &[usize] {
        &self.kspace_shape
    }
    /// The shape of one k-space slice: `(coils, rows, cols)` or `(rows, cols)`.
    pub fn kspace_slice_shape(&self) -> Vec<usize> {
        self.kspace_shape[1..].to_vec()
    }

    /// Read k-space slice `i`: its shape (`(coils, rows, cols)` multi-coil, `(rows, cols)`
    /// single-coil) and values in C order.
    pub fn read_kspace_slice(&self, i: usize) -> Result<(Vec<usize>, Vec<Complex32>)> {
        self.check_index(i)?;
        let what = || format!("dataset `{KSPACE}` slice {i}");
        let shape = self.kspace_slice_shape();
        let mut out = Vec::with_capacity(shape.iter().product());
        if self.is_multicoil() {
            for c in 0..self.kspace_shape[1] {
                let a = self
                    .kspace
                    .read_slice_2d::<Complex32, _>((i, c, .., ..))
                    .map_err(|e| h5err(&self.path, &format!("{} coil {c}", what()), e))?;
                out.extend(a.iter().copied());
            }
        } else {
            let a = self
                .kspace
                .read_slice_2d::<Complex32, _>((i, .., ..))
                .map_err(|e| h5err(&self.path, &what(), e))?;
            out.extend(a.iter().copied());
        }
        check_len("k-space slice", &shape, out.len())?;
        Ok((shape, out))
    }

    /// The target fastMRI's `SliceDataset` uses for this file: [`FastmriTarget::Esc`] for
    /// single-coil files, [`FastmriTarget::Rss`] for multi-coil ones (present or not).
    pub fn target_name(&self) -> FastmriTarget {
        if self.is_multicoil() {
            FastmriTarget::Rss
        } else {
            FastmriTarget::Esc
        }
    }
    /// Whether the file holds the target image `kind`.
    pub fn has_reconstruction(&self, kind: FastmriTarget) -> bool {
        self.targets.iter().any(|t| t.0 == kind)
    }
    /// Whether the file holds its [`Self::target_name`] (test-set files do not).
    pub fn has_target(&self) -> bool {
        self.has_reconstruction(self.target_name())
    }
    /// Shape `(slices, H, W)` of the target image `kind`, if present.
    pub fn reconstruction_shape(&self, kind: FastmriTarget) -> Option<[usize; 3]> {
        self.targets.iter().find(|t| t.0 == kind).map(|t| t.2)
    }

    /// Read slice `i` of the target image `kind`: its shape `(H, W)` and values in C order.
    pub fn read_reconstruction_slice(
        &self,
        kind: FastmriTarget,
        i: usize,
    ) -> Result<([usize; 2], Vec<f32>)> {
        let name = kind.dataset_name();
        let (_, ds, shape) = self.targets.iter().find(|t| t.0 == kind).ok_or_else(|| {
            IoError::format(&self.path, format!("HDF5 dataset `{name}`"), "missing")
        })?;
        self.check_index(i)?;
        let a = ds
            .read_slice_2d::<f32, _>((i, .., ..))
            .map_err(|e| h5err(&self.path, &format!("dataset `{name}` slice {i}"), e))?;
        let v: Vec<f32> = a.iter().copied().collect();
        check_len("target slice", &shape[1..], v.len())?;
        Ok(([shape[1], shape[2]], v))
    }

    /// Read slice `i` of the file's target ([`Self::target_name`]); an error naming the dataset
    /// if the file has none (test-set files).
    pub fn read_target_slice(&self, i: usize) -> Result<([usize; 2], Vec<f32>)> {
        self.read_reconstruction_slice(self.target_name(), i)
    }

    /// The sampling mask over the last k-space axis (test-set files).
    pub fn mask(&self) -> Option<&[bool]> {
        self.mask.as_deref()
    }
    /// The root attributes.
    pub fn attrs(&self) -> &FastmriAttrs {
        &self.attrs
    }
    /// The ISMRMRD header text.
    pub fn ismrmrd_header_xml(&self) -> &str {
        &self.header_xml
    }
    /// The encoding information of the header.
    pub fn encoding(&self) -> &IsmrmrdEncoding {
        &self.encoding
    }
    /// fastMRI's `(padding_left, padding_right)`: the acquired columns of the last k-space
    /// axis are `padding_left..padding_right` (see [`crate::ismrmrd`]).
    pub fn padding(&self) -> (i64, i64) {
        (self.encoding.padding_left(), self.encoding.padding_right())
    }

    fn check_index(&self, i: usize) -> Result<()> {
        if i >= self.num_slices() {
            return Err(IoError::IndexOutOfRange {
                path: self.path.clone(),
                index: i,
                len: self.num_slices(),
            });
        }
        Ok(())
    }
}

/// `ds` must be h5py's complex compound: two float members named `r` and `i`.
fn check_complex_type(ds: &hdf5::Dataset, path: &Path, name: &str) -> Result<()> {
    let td = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| h5err(path, &format!("dataset `{name}` type"), e))?;
    if let TypeDescriptor::Compound(c) = &td {
        let names: Vec<&str> = c.fields.iter().map(|f| f.name.as_str()).collect();
        let floats = c
            .fields
            .iter()
            .all(|f| matches!(f.ty, TypeDescriptor::Float(_)));
        if names == ["r", "i"] && floats {
            return Ok(());
        }
    }
    Err(IoError::unsupported(
        path,
        format!("type of HDF5 dataset `{name}`"),
        format!("{td} (expected h5py's complex compound {{r: float32, i: float32}})"),
    ))
}

/// Read a string stored as a scalar (or one-element) HDF5 string of any of the four kinds
/// (variable / fixed length, ASCII / UTF-8). `what` names the object in errors.
fn read_string(c: &hdf5::Container, path: &Path, what: &str) -> Result<String> {
    let td = c
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| h5err(path, &format!("{what} type"), e))?;
    let shape = c.shape();
    if !(shape.is_empty() || shape == [1]) {
        return Err(IoError::format(
            path,
            format!("shape of {what}"),
            format!("{shape:?} (expected a single string)"),
        ));
    }
    let err = |e| h5err(path, what, e);
    let fixed_len_ok = |n: usize| {
        if n > MAX_FIXED_STRING {
            Err(IoError::unsupported(
                path,
                format!("length of {what}"),
                format!("fixed-length string of {n} bytes exceeds {MAX_FIXED_STRING}"),
            ))
        } else {
            Ok(())
        }
    };
    // `as_bytes` rather than `as_str`: HDF5 does not validate the bytes, so they are checked here.
    fn text(bytes: Option<&[u8]>) -> Option<std::result::Result<String, std::str::Utf8Error>> {
        bytes.map(|b| std::str::from_utf8(b).map(str::to_string))
    }
    let s = match td {
        TypeDescriptor::VarLenUnicode => text(
            c.read_raw::<VarLenUnicode>()
                .map_err(err)?
                .first()
                .map(|s| s.as_bytes()),
        ),
        TypeDescriptor::VarLenAscii => text(
            c.read_raw::<VarLenAscii>()
                .map_err(err)?
                .first()
                .map(|s| s.as_bytes()),
        ),
        TypeDescriptor::FixedAscii(n) => {
            fixed_len_ok(n)?;
            let v = c
                .read_raw::<hdf5::types::FixedAscii<MAX_FIXED_STRING>>()
                .map_err(err)?;
            text(v.first().map(|s| s.as_bytes()))
        }
        TypeDescriptor::FixedUnicode(n) => {
            fixed_len_ok(n)?;
            let v = c
                .read_raw::<hdf5::types::FixedUnicode<MAX_FIXED_STRING>>()
                .map_err(err)?;
            text(v.first().map(|s| s.as_bytes()))
        }
        other => {
            return Err(IoError::unsupported(
                path,
                format!("type of {what}"),
                format!("{other} (expected a string)"),
            ));
        }
    };
    match s {
        None => Err(IoError::format(path, what.to_string(), "empty")),
        Some(Err(e)) => Err(IoError::format(
            path,
            what.to_string(),
            format!("not valid UTF-8 text ({e})"),
        )),
        Some(Ok(s)) => Ok(s),
    }
}

fn first<T>(v: Vec<T>) -> Option<T> {
    v.into_iter().next()
}

/// The `mask` dataset: rank 1, h5py bool or numeric with values 0 / 1.
fn read_mask(file: &hdf5::File, path: &Path) -> Result<Vec<bool>> {
    let ds = h5::dataset(file, path, MASK)?;
    let td = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| h5err(path, &format!("dataset `{MASK}` type"), e))?;
    match td {
        TypeDescriptor::Boolean
        | TypeDescriptor::Integer(_)
        | TypeDescriptor::Unsigned(_)
        | TypeDescriptor::Float(_) => {}
        other => {
            return Err(IoError::unsupported(
                path,
                format!("type of HDF5 dataset `{MASK}`"),
                format!("{other} (expected bool or a number)"),
            ));
        }
    }
    let shape = h5::shape_of_rank(&ds, path, MASK, 1)?;
    h5::check_size(path, MASK, &shape)?;
    // HDF5 converts h5py's bool enum to a number itself, so never read into Rust's `bool`
    // (a corrupt enum value must not become an invalid `bool`).
    let v = ds
        .read_raw::<f64>()
        .map_err(|e| h5err(path, &format!("dataset `{MASK}`"), e))?;
    v.iter()
        .enumerate()
        .map(|(k, &x)| {
            if x == 0.0 {
                Ok(false)
            } else if x == 1.0 {
                Ok(true)
            } else {
                Err(IoError::format(
                    path,
                    format!("HDF5 dataset `{MASK}`"),
                    format!("value {x} at index {k} (a sampling mask holds 0 or 1)"),
                ))
            }
        })
        .collect()
}

fn read_attrs(file: &hdf5::File, path: &Path) -> Result<FastmriAttrs> {
    let names = file
        .attr_names()
        .map_err(|e| h5err(path, "root attributes", e))?;
    let has = |n: &str| names.iter().any(|m| m == n);
    let open = |n: &str| {
        file.attr(n)
            .map_err(|e| h5err(path, &format!("attribute `{n}`"), e))
    };
    let string = |n: &str| -> Result<Option<String>> {
        if !has(n) {
            return Ok(None);
        }
        let a = open(n)?;
        read_string(&a, path, &format!("attribute `{n}`")).map(Some)
    };
    let number = |n: &str| -> Result<Option<f64>> {
        if !has(n) {
            return Ok(None);
        }
        let a = open(n)?;
        scalar_number(&a, path, n).map(Some)
    };
    let integer = |n: &str| -> Result<Option<i64>> {
        let Some(x) = number(n)? else {
            return Ok(None);
        };
        if x.fract() != 0.0 || x.abs() > 2f64.powi(53) {
            return Err(IoError::format(
                path,
                format!("attribute `{n}`"),
                format!("{x} is not an integer"),
            ));
        }
        Ok(Some(x as i64))
    };
    Ok(FastmriAttrs {
        acquisition: string("acquisition")?,
        max: number("max")?,
        norm: number("norm")?,
        patient_id: string("patient_id")?,
        acceleration: integer("acceleration")?,
        num_low_frequency: integer("num_low_frequency")?,
    })
}

/// A numeric attribute holding a single value, converted to `f64` by HDF5.
fn scalar_number(a: &hdf5::Attribute, path: &Path, name: &str) -> Result<f64> {
    let what = format!("attribute `{name}`");
    let td = a
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| h5err(path, &format!("{what} type"), e))?;
    if !matches!(
        td,
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Float(_)
    ) {
        return Err(IoError::unsupported(
            path,
            format!("type of {what}"),
            format!("{td} (expected a number)"),
        ));
    }
    let shape = a.shape();
    if !(shape.is_empty() || shape == [1]) {
        return Err(IoError::format(
            path,
            format!("shape of {what}"),
            format!("{shape:?} (expected a single number)"),
        ));
    }
    let v = a.read_raw::<f64>().map_err(|e| h5err(path, &what, e))?;
    first(v).ok_or_else(|| IoError::format(path, what, "empty"))
}

/// Create an HDF5 file at a temporary path next to `path`, let `build` fill it, close it and
/// copy it into place with [`write_atomic`].
fn write_hdf5_atomic(path: &Path, build: impl FnOnce(&hdf5::File) -> Result<()>) -> Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| IoError::argument("path", path.display(), "has no file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name.to_string_lossy()))
        .suffix(".h5build.tmp")
        .tempfile_in(dir)
        .map_err(|e| IoError::io("create a temporary file next to", path, e))?;
    {
        let f = hdf5::File::create(tmp.path()).map_err(|e| h5err(path, "file", e))?;
        build(&f)?;
        f.close().map_err(|e| h5err(path, "file", e))?;
    }
    let mut src = std::fs::File::open(tmp.path())
        .map_err(|e| IoError::io("read back the temporary HDF5 file for", path, e))?;
    write_atomic(path, |w| std::io::copy(&mut src, w).map(|_| ()))
}

fn write_f32_3d(f: &hdf5::File, path: &Path, name: &str, stack: &ImageStack) -> Result<()> {
    f.new_dataset::<f32>()
        .shape(stack.shape)
        .create(name)
        .and_then(|ds| ds.write_raw(&stack.data))
        .map_err(|e| h5err(path, &format!("dataset `{name}`"), e))
}

fn write_str_attr(f: &hdf5::File, path: &Path, name: &str, value: &str) -> Result<()> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| IoError::argument("attribute", name, format!("{e}")))?;
    f.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .map_err(|e| h5err(path, &format!("attribute `{name}`"), e))
}

fn write_num_attr<T: hdf5::H5Type>(f: &hdf5::File, path: &Path, name: &str, v: T) -> Result<()> {
    f.new_attr::<T>()
        .shape(())
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .map_err(|e| h5err(path, &format!("attribute `{name}`"), e))
}

fn check_stack(what: &'static str, s: &ImageStack, n_slices: usize) -> Result<()> {
    check_len(what, &s.shape, s.data.len())?;
    if s.shape[0] != n_slices {
        return Err(IoError::argument(
            what,
            format!("shape {:?}", s.shape),
            format!("must have {n_slices} slices like the k-space"),
        ));
    }
    check_finite(what, &s.data)
}

/// Write a volume in exactly the fastMRI layout (see the module docs), atomically. The volume
/// is validated first (shapes, lengths, finite values, a header that parses, a mask as long as
/// the last k-space axis), so every file written here opens with [`FastmriFile::open`].
pub fn write_fastmri(path: impl AsRef<Path>, vol: &FastmriVolume) -> Result<()> {
    let path = path.as_ref();
    let ks = &vol.kspace_shape;
    if !(ks.len() == 3 || ks.len() == 4) {
        return Err(IoError::argument(
            "kspace_shape",
            format!("{ks:?}"),
            "must be (slices, coils, rows, cols) or (slices, rows, cols)",
        ));
    }
    check_len("kspace", ks, vol.kspace.len())?;
    if let Some(index) = vol
        .kspace
        .iter()
        .position(|z| !(z.re.is_finite() && z.im.is_finite()))
    {
        let z = vol.kspace[index];
        return Err(IoError::NonFinite {
            what: "kspace",
            index,
            value: if z.re.is_finite() { z.im } else { z.re } as f64,
        });
    }
    IsmrmrdEncoding::from_xml(&vol.ismrmrd_header)?;
    if let Some(s) = &vol.reconstruction_rss {
        check_stack("reconstruction_rss", s, ks[0])?;
    }
    if let Some(s) = &vol.reconstruction_esc {
        check_stack("reconstruction_esc", s, ks[0])?;
    }
    if let Some(m) = &vol.mask {
        let cols = ks[ks.len() - 1];
        if m.len() != cols {
            return Err(IoError::argument(
                "mask",
                format!("length {}", m.len()),
                format!("must equal the last k-space axis ({cols})"),
            ));
        }
    }
    let header: VarLenUnicode = vol
        .ismrmrd_header
        .parse()
        .map_err(|e| IoError::argument("ismrmrd_header", "(XML text)", format!("{e}")))?;

    write_hdf5_atomic(path, |f| {
        f.new_dataset::<Complex32>()
            .shape(ks.as_slice())
            .create(KSPACE)
            .and_then(|ds| ds.write_raw(&vol.kspace))
            .map_err(|e| h5err(path, &format!("dataset `{KSPACE}`"), e))?;
        f.new_dataset::<VarLenUnicode>()
            .shape(())
            .create(ISMRMRD_HEADER)
            .and_then(|ds| ds.write_scalar(&header))
            .map_err(|e| h5err(path, &format!("dataset `{ISMRMRD_HEADER}`"), e))?;
        if let Some(s) = &vol.reconstruction_rss {
            write_f32_3d(f, path, FastmriTarget::Rss.dataset_name(), s)?;
        }
        if let Some(s) = &vol.reconstruction_esc {
            write_f32_3d(f, path, FastmriTarget::Esc.dataset_name(), s)?;
        }
        if let Some(m) = &vol.mask {
            f.new_dataset::<bool>()
                .shape(m.len())
                .create(MASK)
                .and_then(|ds| ds.write_raw(m))
                .map_err(|e| h5err(path, &format!("dataset `{MASK}`"), e))?;
        }
        let a = &vol.attrs;
        if let Some(s) = &a.acquisition {
            write_str_attr(f, path, "acquisition", s)?;
        }
        if let Some(x) = a.max {
            write_num_attr(f, path, "max", x)?;
        }
        if let Some(x) = a.norm {
            write_num_attr(f, path, "norm", x)?;
        }
        if let Some(s) = &a.patient_id {
            write_str_attr(f, path, "patient_id", s)?;
        }
        if let Some(x) = a.acceleration {
            write_num_attr(f, path, "acceleration", x)?;
        }
        if let Some(x) = a.num_low_frequency {
            write_num_attr(f, path, "num_low_frequency", x)?;
        }
        Ok(())
    })
}

/// Write a challenge submission file: float32 dataset `reconstruction` of shape
/// `(slices, H, W)` (fastMRI's `save_reconstructions`), atomically. Values must be finite.
pub fn write_reconstruction(path: impl AsRef<Path>, shape: [usize; 3], data: &[f32]) -> Result<()> {
    let path = path.as_ref();
    check_len("reconstruction", &shape, data.len())?;
    check_finite("reconstruction", data)?;
    write_hdf5_atomic(path, |f| {
        f.new_dataset::<f32>()
            .shape(shape)
            .create(RECONSTRUCTION)
            .and_then(|ds| ds.write_raw(data))
            .map_err(|e| h5err(path, &format!("dataset `{RECONSTRUCTION}`"), e))
    })
}

/// Read a submission file written by [`write_reconstruction`] or fastMRI's
/// `save_reconstructions`: the `(slices, H, W)` shape and the values in C order.
pub fn read_reconstruction(path: impl AsRef<Path>) -> Result<([usize; 3], Vec<f32>)> {
    let path = path.as_ref();
    let file = h5::open(path)?;
    let a = h5::read_f32(&file, path, RECONSTRUCTION, 3)?;
    Ok(([a.shape[0], a.shape[1], a.shape[2]], a.data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ismrmrd::MatrixSize;
    use hdf5::H5Type;

    /// h5py's complex64 compound, declared independently of `Complex32`'s `H5Type` impl.
    #[derive(H5Type, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct H5pyC64 {
        r: f32,
        i: f32,
    }

    /// h5py's complex128 compound.
    #[derive(H5Type, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct H5pyC128 {
        r: f64,
        i: f64,
    }

    fn encoding(cols: usize) -> IsmrmrdEncoding {
        IsmrmrdEncoding {
            encoded_matrix: MatrixSize {
                x: 8,
                y: cols + 2,
                z: 1,
            },
            recon_matrix: MatrixSize { x: 4, y: 4, z: 1 },
            kspace_encoding_step_1_center: (cols / 2) as i64,
            kspace_encoding_step_1_maximum: cols as i64 - 1,
        }
    }

    /// Distinct, exactly representable k-space values.
    fn kval(k: usize) -> Complex32 {
        Complex32::new(k as f32 * 0.25 - 7.0, 1000.0 - k as f32)
    }

    fn stack(shape: [usize; 3], offset: f32) -> ImageStack {
        let n = shape.iter().product();
        ImageStack {
            shape,
            data: (0..n).map(|k| offset + k as f32 * 0.125).collect(),
        }
    }

    fn multicoil_volume() -> FastmriVolume {
        let shape = vec![3, 2, 8, 6];
        let n = shape.iter().product();
        FastmriVolume {
            kspace_shape: shape,
            kspace: (0..n).map(kval).collect(),
            ismrmrd_header: encoding(6).to_xml(),
            reconstruction_rss: Some(stack([3, 4, 4], 0.5)),
            reconstruction_esc: None,
            mask: None,
            attrs: FastmriAttrs {
                acquisition: Some("CORPD_FBK".into()),
                max: Some(0.000_123_4),
                norm: Some(0.0456),
                patient_id: Some("0a1b2c3d4e5f".into()),
                acceleration: None,
                num_low_frequency: None,
            },
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn multicoil_volume_round_trips_slice_by_slice() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("file1000001.h5");
        let vol = multicoil_volume();
        write_fastmri(&p, &vol).unwrap();
        assert!(leftovers(dir.path()).is_empty());
        let f = FastmriFile::open(&p).unwrap();
        assert!(f.is_multicoil());
        assert_eq!(f.num_slices(), 3);
        assert_eq!(f.num_coils(), 2);
        assert_eq!(f.kspace_shape(), &[3, 2, 8, 6]);
        let per_slice = 2 * 8 * 6;
        for i in 0..3 {
            let (shape, v) = f.read_kspace_slice(i).unwrap();
            assert_eq!(shape, vec![2, 8, 6]);
            assert_eq!(v, &vol.kspace[i * per_slice..(i + 1) * per_slice]);
        }
        // Element (slice 1, coil 1, row 3, col 4) in C order.
        let (_, v) = f.read_kspace_slice(1).unwrap();
        assert_eq!(v[(8 + 3) * 6 + 4], kval(per_slice + (8 + 3) * 6 + 4));
        assert_eq!(f.target_name(), FastmriTarget::Rss);
        assert!(f.has_target());
        assert!(!f.has_reconstruction(FastmriTarget::Esc));
        assert_eq!(f.reconstruction_shape(FastmriTarget::Rss), Some([3, 4, 4]));
        let rss = vol.reconstruction_rss.as_ref().unwrap();
        for i in 0..3 {
            let (s, t) = f.read_target_slice(i).unwrap();
            assert_eq!(s, [4, 4]);
            assert_eq!(t, &rss.data[i * 16..(i + 1) * 16]);
        }
        assert_eq!(f.attrs(), &vol.attrs);
        assert_eq!(f.mask(), None);
        assert_eq!(f.ismrmrd_header_xml(), vol.ismrmrd_header);
        assert_eq!(f.encoding(), &encoding(6));
        // encoded y = 8: padding_left = 8 // 2 − 3 = 1, padding_right = 1 + 5 + 1 = 7.
        assert_eq!(f.padding(), (1, 7));
        let msg = f.read_kspace_slice(3).unwrap_err().to_string();
        assert!(
            msg.contains("index 3") && msg.contains("file1000001.h5"),
            "{msg}"
        );
        let msg = f
            .read_reconstruction_slice(FastmriTarget::Esc, 0)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("reconstruction_esc") && msg.contains("missing"),
            "{msg}"
        );
    }

    #[test]
    fn singlecoil_and_test_set_files() {
        let dir = tempfile::tempdir().unwrap();
        // Single-coil train file: both targets, ESC is the training target.
        let p = dir.path().join("single.h5");
        let n = 2 * 8 * 6;
        let vol = FastmriVolume {
            kspace_shape: vec![2, 8, 6],
            kspace: (0..n).map(kval).collect(),
            ismrmrd_header: encoding(6).to_xml(),
            reconstruction_rss: Some(stack([2, 4, 4], 100.0)),
            reconstruction_esc: Some(stack([2, 4, 4], -50.0)),
            mask: None,
            attrs: FastmriAttrs::default(),
        };
        write_fastmri(&p, &vol).unwrap();
        let f = FastmriFile::open(&p).unwrap();
        assert!(!f.is_multicoil());
        assert_eq!(f.num_coils(), 1);
        let (shape, v) = f.read_kspace_slice(1).unwrap();
        assert_eq!(shape, vec![8, 6]);
        assert_eq!(v, &vol.kspace[48..]);
        assert_eq!(f.target_name(), FastmriTarget::Esc);
        let (_, t) = f.read_target_slice(1).unwrap();
        assert_eq!(t, &vol.reconstruction_esc.as_ref().unwrap().data[16..]);
        let (_, r) = f.read_reconstruction_slice(FastmriTarget::Rss, 0).unwrap();
        assert_eq!(r, &vol.reconstruction_rss.as_ref().unwrap().data[..16]);
        assert_eq!(f.attrs(), &FastmriAttrs::default());

        // Multi-coil test file: mask and test attributes, no target.
        let q = dir.path().join("test.h5");
        let mut t = multicoil_volume();
        t.reconstruction_rss = None;
        t.mask = Some(vec![false, true, true, true, false, true]);
        t.attrs.max = None;
        t.attrs.norm = None;
        t.attrs.acceleration = Some(4);
        t.attrs.num_low_frequency = Some(3);
        write_fastmri(&q, &t).unwrap();
        let f = FastmriFile::open(&q).unwrap();
        assert_eq!(f.mask(), t.mask.as_deref());
        assert_eq!(f.attrs(), &t.attrs);
        assert!(!f.has_target());
        let msg = f.read_target_slice(0).unwrap_err().to_string();
        assert!(
            msg.contains("reconstruction_rss") && msg.contains("test.h5"),
            "{msg}"
        );
    }

    /// Build a file exactly as h5py lays out a fastMRI volume, without using this module's
    /// writer: `kspace` as the `{r, i}` compound, `ismrmrd_header` as h5py writes a Python
    /// `bytes` (scalar variable-length ASCII), attributes as h5py writes `str` (variable-length
    /// UTF-8), `np.float32`, `np.float64`, `np.int64`, a `np.bytes_` (fixed-length ASCII), and
    /// the mask as h5py's bool enum. The values follow the module-doc Python snippet.
    #[test]
    fn reads_a_file_in_h5py_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h5py.h5");
        let (s, c, r, w) = (2usize, 3usize, 4usize, 5usize);
        let n = s * c * r * w;
        let vals: Vec<H5pyC64> = (0..n)
            .map(|k| H5pyC64 {
                r: kval(k).re,
                i: kval(k).im,
            })
            .collect();
        {
            let f = hdf5::File::create(&p).unwrap();
            f.new_dataset::<H5pyC64>()
                .shape((s, c, r, w))
                .create("kspace")
                .unwrap()
                .write_raw(&vals)
                .unwrap();
            let hdr: VarLenAscii =
                VarLenAscii::from_ascii(encoding(w).to_xml().as_bytes()).unwrap();
            f.new_dataset::<VarLenAscii>()
                .shape(())
                .create("ismrmrd_header")
                .unwrap()
                .write_scalar(&hdr)
                .unwrap();
            f.new_dataset::<bool>()
                .shape(w)
                .create("mask")
                .unwrap()
                .write_raw(&[true, false, false, true, true])
                .unwrap();
            let acq: VarLenUnicode = "AXT2".parse().unwrap();
            f.new_attr::<VarLenUnicode>()
                .shape(())
                .create("acquisition")
                .unwrap()
                .write_scalar(&acq)
                .unwrap();
            f.new_attr::<f32>()
                .shape(())
                .create("max")
                .unwrap()
                .write_scalar(&1.5f32)
                .unwrap();
            f.new_attr::<f64>()
                .shape(())
                .create("norm")
                .unwrap()
                .write_scalar(&2.25f64)
                .unwrap();
            f.new_attr::<i64>()
                .shape(())
                .create("acceleration")
                .unwrap()
                .write_scalar(&8i64)
                .unwrap();
            let pid = hdf5::types::FixedAscii::<12>::from_ascii(b"patient-0042").unwrap();
            f.new_attr::<hdf5::types::FixedAscii<12>>()
                .shape(())
                .create("patient_id")
                .unwrap()
                .write_scalar(&pid)
                .unwrap();
        }
        let f = FastmriFile::open(&p).unwrap();
        assert_eq!(f.kspace_shape(), &[s, c, r, w]);
        let (_, v) = f.read_kspace_slice(1).unwrap();
        let per = c * r * w;
        for (k, z) in v.iter().enumerate() {
            assert_eq!(*z, kval(per + k));
        }
        assert_eq!(f.mask(), Some(&[true, false, false, true, true][..]));
        let a = f.attrs();
        assert_eq!(a.acquisition.as_deref(), Some("AXT2"));
        assert_eq!(a.max, Some(1.5));
        assert_eq!(a.norm, Some(2.25));
        assert_eq!(a.acceleration, Some(8));
        assert_eq!(a.patient_id.as_deref(), Some("patient-0042"));
        assert_eq!(a.num_low_frequency, None);
        assert_eq!(f.encoding(), &encoding(w));
    }

    #[test]
    fn complex128_kspace_and_fixed_length_header_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c128.h5");
        let vals: Vec<H5pyC128> = (0..2 * 4 * 3)
            .map(|k| H5pyC128 {
                r: kval(k).re as f64,
                i: kval(k).im as f64,
            })
            .collect();
        let xml = encoding(3).to_xml();
        {
            let f = hdf5::File::create(&p).unwrap();
            f.new_dataset::<H5pyC128>()
                .shape((2, 4, 3))
                .create("kspace")
                .unwrap()
                .write_raw(&vals)
                .unwrap();
            let hdr = hdf5::types::FixedAscii::<4096>::from_ascii(xml.as_bytes()).unwrap();
            f.new_dataset::<hdf5::types::FixedAscii<4096>>()
                .shape(())
                .create("ismrmrd_header")
                .unwrap()
                .write_scalar(&hdr)
                .unwrap();
        }
        let f = FastmriFile::open(&p).unwrap();
        assert_eq!(f.ismrmrd_header_xml(), xml);
        let (shape, v) = f.read_kspace_slice(1).unwrap();
        assert_eq!(shape, vec![4, 3]);
        assert_eq!(v, (12..24).map(kval).collect::<Vec<_>>());
    }

    /// Write `vol` with our writer, then let `edit` change the file with the hdf5 crate.
    fn edited(dir: &Path, name: &str, edit: impl FnOnce(&hdf5::File)) -> PathBuf {
        let p = dir.join(name);
        write_fastmri(&p, &multicoil_volume()).unwrap();
        let f = hdf5::File::open_rw(&p).unwrap();
        edit(&f);
        drop(f);
        p
    }

    fn open_err(p: &Path) -> String {
        FastmriFile::open(p).unwrap_err().to_string()
    }

    #[test]
    fn corrupt_and_incomplete_files_are_errors_naming_the_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let p = edited(d, "a.h5", |f| f.unlink("kspace").unwrap());
        let msg = open_err(&p);
        assert!(msg.contains("`kspace`") && msg.contains("missing"), "{msg}");

        let p = edited(d, "b.h5", |f| f.unlink("ismrmrd_header").unwrap());
        let msg = open_err(&p);
        assert!(
            msg.contains("`ismrmrd_header`") && msg.contains("missing"),
            "{msg}"
        );

        let p = edited(d, "c.h5", |f| {
            f.unlink("kspace").unwrap();
            f.new_dataset::<f32>()
                .shape((3, 2, 8, 6))
                .create("kspace")
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(
            msg.contains("`kspace`") && msg.contains("compound"),
            "{msg}"
        );

        let p = edited(d, "d.h5", |f| {
            f.unlink("kspace").unwrap();
            f.new_dataset::<Complex32>()
                .shape((3, 8))
                .create("kspace")
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(msg.contains("`kspace`") && msg.contains("[3, 8]"), "{msg}");

        let p = edited(d, "e.h5", |f| {
            f.unlink("reconstruction_rss").unwrap();
            f.new_dataset::<f32>()
                .shape((2, 4, 4))
                .create("reconstruction_rss")
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(
            msg.contains("`reconstruction_rss`") && msg.contains("2 slices"),
            "{msg}"
        );

        let p = edited(d, "f.h5", |f| {
            f.unlink("ismrmrd_header").unwrap();
            let bad: VarLenUnicode = "<ismrmrdHeader><encoding>".parse().unwrap();
            f.new_dataset::<VarLenUnicode>()
                .shape(())
                .create("ismrmrd_header")
                .unwrap()
                .write_scalar(&bad)
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(msg.contains("f.h5"), "{msg}");
        assert!(msg.contains("ISMRMRD header XML"), "{msg}");

        let p = edited(d, "g.h5", |f| {
            f.unlink("ismrmrd_header").unwrap();
            f.new_dataset::<f64>()
                .shape(())
                .create("ismrmrd_header")
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(
            msg.contains("`ismrmrd_header`") && msg.contains("string"),
            "{msg}"
        );

        let p = edited(d, "h.h5", |f| {
            f.new_dataset::<f32>()
                .shape(6)
                .create("mask")
                .unwrap()
                .write_raw(&[0.0f32, 1.0, 2.0, 0.0, 1.0, 1.0])
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(
            msg.contains("`mask`") && msg.contains("value 2 at index 2"),
            "{msg}"
        );

        let p = edited(d, "i.h5", |f| {
            f.delete_attr("max").unwrap();
            let s: VarLenUnicode = "big".parse().unwrap();
            f.new_attr::<VarLenUnicode>()
                .shape(())
                .create("max")
                .unwrap()
                .write_scalar(&s)
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(msg.contains("`max`") && msg.contains("number"), "{msg}");

        let p = edited(d, "j.h5", |f| {
            f.new_attr::<f64>()
                .shape(())
                .create("acceleration")
                .unwrap()
                .write_scalar(&4.5f64)
                .unwrap();
        });
        let msg = open_err(&p);
        assert!(
            msg.contains("`acceleration`") && msg.contains("4.5"),
            "{msg}"
        );

        // Random bytes, a truncated file, a missing file.
        let junk = d.join("junk.h5");
        let mut state = 99u64;
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        std::fs::write(&junk, &bytes).unwrap();
        let msg = open_err(&junk);
        assert!(msg.contains("junk.h5") && msg.contains("HDF5"), "{msg}");
        let t = d.join("trunc.h5");
        write_fastmri(&t, &multicoil_volume()).unwrap();
        let all = std::fs::read(&t).unwrap();
        std::fs::write(&t, &all[..all.len() / 2]).unwrap();
        match FastmriFile::open(&t) {
            Err(e) => assert!(e.to_string().contains("trunc.h5"), "{e}"),
            Ok(f) => {
                let r = (0..3).try_for_each(|i| f.read_kspace_slice(i).map(|_| ()));
                assert!(r.is_err(), "truncated k-space read back without error");
            }
        }
        let msg = open_err(&d.join("absent.h5"));
        assert!(msg.contains("absent.h5"), "{msg}");
    }

    #[test]
    fn writer_rejects_inconsistent_volumes_and_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.h5");
        write_fastmri(&p, &multicoil_volume()).unwrap();
        let before = std::fs::read(&p).unwrap();
        let mut v = multicoil_volume();
        v.kspace.pop();
        assert!(write_fastmri(&p, &v).is_err());
        let mut v = multicoil_volume();
        v.kspace_shape = vec![3, 96];
        v.kspace.truncate(288);
        assert!(
            write_fastmri(&p, &v)
                .unwrap_err()
                .to_string()
                .contains("kspace_shape")
        );
        let mut v = multicoil_volume();
        v.kspace[5].im = f32::NAN;
        let msg = write_fastmri(&p, &v).unwrap_err().to_string();
        assert!(msg.contains("kspace") && msg.contains("index 5"), "{msg}");
        let mut v = multicoil_volume();
        v.ismrmrd_header = "<x/>".into();
        assert!(write_fastmri(&p, &v).is_err());
        let mut v = multicoil_volume();
        v.mask = Some(vec![true; 5]);
        let msg = write_fastmri(&p, &v).unwrap_err().to_string();
        assert!(msg.contains("mask") && msg.contains("(6)"), "{msg}");
        let mut v = multicoil_volume();
        v.reconstruction_rss = Some(stack([2, 4, 4], 0.0));
        let msg = write_fastmri(&p, &v).unwrap_err().to_string();
        assert!(msg.contains("3 slices"), "{msg}");
        let mut v = multicoil_volume();
        v.reconstruction_rss.as_mut().unwrap().data[7] = f32::INFINITY;
        assert!(write_fastmri(&p, &v).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), before);
        assert!(leftovers(dir.path()).is_empty());
        // A missing directory names the path and leaves nothing behind.
        let msg = write_fastmri(dir.path().join("no_dir/x.h5"), &multicoil_volume())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no_dir"), "{msg}");
    }

    #[test]
    fn submission_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("file1000001.h5");
        let shape = [2, 3, 4];
        let data: Vec<f32> = (0..24).map(|k| k as f32 / 3.0).collect();
        write_reconstruction(&p, shape, &data).unwrap();
        assert_eq!(read_reconstruction(&p).unwrap(), (shape, data.clone()));
        // The dataset is float32 and named as fastMRI's `save_reconstructions` names it.
        let f = hdf5::File::open(&p).unwrap();
        let ds = f.dataset("reconstruction").unwrap();
        assert_eq!(
            ds.dtype().unwrap().to_descriptor().unwrap(),
            TypeDescriptor::Float(hdf5::types::FloatSize::U4)
        );
        drop(ds);
        drop(f);
        let mut bad = data.clone();
        bad[3] = f32::NAN;
        assert!(write_reconstruction(&p, shape, &bad).is_err());
        assert!(write_reconstruction(&p, [2, 3, 5], &data).is_err());
        assert_eq!(read_reconstruction(&p).unwrap().1, data);
        assert!(leftovers(dir.path()).is_empty());
        let msg = read_reconstruction(dir.path().join("none.h5"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("none.h5"), "{msg}");
    }
}

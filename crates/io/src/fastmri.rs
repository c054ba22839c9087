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
//! destination and then rename it into place (as [`crate::write_atomic`]); a reader never sees a
//! half-written file and on error the destination is left untouched.

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

    h5::write_file(path, |f| {
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
            h5::write_f32(
                f,
                path,
                FastmriTarget::Rss.dataset_name(),
                &s.shape,
                &s.data,
            )?;
        }
        if let Some(s) = &vol.reconstruction_esc {
            h5::write_f32(
                f,
                path,
                FastmriTarget::Esc.dataset_name(),
                &s.shape,
                &s.data,
            )?;
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
            h5::write_str_attr(f, path, "acquisition", s)?;
        }
        if let Some(x) = a.max {
            h5::write_num_attr(f, path, "max", x)?;
        }
        if let Some(x) = a.norm {
            h5::write_num_attr(f, path, "norm", x)?;
        }
        if let Some(s) = &a.patient_id {
            h5::write_str_attr(f, path, "patient_id", s)?;
        }
        if let Some(x) = a.acceleration {
            h5::write_num_attr(f, path, "acceleration", x)?;
        }
        if let Some(x) = a.num_low_frequency {
            h5::write_num_attr(f, path, "num_low_frequency", x)?;
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
    h5::write_file(path, |f| {
        h5::write_f32(f, path, RECONSTRUCTION, &shape, data)
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
mod tests;

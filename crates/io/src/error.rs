//! The one error type of `fedrecon-io`.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// Everything that can go wrong while reading or writing a file. Every message names the file,
/// the field / dataset / tag concerned and the offending value, so a user can fix the input
/// without reading the source. Corrupt input always yields one of these, never a panic.
#[derive(Debug, Error)]
pub enum IoError {
    /// The operating system refused an operation on a file.
    #[error("cannot {action} `{path}`: {error}")]
    Io {
        /// What was attempted ("open", "read", "write", "rename into place", …).
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file's content does not follow its format.
    #[error("`{path}`: invalid {field}: {reason}")]
    Format {
        path: PathBuf,
        /// The header field, dataset or tag that is wrong.
        field: String,
        reason: String,
    },
    /// The file is valid but uses a feature this crate does not read.
    #[error("`{path}`: unsupported {field}: {reason}")]
    Unsupported {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// The HDF5 library reported an error.
    #[error("`{path}`: HDF5 {object}: {message}")]
    Hdf5 {
        path: PathBuf,
        /// The dataset or group concerned (or "file").
        object: String,
        message: String,
    },
    /// The DICOM parser reported an error.
    #[error("`{path}`: DICOM: {message}")]
    Dicom { path: PathBuf, message: String },
    /// A sample index past the end of a multi-sample file.
    #[error("`{path}`: sample index {index} is out of range (the file holds {len} samples)")]
    IndexOutOfRange {
        path: PathBuf,
        index: usize,
        len: usize,
    },
    /// An argument (not file content) is out of range.
    #[error("invalid argument `{name}` = {value}: {reason}")]
    InvalidArgument {
        name: &'static str,
        value: String,
        reason: String,
    },
    /// A buffer does not have the length its shape requires.
    #[error(
        "shape mismatch for `{what}`: expected {expected} elements (shape {shape:?}), got {got}"
    )]
    ShapeMismatch {
        what: &'static str,
        expected: usize,
        shape: Vec<usize>,
        got: usize,
    },
    /// Data to be written contains a NaN or an infinity.
    #[error("`{what}` contains a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        what: &'static str,
        index: usize,
        value: f64,
    },
    /// A plot cannot be drawn as described (no panels, no data points, a zero-size figure, …).
    #[error("plot `{what}`: {reason}")]
    Plot { what: String, reason: String },
}

/// Result alias of the io crate.
pub type Result<T> = std::result::Result<T, IoError>;

impl IoError {
    pub(crate) fn io(action: &'static str, path: &Path, error: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            error,
        }
    }

    pub(crate) fn format(path: &Path, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(
        path: &Path,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Unsupported {
            path: path.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn argument(
        name: &'static str,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidArgument {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Check that a buffer has `shape`'s number of elements (an overflowing shape never matches).
pub fn check_len(what: &'static str, shape: &[usize], got: usize) -> Result<()> {
    let expected = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    match expected {
        Some(expected) if expected == got => Ok(()),
        _ => Err(IoError::ShapeMismatch {
            what,
            expected: expected.unwrap_or(usize::MAX),
            shape: shape.to_vec(),
            got,
        }),
    }
}

/// Reject NaN and infinities.
pub fn check_finite(what: &'static str, data: &[f32]) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(IoError::NonFinite {
            what,
            index,
            value: data[index] as f64,
        }),
    }
}

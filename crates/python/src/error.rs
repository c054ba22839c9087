//! The one error type of the Python bindings, and how it becomes a Python exception: bad
//! arguments and shapes are `ValueError`, files are `OSError`, each carrying the Rust message.
//! Nothing panics across the FFI boundary: every input is checked and every failure is a value.

use fedrecon_io::IoError;
use fedrecon_physics::PhysicsError;
use pyo3::PyErr;
use pyo3::exceptions::{PyOSError, PyValueError};
use thiserror::Error;

/// Everything the bindings can fail with.
#[derive(Debug, Error)]
pub enum BindingError {
    /// The physics crate refused an argument, a geometry or a shape.
    #[error(transparent)]
    Physics(#[from] PhysicsError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A file outside `fedrecon-io` (a geometry TOML) could not be read.
    #[error("cannot read `{path}`: {reason}")]
    File { path: String, reason: String },
    /// The networks / federation scenario refused a config or failed to train.
    #[cfg(feature = "fed")]
    #[error(transparent)]
    Nn(#[from] fedrecon_nn::NnError),
    /// A parameter set did not fit.
    #[cfg(feature = "fed")]
    #[error(transparent)]
    Fed(#[from] fedrecon_fed::FedError),
    /// An argument of a binding (a shape, a keyword) is invalid.
    #[error("{0}")]
    Argument(String),
}

/// Result alias of the bindings.
pub type Result<T> = std::result::Result<T, BindingError>;

impl BindingError {
    /// An invalid argument with this message.
    pub fn arg(message: impl Into<String>) -> Self {
        Self::Argument(message.into())
    }
}

impl From<BindingError> for PyErr {
    fn from(e: BindingError) -> PyErr {
        let message = e.to_string();
        match e {
            // an argument error reported by the I/O crate is still a bad argument
            BindingError::Io(IoError::InvalidArgument { .. }) => PyValueError::new_err(message),
            BindingError::Io(_) | BindingError::File { .. } => PyOSError::new_err(message),
            _ => PyValueError::new_err(message),
        }
    }
}

//! The one error type of `fedrecon-fed`.

use fedrecon_physics::error::PhysicsError;
use thiserror::Error;

/// Everything that can go wrong in the federation crate. Messages name the parameter, field, site
/// or file concerned and the offending value.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FedError {
    /// Two parameter tensors with the same name have different shapes.
    #[error("parameter `{name}`: shape {got:?} does not match {expected:?} ({context})")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
        context: String,
    },
    /// A tensor's data does not fill its shape.
    #[error("parameter `{name}`: {len} values do not fill shape {shape:?} ({expected} elements)")]
    DataLength {
        name: String,
        shape: Vec<usize>,
        expected: usize,
        len: usize,
    },
    /// A parameter that must be present is not.
    #[error("parameter `{name}` is missing from {context}")]
    MissingParam { name: String, context: String },
    /// A parameter that must not be present is.
    #[error("parameter `{name}` is not expected in {context}")]
    UnexpectedParam { name: String, context: String },
    /// A configuration field or argument is out of range.
    #[error("invalid `{field}` = {value}: {reason}")]
    InvalidField {
        field: String,
        value: String,
        reason: String,
    },
    /// A configuration or checkpoint file could not be parsed.
    #[error("cannot parse {what}: {reason}")]
    Parse { what: String, reason: String },
    /// Reading or writing a file failed.
    #[error("I/O on `{path}`: {reason}")]
    Io { path: String, reason: String },
    /// A site's trainer failed or a site broke the message protocol.
    #[error("site `{site}`: {reason}")]
    Site { site: String, reason: String },
    /// A physics-crate error (geometry validation, metrics).
    #[error(transparent)]
    Physics(#[from] PhysicsError),
}

/// Result alias of the federation crate.
pub type Result<T> = std::result::Result<T, FedError>;

impl FedError {
    /// An [`FedError::InvalidField`].
    pub fn field(
        field: impl Into<String>,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidField {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// An [`FedError::Site`].
    pub fn site(site: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Site {
            site: site.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: impl ToString) -> Self {
        Self::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

//! The crate's error type.

use fedrecon_physics::PhysicsError;

/// Every fallible operation of `fedrecon-nn` returns this error. Messages name the offending
/// field and value.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// An error from the physics layer (operator construction, shapes).
    #[error(transparent)]
    Physics(#[from] PhysicsError),
    /// An error of the federation crate's tensor sets and files.
    #[error(transparent)]
    Fed(#[from] fedrecon_fed::FedError),
    /// An argument or configuration value is out of range.
    #[error("invalid {what} = {value}: {reason}")]
    InvalidArgument {
        /// Name of the field.
        what: &'static str,
        /// The offending value, formatted.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A tensor has the wrong shape.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        /// Name of the tensor.
        what: &'static str,
        /// The expected shape, formatted (may contain `B` for any batch size).
        expected: String,
        /// The shape received.
        got: Vec<usize>,
    },
    /// The model was given physics or input of the other modality.
    #[error("model `{model}` needs {needs} physics and input, got {got}")]
    WrongModality {
        /// Model kind.
        model: &'static str,
        /// `"CT"` or `"MRI"`.
        needs: &'static str,
        /// What was given.
        got: &'static str,
    },
    /// The compute device cannot be used (see `crate::device`).
    #[error("device `{device}` is not available: {reason}")]
    Device {
        /// The device as named (`cuda:0`).
        device: String,
        /// Why (no `cuda` feature, no driver, no NVRTC, no such GPU).
        reason: String,
    },
    /// FiLM conditioning does not match the model's hooks.
    #[error("FiLM: {0}")]
    Film(String),
}

impl NnError {
    /// An [`NnError::InvalidArgument`].
    pub fn argument(
        what: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidArgument {
            what,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `Result` with [`NnError`].
pub type Result<T> = std::result::Result<T, NnError>;

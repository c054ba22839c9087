//! Reconstruction networks and the common [`ReconNet`] interface.

use crate::error::Result;
use crate::film::Film;
use crate::physics::{ModelInput, Physics};
use burn::tensor::Tensor;

/// A reconstruction network called with the batch's physics.
pub trait ReconNet {
    /// Reconstruct images `[B, 1, ny, nx]` (MRI: the RSS magnitude, fastMRI's target).
    /// Errors if the input does not match the physics or the FiLM the hooks.
    fn reconstruct(
        &self,
        input: &ModelInput,
        physics: &Physics,
        film: Option<&Film>,
    ) -> Result<Tensor<4>>;
    /// Channels of each FiLM-conditioned block, in order (empty = no hooks).
    fn film_channels(&self) -> Vec<usize>;
}

//! The messages of the federation protocol and the settings and reports they carry, the
//! [`SiteTrainer`] interface a model implements, and the per-round seed derivation.

use crate::error::{FedError, Result};
use crate::params::ParamSet;
use serde::{Deserialize, Serialize};

/// Local training settings sent with every round start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalTrainConfig {
    /// Passes over the site's training data per round.
    pub epochs: usize,
    /// Optimiser steps per round instead of epochs, when set.
    pub steps: Option<usize>,
    /// Local learning rate.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// FedProx `μ` (0: plain local training); add [`crate::proximal_gradient`] to the gradient.
    pub proximal_mu: f64,
    /// Base seed for the trainer's generators (combine with the round via [`round_seed`]).
    pub seed: u64,
}

impl Default for LocalTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            steps: None,
            learning_rate: 1e-3,
            batch_size: 1,
            proximal_mu: 0.0,
            seed: 0,
        }
    }
}

impl LocalTrainConfig {
    /// Check the settings; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 && self.steps.is_none() {
            return Err(FedError::field(
                "local.epochs",
                0,
                "must be ≥ 1 (or set local.steps)",
            ));
        }
        if self.steps == Some(0) {
            return Err(FedError::field("local.steps", 0, "must be ≥ 1"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(FedError::field(
                "local.learning_rate",
                self.learning_rate,
                "must be finite and > 0",
            ));
        }
        if self.batch_size == 0 {
            return Err(FedError::field("local.batch_size", 0, "must be ≥ 1"));
        }
        if !(self.proximal_mu.is_finite() && self.proximal_mu >= 0.0) {
            return Err(FedError::field(
                "local.proximal_mu",
                self.proximal_mu,
                "must be finite and ≥ 0",
            ));
        }
        Ok(())
    }
}

/// What a site reports after local training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Training samples used (the FedAvg weight).
    pub num_samples: usize,
    /// Mean training loss of the round.
    pub mean_loss: f64,
}

/// Held-out metrics of a site.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiteMetrics {
    /// Mean PSNR, dB.
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Mean NMSE.
    pub nmse: f64,
}

/// A site's model and data, implemented by the network crate.
pub trait SiteTrainer: Send {
    /// Train locally for one round from the trainer's current parameters (the agent has already
    /// loaded the site's parameters merged with the downloaded global tensors). `global` holds
    /// exactly the downloaded tensors, for FedProx's proximal term `cfg.proximal_mu·(w − w_g)`.
    /// The trained parameters stay in the trainer; the agent reads them with [`Self::params`].
    fn train_round(
        &mut self,
        round: usize,
        global: &ParamSet,
        cfg: &LocalTrainConfig,
    ) -> Result<TrainReport>;
    /// Metrics of the model with parameters `params` on the site's held-out data.
    fn evaluate(&mut self, params: &ParamSet) -> Result<SiteMetrics>;
    /// The current parameters (all of them, local ones included).
    fn params(&self) -> ParamSet;
    /// Replace the parameters (same names and shapes).
    fn load_params(&mut self, p: &ParamSet) -> Result<()>;
}

/// A seed for stream `stream` of round `round` derived from `seed` (SplitMix64 finaliser).
pub fn round_seed(seed: u64, round: usize, stream: u64) -> u64 {
    let mut z = seed
        ^ (round as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Coordinator → site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToSite {
    /// Train one round starting from these global tensors.
    RoundStart {
        round: usize,
        params: ParamSet,
        config: LocalTrainConfig,
    },
    /// Evaluate with these global tensors merged into the site's model.
    Evaluate { round: usize, params: ParamSet },
    /// Shut down.
    Stop,
}

/// Site → coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToCoordinator {
    /// The trained non-local tensors.
    Update {
        round: usize,
        site: String,
        params: ParamSet,
        report: TrainReport,
    },
    /// Held-out metrics after a round.
    Metrics {
        round: usize,
        site: String,
        metrics: SiteMetrics,
    },
    /// The site could not do what was asked.
    Failed {
        round: usize,
        site: String,
        reason: String,
    },
}
